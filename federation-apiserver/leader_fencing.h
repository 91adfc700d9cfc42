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
// The check is made twice. First here, on the Lease read from the store (a consistent read:
// the store, not a cache that may lag), so a stale term is refused before any admission
// work. Then atomically with each write: the filter opens a write precondition
// (apimachinery/write_precondition.h, "this Lease still records this holder at this
// leaseTransitions") for as long as the request is served, and the store checks it in the
// write's own transaction (SQLite: the write's BEGIN IMMEDIATE transaction; etcd: a compare
// on the Lease's key in the write's Txn, re-read when a renewal moved it; memory: under the
// store's lock). A takeover that lands between the first check and the write is therefore
// refused too, with the same 409 naming the new holder, and nothing is written. Every write
// the request causes is covered (a DELETE's finalizer updates, a collection delete's items).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "apimachinery/fencing_token.h"
#include "apimachinery/rest/rest_handler.h"
#include "apimachinery/store.h"
#include "apimachinery/write_precondition.h"
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

// The token a request's write is fenced by: nullopt for reads, Lease writes and writes
// without the header; kInvalidArgument when the header does not parse.
StatusOr<std::optional<apimachinery::FencingToken>> FencedWriteToken(
    const apimachinery::rest::RestRequest& request);

// The write precondition "the Lease `token` names still records its holder and
// leaseTransitions" (CheckFencingToken on the Lease as stored when the write is applied).
std::shared_ptr<const apimachinery::WritePrecondition> LeaseStillRecords(
    apimachinery::FencingToken token);

// The filter: CheckLeaderFencing with Leases read from `store` (which must outlive it); a
// write that passes with a token is then served under LeaseStillRecords (a
// WritePreconditionScope kept in the request's holds), which `store`'s backend checks in each
// write's transaction. Runs after authentication (it needs the user) and authorization (a
// forbidden write is 403 whatever its token).
apimachinery::rest::RestFilter LeaderFencingFilter(apimachinery::Store& store,
                                                   std::set<std::string> must_send);

}  // namespace meridian::apiserver
