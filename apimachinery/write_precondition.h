// WritePrecondition: a condition on another stored object that a write needs to hold at the
// moment it is applied, e.g. "Lease meridian-system/federation-controller-manager still
// records holder cm-1 at leaseTransitions 3" for a leader's write (federation-apiserver/
// leader_fencing.h). A backend checks it in the same transaction as the write: SqliteStore
// inside the write's BEGIN IMMEDIATE transaction, MemoryStore under its lock, EtcdStore as a
// compare on the object's key in the write's Txn (beside the write fence's compare,
// write_fence.h, with the same helper). When it does not hold the write is refused with the
// condition's own error and nothing is written: no revision, no watch event.
//
// How a write gets one: a WritePreconditionScope, not an argument of Store::Create/Update/
// Delete. Chosen because (1) every write a request causes is covered, wherever it is made
// (ObjectService's create, update, patch, delete, collection delete, finalizer removal,
// admission's side writes) without threading an argument through a dozen call sites; (2) the
// Store interface (store.h) and the stores that only pass writes on (Cacher,
// TransformingStore, test wrappers) stay as they are: they call their inner store on the
// caller's thread, where the scope is. The price is that the scope is bound to a thread: it
// applies to writes made on the thread that opened it, while it is open, and to no other.
// RestHandler serves a request on one thread (filters, route, store calls) and destroys the
// request, and the scope its filter kept in RestRequest::holds, when Handle returns.
//
// Stores that honour it: SqliteStore, MemoryStore, EtcdStore (the Store conformance suite
// checks each). A Store over a remote API (the controller manager's RestStore) does not: the
// server it writes to applies its own.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "apimachinery/store.h"
#include "common/status.h"

namespace meridian::apimachinery {

struct WritePrecondition {
  ObjectKey key;  // the object the condition reads (a Lease)
  // OK when the write may go ahead given `stored` (the object as the store holds it now; null
  // when it does not exist), else the error the write answers. Called inside the store's
  // transaction or lock, possibly more than once for one write (etcd reads again when the
  // object moved between its read and its Txn, e.g. a Lease renewal): must be pure and must
  // not call the store.
  std::function<Status(const nlohmann::json* stored)> check;
};

class WritePreconditionScope;
inline Status CheckWritePrecondition(const WritePrecondition& precondition,
                                     const std::string* stored_text);
inline void RecordWritePreconditionOutcome(const Status& outcome);

// Makes every store write on this thread conditional on `precondition` until destroyed.
// Scopes nest (the inner one replaces the outer until it ends). Destroying it on another
// thread than the one that opened it leaves that thread's writes unconditioned from then on
// (the condition is held weakly), never dangling.
class WritePreconditionScope {
 public:
  explicit WritePreconditionScope(std::shared_ptr<const WritePrecondition> precondition)
      : precondition_(std::move(precondition)),
        previous_(Slot().precondition),
        thread_(std::this_thread::get_id()) {
    Slot() = {precondition_, Status::Ok()};
  }
  ~WritePreconditionScope() {
    if (std::this_thread::get_id() == thread_) Slot() = {previous_, Status::Ok()};
  }
  WritePreconditionScope(const WritePreconditionScope&) = delete;
  WritePreconditionScope& operator=(const WritePreconditionScope&) = delete;

  // The condition the writes of this thread are under now; null when none.
  static std::shared_ptr<const WritePrecondition> Current() { return Slot().precondition.lock(); }

  // Whether `status`, a store write's error, is this thread's precondition refusing the write
  // (as CheckWritePrecondition returned it) rather than the write's own failure. Its callers
  // tell the two apart: a lost compare-and-swap (kAborted) may be retried on the newer
  // object, a refused precondition (often kAborted too: 409) must be answered as it is.
  static bool Refused(const Status& status) {
    return !status.ok() && Current() != nullptr && status == Slot().refusal;
  }

 private:
  friend Status CheckWritePrecondition(const WritePrecondition&, const std::string*);
  friend void RecordWritePreconditionOutcome(const Status&);
  struct ThreadState {
    std::weak_ptr<const WritePrecondition> precondition;
    Status refusal;  // the precondition's last error on this thread
  };
  static ThreadState& Slot() {
    static thread_local ThreadState slot;
    return slot;
  }

  const std::shared_ptr<const WritePrecondition> precondition_;
  const std::weak_ptr<const WritePrecondition> previous_;
  const std::thread::id thread_;
};

// For a backend: evaluates `precondition` on the object's stored JSON text (null when the
// object does not exist); its error is what the refused write returns (and what
// WritePreconditionScope::Refused recognises). kDataLoss naming the key when the text is not
// JSON.
inline Status CheckWritePrecondition(const WritePrecondition& precondition,
                                     const std::string* stored_text) {
  Status result;
  if (stored_text == nullptr) {
    result = precondition.check(nullptr);
  } else {
    nlohmann::json stored =
        nlohmann::json::parse(*stored_text, nullptr, /*allow_exceptions=*/false);
    result = stored.is_discarded()
                 ? Status(StatusCode::kDataLoss, "write precondition: stored " +
                                                     precondition.key.ToString() + " is not JSON")
                 : precondition.check(&stored);
  }
  WritePreconditionScope::Slot().refusal = result;
  return result;
}

// For a backend that checks a write's precondition on another thread than the writer's
// (SqliteStore's group commit: the leader checks every write of its group): records on the
// writer's thread what CheckWritePrecondition answered for its write (OK: it held), so that
// WritePreconditionScope::Refused sees it there. Call on the writer's thread, after the check.
inline void RecordWritePreconditionOutcome(const Status& outcome) {
  WritePreconditionScope::Slot().refusal = outcome;
}

}  // namespace meridian::apimachinery
