// The residency audit controller against an in-process federation-apiserver with
// FakeMemberClients as members: what members really hold is reported with member and object,
// an unreachable member is unverified (never compliant), a removed object is resolved.
#include "residency/audit_controller.h"

#include <gtest/gtest.h>

#include <thread>

#include "sync/testing/fake_member_client.h"
#include "test/common/in_process_federation.h"

namespace meridian::residency {
namespace {

using nlohmann::json;
using sync::testing::FakeMemberClient;

const sync::GroupVersionResource kDeployments{"apps", "v1", "deployments"};

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

}  // namespace
}  // namespace meridian::residency
