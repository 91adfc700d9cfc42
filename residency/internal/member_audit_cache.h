// The residency audit's view of one member: the audited objects, listed once and then kept by
// watches (sync::MemberClient::Watch: it resumes from the last resourceVersion, relists on 410
// Gone and reconnects with backoff). The audit controller (residency/audit_controller.h)
// holds one per member and re-judges only the objects whose keys it reports as changed.
//
// Trust: once any watch of the set reports trouble (its on_error: a broken stream, a failed
// reconnection, 410 Gone) the set is *broken* for good: changes may have been missed while it
// recovers, so the controller counts the member as unverified until it has opened a new set
// (relisted). A set is never repaired in place; it is replaced.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "residency/audit.h"
#include "sync/member_client.h"

namespace meridian::residency::internal {

// What one member watch covers: a resource in one namespace ("" = all) with a label selector.
struct AuditWatchSpec {
  sync::GroupVersionResource gvr;
  std::string ns;
  std::string label_selector;
  friend bool operator==(const AuditWatchSpec&, const AuditWatchSpec&) = default;
  friend auto operator<=>(const AuditWatchSpec&, const AuditWatchSpec&) = default;
};

// "group/resource/namespace/name": one object, whichever watch saw it.
std::string AuditObjectKey(const sync::GroupVersionResource& gvr, const std::string& ns,
                           const std::string& name);

class MemberAuditCache {
 public:
  // Told that something changed (an object, or the set broke). Runs on the watches' threads
  // (and on Open's caller for the initial lists); must not block.
  using Notify = std::function<void()>;

  // Lists every spec on `client` and watches it from that list. A resource the member does
  // not serve (kNotFound) holds nothing. Blocks for the lists (each bounded by the client's
  // timeout). Errors: the first list or watch that failed (nothing is kept running then).
  static StatusOr<std::shared_ptr<MemberAuditCache>> Open(sync::MemberClient& client,
                                                          std::vector<AuditWatchSpec> specs,
                                                          const sync::WatchOptions& options,
                                                          Notify notify);
  ~MemberAuditCache();  // stops the watches (waits for a callback in progress)
  MemberAuditCache(const MemberAuditCache&) = delete;
  MemberAuditCache& operator=(const MemberAuditCache&) = delete;

  const std::vector<AuditWatchSpec>& specs() const { return specs_; }

  // Keys of the objects that appeared, changed or went since the previous call.
  std::vector<std::string> TakeChanged();
  // The object held under `key` now, if any.
  std::optional<MemberObject> Find(const std::string& key) const;
  // Calls `f(key, object)` for every object held (each once), under the set's lock: `f` must
  // not call back into the set.
  void ForEach(const std::function<void(const std::string&, const MemberObject&)>& f) const;
  size_t size() const;
  // "" while every watch is healthy; else the first trouble a watch reported.
  std::string broken() const;

  // Takes `object` (as a write of Meridian's returned it) as the state of an object the set
  // already holds, unless it holds a newer one: a pass that runs before the watch delivers
  // the write then does not act on the old state again.
  void Observe(const sync::GroupVersionResource& gvr, const nlohmann::json& object);

 private:
  MemberAuditCache(std::vector<AuditWatchSpec> specs, Notify notify);
  void OnEvent(size_t spec, const sync::MemberWatchEvent& e);
  void OnError(const Status& status);

  const std::vector<AuditWatchSpec> specs_;
  const Notify notify_;

  struct Held {
    MemberObject object;
    int specs = 0;  // how many specs' watches hold it (a managed object of a named namespace: 2)
  };
  mutable std::mutex mu_;  // guards objects_, in_spec_, changed_, broken_
  std::map<std::string, Held> objects_;
  std::vector<std::set<std::string>> in_spec_;  // per spec: the keys its watch holds
  std::set<std::string> changed_;
  std::string broken_;

  // Last: stopped (in the destructor) before anything their callbacks touch goes.
  std::vector<std::unique_ptr<sync::MemberWatch>> watches_;
};

}  // namespace meridian::residency::internal
