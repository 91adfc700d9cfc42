// MemberInventory: one member's Nodes and bound Pods, kept current by watches instead of a
// LIST per health probe (issue 17: "refreshed from watches, not polling").
//
// Start() lists Nodes and Pods once (MemberClient::Watch with no resourceVersion) and then
// watches from the list's resourceVersion; the client resumes a broken stream from the last
// resourceVersion with backoff and relists after 410 Gone, delivering the difference (see
// sync/member_client.h). The health monitor's probe then reads Snapshot() and computes zone
// health and capacity from it (failover/node_capacity.h) without a request of its own.
//
// Only what capacity needs is kept: nodes trimmed to name, labels, unschedulable, taints,
// allocatable and the Ready condition; pods only while bound to a node (spec.nodeName set)
// and not finished (phase neither Succeeded nor Failed), trimmed to name, namespace, the
// pod-template-hash label, the controller owner, the containers' resources and the phase —
// the filter kube-scheduler's assigned-pod informer applies. The filter is applied here
// rather than as a ?fieldSelector= on the watch because a pod that leaves a field-selected
// watch (it finishes) must arrive as DELETED, which membersim's watches do not synthesise.
//
// Staleness: a watch whose stream failed (the client's WatchOptions::on_error) marks the
// inventory stale until that watch has connected again (MemberWatch::Connections() grew) or
// delivered an event; Snapshot() says so, and the monitor then keeps the zones it last
// reported rather than report possibly wrong ones. A 410 relist is not staleness: the
// client delivers the difference itself.
//
// Thread-safety: every method is thread-safe; watch callbacks run on the client's threads.
// Destroying the inventory stops its watches (and waits for a callback in progress).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "sync/member_client.h"

namespace meridian::failover {

class MemberInventory {
 public:
  // `client` is shared with the caller (it must outlive nothing: the inventory keeps it).
  // `watch` sets the watches' lifetime and backoff (on_error is the inventory's own).
  explicit MemberInventory(std::shared_ptr<sync::MemberClient> client,
                           sync::WatchOptions watch = {});
  ~MemberInventory();
  MemberInventory(const MemberInventory&) = delete;
  MemberInventory& operator=(const MemberInventory&) = delete;

  // Starts whichever of the Node and Pod watches is not running yet (each lists once,
  // synchronously, bounded by the client's timeout). OK when both run. Errors: the member's
  // answer to the list, with "nodes" or "pods" in the message; a failed Pod watch leaves the
  // Node watch running (the next Start() retries only the Pod one).
  Status Start();

  // Start() on the inventory's own thread, waiting at most `wait` for it: OK once both
  // watches run; kUnavailable ("still listing") while a start is under way past `wait` (it
  // goes on; a later call sees its result); else the last start's error. A health probe
  // calls this so that a slow first LIST does not make the probe itself late.
  Status EnsureStarted(std::chrono::milliseconds wait);

  struct Snapshot {
    std::vector<nlohmann::json> nodes;  // trimmed, by name
    std::vector<nlohmann::json> pods;   // bound, unfinished, trimmed, by namespace/name
    // Some watch broke and has not reconnected since: the data may be out of date.
    bool stale = false;
    std::string stale_reason;  // the watch's last error when stale
  };
  // What the watches delivered so far. kFailedPrecondition when a watch is not running
  // (Start() has not succeeded).
  StatusOr<Snapshot> Read() const;

  // Watch requests that got response headers and relists after 410 Gone, summed over the
  // Node and Pod watches (MemberWatch::Connections/Relists; 0 before Start()).
  struct Stats {
    int64_t connections = 0;
    int64_t relists = 0;
  };
  Stats GetStats() const;

  // Trimmed forms (exposed for tests and for the monitor's documentation of what is kept).
  static nlohmann::json TrimNode(const nlohmann::json& node);
  // nullopt-like: null when the pod holds no room (unbound or finished).
  static nlohmann::json TrimPod(const nlohmann::json& pod);

 private:
  struct Feed;  // one watch and what it delivered

  Status StartFeed(Feed& feed);

  const std::shared_ptr<sync::MemberClient> client_;
  const sync::WatchOptions watch_options_;
  std::unique_ptr<Feed> nodes_;
  std::unique_ptr<Feed> pods_;
  std::mutex start_mu_;  // serialises Start()

  std::mutex async_mu_;  // guards the fields below
  std::condition_variable async_cv_;
  std::thread starter_;    // the EnsureStarted thread (joined before the next, and at the end)
  bool starting_ = false;  // starter_ runs
  bool started_ = false;   // both watches run
  Status last_start_;      // the last finished start's result
};

}  // namespace meridian::failover
