// Staged rollouts end to end (issue 23): membersim with five clusters and the
// federation-apiserver with every controller, as real processes on free loopback ports. A
// RolloutStrategy of three stages — the canary cluster us-west-1, then the EU regions, then
// the rest behind an approval — rolls out a new image; a sampler thread reads every member's
// Deployment straight from membersim every 50 ms, and the order is judged from the members'
// pods (membersim stamps when each was bound and turned ready, in ms): what the test judges is
// what the members ran, not what Meridian's status says.
//
//   1. the new image reaches the canary first, the EU members only once the canary runs it
//      ready, and the rest only after `fedctl rollout approve` (it waits at the approval);
//   2. a bad image (pods never ready: membersim's never-ready annotation) halts at the canary
//      gate and, with onFailure: rollback, the canary returns to the previous image; no other
//      member ever runs the bad one; the Rollout condition and an Event name the failed gate;
//      meanwhile a live drill on the canary is refused naming spec.target and the rollout;
//   3. a crash-looping image (membersim's crashLoop pattern: restarts every 500 ms, never ready)
//      fails the canary's maxRestarts gate before the gate timeout and rolls back;
//   4. `fedctl rollout undo --to-revision N` for a revision not kept is refused naming the
//      flag and changes nothing; `fedctl rollout undo` goes back to the good template;
//   5. a plain Deployment (issue 18's zero-change path) placed by a PlacementPolicy with a
//      two-stage rollout: a new image reaches the canary first and the other members only after
//      `fedctl rollout approve deployment/api`, judged from the members' pods as in 1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

const std::vector<std::string> kMembers = {"ap-south-1", "eu-central-1", "eu-west-1", "us-east-1",
                                           "us-west-1"};

constexpr char kMembersim[] = R"(defaults:
  podReadyDelay: 300ms
  crashLoop: {image: "example/web:crash*", every: 500ms}
  node: {cpu: "4", memory: 8Gi, pods: 110}
clusters:
  - {name: us-east-1, region: us-east, jurisdiction: us, zones: [{name: us-east-1a, nodes: 1}]}
  - {name: us-west-1, region: us-west, jurisdiction: us, zones: [{name: us-west-1a, nodes: 1}]}
  - {name: eu-west-1, region: eu-west, jurisdiction: eu, zones: [{name: eu-west-1a, nodes: 1}]}
  - {name: eu-central-1, region: eu-central, jurisdiction: eu, zones: [{name: eu-central-1a, nodes: 1}]}
  - {name: ap-south-1, region: ap-south, jurisdiction: in, zones: [{name: ap-south-1a, nodes: 1}]}
)";

constexpr char kStrategy[] = R"(apiVersion: federation.meridian.io/v1alpha1
kind: RolloutStrategy
metadata: {name: canary-eu-rest}
spec:
  onFailure: rollback
  gateTimeoutSeconds: 5
  stages:
    - {name: canary, selector: {clusters: [us-west-1]}, readySeconds: 1, maxRestarts: 2}
    - {name: eu, selector: {regions: [eu-west, eu-central]}, readySeconds: 1}
    - {name: rest, approval: true}
)";

std::string Members(int sim_port) {
  std::string out;
  const std::vector<std::tuple<std::string, std::string, std::string>> members = {
      {"us-east-1", "us-east", "us"},
      {"us-west-1", "us-west", "us"},
      {"eu-west-1", "eu-west", "eu"},
      {"eu-central-1", "eu-central", "eu"},
      {"ap-south-1", "ap-south", "in"}};
  for (const auto& [name, region, jurisdiction] : members) {
    out +=
        "---\napiVersion: federation.meridian.io/v1alpha1\nkind: MemberCluster\n"
        "metadata: {name: " +
        name + "}\nspec:\n  server: http://127.0.0.1:" + std::to_string(sim_port) + "/clusters/" +
        name + "\n  region: " + region + "\n  jurisdiction: " + jurisdiction + "\n  zones: [" +
        name + "a]\n";
  }
  return out;
}

// Five replicas, one per member; `pod_annotations` goes into the pod template.
std::string Workload(const std::string& image, const std::string& pod_annotations = "") {
  return "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
         "apiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"
         "metadata: {name: web, namespace: shop}\nspec:\n"
         "  rollout: {strategyRef: {name: canary-eu-rest}}\n"
         "  placement:\n    distribution: {weights: {us-east: 1, us-west: 1, eu-west: 1, "
         "eu-central: 1, ap-south: 1}}\n"
         "    failover: {recoveryDelaySeconds: 1}\n"  // a drilled member returns at once
         "  template:\n    apiVersion: apps/v1\n    kind: Deployment\n"
         "    metadata: {name: web}\n    spec:\n      replicas: 5\n"
         "      selector: {matchLabels: {app: web}}\n      template:\n"
         "        metadata: {labels: {app: web}" +
         (pod_annotations.empty() ? "" : ", annotations: {" + pod_annotations + "}") +
         "}\n        spec:\n          containers: [{name: app, image: \"" + image + "\"}]\n";
}

// What one member's Deployment shows.
struct MemberView {
  std::string image;
  bool ready = false;  // every replica of that template updated, ready, available
};

// Samples every member's Deployment every 50 ms and remembers, per member, every image it
// ever showed and when it first showed each (and first showed it ready).
class Sampler {
 public:
  // Samples Deployment shop/`deployment` of every member.
  explicit Sampler(std::string sim_url, std::string deployment = "web")
      : sim_url_(std::move(sim_url)), deployment_(std::move(deployment)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        for (const std::string& m : kMembers) Sample(m);
        std::this_thread::sleep_for(milliseconds(50));
      }
    });
  }
  ~Sampler() {
    stop_ = true;
    thread_.join();
  }

  MemberView Now(const std::string& member) {
    std::lock_guard lock(mu_);
    return now_[member];
  }
  // When `member` first showed `image` (ready, if asked); nullopt if never.
  std::optional<steady_clock::time_point> First(const std::string& member, const std::string& image,
                                                bool ready) {
    std::lock_guard lock(mu_);
    auto& seen = ready ? first_ready_ : first_seen_;
    auto it = seen.find({member, image});
    if (it == seen.end()) return std::nullopt;
    return it->second;
  }
  std::set<std::string> ImagesEverRun(const std::string& member) {
    std::lock_guard lock(mu_);
    return ever_[member];
  }

 private:
  void Sample(const std::string& member) {
    json d = test_env::GetJson(sim_url_ + "/clusters/" + member +
                               "/apis/apps/v1/namespaces/shop/deployments/" + deployment_);
    if (!d.is_object() || !d.contains("spec")) return;
    MemberView v;
    const json& c = d["spec"]["template"]["spec"]["containers"];
    if (c.is_array() && !c.empty()) v.image = c[0].value("image", "");
    const json& st = d.value("status", json::object());
    const int64_t want = d["spec"].value("replicas", int64_t{0});
    v.ready = st.value("observedGeneration", int64_t{0}) >=
                  d["metadata"].value("generation", int64_t{0}) &&
              st.value("updatedReplicas", int64_t{0}) == want &&
              st.value("availableReplicas", int64_t{0}) == want &&
              st.value("replicas", int64_t{0}) == want;
    const auto t = steady_clock::now();
    std::lock_guard lock(mu_);
    now_[member] = v;
    first_seen_.emplace(std::make_pair(member, v.image), t);
    if (v.ready) first_ready_.emplace(std::make_pair(member, v.image), t);
    ever_[member].insert(v.image);
  }

  const std::string sim_url_;
  const std::string deployment_;
  std::mutex mu_;  // guards the maps
  std::map<std::string, MemberView> now_;
  std::map<std::pair<std::string, std::string>, steady_clock::time_point> first_seen_, first_ready_;
  std::map<std::string, std::set<std::string>> ever_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct PodTimes {
  int64_t bound_ms = 0;  // 0: no such pod
  int64_t ready_ms = 0;
};

class RolloutE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-rollout-e2e-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Write("membersim.yaml", kMembersim);
    std::string error;
    fed_ = std::make_unique<test_env::E2EFederation>();
    ASSERT_TRUE(fed_->Start({.bin_dir = test_env::BinDir(),
                             .dir = dir_,
                             .membersim_config = (dir_ / "membersim.yaml").string()},
                            &error))
        << error;
    Write("members.yaml", Members(fed_->sim_port()));
    Write("strategy.yaml", kStrategy);
    for (const char* file : {"members.yaml", "strategy.yaml"}) {
      auto applied = Fedctl("apply -f " + (dir_ / file).string());
      ASSERT_EQ(applied.exit_code, 0) << applied.output;
    }
    ApplyWorkload(Workload("example/web:1"));
    sampler_ = std::make_unique<Sampler>(fed_->sim_url());
    // The first revision goes everywhere at once.
    ASSERT_TRUE(test_env::PollUntil(milliseconds(30'000), milliseconds(100), [] {
      for (const std::string& m : kMembers) {
        MemberView v = sampler_->Now(m);
        if (v.image != "example/web:1" || !v.ready) return false;
      }
      return true;
    })) << Fedctl("describe fw web -n shop").output;
  }

  static void TearDownTestSuite() {
    sampler_.reset();
    fed_.reset();
    std::filesystem::remove_all(dir_);
  }

  static void Write(const std::string& file, const std::string& text) {
    test_env::WriteFile(dir_ / file, text);
  }
  static test_env::CommandResult Fedctl(const std::string& args) { return fed_->Fedctl(args); }
  static void ApplyWorkload(const std::string& yaml) {
    Write("web.yaml", yaml);
    auto r = Fedctl("apply -f " + (dir_ / "web.yaml").string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static json Web() { return fed_->Api(test_env::WorkloadPath("shop", "web")); }
  // The earliest-bound pod of `member` running `image`, with membersim's timestamps.
  static PodTimes FirstPod(const std::string& member, const std::string& image) {
    return FirstPodOf(member, image);
  }
  static PodTimes FirstPodOf(const std::string& member, const std::string& image) {
    json pods =
        test_env::GetJson(fed_->sim_url() + "/clusters/" + member + "/api/v1/namespaces/shop/pods");
    PodTimes out;
    if (!pods.is_object()) return out;
    for (const json& p : pods.value("items", json::array())) {
      const json& c = p["spec"]["containers"];
      if (!c.is_array() || c.empty() || c[0].value("image", "") != image) continue;
      const json& ann = p["metadata"].value("annotations", json::object());
      const int64_t bound = std::atoll(ann.value("membersim.meridian.io/bound-at-ms", "0").c_str());
      if (bound == 0 || (out.bound_ms != 0 && bound >= out.bound_ms)) continue;
      out.bound_ms = bound;
      out.ready_ms = std::atoll(ann.value("membersim.meridian.io/ready-at-ms", "0").c_str());
    }
    return out;
  }
  // After a rollback at the canary: us-west-1 runs `good` ready again, and no other member ever
  // ran `bad`.
  static void ExpectOnlyTheCanaryRanItAndIsBackOn(const std::string& bad, const std::string& good) {
    EXPECT_TRUE(test_env::PollUntil(milliseconds(10'000), milliseconds(50), [&] {
      MemberView v = sampler_->Now("us-west-1");
      return v.image == good && v.ready;
    })) << Fedctl("rollout status web -n shop").output;
    for (const std::string& m : kMembers) {
      if (m == "us-west-1") continue;
      EXPECT_EQ(sampler_->ImagesEverRun(m).count(bad), 0u) << m << " ran " << bad;
    }
  }
  static std::string Phase() {
    json w = Web();
    if (!w.is_object()) return "";
    return w.value("status", json::object()).value("rollout", json::object()).value("phase", "");
  }
  static bool WaitPhase(const std::string& phase, milliseconds limit = milliseconds(30'000)) {
    return test_env::PollUntil(limit, milliseconds(50), [&] { return Phase() == phase; });
  }

  static std::filesystem::path dir_;
  static std::unique_ptr<test_env::E2EFederation> fed_;
  static std::unique_ptr<Sampler> sampler_;
};

std::filesystem::path RolloutE2E::dir_;
std::unique_ptr<test_env::E2EFederation> RolloutE2E::fed_;
std::unique_ptr<Sampler> RolloutE2E::sampler_;

TEST_F(RolloutE2E, EachStageInTurnAndTheLastAfterApproval) {
  const std::string v2 = "example/web:2";
  ApplyWorkload(Workload(v2));
  ASSERT_TRUE(WaitPhase("WaitingForApproval")) << Fedctl("rollout status web -n shop").output;
  // Waiting at the approval: the rest has not moved, and does not while nobody approves.
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(Phase(), "WaitingForApproval");
  for (const std::string& m : {"us-east-1", "ap-south-1"}) {
    EXPECT_EQ(sampler_->Now(m).image, "example/web:1") << m;
  }
  const int64_t approved_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  EXPECT_NE(
      Fedctl("rollout status web -n shop").output.find("(waits for approval before stage rest"),
      std::string::npos);
  auto approve = Fedctl("rollout approve web -n shop");
  ASSERT_EQ(approve.exit_code, 0) << approve.output;
  EXPECT_NE(approve.output.find("approval before stage rest of revision"), std::string::npos)
      << approve.output;
  ASSERT_TRUE(WaitPhase("Complete")) << Fedctl("rollout status web -n shop").output;
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10'000), milliseconds(50), [&] {
    for (const std::string& m : kMembers) {
      if (sampler_->Now(m).image != v2 || !sampler_->Now(m).ready) return false;
    }
    return true;
  }));

  // The order the members ran it in, from the members' own pods: membersim stamps each pod
  // with when it was bound and when it turned ready (ms since the epoch), which is finer than
  // any sampling from outside.
  const PodTimes canary = FirstPod("us-west-1", v2);
  ASSERT_GT(canary.ready_ms, 0);
  int64_t eu_ready_ms = 0;
  for (const std::string& m : {"eu-west-1", "eu-central-1"}) {
    const PodTimes eu = FirstPod(m, v2);
    ASSERT_GT(eu.bound_ms, 0) << m;
    // The canary ran it ready for readySeconds (1) before any EU pod of it existed.
    EXPECT_GE(eu.bound_ms - canary.ready_ms, 1000)
        << m << ": canary ready at " << canary.ready_ms << ", " << m << " bound at " << eu.bound_ms;
    eu_ready_ms = std::max(eu_ready_ms, eu.ready_ms);
  }
  for (const std::string& m : {"us-east-1", "ap-south-1"}) {
    const PodTimes rest = FirstPod(m, v2);
    ASSERT_GT(rest.bound_ms, 0) << m;
    EXPECT_GE(rest.bound_ms - eu_ready_ms, 1000) << m;
    EXPECT_GT(rest.bound_ms, approved_ms) << m;  // and only after the approval
  }
  // fedctl describe says which revision runs where.
  auto describe = Fedctl("describe fw web -n shop");
  EXPECT_NE(describe.output.find("Revisions:"), std::string::npos) << describe.output;
  EXPECT_NE(describe.output.find("Rollout:"), std::string::npos) << describe.output;
}

TEST_F(RolloutE2E, ABadRevisionHaltsAtTheCanaryAndRollsBack) {
  const std::string good = sampler_->Now("us-west-1").image;
  ASSERT_FALSE(good.empty());
  const std::string bad = "example/web:broken";
  ApplyWorkload(Workload(bad, "membersim.meridian.io/never-ready: \"true\""));
  // While the canary is being changed, a live drill on it is refused naming the field and the
  // rollout, and nothing is stored (the gate timeout leaves 5 s for this).
  ASSERT_TRUE(WaitPhase("Progressing")) << Fedctl("rollout status web -n shop").output;
  auto drill = Fedctl("drill run --target cluster=us-west-1 --mode live --name on-the-canary");
  if (drill.exit_code == 0) Fedctl("drill abort on-the-canary");
  EXPECT_NE(drill.exit_code, 0) << drill.output;
  EXPECT_NE(drill.output.find("spec.target"), std::string::npos) << drill.output;
  EXPECT_NE(drill.output.find("overlaps the rollout of shop/web"), std::string::npos)
      << drill.output;
  EXPECT_FALSE(fed_->Api("/apis/federation.meridian.io/v1alpha1/failoverdrills/on-the-canary")
                   .contains("spec"));
  ASSERT_TRUE(WaitPhase("RolledBack")) << Fedctl("rollout status web -n shop").output;
  // The canary got it (and never got ready), then returned to the good image.
  EXPECT_TRUE(sampler_->First("us-west-1", bad, false).has_value());
  EXPECT_FALSE(sampler_->First("us-west-1", bad, true).has_value());
  ExpectOnlyTheCanaryRanItAndIsBackOn(bad, good);
  // The condition and an Event name the failed gate.
  json w = Web();
  std::string message;
  for (const json& c : w["status"]["conditions"]) {
    if (c.value("type", "") == "Rollout") {
      EXPECT_EQ(c.value("reason", ""), "RolledBack");
      message = c.value("message", "");
    }
  }
  EXPECT_NE(message.find("stage canary"), std::string::npos) << message;
  EXPECT_NE(message.find("gate ready failed"), std::string::npos) << message;
  EXPECT_TRUE(test_env::PollUntil(milliseconds(5'000), milliseconds(100), [&] {
    json events = fed_->Api("/api/v1/namespaces/shop/events");
    if (!events.is_object()) return false;
    for (const json& e : events.value("items", json::array())) {
      if (e.value("reason", "") == "RolloutRolledBack" &&
          e.value("message", "").find("gate ready failed") != std::string::npos) {
        return true;
      }
    }
    return false;
  }));

  // Undo to a revision that is not kept: refused, naming the flag; nothing stored changes.
  const std::string rv = Web()["metadata"].value("resourceVersion", "");
  auto refused = Fedctl("rollout undo web -n shop --to-revision 999");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("--to-revision 999"), std::string::npos) << refused.output;
  EXPECT_EQ(Web()["metadata"].value("resourceVersion", ""), rv);

  // Undo: back to the last good template, a new revision that changes no member.
  auto undo = Fedctl("rollout undo web -n shop");
  ASSERT_EQ(undo.exit_code, 0) << undo.output;
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10'000), milliseconds(50), [] {
    json w = Web();
    const json& c = w["spec"]["template"]["spec"]["template"]["spec"]["containers"];
    return c.is_array() && !c.empty() && c[0].value("image", "") != "example/web:broken";
  }));
  ASSERT_TRUE(WaitPhase("WaitingForApproval")) << Fedctl("rollout status web -n shop").output;
  ASSERT_EQ(Fedctl("rollout approve web -n shop").exit_code, 0);
  ASSERT_TRUE(WaitPhase("Complete")) << Fedctl("rollout status web -n shop").output;
  for (const std::string& m : kMembers) EXPECT_EQ(sampler_->Now(m).image, good) << m;
}

// A rollout that reaches a member a live drill targets waits for the drill to end and for its
// replicas to be back: eu-west-1 keeps its image while the injected drill on it runs (phase
// WaitingForDrill, the condition naming the drill), and gets the new one only once the drill
// saw its replicas return (membersim's bind time of its first new pod against the drill's
// `returnedMs`, both epoch ms on this machine). The stage's gates then pass: a revision given
// while Meridian could not reach the member yet would have run out their 5 s timeout.
TEST_F(RolloutE2E, ALiveDrillHoldsItsTargetsStageUntilItsReplicasAreBack) {
  const std::string before = sampler_->Now("eu-west-1").image;
  ASSERT_FALSE(before.empty());
  ASSERT_EQ(Phase(), "Complete") << Fedctl("rollout status web -n shop").output;
  auto drill = Fedctl(
      "drill run --target cluster=eu-west-1 --mode live --failure injected --duration 5s "
      "--name eu-drill");
  ASSERT_EQ(drill.exit_code, 0) << drill.output;
  const std::string drill_path = "/apis/federation.meridian.io/v1alpha1/failoverdrills/eu-drill";
  auto drill_phase = [&] {
    json d = fed_->Api(drill_path);
    return d.is_object() ? d.value("status", json::object()).value("phase", "") : "";
  };
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10'000), milliseconds(50),
                                  [&] { return drill_phase() == "Running"; }))
      << drill_phase();
  const std::string next = "example/web:during-drill";
  ApplyWorkload(Workload(next));
  ASSERT_TRUE(WaitPhase("WaitingForDrill", milliseconds(10'000)))
      << Fedctl("rollout status web -n shop").output;
  std::string message;
  EXPECT_TRUE(test_env::PollUntil(milliseconds(5'000), milliseconds(50), [&] {
    json w = Web();
    if (!w.is_object() || !w.contains("status")) return false;
    for (const json& c : w["status"].value("conditions", json::array())) {
      if (c.value("type", "") == "Rollout") message = c.value("message", "");
    }
    return message.find("waits for drill eu-drill, which targets eu-west-1") != std::string::npos;
  })) << message;
  EXPECT_EQ(sampler_->Now("us-west-1").image, next);  // the canary went ahead
  EXPECT_FALSE(sampler_->First("eu-west-1", next, false).has_value());
  // The drill ends on its own and sees the replicas return; then the EU stage goes on and its
  // gates pass: the rollout reaches the approval before the rest.
  ASSERT_TRUE(WaitPhase("WaitingForApproval", milliseconds(40'000)))
      << Fedctl("rollout status web -n shop").output << "\ndrill: " << drill_phase();
  json report = fed_->Api(drill_path)["status"]["report"];
  ASSERT_TRUE(report.is_object()) << fed_->Api(drill_path).dump();
  EXPECT_EQ(report.value("returnObservation", ""), "returned") << report.dump();
  const int64_t returned_ms = report["events"].value("returnedMs", int64_t{0});
  ASSERT_GT(returned_ms, 0) << report.dump();
  ASSERT_TRUE(test_env::PollUntil(milliseconds(10'000), milliseconds(100),
                                  [&] { return FirstPod("eu-west-1", next).bound_ms > 0; }));
  EXPECT_GE(FirstPod("eu-west-1", next).bound_ms, report.value("startedAtMs", int64_t{0}) + returned_ms);
  ASSERT_EQ(Fedctl("rollout approve web -n shop").exit_code, 0);
  ASSERT_TRUE(WaitPhase("Complete")) << Fedctl("rollout status web -n shop").output;
  // The sampler reads the members every 50 ms (a round of five GETs, slower under load).
  EXPECT_TRUE(test_env::PollUntil(milliseconds(10'000), milliseconds(50), [&] {
    for (const std::string& m : kMembers) {
      if (sampler_->Now(m).image != next) return false;
    }
    return true;
  })) << Fedctl("rollout status web -n shop").output;
}

TEST_F(RolloutE2E, ACrashLoopingImageFailsTheRestartGateAtTheCanary) {
  const std::string good = sampler_->Now("us-west-1").image;
  ASSERT_FALSE(good.empty());
  const std::string bad = "example/web:crash-1";
  ApplyWorkload(Workload(bad));
  ASSERT_TRUE(WaitPhase("RolledBack")) << Fedctl("rollout status web -n shop").output;
  // The restart gate failed it (the ready gate would only have at the 5 s gate timeout).
  json w = Web();
  EXPECT_EQ(w["status"]["rollout"].value("failedGate", ""), "restarts");
  std::string message;
  for (const json& c : w["status"]["conditions"]) {
    if (c.value("type", "") == "Rollout") message = c.value("message", "");
  }
  EXPECT_NE(message.find("stage canary"), std::string::npos) << message;
  EXPECT_NE(message.find("gate restarts failed"), std::string::npos) << message;
  EXPECT_NE(message.find("on us-west-1 restarted"), std::string::npos) << message;
  EXPECT_TRUE(sampler_->First("us-west-1", bad, false).has_value());
  ExpectOnlyTheCanaryRanItAndIsBackOn(bad, good);
  // Back to the good template for the tests after this one.
  ASSERT_EQ(Fedctl("rollout undo web -n shop").exit_code, 0);
  ASSERT_TRUE(WaitPhase("WaitingForApproval")) << Fedctl("rollout status web -n shop").output;
  ASSERT_EQ(Fedctl("rollout approve web -n shop").exit_code, 0);
  ASSERT_TRUE(WaitPhase("Complete")) << Fedctl("rollout status web -n shop").output;
}

TEST_F(RolloutE2E, ABadStrategyIsRefusedNamingTheFieldAndNothingIsStored) {
  struct Case {
    std::string spec;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"stages: [{name: a, selector: {zone: eu-west-1a}}]", "spec.stages[0].selector.zone"},
      {"stages: [{name: a}, {name: a}]", "spec.stages[1].name"},
      {"stages: [{name: a, selector: {clusters: [c]}}, {name: b, selector: {clusters: [c]}}]",
       "spec.stages[1].selector.clusters[0]"},
  };
  for (const Case& c : cases) {
    Write("bad.yaml",
          "apiVersion: federation.meridian.io/v1alpha1\nkind: RolloutStrategy\n"
          "metadata: {name: bad}\nspec:\n  " +
              c.spec + "\n");
    auto r = Fedctl("apply -f " + (dir_ / "bad.yaml").string());
    EXPECT_NE(r.exit_code, 0) << c.spec;
    EXPECT_NE(r.output.find(c.field), std::string::npos) << r.output;
    EXPECT_TRUE(fed_->Api("/apis/federation.meridian.io/v1alpha1/rolloutstrategies/bad").is_null())
        << c.spec;
  }
}

// A native Deployment stored on the federation endpoint and placed by a PlacementPolicy whose
// spec.rollout has two stages: the canary us-west-1 (readySeconds 1), then the rest behind an
// approval. Its binding keeps the revisions; fedctl names it as kubectl users do.
constexpr char kNativePolicy[] = R"(apiVersion: federation.meridian.io/v1alpha1
kind: PlacementPolicy
metadata: {name: api, namespace: shop}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: api}]
  placement:
    distribution: {weights: {us-east: 1, us-west: 1, eu-west: 1, eu-central: 1, ap-south: 1}}
    failover: {recoveryDelaySeconds: 1}  # the member an earlier test drilled is back at once
  rollout:
    strategy:
      gateTimeoutSeconds: 30
      stages:
        - {name: canary, selector: {clusters: [us-west-1]}, readySeconds: 1}
        - {name: rest, approval: true}
)";

std::string NativeDeployment(const std::string& image) {
  return "apiVersion: apps/v1\nkind: Deployment\n"
         "metadata: {name: api, namespace: shop, labels: {app: api}}\n"
         "spec:\n  replicas: 5\n  selector: {matchLabels: {app: api}}\n"
         "  template:\n    metadata: {labels: {app: api}}\n"
         "    spec: {containers: [{name: app, image: \"" +
         image + "\"}]}\n";
}

TEST_F(RolloutE2E, ANativeDeploymentChangesEachMemberOnlyInItsStagesTurn) {
  Sampler api(fed_->sim_url(), "api");
  Write("api-policy.yaml", kNativePolicy);
  Write("api.yaml", NativeDeployment("example/api:1"));
  for (const char* file : {"api-policy.yaml", "api.yaml"}) {
    auto applied = Fedctl("apply -f " + (dir_ / file).string());
    ASSERT_EQ(applied.exit_code, 0) << applied.output;
  }
  // The first revision goes everywhere at once.
  ASSERT_TRUE(test_env::PollUntil(milliseconds(30'000), milliseconds(100), [&] {
    for (const std::string& m : kMembers) {
      MemberView v = api.Now(m);
      if (v.image != "example/api:1" || !v.ready) return false;
    }
    return true;
  })) << Fedctl("rollout status deployment/api -n shop").output;

  const std::string v2 = "example/api:2";
  Write("api.yaml", NativeDeployment(v2));
  auto changed = Fedctl("apply -f " + (dir_ / "api.yaml").string());
  ASSERT_EQ(changed.exit_code, 0) << changed.output;
  auto waits = [&] {
    return Fedctl("rollout status deployment/api -n shop")
               .output.find("(waits for approval before stage rest of revision 2)") !=
           std::string::npos;
  };
  ASSERT_TRUE(test_env::PollUntil(milliseconds(30'000), milliseconds(100), waits))
      << Fedctl("rollout status deployment/api -n shop").output;
  // At the approval: the canary runs it, the rest do not, and do not while nobody approves.
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_TRUE(waits());
  EXPECT_EQ(api.Now("us-west-1").image, v2);
  for (const std::string& m : kMembers) {
    if (m != "us-west-1") EXPECT_FALSE(api.First(m, v2, false).has_value()) << m;
  }
  // The Deployment on the federation says which revision runs where, and counts only the
  // canary's replica as updated (kubectl rollout status waits).
  json d = fed_->Api("/apis/apps/v1/namespaces/shop/deployments/api");
  const std::string revisions = d["metadata"]
                                    .value("annotations", json::object())
                                    .value("federation.meridian.io/revisions", "");
  EXPECT_EQ(revisions.rfind("revision 2 on us-west-1; revision 1 on ", 0), 0u) << revisions;
  EXPECT_EQ(d["status"].value("updatedReplicas", -1), 1) << d["status"].dump();
  // Undo to a revision that is not kept names the flag and the object; nothing changes.
  const std::string rv = d["metadata"].value("resourceVersion", "");
  auto refused = Fedctl("rollout undo deployment/api -n shop --to-revision 99");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("--to-revision 99: revision 99 of deployment/api is not kept"),
            std::string::npos)
      << refused.output;
  EXPECT_EQ(fed_->Api("/apis/apps/v1/namespaces/shop/deployments/api")["metadata"].value(
                "resourceVersion", ""),
            rv);

  const int64_t approved_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto approve = Fedctl("rollout approve deploy api -n shop");
  ASSERT_EQ(approve.exit_code, 0) << approve.output;
  EXPECT_NE(approve.output.find("approval before stage rest of revision 2 granted"),
            std::string::npos)
      << approve.output;
  ASSERT_TRUE(test_env::PollUntil(milliseconds(30'000), milliseconds(100), [&] {
    for (const std::string& m : kMembers) {
      if (api.Now(m).image != v2 || !api.Now(m).ready) return false;
    }
    return true;
  })) << Fedctl("rollout status deployment/api -n shop").output;
  // The order, from the members' pods: the canary ran it ready for readySeconds before the
  // approval could be asked for, and every other member's first pod of it came after the
  // approval.
  const PodTimes canary = FirstPodOf("us-west-1", v2);
  ASSERT_GT(canary.ready_ms, 0);
  for (const std::string& m : kMembers) {
    if (m == "us-west-1") continue;
    const PodTimes rest = FirstPodOf(m, v2);
    ASSERT_GT(rest.bound_ms, 0) << m;
    EXPECT_GE(rest.bound_ms - canary.ready_ms, 1000) << m;
    EXPECT_GT(rest.bound_ms, approved_ms) << m;
  }
  EXPECT_TRUE(test_env::PollUntil(milliseconds(10'000), milliseconds(100), [&] {
    return Fedctl("rollout status deployment/api -n shop").output.find("phase Complete") !=
           std::string::npos;
  })) << Fedctl("rollout status deployment/api -n shop").output;
  auto describe = Fedctl("describe deployment api -n shop");
  EXPECT_NE(describe.output.find("Revisions:"), std::string::npos) << describe.output;
  EXPECT_NE(describe.output.find("revision 2 on ap-south-1, eu-central-1, eu-west-1, us-east-1, "
                                 "us-west-1; rollout of revision 2: Complete"),
            std::string::npos)
      << describe.output;
  // The approval and the rollout's state are no revisions of their own.
  json binding = fed_->Api(test_env::WorkloadPath("shop", "deployment-api"));
  EXPECT_EQ(binding["status"]["revisions"].size(), 2u) << binding["status"].dump();
}

}  // namespace
}  // namespace meridian
