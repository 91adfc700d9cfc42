// Cacher: the watch cache between the API (ObjectService) and a Store, as kube-apiserver's
// cacher: GET, LIST and watch are served from memory; the store is read once per resource
// (one list, then one watch from that list's revision), then for consistent reads only to
// learn how far the cache must be (several writers), and again for those it cannot confirm.
//
// Per resource it keeps every object's compact JSON, shared read-only (a LIST or a watch event
// is written without parsing or serializing it again), and a window of the last events
// (`window_events`, `window_bytes`), each with the state it replaced. An object's decoded tree
// is kept only while something else holds it (a watch event being delivered, a list being
// served): the trees are several times larger than the bytes, and a reader that needs one
// (GET, List, a field selector, a replayed event) decodes it again from them.
//   - Get is a consistent read (below), from memory once proven. Writes made through this
//     cacher are seen by the next Get at once (the written object is kept until its own watch
//     event arrives). GetAny (GET with resourceVersion=0) is the cache as it is, no round.
//   - List by ListOptions::match: kAny from memory as it is; kMostRecent is a consistent read;
//     kNotOlderThan N waits up to `too_new_wait` for the cache to reach N (then 504, "Too large
//     resource version", kDeadlineExceeded); kExact N is the state at N rebuilt from the window
//     (410 Gone, kOutOfRange, once N is older than the window). Pages: the cacher's continue
//     tokens carry the first page's revision and later pages are that same snapshot.
//   - WatchFrom(rv): events after rv replayed from the window, then live; 410 Gone when rv is
//     older than the window (clients relist, as with kube-apiserver's cache). WatchLatestFrom
//     (in-process informers): the same, but the live events one watcher has not been given
//     yet are merged per object (store.h), so a watcher behind a burst of writes is handed
//     each object's newest state once instead of every step, decoded once: the in-process
//     informers, whose decoding into typed objects runs on the delivery thread, fell ~10,000
//     events behind at 10,000 workloads x 100 members when they were handed every event.
// "Known complete up to R" for a resource: its own watch delivered R, or (`single_writer`,
// when every write to the store goes through this cacher: SQLite and memory stores that one
// process owns) the store is at R and every write through the cacher at or before R has come
// back on the watch.
//
// A consistent read (GET, LIST with kMostRecent) must see every write acknowledged before it
// began, on any replica. Single writer: the cache answers once complete up to the store's
// current revision. Several writers (API replicas on etcd): the store is asked for the
// revision of the resource's newest write (Store::LastWriteRevision; on etcd one linearizable
// read of a key every write moves in its own Txn) and the cache answers once its watch has
// delivered that revision; events arrive in revision order, so it then holds that write and
// every earlier one. This is kube-apiserver's consistent read from cache (KEP-2340) with the
// resource's last write in place of etcd's current revision and a progress notification:
// etcd before 3.4.25 (Debian's 3.4.23) can send a requested progress notification ahead of
// events it covers (etcd#15220), and kube-apiserver uses them only from 3.4.31 / 3.5.13; an
// idle resource also needs no wait here. The store is asked by rounds, each shared by every
// reader that arrived before it was sent (one sent earlier may have been answered before the
// reader's write): a reader arriving while rounds are in flight starts the next at once,
// unless `consistent_read_rounds_in_flight` are out already (then it waits for a slot), and
// is answered by the first round numbered after its arrival to return. When the store cannot
// tell (kUnimplemented), fails, or the watch
// does not deliver the revision within `consistent_read_wait` (a broken watch), the store
// answers the read itself (FallThroughReads), as before.
//
// Parked consistent reads (several writers): a blocking consistent read holds its thread while
// it waits for a round, so a server with N threads gets at most N readers per round, and each
// wait is a futex sleep and wake (on the 2-core bench 43 % of the server's cycles were context
// switches, docs/performance.md). WhenConsistent lets a server park a read instead: the
// caller's thread is free again at once, or (when no other caller is sending rounds for parked
// reads of the resource) it becomes their round sender: it sends rounds while parked reads
// need one (first waiting for a blocking reader's round to free the slot, if it holds it),
// and each round returned answers every parked read that arrived before it was sent, by
// calling its callback with a ConsistentReadProof (the resource's newest write, or the
// store's error).
// The callback then serves the read under a ProvenConsistentRead scope, in which Get and
// List (kMostRecent) of that resource on that thread use the proof instead of a round of
// their own: the guarantee is the same as a blocking read's (the round was sent after the
// read arrived), and a read served without a scope just takes the blocking path. Parked and
// blocking readers share the same rounds. Each round is bounded by the store's own deadline
// (etcd: --etcd-request-timeout), so a parked read waits at most two rounds (the one in
// flight when it arrived, then its own) and a failed round answers every read it covers
// with the store's error, as a blocking read would get. A parked read is never left behind:
// while one waits, a thread is inside the cacher for it (the sender, or a blocking reader
// whose round covers it) or the sending is queued on the caller's runner (send_rounds), so
// once every caller has returned and the runner has run what it was given (before the cacher
// is destroyed) nothing is parked.
// Between two rounds the sender holds the next one briefly (consistent_read_hold, on the
// injectable clock) until the reads the last one answered are parked again: a closed-loop
// client's next read arrives just after a round was answered, so without the hold it missed
// the next round and waited for the one after; rounds alternated between two halves of the
// readers (about conns/2 per round), with it a round serves about all of them (on the 2-core
// bench at 8 connections: 3.8 -> 7.9 reads per round, docs/performance.md h13g). The hold
// only delays a round, so a read is still answered by a round sent after it arrived.
//
// Watch callbacks run on the cacher's own delivery thread (never the store's), so a callback
// may read through the cacher, even a consistent read.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "apimachinery/store.h"
#include "common/clock.h"

namespace meridian::apimachinery {

struct CacherOptions {
  // Events kept per resource for watches from an older revision, later pages, and kExact:
  // at most this many, and at most this many bytes of their encodings (trees are not kept),
  // so that large objects cannot make the window a memory sink.
  size_t window_events = 10000;
  size_t window_bytes = 8 << 20;
  // And only events younger than this (0: no age bound), as kube-apiserver's watch cache keeps
  // about the last 75 s: the window is for clients resuming a watch they just lost, and
  // without an age bound a resource written slowly fills its window for hours (the heap grows
  // that long). Checked when an event arrives; time from `clock` (RealClock() when null).
  std::chrono::milliseconds window_max_age{std::chrono::minutes(5)};
  const Clock* clock = nullptr;
  // Every write to the store goes through this cacher (see above).
  bool single_writer = false;
  // Events handed to the delivery thread hold their decoded trees up to this many bytes of
  // their encodings (about five times as much of trees); the events queued past it hold only
  // the bytes the cache keeps anyway, and are decoded again when delivered (unless someone
  // still holds the tree). Watchers slower than the writes (in-process informers decoding
  // each object into its typed form) otherwise made the queue hold a tree per event: at
  // 10,000 workloads x 100 members thousands of ~100 KB trees (docs/performance.md).
  size_t delivery_tree_budget_bytes = 16 << 20;
  // How long a consistent read waits for the cache before the store answers it.
  std::chrono::milliseconds consistent_read_wait{200};
  // Several writers: answer consistent reads from memory once the cache has the store's last
  // write (above). Off: the store answers every GET, and a consistent LIST unless the cache is
  // already at the store's current revision (as before Store::LastWriteRevision).
  bool consistent_reads_from_cache = true;
  // At most this many such reads of the store's last write per resource at once (at least 1).
  // 1: a reader arriving during a round waits for it to return before the next is sent (about
  // 1.5 round trips per read); more: the next is sent at once (about one), at the cost of that
  // many concurrent reads on the store under a crowd of readers. Default 1: on the 2-core
  // bench with a 3-member etcd, 2 served fewer GETs, not more (docs/performance.md).
  size_t consistent_read_rounds_in_flight = 1;
  // Parked reads (WhenConsistent): how long the thread sending their rounds may hold the next
  // round for the reads the last one answered to come back, measured on `clock`. A closed-loop
  // client's next read then joins that round instead of arriving just after it was sent and
  // waiting for the one after: without the hold a round serves about half the readers (the
  // other half arrived while it was in flight), with it about all of them. The hold ends as
  // soon as as many reads are parked as the last round answered plus those that were already
  // waiting, when another reader sends a round, or after this long (readers that do not come
  // back: at most this much added to a round's wait). 0: the next round is sent at once.
  std::chrono::microseconds consistent_read_hold{1000};
  // How long a read of a revision newer than the cache waits before 504.
  std::chrono::milliseconds too_new_wait{3000};
  // Resources whose events replayed to a watch from an older revision carry the object only
  // while it is still current, else `redact` applied to a copy (encrypted Secrets: no deleted
  // or replaced credential is replayed, as TransformingStore guarantees below the cache).
  std::set<ResourceType> redact_replays;
  std::function<void(nlohmann::json&)> redact;
};

// What the cache of one resource holds now (metrics: meridian_watch_cache_*).
struct ResourceCacheStats {
  ResourceType type;
  size_t objects = 0;
  size_t object_bytes = 0;  // their encodings (what the cache holds of them, with the labels)
  size_t window_events = 0;
  size_t window_bytes = 0;  // the window's encodings (what CacherOptions::window_bytes bounds)
  uint64_t consistent_read_rounds = 0;  // reads of the store's last write (several writers)
  uint64_t consistent_reads = 0;        // consistent reads answered by such rounds (readers
                                        // per round = consistent_reads / consistent_read_rounds)
  uint64_t parked_reads = 0;            // of which parked (WhenConsistent), not blocking
  uint64_t held_rounds = 0;             // rounds held for the last one's reads to come back
  size_t readers_waiting = 0;           // consistent reads waiting for such a round now
  uint64_t store_reads = 0;             // reads the cache passed to the store (FallThroughReads)
  // Events of this resource handed to the delivery thread and not yet delivered to every
  // watcher, and for each latest-per-object watcher (WatchLatestFrom) the objects with changes
  // it has not been given: watchers slower than the writes. Each holds its bytes, and its
  // decoded tree within delivery_tree_budget_bytes.
  size_t delivery_backlog = 0;
};

class Cacher;

// What one round proved for one resource: the revision of its newest write, read after a
// parked read arrived (status OK), or why it could not be read (the store's error;
// kUnimplemented: the store cannot tell, the store answers the read itself).
struct ConsistentReadProof {
  const Cacher* cacher = nullptr;
  ResourceType type;
  Status status;
  int64_t last_write = 0;
};

// While alive, consistent reads of proof.type through proof.cacher on this thread use the
// proof instead of a round of their own (see "Parked consistent reads" above). Scopes nest;
// destroy in reverse order, on the thread that made it.
class ProvenConsistentRead {
 public:
  explicit ProvenConsistentRead(const ConsistentReadProof& proof);
  ~ProvenConsistentRead();
  ProvenConsistentRead(const ProvenConsistentRead&) = delete;
  ProvenConsistentRead& operator=(const ProvenConsistentRead&) = delete;
  // The innermost scope's proof on this thread (null: none).
  static const ConsistentReadProof* Current();

 private:
  const ConsistentReadProof* previous_;
};

class Cacher : public Store {
 public:
  using ProofCallback = std::function<void(const ConsistentReadProof&)>;
  // Whether WhenConsistent can park reads at all (several writers, consistent reads from
  // the cache); false lets a server skip recognising consistent reads.
  virtual bool ParksConsistentReads() const = 0;
  // Parks a consistent read of `type`: `done` is called exactly once, with the proof of the
  // first round sent after this call returned (or of a newer one).
  // It runs on the thread that completes the round (possibly this one, before this returns),
  // with no lock held, so it must be quick: hand the read to a thread of its own pool. The
  // calling thread may send rounds until no parked read needs one (each bounded by the
  // store's deadline). False, and `done` is not called: parking would not help (single
  // writer, consistent reads from the store, a store that cannot tell, a resource whose cache
  // cannot start): serve the read now, the blocking path does the right thing.
  // `send_rounds`, when set, runs the rounds instead of the calling thread: when this call
  // would make its thread the sender, the sending is handed to it as a task (e.g. a thread of
  // a pool whose threads may wait), so that a server with as few threads as cores keeps them
  // all for the network. A task it drops (a pool shutting down) leaves the reads parked
  // until the cacher is destroyed, their callbacks uncalled.
  using RoundRunner = std::function<void(std::function<void()> send)>;
  virtual bool WhenConsistent(const ResourceType& type, ProofCallback done,
                              const RoundRunner& send_rounds) = 0;
  bool WhenConsistent(const ResourceType& type, ProofCallback done) {
    return WhenConsistent(type, std::move(done), RoundRunner());
  }
  // Starts the caches of `types` now (one list and one watch each); other resources start on
  // first use. Errors are the store's (the resource's cache is then not started).
  virtual Status Prime(const std::vector<ResourceType>& types) = 0;
  // The revision up to which the cache of `type` is known complete (0 when not started).
  virtual int64_t CachedRevision(const ResourceType& type) = 0;
  // Store reads that the cache could not answer (consistent reads it could not confirm,
  // foreign continue tokens). For tests and metrics.
  virtual int64_t FallThroughReads() = 0;
  // Every started resource's cache, in ResourceType order.
  virtual std::vector<ResourceCacheStats> Stats() = 0;
};

// Wraps `inner` (which the cacher owns and writes through to).
std::unique_ptr<Cacher> NewCacher(std::unique_ptr<Store> inner, CacherOptions options = {});

}  // namespace meridian::apimachinery
