// The prometheus gate of a rollout stage end to end (issue 23): membersim with three clusters,
// the federation-apiserver with every controller and --prometheus-url, and Debian's real
// `prometheus` server, as processes on free loopback ports. Prometheus scrapes, every 250 ms, a
// tiny exposition this test serves (`shop_web_error_ratio`, the value the test sets), and the
// canary stage's gate asks it `max(shop_web_error_ratio)` <= 0.01 for 3 s.
//
//   1. an error ratio of 0.001: the canary's gate holds the rollout for its window (the rest's
//      first pod is bound at least ~3 s after the canary's), then it completes;
//   2. an error ratio of 0.5: the rollout halts at the canary at once (failedGate prometheus,
//      the condition naming the value), no other member runs the new image; undone once the
//      ratio is low again;
//   3. a query Prometheus refuses (rate() of an instant vector): every evaluation fails, so
//      the gate never passes and fails at the gate timeout, the condition quoting Prometheus'
//      error; a query of unsound shape is refused at apply naming the field, nothing stored.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/http_stub.h"
#include "test/common/prometheus_server.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

const std::vector<std::string> kMembers = {"eu-west-1", "us-east-1", "us-west-1"};

constexpr char kMembersim[] = R"(defaults:
  podReadyDelay: 300ms
  node: {cpu: "4", memory: 8Gi, pods: 110}
clusters:
  - {name: us-east-1, region: us-east, jurisdiction: us, zones: [{name: us-east-1a, nodes: 1}]}
  - {name: us-west-1, region: us-west, jurisdiction: us, zones: [{name: us-west-1a, nodes: 1}]}
  - {name: eu-west-1, region: eu-west, jurisdiction: eu, zones: [{name: eu-west-1a, nodes: 1}]}
)";

// The canary stage: ready for 1 s, and the error ratio at or below 1% for 3 s.
std::string Strategy(const std::string& query) {
  return "      onFailure: halt\n"
         "      gateTimeoutSeconds: 8\n"
         "      stages:\n"
         "        - name: canary\n"
         "          selector: {clusters: [us-west-1]}\n"
         "          readySeconds: 1\n"
         "          prometheus: {query: \"" +
         query +
         "\", max: 0.01, forSeconds: 3}\n"
         "        - {name: rest}\n";
}

std::string Members(int sim_port) {
  std::string out;
  for (const auto& [name, region, jurisdiction] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"us-east-1", "us-east", "us"},
           {"us-west-1", "us-west", "us"},
           {"eu-west-1", "eu-west", "eu"}}) {
    out +=
        "---\napiVersion: federation.meridian.io/v1alpha1\nkind: MemberCluster\n"
        "metadata: {name: " +
        name + "}\nspec:\n  server: http://127.0.0.1:" + std::to_string(sim_port) + "/clusters/" +
        name + "\n  region: " + region + "\n  jurisdiction: " + jurisdiction + "\n  zones: [" +
        name + "a]\n";
  }
  return out;
}

// Three replicas, one per member, rolled out with the canary's prometheus gate on `query`.
std::string Workload(const std::string& image,
                     const std::string& query = "max(shop_web_error_ratio)") {
  return "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
         "apiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"
         "metadata: {name: web, namespace: shop}\nspec:\n"
         "  rollout:\n    strategy:\n" +
         Strategy(query) +
         "  placement: {distribution: {weights: {us-east: 1, us-west: 1, eu-west: 1}}}\n"
         "  template:\n    apiVersion: apps/v1\n    kind: Deployment\n"
         "    metadata: {name: web}\n    spec:\n      replicas: 3\n"
         "      selector: {matchLabels: {app: web}}\n      template:\n"
         "        metadata: {labels: {app: web}}\n        spec:\n"
         "          containers: [{name: app, image: \"" +
         image + "\"}]\n";
}

// The exposition Prometheus scrapes: `shop_web_error_ratio <value>`, or no series while the
// value is empty.
class Exposition {
 public:
  int port() const { return stub_.port(); }
  void Set(const std::string& value) {
    stub_.Answer(200,
                 "# TYPE shop_web_error_ratio gauge\n" +
                     (value.empty() ? "" : "shop_web_error_ratio " + value + "\n"),
                 "text/plain; version=0.0.4");
  }

 private:
  test_env::HttpStub stub_;
};

struct PodTimes {
  int64_t bound_ms = 0;  // 0: no such pod
};

class RolloutPrometheusE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test_env::PrometheusServer::Installed()) return;  // each test skips
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-rollout-prometheus-e2e-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    exposition_ = std::make_unique<Exposition>();
    exposition_->Set("0");
    prometheus_ = std::make_unique<test_env::PrometheusServer>();
    std::string error;
    ASSERT_TRUE(prometheus_->Start(dir_, exposition_->port(), &error)) << error;
    prometheus_url_ = prometheus_->url();

    test_env::WriteFile(dir_ / "membersim.yaml", kMembersim);
    fed_ = std::make_unique<test_env::E2EFederation>();
    ASSERT_TRUE(fed_->Start(
        {.bin_dir = test_env::BinDir(),
         .dir = dir_,
         .membersim_config = (dir_ / "membersim.yaml").string(),
         .apiserver_flags = {"--controllers", "all", "--prometheus-url", prometheus_url_}},
        &error))
        << error;
    test_env::WriteFile(dir_ / "members.yaml", Members(fed_->sim_port()));
    auto applied = Fedctl("apply -f " + (dir_ / "members.yaml").string());
    ASSERT_EQ(applied.exit_code, 0) << applied.output;
    auto first = Apply(Workload("example/web:1"));  // the first revision goes everywhere at once
    ASSERT_EQ(first.exit_code, 0) << first.output;
    ASSERT_TRUE(Everywhere("example/web:1")) << Fedctl("rollout status web -n shop").output;
  }

  static void TearDownTestSuite() {
    fed_.reset();
    prometheus_.reset();
    exposition_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void SetUp() override {
    if (!prometheus_) {
      GTEST_SKIP() << test_env::PrometheusServer::kBinary << " not found: install prometheus";
    }
  }

  static test_env::CommandResult Fedctl(const std::string& args) { return fed_->Fedctl(args); }
  static test_env::CommandResult Apply(const std::string& yaml) {
    test_env::WriteFile(dir_ / "web.yaml", yaml);
    return Fedctl("apply -f " + (dir_ / "web.yaml").string());
  }
  static json Web() { return fed_->Api(test_env::WorkloadPath("shop", "web")); }
  static json Rollout() {
    json w = Web();
    return w.is_object() ? w.value("status", json::object()).value("rollout", json::object())
                         : json::object();
  }
  static bool WaitPhase(const std::string& phase, milliseconds limit = milliseconds(30'000)) {
    return test_env::PollUntil(limit, milliseconds(50),
                               [&] { return Rollout().value("phase", "") == phase; });
  }
  static std::string Condition() {
    json w = Web();
    for (const json& c : w.value("status", json::object()).value("conditions", json::array())) {
      if (c.value("type", "") == "Rollout") return c.value("message", "");
    }
    return "";
  }
  // The image `member`'s Deployment asks for, and whether all of it is ready.
  static std::pair<std::string, bool> Running(const std::string& member) {
    json d = test_env::GetJson(fed_->sim_url() + "/clusters/" + member +
                               "/apis/apps/v1/namespaces/shop/deployments/web");
    if (!d.is_object() || !d.contains("spec")) return {"", false};
    const json& c = d["spec"]["template"]["spec"]["containers"];
    const std::string image = c.is_array() && !c.empty() ? c[0].value("image", "") : "";
    const json& st = d.value("status", json::object());
    const int64_t want = d["spec"].value("replicas", int64_t{0});
    return {image, st.value("updatedReplicas", int64_t{0}) == want &&
                       st.value("availableReplicas", int64_t{0}) == want};
  }
  static bool Everywhere(const std::string& image) {
    return test_env::PollUntil(milliseconds(30'000), milliseconds(100), [&] {
      for (const std::string& m : kMembers) {
        if (Running(m) != std::make_pair(image, true)) return false;
      }
      return true;
    });
  }
  // The earliest-bound pod of `member` running `image` (membersim stamps it, in ms).
  static PodTimes FirstPod(const std::string& member, const std::string& image) {
    json pods =
        test_env::GetJson(fed_->sim_url() + "/clusters/" + member + "/api/v1/namespaces/shop/pods");
    PodTimes out;
    if (!pods.is_object()) return out;
    for (const json& p : pods.value("items", json::array())) {
      const json& c = p["spec"]["containers"];
      if (!c.is_array() || c.empty() || c[0].value("image", "") != image) continue;
      const json& ann = p["metadata"].value("annotations", json::object());
      const int64_t bound = std::atoll(ann.value("membersim.meridian.io/bound-at-ms", "0").c_str());
      if (bound != 0 && (out.bound_ms == 0 || bound < out.bound_ms)) out.bound_ms = bound;
    }
    return out;
  }
  // Sets the exposed error ratio and waits until Prometheus answers it (scraped).
  static void ExposeErrorRatio(const std::string& value) {
    exposition_->Set(value);
    ASSERT_TRUE(prometheus_->WaitForValue("max(shop_web_error_ratio)", std::stod(value)))
        << "Prometheus never saw " << value;
  }

  static std::filesystem::path dir_;
  static std::unique_ptr<Exposition> exposition_;
  static std::unique_ptr<test_env::PrometheusServer> prometheus_;
  static std::string prometheus_url_;
  static std::unique_ptr<test_env::E2EFederation> fed_;
};

std::filesystem::path RolloutPrometheusE2E::dir_;
std::unique_ptr<Exposition> RolloutPrometheusE2E::exposition_;
std::unique_ptr<test_env::PrometheusServer> RolloutPrometheusE2E::prometheus_;
std::string RolloutPrometheusE2E::prometheus_url_;
std::unique_ptr<test_env::E2EFederation> RolloutPrometheusE2E::fed_;

TEST_F(RolloutPrometheusE2E, ALowErrorRatioHoldsTheCanaryForItsWindowThenProceeds) {
  ExposeErrorRatio("0.001");
  const std::string v2 = "example/web:2";
  ASSERT_EQ(Apply(Workload(v2)).exit_code, 0);
  // While the window runs, the status says so.
  EXPECT_TRUE(test_env::PollUntil(milliseconds(10'000), milliseconds(50), [] {
    return Condition().find("prometheus gate: the query has been at or below max 0.01 since") !=
           std::string::npos;
  })) << Condition();
  ASSERT_TRUE(WaitPhase("Complete")) << Fedctl("rollout status web -n shop").output;
  ASSERT_TRUE(Everywhere(v2));
  // The rest waited for the canary's 3 s window (its readiness alone would have taken ~1.3 s),
  // less the time the canary's pod took to be bound after the stage started.
  const PodTimes canary = FirstPod("us-west-1", v2);
  ASSERT_GT(canary.bound_ms, 0);
  for (const std::string& m : {"eu-west-1", "us-east-1"}) {
    const PodTimes rest = FirstPod(m, v2);
    ASSERT_GT(rest.bound_ms, 0) << m;
    EXPECT_GE(rest.bound_ms - canary.bound_ms, 2500) << m;
  }
}

TEST_F(RolloutPrometheusE2E, AHighErrorRatioHaltsAtTheCanaryAtOnce) {
  ExposeErrorRatio("0.5");
  const std::string good = Running("us-west-1").first;
  const std::string bad = "example/web:3";
  const auto applied_at = std::chrono::steady_clock::now();
  ASSERT_EQ(Apply(Workload(bad)).exit_code, 0);
  ASSERT_TRUE(WaitPhase("Halted")) << Fedctl("rollout status web -n shop").output;
  // At once, not at the 8 s gate timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - applied_at, std::chrono::seconds(6));
  json r = Rollout();
  EXPECT_EQ(r.value("failedGate", ""), "prometheus");
  EXPECT_NE(Condition().find("stage canary (1/2) of revision 3: gate prometheus failed: the query "
                             "max(shop_web_error_ratio) is 0.5, above max 0.01; halted"),
            std::string::npos)
      << Condition();
  for (const std::string& m : {"eu-west-1", "us-east-1"}) {
    EXPECT_EQ(FirstPod(m, bad).bound_ms, 0) << m << " ran " << bad;
  }
  // Undone once the errors are gone: the previous image everywhere again.
  ExposeErrorRatio("0");
  auto undo = Fedctl("rollout undo web -n shop");
  ASSERT_EQ(undo.exit_code, 0) << undo.output;
  ASSERT_TRUE(WaitPhase("Complete")) << Fedctl("rollout status web -n shop").output;
  EXPECT_TRUE(Everywhere(good));
}

TEST_F(RolloutPrometheusE2E, AQueryPrometheusRefusesNeverPassesAndABadShapeIsNotStored) {
  const std::string rv = Web()["metadata"].value("resourceVersion", "");
  auto refused = Apply(Workload("example/web:4", "sum(rate(shop_web_error_ratio[1m])"));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("spec.rollout.strategy.stages[0].prometheus.query"),
            std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("'(' is not closed"), std::string::npos) << refused.output;
  EXPECT_EQ(Web()["metadata"].value("resourceVersion", ""), rv);

  // rate() of an instant vector: sound in shape, refused by Prometheus at every evaluation.
  const std::string good = Running("us-west-1").first;
  const auto applied_at = std::chrono::steady_clock::now();
  ASSERT_EQ(Apply(Workload("example/web:5", "rate(shop_web_error_ratio)")).exit_code, 0);
  ASSERT_TRUE(WaitPhase("Halted")) << Fedctl("rollout status web -n shop").output;
  EXPECT_GE(std::chrono::steady_clock::now() - applied_at, std::chrono::seconds(8));
  EXPECT_EQ(Rollout().value("failedGate", ""), "prometheus");
  const std::string message = Condition();
  EXPECT_NE(message.find("gate prometheus failed: not passed within 8s: the query could not be "
                         "evaluated: " +
                         prometheus_url_ + ": Prometheus answered HTTP 400: bad_data"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("range vector"), std::string::npos) << message;
  EXPECT_EQ(Running("eu-west-1").first, good);
  EXPECT_EQ(Running("us-east-1").first, good);
}

}  // namespace
}  // namespace meridian
