#include "federation-apiserver/leader_fencing.h"

#include <utility>

#include "apimachinery/fencing_token.h"
#include "apimachinery/write_precondition.h"

namespace meridian::apiserver {
namespace {

bool IsWrite(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

bool IsLeaseWrite(const std::string& path) {
  return path.rfind("/apis/coordination.k8s.io/", 0) == 0;
}

}  // namespace

StatusOr<std::optional<apimachinery::FencingToken>> FencedWriteToken(
    const apimachinery::rest::RestRequest& request) {
  const std::string header = request.Header(apimachinery::kFencingTokenHeader);
  if (!IsWrite(request.method) || IsLeaseWrite(request.path) || header.empty()) {
    return std::optional<apimachinery::FencingToken>();
  }
  MERIDIAN_ASSIGN_OR_RETURN(apimachinery::FencingToken token,
                            apimachinery::ParseFencingToken(header));
  return std::optional<apimachinery::FencingToken>(std::move(token));
}

std::shared_ptr<const apimachinery::WritePrecondition> LeaseStillRecords(
    apimachinery::FencingToken token) {
  auto precondition = std::make_shared<apimachinery::WritePrecondition>();
  precondition->key = {{"coordination.k8s.io", "leases"}, token.lease_namespace, token.lease_name};
  precondition->check = [token = std::move(token)](const nlohmann::json* lease) {
    return apimachinery::CheckFencingToken(token, lease);
  };
  return precondition;
}

Status CheckLeaderFencing(const apimachinery::rest::RestRequest& request,
                          const std::set<std::string>& must_send, const LeaseReader& read_lease) {
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<apimachinery::FencingToken> token,
                            FencedWriteToken(request));
  if (!token) {
    if (!IsWrite(request.method) || IsLeaseWrite(request.path)) return Status::Ok();
    if (must_send.count(request.user.name) == 0) return Status::Ok();
    return PermissionDeniedError(
        "User \"" + request.user.name + "\" must send its leader's fencing token (header " +
        "Meridian-Fencing-Token: lease=NAMESPACE/NAME; transitions=N; holder=ID) on every " +
        "write but its Lease's: refusing " + request.method + " " + request.path);
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<nlohmann::json> lease,
                            read_lease(token->lease_namespace, token->lease_name));
  return apimachinery::CheckFencingToken(*token, lease ? &*lease : nullptr);
}

apimachinery::rest::RestFilter LeaderFencingFilter(apimachinery::Store& store,
                                                   std::set<std::string> must_send) {
  LeaseReader read = [&store](const std::string& ns,
                              const std::string& name) -> StatusOr<std::optional<nlohmann::json>> {
    StatusOr<nlohmann::json> got = store.Get({{"coordination.k8s.io", "leases"}, ns, name});
    if (got.ok()) return std::optional<nlohmann::json>(std::move(got).value());
    if (got.status().code() == StatusCode::kNotFound) return std::optional<nlohmann::json>();
    return got.status().WithContext("reading lease " + ns + "/" + name + " for a fencing token");
  };
  return [must_send = std::move(must_send),
          read = std::move(read)](apimachinery::rest::RestRequest& request) -> Status {
    // The early answer: a stale term is refused before any admission work.
    MERIDIAN_RETURN_IF_ERROR(CheckLeaderFencing(request, must_send, read));
    // The atomic one: the same check again in each write's own transaction, for as long as
    // the request is served (RestHandler serves it on this thread and drops its holds when it
    // returns).
    MERIDIAN_ASSIGN_OR_RETURN(std::optional<apimachinery::FencingToken> token,
                              FencedWriteToken(request));
    if (token) {
      request.holds.push_back(std::make_shared<apimachinery::WritePreconditionScope>(
          LeaseStillRecords(std::move(*token))));
    }
    return Status::Ok();
  };
}

}  // namespace meridian::apiserver
