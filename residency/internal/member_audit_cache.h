// The residency audit's view of one member: the audited objects, listed once per watch spec
// and then kept by watches (sync::MemberClient::Watch: it lists in pages, resumes a stream
// that ended or broke from the last resourceVersion it saw, and relists only on 410 Gone,
// delivering the difference). The audit controller (residency/audit_controller.h) holds one
// per member and re-judges only the objects whose keys it reports as changed.
//
// The specs change with the ResidencyPolicies (a policy naming another namespace): Watch()
// then opens watches for the new specs only and stops those no longer wanted, so the 10,000
// objects of an unchanged namespace are not listed again because a policy for another one
// appeared.
//
// Trust: a watch that reports trouble (its on_error: a broken stream, a failed reconnection,
// 410 Gone) is *down* until the member answers it again (its on_connected): while any watch
// is down, or while a wanted spec has not been listed, the member is unverified. A resumed
// watch misses nothing (the member replays every change after the version it resumes from,
// or answers 410 and the client relists), so recovering needs no list of ours. A client
// that never calls on_connected after an error (none does so far) would keep the member
// unverified: safe, never falsely compliant.
//
// Memory: what the set holds of each object is packed (residency/internal/packed_object.h:
// the key once, shared strings by id): ~440 bytes of heap an object instead of ~1,050, so
// 1,000,000 audited objects take ~420 MiB (docs/performance.md, "The audit's memory").
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "residency/audit.h"
#include "residency/internal/packed_object.h"
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
  // Told that something changed (an object, a watch went down or came back). Runs on the
  // watches' threads (and on Watch()'s caller for the initial lists); must not block.
  using Notify = std::function<void()>;

  explicit MemberAuditCache(Notify notify);
  ~MemberAuditCache();  // stops the watches (waits for a callback in progress)
  MemberAuditCache(const MemberAuditCache&) = delete;
  MemberAuditCache& operator=(const MemberAuditCache&) = delete;

  // Makes the set watch exactly `specs` on `client`: stops the watches of specs not in it
  // (forgetting what only they held), then lists and watches each new spec. A resource the
  // member does not serve (kNotFound) holds nothing. Blocks for the new lists (each page
  // bounded by the client's timeout). Errors: the first list that failed; the specs listed
  // before it are kept, so Covers(specs) stays false and a later call lists only the rest.
  // Calls are serialised; the readers below may run meanwhile (they see the lists fill).
  Status Watch(sync::MemberClient& client, const std::vector<AuditWatchSpec>& specs,
               const sync::WatchOptions& options);

  // Whether exactly `specs` are listed and watched (none missing, none extra).
  bool Covers(const std::vector<AuditWatchSpec>& specs) const;
  // "" while every watch is up; else why one is down.
  std::string Down() const;

  // Keys of the objects that appeared, changed or went since the previous call; on the first
  // call, the key of every object held (so a set filling up before anyone judges it does not
  // also keep a second list of its keys).
  std::vector<std::string> TakeChanged();
  // The object held under `key` now, if any.
  std::optional<MemberObject> Find(const std::string& key) const;
  // Calls `f(key, object)` for every object held (each once), under the set's lock: `f` must
  // not call back into the set.
  void ForEach(const std::function<void(const std::string&, const MemberObject&)>& f) const;
  size_t size() const;

  // Takes `object` (as a write of Meridian's returned it) as the state of an object the set
  // already holds, unless it holds a newer one: a pass that runs before the watch delivers
  // the write then does not act on the old state again.
  void Observe(const sync::GroupVersionResource& gvr, const nlohmann::json& object);

 private:
  // One spec's watch and what it holds. Lives in specs_ (a std::map: its address is stable,
  // the watch's callbacks hold it) until its watch has stopped.
  struct Spec {
    AuditWatchSpec spec;
    bool listed = false;  // its list is complete (or the resource is not served)
    std::unordered_set<const PackedKey*> keys;  // the objects its watch holds (objects_' keys)
    std::string down;                           // "" while its watch is up
    std::unique_ptr<sync::MemberWatch> watch;   // null while listing, or when not served
  };
  void OnEvent(Spec& spec, const sync::MemberWatchEvent& e);
  void OnError(Spec& spec, const Status& status);
  void OnConnected(Spec& spec);
  // Stops `spec`'s watch and forgets it and what only it held. Not under mu_.
  void Drop(const AuditWatchSpec& spec);

  const Notify notify_;
  std::mutex watch_mu_;  // serialises Watch()

  struct Held {
    PackedObject object;
    int specs = 0;  // how many specs' watches hold it (a managed object of a named namespace: 2)
  };
  using Objects = std::map<PackedKey, Held>;
  // Forgets `it` and gives its strings back to packer_. mu_ held.
  void Erase(Objects::iterator it);
  // Notes `key` (as KeyText) for TakeChanged. mu_ held.
  void Changed(std::string key);

  mutable std::mutex mu_;  // guards packer_, objects_, specs_ (not their watches' calls), changed_
  ObjectPacker packer_;
  Objects objects_;  // a std::map: Spec::keys point at its keys
  std::map<AuditWatchSpec, Spec> specs_;
  std::set<std::string> changed_;
  bool none_taken_ = true;  // TakeChanged not called yet: changed_ stays empty
};

}  // namespace meridian::residency::internal
