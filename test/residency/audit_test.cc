// The residency audit's pure core (residency/audit.h): which member objects break
// residency, with the rule placement uses, and members that could not be listed are never
// counted as compliant.
#include "residency/audit.h"

#include <gtest/gtest.h>

#include "placement/residency.h"
#include "residency/enforcement.h"
#include "residency/policy.h"
#include "sync/propagation.h"

namespace meridian::residency {
namespace {

using nlohmann::json;

const sync::GroupVersionResource kDeployments{"apps", "v1", "deployments"};
const sync::GroupVersionResource kPods{"", "v1", "pods"};
const sync::GroupVersionResource kPvcs{"", "v1", "persistentvolumeclaims"};
const sync::GroupVersionResource kStatefulSets{"apps", "v1", "statefulsets"};
const sync::GroupVersionResource kReplicaSets{"apps", "v1", "replicasets"};
const sync::GroupVersionResource kDaemonSets{"apps", "v1", "daemonsets"};
const sync::GroupVersionResource kJobs{"batch", "v1", "jobs"};
const sync::GroupVersionResource kSecrets{"", "v1", "secrets"};
const sync::GroupVersionResource kConfigMaps{"", "v1", "configmaps"};

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

// A scan works out what governs each workload and each namespace once (residency/audit.cc);
// the answer must be the one worked out per object, with selectors in some namespaces and a
// policy over every namespace.
TEST(ResidencyAuditTest, ScanAgreesWithRulesWorkedOutPerObject) {
  api::ResidencyPolicy web_in_us;
  web_in_us.metadata.name = "shop-web-us";
  web_in_us.spec.namespaces = {"shop"};
  web_in_us.spec.jurisdictions = {"us"};
  web_in_us.spec.workload_selector.match_labels = {{"app", "web"}};
  api::ResidencyPolicy anywhere_not_in;  // every namespace, by label
  anywhere_not_in.metadata.name = "tier-data-eu-us";
  anywhere_not_in.spec.jurisdictions = {"eu", "us"};
  anywhere_not_in.spec.workload_selector.match_labels = {{"tier", "data"}};
  const std::vector<api::ResidencyPolicy> policies = {EuOnly(), web_in_us, anywhere_not_in};
  api::FederatedWorkload web;
  web.metadata.ns = "shop";
  web.metadata.name = "web";
  web.metadata.labels = {{"app", "web"}};
  const std::vector<api::FederatedWorkload> workloads = {Crm(), web};
  const std::vector<std::map<std::string, std::string>> label_sets = {
      {},
      {{"app", "web"}},
      {{"app", "docs"}},
      {{"tier", "data"}},
      {{"app", "web"}, {"tier", "data"}},
      {{sync::kManagedByLabel, sync::kManagedByValue}, {sync::kWorkloadLabel, "default.crm"}},
      {{sync::kManagedByLabel, sync::kManagedByValue}, {sync::kWorkloadLabel, "shop.web"}},
  };
  std::vector<MemberInventory> inventories;
  for (const char* member : {"eu-west-1", "us-east-1", "ap-south-1"}) {
    MemberInventory inv{member, true, "", {}};
    int i = 0;
    for (const char* ns : {"payments", "shop", "default"}) {
      for (const auto& labels : label_sets) {
        inv.objects.push_back(
            Object(kDeployments, "Deployment", ns, "d" + std::to_string(i++), labels));
      }
    }
    inventories.push_back(std::move(inv));
  }
  AuditResult r = AuditResidency(inventories, *Fleet(), policies, workloads);
  // The same, object by object.
  std::vector<std::string> want;
  for (const MemberInventory& inv : inventories) {
    const uint32_t index = *Fleet()->FindCluster(inv.member);
    for (const MemberObject& o : inv.objects) {
      const api::FederatedWorkload* w = nullptr;
      auto label = o.labels.find(sync::kWorkloadLabel);
      for (const api::FederatedWorkload& candidate : workloads) {
        if (label != o.labels.end() && label->second == sync::WorkloadLabelValue(candidate)) {
          w = &candidate;
        }
      }
      const placement::PlacementPolicy own = w ? w->spec.placement : placement::PlacementPolicy{};
      const auto rules =
          w ? ResidencyRulesFor(*w, policies) : ResidencyRulesForObject(o.ns, o.labels, policies);
      if (!placement::ClusterAllowed(*Fleet(), index,
                                     placement::AllowedJurisdictionsFor(own, rules))) {
        want.push_back(inv.member + "/" + o.ns + "/" + o.name + " " +
                       placement::DescribeAllowed(own, rules));
      }
    }
  }
  std::vector<std::string> got;
  for (const ResidencyViolation& v : r.violations) {
    got.push_back(v.member + "/" + v.object.ns + "/" + v.object.name + " " + v.allowed);
  }
  EXPECT_EQ(got, want);
  EXPECT_GT(want.size(), 10u);
}

TEST(ResidencyAuditTest, MemberObjectFromReadsKindNamespaceLabelsAndOwners) {
  MemberObject o = MemberObjectFrom(kPods, json::parse(R"({"kind": "Pod",
    "metadata": {"name": "p", "namespace": "payments", "labels": {"app": "ledger", "n": 1},
                 "ownerReferences": [{"kind": "ReplicaSet", "name": "rs"}]}})"));
  EXPECT_EQ(o, Object(kPods, "Pod", "payments", "p", {{"app", "ledger"}}, true));
  EXPECT_EQ(MemberObjectFrom(kPods, json::object()), Object(kPods, "", "", ""));
}

// A member may answer with anything: wrong types are read as absent, never thrown.
TEST(ResidencyAuditTest, MemberObjectFromToleratesMalformedObjects) {
  EXPECT_EQ(MemberObjectFrom(kPods, json::parse(R"({"kind": 7, "metadata": {"name": ["p"],
    "namespace": null, "labels": {"app": "ledger"}}, "spec": "x"})")),
            Object(kPods, "", "", "", {{"app", "ledger"}}));
  EXPECT_EQ(MemberObjectFrom(kPods, json::parse(R"({"kind": "Pod", "metadata": "p"})")),
            Object(kPods, "Pod", "", ""));
  EXPECT_EQ(MemberObjectFrom(kPods, json::array()), Object(kPods, "", "", ""));
  EXPECT_EQ(MemberObjectFrom(kPods, json("pod")), Object(kPods, "", "", ""));
}

TEST(ResidencyAuditTest, MemberObjectFromReadsWhatEnforcementNeeds) {
  MemberObject o = MemberObjectFrom(kJobs, json::parse(R"({"kind": "Job",
    "metadata": {"name": "j", "namespace": "payments", "uid": "u-1", "resourceVersion": "42"},
    "spec": {"replicas": 3, "suspend": true}})"));
  EXPECT_EQ(o.uid, "u-1");
  EXPECT_EQ(o.resource_version, "42");
  EXPECT_EQ(o.replicas, 3);
  EXPECT_TRUE(o.suspended);
  // Wrong types are read as absent, not thrown.
  o = MemberObjectFrom(kDeployments, json::parse(R"({"metadata": {"uid": 7},
    "spec": {"replicas": "2", "suspend": "yes"}})"));
  EXPECT_EQ(o.uid, "");
  EXPECT_FALSE(o.replicas.has_value());
  EXPECT_FALSE(o.suspended);
}

TEST(ResidencyAuditTest, OwnedReplicaSetsAreTheirDeploymentsBusiness) {
  std::vector<MemberInventory> inventories = {
      {"us-east-1",
       true,
       "",
       {Object(kReplicaSets, "ReplicaSet", "payments", "rogue-7d9f", {}, /*owned=*/true),
        Object(kReplicaSets, "ReplicaSet", "payments", "bare")}}};
  AuditResult r = AuditResidency(inventories, *Fleet(), {EuOnly()}, {});
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].object.name, "bare");
}

// enforcement: remove stops what runs (scale to zero, suspend, delete a bare Pod), never
// touches data, leaves what is already at zero alone, and does nothing under `report`.
TEST(ResidencyEnforcementTest, PlanPerKind) {
  api::ResidencyPolicy remove = EuOnly();
  remove.spec.enforcement = "remove";
  auto with = [](MemberObject o, std::optional<int64_t> replicas, bool suspended = false) {
    o.replicas = replicas;
    o.suspended = suspended;
    o.resource_version = "7";
    o.uid = "uid-1";
    return o;
  };
  struct Case {
    MemberObject object;
    EnforcementAction action;
    std::string patch;  // dumped, or ""
    std::string described;
  };
  const std::string where = " in member us-east-1 (us)";
  const std::string by = " (payments-eu-only: enforcement: remove)";
  const std::vector<Case> cases = {
      {with(Object(kDeployments, "Deployment", "payments", "rogue"), 2),
       EnforcementAction::kScaleToZero,
       R"({"metadata":{"resourceVersion":"7"},"spec":{"replicas":0}})",
       "scaled Deployment payments/rogue" + where + " from 2 to 0 replicas" + by},
      {with(Object(kDeployments, "Deployment", "payments", "implicit"), std::nullopt),
       EnforcementAction::kScaleToZero,
       R"({"metadata":{"resourceVersion":"7"},"spec":{"replicas":0}})",
       "scaled Deployment payments/implicit" + where + " from 1 to 0 replicas" + by},
      {with(Object(kStatefulSets, "StatefulSet", "payments", "db"), 3),
       EnforcementAction::kScaleToZero,
       R"({"metadata":{"resourceVersion":"7"},"spec":{"replicas":0}})",
       "scaled StatefulSet payments/db" + where + " from 3 to 0 replicas" + by},
      {with(Object(kReplicaSets, "ReplicaSet", "payments", "rs"), 1),
       EnforcementAction::kScaleToZero,
       R"({"metadata":{"resourceVersion":"7"},"spec":{"replicas":0}})",
       "scaled ReplicaSet payments/rs" + where + " from 1 to 0 replicas" + by},
      {with(Object(kDeployments, "Deployment", "payments", "idle"), 0), EnforcementAction::kNone,
       "", "left Deployment payments/idle" + where + ": already at 0 replicas"},
      {with(Object(kJobs, "Job", "payments", "batch"), std::nullopt), EnforcementAction::kSuspend,
       R"({"metadata":{"resourceVersion":"7"},"spec":{"suspend":true}})",
       "suspended Job payments/batch" + where + by},
      {with(Object(kJobs, "Job", "payments", "held"), std::nullopt, true), EnforcementAction::kNone,
       "", "left Job payments/held" + where + ": already suspended"},
      {with(Object(kPods, "Pod", "payments", "debug"), std::nullopt), EnforcementAction::kDelete,
       "", "deleted Pod payments/debug" + where + by},
      {with(Object(kPvcs, "PersistentVolumeClaim", "payments", "data"), std::nullopt),
       EnforcementAction::kNotEnforceable, "",
       "not removing PersistentVolumeClaim payments/data" + where +
           ": data (persistentvolumeclaims) is never deleted by enforcement; remove it by hand" +
           by},
      {with(Object(kSecrets, "Secret", "payments", "s"), std::nullopt),
       EnforcementAction::kNotEnforceable, "",
       "not removing Secret payments/s" + where +
           ": data (secrets) is never deleted by enforcement; remove it by hand" + by},
      {with(Object(kConfigMaps, "ConfigMap", "payments", "c"), std::nullopt),
       EnforcementAction::kNotEnforceable, "",
       "not removing ConfigMap payments/c" + where +
           ": data (configmaps) is never deleted by enforcement; remove it by hand" + by},
      {with(Object(kDaemonSets, "DaemonSet", "payments", "agent"), std::nullopt),
       EnforcementAction::kNotEnforceable, "",
       "not removing DaemonSet payments/agent" + where +
           ": a DaemonSet has no replica count to set to 0; remove it by hand" + by},
  };
  for (const Case& c : cases) {
    ResidencyViolation v;
    v.member = "us-east-1";
    v.jurisdiction = "us";
    v.object = c.object;
    v.policies = {"payments-eu-only"};
    SCOPED_TRACE(c.object.name);
    EnforcementPlan plan = PlanEnforcement(v, {remove});
    EXPECT_EQ(plan.action, c.action);
    EXPECT_EQ(plan.patch.is_null() ? "" : plan.patch.dump(), c.patch);
    EXPECT_EQ(DescribeEnforcement(v, plan), c.described);
    // Under report (the default) nothing is ever done.
    EXPECT_EQ(PlanEnforcement(v, {EuOnly()}).action, EnforcementAction::kNone);
  }
}

TEST(ResidencyEnforcementTest, AnyGoverningPolicyThatSaysRemoveEnforces) {
  api::ResidencyPolicy remove = EuOnly();
  remove.metadata.name = "strict";
  remove.spec.enforcement = "remove";
  ResidencyViolation v;
  v.member = "us-east-1";
  v.object = Object(kDeployments, "Deployment", "payments", "rogue");
  v.policies = {"payments-eu-only", "strict"};
  EnforcementPlan plan = PlanEnforcement(v, {EuOnly(), remove});
  EXPECT_EQ(plan.action, EnforcementAction::kScaleToZero);
  EXPECT_EQ(plan.policy, "strict");
  EXPECT_EQ(plan.patch, json::parse(R"({"spec": {"replicas": 0}})")) << "no CAS without a version";
  // A policy that says remove but does not govern the object changes nothing.
  v.policies = {"payments-eu-only"};
  EXPECT_EQ(PlanEnforcement(v, {EuOnly(), remove}).action, EnforcementAction::kNone);
  EXPECT_TRUE(HeldAtZero([] {
    MemberObject o = Object(kDeployments, "Deployment", "payments", "x");
    o.replicas = 0;
    return o;
  }()));
  EXPECT_FALSE(HeldAtZero(Object(kDeployments, "Deployment", "payments", "x")));
  EXPECT_FALSE(HeldAtZero(Object(kPvcs, "PersistentVolumeClaim", "payments", "x")));
}

}  // namespace
}  // namespace meridian::residency
