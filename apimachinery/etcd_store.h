// EtcdStore: the Store (apimachinery/store.h) on an etcd v3 cluster, for running several
// federation-apiserver replicas on shared, replicated storage.
//
// Layout, as kube-apiserver's: one etcd key per object,
//   <prefix>/<group>/<resource>/<namespace>/<name>   (namespaced)
//   <prefix>/<group>/<resource>/<name>               (cluster-scoped)
// with <group> "core" for the core ("") group. The value is the object's compact JSON without
// metadata.resourceVersion, which is etcd's mod_revision of the key and is set on every object
// returned (the store's revision is etcd's cluster-wide revision).
//   - Create is a Txn guarded by create_revision == 0; Update and Delete are Txns guarded by
//     mod_revision == expected (or by existence when expected is 0), so every write is one
//     atomic compare-and-swap and a lost race changes nothing.
//   - Every write's Txn also puts the type's write marker, <prefix>/!writes/<group>/<resource>
//     (empty value), so its mod_revision is the revision of the type's newest write;
//     LastWriteRevision reads it linearizably, and the watch cache answers consistent reads
//     from memory once its watch has delivered that revision (cacher.h). Every replica must
//     write markers: a replica of a version before them (and a hand-made etcdctl write) moves
//     no marker, so during a rolling upgrade from such a version run the new replicas with
//     --watch-cache=false until the old ones are gone (docs/operations.md).
//   - List pages carry the first page's revision in the continue token and read later pages
//     at that revision (a consistent snapshot); a compacted revision is kOutOfRange (410).
//     Items come in etcd key order: (namespace, name) except that a namespace which is a
//     prefix of another sorts after it when the longer one continues with '-' or '.' (as in
//     kube-apiserver).
//   - Watches are etcd watches from start_revision with prev_kv (for label-selector
//     transitions and the last state of deleted objects), one gRPC stream and one delivery
//     thread per watch; a watch from a compacted revision is kOutOfRange (410 Gone).
//   - `history_revisions` bounds etcd's history: after writes, the store compacts etcd to
//     (current revision - history_revisions), as kube-apiserver's compactor does on a timer.
//   - Every call has a deadline (`request_timeout`): kDeadlineExceeded when etcd does not
//     answer in time (2 of 3 members down), kUnavailable when no endpoint can be reached.
//   - Several endpoints: calls go to one endpoint and move to the next when it cannot be
//     reached. Reads are retried on the next endpoint after any kUnavailable; writes only
//     when they were never sent (the connection could not be made), because a write that
//     failed mid-flight may have been applied.
//   - A value under the prefix that is not a JSON object (written by hand) is skipped with a
//     logged warning in List and Watch, and is kDataLoss from Get; it never crashes.
//
// Known limit: the Store interface has no way to end a watch with an error. A watch whose
// stream breaks is resumed on another endpoint from the next revision; if that revision was
// compacted meanwhile, the watch logs an error and stops delivering.
//
// Thread-safety: every method may be called from any thread (gRPC stubs are thread-safe).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "apimachinery/store.h"

namespace meridian::apimachinery {

struct EtcdStoreOptions {
  // Client URLs of etcd members, http://HOST:PORT or https://HOST:PORT (all the same scheme).
  std::vector<std::string> endpoints;
  // Key prefix, without a trailing '/'. Several Meridian installations (or tests) can share
  // one etcd cluster under different prefixes.
  std::string prefix = "/meridian";
  // TLS (https endpoints): CA bundle to verify the members (empty: system roots), and a client
  // certificate and key (both or neither) when etcd requires client certificates.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Deadline of every call (each unary RPC with its retries, and the start of each watch).
  std::chrono::milliseconds request_timeout{5000};
  // How long a call waits for a connection to one endpoint before moving to the next.
  std::chrono::milliseconds dial_timeout{1000};
  // Revisions of history kept for watch resume; 0 never compacts (leave it to etcd's
  // --auto-compaction-* flags).
  int64_t history_revisions = 0;
};

// Parses "etcd:URL[,URL...]" (the --storage flag) into endpoints. kInvalidArgument naming the
// flag and the bad URL when a URL is not http(s)://HOST:PORT or the schemes are mixed.
StatusOr<std::vector<std::string>> ParseEtcdEndpoints(const std::string& storage_flag);

// Connects and checks that an endpoint answers the etcd v3 KV API. Errors:
// kInvalidArgument for bad options (names the option or file), kUnavailable when no endpoint
// can be reached in `request_timeout` (names every endpoint and why), kFailedPrecondition when
// an endpoint answers but is not etcd v3 (e.g. an HTTP server or another gRPC service).
StatusOr<std::unique_ptr<Store>> OpenEtcdStore(const EtcdStoreOptions& options);

}  // namespace meridian::apimachinery
