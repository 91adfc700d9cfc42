// The member health monitor (shell around failover/health.h): probes every MemberCluster
// and keeps its status (conditions Reachable/Ready, zones, allocatable replicas, probe time
// and latency) up to date, so that placement reacts to failed zones and unreachable members.
//
// Each round: the MemberClusters as the process's shared informer holds them (no LIST per
// round); for each, one probe task on its own thread (so a hung
// member never delays the others): GET /readyz (falling back to /healthz when /readyz is
// absent), then, if it answered, zone health and room from the member's Nodes and bound Pods
// as its watches keep them (failover/member_inventory.h: listed once when the member's client
// is made, in the background with the probe waiting at most timeout/2 for it, then watched;
// a broken watch keeps the previous zones instead of reporting stale ones; no LIST per probe),
// estimated by failover/node_capacity.h (scheduler-style, per zone, for a 100m reference pod
// and for the pod shape of every FederatedWorkload cached at the round's start; pods of
// Meridian's own workloads take no room, placement counts them). The round waits
// at most `timeout` for the probes; a probe still running then counts as a failure (and, while
// it keeps running, so does every later round: no second probe is started for that member).
// Except when most members are silent in the same round (failover/health.h,
// RoundLooksDisrupted: this process or its network is the likelier culprit): silences then
// count only once such rounds have lasted `disruption_grace` (30 s), so one stall of the
// control plane cannot mark most of the fleet unreachable and fail it over at once (seen at
// 10,000 apps on 2 cores: 31 of 50 simulated members "failed" together, ~3,500 moves
// followed, convergence took 8 minutes instead of 1; docs/performance.md).
// The pure core turns each outcome into the new status, which is written with
// ObjectService::Update(..., "status") as compare-and-swap (a 409 re-reads and re-applies),
// only when something other than lastProbeTime/probeLatencyMs changed, or when the last
// write is older than `status_refresh` (so lastProbeTime shows the monitor is alive).
//
// Events: every transition (Reachable, Ready, a zone failing or recovering) is recorded as a
// core/v1 Event on the MemberCluster (apimachinery/event_recorder.h, component
// "health-monitor"; `fedctl get events` / `kubectl get events` show them) when the server
// registers Events, and logged with spdlog as an "event" line either way.
//
// Thread-safety: ProbeAllOnce must not run concurrently with itself or with a running loop
// (Start); Start/Stop are for one owner thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "api/types.h"
#include "apimachinery/event_recorder.h"
#include "apimachinery/informer.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "common/status.h"
#include "failover/health.h"
#include "sync/member_client.h"
#include "sync/member_client_factory.h"

namespace meridian::failover {

struct HealthMonitorOptions {
  std::chrono::milliseconds interval{1000};  // between the starts of two rounds
  std::chrono::milliseconds timeout{1000};   // how long a round waits for a probe
  int failure_threshold = 3;                 // consecutive failures before Reachable=False
  // A round in which most members are silent (RoundLooksDisrupted): their silences are not
  // counted as failures until such rounds have gone on this long (by the monitor's clock);
  // then they count as usual. 0: always counted.
  std::chrono::milliseconds disruption_grace{30'000};
  // Rewrite an otherwise unchanged status this often (refreshes lastProbeTime/latency).
  std::chrono::milliseconds status_refresh{30'000};
};

// Member clients come from sync/member_client_factory.h (one factory for every controller).
using MemberClientFactory = sync::MemberClientFactory;
using sync::HttpMemberClientFactory;

class HealthMonitor {
 public:
  // `objects` and `clock` must outlive the monitor, and so must `informers` (the process's
  // shared informers over `objects`) when given; without, it has its own. The clock stamps
  // status times; waiting between rounds and probe timeouts use real (steady) time.
  HealthMonitor(apimachinery::ObjectService& objects, const Clock& clock,
                MemberClientFactory factory, HealthMonitorOptions options = {},
                apimachinery::SharedInformerFactory* informers = nullptr);
  ~HealthMonitor();  // Stop()s and joins every probe thread
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // One round at time `now` (status timestamps), synchronous: returns when every probe
  // finished or `timeout` passed. MemberClusters and FederatedWorkloads come from the
  // informers' caches (listed first when the monitor is not started). Returns how many
  // statuses were written. Errors: the MemberClusters could not be listed. Failed writes are
  // logged and retried next round.
  StatusOr<int> ProbeAllOnce(Timestamp now);

  // Waits until every transition Event recorded so far has been written (or failed).
  void FlushEvents();

  // Starts the informers (one LIST each unless already started; one that cannot start is
  // logged and the rounds list instead) and runs rounds every `interval` on a thread
  // (clock.Now() as the time). Idempotent.
  void Start();
  // Stops the loop and waits for it. Idempotent.
  void Stop();

 private:
  struct Probe;   // one member's probe task and its result
  struct Member;  // per-member state: client, history, in-flight probe
  struct PlacedCache;  // what the probes need of the workloads, kept between rounds

  void Run();
  // Writes `member`'s status from `outcome` (CAS, re-read on 409). Returns whether written.
  bool WriteStatus(const api::MemberCluster& listed, Member& m, const ProbeOutcome& outcome,
                   Timestamp now);

  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  const MemberClientFactory factory_;
  const HealthMonitorOptions options_;
  apimachinery::ControllerInformers informers_;
  apimachinery::SharedInformer<api::MemberCluster>& members_informer_;
  apimachinery::SharedInformer<api::FederatedWorkload>& workloads_informer_;
  bool watching_ = false;  // the informers started: rounds read their caches as they are

  // Writes the transition Events; null when the server has no Event resource.
  std::unique_ptr<apimachinery::EventRecorder> events_;

  // Touched only by the round (ProbeAllOnce), never concurrently.
  std::map<std::string, std::unique_ptr<Member>> members_;
  std::unique_ptr<PlacedCache> placed_cache_;
  // Since when rounds have looked disrupted (RoundLooksDisrupted), while they do.
  std::optional<Timestamp> disrupted_since_;

  std::mutex done_mu_;  // guards Probe::done of every probe
  std::condition_variable done_cv_;

  std::mutex loop_mu_;  // guards stopping_
  std::condition_variable loop_cv_;
  bool stopping_ = false;
  std::thread loop_;
};

}  // namespace meridian::failover
