// The stage machine (rollout/stage_machine.h) and revision history (rollout/revisions.h),
// driven by a FakeClock: stages in turn, waits, gates, approvals, timeouts with halt and
// rollback, the restart gate, pause/resume, DNS drain (and one member at a time where
// residency leaves no other member to answer), and a restart (the state goes through its JSON
// form every step, as it does through the workload's status).
#include "rollout/stage_machine.h"

#include <gtest/gtest.h>

#include "api/rollout.h"
#include "common/clock.h"
#include "rollout/revisions.h"

namespace meridian::rollout {
namespace {

using nlohmann::json;
using std::chrono::seconds;

api::RolloutStrategySpec Strategy(const json& j) {
  FieldErrors errors;
  api::RolloutStrategySpec s = api::DecodeRolloutStrategySpec(j, "spec", &errors);
  EXPECT_TRUE(errors.empty()) << errors.front().ToString();
  return s;
}

// Canary cluster, then EU, then the rest behind an approval.
json ThreeStages(const std::string& on_failure = "halt") {
  return {{"onFailure", on_failure},
          {"gateTimeoutSeconds", 60},
          {"stages",
           {{{"name", "canary"},
             {"selector", {{"clusters", {"us-1"}}}},
             {"readySeconds", 10},
             {"afterStageWaitSeconds", 5}},
            {{"name", "eu"}, {"selector", {{"regions", {"eu"}}}}, {"readySeconds", 10}},
            {{"name", "rest"}, {"approval", true}}}}};
}

// A fleet whose members report what they were assigned (after `report()`), like the
// propagation controller would once the member's controller finished.
class Fleet {
 public:
  explicit Fleet(api::RolloutStrategySpec strategy) : strategy_(std::move(strategy)) {
    for (auto [name, region] : std::vector<std::pair<std::string, std::string>>{
             {"eu-1", "eu"}, {"eu-2", "eu"}, {"us-1", "us"}, {"us-2", "us"}, {"ap-1", "ap"}}) {
      MemberObservation m;
      m.name = name;
      m.region = region;
      m.revision = 1;
      m.ready = true;
      members_.push_back(m);
    }
    // Revision 1 everywhere (the first revision needs no stages).
    Step(1);
  }

  // One step at the clock's time; the state is stored as JSON between steps, as in status.
  StageMachineOutput Step(int64_t revision) {
    StageMachineInput in;
    in.strategy = &strategy_;
    in.revision = revision;
    in.paused = paused;
    in.dns = dns;
    in.dns_ttl_seconds = dns_ttl_seconds;
    in.approval = approval;
    in.members = members_;
    in.now = clock.Now();
    in.prometheus = sample_;
    std::optional<api::RolloutStatus> previous;
    if (!stored_.is_null()) {
      FieldErrors errors;
      previous = api::DecodeRolloutStatus(stored_, "status.rollout", &errors);
      EXPECT_TRUE(errors.empty());
    }
    StageMachineOutput out = rollout::Step(in, previous);
    if (out.evaluate) {
      // As the controller does: evaluate the query now (Prometheus answering `prometheus`, or
      // failing with `prometheus_error`), keep the sample, and decide with it.
      ++evaluations;
      sample_ = PrometheusSample{*out.evaluate, clock.Now(), prometheus, prometheus_error};
      in.prometheus = sample_;
      out = rollout::Step(in, previous);
      EXPECT_FALSE(out.evaluate.has_value()) << "a fresh evaluation was asked for again";
    }
    stored_ = api::EncodeRolloutStatus(out.state);
    last = out;
    return out;
  }

  // Members take what they were assigned; `healthy` members become ready with it.
  void Report(const std::set<std::string>& unhealthy = {}) {
    for (MemberObservation& m : members_) {
      m.revision = Assigned(m.name);
      m.ready = unhealthy.count(m.name) == 0;
    }
  }

  // A member that joins the placement (running revision 1, ready).
  void AddMember(const std::string& name, const std::string& region,
                 const apimachinery::Labels& labels = {}) {
    MemberObservation m;
    m.name = name;
    m.region = region;
    m.labels = labels;
    m.revision = 1;
    m.ready = true;
    members_.push_back(m);
  }
  void SetLabel(const std::string& member, const std::string& key, const std::string& value) {
    for (MemberObservation& m : members_) {
      if (m.name == member) m.labels[key] = value;
    }
  }

  // A running drill targets `member` ("" : none).
  void SetDrill(const std::string& member, const std::string& drill) {
    for (MemberObservation& m : members_) {
      if (m.name == member) m.drill = drill;
    }
  }

  // Revision 2 through the canary stage (ThreeStages' timings) into the EU stage's first step.
  void ToTheEuStage() {
    Step(2);
    Report();
    Step(2);
    clock.Advance(seconds(15));
    Step(2);
  }

  // Whether the workload's DNS name may answer `member` (its residency).
  void SetDnsAllowed(const std::string& member, bool allowed) {
    for (MemberObservation& m : members_) {
      if (m.name == member) m.dns_allowed = allowed;
    }
  }
  // Propagation's count of restarts of `member`'s pods of the revision it runs.
  void SetRestarts(const std::string& member, int64_t restarts) {
    for (MemberObservation& m : members_) {
      if (m.name == member) m.restarts = restarts;
    }
  }
  std::string Drained() const {  // status.rollout.drained, comma-joined
    std::string out;
    for (const std::string& m : last.state.drained) out += (out.empty() ? "" : ",") + m;
    return out;
  }
  bool HasEvent(const std::string& reason) const {
    for (const RolloutEvent& e : last.events) {
      if (e.reason == reason) return true;
    }
    return false;
  }

  int64_t Assigned(const std::string& member) const {
    for (const api::MemberRevision& m : last.state.members) {
      if (m.cluster == member) return m.revision;
    }
    return -1;
  }
  std::string At2() const {  // the members assigned revision 2, in name order
    std::string out;
    for (const api::MemberRevision& m : last.state.members) {
      if (m.revision == 2) out += (out.empty() ? "" : ",") + m.cluster;
    }
    return out;
  }

  FakeClock clock;
  bool paused = false;
  bool dns = false;  // the workload has spec.dns
  int64_t dns_ttl_seconds = 0;
  std::optional<double> prometheus;  // what Prometheus answers (nullopt: prometheus_error)
  std::string prometheus_error = "connection refused";
  int evaluations = 0;  // how often the stage machine asked for the query
  std::string approval;
  StageMachineOutput last;

 private:
  api::RolloutStrategySpec strategy_;
  std::vector<MemberObservation> members_;
  json stored_;
  std::optional<PrometheusSample> sample_;
};

// The gate timeout ends exactly `left` from now: a step a second earlier still progresses.
void ExpectHaltedIn(Fleet& f, seconds left) {
  f.clock.Advance(left - seconds(1));
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Progressing");
  f.clock.Advance(seconds(1));
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Halted");
}

TEST(StageMachine, ThreeStagesInTurnWithWaitsAndApproval) {
  Fleet f(Strategy(ThreeStages()));
  EXPECT_EQ(f.last.state.phase, "Complete");
  EXPECT_EQ(f.At2(), "");

  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Progressing");
  EXPECT_EQ(f.last.state.stage_name, "canary");
  EXPECT_EQ(f.At2(), "us-1");  // only the canary
  f.Report();
  f.Step(2);  // ready now; readySeconds 10 not over
  EXPECT_EQ(f.At2(), "us-1");
  ASSERT_TRUE(f.last.requeue_at.has_value());
  EXPECT_EQ(*f.last.requeue_at, f.clock.Now() + seconds(10));
  f.clock.Advance(seconds(9));
  f.Step(2);
  EXPECT_EQ(f.At2(), "us-1");
  f.clock.Advance(seconds(1));
  f.Step(2);  // gates passed, afterStageWait 5 s
  EXPECT_EQ(f.last.state.phase, "Waiting");
  EXPECT_EQ(f.At2(), "us-1");
  f.clock.Advance(seconds(5));
  f.Step(2);
  EXPECT_EQ(f.last.state.stage_name, "eu");
  EXPECT_EQ(f.At2(), "eu-1,eu-2,us-1");
  f.Report();
  f.Step(2);  // readiness seen: readySeconds counts from here
  f.clock.Advance(seconds(10));
  f.Step(2);  // eu passed: rest waits for its approval
  EXPECT_EQ(f.last.state.phase, "WaitingForApproval");
  EXPECT_EQ(f.At2(), "eu-1,eu-2,us-1");
  f.clock.Advance(seconds(3600));  // an approval never times out
  f.approval = "1/rest";           // another revision's approval is not this one's
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "WaitingForApproval");
  f.approval = "2/rest";
  f.Step(2);
  EXPECT_EQ(f.At2(), "ap-1,eu-1,eu-2,us-1,us-2");
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Complete");
  EXPECT_EQ(f.last.state.stable_revision, 2);
  EXPECT_EQ(f.last.condition_status, "True");
  ASSERT_FALSE(f.last.events.empty());
  EXPECT_EQ(f.last.events.back().reason, "RolloutComplete");
}

TEST(StageMachine, MaxConcurrencyChangesMembersOneAtATime) {
  Fleet f(Strategy({{"stages", {{{"name", "all"}, {"maxConcurrency", 2}}}}}));
  f.Step(2);
  EXPECT_EQ(f.At2(), "ap-1,eu-1");  // name order, two at once
  f.Report({"eu-1"});               // eu-1 still coming up
  f.Step(2);
  EXPECT_EQ(f.At2(), "ap-1,eu-1,eu-2");  // ap-1 done: one more
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.At2(), "ap-1,eu-1,eu-2,us-1,us-2");
}

TEST(StageMachine, FailedGateHaltsAndNamesIt) {
  Fleet f(Strategy(ThreeStages("halt")));
  f.Step(2);
  f.Report({"us-1"});  // the canary never gets ready
  ExpectHaltedIn(f, seconds(60));
  EXPECT_EQ(f.last.state.failed_gate, "ready");
  EXPECT_NE(f.last.condition_message.find("stage canary"), std::string::npos);
  EXPECT_NE(f.last.condition_message.find("gate ready failed"), std::string::npos);
  ASSERT_EQ(f.last.events.size(), 1u);
  EXPECT_EQ(f.last.events[0].type, "Warning");
  EXPECT_EQ(f.last.events[0].reason, "RolloutHalted");
  EXPECT_EQ(f.At2(), "us-1");  // halted where it stood
  f.clock.Advance(seconds(600));
  f.Step(2);  // halted stays halted
  EXPECT_EQ(f.At2(), "us-1");
  EXPECT_TRUE(f.last.events.empty());
}

TEST(StageMachine, FailedGateWithRollbackReturnsEveryChangedMember) {
  Fleet f(Strategy(ThreeStages("rollback")));
  f.Step(2);
  f.Report({"us-1"});
  f.clock.Advance(seconds(60));
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "RolledBack");
  EXPECT_EQ(f.At2(), "");  // every member back on revision 1
  EXPECT_EQ(f.Assigned("us-1"), 1);
  EXPECT_EQ(f.last.events.at(0).reason, "RolloutRolledBack");
  // A fixed template (revision 3) rolls out from revision 1 again, canary first.
  f.Report();
  f.Step(3);
  EXPECT_EQ(f.last.state.stable_revision, 1);
  EXPECT_EQ(f.Assigned("us-1"), 3);
  EXPECT_EQ(f.Assigned("eu-1"), 1);
}

TEST(StageMachine, PauseStopsProgressAndTimersUntilResumed) {
  Fleet f(Strategy(ThreeStages("halt")));
  f.Step(2);
  f.Report({"us-1"});
  f.clock.Advance(seconds(30));
  f.paused = true;
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Paused");
  f.clock.Advance(seconds(3600));  // far past the gate timeout, but paused
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Paused");
  f.paused = false;
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Progressing");  // 30 s of the 60 s used before the pause
  ExpectHaltedIn(f, seconds(30));
}

TEST(StageMachine, PausedBeforeAStageGivesItsMembersNothing) {
  Fleet f(Strategy(ThreeStages()));
  f.Step(2);
  f.Report();
  f.Step(2);
  f.clock.Advance(seconds(10));
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Waiting");
  f.paused = true;
  f.Step(2);
  f.clock.Advance(seconds(5));
  f.Step(2);
  EXPECT_EQ(f.At2(), "us-1");
  f.paused = false;
  f.Step(2);  // the after-stage wait did not run during the pause
  EXPECT_EQ(f.At2(), "us-1");
  f.clock.Advance(seconds(5));
  f.Step(2);
  EXPECT_EQ(f.At2(), "eu-1,eu-2,us-1");
}

TEST(StageMachine, ARestartContinuesFromTheStoredState) {
  // Fleet already rebuilds every step from the stored JSON alone (a restart each step); here
  // the controller is also down for a while between two steps: the waits that ended
  // meanwhile are honoured at once, nothing is skipped.
  Fleet a(Strategy(ThreeStages()));
  a.Step(2);
  a.Report();
  a.Step(2);  // readiness seen
  const api::RolloutStatus before = a.last.state;
  json stored = api::EncodeRolloutStatus(before);
  FieldErrors errors;
  api::RolloutStatus back = api::DecodeRolloutStatus(stored, "status.rollout", &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(back, before);
  a.clock.Advance(seconds(15));  // controller down for 15 s: ready 10 s and wait 5 s both over
  a.Step(2);
  a.Step(2);
  EXPECT_EQ(a.last.state.stage_name, "eu");
  EXPECT_EQ(a.At2(), "eu-1,eu-2,us-1");
}

TEST(StageMachine, ANewRevisionMidRolloutStartsOverFromTheStableOne) {
  Fleet f(Strategy(ThreeStages()));
  f.ToTheEuStage();
  EXPECT_EQ(f.At2(), "eu-1,eu-2,us-1");
  f.Step(3);
  EXPECT_EQ(f.last.state.stable_revision, 1);
  EXPECT_EQ(f.last.state.stage_name, "canary");
  EXPECT_EQ(f.Assigned("us-1"), 3);
  EXPECT_EQ(f.Assigned("eu-1"), 1);  // back to the last good revision until its turn
}

TEST(StageMachine, MembersNoStageTakesComeLast) {
  Fleet f(Strategy({{"stages", {{{"name", "canary"}, {"selector", {{"clusters", {"eu-2"}}}}}}}}));
  f.Step(2);
  EXPECT_EQ(f.At2(), "eu-2");
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.last.state.stage_name, kRemainingStage);
  EXPECT_EQ(f.At2(), "ap-1,eu-1,eu-2,us-1,us-2");
}

// Issue 23, interplay with failover: no member gets the new revision while a running drill
// targets it; the rollout waits before it, naming the drill, and writes nothing meanwhile.
TEST(StageMachine, WaitsBeforeAMemberARunningDrillTargets) {
  Fleet f(Strategy(ThreeStages()));
  f.SetDrill("eu-1", "eu-outage");
  f.Step(2);
  f.Report();
  f.Step(2);
  f.clock.Advance(seconds(15));  // canary passed and its after-stage wait is over
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "WaitingForDrill");
  EXPECT_EQ(f.last.state.stage_name, "eu");
  EXPECT_EQ(f.At2(), "us-1");  // eu-1 is first in eu: neither EU member got revision 2
  EXPECT_EQ(f.last.condition_reason, "WaitingForDrill");
  EXPECT_NE(f.last.condition_message.find("waits for drill eu-outage, which targets eu-1"),
            std::string::npos)
      << f.last.condition_message;
  ASSERT_EQ(f.last.events.size(), 1u);
  EXPECT_EQ(f.last.events[0].reason, "RolloutWaitingForDrill");
  EXPECT_FALSE(f.last.requeue_at.has_value());  // the drill's end runs the next pass
  const api::RolloutStatus waiting = f.last.state;
  f.clock.Advance(seconds(3600));  // far past the gate timeout: a wait is not a failure
  f.Step(2);
  EXPECT_EQ(f.last.state, waiting);  // nothing to write while it waits
  EXPECT_TRUE(f.last.events.empty());
  f.SetDrill("eu-1", "");
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Progressing");
  EXPECT_EQ(f.At2(), "eu-1,eu-2,us-1");
  EXPECT_TRUE(f.last.state.paused_at.empty());
  // The gate timeout counts from the members' start, after the wait.
  f.Report({"eu-1"});
  ExpectHaltedIn(f, seconds(60));
}

TEST(StageMachine, ADrillMidStageStopsTheNextMemberNotTheStartedOnes) {
  Fleet f(Strategy(
      {{"gateTimeoutSeconds", 60}, {"stages", {{{"name", "all"}, {"maxConcurrency", 2}}}}}));
  f.SetDrill("eu-2", "d");
  f.Step(2);
  EXPECT_EQ(f.At2(), "ap-1,eu-1");
  f.Report({"eu-1"});
  f.Step(2);  // ap-1 done: eu-2 would be next
  EXPECT_EQ(f.last.state.phase, "WaitingForDrill");
  EXPECT_EQ(f.At2(), "ap-1,eu-1");  // eu-1 keeps what it was given
  EXPECT_EQ(MembersBeingChanged(f.last.state), (std::vector<std::string>{"ap-1", "eu-1"}));
  // A pause during the wait and a resume while the drill still runs: still waiting, and the
  // time stands still from when the wait began.
  const std::string since = f.last.state.paused_at;
  f.paused = true;
  f.clock.Advance(seconds(100));
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Paused");
  EXPECT_EQ(f.last.state.paused_at, since);
  f.paused = false;
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "WaitingForDrill");
  f.clock.Advance(seconds(100));
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "WaitingForDrill");  // eu-1 not ready for 200 s: no timeout
  f.SetDrill("eu-2", "");
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.At2(), "ap-1,eu-1,eu-2,us-1");
}

TEST(StageMachine, MembersBeingChangedAreTheStartedOnesOfAStageNotYetPassed) {
  Fleet f(Strategy(ThreeStages("halt")));
  EXPECT_TRUE(MembersBeingChanged(f.last.state).empty());  // Complete
  f.Step(2);
  EXPECT_EQ(MembersBeingChanged(f.last.state), std::vector<std::string>{"us-1"});
  f.paused = true;
  f.Step(2);
  EXPECT_EQ(MembersBeingChanged(f.last.state), std::vector<std::string>{"us-1"});  // Paused
  f.paused = false;
  f.Report();
  f.Step(2);
  f.clock.Advance(seconds(10));
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Waiting");
  EXPECT_TRUE(MembersBeingChanged(f.last.state).empty());  // the canary passed its gates
  f.clock.Advance(seconds(5));
  f.Step(2);
  EXPECT_EQ(MembersBeingChanged(f.last.state), (std::vector<std::string>{"eu-1", "eu-2"}));
  f.Report({"eu-2"});
  f.clock.Advance(seconds(60));
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Halted");
  EXPECT_TRUE(MembersBeingChanged(f.last.state).empty());  // nothing changes any more
}

// Issue 23, derived stage orders: "one region at a time, smallest first".
TEST(StageMachine, RegionBySizeRollsOutOneRegionAtATimeSmallestFirst) {
  Fleet f(Strategy({{"stages", {{{"name", "region"}, {"expand", "regionBySize"}}}}}));
  f.AddMember("us-3", "us");  // us: 3 members, eu: 2, ap: 1
  f.Step(2);
  ASSERT_EQ(f.last.state.derived.size(), 1u);
  EXPECT_EQ(f.last.state.derived[0].regions, (std::vector<std::string>{"ap", "eu", "us"}));
  EXPECT_EQ(f.last.state.stage_name, "region-ap");
  EXPECT_EQ(f.At2(), "ap-1");
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.last.state.stage_name, "region-eu");
  EXPECT_EQ(f.At2(), "ap-1,eu-1,eu-2");
  // The order was fixed when the rollout started: a region that grows does not move, and a
  // member of a region that joins later comes last.
  f.AddMember("ap-2", "ap");
  f.AddMember("ap-3", "ap");
  f.AddMember("sa-1", "sa");
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.last.state.stage_name, "region-us");
  EXPECT_EQ(f.Assigned("ap-2"), 2);  // its region's stage has passed
  EXPECT_EQ(f.Assigned("sa-1"), 1);
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.last.state.stage_name, kRemainingStage);
  EXPECT_EQ(f.Assigned("sa-1"), 2);
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Complete");
}

// "Canary cluster, then one region per continent, then the rest".
TEST(StageMachine, CanaryThenOneRegionPerContinentThenTheRest) {
  Fleet f(Strategy({{"stages",
                     {{{"name", "canary"}, {"selector", {{"clusters", {"us-1"}}}}},
                      {{"name", "continents"},
                       {"expand", "regionPerContinent"},
                       {"continentLabel", "geo"},
                       {"approval", true}},
                      {{"name", "rest"}}}}}));
  f.AddMember("ec-1", "ec");  // a second, smaller European region
  f.AddMember("xx-1", "xx");  // no continent label: the rest
  for (const char* m : {"eu-1", "eu-2", "ec-1"}) f.SetLabel(m, "geo", "europe");
  for (const char* m : {"us-1", "us-2"}) f.SetLabel(m, "geo", "america");
  f.SetLabel("ap-1", "geo", "asia");
  f.Step(2);
  EXPECT_EQ(f.At2(), "us-1");
  // Europe: ec (1 member) before eu (2); America: us, less the canary (us-2); Asia: ap.
  ASSERT_EQ(f.last.state.derived.size(), 1u);
  EXPECT_EQ(f.last.state.derived[0].stage, "continents");
  EXPECT_EQ(f.last.state.derived[0].regions, (std::vector<std::string>{"ap", "ec", "us"}));
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "WaitingForApproval");
  EXPECT_EQ(f.last.state.stage_name, "continents");
  f.approval = "2/continents";
  f.Step(2);
  EXPECT_EQ(f.At2(), "ap-1,ec-1,us-1,us-2");
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.last.state.stage_name, "rest");
  EXPECT_EQ(f.At2(), "ap-1,ec-1,eu-1,eu-2,us-1,us-2,xx-1");
}

TEST(StageMachine, DeriveStagesAloneAndADerivedNameThatIsTaken) {
  std::vector<MemberObservation> members;
  for (auto [name, region] : std::vector<std::pair<std::string, std::string>>{
           {"a-1", "b"}, {"a-2", "b"}, {"c-1", "c"}, {"n-1", ""}}) {
    MemberObservation m;
    m.name = name;
    m.region = region;
    members.push_back(m);
  }
  const api::RolloutStrategySpec s =
      Strategy({{"stages", {{{"name", "r"}, {"expand", "regionBySize"}}, {{"name", "r-c"}}}}});
  const std::vector<api::DerivedStage> derived = DeriveStages(s, members);
  ASSERT_EQ(derived.size(), 1u);
  EXPECT_EQ(derived[0].regions, (std::vector<std::string>{"c", "b"}));  // n-1 has no region
  const StagePlan plan = PlanStages(s, members, derived);
  std::vector<std::string> names;
  for (const api::RolloutStage& st : plan.stages) names.push_back(st.name);
  // "r-c" is the derived stage's name first: the listed stage keeps approvals apart.
  EXPECT_EQ(names, (std::vector<std::string>{"r-c", "r-b", "r-c-3"}));
  EXPECT_EQ(plan.stage_of.at("c-1"), 0u);
  EXPECT_EQ(plan.stage_of.at("a-2"), 1u);
  EXPECT_EQ(plan.stage_of.at("n-1"), 2u);  // the listed stage "r-c" takes every other member
}

// ThreeStages with the EU stage drained from DNS.
json DrainedEu(const std::string& on_failure = "halt") {
  json j = ThreeStages(on_failure);
  j["stages"][1]["drain"] = true;
  return j;
}

// Issue 23, traffic during a stage: DNS leaves the EU members out from the step that starts
// changing them until the step that sees the stage's gates pass; a pause keeps them out.
TEST(StageMachine, ADrainedStageIsLeftOutOfDnsUntilItsGatesPass) {
  Fleet f(Strategy(DrainedEu()));
  f.dns = true;
  f.Step(2);
  EXPECT_EQ(f.Drained(), "");  // the canary stage does not drain
  EXPECT_EQ(f.last.state.drain, "");
  f.Report();
  f.Step(2);
  f.clock.Advance(seconds(15));
  f.Step(2);
  EXPECT_EQ(f.last.state.stage_name, "eu");
  EXPECT_EQ(f.At2(), "eu-1,eu-2,us-1");
  EXPECT_EQ(f.last.state.drain, "Drained");
  EXPECT_EQ(f.Drained(), "eu-1,eu-2");
  EXPECT_TRUE(f.HasEvent("RolloutDrained"));
  EXPECT_NE(f.last.condition_message.find("DNS leaves out eu-1, eu-2"), std::string::npos)
      << f.last.condition_message;
  f.paused = true;
  f.Step(2);
  EXPECT_EQ(f.Drained(), "eu-1,eu-2");
  f.paused = false;
  f.Report();
  f.Step(2);  // ready, readySeconds running: still drained
  EXPECT_EQ(f.Drained(), "eu-1,eu-2");
  EXPECT_FALSE(f.HasEvent("RolloutDrained"));  // once per drain
  f.clock.Advance(seconds(9));
  f.Step(2);
  EXPECT_EQ(f.Drained(), "eu-1,eu-2");
  f.clock.Advance(seconds(1));
  f.Step(2);  // gates passed: answered again, and the next stage waits for its approval
  EXPECT_EQ(f.last.state.phase, "WaitingForApproval");
  EXPECT_EQ(f.Drained(), "");
  EXPECT_EQ(f.last.state.drain, "");
  EXPECT_TRUE(f.HasEvent("RolloutDrainRestored"));

  // The same strategy for a workload without spec.dns drains nothing.
  Fleet plain(Strategy(DrainedEu()));
  plain.ToTheEuStage();
  EXPECT_EQ(plain.At2(), "eu-1,eu-2,us-1");
  EXPECT_EQ(plain.Drained(), "");
  EXPECT_EQ(plain.last.state.drain, "");
}

// Residency wins: when no member outside the stage may answer its clients, the stage is not
// drained and its members change one at a time (a stage that leaves one allowed member out
// is drained).
TEST(StageMachine, AStageNoOtherMemberMayAnswerIsChangedOneAtATimeNotDrained) {
  struct Case {
    std::string name;
    std::set<std::string> allowed;  // members DNS may answer
    std::string drain;
    std::string first_eu;  // the EU members given revision 2 in the stage's first step
  };
  const std::vector<Case> cases = {
      {"no residency", {"ap-1", "eu-1", "eu-2", "us-1", "us-2"}, "Drained", "eu-1,eu-2"},
      {"EU only", {"eu-1", "eu-2"}, "OneAtATime", "eu-1"},
      {"EU and the canary's jurisdiction", {"eu-1", "eu-2", "us-1"}, "Drained", "eu-1,eu-2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Fleet f(Strategy(DrainedEu()));
    f.dns = true;
    for (const std::string& m : {"ap-1", "eu-1", "eu-2", "us-1", "us-2"}) {
      f.SetDnsAllowed(m, c.allowed.count(m) > 0);
    }
    f.ToTheEuStage();
    EXPECT_EQ(f.last.state.drain, c.drain);
    EXPECT_EQ(f.At2(), c.first_eu + ",us-1");
    if (c.drain == "Drained") continue;
    EXPECT_EQ(f.Drained(), "");
    EXPECT_TRUE(f.HasEvent("RolloutNotDrained"));
    EXPECT_NE(f.last.condition_message.find("not drained from DNS"), std::string::npos)
        << f.last.condition_message;
    f.Report({"eu-1"});  // eu-1 coming up: eu-2 keeps the old revision meanwhile
    f.Step(2);
    EXPECT_EQ(f.At2(), "eu-1,us-1");
    EXPECT_FALSE(f.HasEvent("RolloutNotDrained"));  // once per stage
    f.Report();
    f.Step(2);
    EXPECT_EQ(f.At2(), "eu-1,eu-2,us-1");
    EXPECT_EQ(f.last.state.drain, "OneAtATime");  // kept for the stage (a restart too)
  }
}

// A stage whose gates fail keeps its members out of DNS until each runs a good revision: after
// a rollback, once it runs the stable revision ready; after a halt, only once a new rollout
// (an undo) has given it a revision that passed.
TEST(StageMachine, AFailedDrainedStageIsAnsweredAgainOnlyOnAGoodRevision) {
  // The EU gate fails: eu-2 never gets ready on revision 2.
  auto fail_in_eu = [](Fleet& f) {
    f.dns = true;
    f.ToTheEuStage();
    f.Report({"eu-2"});
    f.Step(2);
    f.clock.Advance(seconds(60));
    f.Step(2);
  };
  Fleet rollback(Strategy(DrainedEu("rollback")));
  fail_in_eu(rollback);
  EXPECT_EQ(rollback.last.state.phase, "RolledBack");
  EXPECT_EQ(rollback.Assigned("eu-1"), 1);
  EXPECT_EQ(rollback.Drained(), "eu-1,eu-2");  // they still run revision 2
  EXPECT_NE(rollback.last.condition_message.find("DNS leaves out eu-1, eu-2"), std::string::npos);
  rollback.Report({"eu-2"});  // back on 1; eu-2 not ready yet
  rollback.Step(2);
  EXPECT_EQ(rollback.Drained(), "eu-2");
  EXPECT_TRUE(rollback.HasEvent("RolloutDrainRestored"));
  rollback.Report();
  rollback.Step(2);
  EXPECT_EQ(rollback.Drained(), "");

  Fleet halt(Strategy(DrainedEu("halt")));
  fail_in_eu(halt);
  EXPECT_EQ(halt.last.state.phase, "Halted");
  halt.clock.Advance(seconds(600));
  halt.Report();  // even ready, revision 2 did not pass its gates
  halt.Step(2);
  EXPECT_EQ(halt.Drained(), "eu-1,eu-2");
  halt.Step(3);  // an undo: the new rollout gives them the stable revision until their stage
  EXPECT_EQ(halt.Assigned("eu-1"), 1);
  EXPECT_EQ(halt.Drained(), "eu-1,eu-2");
  halt.Report();
  halt.Step(3);
  EXPECT_EQ(halt.Drained(), "");
}

// Issue 23, gates: a crash loop on a member of the stage fails the gate "restarts" as soon as
// its pods of the new revision restarted more than maxRestarts, long before the gate timeout;
// restarts of the old revision's pods, and of a stage without the gate, do not count.
TEST(StageMachine, ACrashLoopFailsTheRestartGateAtOnce) {
  json strategy = ThreeStages("rollback");
  strategy["stages"][0]["maxRestarts"] = 2;
  Fleet f(Strategy(strategy));
  f.SetRestarts("us-1", 9);  // of revision 1: not this rollout's business
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Progressing");
  f.Report({"us-1"});  // runs revision 2, not ready
  f.SetRestarts("us-1", 2);
  f.clock.Advance(seconds(4));
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Progressing");  // at the limit, not beyond
  f.SetRestarts("us-1", 3);
  f.clock.Advance(seconds(2));
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "RolledBack");
  EXPECT_EQ(f.last.state.failed_gate, "restarts");
  EXPECT_EQ(f.Assigned("us-1"), 1);
  EXPECT_NE(f.last.condition_message.find(
                "stage canary (1/3) of revision 2: gate restarts failed: the pods of the revision "
                "on us-1 restarted 3 times (maxRestarts 2); every member returns to revision 1"),
            std::string::npos)
      << f.last.condition_message;
  EXPECT_EQ(f.last.events.at(0).reason, "RolloutRolledBack");

  Fleet no_gate(Strategy(ThreeStages("rollback")));
  no_gate.Step(2);
  no_gate.Report({"us-1"});
  no_gate.SetRestarts("us-1", 50);
  no_gate.Step(2);
  EXPECT_EQ(no_gate.last.state.phase, "Progressing");
}

// The canary stage judged by an error-rate query as well as readiness.
json CanaryWithPrometheus(const std::string& on_failure = "halt") {
  json strategy = ThreeStages(on_failure);
  strategy["stages"][0]["prometheus"] = {
      {"query", "sum(rate(errors[1m])) / sum(rate(requests[1m]))"},
      {"max", 0.01},
      {"forSeconds", 20}};
  return strategy;
}

TEST(StageMachine, APrometheusGatePassesOnceAtOrBelowMaxForItsWindow) {
  Fleet f(Strategy(CanaryWithPrometheus()));
  f.prometheus = 0.002;
  f.Step(2);  // the canary is given revision 2 and the query evaluated at once
  EXPECT_EQ(f.evaluations, 1);
  EXPECT_EQ(f.last.state.prometheus_ok_since, FormatMillis(f.clock.Now()));
  EXPECT_EQ(*f.last.requeue_at, f.clock.Now() + seconds(5));  // forSeconds / 4
  f.Report();
  f.Step(2);  // the evaluation is still fresh: not asked again
  EXPECT_EQ(f.evaluations, 1);
  f.clock.Advance(seconds(5));
  f.prometheus = std::nullopt;  // Prometheus unreachable: the window starts over
  f.Step(2);
  EXPECT_EQ(f.evaluations, 2);
  EXPECT_EQ(f.last.state.prometheus_ok_since, "");
  EXPECT_NE(f.last.condition_message.find(
                "prometheus gate: the query could not be evaluated: connection refused"),
            std::string::npos)
      << f.last.condition_message;
  const Timestamp window = f.clock.Now() + seconds(5);
  f.prometheus = 0.01;  // at max is not above it
  for (int i = 0; i < 4; ++i) {
    f.clock.Advance(seconds(5));
    f.Step(2);
    EXPECT_EQ(f.last.state.phase, "Progressing") << i;
    EXPECT_EQ(f.last.state.prometheus_ok_since, FormatMillis(window)) << i;
  }
  EXPECT_NE(f.last.condition_message.find("it passes if it stays there until " +
                                          FormatMillis(window + seconds(20))),
            std::string::npos)
      << f.last.condition_message;
  f.clock.Advance(seconds(5));
  f.Step(2);  // 20 s at or below max: passed (readySeconds long over), afterStageWait 5 s
  EXPECT_EQ(f.last.state.phase, "Waiting");
  EXPECT_EQ(f.last.state.gates_passed_at, FormatMillis(window + seconds(20)));
  EXPECT_EQ(f.evaluations, 7);
  f.clock.Advance(seconds(5));
  f.Step(2);  // the EU stage has no such gate: nothing is asked
  EXPECT_EQ(f.last.state.stage_name, "eu");
  EXPECT_EQ(f.evaluations, 7);
}

TEST(StageMachine, APrometheusValueAboveMaxFailsTheGateAtOnce) {
  Fleet f(Strategy(CanaryWithPrometheus("rollback")));
  f.prometheus = 0.0;
  f.Step(2);
  f.Report();
  f.clock.Advance(seconds(5));
  f.prometheus = 0.25;
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "RolledBack");
  EXPECT_EQ(f.last.state.failed_gate, "prometheus");
  EXPECT_EQ(f.Assigned("us-1"), 1);
  EXPECT_NE(f.last.condition_message.find(
                "stage canary (1/3) of revision 2: gate prometheus failed: the query "
                "sum(rate(errors[1m])) / sum(rate(requests[1m])) is 0.25, above max 0.01; every "
                "member returns to revision 1"),
            std::string::npos)
      << f.last.condition_message;
  EXPECT_EQ(f.last.events.at(0).reason, "RolloutRolledBack");
}

// An evaluation that fails (an error, no data, NaN: rollout/prometheus_gate.h) is never a pass:
// the gate fails at gateTimeoutSeconds, saying why, even though every member is ready.
TEST(StageMachine, APrometheusGateThatCannotBeEvaluatedFailsAtTheTimeoutNamingWhy) {
  Fleet f(Strategy(CanaryWithPrometheus()));
  f.prometheus_error = "the query returned no series";
  f.Step(2);
  f.Report();
  for (int i = 0; i < 11; ++i) {
    f.clock.Advance(seconds(5));
    f.Step(2);
    ASSERT_EQ(f.last.state.phase, "Progressing") << i;
  }
  f.clock.Advance(seconds(5));
  f.Step(2);  // 60 s after the canary got revision 2
  EXPECT_EQ(f.last.state.phase, "Halted");
  EXPECT_EQ(f.last.state.failed_gate, "prometheus");
  EXPECT_NE(f.last.condition_message.find(
                "gate prometheus failed: not passed within 60s: the query could not be "
                "evaluated: the query returned no series; halted"),
            std::string::npos)
      << f.last.condition_message;
}

// After a stage is drained, resolvers may still hold an answer naming its members for the
// name's TTL: none of them is changed before that (phase Draining, drainUntil), a pause
// meanwhile moves nothing, and the wait is kept across a restart (it is in the status).
TEST(StageMachine, ADrainedStageWaitsTheDnsTtlBeforeChangingItsMembers) {
  Fleet f(Strategy(DrainedEu()));
  f.dns = true;
  f.dns_ttl_seconds = 30;
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Progressing");  // the canary stage is not drained: no wait
  EXPECT_EQ(f.At2(), "us-1");
  f.Report();
  f.Step(2);
  f.clock.Advance(seconds(15));
  f.Step(2);
  const Timestamp until = f.clock.Now() + seconds(30);
  EXPECT_EQ(f.last.state.stage_name, "eu");
  EXPECT_EQ(f.last.state.phase, "Draining");
  EXPECT_EQ(f.last.state.drain_until, FormatMillis(until));
  EXPECT_EQ(f.Drained(), "eu-1,eu-2");
  EXPECT_EQ(f.At2(), "us-1");  // the EU members are not changed yet
  EXPECT_EQ(f.last.requeue_at, until);
  EXPECT_TRUE(f.HasEvent("RolloutDrained"));
  EXPECT_TRUE(f.HasEvent("RolloutDraining"));
  EXPECT_NE(f.last.condition_message.find("is drained from DNS; its members change from " +
                                          FormatMillis(until)),
            std::string::npos)
      << f.last.condition_message;
  f.clock.Advance(seconds(10));
  f.paused = true;
  f.Step(2);
  EXPECT_EQ(f.Drained(), "eu-1,eu-2");
  f.clock.Advance(seconds(10));
  f.paused = false;
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Draining");
  f.clock.Advance(seconds(9));
  f.Step(2);
  EXPECT_EQ(f.At2(), "us-1");
  f.clock.Advance(seconds(1));
  f.Step(2);  // the TTL is over: the drained members are changed
  EXPECT_EQ(f.last.state.phase, "Progressing");
  EXPECT_EQ(f.At2(), "eu-1,eu-2,us-1");
  EXPECT_EQ(f.Drained(), "eu-1,eu-2");
  // The gate timeout counts from the change, not from the drain.
  EXPECT_EQ(f.last.state.batch_started_at, FormatMillis(until));

  // Changed one at a time (residency leaves no other member to answer): nothing to wait for.
  Fleet eu_only(Strategy(DrainedEu()));
  eu_only.dns = true;
  eu_only.dns_ttl_seconds = 30;
  for (const char* m : {"us-1", "us-2", "ap-1"}) eu_only.SetDnsAllowed(m, false);
  eu_only.ToTheEuStage();
  EXPECT_EQ(eu_only.last.state.drain, "OneAtATime");
  EXPECT_EQ(eu_only.last.state.phase, "Progressing");
  EXPECT_EQ(eu_only.last.state.drain_until, "");
  EXPECT_EQ(eu_only.At2(), "eu-1,us-1");
}

// ThreeStages with the canary's completion behind a human: after {approval: true}.
json CanaryApprovedAfter() {
  json strategy = ThreeStages();
  strategy["stages"][0]["after"] = {{"approval", true}};
  return strategy;
}

// An approval after a stage holds its completion (the next stage does not start) for as long as
// it takes, across controller restarts (Fleet keeps nothing but the stored status); the
// approval before a stage and the one after it are told apart.
TEST(StageMachine, AnApprovalAfterAStageHoldsItsCompletionAcrossARestart) {
  Fleet f(Strategy(CanaryApprovedAfter()));
  f.Step(2);
  f.Report();
  f.Step(2);
  f.clock.Advance(seconds(10));
  f.Step(2);  // the canary passed its gates: it waits for the approval after it
  EXPECT_EQ(f.last.state.phase, "WaitingForApproval");
  EXPECT_EQ(f.last.state.approval_point, "after");
  EXPECT_EQ(f.last.state.stage_name, "canary");
  EXPECT_FALSE(f.last.state.gates_passed_at.empty());
  EXPECT_EQ(f.last.condition_message,
            "stage canary (1/3) of revision 2 passed its gates; waits for approval after the "
            "stage (fedctl rollout approve)");
  ASSERT_EQ(f.last.events.size(), 1u);
  EXPECT_EQ(f.last.events[0].reason, "RolloutWaitingForApproval");
  EXPECT_TRUE(MembersBeingChanged(f.last.state).empty());  // the canary is done changing
  const api::RolloutStatus waiting = f.last.state;

  f.clock.Advance(seconds(3600));  // the controller was down for an hour: still waiting
  f.approval = "2/canary";         // the approval before the canary is not the one after it
  f.Step(2);
  EXPECT_EQ(f.last.state, waiting);
  EXPECT_TRUE(f.last.events.empty());
  EXPECT_EQ(f.At2(), "us-1");
  f.approval = "1/canary/after";  // nor is another revision's
  f.Step(2);
  EXPECT_EQ(f.last.state, waiting);

  f.approval = "2/canary/after";
  f.Step(2);  // afterStageWaitSeconds (5) ran alongside: the EU stage starts at once
  EXPECT_EQ(f.last.state.phase, "Progressing");
  EXPECT_EQ(f.last.state.stage_name, "eu");
  EXPECT_EQ(f.last.state.approval_point, "");
  EXPECT_EQ(f.At2(), "eu-1,eu-2,us-1");
  f.Report();
  f.Step(2);
  f.clock.Advance(seconds(10));
  f.Step(2);  // eu passed; "rest" waits for its approval before it
  EXPECT_EQ(f.last.state.phase, "WaitingForApproval");
  EXPECT_EQ(f.last.state.approval_point, "before");
  EXPECT_EQ(f.last.state.stage_name, "rest");
  EXPECT_TRUE(f.last.state.gates_passed_at.empty());
  f.approval = "2/rest/after";  // the after-approval of rest does not start it
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "WaitingForApproval");
  f.approval = "2/rest";
  f.Step(2);
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Complete");
}

// Approved before afterStageWaitSeconds ran out: the stage still completes at the wait's end.
TEST(StageMachine, AnEarlyApprovalAfterAStageStillWaitsTheAfterStageWait) {
  Fleet f(Strategy(CanaryApprovedAfter()));
  f.Step(2);
  f.Report();
  f.Step(2);
  f.clock.Advance(seconds(10));
  f.Step(2);
  const Timestamp passed = f.clock.Now();
  f.clock.Advance(seconds(2));
  f.approval = "2/canary/after";
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Waiting");
  EXPECT_EQ(f.last.state.approval_point, "");
  ASSERT_TRUE(f.last.requeue_at.has_value());
  EXPECT_EQ(*f.last.requeue_at, passed + seconds(5));
  f.clock.Advance(seconds(3));
  f.Step(2);
  EXPECT_EQ(f.last.state.stage_name, "eu");
}

// The canary with a prometheus gate after it and an approval after that: health is judged
// first, from when the canary's own gates passed, then a human is asked.
json CanaryCheckedAfter(const std::string& on_failure = "halt") {
  json strategy = CanaryApprovedAfter();
  strategy["onFailure"] = on_failure;
  strategy["stages"][0]["after"]["prometheus"] = {
      {"query", "sum(rate(errors[1m]))"}, {"max", 0.01}, {"forSeconds", 20}};
  return strategy;
}

TEST(StageMachine, APrometheusGateAfterAStageIsJudgedOnceItPassedThenTheApproval) {
  Fleet f(Strategy(CanaryCheckedAfter()));
  f.prometheus = 0.001;
  f.Step(2);
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.evaluations, 0);  // not while the canary changes
  f.clock.Advance(seconds(10));
  f.Step(2);  // the canary's gates passed: the after-gate's window starts with an evaluation
  const Timestamp passed = f.clock.Now();
  EXPECT_EQ(f.evaluations, 1);
  EXPECT_EQ(f.last.state.phase, "Waiting");
  EXPECT_EQ(f.last.state.prometheus_ok_since, FormatMillis(passed));
  EXPECT_NE(f.last.condition_message.find(
                "stage canary (1/3) of revision 2 passed its gates; after-stage prometheus gate: "),
            std::string::npos)
      << f.last.condition_message;
  EXPECT_NE(f.last.condition_message.find("(fails at " + FormatMillis(passed + seconds(60))),
            std::string::npos)
      << f.last.condition_message;
  for (int i = 0; i < 3; ++i) {
    f.clock.Advance(seconds(5));
    f.Step(2);
    EXPECT_EQ(f.last.state.phase, "Waiting") << i;
  }
  f.clock.Advance(seconds(5));
  f.Step(2);  // 20 s at or below max: passed; now the approval
  EXPECT_EQ(f.evaluations, 5);
  EXPECT_EQ(f.last.state.after_passed_at, FormatMillis(passed + seconds(20)));
  EXPECT_EQ(f.last.state.phase, "WaitingForApproval");
  EXPECT_EQ(f.last.state.approval_point, "after");
  f.clock.Advance(seconds(600));
  f.Step(2);  // a passed after-gate is not asked again while the human thinks
  EXPECT_EQ(f.evaluations, 5);
  EXPECT_EQ(f.last.state.phase, "WaitingForApproval");
  f.approval = "2/canary/after";
  f.Step(2);
  EXPECT_EQ(f.last.state.stage_name, "eu");
  EXPECT_EQ(f.last.state.after_passed_at, "");
}

TEST(StageMachine, AFailedPrometheusGateAfterAStageRollsBackOrTimesOut) {
  Fleet f(Strategy(CanaryCheckedAfter("rollback")));
  f.prometheus = 0.0;
  f.Step(2);
  f.Report();
  f.Step(2);
  f.clock.Advance(seconds(10));
  f.Step(2);
  f.clock.Advance(seconds(5));
  f.prometheus = 0.5;
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "RolledBack");
  EXPECT_EQ(f.last.state.failed_gate, "after.prometheus");
  EXPECT_EQ(f.Assigned("us-1"), 1);
  EXPECT_NE(f.last.condition_message.find(
                "stage canary (1/3) of revision 2: gate after.prometheus failed: the query "
                "sum(rate(errors[1m])) is 0.5, above max 0.01; every member returns to revision 1"),
            std::string::npos)
      << f.last.condition_message;

  // Never evaluable: it fails gateTimeoutSeconds after the stage's own gates passed.
  Fleet g(Strategy(CanaryCheckedAfter()));
  g.prometheus_error = "the query returned no series";
  g.Step(2);
  g.Report();
  g.Step(2);
  g.clock.Advance(seconds(10));
  g.Step(2);
  g.clock.Advance(seconds(59));
  g.Step(2);
  EXPECT_EQ(g.last.state.phase, "Waiting");
  g.clock.Advance(seconds(1));
  g.Step(2);
  EXPECT_EQ(g.last.state.phase, "Halted");
  EXPECT_EQ(g.last.state.failed_gate, "after.prometheus");
  EXPECT_NE(g.last.condition_message.find("not passed within 60s of the stage's gates: the "
                                          "query could not be evaluated: the query returned no "
                                          "series"),
            std::string::npos)
      << g.last.condition_message;
}

// The EU stage in groups: west one member at a time, central two at a time, and the EU members
// no group takes one at a time beside them; the stage passes when every group is done.
json EuInGroups() {
  return {{"gateTimeoutSeconds", 60},
          {"stages",
           {{{"name", "eu"},
             {"selector", {{"regions", {"eu"}}}},
             {"readySeconds", 10},
             {"groups",
              {{{"name", "west"}, {"selector", {{"clusters", {"eu-1", "eu-2"}}}}},
               {{"name", "central"},
                {"selector", {{"matchLabels", {{"zone-group", "central"}}}}},
                {"maxConcurrency", 2}}}}},
            {{"name", "rest"}}}}};
}

TEST(StageMachine, GroupsOfAStageRunInParallelTheirMembersOneByOne) {
  Fleet f(Strategy(EuInGroups()));
  for (const char* m : {"eu-3", "eu-4", "eu-5"}) f.AddMember(m, "eu", {{"zone-group", "central"}});
  f.AddMember("eu-6", "eu");  // in no group
  f.AddMember("eu-7", "eu");
  f.Step(2);
  // west: eu-1; central: eu-3 and eu-4; ungrouped: eu-6 — all at once.
  EXPECT_EQ(f.At2(), "eu-1,eu-3,eu-4,eu-6");
  f.Report({"eu-3"});  // eu-3 still coming up: central has room for one more
  f.Step(2);
  EXPECT_EQ(f.At2(), "eu-1,eu-2,eu-3,eu-4,eu-5,eu-6,eu-7");
  f.Report({"eu-7"});
  f.Step(2);
  f.clock.Advance(seconds(10));
  f.Step(2);  // every group but the ungrouped members' is done: the stage is not
  EXPECT_EQ(f.last.state.stage_name, "eu");
  EXPECT_EQ(f.last.state.phase, "Progressing");
  EXPECT_NE(f.last.condition_message.find("waiting for eu-7"), std::string::npos)
      << f.last.condition_message;
  f.Report();
  f.Step(2);
  f.clock.Advance(seconds(10));
  f.Step(2);
  EXPECT_EQ(f.last.state.stage_name, "rest");
  EXPECT_EQ(f.At2(), "ap-1,eu-1,eu-2,eu-3,eu-4,eu-5,eu-6,eu-7,us-1,us-2");
}

// A drill on a group's next member holds that group only; the stage's timers stand still
// until the drill ends, so the other groups' progress meanwhile does not start its timeout.
TEST(StageMachine, ADrillHoldsOneGroupWhileTheOthersGoOn) {
  Fleet f(Strategy(EuInGroups()));
  f.AddMember("eu-3", "eu", {{"zone-group", "central"}});
  f.AddMember("eu-4", "eu", {{"zone-group", "central"}});
  f.AddMember("eu-5", "eu", {{"zone-group", "central"}});
  f.SetDrill("eu-1", "west-outage");
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "WaitingForDrill");
  EXPECT_EQ(f.At2(), "eu-3,eu-4");
  f.Report();
  f.clock.Advance(seconds(30));
  f.Step(2);  // central goes on
  EXPECT_EQ(f.At2(), "eu-3,eu-4,eu-5");
  EXPECT_EQ(f.last.state.phase, "WaitingForDrill");
  f.Report();
  f.clock.Advance(seconds(300));  // far past the gate timeout
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "WaitingForDrill");
  f.SetDrill("eu-1", "");
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Progressing");
  EXPECT_EQ(f.At2(), "eu-1,eu-3,eu-4,eu-5");
  f.Report({"eu-1"});  // the gate timeout counts from now, not from central's batches
  ExpectHaltedIn(f, seconds(60));
}

// A stage that residency keeps from draining changes one member at a time across all of its
// groups, so one always serves.
TEST(StageMachine, OneAtATimeHoldsAcrossGroups) {
  json strategy = EuInGroups();
  strategy["stages"][0]["drain"] = true;
  Fleet f(Strategy(strategy));
  f.AddMember("eu-3", "eu", {{"zone-group", "central"}});
  f.dns = true;
  for (const char* m : {"us-1", "us-2", "ap-1"}) f.SetDnsAllowed(m, false);
  f.Step(2);
  EXPECT_EQ(f.last.state.drain, "OneAtATime");
  EXPECT_EQ(f.At2(), "eu-1");
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.At2(), "eu-1,eu-2");
  f.Report();
  f.Step(2);
  EXPECT_EQ(f.At2(), "eu-1,eu-2,eu-3");
}

TEST(StageMachine, GroupOverlapsNameTheLaterGroupAndTheMember) {
  const api::RolloutStrategySpec s =
      Strategy({{"stages",
                 {{{"name", "canary"}, {"selector", {{"clusters", {"eu-1"}}}}},
                  {{"name", "eu"},
                   {"selector", {{"regions", {"eu"}}}},
                   {"groups",
                    {{{"name", "a"}, {"selector", {{"matchLabels", {{"tier", "gold"}}}}}},
                     {{"name", "b"}, {"selector", {{"clusters", {"eu-2", "eu-3"}}}}},
                     {{"name", "c"}, {"selector", {{"regions", {"eu"}}}}}}}}}}});
  auto member = [](std::string name, std::string region, apimachinery::Labels labels) {
    MemberObservation m;
    m.name = std::move(name);
    m.region = std::move(region);
    m.labels = std::move(labels);
    return m;
  };
  // eu-1 is the canary's (its groups do not matter); eu-2 is in a and b; eu-3 in b and c;
  // us-1 is in no stage with groups.
  const std::vector<MemberObservation> members = {
      member("eu-1", "eu", {{"tier", "gold"}}), member("eu-2", "eu", {{"tier", "gold"}}),
      member("eu-3", "eu", {}), member("us-1", "us", {{"tier", "gold"}})};
  const FieldErrors errors = GroupOverlaps(s, members, "spec");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].path, "spec.stages[1].groups[1].selector");
  EXPECT_EQ(errors[0].message,
            "takes member eu-2, which groups[0] (a) takes too: a member belongs to one group");
  EXPECT_EQ(errors[1].path, "spec.stages[1].groups[2].selector");  // eu-2 in c too
  EXPECT_EQ(errors[2].path, "spec.stages[1].groups[2].selector");
  EXPECT_NE(errors[2].message.find("eu-3, which groups[1] (b)"), std::string::npos);
  EXPECT_TRUE(GroupOverlaps(s, {members[0], members[3]}, "spec").empty());
}

TEST(StageMachine, TimesKeepTheirMilliseconds) {
  // A rollout that started at .750 s must not see its 1 s gate pass at the next whole second.
  Fleet f(Strategy({{"stages", {{{"name", "a"}, {"readySeconds", 1}}}}}));
  f.clock.Advance(std::chrono::milliseconds(750));
  f.Step(2);
  f.Report();
  f.Step(2);
  f.clock.Advance(std::chrono::milliseconds(999));
  f.Step(2);
  EXPECT_NE(f.last.state.phase, "Complete");
  f.clock.Advance(std::chrono::milliseconds(1));
  f.Step(2);
  EXPECT_EQ(f.last.state.phase, "Complete");
}

TEST(StrategyValidation, NamesTheBadField) {
  struct Case {
    json spec;
    std::string path;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"stages", {{{"name", "a"}, {"selector", {{"zone", "x"}}}}}}},
       "spec.stages[0].selector.zone",
       "unknown field"},
      {{{"stages", {{{"name", "a"}}, {{"name", "a"}}}}}, "spec.stages[1].name", "duplicate stage"},
      {{{"stages",
         {{{"name", "a"}, {"selector", {{"clusters", {"c1"}}}}},
          {{"name", "b"}, {"selector", {{"clusters", {"c1"}}}}}}}},
       "spec.stages[1].selector.clusters[0]",
       "already in stages[0]"},
      {{{"stages", json::array()}}, "spec.stages", "at least one stage"},
      {{{"stages", {{{"name", "a"}, {"maxConcurrency", 0}}}}},
       "spec.stages[0].maxConcurrency",
       ">= 1"},
      {{{"stages", {{{"name", "a"}}}}, {"onFailure", "pray"}}, "spec.onFailure", "one of"},
      {{{"stages", {{{"name", "a"}, {"expand", "zoneByMood"}}}}},
       "spec.stages[0].expand",
       "one of"},
      {{{"stages", {{{"name", "a"}, {"expand", "regionBySize"}, {"continentLabel", "geo"}}}}},
       "spec.stages[0].continentLabel",
       "only with expand: regionPerContinent"},
      {{{"stages", {{{"name", "a"}, {"expand", "regionPerContinent"}, {"continentLabel", ""}}}}},
       "spec.stages[0].continentLabel",
       "must name a member label"},
      {{{"stages", {{{"name", "a"}, {"gates", json::object()}}}}},
       "spec.stages[0].gates",
       "unknown field"},
      {{{"stages", {{{"name", "a"}, {"drain", "yes"}}}}}, "spec.stages[0].drain", "boolean"},
      {{{"stages", {{{"name", "a"}, {"maxRestarts", -1}}}}},
       "spec.stages[0].maxRestarts",
       "must be >= 0"},
      {{{"stages", {{{"name", "a"}, {"prometheus", {{"query", "sum(rate(x[1m])"}, {"max", 1}}}}}}},
       "spec.stages[0].prometheus.query",
       "'(' is not closed"},
      {{{"stages", {{{"name", "a"}, {"prometheus", {{"query", "up"}}}}}}},
       "spec.stages[0].prometheus.max",
       "required"},
      {{{"stages", {{{"name", "a"}, {"prometheus", {{"query", "up"}, {"max", "1%"}}}}}}},
       "spec.stages[0].prometheus.max",
       "must be a number"},
      {{{"stages",
         {{{"name", "a"}, {"prometheus", {{"query", "up"}, {"max", 1}, {"for", "60s"}}}}}}},
       "spec.stages[0].prometheus.for",
       "unknown field"},
      {{{"stages",
         {{{"name", "a"}, {"prometheus", {{"query", "up"}, {"max", 1}, {"forSeconds", -5}}}}}}},
       "spec.stages[0].prometheus.forSeconds",
       "must be >= 0"},
      // After-stage gates.
      {{{"stages",
         {{{"name", "a"}, {"after", {{"prometheus", {{"query", "rate(x[1m]"}, {"max", 1}}}}}}}}},
       "spec.stages[0].after.prometheus.query",
       "'(' is not closed"},
      {{{"stages", {{{"name", "a"}, {"after", {{"soakSeconds", 60}}}}}}},
       "spec.stages[0].after.soakSeconds",
       "unknown field"},
      {{{"stages", {{{"name", "a"}, {"after", {{"approval", "yes"}}}}}}},
       "spec.stages[0].after.approval",
       "boolean"},
      // Groups.
      {{{"stages", {{{"name", "a"}, {"groups", json::array()}}}}},
       "spec.stages[0].groups",
       "at least one group"},
      {{{"stages", {{{"name", "a"}, {"groups", {{{"name", "g"}, {"selector", json::object()}}}}}}}},
       "spec.stages[0].groups[0].selector",
       "an empty group would take every member of the stage"},
      {{{"stages", {{{"name", "a"}, {"groups", {{{"name", "g"}}}}}}}},
       "spec.stages[0].groups[0].selector",
       "required"},
      {{{"stages",
         {{{"name", "a"}, {"groups", {{{"name", "g"}, {"selector", {{"zones", {"z1"}}}}}}}}}}},
       "spec.stages[0].groups[0].selector.zones",
       "unknown field"},
      {{{"stages",
         {{{"name", "a"},
           {"selector", {{"clusters", {"c1", "c2"}}}},
           {"groups", {{{"name", "g"}, {"selector", {{"clusters", {"c3"}}}}}}}}}}},
       "spec.stages[0].groups[0].selector.clusters[0]",
       "cluster \"c3\" is not in the stage"},
      {{{"stages",
         {{{"name", "a"},
           {"selector", {{"regions", {"eu"}}}},
           {"groups", {{{"name", "g"}, {"selector", {{"regions", {"us"}}}}}}}}}}},
       "spec.stages[0].groups[0].selector.regions[0]",
       "region \"us\" is not in the stage"},
      {{{"stages",
         {{{"name", "a"},
           {"groups",
            {{{"name", "g"}, {"selector", {{"clusters", {"c1"}}}}},
             {{"name", "h"}, {"selector", {{"clusters", {"c2", "c1"}}}}}}}}}}},
       "spec.stages[0].groups[1].selector.clusters[1]",
       "already in groups[0]: a member belongs to one group"},
      {{{"stages",
         {{{"name", "a"},
           {"groups",
            {{{"name", "g"}, {"selector", {{"regions", {"eu"}}}}},
             {{"name", "h"}, {"selector", {{"regions", {"eu"}}}}}}}}}}},
       "spec.stages[0].groups[1].selector.regions[0]",
       "already in groups[0]"},
      {{{"stages",
         {{{"name", "a"},
           {"groups",
            {{{"name", "g"}, {"selector", {{"clusters", {"c1"}}}}},
             {{"name", "g"}, {"selector", {{"clusters", {"c2"}}}}}}}}}}},
       "spec.stages[0].groups[1].name",
       "duplicate group"},
      {{{"stages",
         {{{"name", "a"},
           {"maxConcurrency", 2},
           {"groups", {{{"name", "g"}, {"selector", {{"clusters", {"c1"}}}}}}}}}}},
       "spec.stages[0].maxConcurrency",
       "not with groups"},
      {{{"stages",
         {{{"name", "a"},
           {"groups",
            {{{"name", "g"}, {"selector", {{"clusters", {"c1"}}}}, {"maxConcurrency", 0}}}}}}}},
       "spec.stages[0].groups[0].maxConcurrency",
       ">= 1"},
  };
  for (const Case& c : cases) {
    FieldErrors errors;
    api::DecodeRolloutStrategySpec(c.spec, "spec", &errors);
    ASSERT_FALSE(errors.empty()) << c.spec.dump();
    EXPECT_EQ(errors[0].path, c.path) << c.spec.dump();
    EXPECT_NE(errors[0].message.find(c.message), std::string::npos) << errors[0].message;
  }
}

TEST(StrategyValidation, GroupsAndAfterGatesRoundTrip) {
  json spec = EuInGroups();
  spec["stages"][0]["after"] = {{"approval", true},
                                {"prometheus", {{"query", "up"}, {"max", 1}, {"forSeconds", 30}}}};
  const api::RolloutStrategySpec s = Strategy(spec);
  ASSERT_EQ(s.stages[0].groups.size(), 2u);
  EXPECT_EQ(s.stages[0].groups[0].max_concurrency, 1);  // one by one unless told
  EXPECT_EQ(s.stages[0].groups[1].max_concurrency, 2);
  EXPECT_TRUE(s.stages[0].after.approval);
  EXPECT_EQ(Strategy(api::EncodeRolloutStrategySpec(s)), s);
  api::RolloutStatus status;
  status.approval_point = "after";
  status.after_passed_at = "2026-12-06T12:00:00.000Z";
  FieldErrors errors;
  EXPECT_EQ(api::DecodeRolloutStatus(api::EncodeRolloutStatus(status), "s", &errors), status);
  EXPECT_TRUE(errors.empty());
}

TEST(RolloutStatusDecoding, ListsAreCheckedNamingTheItem) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"derived", "eu"}}, "status.rollout.derived"},
      {{{"derived", {{{"stage", "r"}, {"zone", "x"}}}}}, "status.rollout.derived[0].zone"},
      {{{"derived", {"r"}}}, "status.rollout.derived[0]"},
      {{{"members", {{{"cluster", "a"}, {"revision", 1}}, {{"cluster", "b"}, {"rev", 2}}}}},
       "status.rollout.members[1].rev"},
  };
  for (const auto& [j, path] : cases) {
    FieldErrors errors;
    api::DecodeRolloutStatus(j, "status.rollout", &errors);
    ASSERT_EQ(errors.size(), 1u) << j.dump();
    EXPECT_EQ(errors[0].path, path) << j.dump();
  }
  FieldErrors errors;
  const api::RolloutStatus s = api::DecodeRolloutStatus(
      {{"derived", {{{"stage", "r"}, {"regions", {"ap", "eu"}}}}}}, "status.rollout", &errors);
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(s.derived, (std::vector<api::DerivedStage>{{"r", {"ap", "eu"}}}));
  EXPECT_EQ(api::DecodeRolloutStatus(api::EncodeRolloutStatus(s), "status.rollout", &errors), s);
}

TEST(Revisions, EveryTemplateChangeIsANewNumberAndHistoryIsBounded) {
  FakeClock clock;
  api::FederatedWorkload w;
  w.spec.revision_history_limit = 2;
  api::FederatedWorkloadStatus status;
  for (int i = 1; i <= 5; ++i) {
    w.spec.template_ = {{"kind", "Deployment"}, {"image", "web:" + std::to_string(i)}};
    EXPECT_TRUE(RecordRevision(w, clock.Now(), &status));
    EXPECT_FALSE(RecordRevision(w, clock.Now(), &status));  // unchanged template
    if (i == 1) {
      // Revision 1 runs somewhere: it is kept however old it gets.
      status.clusters.push_back({.cluster = "eu-1", .revision = 1});
    }
  }
  std::vector<int64_t> kept;
  for (const auto& r : status.revisions) kept.push_back(r.revision);
  EXPECT_EQ(kept, (std::vector<int64_t>{1, 5}));
  // Back to an older template: a new number, like kubectl rollout undo.
  w.spec.template_ = {{"kind", "Deployment"}, {"image", "web:1"}};
  EXPECT_TRUE(RecordRevision(w, clock.Now(), &status));
  EXPECT_EQ(status.revisions.back().revision, 6);
  EXPECT_EQ(status.revisions.back().template_hash, status.revisions.front().template_hash);
}

// RevisionsCurrent (the controller's no-copy skip) says exactly when RecordRevision would
// change nothing: a new template, a lower history limit, a revision no member runs any more.
TEST(Revisions, CurrentIsWhenRecordingWouldChangeNothing) {
  FakeClock clock;
  api::FederatedWorkload w;
  w.spec.revision_history_limit = 3;
  auto agree = [&](const char* when) {
    api::FederatedWorkloadStatus copy = w.status;
    const bool changes = RecordRevision(w, clock.Now(), &copy);
    EXPECT_EQ(RevisionsCurrent(w), !changes) << when;
    w.status = std::move(copy);
  };
  agree("no revision yet");
  agree("recorded");
  for (int i = 2; i <= 4; ++i) {
    w.spec.template_ = {{"kind", "Deployment"}, {"image", "web:" + std::to_string(i)}};
    agree("a new template");
    agree("recorded");
    w.status.clusters = {{.cluster = "eu-1", .revision = i - 1}, {.cluster = "us-1", .revision = i}};
    agree("members run the last two");
  }
  w.spec.revision_history_limit = 1;
  agree("over a lower limit, revisions in use");
  w.status.clusters = {{.cluster = "eu-1", .revision = 4}, {.cluster = "us-1", .revision = 4}};
  agree("an old revision no member runs any more");
  agree("dropped");
  EXPECT_TRUE(RevisionsCurrent(w));
}

}  // namespace
}  // namespace meridian::rollout
