// The fencing stage of the request pipeline (federation-apiserver/leader_fencing.h): who must
// send a fencing token, which writes are checked, and what a stale one is answered; with a
// made-up Lease reader (the pure decision), then through a FederationApiServer's handler, then
// with a takeover injected between the filter's check and the write.
#include "federation-apiserver/leader_fencing.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apimachinery/fencing_token.h"
#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
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
  EXPECT_EQ(stale.code, 409) << stale.Body();
  EXPECT_NE(stale.Body().find("\"reason\":\"Conflict\""), std::string::npos) << stale.Body();
  EXPECT_NE(stale.Body().find("held by holder \\\"cm-2\\\", leaseTransitions 4"), std::string::npos)
      << stale.Body();
  EXPECT_EQ(call("GET", cms + "/c", json(), "").code, 404);  // nothing written
  EXPECT_EQ(call("POST", cms, cm, Token("cm-2", 4)).code, 201);
  server->reset();
  std::filesystem::remove_all(dir);
}

// Passes everything to `inner`; before the first write that is not a Lease's (i.e. after the
// fencing filter's check, inside the request's handling) runs `before_write` once.
class HookBeforeWrite : public apimachinery::Store {
 public:
  explicit HookBeforeWrite(apimachinery::Store& inner) : inner_(inner) {}
  std::function<void()> before_write;

  StatusOr<json> Get(const apimachinery::ObjectKey& key) override { return inner_.Get(key); }
  StatusOr<apimachinery::ListResult> List(const apimachinery::ResourceType& type,
                                          const apimachinery::ListOptions& options) override {
    return inner_.List(type, options);
  }
  StatusOr<json> Create(const apimachinery::ObjectKey& key, json object) override {
    Hook(key);
    return inner_.Create(key, std::move(object));
  }
  StatusOr<json> Update(const apimachinery::ObjectKey& key, json object,
                        int64_t expected) override {
    Hook(key);
    return inner_.Update(key, std::move(object), expected);
  }
  StatusOr<json> Delete(const apimachinery::ObjectKey& key, int64_t expected) override {
    Hook(key);
    return inner_.Delete(key, expected);
  }
  StatusOr<std::unique_ptr<apimachinery::Watch>> WatchFrom(
      const apimachinery::ResourceType& type, const std::string& ns,
      const apimachinery::LabelSelector& selector, int64_t from,
      apimachinery::WatchCallback callback) override {
    return inner_.WatchFrom(type, ns, selector, from, std::move(callback));
  }
  int64_t CurrentResourceVersion() override { return inner_.CurrentResourceVersion(); }

 private:
  void Hook(const apimachinery::ObjectKey& key) {
    if (key.type.resource == "leases" || !before_write) return;
    std::function<void()> hook = std::move(before_write);
    before_write = nullptr;
    hook();
  }
  apimachinery::Store& inner_;
};

// The window the filter's own check leaves: the Lease is taken over after the filter read it
// (the stale leader's token still matched) and before the write. The store's check of the
// write precondition, in the write's own transaction, refuses the create, the update and the
// delete with 409 naming the new holder, and nothing changes. A renewal in the same window
// (same holder, same term) does not refuse anything.
TEST(LeaderFencingTest, ATakeoverBetweenTheFiltersCheckAndTheWriteIsRefused) {
  const std::string cm = rbac::kControllerManagerUser;
  apimachinery::MemoryStore memory;
  HookBeforeWrite store(memory);
  apimachinery::ResourceRegistry registry;
  ASSERT_TRUE(AddServedResources(&registry).ok());
  const Clock& clock = RealClock();
  apimachinery::ObjectService objects(store, clock, registry);
  rest::RestHandler handler(objects, clock);
  handler.AddFilter(LeaderFencingFilter(store, {cm}));
  const apimachinery::ObjectKey lease_key{
      {"coordination.k8s.io", "leases"}, "meridian-system", "federation-controller-manager"};
  ASSERT_TRUE(memory.Create({{"", "namespaces"}, "", "meridian-system"},
                            {{"apiVersion", "v1"},
                             {"kind", "Namespace"},
                             {"metadata", {{"name", "meridian-system"}}}})
                  .ok());
  ASSERT_TRUE(memory.Create(lease_key, Lease("cm-1", 3)).ok());
  // Another thread, as the new leader's own request would be: this thread's writes are under
  // the precondition while the request is served.
  auto set_lease = [&](json lease) {
    std::thread other([&] { ASSERT_TRUE(memory.Update(lease_key, lease, 0).ok()); });
    other.join();
  };
  auto call = [&](const std::string& method, const std::string& path, const json& body,
                  const std::string& user, const std::string& token) {
    rest::RestRequest r = Request(method, path, user, token);
    if (!body.is_null()) r.body = body.dump();
    r.headers["content-type"] = "application/json";
    return handler.Handle(std::move(r));
  };
  const std::string cms = "/api/v1/namespaces/meridian-system/configmaps";
  auto configmap = [](const std::string& name, const std::string& value) {
    return json{{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"metadata", {{"name", name}, {"namespace", "meridian-system"}}},
                {"data", {{"v", value}}}};
  };
  rest::RestResponse kept = call("POST", cms, configmap("kept", "1"), "admin", "");
  ASSERT_EQ(kept.code, 201) << kept.Body();

  struct Case {
    std::string name, method, path;
    json body;
  };
  const std::vector<Case> cases = {
      {"create", "POST", cms, configmap("new", "1")},
      {"update", "PUT", cms + "/kept", configmap("kept", "2")},
      {"delete", "DELETE", cms + "/kept", json()},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    set_lease(Lease("cm-1", 3));
    const std::string kept_before = call("GET", cms + "/kept", json(), "admin", "").Body();
    const int64_t revision_before = memory.CurrentResourceVersion();
    bool took_over = false;
    store.before_write = [&] {
      set_lease(Lease("cm-2", 4));
      took_over = true;
    };
    rest::RestResponse stale = call(c.method, c.path, c.body, cm, Token("cm-1", 3));
    EXPECT_TRUE(took_over) << "the filter let the write through to the store";
    EXPECT_EQ(stale.code, 409) << stale.Body();
    EXPECT_NE(stale.Body().find("held by holder \\\"cm-2\\\", leaseTransitions 4"), std::string::npos)
        << stale.Body();
    EXPECT_EQ(memory.CurrentResourceVersion(), revision_before + 1)
        << "the takeover's write only: nothing written";
    EXPECT_EQ(call("GET", cms + "/new", json(), "admin", "").code, 404);
    EXPECT_EQ(call("GET", cms + "/kept", json(), "admin", "").Body(), kept_before);
  }

  // A renewal in the window (cm-1 still holds term 3): the write goes through.
  set_lease(Lease("cm-1", 3));
  store.before_write = [&] {
    json renewed = Lease("cm-1", 3);
    renewed["spec"]["renewTime"] = "2026-12-06T10:00:00.000000Z";
    set_lease(renewed);
  };
  rest::RestResponse renewed = call("POST", cms, configmap("new", "1"), cm, Token("cm-1", 3));
  EXPECT_EQ(renewed.code, 201) << renewed.Body();
  EXPECT_FALSE(store.before_write) << "the hook did not run";
}

// The store checks the Lease as the backend holds it, under the encryption wrapper: a
// configuration that encrypts Leases is refused at startup, naming the file and the resource.
TEST(LeaderFencingTest, EncryptingLeasesAtRestIsAStartupError) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("leader_fencing_enc_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::filesystem::path config = dir / "encryption.yaml";
  std::ofstream(config) << "apiVersion: apiserver.config.k8s.io/v1\n"
                           "kind: EncryptionConfiguration\n"
                           "resources:\n"
                           "  - resources: [secrets, leases.coordination.k8s.io]\n"
                           "    providers:\n"
                           "      - aesgcm:\n"
                           "          keys:\n"
                           "            - name: k1\n"
                           "              secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"
                           "      - identity: {}\n";
  ServerOptions options;
  options.storage = "sqlite:" + (dir / "db").string();
  options.encryption_provider_config = config.string();
  auto server = FederationApiServer::Create(options, RealClock());
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(server.status().message().find(config.string() +
                                           ": leases.coordination.k8s.io must not be encrypted"),
            std::string::npos)
      << server.status();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace meridian::apiserver
