// The propagation controller against a real membersim (its own process, free loopback port)
// over HTTP, with the federation in-process: drift made in a member is repaired from the
// member watch (the periodic resync is an hour away), a hung member does not delay the
// others, and a member that refuses our credentials says so in status.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <thread>

#include "api/codec.h"
#include "sync/http_member_client.h"
#include "sync/propagation_controller.h"
#include "test/common/eventually.h"
#include "test/common/in_process_federation.h"
#include "test/common/test_env.h"
#include "test/membersim/process.h"

namespace meridian::sync {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

const GroupVersionResource kDeployments{"apps", "v1", "deployments"};
const GroupVersionResource kNamespaces{"", "v1", "namespaces"};

constexpr char kConfig[] = R"(defaults:
  podReadyDelay: 100ms
  namespaceDeletionDelay: 2s
clusters:
  - name: m-a
    region: r-a
    zones: [{name: m-a-1, nodes: 1}]
  - name: m-b
    region: r-b
    zones: [{name: m-b-1, nodes: 1}]
  - name: m-c
    region: r-c
    zones: [{name: m-c-1, nodes: 1}]
    auth: {token: s3cret}
)";

using test_env::Eventually;

class PropagationMembersimTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-prop-sim-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    sim_ = new membersim::testing::MembersimProcess();
    std::string error;
    ASSERT_TRUE(sim_->Start(kConfig, {}, &error, (dir_ / "membersim.log").string())) << error;
    sim_url_ = sim_->url();
  }
  static void TearDownTestSuite() {
    delete sim_;
    sim_ = nullptr;
    std::filesystem::remove_all(dir_);
  }

  void SetUp() override {
    ASSERT_FALSE(sim_url_.empty());
    federation_.Apply({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}});
    for (const char* m : {"m-a", "m-b", "m-c"}) {
      federation_.Apply({{"apiVersion", api::kApiVersion},
                         {"kind", "MemberCluster"},
                         {"metadata", {{"name", m}}},
                         {"spec",
                          {{"server", sim_url_ + "/clusters/" + m},
                           {"region", std::string("r-") + m[2]},
                           {"jurisdiction", "xx"},
                           {"zones", {std::string(m) + "-1"}}}}});
      members_[m] = Member(m);
    }
  }

  static std::shared_ptr<MemberClient> Member(const std::string& name) {
    MemberEndpoint e;
    e.name = name;
    e.server = sim_url_ + "/clusters/" + name;
    e.timeout = milliseconds(2000);
    e.credentials.bearer_token = name == "m-c" ? "s3cret" : "";
    return std::shared_ptr<MemberClient>(HttpMemberClient::Create(e).value());
  }

  // The production factory (HTTP, no credentials: m-c answers 401), 1 s per call.
  std::unique_ptr<PropagationController> StartController() {
    PropagationController::Options options;
    options.resync_period = std::chrono::hours(1);  // repairs must come from the watches
    auto c = std::make_unique<PropagationController>(
        federation_.objects(), RealClock(),
        HttpMemberClientFactory(federation_.objects(), milliseconds(1000)), options);
    EXPECT_TRUE(c->Start().ok());
    return c;
  }

  // A Deployment workload placed 2 replicas on each member (placement written by hand).
  void CreateWorkload(const std::string& name) {
    json w = {{"apiVersion", api::kApiVersion},
              {"kind", "FederatedWorkload"},
              {"metadata", {{"name", name}, {"namespace", "shop"}}},
              {"spec",
               {{"template",
                 {{"apiVersion", "apps/v1"},
                  {"kind", "Deployment"},
                  {"spec",
                   {{"replicas", 6},
                    {"selector", {{"matchLabels", {{"app", name}}}}},
                    {"template",
                     {{"metadata", {{"labels", {{"app", name}}}}},
                      {"spec", {{"containers", {{{"name", "main"}, {"image", "web:1"}}}}}}}}}}}},
                {"placement", json::object()}}}};
    federation_.Apply(w);
    const auto& info = Workloads();
    for (int attempt = 0; attempt < 10; ++attempt) {
      json got = federation_.objects().Get(info, "shop", name).value();
      got["status"]["placement"] = {{{"cluster", "m-a"}, {"replicas", 2}},
                                    {{"cluster", "m-b"}, {"replicas", 2}},
                                    {{"cluster", "m-c"}, {"replicas", 2}}};
      if (federation_.objects().Update(info, "shop", name, got, "status").ok()) return;
    }
    FAIL() << "could not write the placement";
  }

  // A Deployment workload `ns/name` (placement written separately).
  static json Workload(const std::string& ns, const std::string& name) {
    return {{"apiVersion", api::kApiVersion},
            {"kind", "FederatedWorkload"},
            {"metadata", {{"name", name}, {"namespace", ns}}},
            {"spec",
             {{"template",
               {{"apiVersion", "apps/v1"},
                {"kind", "Deployment"},
                {"spec",
                 {{"replicas", 2},
                  {"selector", {{"matchLabels", {{"app", name}}}}},
                  {"template",
                   {{"metadata", {{"labels", {{"app", name}}}}},
                    {"spec", {{"containers", {{{"name", "main"}, {"image", "web:1"}}}}}}}}}}}},
              {"placement", json::object()}}}};
  }

  // Write requests `member` has received at its API (membersim's count, as an audit log).
  static int64_t MemberWrites(const std::string& member) {
    auto r = test_env::RunCommand(test_env::BinDir() + "/membersim ctl --server " + sim_url_ +
                                  " status");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    json status =
        json::parse(r.output.substr(std::min(r.output.find('{'), r.output.size())), nullptr, false);
    if (!status.is_object()) return -1;
    for (const json& c : status["clusters"]) {
      if (c["name"] == member) return c["apiWrites"]["total"].get<int64_t>();
    }
    return -1;
  }

  const apimachinery::ResourceInfo& Workloads() {
    return federation_.Info(api::kApiVersion, "FederatedWorkload");
  }

  std::optional<json> InMember(const std::string& member, const std::string& name) {
    auto got = members_[member]->Get(kDeployments, "shop", name);
    if (!got.ok()) return std::nullopt;
    return *got;
  }

  static inline std::filesystem::path dir_;
  static inline membersim::testing::MembersimProcess* sim_ = nullptr;
  static inline std::string sim_url_;
  test_env::InProcessFederation federation_{"prop-sim"};
  std::map<std::string, std::shared_ptr<MemberClient>> members_;
};

TEST_F(PropagationMembersimTest, DriftInAMemberIsRepairedFromItsWatchWithinSeconds) {
  auto controller = StartController();
  CreateWorkload("web");
  ASSERT_TRUE(Eventually([&] { return InMember("m-a", "web").has_value(); }));

  // As `kubectl scale` would: the member's own controllers write status meanwhile.
  auto edited = members_["m-a"]->MergePatch(kDeployments, "shop", "web",
                                            json{{"spec", {{"replicas", 9}}}});
  ASSERT_TRUE(edited.ok()) << edited.status();
  auto t0 = Steady::now();
  EXPECT_TRUE(Eventually(
      [&] {
        auto o = InMember("m-a", "web");
        return o && (*o)["spec"]["replicas"] == 2;
      },
      milliseconds(3000)))
      << "an edit was not repaired";
  std::printf("edit repaired after %.0f ms\n",
              std::chrono::duration<double, std::milli>(Steady::now() - t0).count());

  ASSERT_TRUE(members_["m-a"]->Delete(kDeployments, "shop", "web").ok());
  t0 = Steady::now();
  EXPECT_TRUE(Eventually([&] { return InMember("m-a", "web").has_value(); }, milliseconds(3000)))
      << "a deletion was not repaired";
  std::printf("deletion repaired after %.0f ms\n",
              std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
  controller->Stop();
}

TEST_F(PropagationMembersimTest, AHungMemberDoesNotDelayTheOthers) {
  auto controller = StartController();
  CreateWorkload("api");
  // Both hold it first: an earlier test's leftovers in the shared membersim may make this
  // federation remove namespace shop (it created it and places nothing there before the
  // placement is written), and a member then recreates it only after 2 s of Terminating.
  ASSERT_TRUE(Eventually(
      [&] { return InMember("m-a", "api").has_value() && InMember("m-b", "api").has_value(); }));
  auto ctl = [&](const std::string& args) {
    auto r = test_env::RunCommand(test_env::BinDir() + "/membersim ctl --server " + sim_url_ +
                                  " " + args);
    ASSERT_EQ(r.exit_code, 0) << args << ": " << r.output;
  };
  ctl("partition m-b --mode hang");
  struct Heal {
    std::function<void()> f;
    ~Heal() { f(); }
  } heal{[&] { ctl("heal m-b"); }};

  const auto& info = Workloads();
  bool changed = false;
  for (int attempt = 0; attempt < 20 && !changed; ++attempt) {  // the controller writes status
    json w = federation_.objects().Get(info, "shop", "api").value();
    w["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["image"] = "web:2";
    changed = federation_.objects().Update(info, "shop", "api", w).ok();
  }
  ASSERT_TRUE(changed);
  const auto t0 = Steady::now();
  auto has_new_image = [&](const std::string& member) {
    auto o = InMember(member, "api");
    return o && (*o)["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2";
  };
  EXPECT_TRUE(Eventually([&] { return has_new_image("m-a"); }, milliseconds(1000)))
      << "m-a waited for the hung m-b";
  std::printf("m-a updated %.0f ms after the change while m-b hangs\n",
              std::chrono::duration<double, std::milli>(Steady::now() - t0).count());

  // m-b reports its timeout, and catches up once it answers again.
  EXPECT_TRUE(Eventually([&] {
    FieldErrors errors;
    auto got = federation_.objects().Get(info, "shop", "api");
    if (!got.ok()) return false;
    for (const auto& c : api::DecodeFederatedWorkload(got.value(), &errors).status.clusters) {
      if (c.cluster == "m-b" && !c.synced && !c.last_error.empty()) return true;
    }
    return false;
  }));
  ctl("heal m-b");
  heal.f = [] {};
  EXPECT_TRUE(Eventually([&] { return has_new_image("m-b"); }, milliseconds(15'000)));
  controller->Stop();
}

TEST_F(PropagationMembersimTest, AMemberRefusingOurCredentialsSaysSoInStatus) {
  auto controller = StartController();
  CreateWorkload("shopfront");
  const auto& info = Workloads();
  std::string error;
  EXPECT_TRUE(Eventually([&] {
    FieldErrors errors;
    auto got = federation_.objects().Get(info, "shop", "shopfront");
    if (!got.ok()) return false;
    for (const auto& c : api::DecodeFederatedWorkload(got.value(), &errors).status.clusters) {
      if (c.cluster == "m-c") error = c.last_error;
    }
    return !error.empty() && error.find("pending") == std::string::npos;
  }));
  EXPECT_NE(error.find("member \"m-c\" refused Meridian's credentials (HTTP 401"),
            std::string::npos)
      << error;
  // The others are not held up by it.
  EXPECT_TRUE(Eventually([&] { return InMember("m-a", "shopfront").has_value(); }));
  EXPECT_FALSE(InMember("m-c", "shopfront").has_value());
  controller->Stop();
}

// What a real API server does to a template (canonical quantities, `args: []` dropped, the
// Deployment controller's revision annotation) must not make Meridian rewrite the object:
// after convergence it makes zero writes to the member (counted by membersim at its API),
// the generation stays put; hand edits are repaired with a merge patch that keeps the
// revision annotation.
TEST_F(PropagationMembersimTest, ConvergedWorkloadCausesZeroMemberWrites) {
  auto writes = [&](const std::string& member) -> int64_t {
    auto r = test_env::RunCommand(test_env::BinDir() + "/membersim ctl --server " + sim_url_ +
                                  " status");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    json status =
        json::parse(r.output.substr(std::min(r.output.find('{'), r.output.size())), nullptr, false);
    if (!status.is_object()) return -1;
    for (const json& c : status["clusters"]) {
      if (c["name"] == member) return c["apiWrites"]["total"].get<int64_t>();
    }
    return -1;
  };
  auto controller = StartController();
  CreateWorkload("quant");
  // The issue's template: cpu 0.5 (a YAML number), memory 1024Mi, limits.cpu "1.0", args [].
  const auto& info = Workloads();
  bool changed = false;
  for (int attempt = 0; attempt < 20 && !changed; ++attempt) {
    json w = federation_.objects().Get(info, "shop", "quant").value();
    json& c = w["spec"]["template"]["spec"]["template"]["spec"]["containers"][0];
    c["args"] = json::array();
    c["resources"] = {{"requests", {{"cpu", 0.5}, {"memory", "1024Mi"}}},
                      {"limits", {{"cpu", "1.0"}}}};
    changed = federation_.objects().Update(info, "shop", "quant", w).ok();
  }
  ASSERT_TRUE(changed);
  auto container = [&](const json& d) { return d["spec"]["template"]["spec"]["containers"][0]; };
  // status.<field> (0 until the member's controllers have written it).
  auto status_int = [](const json& d, const char* field) -> int64_t {
    if (!d.contains("status") || !d["status"].is_object()) return 0;
    const json& v = d["status"].value(field, json(0));
    return v.is_number_integer() ? v.get<int64_t>() : 0;
  };
  // Until the update has arrived (a server may default `resources: {}` on the first version).
  ASSERT_TRUE(Eventually([&] {
    auto o = InMember("m-a", "quant");
    return o && container(*o).contains("resources") &&
           container(*o)["resources"].contains("requests");
  }));
  // Stored as a real server stores it.
  json stored = *InMember("m-a", "quant");
  EXPECT_EQ(container(stored)["resources"]["requests"]["cpu"], "500m");
  EXPECT_EQ(container(stored)["resources"]["requests"]["memory"], "1Gi");
  EXPECT_EQ(container(stored)["resources"]["limits"]["cpu"], "1");
  EXPECT_FALSE(container(stored).contains("args"));

  // Converged: the member's controllers have written status and the revision annotation.
  ASSERT_TRUE(Eventually([&] {
    auto o = InMember("m-a", "quant");
    return o && (*o)["metadata"]["annotations"].contains("deployment.kubernetes.io/revision") &&
           status_int(*o, "readyReplicas") == 2;
  }));
  auto quiet = [&](const char* when) {
    std::this_thread::sleep_for(milliseconds(500));  // writes already in flight land
    const int64_t before_a = writes("m-a"), before_b = writes("m-b");
    EXPECT_GT(before_a, 0) << when << ": the create was not counted";  // the counter works
    EXPECT_GT(before_b, 0) << when;
    const int64_t generation = InMember("m-a", "quant").value()["metadata"]["generation"];
    std::this_thread::sleep_for(milliseconds(3000));
    EXPECT_EQ(writes("m-a"), before_a) << when << ": Meridian wrote to m-a";
    EXPECT_EQ(writes("m-b"), before_b) << when << ": Meridian wrote to m-b";
    EXPECT_EQ(InMember("m-a", "quant").value()["metadata"]["generation"], generation) << when;
  };
  quiet("after convergence");

  // Hand edits are repaired (scale, image), with a patch that keeps the member's annotation.
  ASSERT_TRUE(members_["m-a"]
                  ->MergePatch(kDeployments, "shop", "quant", json{{"spec", {{"replicas", 9}}}})
                  .ok());
  EXPECT_TRUE(Eventually(
      [&] {
        auto o = InMember("m-a", "quant");
        return o && (*o)["spec"]["replicas"] == 2;
      },
      milliseconds(3000)))
      << "a scale was not repaired";
  json image_edit = {
      {"spec",
       {{"template", {{"spec", {{"containers", {{{"name", "main"}, {"image", "evil:1"}}}}}}}}}}};
  ASSERT_TRUE(members_["m-a"]->MergePatch(kDeployments, "shop", "quant", image_edit).ok());
  EXPECT_TRUE(Eventually(
      [&] {
        auto o = InMember("m-a", "quant");
        return o && container(*o)["image"] == "web:1" &&
               container(*o)["resources"]["requests"]["cpu"] == "500m";
      },
      milliseconds(3000)))
      << "an image edit was not repaired";
  json repaired = *InMember("m-a", "quant");
  EXPECT_TRUE(repaired["metadata"]["annotations"].contains("deployment.kubernetes.io/revision"))
      << repaired.dump();
  ASSERT_TRUE(Eventually([&] {
    auto o = InMember("m-a", "quant");
    return o && status_int(*o, "updatedReplicas") == 2 && status_int(*o, "readyReplicas") == 2;
  }));
  quiet("after the repairs");
  EXPECT_TRUE(InMember("m-a", "quant")
                  .value()["metadata"]["annotations"]
                  .contains("deployment.kubernetes.io/revision"));
  controller->Stop();
}

// Namespace termination as a real member does it (membersim: Terminating for 2 s, contents
// deleted at once). Whether a user deletes the namespace in a member while Meridian places
// workloads there, or Meridian itself removes it when the last workload leaves and a workload
// comes back while it is still Terminating: Meridian does not keep sending creates the member
// refuses (at most one per key, counted by membersim at its API), says why in the workload's
// status, and recreates the namespace and its objects once it is gone.
TEST_F(PropagationMembersimTest, TerminatingNamespaceCausesNoWriteLoopAndIsRecreated) {
  const std::string ns = "life";
  federation_.Apply({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
  const auto& info = Workloads();
  auto place = [&](const std::string& name, const std::vector<std::string>& on) {
    json placement = json::array();
    for (const std::string& m : on) placement.push_back({{"cluster", m}, {"replicas", 1}});
    for (int attempt = 0; attempt < 10; ++attempt) {
      json got = federation_.objects().Get(info, ns, name).value();
      got["status"]["placement"] = placement;
      // As placement writes it (a workload never placed keeps its namespace in a member).
      got["status"]["observedGeneration"] = got["metadata"].value("generation", int64_t{1});
      if (federation_.objects().Update(info, ns, name, got, "status").ok()) return;
    }
    ADD_FAILURE() << "could not write the placement of " << name;
  };
  auto deployment = [&](const std::string& name) {
    return members_["m-a"]->Get(kDeployments, ns, name).ok();
  };
  // m-a's namespace: "absent", "Terminating" or "Active".
  auto phase = [&]() -> std::string {
    auto got = members_["m-a"]->Get(kNamespaces, "", ns);
    if (!got.ok()) return "absent";
    if ((*got)["metadata"].contains("deletionTimestamp")) return "Terminating";
    return (*got)["metadata"]["labels"].value("federation.meridian.io/managed-by", "") == "meridian"
               ? "Active"
               : "Active, not Meridian's";
  };
  // m-a's entry in workload `name`'s status: "synced", or the last error.
  auto reported = [&](const std::string& name) -> std::string {
    auto w = federation_.objects().Get(info, ns, name);
    if (!w.ok()) return "no workload";
    for (const json& c : (*w)["status"].value("clusters", json::array())) {
      if (c.value("cluster", "") != "m-a") continue;
      return c.value("synced", false) ? "synced" : c.value("lastError", "?");
    }
    return "not reported";
  };
  auto converged = [&] {
    return phase() == "Active" && deployment("a") && deployment("b") && reported("a") == "synced" &&
           reported("b") == "synced";
  };
  // Writes to m-a once Meridian has stopped writing (it may still be cleaning up after an
  // earlier test's workloads in the shared membersim).
  auto settled_writes = [&](const std::string& member) {
    int64_t last = MemberWrites(member);
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(milliseconds(600));
      const int64_t now = MemberWrites(member);
      if (now == last) return now;
      last = now;
    }
    return last;
  };

  auto controller = StartController();
  for (const char* name : {"a", "b"}) {
    federation_.Apply(Workload(ns, name));
    place(name, {"m-a", "m-b"});
  }
  ASSERT_TRUE(Eventually(converged)) << phase() << " / " << reported("a") << " / " << reported("b");

  // 1. Deleted by hand while both workloads place there.
  int64_t before_a = settled_writes("m-a");
  const int64_t before_b = settled_writes("m-b");
  ASSERT_TRUE(members_["m-a"]->Delete(kNamespaces, "", ns).ok());  // the test's own write
  EXPECT_EQ(phase(), "Terminating");
  EXPECT_TRUE(Eventually([&] {
    return reported("a").find("the namespace is being deleted in member \"m-a\"") !=
           std::string::npos;
  })) << reported("a");
  EXPECT_EQ(phase(), "Terminating") << "the report must come while it is being deleted";
  EXPECT_TRUE(Eventually(converged)) << phase() << " / " << reported("a") << " / " << reported("b");
  // The minimum is the namespace and the two Deployments; a key that was already sending its
  // create when the namespace went may get one 403 (no more: it then reads the namespace).
  int64_t meridian = settled_writes("m-a") - before_a - 1;
  EXPECT_GE(meridian, 3);
  EXPECT_LE(meridian, 5) << "Meridian kept writing to a Terminating namespace";
  std::cout << "namespace deleted by hand: " << meridian << " writes by Meridian to m-a\n";
  EXPECT_EQ(MemberWrites("m-b"), before_b) << "m-b was not touched";

  // 2. Meridian removes it when the last workload leaves; a workload comes back while it is
  // still Terminating.
  before_a = settled_writes("m-a");
  place("a", {"m-b"});
  place("b", {"m-b"});
  ASSERT_TRUE(Eventually([&] { return phase() == "Terminating"; })) << phase();
  place("a", {"m-a", "m-b"});
  place("b", {"m-a", "m-b"});
  EXPECT_TRUE(Eventually([&] {
    return reported("a").find("being deleted") != std::string::npos || phase() != "Terminating";
  }));
  EXPECT_TRUE(Eventually(converged)) << phase() << " / " << reported("a") << " / " << reported("b");
  // Two Deployment deletes, the namespace's delete, its create and two Deployment creates.
  meridian = settled_writes("m-a") - before_a;
  EXPECT_GE(meridian, 6);
  EXPECT_LE(meridian, 7) << "Meridian kept writing to a Terminating namespace";
  std::cout << "namespace removed by Meridian and needed again: " << meridian
            << " writes by Meridian to m-a\n";
  controller->Stop();
}

}  // namespace
}  // namespace meridian::sync
