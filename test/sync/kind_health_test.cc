// sync/kind_health.h: each kind's health from a member's copy, as Kubernetes judges it, and
// the aggregate over members (tables).
#include "sync/kind_health.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace meridian::sync {
namespace {

using nlohmann::json;

json Object(const std::string& kind, json status, int64_t generation = 1) {
  json o = {{"kind", kind}, {"metadata", {{"name", "x"}, {"generation", generation}}}};
  if (!status.is_null()) o["status"] = std::move(status);
  return o;
}

json Ds(int64_t desired, int64_t ready, int64_t updated, int64_t available, int64_t observed = 1) {
  return Object("DaemonSet", {{"observedGeneration", observed},
                              {"desiredNumberScheduled", desired},
                              {"currentNumberScheduled", desired},
                              {"numberReady", ready},
                              {"updatedNumberScheduled", updated},
                              {"numberAvailable", available}});
}

json Job(json conditions, int64_t active, int64_t succeeded, int64_t failed) {
  return Object("Job", {{"active", active},
                        {"succeeded", succeeded},
                        {"failed", failed},
                        {"startTime", "2026-12-06T03:00:00Z"},
                        {"conditions", std::move(conditions)}});
}

json Cond(const std::string& type, const std::string& status, const std::string& reason = "") {
  return {{"type", type}, {"status", status}, {"reason", reason}};
}

TEST(KindHealthTest, EachKindAsKubernetesJudgesIt) {
  struct Case {
    const char* name;
    json object;
    bool healthy;
    const char* reason;  // part of the reason
  };
  const Case cases[] = {
      {"daemonset all there", Ds(3, 3, 3, 3), true, "3/3 ready, 3/3 updated, 3/3 available"},
      {"daemonset one not ready", Ds(3, 2, 3, 2), false, "2/3 ready"},
      {"daemonset rolling", Ds(3, 3, 1, 3), false, "1/3 updated"},
      {"daemonset old generation", Ds(3, 3, 3, 3, 0), false, "generation 1 not observed yet"},
      {"daemonset on no node", Ds(0, 0, 0, 0), true, "0/0 ready"},
      {"daemonset no status", Object("DaemonSet", json()), false, "no status reported yet"},
      {"job complete", Job(json::array({Cond("Complete", "True")}), 0, 8, 0), true, "complete"},
      {"job failed", Job(json::array({Cond("Failed", "True", "BackoffLimitExceeded")}), 0, 2, 6), false,
       "failed: BackoffLimitExceeded"},
      {"job running", Job(json::array(), 4, 2, 0), false, "running (active 4, succeeded 2"},
      {"job complete False", Job(json::array({Cond("Complete", "False")}), 1, 0, 0), false, "running"},
      {"cronjob never run", Object("CronJob", json::object()), true, "not scheduled yet"},
      {"cronjob running",
       Object("CronJob",
              {{"active", {{{"name", "r-1"}}}}, {"lastScheduleTime", "2026-12-06T03:00:00Z"}}),
       true, "active 1, last scheduled 2026-12-06T03:00:00Z"},
      {"ingress with address",
       Object("Ingress", {{"loadBalancer", {{"ingress", {{{"ip", "10.0.0.7"}}}}}}}), true,
       "1 load balancer ingress point"},
      {"ingress without", Object("Ingress", {{"loadBalancer", json::object()}}), false,
       "no load balancer address yet"},
      {"pdb enough", Object("PodDisruptionBudget", {{"currentHealthy", 3}, {"desiredHealthy", 2}}),
       true, "3/2 healthy pods"},
      {"pdb short", Object("PodDisruptionBudget", {{"currentHealthy", 1}, {"desiredHealthy", 2}}),
       false, "1/2 healthy pods"},
      {"unknown kind", Object("Widget", json::object()), false, "no health model for Widget"},
  };
  for (const Case& c : cases) {
    MemberHealth h = HealthOf(c.object);
    EXPECT_EQ(h.healthy, c.healthy) << c.name << ": " << h.reason;
    EXPECT_NE(h.reason.find(c.reason), std::string::npos) << c.name << ": " << h.reason;
  }
}

TEST(KindHealthTest, ModelsOnlyTheFiveKindsInTheirGroups) {
  EXPECT_TRUE(KindHealthModel("apps/v1", "DaemonSet"));
  EXPECT_TRUE(KindHealthModel("batch/v1", "Job"));
  EXPECT_TRUE(KindHealthModel("batch/v1", "CronJob"));
  EXPECT_TRUE(KindHealthModel("networking.k8s.io/v1", "Ingress"));
  EXPECT_TRUE(KindHealthModel("policy/v1", "PodDisruptionBudget"));
  EXPECT_FALSE(KindHealthModel("apps/v1", "Deployment"));  // AggregatedStatus's
  EXPECT_FALSE(KindHealthModel("example.com/v1", "Job"));  // a custom kind named Job
  EXPECT_FALSE(KindHealthModel("v1", "ConfigMap"));
}

TEST(KindHealthTest, AggregatesSumCountsAndSayWhoIsUnhealthy) {
  const std::string now = "2026-12-06T05:00:00Z";
  struct Case {
    const char* name;
    std::string kind;
    std::map<std::string, json> members;
    json want;  // the status without conditions
    bool healthy;
    const char* message;  // part of the Healthy condition's message
  };
  json job_a = Job(json::array({Cond("Complete", "True")}), 0, 8, 0);
  job_a["status"]["completionTime"] = "2026-12-06T03:10:00Z";
  json job_b = Job(json::array({Cond("Complete", "True")}), 0, 8, 1);
  job_b["status"]["startTime"] = "2026-12-06T02:59:00Z";
  job_b["status"]["completionTime"] = "2026-12-06T03:20:00Z";
  json cron_a = Object(
      "CronJob", {{"active", {{{"name", "r-1"}}}}, {"lastScheduleTime", "2026-12-06T03:00:00Z"}});
  json cron_b = Object("CronJob", {{"active", {{{"name", "r-1"}}, {{"name", "r-2"}}}},
                                   {"lastScheduleTime", "2026-12-06T04:00:00Z"},
                                   {"lastSuccessfulTime", "2026-12-06T02:00:00Z"}});
  json ing_a = Object("Ingress", {{"loadBalancer", {{"ingress", {{{"ip", "10.0.0.7"}}}}}}});
  json ing_b =
      Object("Ingress",
             {{"loadBalancer", {{"ingress", {{{"ip", "10.0.0.7"}}, {{"hostname", "lb.eu"}}}}}}});
  const Case cases[] = {
      {"daemonsets",
       "DaemonSet",
       {{"eu-west-1", Ds(3, 3, 3, 3)}, {"us-east-1", Ds(2, 1, 2, 1)}},
       {{"desiredNumberScheduled", 5},
        {"currentNumberScheduled", 5},
        {"numberReady", 4},
        {"updatedNumberScheduled", 5},
        {"numberAvailable", 4},
        {"numberUnavailable", 0},
        {"numberMisscheduled", 0}},
       false,
       "us-east-1: 1/2 ready, 2/2 updated, 1/2 available"},
      {"jobs complete",
       "Job",
       {{"a", job_a}, {"b", job_b}},
       {{"active", 0},
        {"ready", 0},
        {"succeeded", 16},
        {"failed", 1},
        {"startTime", "2026-12-06T02:59:00Z"},
        {"completionTime", "2026-12-06T03:20:00Z"}},
       true,
       "healthy on 2 member(s)"},
      {"jobs one running",
       "Job",
       {{"a", job_a}, {"b", Job(json::array(), 2, 3, 0)}},
       {{"active", 2},
        {"ready", 0},
        {"succeeded", 11},
        {"failed", 0},
        {"startTime", "2026-12-06T03:00:00Z"}},
       false,
       "b: running"},
      {"cronjobs",
       "CronJob",
       {{"a", cron_a}, {"b", cron_b}},
       {{"active", {{{"name", "r-1"}}, {{"name", "r-2"}}}},
        {"lastScheduleTime", "2026-12-06T04:00:00Z"},
        {"lastSuccessfulTime", "2026-12-06T02:00:00Z"}},
       true,
       "healthy on 2"},
      {"ingresses",
       "Ingress",
       {{"a", ing_a}, {"b", ing_b}},
       {{"loadBalancer", {{"ingress", {{{"ip", "10.0.0.7"}}, {{"hostname", "lb.eu"}}}}}}},
       true,
       "healthy on 2"},
      {"pdbs",
       "PodDisruptionBudget",
       {{"a", Object("PodDisruptionBudget", {{"currentHealthy", 3},
                                             {"desiredHealthy", 2},
                                             {"expectedPods", 3},
                                             {"disruptionsAllowed", 1}})},
        {"b", Object("PodDisruptionBudget", {{"currentHealthy", 1},
                                             {"desiredHealthy", 2},
                                             {"expectedPods", 2},
                                             {"disruptionsAllowed", 0}})}},
       {{"currentHealthy", 4},
        {"desiredHealthy", 4},
        {"expectedPods", 5},
        {"disruptionsAllowed", 1}},
       false,
       "b: 1/2 healthy pods"},
      {"nowhere", "DaemonSet", {}, json::object(), false, "not on any member"},
  };
  for (const Case& c : cases) {
    json got = AggregateKindStatus(c.kind, c.members, json(), now);
    if (c.kind == "CronJob" || c.kind == "Ingress") {
      // Their status has no conditions in Kubernetes: the aggregate alone.
      EXPECT_EQ(got, c.want) << c.name << ": " << got.dump();
      continue;
    }
    json conditions = got["conditions"];
    got.erase("conditions");
    EXPECT_EQ(got, c.want) << c.name << ": " << got.dump();
    ASSERT_TRUE(conditions.is_array() && !conditions.empty()) << c.name;
    const json& healthy = conditions.back();
    EXPECT_EQ(healthy["type"], "Healthy") << c.name;
    EXPECT_EQ(healthy["status"], c.healthy ? "True" : "False") << c.name;
    EXPECT_NE(healthy["message"].get<std::string>().find(c.message), std::string::npos)
        << c.name << ": " << healthy.dump();
  }
}

TEST(KindHealthTest, JobConditionsAndTransitionTimes) {
  const std::string t0 = "2026-12-06T05:00:00Z", t1 = "2026-12-06T05:01:00Z";
  json done = Job(json::array({Cond("Complete", "True")}), 0, 1, 0);
  json failed = Job(json::array({Cond("Failed", "True", "DeadlineExceeded")}), 0, 0, 3);
  json s = AggregateKindStatus("Job", {{"a", done}, {"b", failed}}, json(), t0);
  ASSERT_EQ(s["conditions"].size(), 2u);  // no Complete: b failed
  EXPECT_EQ(s["conditions"][0]["type"], "Failed");
  EXPECT_EQ(s["conditions"][0]["message"], "the Job failed on b");
  EXPECT_EQ(s["conditions"][1]["status"], "False");
  EXPECT_FALSE(s.contains("completionTime"));
  // Same outcome later: the transition times stay, so an unchanged status is not rewritten.
  EXPECT_EQ(AggregateKindStatus("Job", {{"a", done}, {"b", failed}}, s, t1), s);
  json ok = AggregateKindStatus("Job", {{"a", done}}, s, t1);
  EXPECT_EQ(ok["conditions"][0]["type"], "Complete");
  EXPECT_EQ(ok["conditions"][0]["lastTransitionTime"], t1);
  EXPECT_EQ(ok["conditions"][1]["status"], "True");
  EXPECT_EQ(ok["conditions"][1]["lastTransitionTime"], t1);
}

// A custom kind judged by its ResourceInterpreter (api/resource_interpreter.h).
api::InterpreterRule Rule(json spec) {
  spec["target"] = {{"apiVersion", "example.com/v1"}, {"kind", "Widget"}};
  FieldErrors errors;
  api::InterpreterRule rule =
      api::DecodeResourceInterpreter({{"apiVersion", "federation.meridian.io/v1alpha1"},
                                      {"kind", "ResourceInterpreter"},
                                      {"metadata", {{"name", "widgets"}}},
                                      {"spec", std::move(spec)}},
                                     &errors)
          .rule;
  EXPECT_TRUE(errors.empty()) << errors[0].ToString();
  return rule;
}

json Widget(json status) { return Object("Widget", std::move(status)); }

TEST(InterpretedHealthTest, ReadyReplicasAndHealthFollowTheRule) {
  const api::InterpreterRule by_count = Rule({{"readyReplicasPath", ".status.readyReplicas"}});
  const api::InterpreterRule by_condition = Rule({{"readyCondition", "Ready"}});
  const api::InterpreterRule both =
      Rule({{"readyCondition", "Ready"}, {"readyReplicasPath", ".status.readyReplicas"}});
  const api::InterpreterRule nothing = Rule({{"statusAggregation", {".status.jobs"}}});
  const json ready = json::array({Cond("Ready", "True")});
  json failing = json::array({Cond("Ready", "False")});
  failing[0]["message"] = "job manager down";
  struct Case {
    const api::InterpreterRule* rule;
    json object;
    int64_t want;
    int64_t ready_replicas;
    bool healthy;
    std::string reason;
  };
  for (const Case& c : std::vector<Case>{
           {&by_count, Widget({{"readyReplicas", 5}}), 5, 5, true, "5/5 ready"},
           {&by_count, Widget({{"readyReplicas", 2}}), 5, 2, false, "2/5 ready"},
           {&by_count, Widget({{"readyReplicas", "5"}}), 5, 0, false, "0/5 ready"},
           {&by_count, Widget(json()), 5, 0, false, "0/5 ready"},
           {&by_condition, Widget({{"conditions", ready}}), 4, 4, true, "condition Ready"},
           {&by_condition, Widget({{"conditions", failing}}), 4, 0, false,
            "condition Ready is False: job manager down"},
           {&by_condition, Widget(json()), 4, 0, false, "condition Ready not reported"},
           {&both, Widget({{"conditions", ready}, {"readyReplicas", 3}}), 4, 3, false, "3/4 ready"},
           {&both, Widget({{"conditions", failing}, {"readyReplicas", 4}}), 4, 4, false,
            "condition Ready is False: job manager down"},
           {&both, Widget({{"conditions", ready}, {"readyReplicas", 4}}), 4, 4, true, "4/4 ready"},
           {&nothing, Widget(json()), 3, 3, true, "present"},
       }) {
    EXPECT_EQ(InterpretedReadyReplicas(*c.rule, c.object, c.want), c.ready_replicas)
        << c.object.dump();
    const MemberHealth h = InterpretedHealthOf(*c.rule, {c.object, c.want});
    EXPECT_EQ(h.healthy, c.healthy) << c.object.dump();
    EXPECT_EQ(h.reason, c.reason) << c.object.dump();
  }
}

TEST(InterpretedHealthTest, AggregateSumsTheFieldsAndNamesUnhealthyMembers) {
  const api::InterpreterRule rule =
      Rule({{"readyReplicasPath", ".status.readyReplicas"},
            {"statusAggregation", {".status.jobs", ".status.load.cpu", ".status.absent"}}});
  const std::string t0 = "2026-12-06T12:00:00Z", t1 = "2026-12-06T12:05:00Z";
  std::map<std::string, InterpretedMember> members = {
      {"eu-central-1", {Widget({{"readyReplicas", 5}, {"jobs", 2}, {"load", {{"cpu", 0.5}}}}), 5}},
      {"eu-west-1", {Widget({{"readyReplicas", 3}, {"jobs", 1}, {"load", {{"cpu", 1}}}}), 5}},
  };
  json status = AggregateInterpretedStatus(rule, members, json::object(), t0);
  EXPECT_EQ(status["readyReplicas"], 8);
  EXPECT_EQ(status["jobs"], 3);
  EXPECT_DOUBLE_EQ(status["load"]["cpu"].get<double>(), 1.5);
  EXPECT_FALSE(status.contains("absent"));  // no member reports it
  ASSERT_EQ(status["conditions"].size(), 1u);
  EXPECT_EQ(status["conditions"][0]["type"], "Healthy");
  EXPECT_EQ(status["conditions"][0]["status"], "False");
  EXPECT_EQ(status["conditions"][0]["reason"], "MembersUnhealthy");
  EXPECT_EQ(status["conditions"][0]["message"], "ready on 1/2 members; eu-west-1: 3/5 ready");
  EXPECT_EQ(status["conditions"][0]["lastTransitionTime"], t0);

  // eu-west-1 catches up: healthy; unchanged afterwards means equal (written once).
  members["eu-west-1"].object["status"]["readyReplicas"] = 5;
  json healthy = AggregateInterpretedStatus(rule, members, status, t1);
  EXPECT_EQ(healthy["readyReplicas"], 10);
  EXPECT_EQ(healthy["conditions"][0]["status"], "True");
  EXPECT_EQ(healthy["conditions"][0]["reason"], "AllMembersHealthy");
  EXPECT_EQ(healthy["conditions"][0]["message"], "ready on 2/2 members");
  EXPECT_EQ(healthy["conditions"][0]["lastTransitionTime"], t1);
  EXPECT_EQ(AggregateInterpretedStatus(rule, members, healthy, "2026-12-06T13:00:00Z"), healthy);

  // Stale fields of the previous status are not kept; no members: NoMembers.
  json none = AggregateInterpretedStatus(rule, {}, healthy, t1);
  EXPECT_EQ(none.size(), 1u) << none.dump();
  EXPECT_EQ(none["conditions"][0]["status"], "False");
  EXPECT_EQ(none["conditions"][0]["reason"], "NoMembers");
  EXPECT_EQ(none["conditions"][0]["message"], "not on any member");
}

}  // namespace
}  // namespace meridian::sync
