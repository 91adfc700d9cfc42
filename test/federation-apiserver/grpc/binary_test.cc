// The gRPC API of the real federation-apiserver binary (--grpc-listen 127.0.0.1:0, SQLite
// storage, the production registry and admission): Meridian and core resources, admission
// field errors surviving as Status causes, and a watch on the SQLite store.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "federation-apiserver/grpc/grpc_service.h"
#include "test/common/child_process.h"
#include "test/common/test_env.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;

constexpr char kGroup[] = "federation.meridian.io";

fedpb::ResourceRef Ref(const std::string& group, const std::string& version,
                       const std::string& resource, const std::string& ns = "") {
  fedpb::ResourceRef ref;
  ref.set_group(group);
  ref.set_version(version);
  ref.set_resource(resource);
  ref.set_namespace_(ns);
  return ref;
}

std::unique_ptr<::grpc::ClientContext> NewContext() {
  auto ctx = std::make_unique<::grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return ctx;
}

class GrpcBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-grpc-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    const std::string bin = test_env::BinDir() + "/federation-apiserver";
    ASSERT_TRUE(std::filesystem::exists(bin)) << bin << " is not built";
    std::string error;
    std::vector<std::string> argv = {bin, "--listen", "127.0.0.1:0", "--grpc-listen",
                                     "127.0.0.1:0", "--storage",
                                     "sqlite:" + (dir_ / "federation.db").string(),
                                     "--log-level", "warn",
                                     // Only the API: the binding controller annotates native
                                     // objects such as Secrets, which the watch test counts.
                                     "--controllers", "none"};
    if (!TokenFile().empty()) {
      std::ofstream(dir_ / "tokens.csv") << TokenFile();
      argv.insert(argv.end(), {"--token-auth-file", (dir_ / "tokens.csv").string()});
    }
    if (Rbac()) argv.insert(argv.end(), {"--authorization-mode", "RBAC"});
    if (Audit()) argv.insert(argv.end(), {"--audit-log-path", (dir_ / "audit.log").string()});
    ASSERT_TRUE(process_.Start(argv, &error, (dir_ / "stderr.log").string())) << error;
    // Printed once GrpcServer::Start returned, i.e. when the port accepts calls.
    const std::string address = process_.WaitForLine("federation-apiserver gRPC listening on ",
                                                     std::chrono::seconds(30), &error);
    ASSERT_FALSE(address.empty()) << error;
    stub_ = fedpb::Federation::NewStub(
        ::grpc::CreateChannel(address, ::grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    process_.Stop();
    std::filesystem::remove_all(dir_);
  }
  // Contents of a --token-auth-file to start the server with ("" = none).
  virtual std::string TokenFile() const { return ""; }
  // Start with --authorization-mode RBAC.
  virtual bool Rbac() const { return false; }
  // Start with --audit-log-path dir_/audit.log (the default policy: everything at Metadata).
  virtual bool Audit() const { return false; }

  struct Result {
    ::grpc::Status status;
    json object;
    std::optional<json> body;
  };
  Result Create(const fedpb::ResourceRef& ref, const json& object) {
    fedpb::CreateRequest req;
    *req.mutable_resource() = ref;
    req.set_object_json(object.dump());
    auto ctx = NewContext();
    fedpb::ObjectResponse resp;
    Result r{stub_->Create(ctx.get(), req, &resp), {}, {}};
    if (r.status.ok()) {
      r.object = json::parse(resp.object_json());
    } else {
      r.body = StatusBodyFromTrailers(*ctx);
    }
    return r;
  }

  std::filesystem::path dir_;
  test_env::ChildProcess process_;
  std::unique_ptr<fedpb::Federation::Stub> stub_;
};

TEST_F(GrpcBinaryTest, ServesTheFederationRegistryWithItsAdmission) {
  const json member = {{"apiVersion", std::string(kGroup) + "/v1alpha1"},
                       {"kind", "MemberCluster"},
                       {"metadata", {{"name", "eu-west-1"}, {"labels", {{"tier", "prod"}}}}},
                       {"spec",
                        {{"server", "http://127.0.0.1:18080/clusters/eu-west-1"},
                         {"region", "eu-west"},
                         {"zones", {"eu-west-1a", "eu-west-1b"}},
                         {"jurisdiction", "eu"}}}};
  json bad_member = member;
  bad_member["metadata"]["name"] = "broken";
  bad_member["spec"].erase("server");
  bad_member["spec"]["zones"] = 7;

  struct Case {
    std::string what;
    fedpb::ResourceRef ref;
    json object;
    ::grpc::StatusCode code;
    int http;           // of the Status body, when failing
    size_t min_causes;  // field errors kept in the body
  };
  for (const Case& c : std::vector<Case>{
           {"namespace",
            Ref("", "v1", "namespaces"),
            {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team-a"}}}},
            ::grpc::StatusCode::OK,
            0,
            0},
           {"member cluster", Ref(kGroup, "v1alpha1", "memberclusters"), member,
            ::grpc::StatusCode::OK, 0, 0},
           {"the same member again", Ref(kGroup, "v1alpha1", "memberclusters"), member,
            ::grpc::StatusCode::ALREADY_EXISTS, 409, 0},
           {"member with every problem named", Ref(kGroup, "v1alpha1", "memberclusters"),
            bad_member, ::grpc::StatusCode::INVALID_ARGUMENT, 422, 2},
           {"member clusters are cluster-scoped",
            Ref(kGroup, "v1alpha1", "memberclusters", "team-a"), member,
            ::grpc::StatusCode::NOT_FOUND, 404, 0},
           {"no such resource", Ref(kGroup, "v1alpha1", "gizmos"), member,
            ::grpc::StatusCode::NOT_FOUND, 404, 0},
       }) {
    SCOPED_TRACE(c.what);
    Result r = Create(c.ref, c.object);
    EXPECT_EQ(r.status.error_code(), c.code) << r.status.error_message();
    if (c.code == ::grpc::StatusCode::OK) {
      EXPECT_FALSE(r.object["metadata"].value("uid", "").empty());
      continue;
    }
    ASSERT_TRUE(r.body.has_value());
    EXPECT_EQ((*r.body)["code"], c.http);
    const size_t causes = r.body->contains("details") && (*r.body)["details"].contains("causes")
                              ? (*r.body)["details"]["causes"].size()
                              : 0;
    EXPECT_GE(causes, c.min_causes) << r.body->dump();
  }
}

TEST_F(GrpcBinaryTest, WatchesSecretsOnTheSqliteStore) {
  ASSERT_TRUE(
      Create(Ref("", "v1", "namespaces"),
             {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team-a"}}}})
          .status.ok());
  // Watch from a listed revision, so no write below can race the stream's start.
  fedpb::ListRequest list;
  *list.mutable_resource() = Ref("", "v1", "secrets", "team-a");
  fedpb::ListResponse listed;
  {
    auto ctx = NewContext();
    ::grpc::Status st = stub_->List(ctx.get(), list, &listed);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  fedpb::WatchRequest req;
  *req.mutable_resource() = Ref("", "v1", "secrets", "team-a");
  req.set_resource_version(listed.resource_version());
  auto wctx = NewContext();
  std::unique_ptr<::grpc::ClientReader<fedpb::WatchEvent>> watch = stub_->Watch(wctx.get(), req);

  const json secret = {{"apiVersion", "v1"},
                       {"kind", "Secret"},
                       {"metadata", {{"name", "creds"}}},
                       {"stringData", {{"token", "t0"}}}};
  Result created = Create(Ref("", "v1", "secrets", "team-a"), secret);
  ASSERT_TRUE(created.status.ok()) << created.status.error_message();
  {
    fedpb::PatchRequest patch;
    *patch.mutable_resource() = Ref("", "v1", "secrets", "team-a");
    patch.set_name("creds");
    patch.set_patch_type(fedpb::PATCH_TYPE_MERGE);
    patch.set_patch(R"({"metadata":{"labels":{"rotated":"yes"}}})");
    auto ctx = NewContext();
    fedpb::ObjectResponse resp;
    ::grpc::Status st = stub_->Patch(ctx.get(), patch, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  {
    fedpb::DeleteRequest del;
    *del.mutable_resource() = Ref("", "v1", "secrets", "team-a");
    del.set_name("creds");
    auto ctx = NewContext();
    fedpb::ObjectResponse resp;
    ::grpc::Status st = stub_->Delete(ctx.get(), del, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  std::vector<std::string> got;
  int64_t previous = 0;
  for (int i = 0; i < 3; ++i) {
    fedpb::WatchEvent e;
    ASSERT_TRUE(watch->Read(&e)) << "after " << got.size() << " events";
    json o = json::parse(e.object_json());
    got.push_back(e.type() + " " + o["metadata"]["name"].get<std::string>());
    EXPECT_GT(std::stoll(e.resource_version()), previous);
    previous = std::stoll(e.resource_version());
  }
  EXPECT_EQ(got, (std::vector<std::string>{"ADDED creds", "MODIFIED creds", "DELETED creds"}));
  wctx->TryCancel();
  fedpb::WatchEvent ignored;
  while (watch->Read(&ignored)) {
  }
  EXPECT_EQ(watch->Finish().error_code(), ::grpc::StatusCode::CANCELLED);
}


// A token file protects the gRPC port exactly like the REST port.
class GrpcBinaryAuthTest : public GrpcBinaryTest {
 protected:
  std::string TokenFile() const override { return "s3cret,alice,u1\n"; }
};

TEST_F(GrpcBinaryAuthTest, TokenFileProtectsTheGrpcPortToo) {
  fedpb::GetRequest req;
  *req.mutable_resource() = Ref("", "v1", "namespaces");
  req.set_name("default");
  fedpb::ObjectResponse resp;
  auto anonymous = NewContext();
  EXPECT_EQ(stub_->Get(anonymous.get(), req, &resp).error_code(), ::grpc::StatusCode::UNAUTHENTICATED);
  auto wrong = NewContext();
  wrong->AddMetadata("authorization", "Bearer nope");
  EXPECT_EQ(stub_->Get(wrong.get(), req, &resp).error_code(), ::grpc::StatusCode::UNAUTHENTICATED);
  auto good = NewContext();
  good->AddMetadata("authorization", "Bearer s3cret");
  ::grpc::Status ok = stub_->Get(good.get(), req, &resp);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
}

// RBAC judges gRPC calls like REST requests: the same filter, the same 403 message.
class GrpcBinaryRbacTest : public GrpcBinaryTest {
 protected:
  std::string TokenFile() const override {
    return "root,admin,u0,system:masters\nreader,viewer,u1\n";
  }
  bool Rbac() const override { return true; }
};

TEST_F(GrpcBinaryRbacTest, ViewerMayListButNotCreate) {
  const json binding = {
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "ClusterRoleBinding"},
      {"metadata", {{"name", "viewer-view"}}},
      {"roleRef",
       {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "view"}}},
      {"subjects", json::array({{{"kind", "User"}, {"name", "viewer"}}})}};
  {
    fedpb::CreateRequest req;
    *req.mutable_resource() = Ref("rbac.authorization.k8s.io", "v1", "clusterrolebindings");
    req.set_object_json(binding.dump());
    auto ctx = NewContext();
    ctx->AddMetadata("authorization", "Bearer root");
    fedpb::ObjectResponse resp;
    ::grpc::Status st = stub_->Create(ctx.get(), req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  fedpb::ListRequest list;
  *list.mutable_resource() = Ref(kGroup, "v1alpha1", "federatedworkloads", "default");
  ::grpc::Status listed;
  for (int i = 0; i < 500; ++i) {  // the binding applies once its watch event arrives
    auto ctx = NewContext();
    ctx->AddMetadata("authorization", "Bearer reader");
    fedpb::ListResponse resp;
    listed = stub_->List(ctx.get(), list, &resp);
    if (listed.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(listed.ok()) << listed.error_message();

  fedpb::CreateRequest req;
  *req.mutable_resource() = Ref(kGroup, "v1alpha1", "federatedworkloads", "default");
  req.set_object_json(json({{"apiVersion", std::string(kGroup) + "/v1alpha1"},
                            {"kind", "FederatedWorkload"},
                            {"metadata", {{"name", "web"}}}})
                          .dump());
  auto ctx = NewContext();
  ctx->AddMetadata("authorization", "Bearer reader");
  fedpb::ObjectResponse resp;
  ::grpc::Status denied = stub_->Create(ctx.get(), req, &resp);
  EXPECT_EQ(denied.error_code(), ::grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(),
            "federatedworkloads.federation.meridian.io is forbidden: User \"viewer\" cannot "
            "create resource \"federatedworkloads\" in API group \"federation.meridian.io\" in "
            "the namespace \"default\"");
}

// The issue's authorization matrix over gRPC, and the audit log it leaves: an admin
// (system:masters), a viewer (view in shop through its group) and an editor (edit in shop);
// every call is one audit.k8s.io/v1 line with user, verb, object and HTTP code, as for REST,
// and no Secret data appears in the log.
class GrpcBinaryMatrixTest : public GrpcBinaryTest {
 protected:
  std::string TokenFile() const override {
    return "root,admin,u0,system:masters\nreader,viewer,u1,readers\nwriter,editor,u2\n";
  }
  bool Rbac() const override { return true; }
  bool Audit() const override { return true; }

  ::grpc::Status Call(const std::string& token, const fedpb::ResourceRef& ref, const json& object) {
    fedpb::CreateRequest req;
    *req.mutable_resource() = ref;
    req.set_object_json(object.dump());
    auto ctx = NewContext();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    fedpb::ObjectResponse resp;
    return stub_->Create(ctx.get(), req, &resp);
  }
  ::grpc::Status Get(const std::string& token, const fedpb::ResourceRef& ref,
                     const std::string& name) {
    fedpb::GetRequest req;
    *req.mutable_resource() = ref;
    req.set_name(name);
    auto ctx = NewContext();
    ctx->AddMetadata("authorization", "Bearer " + token);
    fedpb::ObjectResponse resp;
    return stub_->Get(ctx.get(), req, &resp);
  }
  ::grpc::Status List(const std::string& token, const fedpb::ResourceRef& ref) {
    fedpb::ListRequest req;
    *req.mutable_resource() = ref;
    auto ctx = NewContext();
    ctx->AddMetadata("authorization", "Bearer " + token);
    fedpb::ListResponse resp;
    return stub_->List(ctx.get(), req, &resp);
  }
  static json Workload(const std::string& ns) {
    return {{"apiVersion", std::string(kGroup) + "/v1alpha1"},
            {"kind", "FederatedWorkload"},
            {"metadata", {{"name", "web"}, {"namespace", ns}}},
            {"spec",
             {{"template",
               {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"spec", {{"replicas", 2}}}}}}}};
  }
  static json Binding(const std::string& ns, const std::string& name, const std::string& role,
                      const json& subject) {
    json b = {
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", ns.empty() ? "ClusterRoleBinding" : "RoleBinding"},
        {"metadata", {{"name", name}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", role}}},
        {"subjects", json::array({subject})}};
    if (!ns.empty()) b["metadata"]["namespace"] = ns;
    return b;
  }
  // The audit log's ResponseComplete events.
  std::vector<json> AuditEvents() const {
    std::vector<json> out;
    std::ifstream in(dir_ / "audit.log");
    for (std::string line; std::getline(in, line);) {
      json e = json::parse(line);
      if (e["stage"] == "ResponseComplete") out.push_back(e);
    }
    return out;
  }
};

TEST_F(GrpcBinaryMatrixTest, ViewEditAndBadCredentialsAreJudgedAndAuditedLikeRest) {
  const auto rbac = [](const std::string& resource, const std::string& ns = "") {
    return Ref("rbac.authorization.k8s.io", "v1", resource, ns);
  };
  const auto fw = [](const std::string& ns) {
    return Ref(kGroup, "v1alpha1", "federatedworkloads", ns);
  };
  for (const char* ns : {"shop", "payments"}) {
    ::grpc::Status st =
        Call("root", Ref("", "v1", "namespaces"),
             {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  const std::string credential = "c2VjcmV0LXRva2VuLTQyNDI0Mg==";  // base64 of a member token
  ASSERT_TRUE(Call("root", Ref("", "v1", "secrets", "shop"),
                   {{"apiVersion", "v1"},
                    {"kind", "Secret"},
                    {"metadata", {{"name", "member-eu"}, {"namespace", "shop"}}},
                    {"data", {{"token", credential}}}})
                  .ok());
  ASSERT_TRUE(
      Call("root", rbac("rolebindings", "shop"),
           Binding("shop", "readers-view", "view", {{"kind", "Group"}, {"name", "readers"}}))
          .ok());
  ASSERT_TRUE(Call("root", rbac("rolebindings", "shop"),
                   Binding("shop", "editor-edit", "edit", {{"kind", "User"}, {"name", "editor"}}))
                  .ok());
  // Bindings apply once their watch events reach the authorizer.
  ::grpc::Status st;
  for (int i = 0; i < 500; ++i) {
    st = List("reader", fw("shop"));
    if (st.ok() && List("writer", fw("shop")).ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(st.ok()) << st.error_message();

  // view: list yes, create no (kube-apiserver's message).
  st = Call("reader", fw("shop"), Workload("shop"));
  EXPECT_EQ(st.error_code(), ::grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(st.error_message(),
            "federatedworkloads.federation.meridian.io is forbidden: User \"viewer\" cannot "
            "create resource \"federatedworkloads\" in API group \"federation.meridian.io\" in "
            "the namespace \"shop\"");
  // edit: create in shop, not in payments; no ResidencyPolicies; no meridian-system Secrets;
  // cannot make itself cluster-admin.
  st = Call("writer", fw("shop"), Workload("shop"));
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(Call("writer", fw("payments"), Workload("payments")).error_code(),
            ::grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Call("writer", Ref(kGroup, "v1alpha1", "residencypolicies"),
                 {{"apiVersion", std::string(kGroup) + "/v1alpha1"},
                  {"kind", "ResidencyPolicy"},
                  {"metadata", {{"name", "loose"}}},
                  {"spec", {{"jurisdictions", {"us"}}}}})
                .error_code(),
            ::grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Get("writer", Ref("", "v1", "secrets", "meridian-system"), "eu-1").error_code(),
            ::grpc::StatusCode::PERMISSION_DENIED);
  const json self = {{"kind", "User"}, {"name", "editor"}};
  EXPECT_EQ(
      Call("writer", rbac("clusterrolebindings"), Binding("", "editor-root", "cluster-admin", self))
          .error_code(),
      ::grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Call("writer", rbac("rolebindings", "shop"),
                 Binding("shop", "editor-root", "cluster-admin", self))
                .error_code(),
            ::grpc::StatusCode::PERMISSION_DENIED);
  // Bad credentials: unknown token, none at all.
  EXPECT_EQ(Get("nope", Ref("", "v1", "namespaces"), "shop").error_code(),
            ::grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Call("", fw("shop"), Workload("shop")).error_code(),
            ::grpc::StatusCode::UNAUTHENTICATED);
  // The admin reads the Secret back (its data is in the response, never in the log).
  EXPECT_TRUE(Get("root", Ref("", "v1", "secrets", "shop"), "member-eu").ok());

  // One ResponseComplete line per call, as the REST handler writes them.
  struct Want {
    std::string user, verb, resource, ns, name;
    int code;
  } wants[] = {
      {"viewer", "create", "federatedworkloads", "shop", "", 403},
      {"editor", "create", "federatedworkloads", "shop", "", 201},
      {"editor", "create", "federatedworkloads", "payments", "", 403},
      {"editor", "create", "residencypolicies", "", "", 403},
      {"editor", "get", "secrets", "meridian-system", "eu-1", 403},
      {"editor", "create", "clusterrolebindings", "", "", 403},
      {"editor", "create", "rolebindings", "shop", "", 403},
      // As in kube-apiserver, a Namespace's own path names it as the namespace too.
      {"", "get", "namespaces", "shop", "shop", 401},
      {"admin", "create", "secrets", "shop", "", 201},
      {"admin", "get", "secrets", "shop", "member-eu", 200},
  };
  const std::vector<json> events = AuditEvents();
  for (const Want& w : wants) {
    int found = 0;
    for (const json& e : events) {
      const json& ref = e.value("objectRef", json::object());
      if (e["user"].value("username", "") == w.user && e["verb"] == w.verb &&
          ref.value("resource", "") == w.resource && ref.value("namespace", "") == w.ns &&
          ref.value("name", "") == w.name && e["responseStatus"]["code"] == w.code) {
        ++found;
        EXPECT_EQ(e["apiVersion"], "audit.k8s.io/v1");
        EXPECT_EQ(e["level"], "Metadata");
        EXPECT_EQ(e["sourceIPs"], json::array({"127.0.0.1"})) << e.dump();
      }
    }
    EXPECT_EQ(found, 1) << w.user << " " << w.verb << " " << w.resource << " " << w.ns << " "
                        << w.name << " " << w.code;
  }
  // The unauthenticated create is there too (no user), once.
  int anonymous_creates = 0;
  for (const json& e : events) {
    anonymous_creates += e["user"].value("username", "") == "" && e["verb"] == "create" &&
                         e["responseStatus"]["code"] == 401;
  }
  EXPECT_EQ(anonymous_creates, 1);
  std::ifstream in(dir_ / "audit.log");
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(raw.find(credential), std::string::npos);
  EXPECT_EQ(raw.find("secret-token-424242"), std::string::npos);
}

// A gRPC watch is audited like a REST watch: RequestReceived when it starts, ResponseComplete
// when the stream is done.
TEST_F(GrpcBinaryMatrixTest, AWatchIsAuditedWhenItStartsAndWhenItEnds) {
  fedpb::WatchRequest req;
  *req.mutable_resource() = Ref("", "v1", "namespaces");
  {
    auto ctx = NewContext();
    ctx->AddMetadata("authorization", "Bearer root");
    auto reader = stub_->Watch(ctx.get(), req);
    fedpb::WatchEvent event;
    ASSERT_TRUE(reader->Read(&event));  // the initial listing: the watch has started
    ctx->TryCancel();
    reader->Finish();
  }
  auto stages = [&] {
    std::vector<std::string> out;
    std::ifstream in(dir_ / "audit.log");
    for (std::string line; std::getline(in, line);) {
      json e = json::parse(line);
      if (e["verb"] == "watch" && e["user"]["username"] == "admin") out.push_back(e["stage"]);
    }
    return out;
  };
  // The stream's end reaches the server shortly after the client cancels it.
  for (int i = 0; i < 500 && stages().size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(stages(), (std::vector<std::string>{"RequestReceived", "ResponseComplete"}));
}

}  // namespace
}  // namespace meridian::apiserver
