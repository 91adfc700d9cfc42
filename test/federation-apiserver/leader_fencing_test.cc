// The fencing stage of the request pipeline (federation-apiserver/leader_fencing.h): who must
// send a fencing token, which writes are checked, and what a stale one is answered; with a
// made-up Lease reader (the pure decision), then through a FederationApiServer's handler.
#include "federation-apiserver/leader_fencing.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "apimachinery/fencing_token.h"
#include "common/clock.h"
#include "federation-apiserver/rbac/authorizer.h"
#include "federation-apiserver/server.h"

namespace meridian::apiserver {
namespace {

using apimachinery::FencingToken;
using apimachinery::FormatFencingToken;
using nlohmann::json;
namespace rest = apimachinery::rest;

const std::string kWorkload =
    "/apis/federation.meridian.io/v1alpha1/namespaces/shop/federatedworkloads/web";
const std::string kLeasePath =
    "/apis/coordination.k8s.io/v1/namespaces/meridian-system/leases/federation-controller-manager";

json Lease(const std::string& holder, int64_t transitions) {
  return {
      {"metadata", {{"name", "federation-controller-manager"}, {"namespace", "meridian-system"}}},
      {"spec", {{"holderIdentity", holder}, {"leaseTransitions", transitions}}}};
}

std::string Token(const std::string& holder, int64_t transitions) {
  return FormatFencingToken(
      FencingToken{"meridian-system", "federation-controller-manager", holder, transitions});
}

rest::RestRequest Request(const std::string& method, const std::string& path,
                          const std::string& user, const std::string& token) {
  rest::RestRequest r;
  r.method = method;
  r.path = path;
  r.user.name = user;
  if (!token.empty()) r.headers[apimachinery::kFencingTokenHeader] = token;
  return r;
}

TEST(LeaderFencingTest, WhoMustSendATokenAndWhichWritesAreChecked) {
  const std::string cm = rbac::kControllerManagerUser;
  const std::set<std::string> must_send = {cm};
  int reads = 0;
  std::optional<json> stored = Lease("cm-2", 4);  // cm-2 took over from cm-1 (term 3)
  LeaseReader reader = [&](const std::string& ns,
                           const std::string& name) -> StatusOr<std::optional<json>> {
    ++reads;
    EXPECT_EQ(ns + "/" + name, "meridian-system/federation-controller-manager");
    return stored;
  };
  struct Case {
    std::string what;
    rest::RestRequest request;
    StatusCode code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"the current leader writes", Request("PUT", kWorkload, cm, Token("cm-2", 4)),
       StatusCode::kOk, ""},
      {"a stale leader writes", Request("PUT", kWorkload, cm, Token("cm-1", 3)),
       StatusCode::kAborted, "the lease is held by holder \"cm-2\", leaseTransitions 4"},
      {"a stale leader deletes", Request("DELETE", kWorkload, cm, Token("cm-1", 3)),
       StatusCode::kAborted, "is stale"},
      {"a stale leader creates", Request("POST", kWorkload, cm, Token("cm-1", 3)),
       StatusCode::kAborted, "is stale"},
      {"a stale leader patches", Request("PATCH", kWorkload, cm, Token("cm-1", 3)),
       StatusCode::kAborted, "is stale"},
      {"the manager forgets the token", Request("PUT", kWorkload, cm, ""),
       StatusCode::kPermissionDenied, "must send its leader's fencing token"},
      {"the manager reads without one", Request("GET", kWorkload, cm, ""), StatusCode::kOk, ""},
      {"the manager renews its Lease without one", Request("PUT", kLeasePath, cm, ""),
       StatusCode::kOk, ""},
      {"a candidate takes the Lease over with an old token",
       Request("PUT", kLeasePath, cm, Token("cm-1", 3)), StatusCode::kOk, ""},
      {"a user writes without a token", Request("PUT", kWorkload, "alice", ""), StatusCode::kOk,
       ""},
      {"a user who sends a stale token is checked too",
       Request("PUT", kWorkload, "alice", Token("cm-1", 3)), StatusCode::kAborted, "is stale"},
      {"a malformed token", Request("PUT", kWorkload, cm, "cm-2"), StatusCode::kInvalidArgument,
       "Meridian-Fencing-Token"},
  };
  for (const Case& c : cases) {
    Status st = CheckLeaderFencing(c.request, must_send, reader);
    EXPECT_EQ(st.code(), c.code) << c.what << ": " << st.message();
    EXPECT_NE(st.message().find(c.says), std::string::npos) << c.what << ": " << st.message();
  }
  // The Lease is read only for writes that carry a token outside the Lease API.
  EXPECT_EQ(reads, 6);

  stored.reset();  // the Lease is gone: no term is current
  Status gone =
      CheckLeaderFencing(Request("PUT", kWorkload, cm, Token("cm-2", 4)), must_send, reader);
  EXPECT_EQ(gone.code(), StatusCode::kAborted);
  EXPECT_NE(gone.message().find("does not exist"), std::string::npos) << gone.message();

  LeaseReader broken = [](const std::string&, const std::string&) -> StatusOr<std::optional<json>> {
    return UnavailableError("etcd: no leader");
  };
  Status unavailable =
      CheckLeaderFencing(Request("PUT", kWorkload, cm, Token("cm-2", 4)), must_send, broken);
  EXPECT_EQ(unavailable.code(), StatusCode::kUnavailable) << unavailable.message();
}

// Through the server's pipeline, on its store: 409 Conflict with the holder, nothing written.
TEST(LeaderFencingTest, TheServerRefusesAStaleTermsWriteWithAConflict) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("leader_fencing_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  ServerOptions options;
  options.storage = "sqlite:" + (dir / "db").string();
  auto server = FederationApiServer::Create(options, RealClock());
  ASSERT_TRUE(server.ok()) << server.status().message();
  rest::RestHandler& handler = (*server)->handler();
  auto call = [&](const std::string& method, const std::string& path, const json& body,
                  const std::string& token) {
    rest::RestRequest r = Request(method, path, "", token);
    r.body = body.dump();
    r.headers["content-type"] = "application/json";
    return handler.Handle(std::move(r));
  };
  // meridian-system exists from the start (server.cc).
  json lease = Lease("cm-2", 4);
  lease["apiVersion"] = "coordination.k8s.io/v1";
  lease["kind"] = "Lease";
  lease["spec"]["leaseDurationSeconds"] = 4;
  ASSERT_LT(
      call("POST", "/apis/coordination.k8s.io/v1/namespaces/meridian-system/leases", lease, "")
          .code,
      300);
  const json cm = {{"apiVersion", "v1"},
                   {"kind", "ConfigMap"},
                   {"metadata", {{"name", "c"}, {"namespace", "meridian-system"}}}};
  const std::string cms = "/api/v1/namespaces/meridian-system/configmaps";
  rest::RestResponse stale = call("POST", cms, cm, Token("cm-1", 3));
  EXPECT_EQ(stale.code, 409) << stale.body;
  EXPECT_NE(stale.body.find("\"reason\":\"Conflict\""), std::string::npos) << stale.body;
  EXPECT_NE(stale.body.find("held by holder \\\"cm-2\\\", leaseTransitions 4"), std::string::npos)
      << stale.body;
  EXPECT_EQ(call("GET", cms + "/c", json(), "").code, 404);  // nothing written
  EXPECT_EQ(call("POST", cms, cm, Token("cm-2", 4)).code, 201);
  server->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace meridian::apiserver
