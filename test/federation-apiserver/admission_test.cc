#include "federation-apiserver/admission.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
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

// A new workload is stored with its first revision (the rollout controller's record of its
// template, rollout/revisions.h) and, only from an apiserver that runs the propagation
// controller, with that controller's cleanup finalizer: without the controller nobody would
// drop it, and a deletion would hang. A status sent with the create is still dropped.
TEST_F(AdmissionTest, ANewWorkloadIsStoredWithItsFirstRevisionAndTheFinalizerOnlyWhereDropped) {
  json body = json::parse(Workload(R"({"distribution": {"weights": {"eu-west": 1}}})"));
  body["status"] = {{"readyReplicas", 7}};
  const auto* info = server_->registry().Find(api::kGroup, api::kVersion, "federatedworkloads");
  auto r = server_->objects().Create(*info, "default", body);
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(Causes(r));
  const json& stored = r.value();
  ASSERT_EQ(stored["status"]["revisions"].size(), 1u);
  EXPECT_EQ(stored["status"]["revisions"][0]["revision"], 1);
  EXPECT_EQ(stored["status"]["revisions"][0]["template"], body["spec"]["template"]);
  EXPECT_FALSE(stored["status"]["revisions"][0]["templateHash"].get<std::string>().empty());
  EXPECT_FALSE(stored["status"].contains("readyReplicas"));
  EXPECT_FALSE(stored["metadata"].contains("finalizers"));
  // An update keeps what is stored: only a create records the first revision.
  json edited = stored;
  edited["spec"]["template"]["spec"]["replicas"] = 4;
  auto updated = server_->objects().Update(*info, "default", "web", edited);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ(updated.value()["status"]["revisions"], stored["status"]["revisions"]);

  // The same create on an apiserver that runs the propagation controller.
  server_.reset();
  std::filesystem::remove_all(dir_);
  ServerOptions options;
  options.storage = "sqlite:" + (dir_ / "fed2.db").string();
  options.workload_finalizer_at_create = true;
  server_ = FederationApiServer::Create(options, clock_).value();
  ASSERT_TRUE(Apply("topologies", "", R"({"apiVersion": "federation.meridian.io/v1alpha1",
    "kind": "Topology", "metadata": {"name": "default"},
    "spec": {"regions": [{"name": "eu-west", "jurisdiction": "eu"}]}})").ok());
  body["metadata"]["finalizers"] = json::array({"example.com/keep"});
  info = server_->registry().Find(api::kGroup, api::kVersion, "federatedworkloads");
  r = server_->objects().Create(*info, "default", body);
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(Causes(r));
  EXPECT_EQ(r.value()["metadata"]["finalizers"],
            json::array({"example.com/keep", "federation.meridian.io/cleanup"}));
  EXPECT_EQ(r.value()["status"]["revisions"].size(), 1u);
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

namespace meridian::apiserver {
namespace {

// FailoverDrill admission (failover/drill_admission.h): a fleet of two members in three
// Topology regions (ap-south has no member) and an EU-resident workload.
// A member belongs to one group of its stage: groups that share a member of the federation (here
// eu-west-1, by region and by name) are refused at the later group's selector, for a
// RolloutStrategy and for a workload's inline strategy; nothing is stored.
TEST_F(AdmissionTest, RolloutGroupsThatShareAMemberAreRefusedNamingTheGroup) {
  const std::string stages = R"({"stages": [{"name": "eu", "selector": {"regions": ["eu-west"]},
      "groups": [{"name": "a", "selector": {"regions": ["eu-west"]}},
                 {"name": "b", "selector": {"clusters": ["eu-west-1"]}}]}]})";
  auto strategy = Apply("rolloutstrategies", "", R"({"apiVersion": "federation.meridian.io/v1alpha1",
      "kind": "RolloutStrategy", "metadata": {"name": "eu-groups"}, "spec": )" + stages + "}");
  ASSERT_FALSE(strategy.ok());
  EXPECT_EQ(strategy.error().code, 422);
  EXPECT_EQ(Causes(strategy), (std::vector<std::string>{
      "spec.stages[0].groups[1].selector: takes member eu-west-1, which groups[0] (a) takes too: a member belongs to one group"}));
  const auto* strategies = server_->registry().Find(api::kGroup, api::kVersion, "rolloutstrategies");
  EXPECT_EQ(server_->objects().Get(*strategies, "", "eu-groups").error().code, 404) << "nothing stored";

  json w = json::parse(Workload("{}"));
  w["spec"]["rollout"] = {{"strategy", json::parse(stages)}};
  auto inline_strategy = Apply("federatedworkloads", "default", w.dump());
  ASSERT_FALSE(inline_strategy.ok());
  EXPECT_EQ(Causes(inline_strategy), (std::vector<std::string>{
      "spec.rollout.strategy.stages[0].groups[1].selector: takes member eu-west-1, which groups[0] (a) takes too: a member belongs to one group"}));

  // Groups that do not share a member of the federation are accepted.
  auto apart = Apply("rolloutstrategies", "", R"({"apiVersion": "federation.meridian.io/v1alpha1",
      "kind": "RolloutStrategy", "metadata": {"name": "eu-groups"}, "spec": {"stages": [{"name": "eu",
      "groups": [{"name": "a", "selector": {"regions": ["eu-west"]}},
                 {"name": "b", "selector": {"matchLabels": {"tier": "gold"}}}]}]}})");
  EXPECT_TRUE(apart.ok()) << ::testing::PrintToString(Causes(apart));
}

// The other side: a member that joins, is relabelled or moves region into two groups of one
// stage of a stored strategy (RolloutStrategy eu-groups: group a takes region eu-west, group b
// label tier=gold) is refused naming the strategy, the stage and both groups, at the field that
// put it there; nothing is stored. A write that moves it into one group, or that changes neither
// labels nor region, is accepted.
TEST_F(AdmissionTest, AMemberRelabelledOrJoiningIntoTwoGroupsIsRefusedNamingThem) {
  auto strategy =
      Apply("rolloutstrategies", "", R"({"apiVersion": "federation.meridian.io/v1alpha1",
      "kind": "RolloutStrategy", "metadata": {"name": "eu-groups"}, "spec": {"stages": [{"name": "eu",
      "groups": [{"name": "a", "selector": {"regions": ["eu-west"]}},
                 {"name": "b", "selector": {"matchLabels": {"tier": "gold"}}}]}]}})");
  ASSERT_TRUE(strategy.ok()) << ::testing::PrintToString(Causes(strategy));
  const auto* members = server_->registry().Find(api::kGroup, api::kVersion, "memberclusters");
  const json before = server_->objects().Get(*members, "", "eu-west-1").value();

  json relabelled = before;
  relabelled["metadata"]["labels"] = {{"tier", "gold"}};
  auto r = server_->objects().Update(*members, "", "eu-west-1", relabelled);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 422);
  EXPECT_EQ(
      Causes(r),
      (std::vector<std::string>{
          "metadata.labels: would put member eu-west-1 in two groups of stage eu of "
          "RolloutStrategy eu-groups: groups[0] (a) and groups[1] (b) both take it; a member "
          "belongs to one group (change its labels or region, or the strategy's group "
          "selectors)"}));
  EXPECT_EQ(server_->objects().Get(*members, "", "eu-west-1").value(), before) << "nothing stored";

  // A new member, labelled gold, in eu-west: refused; nothing stored.
  auto joined = Apply("memberclusters", "", R"({"apiVersion": "federation.meridian.io/v1alpha1",
      "kind": "MemberCluster", "metadata": {"name": "eu-west-2", "labels": {"tier": "gold"}},
      "spec": {"server": "http://127.0.0.1:1/clusters/eu-west-2", "region": "eu-west", "jurisdiction": "eu"}})");
  ASSERT_FALSE(joined.ok());
  ASSERT_EQ(Causes(joined).size(), 1u);
  EXPECT_NE(Causes(joined)[0].find("metadata.labels: would put member eu-west-2 in two groups of "
                                   "stage eu of RolloutStrategy eu-groups"),
            std::string::npos)
      << Causes(joined)[0];
  EXPECT_EQ(server_->objects().Get(*members, "", "eu-west-2").error().code, 404);

  // A gold member moved into eu-west: refused at spec.region.
  auto gold = Apply("memberclusters", "", R"({"apiVersion": "federation.meridian.io/v1alpha1",
      "kind": "MemberCluster", "metadata": {"name": "us-east-1", "labels": {"tier": "gold"}},
      "spec": {"server": "http://127.0.0.1:1/clusters/us-east-1", "region": "us-east", "jurisdiction": "us"}})");
  ASSERT_TRUE(gold.ok()) << ::testing::PrintToString(Causes(gold));  // group b only
  json moved = gold.value();
  moved["spec"]["region"] = "eu-west";
  auto m = server_->objects().Update(*members, "", "us-east-1", moved);
  ASSERT_FALSE(m.ok());
  ASSERT_EQ(Causes(m).size(), 1u);
  EXPECT_EQ(Causes(m)[0].rfind("spec.region: would put member us-east-1 in two groups", 0), 0u)
      << Causes(m)[0];

  // An inline strategy of a PlacementPolicy counts too, named as such.
  const auto* strategies =
      server_->registry().Find(api::kGroup, api::kVersion, "rolloutstrategies");
  ASSERT_TRUE(server_->objects().Delete(*strategies, "", "eu-groups").ok());
  auto policy =
      Apply("placementpolicies", "default", R"({"apiVersion": "federation.meridian.io/v1alpha1",
      "kind": "PlacementPolicy", "metadata": {"name": "web", "namespace": "default"},
      "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
               "rollout": {"strategy": {"stages": [{"name": "eu",
                 "groups": [{"name": "a", "selector": {"regions": ["eu-west"]}},
                            {"name": "b", "selector": {"matchLabels": {"tier": "gold"}}}]}]}}}})");
  ASSERT_TRUE(policy.ok()) << ::testing::PrintToString(Causes(policy));
  auto again = server_->objects().Update(*members, "", "eu-west-1", relabelled);
  ASSERT_FALSE(again.ok());
  ASSERT_EQ(Causes(again).size(), 1u);
  EXPECT_NE(Causes(again)[0].find("of PlacementPolicy default/web (spec.rollout.strategy): "
                                  "groups[0] (a) and groups[1] (b)"),
            std::string::npos)
      << Causes(again)[0];

  // Into one group only, or a change of neither labels nor region: accepted.
  json silver = before;
  silver["metadata"]["labels"] = {{"tier", "silver"}};
  auto ok = server_->objects().Update(*members, "", "eu-west-1", silver);
  EXPECT_TRUE(ok.ok()) << ::testing::PrintToString(Causes(ok));
  json capacity = ok.value();
  capacity["spec"]["capacity"] = {{"replicas", 50}};
  auto ok2 = server_->objects().Update(*members, "", "eu-west-1", capacity);
  EXPECT_TRUE(ok2.ok()) << ::testing::PrintToString(Causes(ok2));
}

class DrillAdmissionTest : public AdmissionTest {
 protected:
  void SetUp() override {
    AdmissionTest::SetUp();
    const auto* topologies = server_->registry().Find(api::kGroup, api::kVersion, "topologies");
    auto topology = server_->objects().Get(*topologies, "", "default").value();
    topology["spec"]["regions"] = json::parse(R"([
      {"name": "eu-west", "jurisdiction": "eu", "zones": ["eu-west-1a", "eu-west-1b"]},
      {"name": "us-east", "jurisdiction": "us", "zones": ["us-east-1a"]},
      {"name": "ap-south", "jurisdiction": "in", "zones": ["ap-south-1a"]}])");
    ASSERT_TRUE(server_->objects().Update(*topologies, "", "default", topology).ok());
    const auto* members = server_->registry().Find(api::kGroup, api::kVersion, "memberclusters");
    auto eu = server_->objects().Get(*members, "", "eu-west-1").value();
    eu["spec"]["zones"] = {"eu-west-1a", "eu-west-1b"};
    ASSERT_TRUE(server_->objects().Update(*members, "", "eu-west-1", eu).ok());
    ASSERT_TRUE(Apply("memberclusters", "",
                      R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "MemberCluster",
      "metadata": {"name": "us-east-1"},
      "spec": {"server": "http://127.0.0.1:1/clusters/us-east-1", "region": "us-east", "zones": ["us-east-1a"], "jurisdiction": "us"}})")
                    .ok());
    ASSERT_TRUE(Apply("federatedworkloads", "default",
                      Workload(R"({"residency": {"jurisdictions": ["eu"]}})"))
                    .ok());
  }

  static std::string Drill(const std::string& name, const std::string& spec,
                           const std::string& annotations = "{}") {
    return R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "FailoverDrill",
      "metadata": {"name": ")" +
           name + R"(", "annotations": )" + annotations + R"(},
      "spec": )" +
           spec + "}";
  }
};

TEST_F(DrillAdmissionTest, RefusesBadDrillsAtCreateNamingTheField) {
  struct Case {
    std::string name, spec, annotations;
    std::vector<std::string> causes;  // how each cause starts; empty: admitted
  };
  const std::vector<Case> cases = {
      {"unknown-region",
       R"({"target": {"region": "mars"}})",
       "{}",
       {"spec.target.region: unknown region \"mars\" (known: ap-south, eu-west, us-east)"}},
      {"region-without-members",
       R"({"target": {"region": "ap-south"}, "mode": "live"})",
       "{}",
       {"spec.target.region: no member cluster is in region \"ap-south\" (members' regions: "
        "eu-west, us-east): the drill would fail nothing"}},
      {"unknown-zone",
       R"({"target": {"zone": "eu-west-1z"}})",
       "{}",
       {"spec.target.zone: unknown zone \"eu-west-1z\" (known: ap-south-1a, eu-west-1a, "
        "eu-west-1b, us-east-1a)"}},
      {"zone-without-members",
       R"({"target": {"zone": "ap-south-1a"}})",
       "{}",
       {"spec.target.zone: no member cluster has zone \"ap-south-1a\" (members' zones: "
        "eu-west-1a, eu-west-1b, us-east-1a): the drill would fail nothing"}},
      {"unknown-cluster",
       R"({"target": {"cluster": "ghost-1"}})",
       "{}",
       {"spec.target.cluster: unknown member cluster \"ghost-1\" (known: eu-west-1, us-east-1)"}},
      {"negative-duration",
       R"({"target": {"region": "us-east"}, "durationSeconds": -5})",
       "{}",
       {"spec.durationSeconds: must be >= 1"}},
      {"failure-simulated",
       R"({"target": {"region": "us-east"}, "failure": "injected"})",
       "{}",
       {"spec.failure: only a live drill fails its target (spec.mode is \"simulate\")"}},
      {"failure-contradicted",
       R"({"target": {"region": "us-east"}, "mode": "live", "failure": "declared", "injectFault": true})",
       "{}",
       {"spec.failure: \"declared\" contradicts spec.injectFault: true"}},
      {"failure-unknown",
       R"({"target": {"region": "us-east"}, "mode": "live", "failure": "imagined"})",
       "{}",
       {"spec.failure: must be one of declared, injected"}},
      {"residency-outage",
       R"({"target": {"region": "eu-west"}, "mode": "live"})",
       "{}",
       {"spec.target: region=eu-west would leave default/web (residency: eu) with no allowed "
        "capacity: 3 replicas placed, 0 after (3 of 3 unplaced: "}},
      {"zone-keeps-room",
       R"({"target": {"zone": "eu-west-1a"}, "mode": "live", "durationSeconds": 60})",
       "{}",
       {}},
      {"residency-outage-acknowledged",
       R"({"target": {"region": "eu-west"}, "mode": "live"})",
       R"({"drills.meridian.io/allow-residency-outage": "true"})",
       {}},
      {"residency-outage-simulated", R"({"target": {"region": "eu-west"}})", "{}", {}},
  };
  const auto* drills = server_->registry().Find(api::kGroup, api::kVersion, "failoverdrills");
  for (const Case& c : cases) {
    auto r = Apply("failoverdrills", "", Drill(c.name, c.spec, c.annotations));
    if (c.causes.empty()) {
      EXPECT_TRUE(r.ok()) << c.name << ": " << ::testing::PrintToString(Causes(r));
      // Cases are independent: an admitted live drill would overlap the next one.
      EXPECT_TRUE(server_->objects().Delete(*drills, "", c.name).ok()) << c.name;
      continue;
    }
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.error().code, 422) << c.name;
    const std::vector<std::string> causes = Causes(r);
    ASSERT_EQ(causes.size(), c.causes.size()) << c.name << ": " << ::testing::PrintToString(causes);
    for (size_t i = 0; i < causes.size(); ++i) {
      EXPECT_TRUE(causes[i].starts_with(c.causes[i])) << c.name << ": " << causes[i];
    }
    if (c.name == "residency-outage") {
      EXPECT_TRUE(
          causes[0].ends_with("annotate the drill drills.meridian.io/allow-residency-outage=true"))
          << causes[0];
    }
    EXPECT_EQ(server_->objects().Get(*drills, "", c.name).error().code, 404) << c.name;
  }
}

TEST_F(DrillAdmissionTest, LiveDrillsThatOverlapALiveDrillNotEndedAreRefused) {
  ASSERT_TRUE(Apply("failoverdrills", "",
                    Drill("first", R"({"target": {"zone": "eu-west-1a"}, "mode": "live"})"))
                  .ok());
  struct Case {
    std::string name, spec;
    bool admitted;
  };
  const std::vector<Case> cases = {
      {"same-zone", R"({"target": {"zone": "eu-west-1a"}, "mode": "live"})", false},
      {"its-cluster", R"({"target": {"cluster": "eu-west-1"}, "mode": "live"})", false},
      {"other-zone", R"({"target": {"zone": "eu-west-1b"}, "mode": "live"})", true},
      {"other-region", R"({"target": {"region": "us-east"}, "mode": "live"})", true},
      {"simulated", R"({"target": {"cluster": "eu-west-1"}})", true},
  };
  for (const Case& c : cases) {
    auto r = Apply("failoverdrills", "", Drill(c.name, c.spec));
    EXPECT_EQ(r.ok(), c.admitted) << c.name << ": " << ::testing::PrintToString(Causes(r));
    if (!c.admitted && !r.ok()) {
      // (its-cluster also takes every allowed replica of default/web: a second cause.)
      const std::vector<std::string> causes = Causes(r);
      EXPECT_TRUE(std::any_of(causes.begin(), causes.end(), [&](const std::string& cause) {
        return cause.starts_with(
            "spec.target: " +
            std::string(c.name == "same-zone" ? "zone=eu-west-1a" : "cluster=eu-west-1") +
            " overlaps live drill first (zone=eu-west-1a, not started)");
      })) << ::testing::PrintToString(causes);
    }
  }
  // Once the first has ended, its target is free again.
  const auto* drills = server_->registry().Find(api::kGroup, api::kVersion, "failoverdrills");
  auto first = server_->objects().Get(*drills, "", "first").value();
  first["status"] = {{"phase", "Completed"}};
  ASSERT_TRUE(server_->objects().Update(*drills, "", "first", first, "status").ok());
  EXPECT_TRUE(Apply("failoverdrills", "",
                    Drill("after", R"({"target": {"zone": "eu-west-1a"}, "mode": "live"})"))
                  .ok());
}

// Issue 23: a live drill on members a rollout is changing now (given the new revision, the
// stage's gates not passed) is refused naming the field and the rollout, unless acknowledged.
TEST_F(DrillAdmissionTest, LiveDrillsOnMembersARolloutIsChangingAreRefusedUnlessAcknowledged) {
  const auto* workloads =
      server_->registry().Find(api::kGroup, api::kVersion, "federatedworkloads");
  auto web = server_->objects().Get(*workloads, "default", "web").value();
  web["status"]["rollout"] = json::parse(R"({"revision": 2, "stableRevision": 1,
      "phase": "Progressing", "stage": 0, "stageName": "canary", "started": ["eu-west-1"],
      "batchStartedAt": "2026-12-05T16:00:00.250Z",
      "members": [{"cluster": "eu-west-1", "revision": 2}, {"cluster": "us-east-1", "revision": 1}]})");
  ASSERT_TRUE(server_->objects().Update(*workloads, "default", "web", web, "status").ok());
  struct Case {
    std::string name, spec, annotations;
    bool admitted;
  };
  const std::vector<Case> cases = {
      {"its-zone", R"({"target": {"zone": "eu-west-1a"}, "mode": "live"})", "{}", false},
      {"acknowledged", R"({"target": {"zone": "eu-west-1b"}, "mode": "live"})",
       R"({"drills.meridian.io/allow-rollout-overlap": "true"})", true},
      {"not-changing", R"({"target": {"region": "us-east"}, "mode": "live"})", "{}", true},
      {"simulated", R"({"target": {"zone": "eu-west-1a"}})", "{}", true},
  };
  for (const Case& c : cases) {
    auto r = Apply("failoverdrills", "", Drill(c.name, c.spec, c.annotations));
    EXPECT_EQ(r.ok(), c.admitted) << c.name << ": " << ::testing::PrintToString(Causes(r));
    if (!c.admitted) {
      EXPECT_EQ(Causes(r),
                std::vector<std::string>{
                    "spec.target: zone=eu-west-1a overlaps the rollout of default/web (revision 2, "
                    "stage canary, Progressing), which is changing eu-west-1; wait until the stage "
                    "passes its gates (fedctl rollout status web), or to run both at once "
                    "annotate the drill drills.meridian.io/allow-rollout-overlap=true"});
    }
  }
  // The canary passed its gates: the rollout changes nothing now (its next stage waits for
  // drills on its own members instead). (The acknowledged drill's other zone does not overlap.)
  web = server_->objects().Get(*workloads, "default", "web").value();
  web["status"]["rollout"]["phase"] = "Waiting";
  web["status"]["rollout"]["gatesPassedAt"] = "2026-12-05T16:01:00.250Z";
  ASSERT_TRUE(server_->objects().Update(*workloads, "default", "web", web, "status").ok());
  auto r = Apply("failoverdrills", "",
                 Drill("after-gates", R"({"target": {"zone": "eu-west-1a"}, "mode": "live"})"));
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(Causes(r));
}

// Issue 14: residency changes are judged against what runs now, with the engine's rule.
class ResidencyAdmissionTest : public AdmissionTest {
 protected:
  void SetUp() override {
    AdmissionTest::SetUp();
    const auto* namespaces = server_->registry().Find("", "v1", "namespaces");
    ASSERT_NE(namespaces, nullptr);
    ASSERT_TRUE(
        server_->objects()
            .Create(
                *namespaces, "",
                json::parse(
                    R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}})"))
            .ok());
    auto us = Apply("memberclusters", "",
                    R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "MemberCluster",
      "metadata": {"name": "us-east-1", "labels": {"tier": "us"}},
      "spec": {"server": "http://127.0.0.1:1/clusters/us-east-1", "region": "us-east", "jurisdiction": "us"}})");
    ASSERT_TRUE(us.ok()) << us.error().message;
  }

  const apimachinery::ResourceInfo& Info(const std::string& plural) {
    return *server_->registry().Find(api::kGroup, api::kVersion, plural);
  }

  static std::string Policy(const std::string& name, const std::string& jurisdictions,
                            const std::string& annotations = "{}") {
    return R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "ResidencyPolicy",
      "metadata": {"name": ")" +
           name + R"(", "annotations": )" + annotations + R"(},
      "spec": {"namespaces": ["payments"], "jurisdictions": )" +
           jurisdictions + "}}";
  }

  // payments/ledger with 12 replicas, running as `placement` says (status.placement).
  void CreateLedger(const json& placement) {
    auto created =
        Apply("federatedworkloads", "payments", R"({"apiVersion": "federation.meridian.io/v1alpha1",
      "kind": "FederatedWorkload", "metadata": {"name": "ledger", "namespace": "payments"},
      "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 12}}}})");
    ASSERT_TRUE(created.ok()) << created.error().message;
    json with_status = created.value();
    with_status["status"] = {{"placement", placement}};
    auto updated = server_->objects().Update(Info("federatedworkloads"), "payments", "ledger",
                                             with_status, "status");
    ASSERT_TRUE(updated.ok()) << updated.error().message;
  }

  bool Stored(const std::string& name) {
    return server_->objects().Get(Info("residencypolicies"), "", name).ok();
  }
};

TEST_F(ResidencyAdmissionTest, APolicyThatLeavesAWorkloadNowhereIsRefusedUnlessAcknowledged) {
  ASSERT_TRUE(Apply("residencypolicies", "", Policy("payments-eu-only", R"(["eu"])")).ok());
  CreateLedger(json::parse(R"([{"cluster": "eu-west-1", "replicas": 12}])"));
  const std::vector<std::string> expected = {
      "spec: ResidencyPolicy \"payments-us-only\" would leave 12 replicas of payments/ledger with "
      "no allowed cluster (allowed by payments-eu-only: eu; by payments-us-only: us; "
      "intersection: none)",
      "metadata.annotations[federation.meridian.io/acknowledge-disruption]: Required value: set it "
      "to \"true\" to apply this change anyway (the replicas above are removed: residency is "
      "hard)"};

  auto refused = Apply("residencypolicies", "", Policy("payments-us-only", R"(["us"])"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 422);
  EXPECT_EQ(Causes(refused), expected);
  EXPECT_FALSE(Stored("payments-us-only")) << "nothing stored";

  // A dry run answers the same and stores nothing, with or without the acknowledgement.
  apimachinery::RequestContext dry;
  dry.dry_run = true;
  auto dry_refused = server_->objects().Create(
      Info("residencypolicies"), "", json::parse(Policy("payments-us-only", R"(["us"])")), dry);
  EXPECT_EQ(Causes(dry_refused), expected);
  const std::string acknowledged =
      Policy("payments-us-only", R"(["us"])",
             R"({"federation.meridian.io/acknowledge-disruption": "true"})");
  EXPECT_TRUE(server_->objects()
                  .Create(Info("residencypolicies"), "", json::parse(acknowledged), dry)
                  .ok());
  EXPECT_FALSE(Stored("payments-us-only"));

  // Acknowledged, it applies (the placement controller then makes the workload Degraded).
  auto applied = Apply("residencypolicies", "", acknowledged);
  ASSERT_TRUE(applied.ok()) << ::testing::PrintToString(Causes(applied));
  EXPECT_TRUE(Stored("payments-us-only"));
}

TEST_F(ResidencyAdmissionTest, NarrowingAPolicyUnderRunningReplicasIsRefusedAndDeletingIsNot) {
  ASSERT_TRUE(Apply("residencypolicies", "", Policy("payments-allowed", R"(["eu", "us"])")).ok());
  CreateLedger(json::parse(
      R"([{"cluster": "eu-west-1", "replicas": 6}, {"cluster": "us-east-1", "replicas": 6}])"));
  json narrowed = server_->objects().Get(Info("residencypolicies"), "", "payments-allowed").value();
  narrowed["spec"]["jurisdictions"] = json::array({"eu"});
  auto refused =
      server_->objects().Update(Info("residencypolicies"), "", "payments-allowed", narrowed);
  ASSERT_FALSE(refused.ok());
  ASSERT_EQ(Causes(refused).size(), 2u);
  EXPECT_EQ(Causes(refused)[0],
            "spec: ResidencyPolicy \"payments-allowed\" would remove 6 running replicas of "
            "payments/ledger from us-east-1 (us) (allowed by payments-allowed: eu; "
            "intersection: eu)");
  EXPECT_EQ(server_->objects()
                .Get(Info("residencypolicies"), "", "payments-allowed")
                .value()["spec"]["jurisdictions"],
            json::array({"eu", "us"}))
      << "nothing stored changed";
  // Widening or deleting only ever allows more: always accepted.
  narrowed["spec"]["jurisdictions"] = json::array({"eu", "us", "uk"});
  ASSERT_TRUE(Apply("topologies", "",
                    R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "Topology",
      "metadata": {"name": "uk"}, "spec": {"regions": [{"name": "uk-south", "jurisdiction": "uk"}]}})")
                  .ok());
  EXPECT_TRUE(
      server_->objects().Update(Info("residencypolicies"), "", "payments-allowed", narrowed).ok());
  EXPECT_TRUE(server_->objects().Delete(Info("residencypolicies"), "", "payments-allowed").ok());
}

TEST_F(ResidencyAdmissionTest, BadPoliciesAreRefusedWithTheFieldNamed) {
  struct Case {
    std::string body;
    std::vector<std::string> causes;
  };
  const std::vector<Case> cases = {
      {Policy("unknown-place", R"(["eu", "mars"])"),
       {"spec.jurisdictions[1]: unknown jurisdiction \"mars\" (known from Topology regions and "
        "MemberClusters: eu, us)"}},
      {R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "ResidencyPolicy",
          "metadata": {"name": "everything"}, "spec": {"workloadSelector": {}, "jurisdictions": ["eu"]}})",
       {"spec.workloadSelector: Required value: an empty selector with no spec.namespaces would "
        "govern every workload of the federation; list spec.namespaces or set "
        "spec.workloadSelector"}},
      {R"({"apiVersion": "federation.meridian.io/v1alpha1", "kind": "ResidencyPolicy",
          "metadata": {"name": "nowhere"}, "spec": {"namespaces": ["payments"], "jurisdictions": []}})",
       {"spec.jurisdictions: must list at least one jurisdiction"}},
  };
  for (const Case& c : cases) {
    auto r = Apply("residencypolicies", "", c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(Causes(r), c.causes) << c.body;
    EXPECT_EQ(server_->objects().List(Info("residencypolicies"), "", {}).value()["items"].size(),
              0u);
  }
}

TEST_F(ResidencyAdmissionTest,
       AWorkloadNamingPlacesOutsideItsJurisdictionsIsRefusedWithTheFieldPath) {
  ASSERT_TRUE(Apply("residencypolicies", "", Policy("payments-eu-only", R"(["eu"])")).ok());
  auto r =
      Apply("federatedworkloads", "payments", R"({"apiVersion": "federation.meridian.io/v1alpha1",
    "kind": "FederatedWorkload", "metadata": {"name": "ledger", "namespace": "payments"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 4}},
             "placement": {"distribution": {"weights": {"us-east": 1, "eu-west": 1},
                                            "clusters": {"us-east-1": {"min": 1}, "eu-west-1": {"max": 4}}},
                           "failover": {"overflow": "ordered", "order": ["eu-west", "us-east-1"]}},
             "overrides": [{"clusterSelector": {"matchLabels": {"tier": "us"}}, "patches": []}]}})");
  ASSERT_FALSE(r.ok());
  const std::string why =
      " is outside the allowed jurisdictions (allowed by payments-eu-only: eu; intersection: eu)";
  EXPECT_EQ(
      Causes(r),
      (std::vector<std::string>{
          "spec.placement.distribution.weights.us-east: region us-east (us)" + why,
          "spec.placement.distribution.clusters.us-east-1: cluster us-east-1 (us)" + why,
          "spec.placement.failover.order[1]: cluster us-east-1 (us)" + why,
          "spec.overrides[0].clusterSelector: selects only clusters us-east-1 (us), outside the "
          "allowed jurisdictions (allowed by payments-eu-only: eu; intersection: eu)"}));
  // Outside the policy's namespaces nothing is residency-bound.
  auto free = Apply("federatedworkloads", "default",
                    Workload(R"({"distribution": {"weights": {"us-east": 1, "eu-west": 1}}})"));
  EXPECT_TRUE(free.ok()) << ::testing::PrintToString(Causes(free));
}

}  // namespace
}  // namespace meridian::apiserver
