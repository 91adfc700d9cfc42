// Store: the storage interface under every Kubernetes-style API server in Meridian
// (federation-apiserver on SQLite or etcd, each simulated member cluster in membersim in memory).
//
// The model is etcd v3's, so an etcd backend can follow without changing callers:
//   - one monotonically increasing revision per store ("resourceVersion"), bumped by every
//     write; each object remembers the revision of its last write;
//   - writes are compare-and-swap on that revision;
//   - watches replay history from a revision and then stream live events, in revision order;
//     history older than what the store keeps answers kOutOfRange (HTTP 410 Gone, "Expired").
//
// Objects are Kubernetes-style JSON documents. The store owns exactly one field of them:
// `metadata.resourceVersion`, which it sets (as a decimal string) on every object it returns.
// Everything else (uid, creationTimestamp, generation, validation) is the API layer's job.
//
// Thread-safety: every method may be called from any thread concurrently. Watch callbacks run
// on a thread owned by the store, one event at a time per watch, in revision order; a callback
// must not block for long and must not call Cancel() on its own watch from inside the callback.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apimachinery/labels.h"
#include "common/status.h"

namespace meridian::apimachinery {

// A stored collection: API group ("" for core) and resource (lower-case plural), e.g.
// {"federation.meridian.io", "federatedworkloads"}, {"apps", "deployments"}, {"", "secrets"}.
// Versions are not part of the key: one storage version per resource.
struct ResourceType {
  std::string group;
  std::string resource;

  std::string ToString() const { return group.empty() ? resource : resource + "." + group; }
  friend bool operator==(const ResourceType&, const ResourceType&) = default;
  friend auto operator<=>(const ResourceType&, const ResourceType&) = default;
};

// Names one object. `ns` is empty for cluster-scoped resources.
struct ObjectKey {
  ResourceType type;
  std::string ns;
  std::string name;

  std::string ToString() const {
    return type.ToString() + " " + (ns.empty() ? name : ns + "/" + name);
  }
  friend bool operator==(const ObjectKey&, const ObjectKey&) = default;
};

// Which state a list may reflect (kube's resourceVersion and resourceVersionMatch).
enum class ResourceVersionMatch {
  kMostRecent,    // resourceVersion "": the newest state (a consistent read)
  kAny,           // resourceVersion "0": any state, however old (the watch cache's)
  kNotOlderThan,  // resourceVersion N: a state at N or newer
  kExact,         // resourceVersion N, resourceVersionMatch=Exact: the state at exactly N
};

struct ListOptions {
  std::string ns;           // empty: all namespaces (or the cluster scope)
  LabelSelector selector;   // empty: everything
  int64_t limit = 0;        // 0: no limit; else at most this many items per page
  std::string continue_token;  // from a previous page's ListResult::continue_token
  // Backends always read the newest state, which satisfies every match but kExact (they
  // ignore these); the watch cache (cacher.h) honours all four from memory.
  ResourceVersionMatch match = ResourceVersionMatch::kMostRecent;
  int64_t resource_version = 0;  // N for kNotOlderThan / kExact
};

struct ListResult {
  std::vector<nlohmann::json> items;  // ordered by (namespace, name) (etcd: see etcd_store.h)
  int64_t resource_version = 0;       // the store revision the list reflects
  std::string continue_token;         // empty when this is the last page
  int64_t remaining_item_count = -1;  // items after this page if known, else -1
};

// An object shared read-only, with its compact JSON encoding when the store keeps one (null:
// encode `object` yourself). The encoding is `object.dump(-1, ' ', false, replace)`, the bytes
// a REST response would hold. `object` is null when the store keeps only the encoding (the
// watch cache keeps an object's decoded tree only while someone else holds it: the trees are
// several times larger than the bytes); DecodedObject gives the tree either way. At least one
// of the two is set.
struct SharedObject {
  std::shared_ptr<const nlohmann::json> object;
  std::shared_ptr<const std::string> encoded;
};

// `o.object`, else `o.encoded` parsed (the encoding is the store's own dump: it parses).
std::shared_ptr<const nlohmann::json> DecodedObject(const SharedObject& o);

// ListResult with shared items (Store::ListShared).
struct SharedListResult {
  std::vector<SharedObject> items;
  int64_t resource_version = 0;
  std::string continue_token;
  int64_t remaining_item_count = -1;
};

enum class WatchEventType { kAdded, kModified, kDeleted };
const char* WatchEventTypeName(WatchEventType t);  // "ADDED", "MODIFIED", "DELETED"

struct WatchEvent {
  WatchEventType type;
  ObjectKey key;
  // The object after the write; for kDeleted, the last state with resourceVersion set to the
  // deletion's revision (as Kubernetes does). Shared so fan-out to many watchers copies nothing.
  std::shared_ptr<const nlohmann::json> object;
  int64_t resource_version = 0;
  // The object's compact JSON (as SharedObject::encoded) when the store keeps it; else null.
  std::shared_ptr<const std::string> encoded = nullptr;
};

using WatchCallback = std::function<void(const WatchEvent&)>;

// A live watch; destroying it (or calling Cancel) stops delivery. After Cancel returns, the
// callback is not running and will not be called again.
class Watch {
 public:
  virtual ~Watch() = default;
  virtual void Cancel() = 0;
  // A revision R such that every event of this watch at or below R has been delivered (its
  // callback returned), whether or not the store wrote anything this watch selects: what a
  // BOOKMARK may carry, so that a client watching a quiet kind can resume from a revision the
  // store still has instead of one its history dropped long ago (410 Gone, then a LIST).
  // 0: unknown (the caller falls back to the newest event it delivered). Thread-safe; never
  // blocks on a callback.
  virtual int64_t DeliveredThrough() const { return 0; }
};

class Store {
 public:
  virtual ~Store() = default;

  // The object, or kNotFound.
  virtual StatusOr<nlohmann::json> Get(const ObjectKey& key) = 0;

  // The object as this store's cache holds it now, which may be older than a write already
  // acknowledged (Kubernetes' GET with resourceVersion=0: "any"); a store without a cache
  // answers as Get does.
  virtual StatusOr<nlohmann::json> GetAny(const ObjectKey& key) { return Get(key); }

  // Get (`any`: GetAny) shared instead of copied: the watch cache answers with the encoding it
  // keeps, which a REST GET sends as it is; the default calls Get / GetAny and wraps it.
  virtual StatusOr<SharedObject> GetShared(const ObjectKey& key, bool any);

  // Objects of `type` matching `options`, with the revision they reflect. A malformed or
  // expired continue token is kInvalidArgument / kOutOfRange.
  virtual StatusOr<ListResult> List(const ResourceType& type, const ListOptions& options) = 0;

  // Stores a new object; kAlreadyExists if the key is taken. Returns it as stored.
  // Durable backends return only after the write is durable.
  virtual StatusOr<nlohmann::json> Create(const ObjectKey& key, nlohmann::json object) = 0;

  // Replaces an object. `expected_resource_version` 0 means unconditional; otherwise the write
  // happens only if the stored revision equals it, else kAborted (HTTP 409 Conflict).
  // kNotFound if absent. Returns the object as stored.
  virtual StatusOr<nlohmann::json> Update(const ObjectKey& key, nlohmann::json object,
                                          int64_t expected_resource_version) = 0;

  // Removes an object (compare-and-swap as for Update). Returns its last state with the
  // deletion's revision as resourceVersion.
  virtual StatusOr<nlohmann::json> Delete(const ObjectKey& key,
                                          int64_t expected_resource_version) = 0;

  // Streams events for `type` (restricted to namespace `ns` when non-empty) with revision
  // > `from_resource_version`. 0 means "from now". kOutOfRange when the history needed was
  // already compacted. The selector filters events by the object's labels.
  virtual StatusOr<std::unique_ptr<Watch>> WatchFrom(const ResourceType& type,
                                                     const std::string& ns,
                                                     const LabelSelector& selector,
                                                     int64_t from_resource_version,
                                                     WatchCallback callback) = 0;

  // WatchFrom for a level-triggered watcher (an in-process informer: it keeps each object's
  // last state and reacts to it, not to each step): events of one object that have not been
  // delivered yet may be merged into one — its newest state, as a transition from the state
  // the watcher was last told of (created then changed: ADDED of the newest state; changed,
  // or created, then deleted: DELETED; deleted then created again: both) — and objects come in the order they first changed, so revisions need not rise across
  // objects (they do per object). A watcher slower than the writes then costs one event per
  // object it is behind on, not one per write. The watch cache merges; the default delivers
  // every event, which a level-triggered watcher handles too.
  virtual StatusOr<std::unique_ptr<Watch>> WatchLatestFrom(const ResourceType& type,
                                                           const std::string& ns,
                                                           const LabelSelector& selector,
                                                           int64_t from_resource_version,
                                                           WatchCallback callback) {
    return WatchFrom(type, ns, selector, from_resource_version, std::move(callback));
  }

  // List, with items shared instead of copied. Stores that keep objects in memory (the watch
  // cache) answer without copying, parsing or serializing; the default calls List and wraps
  // its items.
  virtual StatusOr<SharedListResult> ListShared(const ResourceType& type,
                                                const ListOptions& options);

  // The store's current revision (the revision of the newest write).
  virtual int64_t CurrentResourceVersion() = 0;

  // The revision of the newest write to `type` (0: none recorded), read so that it counts
  // every write to `type` acknowledged before the call, by any client of the store (on etcd,
  // any replica): what a consistent read of `type` must reflect. The watch cache answers a
  // consistent read from memory once its watch of `type` has delivered this revision
  // (cacher.h). kUnimplemented when the store does not track it (the cache then reads the
  // store); other errors are the store's (unreachable, timeout).
  virtual StatusOr<int64_t> LastWriteRevision(const ResourceType& type) {
    return UnimplementedError("the store does not track the last write of " + type.ToString());
  }

  // Whether `stored` (as Get returned it) must be written again even when an update changes
  // nothing: true when an encrypting store read it with an older key or as plaintext
  // (transforming_store.h), so that a GET+PUT rewrites it with the current key, as
  // kube-apiserver's "stale" reads do. Plain backends: never.
  virtual bool NeedsRewrite(const ObjectKey& key, const nlohmann::json& stored) {
    (void)key;
    (void)stored;
    return false;
  }
};

// Reads metadata.resourceVersion as an integer: 0 when absent or empty, kInvalidArgument when
// not a decimal number (Kubernetes treats resourceVersion as opaque, but ours are decimal).
StatusOr<int64_t> ResourceVersionOf(const nlohmann::json& object);

}  // namespace meridian::apimachinery
