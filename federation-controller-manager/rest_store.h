// RestStore: the Store interface (apimachinery/store.h) over a federation-apiserver's REST
// API, so that federation-controller-manager's controllers (which work on an ObjectService
// over a Store) can run against the API instead of against etcd (the binary's `--kubeconfig`
// mode, to be wired on top of this; today the binary takes only `--storage etcd:...`).
//
// Every call is one (sometimes two, see Update) request through a sync::MemberClient (in
// production HttpMemberClient: the kubeconfig's server, CA, token or client certificate, and
// its per-call timeout on every request). Kinds map to URLs through the ResourceRegistry the
// server serves (group, version, plural, namespaced).
//
//   Get / List        GET; a list's metadata.resourceVersion is ListResult::resource_version;
//                     label selectors, limit and continue go to the server as they are.
//   Create            POST; 409 AlreadyExists -> kAlreadyExists.
//   Update            PUT with metadata.resourceVersion = expected (none when 0):
//                     409 Conflict -> kAborted, 404 -> kNotFound.
//   Delete            DELETE with preconditions.resourceVersion; the answer is the object at
//                     the deletion's resourceVersion.
//   WatchFrom         GET ?watch with resourceVersion; 0 ("from now") first reads the
//                     current revision with a one-item list. A resourceVersion the server no
//                     longer has answers 410 Gone -> kOutOfRange, so informers relist.
//
//   UpdateStatus      PUT on /status with metadata.resourceVersion = expected: the store is
//                     also an apimachinery::StatusSubresourceStore (status_store.h), so an
//                     ObjectService's status writes are one PUT of /status and need only
//                     `update` on "<plural>/status", as kube's controllers do.
//
// Where the API legitimately differs from a storage backend (the server is a Kubernetes
// API, not a key-value store), the writes are mapped as follows:
//   - Kinds with a /status subresource: PUT on the object keeps the stored status and PUT on
//     /status keeps everything else (object_service.h). A Store::Update whose status differs from
//     what the main PUT answered is followed by a PUT on /status (compare-and-swap on the
//     first write's resourceVersion): two revisions, not one, and a conflict on the second
//     write is kAborted after the first one happened (callers retry from a fresh Get, as
//     every reconcile does).
//   - metadata.deletionTimestamp cannot be set by a PUT (the server owns it): an Update that
//     sets it (ObjectService marks objects with finalizers that way) is followed by a DELETE,
//     which marks the object on the server.
//   - Server-owned metadata (uid, creationTimestamp, generation) is the server's: whatever the
//     caller put there is replaced.
//   - A watch that has started and later finds its resourceVersion expired (a long
//     disconnect) relists and delivers the difference as events (sync::MemberClient::Watch):
//     the watch never ends silently.
//
// Fencing: RestStoreOptions::write_permit, when set, is asked before every write; a refusal
// is the write's error and nothing is sent (meant for LeaderElector::WritePermit, so a leader
// resumed after its lease expired writes nothing).
//
// Thread-safety: all methods are thread-safe. Watch callbacks run on the client's threads
// (cpprestsdk's pool), one event at a time per watch, in order.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "apimachinery/resource_registry.h"
#include "apimachinery/store.h"
#include "common/status.h"
#include "sync/member_client.h"

namespace meridian::controllermanager {

struct RestStoreOptions {
  // The kind whose one-item list tells CurrentResourceVersion the server's revision (any
  // kind the client may list; a list's resourceVersion is the store's newest revision).
  apimachinery::ResourceType revision_probe{"coordination.k8s.io", "leases"};
  // Asked before every Create, Update and Delete; its error is the write's (nothing is sent).
  std::function<Status()> write_permit;
  // Server-side lifetime of one watch request; the client then resumes where it was.
  std::chrono::seconds watch_request_timeout{300};
  // How long WatchFrom waits for the server to accept the watch (or refuse it, e.g. 410).
  std::chrono::milliseconds watch_start_timeout{10'000};
};

// A Store over `client`. `registry` (the kinds the server serves) must outlive the store;
// the client is shared (several stores over one connection pool). Kinds missing from the
// registry (built-in or, at the time of the call, dynamic) are kInvalidArgument. Never fails today; StatusOr for the future
// checks (e.g. discovery) a constructor cannot report.
StatusOr<std::unique_ptr<apimachinery::Store>> NewRestStore(
    std::shared_ptr<sync::MemberClient> client, const apimachinery::ResourceRegistry& registry,
    RestStoreOptions options = {});

}  // namespace meridian::controllermanager
