#include "federation-apiserver/admission.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "api/types.h"
#include "federation-apiserver/server.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;

class AdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-admission-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    ServerOptions options;
    options.storage = "sqlite:" + (dir_ / "fed.db").string();
    server_ = FederationApiServer::Create(options, clock_).value();
    auto topology = Apply("topologies", "", R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "Topology",
      "metadata": {"name": "default"},
      "spec": {"regions": [{"name": "eu-west", "jurisdiction": "eu"}, {"name": "us-east", "jurisdiction": "us"}],
               "demandProfiles": [{"name": "shoppers", "sources": [{"name": "paris", "weight": 1, "rttMs": {"eu-west": 10}}]}]}})");
    ASSERT_TRUE(topology.ok()) << topology.error().message;
    auto member = Apply("memberclusters", "", R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "MemberCluster",
      "metadata": {"name": "eu-west-1"},
      "spec": {"server": "http://127.0.0.1:1/clusters/eu-west-1", "region": "eu-west", "jurisdiction": "eu"}})");
    ASSERT_TRUE(member.ok()) << member.error().message;
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  apimachinery::ApiResult<json> Apply(const std::string& plural, const std::string& ns,
                                      const std::string& body) {
    const auto* info = server_->registry().Find(api::kGroup, api::kVersion, plural);
    EXPECT_NE(info, nullptr) << plural;
    return server_->objects().Create(*info, ns, json::parse(body));
  }

  static std::string Workload(const std::string& placement, const std::string& labels = "{}") {
    return R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
      "metadata": {"name": "web", "namespace": "default", "labels": )" + labels + R"(},
      "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 3}},
               "placement": )" + placement + "}}";
  }

  std::vector<std::string> Causes(const apimachinery::ApiResult<json>& r) {
    std::vector<std::string> out;
    if (r.ok()) return out;
    for (const auto& c : r.error().causes) out.push_back(c.field + ": " + c.message);
    return out;
  }

  FakeClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<FederationApiServer> server_;
};

TEST_F(AdmissionTest, KnownRegionsClustersAndProfilesAreAccepted) {
  auto r = Apply("federatedworkloads", "default",
                 Workload(R"({"distribution": {"weights": {"eu-west": 3, "us-east": 1, "eu-west-1": 1},
                              "clusters": {"eu-west-1": {"max": 5}}},
                              "latency": {"demand": "shoppers", "maxRTTMs": 80}})"));
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(Causes(r));
}

TEST_F(AdmissionTest, UnknownReferencesAreInvalidWithTheirFieldPaths) {
  auto r = Apply("federatedworkloads", "default",
                 Workload(R"({"distribution": {"weights": {"mars": 3}, "clusters": {"ghost-1": {"max": 1}}},
                              "latency": {"demand": "martians", "maxRTTMs": 80}})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 422);
  EXPECT_EQ(r.error().reason, "Invalid");
  EXPECT_EQ(Causes(r), (std::vector<std::string>{
      "spec.placement.distribution.weights.mars: unknown region or cluster \"mars\" (known regions: eu-west, us-east; clusters: eu-west-1)",
      "spec.placement.distribution.clusters.ghost-1: unknown member cluster \"ghost-1\" (known: eu-west-1)",
      "spec.placement.latency.demand: unknown demand profile \"martians\" (known: shoppers)"}));
  EXPECT_EQ(server_->objects().Get(*server_->registry().Find(api::kGroup, api::kVersion, "federatedworkloads"),
                                   "default", "web").error().code, 404) << "nothing stored";
}

TEST_F(AdmissionTest, SchemaProblemsAreAllReported) {
  auto r = Apply("federatedworkloads", "default",
                 Workload(R"({"distribution": {"weights": {"eu-west": -1}}, "spread": {"minRegions": "two"}})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Causes(r), (std::vector<std::string>{
      "spec.placement.distribution.weights.eu-west: must be >= 0",
      "spec.placement.spread.minRegions: must be an integer"}));
  // Schema and reference problems come back together.
  auto both = Apply("federatedworkloads", "default",
                    Workload(R"({"distribution": {"weights": {"eu-west": -1, "mars": 1}}})"));
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(Causes(both).size(), 2u) << ::testing::PrintToString(Causes(both));
}

TEST_F(AdmissionTest, TemplatesAreCheckedAgainstTheirKindsSchema) {
  auto typo = Apply("federatedworkloads", "default", R"({"apiVersion": "federation.meridian.io/v1alpha1",
      "kind": "FederatedWorkload", "metadata": {"name": "web", "namespace": "default"},
      "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment",
                            "spec": {"replicaz": 40, "replicas": -2, "paused": "no"}}}})");
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.error().code, 422);
  // replicas < 0 comes once, from the typed decoding, not again from the template schema.
  EXPECT_EQ(Causes(typo), (std::vector<std::string>{
      "spec.template.spec.replicas: must be >= 0",
      "spec.template.spec.paused: must be a boolean, not a string",
      "spec.template.spec.replicaz: unknown field \"replicaz\""}));
  EXPECT_EQ(server_->objects().Get(*server_->registry().Find(api::kGroup, api::kVersion, "federatedworkloads"),
                                   "default", "web").error().code, 404) << "nothing stored";
  // A CRD's template has no built-in schema: accepted with the generic checks.
  auto crd = Apply("federatedworkloads", "default", R"({"apiVersion": "federation.meridian.io/v1alpha1",
      "kind": "FederatedWorkload", "metadata": {"name": "widget", "namespace": "default"},
      "spec": {"template": {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"size": 3}}}})");
  EXPECT_TRUE(crd.ok()) << ::testing::PrintToString(Causes(crd));
}

TEST_F(AdmissionTest, ResidencyPolicyCannotBeLoosenedByTheWorkload) {
  ASSERT_TRUE(Apply("residencypolicies", "", R"({"apiVersion": "federation.meridian.io/v1alpha1",
      "kind": "ResidencyPolicy", "metadata": {"name": "eu-personal-data"},
      "spec": {"workloadSelector": {"matchLabels": {"data": "personal"}}, "jurisdictions": ["eu"]}})").ok());
  auto loosened = Apply("federatedworkloads", "default",
                        Workload(R"({"residency": {"jurisdictions": ["eu", "us"]}})", R"({"data": "personal"})"));
  ASSERT_FALSE(loosened.ok());
  EXPECT_EQ(Causes(loosened), (std::vector<std::string>{
      "spec.placement.residency.jurisdictions[1]: \"us\" is not allowed by ResidencyPolicy eu-personal-data (allowed: eu)"}));
  // The same workload without the label is not governed by the policy.
  EXPECT_TRUE(Apply("federatedworkloads", "default",
                    Workload(R"({"residency": {"jurisdictions": ["eu", "us"]}})")).ok());
}

TEST_F(AdmissionTest, ClusterScopedKindsRejectANamespaceAndUnknownKindsAre404) {
  EXPECT_EQ(server_->registry().Find(api::kGroup, api::kVersion, "widgets"), nullptr);
  auto r = Apply("memberclusters", "", R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "MemberCluster",
      "metadata": {"name": "bad"}, "spec": {"server": "http://x", "region": "r"}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Causes(r), (std::vector<std::string>{"spec.jurisdiction: required"}));
}

}  // namespace
}  // namespace meridian::apiserver

namespace meridian::apiserver {
namespace {

TEST_F(AdmissionTest, SecretsStoreStringDataAsBase64DataLikeKubernetes) {
  const auto* secrets = server_->registry().Find("", "v1", "secrets");
  ASSERT_NE(secrets, nullptr);
  auto created = server_->objects().Create(*secrets, "meridian-system", nlohmann::json::parse(R"({
    "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "eu-west-1-creds"},
    "data": {"ca.crt": "Q0E="}, "stringData": {"token": "s3cret"}})"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(created.value()["data"]["token"], "czNjcmV0");
  EXPECT_EQ(created.value()["data"]["ca.crt"], "Q0E=");
  EXPECT_FALSE(created.value().contains("stringData"));
  EXPECT_EQ(created.value()["type"], "Opaque");
  auto bad = server_->objects().Create(*secrets, "meridian-system", nlohmann::json::parse(R"({
    "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"}, "data": {"token": "not base64!"}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(Causes(bad), (std::vector<std::string>{"data[token]: must be base64-encoded"}));
}

}  // namespace
}  // namespace meridian::apiserver
