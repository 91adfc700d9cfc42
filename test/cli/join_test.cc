// fedctl join / unjoin against a fake federation (FakeClient) and a fake member
// (FakeMemberClient): what is stored, what is refused, and that a failed join stores nothing.
#include "cli/join.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/base64.h"
#include "sync/member_client_factory.h"
#include "sync/testing/fake_member_client.h"
#include "test/cli/fake_client.h"

namespace meridian::cli {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using sync::testing::FakeMemberClient;
using sync::testing::Verb;

class JoinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-join-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    token_file_ = (dir_ / "token").string();
    std::ofstream(token_file_) << "s3cret\n";
    member_ = std::make_shared<FakeMemberClient>(FakeMemberClient::Options{.member = "eu-west-1"});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  JoinRequest Request() {
    JoinRequest r;
    r.name = "eu-west-1";
    r.member_url = "http://127.0.0.1:1/clusters/eu-west-1";
    r.token_file = token_file_;
    r.region = "eu-west";
    r.zones = {"eu-west-1a", "eu-west-1b"};
    r.jurisdiction = "eu";
    r.labels = {{"tier", "prod"}};
    return r;
  }
  MemberClientMaker Maker() {
    return [this](const sync::MemberEndpoint& e) -> StatusOr<std::shared_ptr<sync::MemberClient>> {
      endpoints_.push_back(e);
      return std::shared_ptr<sync::MemberClient>(member_);
    };
  }
  int Join(const JoinRequest& r) {
    out_.str("");
    err_.str("");
    return RunJoin(fed_, r, Maker(), out_, err_);
  }
  int Unjoin(bool cleanup) {
    out_.str("");
    err_.str("");
    UnjoinRequest r{.name = "eu-west-1", .cleanup = cleanup};
    r.clock = &clock_;
    r.sleep = [this](std::chrono::milliseconds d) {
      ++sleeps_;
      clock_.Advance(d);
    };
    return RunUnjoin(fed_, r, Maker(), out_, err_);
  }
  const KindInfo& mcs() { return *ResolveType("mc"); }
  // The Secret the stored MemberCluster points at (null when either is missing).
  const json* StoredSecret() {
    const json* mc = fed_.Find(mcs(), "", "eu-west-1");
    if (!mc) return nullptr;
    return fed_.Find(secrets(), "meridian-system", (*mc)["spec"]["credentialsRef"]["name"]);
  }
  const KindInfo& secrets() { return *ResolveType("secrets"); }

  std::filesystem::path dir_;
  std::string token_file_;
  testing::FakeClient fed_;
  std::shared_ptr<FakeMemberClient> member_;
  std::vector<sync::MemberEndpoint> endpoints_;
  FakeClock clock_;
  int sleeps_ = 0;
  std::ostringstream out_, err_;
};

TEST_F(JoinTest, StoresTheSecretAndTheMemberClusterAfterCheckingTheMember) {
  ASSERT_EQ(Join(Request()), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("membercluster.federation.meridian.io/eu-west-1 joined"));
  ASSERT_EQ(endpoints_.size(), 1u);
  EXPECT_EQ(endpoints_[0].credentials.bearer_token, "s3cret");  // trimmed
  EXPECT_EQ(member_->CallCount(Verb::kDiscover), 1);
  EXPECT_EQ(member_->CallCount(Verb::kList), 1);

  const json* secret = StoredSecret();
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ((*secret)["data"]["token"], Base64StdEncode("s3cret"));
  EXPECT_EQ((*secret)["metadata"]["name"].get<std::string>().rfind("eu-west-1-credentials-", 0), 0u);
  EXPECT_EQ((*secret)["metadata"]["labels"]["federation.meridian.io/member-cluster"], "eu-west-1");
  EXPECT_EQ(fed_.size(), 2u);
  const json* mc = fed_.Find(mcs(), "", "eu-west-1");
  ASSERT_NE(mc, nullptr);
  EXPECT_EQ((*mc)["spec"]["server"], "http://127.0.0.1:1/clusters/eu-west-1");
  EXPECT_EQ((*mc)["spec"]["region"], "eu-west");
  EXPECT_EQ((*mc)["spec"]["zones"], json::array({"eu-west-1a", "eu-west-1b"}));
  EXPECT_EQ((*mc)["spec"]["jurisdiction"], "eu");
  EXPECT_EQ((*mc)["spec"]["credentialsRef"]["namespace"], "meridian-system");
  EXPECT_EQ((*mc)["metadata"]["labels"]["tier"], "prod");
}

TEST_F(JoinTest, TheSecretIsWhatTheControllersFactoryReads) {
  sync::MemberCredentials in;
  in.bearer_token = "t";
  in.certificate_authority_pem = "-----BEGIN CERTIFICATE-----\nca\n";
  in.client_certificate_pem = "crt";
  in.client_key_pem = "key";
  json secret = CredentialsSecret("m", in);
  StatusOr<sync::MemberCredentials> out = CredentialsFromSecret(secret);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->bearer_token, "t");
  EXPECT_EQ(out->certificate_authority_pem, in.certificate_authority_pem);
  EXPECT_EQ(out->client_certificate_pem, "crt");
  EXPECT_EQ(out->client_key_pem, "key");
  EXPECT_EQ(secret["metadata"]["namespace"], "meridian-system");
}

TEST_F(JoinTest, RefusedCredentialsStoreNothing) {
  member_->FailNext(Verb::kList, UnauthenticatedError("Unauthorized"));
  EXPECT_EQ(Join(Request()), 1);
  EXPECT_THAT(err_.str(), HasSubstr("refused the credentials (401 Unauthorized)"));
  EXPECT_THAT(err_.str(), HasSubstr("nothing was stored"));
  EXPECT_EQ(fed_.size(), 0u);
  EXPECT_EQ(fed_.calls("create"), 0);

  member_->FailNext(Verb::kDiscover, PermissionDeniedError("forbidden"));
  EXPECT_EQ(Join(Request()), 1);
  EXPECT_THAT(err_.str(), HasSubstr("refused the credentials (403 Forbidden)"));
  EXPECT_EQ(fed_.size(), 0u);
}

TEST_F(JoinTest, AnUnreachableMemberIsNamedWithItsUrlAndStoresNothing) {
  member_->FailNext(Verb::kDiscover, UnavailableError("connection refused"));
  EXPECT_EQ(Join(Request()), 1);
  EXPECT_THAT(err_.str(), HasSubstr("cannot reach member \"eu-west-1\" at "
                                    "http://127.0.0.1:1/clusters/eu-west-1: connection refused"));
  EXPECT_EQ(fed_.size(), 0u);
}

TEST_F(JoinTest, BadFlagsAreNamedAndNothingIsContacted) {
  struct Case {
    std::function<void(JoinRequest&)> change;
    std::string error;
  };
  std::vector<Case> cases = {
      {[](JoinRequest& r) { r.token_file = "/nonexistent/token"; },
       "--token-file /nonexistent/token: cannot read the file"},
      {[](JoinRequest& r) { r.token_file.clear(); }, "--token-file is required"},
      {[](JoinRequest& r) { r.member_url = "127.0.0.1:1"; }, "--member-url \"127.0.0.1:1\""},
      {[](JoinRequest& r) { r.member_url.clear(); }, "--member-url (with --token-file) or --kubeconfig"},
      {[](JoinRequest& r) { r.kubeconfig = "/k"; }, "not both"},
      {[](JoinRequest& r) { r.zones.clear(); }, "--region, --zones and --jurisdiction are required"},
      {[this](JoinRequest& r) { std::ofstream(r.token_file = (dir_ / "empty").string()) << "\n"; },
       "the file is empty"},
  };
  for (const Case& c : cases) {
    JoinRequest r = Request();
    c.change(r);
    EXPECT_EQ(Join(r), 1);
    EXPECT_THAT(err_.str(), HasSubstr(c.error));
  }
  EXPECT_TRUE(endpoints_.empty());
  EXPECT_EQ(fed_.size(), 0u);
  EXPECT_FALSE(ParseLabelFlags({"a=b", "novalue"}).ok());
  EXPECT_EQ(ParseLabelFlags({"a=b", "c="}).value(),
            (std::map<std::string, std::string>{{"a", "b"}, {"c", ""}}));
}

TEST_F(JoinTest, KubeconfigGivesServerAndClientCertificate) {
  const std::string kubeconfig = (dir_ / "config").string();
  std::ofstream(kubeconfig) << R"(apiVersion: v1
kind: Config
current-context: eu
clusters:
- name: eu
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {client-certificate-data: Y3J0, client-key-data: a2V5}
contexts:
- name: eu
  context: {cluster: eu, user: admin}
)";
  JoinRequest r = Request();
  r.member_url.clear();
  r.token_file.clear();
  r.kubeconfig = kubeconfig;
  r.context = "eu";
  ASSERT_EQ(Join(r), 0) << err_.str();
  const json* secret = StoredSecret();
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ((*secret)["data"]["tls.crt"], "Y3J0");
  EXPECT_EQ((*secret)["data"]["tls.key"], "a2V5");
  EXPECT_FALSE((*secret)["data"].contains("token"));
  const json* mc = fed_.Find(mcs(), "", "eu-west-1");
  ASSERT_NE(mc, nullptr);
  EXPECT_EQ((*mc)["spec"]["server"], "https://127.0.0.1:6443");
  EXPECT_EQ((*mc)["spec"]["insecureSkipTLSVerify"], true);

  r.context = "missing";
  EXPECT_EQ(Join(r), 1);
  EXPECT_THAT(err_.str(), HasSubstr("missing"));
}

TEST_F(JoinTest, JoiningAgainSaysAlreadyExistsUnlessOverwrite) {
  ASSERT_EQ(Join(Request()), 0) << err_.str();
  EXPECT_EQ(Join(Request()), 1);
  EXPECT_THAT(err_.str(), HasSubstr("(AlreadyExists)"));
  EXPECT_THAT(err_.str(), HasSubstr("--overwrite"));
  EXPECT_EQ(member_->CallCount(Verb::kDiscover), 1);  // not contacted the second time

  // Same credentials: the same Secret is kept.
  JoinRequest r = Request();
  r.overwrite = true;
  r.region = "eu-north";
  const std::string first_secret = (*StoredSecret())["metadata"]["name"];
  ASSERT_EQ(Join(r), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("rejoined"));
  EXPECT_EQ((*fed_.Find(mcs(), "", "eu-west-1"))["spec"]["region"], "eu-north");
  EXPECT_EQ((*StoredSecret())["metadata"]["name"], first_secret);
  EXPECT_EQ(fed_.size(), 2u);

  // New credentials: a new Secret name (so the controllers remake the member's client) and
  // the old Secret removed.
  std::ofstream(token_file_) << "rotated";
  ASSERT_EQ(Join(r), 0) << err_.str();
  ASSERT_NE(StoredSecret(), nullptr);
  EXPECT_EQ((*StoredSecret())["data"]["token"], Base64StdEncode("rotated"));
  EXPECT_NE((*StoredSecret())["metadata"]["name"], first_secret);
  EXPECT_EQ(fed_.Find(secrets(), "meridian-system", first_secret), nullptr);
  EXPECT_EQ(fed_.size(), 2u);
}

TEST_F(JoinTest, ASecretCreatedForAMemberClusterTheServerRefusesIsRemoved) {
  // The Secret create succeeds, the MemberCluster create is refused (422).
  ApiError invalid = ApiError::Invalid("federation.meridian.io", "MemberCluster", "eu-west-1",
                                       {{"spec.region", "Invalid value"}});
  JoinRequest r = Request();
  struct SecondCreateFails : testing::FakeClient {
    ApiError error;
    int n = 0;
    ApiResult<json> Create(const KindInfo& k, const std::string& ns, const json& b) override {
      if (++n == 2) return error;
      return testing::FakeClient::Create(k, ns, b);
    }
  } fed;
  fed.error = invalid;
  out_.str("");
  err_.str("");
  EXPECT_EQ(RunJoin(fed, r, Maker(), out_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("is invalid"));
  EXPECT_THAT(err_.str(), HasSubstr("nothing was stored"));
  EXPECT_EQ(fed.size(), 0u);
}

TEST_F(JoinTest, UnjoinRemovesTheMemberClusterAndItsSecret) {
  ASSERT_EQ(Join(Request()), 0) << err_.str();
  ASSERT_EQ(Unjoin(false), 0) << err_.str();
  EXPECT_EQ(fed_.size(), 0u);
  EXPECT_THAT(out_.str(), HasSubstr("membercluster.federation.meridian.io \"eu-west-1\" deleted"));
  EXPECT_THAT(out_.str(), HasSubstr("secret \"meridian-system/eu-west-1-credentials-"));
  EXPECT_EQ(Unjoin(false), 1);
  EXPECT_THAT(err_.str(), HasSubstr("not found"));
}

TEST_F(JoinTest, UnjoinCleanupDeletesOnlyWhatMeridianCreated) {
  ASSERT_EQ(Join(Request()), 0) << err_.str();
  json managed = {{"apiVersion", "apps/v1"},
                  {"kind", "Deployment"},
                  {"metadata",
                   {{"name", "web"},
                    {"namespace", "shop"},
                    {"labels", {{"federation.meridian.io/managed-by", "meridian"}}}}}};
  json mine = {{"apiVersion", "apps/v1"},
               {"kind", "Deployment"},
               {"metadata", {{"name", "theirs"}, {"namespace", "shop"}}}};
  json managed_cm = {{"apiVersion", "v1"},
                     {"kind", "ConfigMap"},
                     {"metadata",
                      {{"name", "cfg"},
                       {"namespace", "shop"},
                       {"labels", {{"federation.meridian.io/managed-by", "meridian"}}}}}};
  member_->Apply({"apps", "v1", "deployments"}, managed);
  member_->Apply({"apps", "v1", "deployments"}, mine);
  member_->Apply({"", "v1", "configmaps"}, managed_cm);
  json owned = managed;  // left to the member's garbage collector
  owned["kind"] = "ReplicaSet";
  owned["metadata"]["name"] = "web-5d8f";
  owned["metadata"]["ownerReferences"] = json::array({{{"kind", "Deployment"}, {"name", "web"}}});
  member_->Apply({"apps", "v1", "replicasets"}, owned);

  ASSERT_EQ(Unjoin(true), 0) << err_.str();
  EXPECT_EQ(err_.str(), "");
  EXPECT_THAT(out_.str(), HasSubstr("deleted deployments.apps shop/web from eu-west-1"));
  EXPECT_THAT(out_.str(), HasSubstr("deleted configmaps shop/cfg from eu-west-1"));
  EXPECT_THAT(out_.str(), HasSubstr("2 objects Meridian created deleted"));
  EXPECT_FALSE(member_->Object({"apps", "v1", "deployments"}, "shop", "web").has_value());
  EXPECT_TRUE(member_->Object({"apps", "v1", "deployments"}, "shop", "theirs").has_value());
  EXPECT_TRUE(member_->Object({"apps", "v1", "replicasets"}, "shop", "web-5d8f").has_value());
  EXPECT_EQ(fed_.size(), 0u);
  // The cleanup used the stored credentials.
  ASSERT_EQ(endpoints_.size(), 2u);
  EXPECT_EQ(endpoints_[1].credentials.bearer_token, "s3cret");
  EXPECT_EQ(endpoints_[1].server, "http://127.0.0.1:1/clusters/eu-west-1");
}

TEST_F(JoinTest, UnjoinCleanupWaitsUntilNoWorkloadPlacesTheMember) {
  const KindInfo& fws = *ResolveType("fw");
  json w = {{"metadata", {{"name", "web"}, {"namespace", "shop"}}},
            {"status", {{"placement", json::array({{{"cluster", "eu-west-1"}, {"replicas", 3}}})}}}};
  fed_.Put(fws, "shop", w);
  bool scripted = true;  // the controllers' progress, for the first wait only
  auto sleep = [&](std::chrono::milliseconds d) {
    ++sleeps_;
    clock_.Advance(d);
    if (!scripted) return;
    if (sleeps_ == 3) {  // the placement controller lets go; the aggregator still reports it
      w["status"] = {{"clusters", json::array({{{"cluster", "eu-west-1"}}})}};
      fed_.Put(fws, "shop", w);
    }
    if (sleeps_ == 5) {  // and then forgets it too
      w["status"] = {{"clusters", json::array({{{"cluster", "us-east-1"}}})}};
      fed_.Put(fws, "shop", w);
    }
  };
  EXPECT_TRUE(WaitUntilReleased(fed_, "eu-west-1", clock_, sleep, std::chrono::seconds(10)));
  EXPECT_EQ(sleeps_, 5);
  scripted = false;

  // A controller that never lets go: the wait ends at the timeout.
  w["status"] = {{"placement", json::array({{{"cluster", "eu-west-1"}, {"replicas", 3}}})}};
  fed_.Put(fws, "shop", w);
  sleeps_ = 0;
  EXPECT_FALSE(WaitUntilReleased(fed_, "eu-west-1", clock_, sleep, std::chrono::seconds(2)));
  EXPECT_EQ(sleeps_, 10);  // every 200 ms of (fake) time

  // RunUnjoin warns and cleans up anyway.
  ASSERT_EQ(Join(Request()), 0) << err_.str();
  ASSERT_EQ(Unjoin(true), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("warning: after 15 s workloads still place or report eu-west-1"));
}

TEST_F(JoinTest, UnjoinCleanupOfAnUnreachableMemberChangesNothing) {
  ASSERT_EQ(Join(Request()), 0) << err_.str();
  member_->FailAlways(Verb::kDiscover, UnavailableError("connection refused"));
  EXPECT_EQ(Unjoin(true), 1);
  EXPECT_THAT(err_.str(), HasSubstr("cannot reach member"));
  EXPECT_THAT(err_.str(), HasSubstr("nothing was changed"));
  EXPECT_NE(fed_.Find(mcs(), "", "eu-west-1"), nullptr);
  EXPECT_NE(StoredSecret(), nullptr);
}

}  // namespace
}  // namespace meridian::cli
