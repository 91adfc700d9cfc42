// The residency audit's pure core (residency/audit.h): which member objects break
// residency, with the rule placement uses, and members that could not be listed are never
// counted as compliant.
#include "residency/audit.h"

#include <gtest/gtest.h>

#include "sync/propagation.h"

namespace meridian::residency {
namespace {

using nlohmann::json;

const sync::GroupVersionResource kDeployments{"apps", "v1", "deployments"};
const sync::GroupVersionResource kPods{"", "v1", "pods"};
const sync::GroupVersionResource kPvcs{"", "v1", "persistentvolumeclaims"};

std::shared_ptr<const placement::World> Fleet() {
  std::vector<placement::ClusterState> clusters(3);
  clusters[0].name = "eu-west-1";
  clusters[0].region = "eu-west";
  clusters[1].name = "us-east-1";
  clusters[1].region = "us-east";
  clusters[2].name = "ap-south-1";
  clusters[2].region = "ap-south";
  placement::TopologySpec topology;
  topology.regions = {
      {"eu-west", "eu", {}, {}}, {"us-east", "us", {}, {}}, {"ap-south", "in", {}, {}}};
  return placement::World::Build(std::move(clusters), topology).value();
}

api::ResidencyPolicy EuOnly() {
  api::ResidencyPolicy p;
  p.metadata.name = "payments-eu-only";
  p.spec.namespaces = {"payments"};
  p.spec.jurisdictions = {"eu"};
  return p;
}

// default/crm: not in a policy's namespace, bound by its own residency.
api::FederatedWorkload Crm() {
  api::FederatedWorkload w;
  w.metadata.ns = "default";
  w.metadata.name = "crm";
  w.spec.placement.residency = placement::ResidencySpec{{"eu"}};
  return w;
}

MemberObject Object(const sync::GroupVersionResource& gvr, const std::string& kind,
                    const std::string& ns, const std::string& name,
                    std::map<std::string, std::string> labels = {}, bool owned = false) {
  return {gvr, kind, ns, name, std::move(labels), owned};
}

TEST(ResidencyAuditTest, ObjectsInDisallowedMembersAreReportedWithMemberAndObject) {
  const std::map<std::string, std::string> crm_labels = {
      {sync::kManagedByLabel, sync::kManagedByValue}, {sync::kWorkloadLabel, "default.crm"}};
  std::vector<MemberInventory> inventories = {
      {"eu-west-1",
       true,
       "",
       {Object(kDeployments, "Deployment", "payments", "ledger"),
        Object(kDeployments, "Deployment", "default", "crm", crm_labels)}},
      {"us-east-1",
       true,
       "",
       {Object(kDeployments, "Deployment", "payments", "rogue", {{"app", "ledger"}}),
        Object(kDeployments, "Deployment", "shop", "web"),
        Object(kPods, "Pod", "payments", "rogue-7d9f", {}, /*owned=*/true),
        Object(kPods, "Pod", "payments", "debug"),
        Object(kPvcs, "PersistentVolumeClaim", "payments", "data-ledger-0"),
        Object(kDeployments, "Deployment", "default", "crm", crm_labels)}},
      {"ap-south-1", false, "connection refused", {}},
      {"ghost-1", true, "", {Object(kDeployments, "Deployment", "payments", "x")}},
  };
  AuditResult r = AuditResidency(inventories, *Fleet(), {EuOnly()}, {Crm()});
  std::vector<std::string> described;
  for (const ResidencyViolation& v : r.violations) described.push_back(v.Describe());
  const std::string eu = " (allowed by payments-eu-only: eu; intersection: eu)";
  EXPECT_EQ(
      described,
      (std::vector<std::string>{
          "member us-east-1 (us) holds Deployment payments/rogue" + eu,
          "member us-east-1 (us) holds Pod payments/debug" + eu,
          "member us-east-1 (us) holds PersistentVolumeClaim payments/data-ledger-0" + eu,
          "member us-east-1 (us) holds Deployment default/crm of workload default/crm (allowed by "
          "the workload: eu; intersection: eu)"}));
  ASSERT_FALSE(r.violations.empty());
  EXPECT_EQ(r.violations[0].Key(), "us-east-1/apps/deployments/payments/rogue");
  EXPECT_EQ(r.violations[0].policies, std::vector<std::string>{"payments-eu-only"});
  EXPECT_EQ(r.unverified, (std::vector<std::string>{"ap-south-1: connection refused",
                                                    "ghost-1: not a member the fleet knows"}));
  EXPECT_EQ(r.members_verified, 2) << "an unreachable member is never counted as compliant";
  EXPECT_EQ(r.objects_seen, 8);
}

TEST(ResidencyAuditTest, AWorkloadSelectorLimitsWhatAPolicyGoverns) {
  api::ResidencyPolicy ledger_only = EuOnly();
  ledger_only.spec.workload_selector.match_labels = {{"app", "ledger"}};
  std::vector<MemberInventory> inventories = {
      {"us-east-1",
       true,
       "",
       {Object(kDeployments, "Deployment", "payments", "rogue", {{"app", "ledger"}}),
        Object(kDeployments, "Deployment", "payments", "docs", {{"app", "docs"}})}}};
  AuditResult r = AuditResidency(inventories, *Fleet(), {ledger_only}, {});
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].object.name, "rogue");
  EXPECT_EQ(AuditedNamespaces({ledger_only, EuOnly()}), std::vector<std::string>{"payments"});
}

TEST(ResidencyAuditTest, MemberObjectFromReadsKindNamespaceLabelsAndOwners) {
  MemberObject o = MemberObjectFrom(kPods, json::parse(R"({"kind": "Pod",
    "metadata": {"name": "p", "namespace": "payments", "labels": {"app": "ledger", "n": 1},
                 "ownerReferences": [{"kind": "ReplicaSet", "name": "rs"}]}})"));
  EXPECT_EQ(o, Object(kPods, "Pod", "payments", "p", {{"app", "ledger"}}, true));
  EXPECT_EQ(MemberObjectFrom(kPods, json::object()), Object(kPods, "", "", ""));
}

}  // namespace
}  // namespace meridian::residency
