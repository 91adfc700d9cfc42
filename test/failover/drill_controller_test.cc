// The FailoverDrill controller against an in-process federation-apiserver: the phase machine
// (Pending -> Running -> Completed | Aborted | Failed), the abort condition and abort on
// request, fault injection and healing (a fake injector), the report, and simulate mode
// changing nothing. Time is a FakeClock; passes are driven by hand (ReconcileAll), so no
// placement or propagation controller runs: the tests write workload status themselves.
#include "failover/drill_controller.h"

#include <gtest/gtest.h>

#include <functional>
#include <mutex>

#include "api/codec.h"
#include "api/typed_list.h"
#include "common/log_fields.h"
#include "scheduling/placement_controller.h"
#include "sync/propagation.h"
#include "sync/testing/fake_member_client.h"
#include "test/common/in_process_federation.h"
#include "test/common/log_capture.h"

namespace meridian::failover {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class FakeInjector final : public FaultInjector {
 public:
  Status Inject(const api::DrillTarget& target, const std::vector<api::MemberCluster>&) override {
    std::lock_guard lock(mu);
    calls.push_back("inject " + DescribeTarget(target));
    return inject_result;
  }
  Status Heal(const api::DrillTarget& target, const std::vector<api::MemberCluster>&) override {
    std::lock_guard lock(mu);
    calls.push_back("heal " + DescribeTarget(target));
    return heal_result;
  }
  std::mutex mu;
  std::vector<std::string> calls;
  Status inject_result;
  Status heal_result;
};

json Member(const std::string& name, const std::string& region, const std::vector<std::string>& zones) {
  return {{"apiVersion", "federation.meridian.io/v1alpha1"},
          {"kind", "MemberCluster"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"server", "http://127.0.0.1:1/clusters/" + name},
            {"region", region},
            {"zones", zones},
            {"jurisdiction", "eu"}}}};
}

class DrillControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fed_.Apply(Member("eu-west-1", "eu-west", {"eu-west-1a", "eu-west-1b"}));
    fed_.Apply(Member("eu-central-1", "eu-central", {"eu-central-1a"}));
    fed_.Apply({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}});
    fed_.Apply({{"apiVersion", "federation.meridian.io/v1alpha1"},
                {"kind", "FederatedWorkload"},
                {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
                {"spec",
                 {{"template",
                   {{"apiVersion", "apps/v1"},
                    {"kind", "Deployment"},
                    {"metadata", {{"name", "web"}}},
                    {"spec", {{"replicas", 10}}}}},
                  {"placement",
                   {{"residency", {{"jurisdictions", {"eu"}}}},
                    {"distribution", {{"weights", {{"eu-west", 1}, {"eu-central", 1}}}}}}}}}});
    // As placement and propagation would have it: 5 + 5, all ready.
    SetWorkload({{"eu-west-1", 5, 5}, {"eu-central-1", 5, 5}});
  }

  struct Line {
    std::string cluster;
    int64_t placed, ready;
  };
  void SetWorkload(const std::vector<Line>& lines) {
    const auto& info = fed_.Info("federation.meridian.io/v1alpha1", "FederatedWorkload");
    auto current = fed_.objects().Get(info, "shop", "web");
    ASSERT_TRUE(current.ok());
    json w = current.value();
    json placement = json::array(), clusters = json::array();
    int64_t ready = 0;
    for (const Line& l : lines) {
      if (l.placed > 0) {
        json p = {{"cluster", l.cluster}, {"replicas", l.placed}};
        if (l.cluster == "eu-west-1") p["zones"] = {{"eu-west-1a", l.placed - l.placed / 2}, {"eu-west-1b", l.placed / 2}};
        placement.push_back(p);
      }
      clusters.push_back({{"cluster", l.cluster}, {"readyReplicas", l.ready}, {"synced", true}});
      ready += l.ready;
    }
    w["status"] = {{"placement", placement}, {"clusters", clusters}, {"readyReplicas", ready}, {"desiredReplicas", 10}};
    auto r = fed_.objects().Update(info, "shop", "web", w, "status");
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  void CreateDrill(const std::string& name, json spec) {
    fed_.Apply({{"apiVersion", "federation.meridian.io/v1alpha1"},
                {"kind", "FailoverDrill"},
                {"metadata", {{"name", name}}},
                {"spec", std::move(spec)}});
  }

  json Drill(const std::string& name) {
    auto r = fed_.objects().Get(fed_.Info("federation.meridian.io/v1alpha1", "FailoverDrill"), "", name);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : json();
  }
  std::string Phase(const std::string& name) { return Drill(name)["status"].value("phase", ""); }

  int Pass() {
    auto written = controller_.ReconcileAll();
    EXPECT_TRUE(written.ok()) << written.status();
    return written.ok() ? *written : -1;
  }

  json WorkloadStatus() {
    auto r = fed_.objects().Get(fed_.Info("federation.meridian.io/v1alpha1", "FederatedWorkload"), "shop", "web");
    return r.value()["status"];
  }

  test_env::InProcessFederation fed_{"drill-controller"};
  std::shared_ptr<FakeInjector> injector_ = std::make_shared<FakeInjector>();
  DrillController controller_{fed_.objects(), fed_.clock(), injector_, {.sample_interval = 1000ms}};
};

TEST_F(DrillControllerTest, LiveDrillAbortsWhenAvailabilityFallsAndHealsTheFault) {
  CreateDrill("zone-a", {{"target", {{"zone", "eu-west-1a"}}},
                         {"mode", "live"},
                         {"durationSeconds", 60},
                         {"abortConditions", {{"minAvailabilityPercent", 90}}},
                         {"injectFault", true},
                         {"observeReturnSeconds", 0}});
  EXPECT_EQ(Pass(), 1);
  EXPECT_EQ(Phase("zone-a"), "Pending");
  EXPECT_TRUE(injector_->calls.empty());

  EXPECT_EQ(Pass(), 1);
  json d = Drill("zone-a");
  EXPECT_EQ(d["status"]["phase"], "Running");
  EXPECT_EQ(injector_->calls, (std::vector<std::string>{"inject zone=eu-west-1a"}));
  EXPECT_EQ(d["status"]["report"]["timeline"].size(), 1u);
  EXPECT_EQ(d["status"]["report"]["faultInjected"], true);
  EXPECT_EQ(d["status"]["report"]["workloads"][0]["onTarget"], 3);

  // Nothing is due before the sample interval: no write, no call.
  fed_.clock().Advance(500ms);
  EXPECT_EQ(Pass(), 0);

  // Zone a's 3 replicas are gone: 7 of 10 ready is below 90%.
  SetWorkload({{"eu-west-1", 5, 2}, {"eu-central-1", 5, 5}});
  fed_.clock().Advance(500ms);
  EXPECT_EQ(Pass(), 1);
  d = Drill("zone-a");
  EXPECT_EQ(d["status"]["phase"], "Aborted");
  EXPECT_FALSE(d["status"].value("completionTime", "").empty());
  const json& report = d["status"]["report"];
  EXPECT_EQ(report["abortConditionFired"], true);
  EXPECT_NE(report["abortReason"].get<std::string>().find("70%"), std::string::npos) << report["abortReason"];
  EXPECT_EQ(report["events"]["abortedMs"], 1000);
  EXPECT_EQ(report["events"]["restoredMs"], 1000);
  EXPECT_EQ(report["faultHealed"], true);
  EXPECT_EQ(report["lowestReady"], 7);
  EXPECT_EQ(report["timeline"].size(), 2u);
  EXPECT_EQ(report["timeline"][1]["readyByRegion"]["eu-west"], 2);
  EXPECT_EQ(report["residencyViolations"], 0);
  EXPECT_EQ(injector_->calls,
            (std::vector<std::string>{"inject zone=eu-west-1a", "heal zone=eu-west-1a"}));
  EXPECT_EQ(report["returnObservation"], "off");

  // Ended, and the return is not watched: later passes change nothing and call nothing.
  fed_.clock().Advance(5s);
  EXPECT_EQ(Pass(), 0);
  EXPECT_EQ(injector_->calls.size(), 2u);
}

// What a drill does is logged once, at the default level, with its fields (the controller
// records no Event, so there is no second line to collide with).
TEST_F(DrillControllerTest, EachStepIsOneStructuredLogLine) {
  test_env::LogCapture log(spdlog::level::info);
  CreateDrill("zone-a", {{"target", {{"zone", "eu-west-1a"}}},
                         {"mode", "live"},
                         {"durationSeconds", 60},
                         {"injectFault", true},
                         {"observeReturnSeconds", 0}});
  EXPECT_EQ(Pass(), 1);
  EXPECT_EQ(Pass(), 1);
  ASSERT_EQ(Phase("zone-a"), "Running");
  const std::string sep(1, kLogFieldSeparator);
  for (const std::string reason : {"Pending", "FaultInjected", "Running"}) {
    EXPECT_EQ(log.Count({sep + "controller=drill-controller", sep + "kind=FailoverDrill",
                         sep + "object=zone-a", sep + "reason=" + reason}),
              1)
        << reason << " in " << ::testing::PrintToString(log.Lines());
  }
  EXPECT_EQ(log.Count({"injected fault for"}), 1);
  EXPECT_EQ(log.Count({"-> Running"}), 1);
}

TEST_F(DrillControllerTest, LiveDrillCompletesAfterItsDurationWithMilestones) {
  CreateDrill("region", {{"target", {{"region", "eu-west"}}}, {"mode", "live"}, {"durationSeconds", 3}});
  Pass();
  Pass();
  ASSERT_EQ(Phase("region"), "Running");
  EXPECT_TRUE(injector_->calls.empty());  // no injectFault: placement alone treats it failed

  fed_.clock().Advance(1s);  // placement has moved everything to eu-central; not ready yet
  SetWorkload({{"eu-west-1", 0, 5}, {"eu-central-1", 10, 5}});
  EXPECT_EQ(Pass(), 1);
  fed_.clock().Advance(1s);
  SetWorkload({{"eu-west-1", 0, 0}, {"eu-central-1", 10, 10}});
  EXPECT_EQ(Pass(), 1);
  EXPECT_EQ(Phase("region"), "Running");
  fed_.clock().Advance(1s);
  EXPECT_EQ(Pass(), 1);
  json d = Drill("region");
  EXPECT_EQ(d["status"]["phase"], "Completed");
  const json& r = d["status"]["report"];
  EXPECT_EQ(r["timeToDetectSeconds"], 1.0);
  EXPECT_EQ(r["timeToReplaceSeconds"], 1.0);
  EXPECT_EQ(r["timeToFullReadySeconds"], 2.0);
  EXPECT_EQ(r["abortConditionFired"], false);
  EXPECT_EQ(r["replicasMovedPerRegion"], (json{{"eu-central", 5}, {"eu-west", -5}}));
  EXPECT_EQ(r["events"]["restoredMs"], 3000);
  EXPECT_EQ(r["timeline"].size(), 4u);
  EXPECT_TRUE(injector_->calls.empty());
}

// An injected drill only observes: placement is not told (scheduling::LiveDrillTargets leaves it
// out), and the time to detect is when the health monitor marked the member unreachable
// (Reachable's lastTransitionTime), not when the drill happened to sample.
TEST_F(DrillControllerTest, InjectedDrillIsDetectedAtTheHealthTransition) {
  CreateDrill("inj", {{"target", {{"cluster", "eu-west-1"}}},
                      {"mode", "live"},
                      {"failure", "injected"},
                      {"durationSeconds", 10}});
  json d = Drill("inj");
  EXPECT_EQ(d["spec"]["failure"], "injected");
  Pass();
  Pass();
  d = Drill("inj");
  ASSERT_EQ(d["status"]["phase"], "Running");
  EXPECT_EQ(d["status"]["report"]["failure"], "injected");
  EXPECT_EQ(injector_->calls, (std::vector<std::string>{"inject cluster=eu-west-1"}));
  FieldErrors errors;
  EXPECT_TRUE(scheduling::LiveDrillTargets({api::DecodeFailoverDrill(d, &errors)}).empty());
  const Timestamp start = fed_.clock().Now();

  // Nothing seen yet; a sample at 1 s does not detect (an injected drill waits for health).
  fed_.clock().Advance(1s);
  Pass();
  EXPECT_TRUE(Drill("inj")["status"]["report"]["events"]["detectedMs"].is_null());

  // The health monitor marks it unreachable at 2.3 s (written to the second); the drill
  // samples next at 4 s, and reports the transition (as closely as the second allows), not
  // its sample.
  const auto& members = fed_.Info("federation.meridian.io/v1alpha1", "MemberCluster");
  json m = fed_.objects().Get(members, "", "eu-west-1").value();
  const std::string at = FormatRfc3339(start + 2300ms);
  m["status"] = {{"conditions", json::array({{{"type", "Reachable"},
                                              {"status", "False"},
                                              {"reason", "ProbeFailed"},
                                              {"lastTransitionTime", at}}})}};
  ASSERT_TRUE(fed_.objects().Update(members, "", "eu-west-1", m, "status").ok());
  fed_.clock().Advance(3s);
  Pass();
  Timestamp written;
  ASSERT_TRUE(ParseRfc3339(at, &written));
  // Written to the second: somewhere in [written, written + 1 s), after the 1 s sample and
  // before the 4 s one; the report gives the middle of that interval.
  const int64_t since =
      std::chrono::duration_cast<std::chrono::milliseconds>(written - start).count();
  const int64_t lo = std::max<int64_t>(since, 1000), hi = std::min<int64_t>(since + 999, 4000);
  const int64_t want = lo + (hi - lo) / 2;
  json r = Drill("inj")["status"]["report"];
  EXPECT_EQ(r["events"]["detectedMs"], want) << r.dump();
  EXPECT_LT(want, 4000);
  EXPECT_LE(std::abs(want - 2300), 500);
}

TEST_F(DrillControllerTest, AbortOnRequestRestoresAtOnce) {
  CreateDrill("cl", {{"target", {{"cluster", "eu-west-1"}}}, {"mode", "live"}, {"injectFault", true}});
  Pass();
  Pass();
  ASSERT_EQ(Phase("cl"), "Running");
  json d = Drill("cl");
  d["metadata"]["annotations"][kAbortAnnotation] = "true";
  auto r = fed_.objects().Update(fed_.Info("federation.meridian.io/v1alpha1", "FailoverDrill"), "", "cl", d);
  ASSERT_TRUE(r.ok()) << r.error().message;
  fed_.clock().Advance(200ms);  // an abort does not wait for the sample interval
  EXPECT_EQ(Pass(), 1);
  d = Drill("cl");
  EXPECT_EQ(d["status"]["phase"], "Aborted");
  EXPECT_EQ(d["status"]["report"]["abortReason"], "requested");
  EXPECT_EQ(d["status"]["report"]["abortConditionFired"], false);
  EXPECT_EQ(d["status"]["report"]["events"]["restoredMs"], 200);
  EXPECT_EQ(injector_->calls, (std::vector<std::string>{"inject cluster=eu-west-1", "heal cluster=eu-west-1"}));
}

TEST_F(DrillControllerTest, FailedInjectionFailsTheDrillAndHealIsRetriedUntilItWorks) {
  injector_->inject_result = UnavailableError("membersim down");
  injector_->heal_result = UnavailableError("still down");
  CreateDrill("bad", {{"target", {{"zone", "eu-west-1a"}}}, {"mode", "live"}, {"injectFault", true}});
  Pass();
  EXPECT_EQ(Pass(), 1);
  json d = Drill("bad");
  EXPECT_EQ(d["status"]["phase"], "Failed");
  EXPECT_NE(d["status"]["message"].get<std::string>().find("membersim down"), std::string::npos);
  EXPECT_EQ(d["status"]["report"]["faultHealed"], false);

  // The heal is tried once per interval and the failure is shown.
  Pass();
  EXPECT_EQ(injector_->calls.back(), "heal zone=eu-west-1a");
  EXPECT_NE(Drill("bad")["status"]["message"].get<std::string>().find("still down"), std::string::npos);
  const size_t calls = injector_->calls.size();
  Pass();
  EXPECT_EQ(injector_->calls.size(), calls);  // within the interval: not again
  injector_->heal_result = Status::Ok();
  fed_.clock().Advance(1s);
  Pass();
  d = Drill("bad");
  EXPECT_EQ(d["status"]["phase"], "Failed");
  EXPECT_EQ(d["status"]["report"]["faultHealed"], true);
  EXPECT_NE(d["status"]["message"].get<std::string>().find("fault healed"), std::string::npos);
  fed_.clock().Advance(1s);
  const size_t done = injector_->calls.size();
  EXPECT_EQ(Pass(), 0);
  EXPECT_EQ(injector_->calls.size(), done);
}

TEST_F(DrillControllerTest, DeletingADrillHealsItsFaultBeforeItGoes) {
  CreateDrill("gone", {{"target", {{"zone", "eu-west-1a"}}}, {"mode", "live"}, {"injectFault", true}});
  Pass();
  EXPECT_EQ(Drill("gone")["metadata"]["finalizers"], json::array({kHealFinalizer}));
  Pass();
  ASSERT_EQ(Phase("gone"), "Running");
  const auto& info = fed_.Info("federation.meridian.io/v1alpha1", "FailoverDrill");
  ASSERT_TRUE(fed_.objects().Delete(info, "", "gone").ok());
  ASSERT_TRUE(fed_.objects().Get(info, "", "gone").ok());  // held by the finalizer

  injector_->heal_result = UnavailableError("membersim down");
  Pass();
  EXPECT_EQ(injector_->calls, (std::vector<std::string>{"inject zone=eu-west-1a", "heal zone=eu-west-1a"}));
  EXPECT_TRUE(fed_.objects().Get(info, "", "gone").ok());
  Pass();  // within the interval: no second attempt
  EXPECT_EQ(injector_->calls.size(), 2u);

  injector_->heal_result = Status::Ok();
  fed_.clock().Advance(1s);
  Pass();
  EXPECT_EQ(injector_->calls.size(), 3u);
  auto after = fed_.objects().Get(info, "", "gone");
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, 404);
}

TEST_F(DrillControllerTest, DrillsWithoutAFaultHoldNoFinalizer) {
  CreateDrill("plain", {{"target", {{"zone", "eu-west-1a"}}}, {"mode", "live"}});
  Pass();
  Pass();
  EXPECT_EQ(Phase("plain"), "Running");
  EXPECT_FALSE(Drill("plain")["metadata"].contains("finalizers"));
  const auto& info = fed_.Info("federation.meridian.io/v1alpha1", "FailoverDrill");
  ASSERT_TRUE(fed_.objects().Delete(info, "", "plain").ok());
  EXPECT_EQ(fed_.objects().Get(info, "", "plain").error().code, 404);
  EXPECT_EQ(Pass(), 0);
}

TEST_F(DrillControllerTest, UnknownTargetIsRefusedAtCreateAndFailsIfItsMemberGoesLater) {
  // Admission refuses a target no member has (federation-apiserver/admission.h).
  const auto& drills = fed_.Info("federation.meridian.io/v1alpha1", "FailoverDrill");
  auto refused = fed_.objects().Create(
      drills, "",
      json{{"apiVersion", "federation.meridian.io/v1alpha1"},
           {"kind", "FailoverDrill"},
           {"metadata", {{"name", "nowhere"}}},
           {"spec", {{"target", {{"zone", "ap-south-1a"}}}, {"mode", "live"}}}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 422);
  ASSERT_EQ(refused.error().causes.size(), 1u);
  EXPECT_EQ(refused.error().causes[0].field, "spec.target.zone");
  // A member removed after the create: the controller fails the drill, naming the field.
  CreateDrill("gone", {{"target", {{"cluster", "eu-central-1"}}}, {"mode", "live"}});
  const auto& members = fed_.Info("federation.meridian.io/v1alpha1", "MemberCluster");
  ASSERT_TRUE(fed_.objects().Delete(members, "", "eu-central-1").ok());
  Pass();
  Pass();
  json d = Drill("gone");
  EXPECT_EQ(d["status"]["phase"], "Failed");
  EXPECT_NE(d["status"]["message"].get<std::string>().find("spec.target.cluster"),
            std::string::npos);
  EXPECT_TRUE(injector_->calls.empty());
}

TEST_F(DrillControllerTest, ARestartedControllerContinuesARunningDrill) {
  CreateDrill("long", {{"target", {{"zone", "eu-west-1a"}}}, {"mode", "live"}, {"durationSeconds", 2}});
  Pass();
  Pass();
  fed_.clock().Advance(1s);
  Pass();
  DrillController restarted(fed_.objects(), fed_.clock(), injector_, {.sample_interval = 1000ms});
  fed_.clock().Advance(1s);
  ASSERT_TRUE(restarted.ReconcileAll().ok());
  json d = Drill("long");
  EXPECT_EQ(d["status"]["phase"], "Completed");
  EXPECT_EQ(d["status"]["report"]["timeline"].size(), 3u);
}

// After the restore the phase is final at once, and the controller goes on sampling until
// the replicas are back on the target and ready; a restarted controller continues.
TEST_F(DrillControllerTest, TheReturnIsWatchedAfterTheRestoreWithoutHoldingThePhase) {
  CreateDrill("back", {{"target", {{"region", "eu-west"}}}, {"mode", "live"}, {"durationSeconds", 2}});
  Pass();
  Pass();
  fed_.clock().Advance(1s);
  SetWorkload({{"eu-west-1", 0, 0}, {"eu-central-1", 10, 10}});
  Pass();
  fed_.clock().Advance(1s);
  EXPECT_EQ(Pass(), 1);
  json d = Drill("back");
  ASSERT_EQ(d["status"]["phase"], "Completed");
  EXPECT_EQ(d["status"]["report"]["events"]["restoredMs"], 2000);
  EXPECT_EQ(d["status"]["report"]["returnObservation"], "watching");
  EXPECT_EQ(d["status"]["report"]["returnObservedUntilMs"], 602'000);
  EXPECT_EQ(d["status"]["report"]["returned"], false);
  EXPECT_EQ(d["status"]["report"]["timeline"].size(), 3u);
  auto decoded = [&] {
    FieldErrors errors;
    return api::DecodeFailoverDrill(Drill("back"), &errors);
  };
  EXPECT_TRUE(DrillNeedsWork(decoded()));

  fed_.clock().Advance(500ms);  // not an interval yet
  EXPECT_EQ(Pass(), 0);
  // Placement holds the recovering region back for its recovery delay: nothing back yet.
  fed_.clock().Advance(500ms);
  EXPECT_EQ(Pass(), 1);
  d = Drill("back");
  EXPECT_EQ(d["status"]["phase"], "Completed");
  EXPECT_EQ(d["status"]["report"]["timeline"].size(), 4u);
  EXPECT_EQ(d["status"]["report"]["timeline"][3]["atMs"], 3000);
  EXPECT_EQ(d["status"]["report"]["returnProgress"], (json{{"want", 5}, {"placed", 0}, {"ready", 0}, {"before", 5}}));

  // The return starts: eu-west-1 is placed 5 again, 2 ready. A restarted controller samples it.
  SetWorkload({{"eu-west-1", 5, 2}, {"eu-central-1", 5, 8}});
  fed_.clock().Advance(1s);
  DrillController restarted(fed_.objects(), fed_.clock(), injector_, {.sample_interval = 1000ms});
  ASSERT_TRUE(restarted.ReconcileAll().ok());
  d = Drill("back");
  EXPECT_EQ(d["status"]["report"]["returnObservation"], "watching");
  EXPECT_EQ(d["status"]["report"]["returnProgress"], (json{{"want", 5}, {"placed", 5}, {"ready", 2}, {"before", 5}}));
  EXPECT_EQ(d["status"]["report"]["timeline"][4]["readyByRegion"]["eu-west"], 2);

  SetWorkload({{"eu-west-1", 5, 5}, {"eu-central-1", 5, 5}});
  fed_.clock().Advance(1s);
  ASSERT_TRUE(restarted.ReconcileAll().ok());
  d = Drill("back");
  const json& r = d["status"]["report"];
  EXPECT_EQ(d["status"]["phase"], "Completed");
  EXPECT_EQ(r["returnObservation"], "returned");
  EXPECT_EQ(r["returned"], true);
  EXPECT_EQ(r["events"]["returnedMs"], 5000);
  EXPECT_EQ(r["timeToReturnSeconds"], 3.0);
  EXPECT_EQ(r["timeToFullReadySeconds"], 1.0);  // the failure's milestones are untouched
  EXPECT_EQ(r["replicasMovedPerRegion"], (json{{"eu-central", 5}, {"eu-west", -5}}));
  EXPECT_FALSE(DrillNeedsWork(decoded()));
  fed_.clock().Advance(5s);
  EXPECT_EQ(Pass(), 0);
  EXPECT_TRUE(injector_->calls.empty());
}

TEST_F(DrillControllerTest, WatchingTheReturnEndsAtObserveReturnSeconds) {
  CreateDrill("slow", {{"target", {{"cluster", "eu-west-1"}}}, {"mode", "live"}, {"durationSeconds", 1},
                       {"observeReturnSeconds", 2}});
  Pass();
  Pass();
  SetWorkload({{"eu-west-1", 0, 0}, {"eu-central-1", 10, 10}});
  fed_.clock().Advance(1s);
  Pass();
  ASSERT_EQ(Phase("slow"), "Completed");
  fed_.clock().Advance(1s);
  EXPECT_EQ(Pass(), 1);
  EXPECT_EQ(Drill("slow")["status"]["report"]["returnObservation"], "watching");
  fed_.clock().Advance(1s);  // 2 s after the restore at 1 s
  EXPECT_EQ(Pass(), 1);
  const json r = Drill("slow")["status"]["report"];
  EXPECT_EQ(r["returnObservation"], "notReturned");
  EXPECT_EQ(r["returned"], false);
  EXPECT_EQ(r["returnProgress"], (json{{"want", 5}, {"placed", 0}, {"ready", 0}, {"before", 5}}));
  EXPECT_EQ(r["timeline"].back()["atMs"], 3000);
  fed_.clock().Advance(5s);
  EXPECT_EQ(Pass(), 0);
}

// A heal that keeps failing and the return are both handled after the end: the heal is
// retried once per interval, the return sampled once per interval, in one status write.
TEST_F(DrillControllerTest, HealRetriesAndReturnSamplesShareThePassesAfterTheEnd) {
  CreateDrill("both", {{"target", {{"zone", "eu-west-1a"}}}, {"mode", "live"}, {"durationSeconds", 1},
                       {"injectFault", true}});
  Pass();
  Pass();
  SetWorkload({{"eu-west-1", 0, 0}, {"eu-central-1", 10, 10}});
  injector_->heal_result = UnavailableError("membersim down");
  fed_.clock().Advance(1s);
  EXPECT_EQ(Pass(), 1);
  json d = Drill("both");
  ASSERT_EQ(d["status"]["phase"], "Completed");
  EXPECT_EQ(d["status"]["report"]["faultHealed"], false);
  EXPECT_EQ(d["status"]["report"]["returnObservation"], "watching");
  EXPECT_EQ(injector_->calls.size(), 2u);  // inject, heal (failed)

  fed_.clock().Advance(1s);
  EXPECT_EQ(Pass(), 1);
  EXPECT_EQ(injector_->calls.size(), 3u);
  EXPECT_EQ(Drill("both")["status"]["report"]["timeline"].size(), 3u);
  EXPECT_EQ(Pass(), 0);  // within the interval: neither again
  EXPECT_EQ(injector_->calls.size(), 3u);

  EXPECT_EQ(Drill("both")["status"]["report"]["returnObservation"], "watching");

  injector_->heal_result = Status::Ok();
  SetWorkload({{"eu-west-1", 5, 5}, {"eu-central-1", 5, 5}});
  fed_.clock().Advance(1s);
  EXPECT_EQ(Pass(), 1);
  d = Drill("both");
  EXPECT_EQ(d["status"]["report"]["faultHealed"], true);
  EXPECT_EQ(d["status"]["report"]["returnObservation"], "returned");
  EXPECT_EQ(d["status"]["report"]["events"]["returnedMs"], 3000);
  EXPECT_EQ(injector_->calls.size(), 4u);
  fed_.clock().Advance(5s);
  EXPECT_EQ(Pass(), 0);
}

TEST_F(DrillControllerTest, SimulateReportsWhatWouldMoveAndChangesNothing) {
  const json before = WorkloadStatus();
  CreateDrill("sim", {{"target", {{"region", "eu-west"}}}, {"mode", "simulate"}});
  Pass();
  EXPECT_EQ(Pass(), 1);
  json d = Drill("sim");
  EXPECT_EQ(d["status"]["phase"], "Completed") << d["status"].dump();
  const json& r = d["status"]["report"];
  EXPECT_EQ(r["mode"], "simulate");
  ASSERT_EQ(r["workloads"].size(), 1u) << r.dump();
  EXPECT_EQ(r["workloads"][0]["workload"], "shop/web");
  EXPECT_EQ(r["workloads"][0]["before"], (json{{"eu-central-1", 5}, {"eu-west-1", 5}}));
  EXPECT_EQ(r["workloads"][0]["after"], (json{{"eu-central-1", 10}}));
  EXPECT_EQ(r["replicasMovedPerRegion"], (json{{"eu-central", 5}, {"eu-west", -5}}));
  EXPECT_EQ(r["residencyViolations"], 0);
  EXPECT_EQ(r["unplaced"], json::array());
  EXPECT_TRUE(injector_->calls.empty());
  EXPECT_EQ(WorkloadStatus(), before);
}

// A zone target counts the replicas that zone hints put in the zone, the same in the three
// places that answer "what does losing eu-west-1a do": scheduling::WhatIf (fedctl what-if), a
// simulated drill and a live (declared) drill, on the examples' fleet with the placement
// controller's own answer for payments/ledger.
TEST(ZoneDrillAgreement, WhatIfSimulateAndLiveDrillCountTheZonesReplicas) {
  test_env::InProcessFederation fed("drill-zone");
  fed.ApplyFile("examples/three-continents/topology.yaml");
  fed.ApplyFile("examples/three-continents/members.yaml");
  fed.ApplyFile("examples/eu-residency/residency-policy.yaml");
  fed.ApplyFile("examples/eu-residency/workload.yaml");
  scheduling::PlacementController placement(fed.objects(), fed.clock());
  ASSERT_TRUE(placement.ReconcileAll().ok());
  const auto& workloads = fed.Info("federation.meridian.io/v1alpha1", "FederatedWorkload");
  auto ledger = [&] {
    FieldErrors errors;
    return api::DecodeFederatedWorkload(fed.objects().Get(workloads, "payments", "ledger").value(),
                                        &errors);
  };
  auto members = [&] {
    return api::ListDecoded(fed.objects(), "memberclusters", api::DecodeMemberCluster, "test")
        .value();
  };
  api::DrillTarget zone;
  zone.zone = "eu-west-1a";
  // The placement's own zone hint: what every answer must agree with.
  const int64_t placed_in_zone = ReplicasOnTarget(zone, ledger().status.placement, members());
  ASSERT_GT(placed_in_zone, 0) << api::Encode(ledger())["status"].dump();

  // what-if
  scheduling::PlacementInputs inputs;
  inputs.members = members();
  inputs.topologies =
      api::ListDecoded(fed.objects(), "topologies", api::DecodeTopology, "test").value();
  inputs.policies =
      api::ListDecoded(fed.objects(), "residencypolicies", api::DecodeResidencyPolicy, "test")
          .value();
  inputs.workloads = {ledger()};
  const api::DrillTarget failures[] = {zone};
  auto answer = scheduling::WhatIf(inputs, failures, fed.clock().Now());
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_EQ(answer->affected.size(), 1u);
  EXPECT_EQ(answer->affected[0].on_target, placed_in_zone);

  // simulate
  DrillController controller(fed.objects(), fed.clock(), nullptr);
  auto create = [&](const std::string& name, const std::string& mode) {
    fed.Apply({{"apiVersion", "federation.meridian.io/v1alpha1"},
               {"kind", "FailoverDrill"},
               {"metadata", {{"name", name}}},
               {"spec",
                {{"target", {{"zone", "eu-west-1a"}}}, {"mode", mode}, {"durationSeconds", 30}}}});
  };
  auto report = [&](const std::string& name) {
    return fed.objects()
        .Get(fed.Info("federation.meridian.io/v1alpha1", "FailoverDrill"), "", name)
        .value()["status"]["report"];
  };
  create("sim", "simulate");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  json sim = report("sim");
  ASSERT_EQ(sim["workloads"].size(), 1u) << sim.dump();
  EXPECT_EQ(sim["workloads"][0]["workload"], "payments/ledger");
  EXPECT_EQ(sim["workloads"][0]["onTarget"], placed_in_zone);
  EXPECT_EQ(sim["replicasOnTarget"], placed_in_zone);
  EXPECT_EQ(sim["workloads"][0]["zones"]["eu-west-1"]["before"]["eu-west-1a"], placed_in_zone);
  EXPECT_FALSE(sim["workloads"][0]["zones"]["eu-west-1"]["after"].contains("eu-west-1a"));

  // live (declared): the placement controller treats the zone as failed while it runs.
  create("live", "live");
  ASSERT_TRUE(controller.ReconcileAll().ok());
  ASSERT_TRUE(controller.ReconcileAll().ok());
  json live = report("live");
  ASSERT_EQ(live["workloads"].size(), 1u) << live.dump();
  EXPECT_EQ(live["workloads"][0]["workload"], "payments/ledger");
  EXPECT_EQ(live["workloads"][0]["onTarget"], placed_in_zone);
  ASSERT_TRUE(placement.ReconcileAll().ok());
  EXPECT_EQ(ReplicasOnTarget(zone, ledger().status.placement, members()), 0)
      << api::Encode(ledger())["status"].dump();
  fed.clock().Advance(std::chrono::seconds(1));
  ASSERT_TRUE(controller.ReconcileAll().ok());
  live = report("live");
  EXPECT_EQ(live["timeline"].back()["onTarget"], 0) << live.dump();
  EXPECT_TRUE(live["events"]["replacedMs"].is_number()) << live.dump();
}

TEST(DrillStep, PhaseMachineWithoutAnApiServer) {
  api::FailoverDrill drill;
  drill.metadata.name = "d";
  drill.spec.target.cluster = "c1";
  drill.spec.mode = "live";
  drill.spec.duration_seconds = 1;
  Fleet fleet;
  api::MemberCluster m;
  m.metadata.name = "c1";
  m.spec.region = "r1";
  fleet.members = {m};
  const Timestamp t0 = FakeClock().Now();

  DrillStep s = NextDrillStep(drill, fleet, t0, 1000ms);
  EXPECT_EQ(s.status.phase, "Pending");
  drill.status = s.status;
  s = NextDrillStep(drill, fleet, t0, 1000ms);
  EXPECT_EQ(s.status.phase, "Running");
  EXPECT_EQ(s.fault, FaultAction::kNone);
  drill.status = s.status;
  EXPECT_TRUE(DrillNeedsWork(drill));
  s = NextDrillStep(drill, fleet, t0 + 999ms, 1000ms);
  EXPECT_EQ(s.status, drill.status);  // nothing due
  s = NextDrillStep(drill, fleet, t0 + 1000ms, 1000ms);
  EXPECT_EQ(s.status.phase, "Completed");
  drill.status = s.status;
  EXPECT_FALSE(DrillNeedsWork(drill));
  EXPECT_EQ(NextDrillStep(drill, fleet, t0 + 5000ms, 1000ms).status, drill.status);
}

}  // namespace
}  // namespace meridian::failover

namespace meridian::failover {
namespace {

// Issue 15: a live drill's timeline counts what the members hold, not Meridian's status. The
// status below says 5 + 5 ready; the members say eu-central-1 runs 7 ready (surge) and
// eu-west-1 does not answer: the sample is 7 ready, eu-west-1 unverified.
TEST_F(DrillControllerTest, LiveDrillSamplesReadinessFromTheMembers) {
  std::map<std::string, std::shared_ptr<sync::testing::FakeMemberClient>> members;
  for (const char* name : {"eu-west-1", "eu-central-1"}) {
    members[name] = std::make_shared<sync::testing::FakeMemberClient>();
  }
  const sync::GroupVersionResource deployments{"apps", "v1", "deployments"};
  auto deployment = [](int64_t ready) {
    return json{{"apiVersion", "apps/v1"},
                {"kind", "Deployment"},
                {"metadata",
                 {{"name", "web"},
                  {"namespace", "shop"},
                  {"labels",
                   {{sync::kManagedByLabel, sync::kManagedByValue},
                    {sync::kWorkloadLabel, "shop.web"}}}}},
                {"status", {{"readyReplicas", ready}}}};
  };
  members["eu-west-1"]->Apply(deployments, deployment(5));
  members["eu-central-1"]->Apply(deployments, deployment(7));
  json unmanaged = deployment(50);
  unmanaged["metadata"]["name"] = "by-hand";
  unmanaged["metadata"]["labels"].erase(sync::kManagedByLabel);
  members["eu-central-1"]->Apply(deployments, unmanaged);  // not Meridian's: not counted
  // A member's malformed answer (labels and status of the wrong type) is skipped, not fatal.
  json malformed = deployment(3);
  malformed["metadata"]["name"] = "malformed";
  malformed["metadata"]["labels"][sync::kWorkloadLabel] = 42;
  malformed["status"] = "ready";
  members["eu-central-1"]->Apply(deployments, malformed);
  members["eu-west-1"]->FailEverything(UnavailableError("connection refused"));

  DrillController controller(
      fed_.objects(), fed_.clock(), injector_,
      {.sample_interval = 1000ms,
       .member_clients = [&](const api::MemberCluster& m)
           -> StatusOr<std::shared_ptr<sync::MemberClient>> {
         return std::shared_ptr<sync::MemberClient>(members.at(m.metadata.name));
       }});
  CreateDrill("region", {{"target", {{"region", "eu-west"}}}, {"mode", "live"}, {"durationSeconds", 60}});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(controller.ReconcileAll().ok());
    fed_.clock().Advance(1s);
  }
  const json timeline = Drill("region")["status"]["report"]["timeline"];
  ASSERT_FALSE(timeline.empty()) << Drill("region").dump();
  for (const json& sample : timeline) {
    EXPECT_EQ(sample["ready"], 7) << sample.dump();
    EXPECT_EQ(sample["fromMembers"], true);
    EXPECT_EQ(sample["unverifiedMembers"], json::array({"eu-west-1"}));
  }
  const int lists = members["eu-central-1"]->CallCount(sync::testing::Verb::kList);
  EXPECT_GE(lists, static_cast<int>(2 * timeline.size())) << "deployments and statefulsets";
  EXPECT_LE(lists, 2 * 3) << "at most one observation per pass";
}

// Game days (issue 15): a scheduled two-step game day (zone eu-west-1a, then region eu-west)
// starts at its time in its zone (the FakeClock is set to the fire time), runs each step as a
// drill of its own in order, aborts on the availability condition in run 1 (restored and
// healed in the same pass that saw it) and completes in run 2; the game day's status lists
// both runs with the step and reason of the abort.
TEST_F(DrillControllerTest, ScheduledTwoStepGameDayAbortsInOneRunAndCompletesInAnother) {
  fed_.clock().Set(Timestamp(std::chrono::seconds(1'796'464'800)));  // 2026-12-05T10:00:00Z
  CreateDrill("gameday", {{"mode", "live"},
                          {"failure", "injected"},
                          {"abortConditions", {{"minAvailabilityPercent", 80}}},
                          {"observeReturnSeconds", 0},
                          {"schedule",
                           {{"cron", "0 3 * * *"},
                            {"timeZone", "Europe/Berlin"},
                            {"window", {{"start", "02:30"}, {"end", "04:00"}}}}},
                          {"steps",
                           {{{"target", {{"zone", "eu-west-1a"}}}, {"durationSeconds", 2}},
                            {{"target", {{"region", "eu-west"}}}, {"durationSeconds", 3}}}}});
  EXPECT_EQ(Pass(), 1);
  json gd = Drill("gameday");
  EXPECT_EQ(gd["status"]["phase"], "Scheduled");
  EXPECT_EQ(gd["status"]["report"]["nextRunTime"], "2026-12-06T02:00:00Z");  // 03:00 CET

  // A second before: nothing starts.
  fed_.clock().Set(Timestamp(std::chrono::seconds(1'796'522'399)));
  EXPECT_EQ(Pass(), 0);
  EXPECT_FALSE(
      fed_.objects()
          .Get(fed_.Info("federation.meridian.io/v1alpha1", "FailoverDrill"), "", "gameday-1-0")
          .ok());

  // The phase of a drill that may not exist yet ("" then).
  auto phase = [&](const std::string& name) -> std::string {
    auto r =
        fed_.objects().Get(fed_.Info("federation.meridian.io/v1alpha1", "FailoverDrill"), "", name);
    if (!r.ok() || !r.value().contains("status")) return "";
    return r.value()["status"].value("phase", "");
  };
  // Passes a sample interval apart until `done` or 30 passes.
  auto run_until = [&](const std::function<bool()>& done) {
    for (int i = 0; i < 30 && !done(); ++i) {
      Pass();
      fed_.clock().Advance(1s);
    }
  };
  // Run 1: at the fire time the zone step's drill starts and injects.
  fed_.clock().Advance(1s);
  EXPECT_EQ(FormatRfc3339(fed_.clock().Now()), "2026-12-06T02:00:00Z");
  run_until([&] { return phase("gameday-1-0") == "Running"; });
  EXPECT_EQ(Phase("gameday"), "Running");
  EXPECT_EQ(injector_->calls, (std::vector<std::string>{"inject zone=eu-west-1a"}));
  // Its 2 s pass; then the region step starts.
  run_until([&] { return phase("gameday-1-1") == "Running"; });
  EXPECT_EQ(Phase("gameday-1-0"), "Completed");
  EXPECT_EQ(injector_->calls,
            (std::vector<std::string>{"inject zone=eu-west-1a", "heal zone=eu-west-1a",
                                      "inject region=eu-west"}));
  // eu-west's replicas are gone: 5 of 10 is below 80%. The step aborts at its next sample,
  // healing the region in the same pass.
  SetWorkload({{"eu-west-1", 5, 0}, {"eu-central-1", 5, 5}});
  const Timestamp fell = fed_.clock().Now();
  run_until([&] { return phase("gameday-1-1") == "Aborted"; });
  EXPECT_LE(fed_.clock().Now() - fell, 5s);
  EXPECT_EQ(injector_->calls.back(), "heal region=eu-west");
  run_until([&] { return Phase("gameday") == "Scheduled"; });
  gd = Drill("gameday");
  const json& run1 = gd["status"]["report"]["runs"][0];
  EXPECT_EQ(run1["phase"], "Aborted");
  EXPECT_EQ(run1["abortedAtStep"], 1);
  EXPECT_NE(
      run1["abortReason"].get<std::string>().find("availability 50% (5 of 10 ready) below 80%"),
      std::string::npos)
      << run1;
  EXPECT_EQ(run1["abortedAt"], Drill("gameday-1-1")["status"]["completionTime"]);
  EXPECT_EQ(run1["steps"][0]["phase"], "Completed");
  EXPECT_EQ(run1["steps"][1]["phase"], "Aborted");
  EXPECT_EQ(gd["status"]["report"]["nextRunTime"], "2026-12-07T02:00:00Z");
  EXPECT_EQ(gd["status"]["report"]["lastRunTime"], "2026-12-06T02:00:00Z");

  // Run 2, the next day at 03:00 Berlin: the fleet holds, both steps complete.
  SetWorkload({{"eu-west-1", 5, 5}, {"eu-central-1", 5, 5}});
  fed_.clock().Set(Timestamp(std::chrono::seconds(1'796'608'800)));  // 2026-12-07T02:00:00Z
  run_until([&] {
    const json s = Drill("gameday")["status"];
    return s["phase"] == "Scheduled" && s["report"]["runs"].size() == 2;
  });
  gd = Drill("gameday");
  const json& runs = gd["status"]["report"]["runs"];
  ASSERT_EQ(runs.size(), 2u) << gd["status"];
  EXPECT_EQ(runs[1]["phase"], "Completed");
  EXPECT_EQ(runs[1]["startTime"], "2026-12-07T02:00:00Z");
  EXPECT_EQ(Phase("gameday-2-0"), "Completed");
  EXPECT_EQ(Phase("gameday-2-1"), "Completed");
  EXPECT_EQ(gd["status"]["report"]["nextRunTime"], "2026-12-08T02:00:00Z");
  EXPECT_EQ(injector_->calls.size(), 8u);
  EXPECT_EQ(injector_->calls.back(), "heal region=eu-west");
  // Between runs nothing is written.
  EXPECT_EQ(Pass(), 0);
}

// The example game day is admitted against the example fleet, and is a game day.
TEST(GameDayExample, IsAdmittedAgainstTheExampleFleet) {
  test_env::InProcessFederation fed("gameday-example");
  fed.ApplyFile("examples/three-continents/topology.yaml");
  fed.ApplyFile("examples/three-continents/members.yaml");
  fed.ApplyFile("examples/eu-residency/residency-policy.yaml");
  fed.ApplyFile("examples/eu-residency/workload.yaml");
  fed.ApplyFile("examples/game-days/eu-west.yaml");
  auto stored = fed.objects().Get(fed.Info("federation.meridian.io/v1alpha1", "FailoverDrill"), "",
                                  "eu-west-game-day");
  ASSERT_TRUE(stored.ok());
  FieldErrors errors;
  api::FailoverDrill d = api::DecodeFailoverDrill(stored.value(), &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(d.spec.IsGameDay());
  EXPECT_EQ(d.spec.steps.size(), 2u);
  EXPECT_TRUE(d.spec.abort_on_residency_violation);
}

// Game day admission: each bad field named, nothing stored.
TEST_F(DrillControllerTest, GameDayAdmissionNamesTheField) {
  const auto& info = fed_.Info("federation.meridian.io/v1alpha1", "FailoverDrill");
  auto create = [&](const std::string& name, json spec) {
    return fed_.objects().Create(info, "",
                                 {{"apiVersion", "federation.meridian.io/v1alpha1"},
                                  {"kind", "FailoverDrill"},
                                  {"metadata", {{"name", name}}},
                                  {"spec", std::move(spec)}});
  };
  const json steps = {{{"target", {{"zone", "eu-west-1a"}}}, {"durationSeconds", 120}},
                      {{"target", {{"region", "eu-west"}}}, {"durationSeconds", 300}}};
  struct Case {
    json spec;
    std::string field, message;
  } cases[] = {
      {{{"mode", "live"}, {"steps", steps}, {"schedule", {{"cron", "0 25 * * *"}}}},
       "spec.schedule.cron",
       "the hour field: 25 is out of range 0-23"},
      {{{"mode", "live"},
        {"steps", steps},
        {"schedule", {{"cron", "0 3 * * *"}, {"timeZone", "Europe/Atlantis"}}}},
       "spec.schedule.timeZone",
       "unknown time zone \"Europe/Atlantis\""},
      {{{"mode", "live"},
        {"steps", {steps[0], {{"target", {{"zone", "mars-1a"}}}, {"durationSeconds", 60}}}}},
       "spec.steps[1].target.zone",
       "unknown zone \"mars-1a\""},
      {{{"mode", "live"},
        {"steps", {steps[0], {{"target", {{"region", "eu-west"}}}, {"durationSeconds", -1}}}}},
       "spec.steps[1].durationSeconds",
       ""},
      {{{"mode", "live"}, {"steps", steps}, {"schedule", {{"cron", "*/5 * * * *"}}}},
       "spec.steps",
       "runs would overlap"},
      {{{"mode", "live"},
        {"steps", steps},
        {"schedule", {{"cron", "0 3 * * *"}, {"window", {{"start", "05:00"}, {"end", "06:00"}}}}}},
       "spec.schedule.cron",
       "never fires inside the window"},
  };
  for (const Case& c : cases) {
    auto r = create("bad", c.spec);
    ASSERT_FALSE(r.ok()) << c.spec;
    EXPECT_EQ(r.error().code, 422);
    EXPECT_NE(r.error().message.find(c.field), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(c.message), std::string::npos) << r.error().message;
    EXPECT_FALSE(fed_.objects().Get(info, "", "bad").ok());
  }
  // Two scheduled game days on overlapping targets at overlapping times.
  auto first = create("nightly",
                      {{"mode", "live"}, {"steps", steps}, {"schedule", {{"cron", "0 3 * * *"}}}});
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto clash = create("other", {{"mode", "live"},
                                {"target", {{"cluster", "eu-west-1"}}},
                                {"durationSeconds", 600},
                                {"schedule", {{"cron", "5 3 * * *"}}}});
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.error().message.find("spec.schedule.cron"), std::string::npos)
      << clash.error().message;
  EXPECT_NE(clash.error().message.find("would overlap game day nightly"), std::string::npos)
      << clash.error().message;
  // Another target, or another time: admitted.
  EXPECT_TRUE(create("other", {{"mode", "live"},
                               {"target", {{"cluster", "eu-central-1"}}},
                               {"durationSeconds", 600},
                               {"schedule", {{"cron", "5 3 * * *"}}}})
                  .ok());
}

}  // namespace
}  // namespace meridian::failover
