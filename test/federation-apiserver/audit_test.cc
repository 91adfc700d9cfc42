// The audit log (audit/audit.h): policy parsing and its errors, levels (Secrets capped at
// Metadata), events written through a FederationApiServer's handler, and rotation by size
// with timestamps from a FakeClock.
#include "federation-apiserver/audit/audit.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <sstream>
#include <thread>

#include "common/clock.h"
#include "federation-apiserver/server.h"

namespace meridian::apiserver::audit {
namespace {

using nlohmann::json;
namespace rest = apimachinery::rest;

std::vector<json> ReadLines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

TEST(AuditPolicyTest, ParseErrorsNameFileAndField) {
  struct Case {
    const char* what;
    std::string text;
    std::string error;  // "" = valid
  };
  std::vector<Case> cases = {
      {"valid",
       "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n"
       "- level: None\n  users: [system:kube-proxy]\n"
       "- level: Metadata\n  resources: [{group: \"\", resources: [secrets]}]\n"
       "- level: RequestResponse\n  verbs: [create]\n  namespaces: [shop]\n",
       ""},
      {"typo in a rule",
       "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  verb: [get]\n",
       "policy.yaml: rules[0].verb: unknown field"},
      {"unknown level", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n",
       "policy.yaml: rules[0].level: unknown level \"Everything\" (None, Metadata, Request, "
       "RequestResponse)"},
      {"unknown stage",
       "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Received]\nrules: []\n",
       "policy.yaml: omitStages[0]: unknown stage \"Received\" (RequestReceived, ResponseStarted, "
       "ResponseComplete, Panic)"},
      {"wrong kind", "apiVersion: audit.k8s.io/v1\nkind: Polcy\nrules: []\n",
       "policy.yaml: kind: must be Policy"},
      {"resources typo",
       "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  resources: [{groups: "
       "[\"\"]}]\n",
       "policy.yaml: rules[0].resources[0].groups: unknown field"},
  };
  for (const Case& c : cases) {
    StatusOr<Policy> p = ParsePolicy(c.text, "policy.yaml");
    if (c.error.empty()) {
      EXPECT_TRUE(p.ok()) << c.what << ": " << p.status().message();
    } else {
      ASSERT_FALSE(p.ok()) << c.what;
      EXPECT_EQ(p.status().message(), c.error) << c.what;
    }
  }
}

TEST(AuditPolicyTest, LevelsFirstMatchAndSecretsCapped) {
  StatusOr<Policy> p = ParsePolicy(
      "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
      "- level: None\n  userGroups: [system:nodes]\n"
      "- level: Request\n  resources: [{group: federation.meridian.io, resources: "
      "[\"federatedworkloads/status\"]}]\n"
      "- level: None\n  nonResourceURLs: [\"/healthz*\"]\n"
      "- level: RequestResponse\n",
      "p");
  ASSERT_TRUE(p.ok()) << p.status().message();
  rbac::Attributes a;
  a.user = "u";
  a.verb = "get";
  a.api_group = "federation.meridian.io";
  a.resource = "federatedworkloads";
  EXPECT_EQ(LevelFor(*p, a), Level::kRequestResponse);
  a.subresource = "status";
  EXPECT_EQ(LevelFor(*p, a), Level::kRequest);
  a.groups = {"system:nodes"};
  EXPECT_EQ(LevelFor(*p, a), Level::kNone);
  rbac::Attributes secret;
  secret.verb = "create";
  secret.resource = "secrets";
  secret.ns = "meridian-system";
  EXPECT_EQ(LevelFor(*p, secret), Level::kMetadata);
  rbac::Attributes health;
  health.verb = "get";
  health.resource_request = false;
  health.path = "/healthz/ping";
  EXPECT_EQ(LevelFor(*p, health), Level::kNone);
}

class AuditServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-audit-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "tokens.csv") << "admin-token,admin,1,system:masters\n";
    std::ofstream(dir_ / "policy.yaml")
        << "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n";
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  Status Start(int64_t max_size_mb = 100, const std::string& mode = "blocking") {
    ServerOptions options;
    options.audit_log_mode = mode;
    options.storage = "sqlite:" + (dir_ / "db").string();
    options.token_auth_file = (dir_ / "tokens.csv").string();
    options.authorization_mode = "RBAC";
    options.audit_log_path = (dir_ / "audit.log").string();
    options.audit_policy_file = (dir_ / "policy.yaml").string();
    options.audit_log_maxsize_mb = max_size_mb;
    options.audit_log_maxbackup = 2;
    auto server = FederationApiServer::Create(options, clock_);
    if (!server.ok()) return server.status();
    server_ = std::move(server).value();
    return Status::Ok();
  }
  rest::RestResponse Call(const std::string& token, const std::string& method,
                          const std::string& path, const json& body = nullptr) {
    rest::RestRequest r;
    r.method = method;
    r.path = path;
    r.headers["authorization"] = "Bearer " + token;
    if (size_t q = path.find('?'); q != std::string::npos) {
      r.path = path.substr(0, q);
      std::stringstream query(path.substr(q + 1));
      std::string kv;
      while (std::getline(query, kv, '&')) {
        size_t eq = kv.find('=');
        r.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
      }
    }
    if (!body.is_null()) r.body = body.dump();
    return server_->handler().Handle(r);
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<FederationApiServer> server_;
};

TEST_F(AuditServerTest, OneEventPerRequestAndNoSecretData) {
  ASSERT_TRUE(Start().ok());
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "audit.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "eu-1"}, {"namespace", "meridian-system"}}},
                 {"stringData", {{"token", "s3cr3t-t0ken"}}}};
  EXPECT_EQ(Call("admin-token", "POST", "/api/v1/namespaces/meridian-system/secrets", secret).code,
            201);
  EXPECT_EQ(Call("admin-token", "GET", "/api/v1/namespaces/meridian-system/secrets/eu-1").code,
            200);
  EXPECT_EQ(Call("wrong", "GET", "/api/v1/namespaces").code, 401);
  EXPECT_EQ(Call("admin-token", "GET", "/api/v1/namespaces/default").code, 200);

  std::vector<json> events = ReadLines(dir_ / "audit.log");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0]["verb"], "create");
  EXPECT_EQ(events[0]["user"]["username"], "admin");
  EXPECT_EQ(events[0]["user"]["groups"], json({"system:masters", "system:authenticated"}));
  EXPECT_EQ(events[0]["objectRef"],
            json({{"resource", "secrets"}, {"apiGroup", ""}, {"namespace", "meridian-system"}}));
  EXPECT_EQ(events[0]["responseStatus"]["code"], 201);
  EXPECT_EQ(events[0]["level"], "Metadata");  // capped: a Secret
  EXPECT_EQ(events[0]["stage"], "ResponseComplete");
  EXPECT_EQ(events[0]["requestReceivedTimestamp"], "2023-11-14T22:13:20.000000Z");
  EXPECT_EQ(events[1]["objectRef"]["name"], "eu-1");
  EXPECT_EQ(events[2]["responseStatus"]["code"], 401);
  EXPECT_EQ(events[2]["user"]["username"], "");
  EXPECT_EQ(events[3]["level"], "RequestResponse");
  EXPECT_EQ(events[3]["responseObject"]["metadata"]["name"], "default");
  std::stringstream raw;
  raw << std::ifstream(dir_ / "audit.log").rdbuf();
  EXPECT_EQ(raw.str().find("s3cr3t-t0ken"), std::string::npos);
  EXPECT_EQ(raw.str().find("czNjcjN0LXQwa2Vu"), std::string::npos);  // its base64
}

TEST_F(AuditServerTest, WatchGetsRequestReceivedThenResponseComplete) {
  ASSERT_TRUE(Start().ok());
  rest::RestResponse r =
      Call("admin-token", "GET", "/api/v1/namespaces?watch=true&timeoutSeconds=1");
  ASSERT_TRUE(r.start_stream);
  std::vector<json> events = ReadLines(dir_ / "audit.log");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["stage"], "RequestReceived");
  EXPECT_EQ(events[0]["verb"], "watch");
  // The transport's sink; releasing it (the stream is over) completes the record.
  struct NullSink : rest::WatchSink {
    bool Write(const std::string&) override { return !closed; }
    void Close() override { closed = true; }
    bool Closed() const override { return closed; }
    bool closed = false;
  };
  r.start_stream(std::make_shared<NullSink>());
  server_->handler().StopWatches();
  r = {};
  events = ReadLines(dir_ / "audit.log");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1]["stage"], "ResponseComplete");
  EXPECT_EQ(events[1]["responseStatus"]["code"], 200);
  EXPECT_EQ(events[1]["auditID"], events[0]["auditID"]);
}

TEST_F(AuditServerTest, RotatesBySizeKeepingBackups) {
  ASSERT_TRUE(Start(/*max_size_mb=*/1).ok());
  // Events of several hundred bytes: 6,000 pass 1 MB several times.
  for (int i = 0; i < 6000; ++i) {
    clock_.Advance(std::chrono::milliseconds(1));
    Call("admin-token", "GET", "/api/v1/namespaces/default");
  }
  int backups = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    std::string name = e.path().filename().string();
    if (name.rfind("audit.log.", 0) == 0) {
      ++backups;
      EXPECT_LE(std::filesystem::file_size(e.path()), 1024u * 1024u) << name;
    }
  }
  EXPECT_EQ(backups, 2);
  EXPECT_LE(std::filesystem::file_size(dir_ / "audit.log"), 1024u * 1024u);
}

// Batch mode (--audit-log-mode batch): concurrent writers through a tiny queue (so they wait
// for the writer thread), every line whole and present after Flush, rotation still by size,
// and what is queued at destruction still written.
TEST(AuditLogBatchTest, WritesEveryLineWholeRotatesAndDrainsOnClose) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("meridian-audit-batch-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  AuditLogOptions options;
  options.path = (dir / "audit.log").string();
  options.max_size_mb = 1;
  options.max_backups = 0;
  options.batch = true;
  options.batch_buffer_events = 4;
  // The real clock: backups are named by the time of rotation, which must differ.
  auto log = AuditLog::Open(options, RealClock());
  ASSERT_TRUE(log.ok()) << log.status().message();
  const std::string pad(600, 'x');  // 4 x 1,000 lines of ~650 bytes pass 1 MB twice
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) (*log)->Write({{"t", t}, {"i", i}, {"pad", pad}});
    });
  }
  for (auto& w : writers) w.join();
  (*log)->Flush();
  auto count = [&] {
    std::map<int, int> per_thread;
    int backups = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      backups += e.path().filename().string() != "audit.log";
      EXPECT_LE(std::filesystem::file_size(e.path()), 1024u * 1024u) << e.path();
      for (const json& line : ReadLines(e.path())) ++per_thread[line["t"].get<int>()];
    }
    return std::make_pair(per_thread, backups);
  };
  auto [after_flush, backups] = count();
  EXPECT_EQ(after_flush, (std::map<int, int>{{0, 1000}, {1, 1000}, {2, 1000}, {3, 1000}}));
  EXPECT_GE(backups, 2);
  for (int i = 0; i < 100; ++i) (*log)->Write({{"t", 9}, {"i", i}});
  log->reset();  // drains the queue
  EXPECT_EQ(count().first[9], 100);
  std::filesystem::remove_all(dir);
}

TEST_F(AuditServerTest, AnUnknownModeStopsStartupNamingTheFlag) {
  Status st = Start(100, "batched");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "--audit-log-mode: must be blocking or batch, not \"batched\"");
}

TEST_F(AuditServerTest, PolicyTypoStopsStartup) {
  std::ofstream(dir_ / "policy.yaml")
      << "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- levl: None\n";
  Status st = Start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find((dir_ / "policy.yaml").string() + ": rules[0].levl: unknown field"),
            std::string::npos)
      << st.message();
}

}  // namespace
}  // namespace meridian::apiserver::audit
