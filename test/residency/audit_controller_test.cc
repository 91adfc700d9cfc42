// The residency audit controller against an in-process federation-apiserver with
// FakeMemberClients as members: what members really hold is reported with member and object,
// an unreachable member is unverified (never compliant), a removed object is resolved.
#include "residency/audit_controller.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "api/codec.h"
#include "api/conditions.h"
#include "residency/ledger.h"
#include "sync/propagation.h"
#include "sync/testing/fake_member_client.h"
#include "test/common/in_process_federation.h"

namespace meridian::residency {
namespace {

using nlohmann::json;
using sync::testing::FakeMemberClient;
using sync::testing::Verb;

const sync::GroupVersionResource kDeployments{"apps", "v1", "deployments"};
const sync::GroupVersionResource kStatefulSets{"apps", "v1", "statefulsets"};
const sync::GroupVersionResource kJobs{"batch", "v1", "jobs"};
const sync::GroupVersionResource kPods{"", "v1", "pods"};
const sync::GroupVersionResource kPvcs{"", "v1", "persistentvolumeclaims"};

class ResidencyAuditControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"us-east-1", "us-west-1", "eu-west-1", "eu-central-1", "ap-south-1"}) {
      FakeMemberClient::Options o;
      o.member = name;
      o.timeout = std::chrono::milliseconds(500);
      fakes_[name] = std::make_shared<FakeMemberClient>(o);
    }
    for (const char* file : {"topology.yaml", "members.yaml"}) {
      federation_.ApplyFile(std::string("examples/three-continents/") + file);
    }
    federation_.Apply(json::parse(
        R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}})"));
    federation_.ApplyFile("examples/eu-residency/residency-policy.yaml");
  }

  sync::MemberClientFactory Factory() {
    return [this](const api::MemberCluster& m) -> StatusOr<std::shared_ptr<sync::MemberClient>> {
      auto it = fakes_.find(m.metadata.name);
      if (it == fakes_.end()) return NotFoundError("no fake for " + m.metadata.name);
      return std::shared_ptr<sync::MemberClient>(it->second);
    };
  }

  static json HandMadeDeployment(const std::string& name) {
    return {
        {"apiVersion", "apps/v1"},
        {"kind", "Deployment"},
        {"metadata", {{"name", name}, {"namespace", "payments"}, {"labels", {{"app", "ledger"}}}}},
        {"spec", {{"replicas", 2}}}};
  }

  static json Object(const std::string& api_version, const std::string& kind,
                     const std::string& name, json spec = json::object(),
                     json labels = json::object()) {
    return {{"apiVersion", api_version},
            {"kind", kind},
            {"metadata", {{"name", name}, {"namespace", "payments"}, {"labels", labels}}},
            {"spec", std::move(spec)}};
  }

  // Sets payments-eu-only's spec.enforcement through the API.
  void SetEnforcement(const std::string& mode) {
    const auto& info = federation_.Info(api::kApiVersion, "ResidencyPolicy");
    json p = federation_.objects().Get(info, "", "payments-eu-only").value();
    p["spec"]["enforcement"] = mode;
    auto r = federation_.objects().Update(info, "", "payments-eu-only", p);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  api::ResidencyPolicy Policy() {
    json p = federation_.objects()
                 .Get(federation_.Info(api::kApiVersion, "ResidencyPolicy"), "", "payments-eu-only")
                 .value();
    FieldErrors errors;
    api::ResidencyPolicy decoded = api::DecodeResidencyPolicy(p, &errors);
    EXPECT_TRUE(errors.empty()) << p.dump();
    return decoded;
  }

  // The data of every evidence entry of `type`.
  std::vector<json> Evidence(const std::string& type) {
    auto list =
        federation_.objects().List(federation_.Info(api::kApiVersion, "ResidencyEvidence"), "", {});
    EXPECT_TRUE(list.ok());
    std::vector<json> out;
    for (const json& o : list.value()["items"]) {
      if (o["spec"].value("type", "") == type) out.push_back(o["spec"]["data"]);
    }
    return out;
  }

  int Writes(const std::string& member) {
    return fakes_[member]->CallCount(Verb::kMergePatch) + fakes_[member]->CallCount(Verb::kDelete) +
           fakes_[member]->CallCount(Verb::kUpdate) + fakes_[member]->CallCount(Verb::kCreate);
  }

  // The Events of `reason` about ResidencyPolicy payments-eu-only (cluster-scoped: "default").
  std::vector<std::string> PolicyEvents(const std::string& reason) {
    auto list = federation_.objects().List(
        federation_.Info("v1", "Event"), "default",
        {.field_selector = "reason=" + reason + ",involvedObject.name=payments-eu-only"});
    EXPECT_TRUE(list.ok());
    std::vector<std::string> out;
    for (const json& e : list.value()["items"]) out.push_back(e.value("message", ""));
    std::sort(out.begin(), out.end());
    return out;
  }

  test_env::InProcessFederation federation_{"residency-audit"};
  std::map<std::string, std::shared_ptr<FakeMemberClient>> fakes_;
};

TEST_F(ResidencyAuditControllerTest, ReportsViolationsUnverifiedMembersAndResolutions) {
  fakes_["us-east-1"]->Apply(kDeployments, HandMadeDeployment("rogue"));
  fakes_["eu-west-1"]->Apply(kDeployments, HandMadeDeployment("ledger"));
  fakes_["ap-south-1"]->FailEverything(UnavailableError("connection refused"));
  auto controller = std::make_unique<ResidencyAuditController>(
      federation_.objects(), federation_.clock(), Factory(), ResidencyAuditController::Options{});
  StatusOr<AuditResult> r = controller->ScanOnce();
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->violations.size(), 1u);
  const std::string violation =
      "member us-east-1 (us) holds Deployment payments/rogue (allowed by payments-eu-only: eu; "
      "intersection: eu)";
  EXPECT_EQ(r->violations[0].Describe(), violation);
  ASSERT_EQ(r->unverified.size(), 1u);
  EXPECT_EQ(r->unverified[0].rfind("ap-south-1: ", 0), 0u) << r->unverified[0];
  EXPECT_EQ(r->members_verified, 4);
  // A second scan that finds the same adds no Event (repeats are not news).
  ASSERT_TRUE(controller->ScanOnce().ok());

  fakes_["us-east-1"]->Remove(kDeployments, "payments", "rogue");
  r = controller->ScanOnce();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->violations.empty());
  controller.reset();  // the recorder writes what is queued
  EXPECT_EQ(PolicyEvents("ResidencyViolation"), std::vector<std::string>{violation});
  EXPECT_EQ(PolicyEvents("ResidencyViolationResolved"),
            std::vector<std::string>{"gone: " + violation});
  ASSERT_EQ(PolicyEvents("ResidencyUnverified").size(), 1u);
  EXPECT_NE(PolicyEvents("ResidencyUnverified")[0].find("member ap-south-1: "), std::string::npos);
}

TEST_F(ResidencyAuditControllerTest, AViolationInAnUnverifiedMemberStaysOpen) {
  fakes_["us-east-1"]->Apply(kDeployments, HandMadeDeployment("rogue"));
  ResidencyAuditController controller(federation_.objects(), federation_.clock(), Factory(),
                                      ResidencyAuditController::Options{});
  ASSERT_EQ(controller.ScanOnce().value().violations.size(), 1u);
  fakes_["us-east-1"]->FailEverything(UnavailableError("connection refused"));
  StatusOr<AuditResult> r = controller.ScanOnce();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->violations.empty()) << "nothing seen this scan";
  EXPECT_EQ(r->members_verified, 4);
  fakes_["us-east-1"]->ClearFailures();
  EXPECT_EQ(controller.ScanOnce().value().violations.size(), 1u);
}

// The running controller reports a hand-made Deployment within 5 s (it scans every interval).
TEST_F(ResidencyAuditControllerTest, RunningControllerReportsWithinFiveSeconds) {
  ResidencyAuditController controller(federation_.objects(), federation_.clock(), Factory(),
                                      ResidencyAuditController::Options{});
  ASSERT_TRUE(controller.Start().ok());
  const auto start = std::chrono::steady_clock::now();
  fakes_["us-west-1"]->Apply(kDeployments, HandMadeDeployment("by-hand"));
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    for (const ResidencyViolation& v : controller.Last().violations) {
      seen = seen || (v.member == "us-west-1" && v.object.name == "by-hand");
    }
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(seen) << "not reported within 5 s";
  controller.Stop();
}

// enforcement: remove (issue 14): what runs in a disallowed member is stopped (scaled to zero,
// suspended, a bare Pod deleted), data is never touched, what is already at zero is not
// rewritten, and each action is an Event and an evidence entry.
TEST_F(ResidencyAuditControllerTest, EnforcementRemoveScalesViolatorsToZeroAndDoesNotFight) {
  SetEnforcement("remove");
  const json managed = {{sync::kManagedByLabel, sync::kManagedByValue},
                        {sync::kWorkloadLabel, "payments.ledger"},
                        {"app", "ledger"}};
  auto& us = *fakes_["us-east-1"];
  us.Apply(kDeployments,
           Object("apps/v1", "Deployment", "rogue", {{"replicas", 2}}, {{"app", "ledger"}}));
  us.Apply(kDeployments, Object("apps/v1", "Deployment", "ledger", {{"replicas", 4}}, managed));
  us.Apply(kDeployments, Object("apps/v1", "Deployment", "idle", {{"replicas", 0}}));
  us.Apply(kStatefulSets, Object("apps/v1", "StatefulSet", "db", {{"replicas", 1}}));
  us.Apply(kJobs, Object("batch/v1", "Job", "batch"));
  us.Apply(kPods, Object("v1", "Pod", "debug"));
  json owned = Object("v1", "Pod", "rogue-7d9f");
  owned["metadata"]["ownerReferences"] = {{{"kind", "ReplicaSet"}, {"name", "rogue-7d9"}}};
  us.Apply(kPods, owned);
  us.Apply(kPvcs, Object("v1", "PersistentVolumeClaim", "data-db-0"));
  fakes_["eu-west-1"]->Apply(kDeployments, Object("apps/v1", "Deployment", "fine",
                                                  {{"replicas", 2}}, {{"app", "ledger"}}));

  auto controller = std::make_unique<ResidencyAuditController>(
      federation_.objects(), federation_.clock(), Factory(), ResidencyAuditController::Options{});
  StatusOr<AuditResult> r = controller->ScanOnce();
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string where = " in member us-east-1 (us)";
  const std::string by = " (payments-eu-only: enforcement: remove)";
  const std::vector<std::string> enforced = {
      "scaled Deployment payments/ledger" + where + " from 4 to 0 replicas" + by,
      "scaled Deployment payments/rogue" + where + " from 2 to 0 replicas" + by,
      "scaled StatefulSet payments/db" + where + " from 1 to 0 replicas" + by,
      "suspended Job payments/batch" + where + by, "deleted Pod payments/debug" + where + by};
  std::vector<std::string> got = r->enforced;
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()),
            std::set<std::string>(enforced.begin(), enforced.end()));
  EXPECT_EQ(us.Object(kDeployments, "payments", "rogue").value()["spec"]["replicas"], 0);
  EXPECT_EQ(us.Object(kDeployments, "payments", "ledger").value()["spec"]["replicas"], 0);
  EXPECT_EQ(us.Object(kStatefulSets, "payments", "db").value()["spec"]["replicas"], 0);
  EXPECT_EQ(us.Object(kJobs, "payments", "batch").value()["spec"]["suspend"], true);
  EXPECT_FALSE(us.Object(kPods, "payments", "debug").has_value());
  EXPECT_TRUE(us.Object(kPods, "payments", "rogue-7d9f").has_value()) << "its owner is scaled";
  EXPECT_TRUE(us.Object(kPvcs, "payments", "data-db-0").has_value()) << "data is never deleted";
  EXPECT_EQ(us.CallCount(Verb::kMergePatch), 4) << "the Deployment already at 0 is not rewritten";
  EXPECT_EQ(us.CallCount(Verb::kDelete), 1);
  EXPECT_EQ(Writes("eu-west-1"), 0) << "an allowed member is never written";

  // The next scans find everything held at zero (the Pod gone): no write at all.
  us.ClearCalls();
  r = controller->ScanOnce();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->enforced.empty());
  ASSERT_TRUE(controller->ScanOnce().ok());
  EXPECT_EQ(Writes("us-east-1"), 0) << "does not fight";

  // Scaled up again by hand: enforced again.
  json again = us.Object(kDeployments, "payments", "rogue").value();
  again["spec"]["replicas"] = 3;
  us.Apply(kDeployments, again);
  r = controller->ScanOnce();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->enforced, std::vector<std::string>{"scaled Deployment payments/rogue" + where +
                                                  " from 3 to 0 replicas" + by});

  // Status: what is open (the PVC and the objects at zero still are) and what is held at zero.
  api::ResidencyPolicy p = Policy();
  EXPECT_EQ(p.status.violations, 6);  // rogue, ledger, idle, db, batch, data-db-0
  EXPECT_EQ(p.status.enforced, 5);
  const api::Condition* c = api::FindCondition(p.status.conditions, "Compliant");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, "False");
  EXPECT_EQ(c->reason, "ResidencyViolations");

  // Evidence and Events name each action; the PVC is said once to be left alone.
  std::vector<json> evidence = Evidence("Enforcement");
  std::multiset<std::string> actions;
  for (const json& e : evidence) actions.insert(e.value("action", "") + " " + e.value("name", ""));
  EXPECT_EQ(actions,
            (std::multiset<std::string>{"ScaledToZero rogue", "ScaledToZero rogue",
                                        "ScaledToZero ledger", "ScaledToZero db", "Suspended batch",
                                        "Deleted debug", "NotEnforceable data-db-0"}));
  for (const json& e : evidence) {
    EXPECT_EQ(e.value("member", ""), "us-east-1");
    EXPECT_EQ(e.value("policy", ""), "payments-eu-only");
  }
  controller.reset();  // the recorder writes what is queued
  std::vector<std::string> events = PolicyEvents("ResidencyEnforced");
  EXPECT_NE(std::find(events.begin(), events.end(), enforced[1]), events.end())
      << ::testing::PrintToString(events);
  EXPECT_EQ(PolicyEvents("ResidencyNotEnforced").size(), 1u);
}

// Under `report` (the default) the audit writes nothing to members; the policy's Compliant
// condition follows what the scans find, and is written only when it changes.
TEST_F(ResidencyAuditControllerTest, PolicyStatusFollowsTheAuditAndReportWritesNothing) {
  fakes_["us-east-1"]->Apply(kDeployments, HandMadeDeployment("rogue"));
  ResidencyAuditController controller(federation_.objects(), federation_.clock(), Factory(),
                                      ResidencyAuditController::Options{});
  ASSERT_TRUE(controller.ScanOnce().ok());
  EXPECT_EQ(Writes("us-east-1"), 0);
  api::ResidencyPolicy p = Policy();
  const api::Condition* c = api::FindCondition(p.status.conditions, "Compliant");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, "False");
  EXPECT_NE(c->message.find("member us-east-1 (us) holds Deployment payments/rogue"),
            std::string::npos)
      << c->message;
  EXPECT_EQ(p.status.violations, 1);
  EXPECT_EQ(p.status.enforced, 0);
  EXPECT_EQ(p.status.unverified_members, 0);
  // Unchanged: not rewritten.
  ASSERT_TRUE(controller.ScanOnce().ok());
  EXPECT_EQ(Policy().metadata.resource_version, p.metadata.resource_version);

  fakes_["us-east-1"]->Remove(kDeployments, "payments", "rogue");
  federation_.clock().Advance(std::chrono::seconds(10));
  ASSERT_TRUE(controller.ScanOnce().ok());
  p = Policy();
  c = api::FindCondition(p.status.conditions, "Compliant");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, "True");
  EXPECT_EQ(c->reason, "NoViolations");
  EXPECT_EQ(p.status.violations, 0);

  fakes_["ap-south-1"]->FailEverything(UnavailableError("connection refused"));
  ASSERT_TRUE(controller.ScanOnce().ok());
  p = Policy();
  c = api::FindCondition(p.status.conditions, "Compliant");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, "Unknown") << "an unverified member is never compliant";
  EXPECT_EQ(c->reason, "MembersUnverified");
  EXPECT_EQ(c->message,
            "no violation seen, but 1 member(s) could not be audited (unverified, not "
            "compliant): ap-south-1");
  EXPECT_EQ(p.status.unverified_members, 1);
}

TEST_F(ResidencyAuditControllerTest, EnforcementMustBeReportOrRemove) {
  const auto& info = federation_.Info(api::kApiVersion, "ResidencyPolicy");
  json before = federation_.objects().Get(info, "", "payments-eu-only").value();
  json p = before;
  p["spec"]["enforcement"] = "delete";
  auto r = federation_.objects().Update(info, "", "payments-eu-only", p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("spec.enforcement"), std::string::npos) << r.error().message;
  EXPECT_EQ(federation_.objects().Get(info, "", "payments-eu-only").value(), before);
}

// The running controller scales a Deployment made by hand in a US member to zero within 5 s.
TEST_F(ResidencyAuditControllerTest, RunningControllerEnforcesWithinFiveSeconds) {
  SetEnforcement("remove");
  ResidencyAuditController controller(federation_.objects(), federation_.clock(), Factory(),
                                      ResidencyAuditController::Options{});
  ASSERT_TRUE(controller.Start().ok());
  const auto start = std::chrono::steady_clock::now();
  fakes_["us-west-1"]->Apply(kDeployments, HandMadeDeployment("by-hand"));
  bool zero = false;
  while (!zero && std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    auto o = fakes_["us-west-1"]->Object(kDeployments, "payments", "by-hand");
    zero = o && (*o)["spec"]["replicas"] == 0;
    if (!zero) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(zero) << "not scaled to zero within 5 s";
  controller.Stop();
}

}  // namespace
}  // namespace meridian::residency
