// EventRecorder: writes core v1 Events ("what happened to this object, and why") through an
// ObjectService, the way client-go's record.EventRecorder does for Kubernetes controllers.
//
//   EventRecorder recorder(objects, clock, {.component = "propagation-controller"});
//   recorder.Record(ReferenceTo(workload), EventType::kWarning, "SyncFailed",
//                   "eu-west-1: member refused the credentials (401)");
//
// What it promises:
//   - Record never blocks on the store and never fails the caller: the event is queued and a
//     single background thread writes it. When the queue is full the event is dropped and
//     counted (dropped()); a write that fails is counted (failed()) and forgotten.
//   - Repeats aggregate: an event identical to one already written (same object, type,
//     reason, message, component) bumps that Event's `count` and `lastTimestamp` instead of
//     creating a new object. The cache of written events is bounded (oldest forgotten first).
//   - A per-object spam filter (token bucket, like client-go's: a burst of 25, then one per
//     5 minutes by default) keeps a controller stuck in a hot loop from flooding the store.
//     Time comes from the injected Clock.
//   - Events of namespaced objects live in the object's namespace; events of cluster-scoped
//     objects (MemberCluster, Namespace, ...) in "default", as Kubernetes does.
//   - Readers find an object's events with the field selector
//     `involvedObject.name=NAME,involvedObject.kind=KIND` in the event's namespace.
//
// Thread-safety: every method is thread-safe. The ObjectService and Clock must outlive the
// recorder. The destructor writes what is still queued, then joins its thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
#include "common/clock.h"

namespace meridian::apimachinery {

// core/v1 events: namespaced, with kubectl's `get events` columns. Register it in a server's
// ResourceRegistry to store Events (the recorder needs it).
ResourceInfo EventResourceInfo();

// The object an Event is about (core/v1 ObjectReference).
struct ObjectReference {
  std::string api_version;  // "federation.meridian.io/v1alpha1"
  std::string kind;         // "FederatedWorkload"
  std::string ns;           // "" for cluster-scoped objects
  std::string name;
  std::string uid;
  std::string resource_version;
};

// The reference to a stored object (apiVersion, kind and metadata are read from it; missing
// fields stay empty).
ObjectReference ReferenceTo(const nlohmann::json& object);

enum class EventType { kNormal, kWarning };
const char* EventTypeName(EventType type);  // "Normal" | "Warning"

struct EventRecorderOptions {
  std::string component;  // source.component and reportingComponent ("placement-controller")
  std::string host;       // source.host (optional)
  size_t queue_capacity = 1000;  // events waiting to be written; more are dropped
  size_t cache_size = 4096;      // written events remembered for aggregation
  // Spam filter per involved object: `burst` events at once, then one per `refill_every`.
  int spam_burst = 25;
  Duration spam_refill_every = std::chrono::minutes(5);
  // Messages longer than this are cut (with "..."), as kube-apiserver bounds event notes.
  size_t max_message_bytes = 1024;
};

class EventRecorder {
 public:
  // `objects` must have core/v1 events registered (EventResourceInfo()).
  EventRecorder(ObjectService& objects, const Clock& clock, EventRecorderOptions options);
  // A recorder, or null when `objects` does not serve core/v1 events (controllers' unit tests
  // on a registry without them): a controller records only through a non-null one.
  static std::unique_ptr<EventRecorder> IfServed(ObjectService& objects, const Clock& clock,
                                                 EventRecorderOptions options);
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;
  ~EventRecorder();

  // Queues the event and returns at once (see the header comment for what may drop it).
  // `reason` is a short UpperCamelCase word ("Synced", "MemberUnreachable").
  void Record(const ObjectReference& object, EventType type, const std::string& reason,
              const std::string& message);

  // Waits until every event queued before the call has been written (or has failed).
  void Flush();

  uint64_t dropped() const;  // queue full or spam-filtered
  uint64_t failed() const;   // the store refused the write

 private:
  struct Pending {
    ObjectReference object;
    EventType type;
    std::string reason;
    std::string message;
    Timestamp at;
  };
  struct Written {
    std::string ns;
    std::string name;
    int64_t count = 0;
    std::string first_timestamp;
    std::list<std::string>::iterator lru;
  };
  struct Bucket {
    double tokens = 0;
    Timestamp last;
  };

  void Run();
  void Write(const Pending& event);
  bool AllowedBySpamFilter(const std::string& object_key, Timestamp now);  // holds mu_
  void Remember(const std::string& key, Written written);

  ObjectService& objects_;
  const Clock& clock_;
  const EventRecorderOptions options_;
  const ResourceInfo* events_;  // from the ObjectService's registry; null if not registered

  mutable std::mutex mu_;  // guards everything below (the cache is only touched by the thread)
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Pending> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  uint64_t dropped_ = 0;
  uint64_t failed_ = 0;
  std::unordered_map<std::string, Bucket> buckets_;
  uint64_t sequence_ = 0;  // makes names unique when the clock stands still (FakeClock)

  // Only touched by the writer thread.
  std::unordered_map<std::string, Written> written_;
  std::list<std::string> lru_;  // most recent first

  std::thread thread_;
};

}  // namespace meridian::apimachinery
