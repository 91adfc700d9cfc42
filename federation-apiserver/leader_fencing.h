// The request pipeline's fencing stage: a write that carries a leader's fencing token
// (apimachinery/fencing_token.h, header Meridian-Fencing-Token) goes ahead only while the
// Lease it names still records that term; a stale leader's write is answered 409 Conflict
// naming the Lease's current holder, and nothing is written.
//
// Who must send it: the federation-controller-manager's user (rbac::kControllerManagerUser).
// A write of that user without the header is refused (403), so that a manager cannot write
// unfenced by mistake (a code path or an old binary that forgot the header); the refusal
// names the header. Everyone else (users, kubectl, other components) may send it and is
// checked when they do, and is unaffected when they do not: the token means "write only while
// I lead", which only a leader-elected writer asks for.
// Exempt: writes to coordination.k8s.io Leases. They are the election itself, fenced by
// their own compare-and-swap on resourceVersion; a candidate taking over cannot carry the
// current term's token (it is about to change it).
//
// The check reads the Lease from the store (a consistent read: the store, not a cache that
// may lag) and then lets the write go ahead: what is left is a takeover that lands between
// this read and the write, a window of one request's handling inside the server rather than
// a client's whole pause. Closing it too needs the write and the Lease in one transaction
// (what the etcd write fence, apimachinery/write_fence.h, does for managers on etcd).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "apimachinery/rest/rest_handler.h"
#include "apimachinery/store.h"
#include "common/status.h"

namespace meridian::apiserver {

// Reads a Lease by namespace and name: nullopt when it does not exist, an error when the
// store cannot answer.
using LeaseReader = std::function<StatusOr<std::optional<nlohmann::json>>(const std::string& ns,
                                                                          const std::string& name)>;

// The stage's decision for one request (pure but for `read_lease`, asked only for a write
// that carries a token). OK for reads, Lease writes, and writes without a token by users not
// in `must_send`; kPermissionDenied for a write of a `must_send` user without one;
// kInvalidArgument for a token that does not parse; else CheckFencingToken's answer
// (kAborted when stale), or the reader's error.
Status CheckLeaderFencing(const apimachinery::rest::RestRequest& request,
                          const std::set<std::string>& must_send, const LeaseReader& read_lease);

// The filter: CheckLeaderFencing with Leases read from `store` (which must outlive it).
// Runs after authentication (it needs the user) and authorization (a forbidden write is 403
// whatever its token).
apimachinery::rest::RestFilter LeaderFencingFilter(apimachinery::Store& store,
                                                   std::set<std::string> must_send);

}  // namespace meridian::apiserver
