// Every controller the embedded federation-apiserver runs (--controllers all: health, member
// schemas, binding, placement, rollout, propagation, residency audit, DNS, drill, fleet
// metrics), started by the ControllerManager on one SharedInformerFactory as main.cc starts
// them, makes no LIST per event. The federation is in-process; its members are a real
// membersim on loopback (the controllers reach them over HTTP). Requests are counted by verb at
// the store under the controllers' ObjectService (every in-process request reaches it). Once
// the first workload runs on its members, a stream of changes follows (new workloads, replica
// changes, deletes), each acted on before the next: placed, and written to (or removed from)
// the members by propagation. The LIST count by resource stays where it was.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "api/codec.h"
#include "api/yaml.h"
#include "apimachinery/informer.h"
#include "federation-apiserver/controller_manager.h"
#include "sync/http_member_client.h"
#include "test/common/counting_store.h"
#include "test/common/eventually.h"
#include "test/common/in_process_federation.h"
#include "test/common/test_env.h"
#include "test/membersim/process.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

const sync::GroupVersionResource kDeployments{"apps", "v1", "deployments"};

using test_env::Eventually;

class ControllersNoListTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-controllers-no-list-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    std::ifstream topology(test_env::SourceDir() + "/examples/topology-3-continents.yaml");
    std::stringstream config;
    config << topology.rdbuf();
    sim_ = new membersim::testing::MembersimProcess();
    std::string error;
    ASSERT_TRUE(sim_->Start(config.str(), {}, &error, (dir_ / "membersim.log").string())) << error;
    sim_url_ = sim_->url();
  }
  static void TearDownTestSuite() {
    delete sim_;
    sim_ = nullptr;
    std::filesystem::remove_all(dir_);
  }

  const apimachinery::ResourceInfo& WorkloadInfo() {
    return federation_.Info(api::kApiVersion, "FederatedWorkload");
  }

  // The three-continents members, served by this test's membersim.
  void ApplyMembers() {
    std::ifstream in(test_env::SourceDir() + "/examples/three-continents/members.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    auto docs = api::ParseYamlDocuments(ss.str(), "members.yaml");
    ASSERT_TRUE(docs.ok()) << docs.status();
    for (const api::YamlDocument& d : *docs) {
      json m = d.value;
      const std::string name = m["metadata"]["name"];
      m["spec"]["server"] = sim_url_ + "/clusters/" + name;
      federation_.Apply(m);
      sync::MemberEndpoint e;
      e.name = name;
      e.server = sim_url_ + "/clusters/" + name;
      e.timeout = milliseconds(2000);
      members_[name] =
          std::shared_ptr<sync::MemberClient>(sync::HttpMemberClient::Create(e).value());
    }
  }


  // `name` is placed for its current generation with `replicas` in all, and every member
  // holds its share (a member without one holds no Deployment of that name).
  bool Running(const std::string& name, int64_t replicas) {
    auto got = federation_.objects().Get(WorkloadInfo(), "shop", name);
    if (!got.ok()) return false;
    FieldErrors errors;
    api::FederatedWorkload w = api::DecodeFederatedWorkload(got.value(), &errors);
    if (w.status.observed_generation != w.metadata.generation ||
        w.status.desired_replicas != replicas) {
      return false;
    }
    std::map<std::string, int64_t> placed;
    for (const api::ClusterPlacement& p : w.status.placement) placed[p.cluster] = p.replicas;
    for (const auto& [member, client] : members_) {
      auto d = client->Get(kDeployments, "shop", name);
      const int64_t want = placed.count(member) ? placed[member] : 0;
      if (want == 0) {
        if (d.ok()) return false;
        continue;
      }
      if (!d.ok() || (*d)["spec"].value("replicas", int64_t{-1}) != want) return false;
    }
    return true;
  }
  // `name` is gone from the federation and from every member.
  bool Gone(const std::string& name) {
    if (federation_.objects().Get(WorkloadInfo(), "shop", name).ok()) return false;
    for (const auto& [member, client] : members_) {
      if (client->Get(kDeployments, "shop", name).ok()) return false;
    }
    return true;
  }

  static inline std::filesystem::path dir_;
  static inline membersim::testing::MembersimProcess* sim_ = nullptr;
  static inline std::string sim_url_;

  test_env::InProcessFederation federation_{"controllers-no-list"};
  test_env::CountingStore counting_{federation_.server().store()};
  // The controllers' ObjectService: the server's resources over the counting store.
  apimachinery::ObjectService objects_{counting_, federation_.clock(),
                                       federation_.server().registry()};
  std::map<std::string, std::shared_ptr<sync::MemberClient>> members_;
};

TEST_F(ControllersNoListTest, EveryControllerOnOneFactoryListsOnlyAtStart) {
  ASSERT_FALSE(sim_url_.empty());
  federation_.ApplyFile("examples/three-continents/topology.yaml");
  ApplyMembers();
  federation_.Apply(
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}});
  federation_.Apply(test_env::DeploymentWorkloadJson("w0", 5));

  // As federation-apiserver's main.cc: the factory first (it outlives the controllers).
  apimachinery::SharedInformerFactory informers(objects_);
  ControllerManager manager;
  ControllerContext context{objects_, RealClock(), &federation_.server().member_schemas()};
  context.informers = &informers;
  auto all = SelectControllers("*");
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_TRUE(manager.StartAll(*all, context).ok());
  ASSERT_GE(manager.running().size(), 9u);
  ASSERT_TRUE(informers.HasSynced());
  ASSERT_TRUE(Eventually([&] { return Running("w0", 5); })) << "w0 never reached its members";

  // One LIST per kind (and label selector) for all the controllers together.
  const auto at_start = counting_.counts();
  for (const char* kind : {"federatedworkloads", "memberclusters", "residencypolicies",
                           "topologies", "failoverdrills", "rolloutstrategies"}) {
    EXPECT_LE(at_start.at("list").at(kind), 2) << kind << ": " << counting_.Describe("list");
  }
  const int lists = counting_.total("list");
  const std::string lists_at_start = counting_.Describe("list");

  // The stream: each change placed and on (or off) the members before the next.
  for (int i = 1; i <= 6; ++i) {
    const std::string name = "w" + std::to_string(i);
    federation_.Apply(test_env::DeploymentWorkloadJson(name, i + 2));
    ASSERT_TRUE(Eventually([&] { return Running(name, i + 2); })) << name;
    auto scaled = federation_.objects().Patch(
        WorkloadInfo(), "shop", name, apimachinery::PatchType::kMergePatch,
        json{{"spec", {{"template", {{"spec", {{"replicas", i + 5}}}}}}}}.dump());
    ASSERT_TRUE(scaled.ok()) << scaled.error().message;
    ASSERT_TRUE(Eventually([&] { return Running(name, i + 5); })) << name << " scaled";
    if (i % 2 == 0) {
      auto deleted = federation_.objects().Delete(WorkloadInfo(), "shop", name);
      ASSERT_TRUE(deleted.ok()) << deleted.error().message;
      ASSERT_TRUE(Eventually([&] { return Gone(name); })) << name << " deleted";
    }
  }
  // Health rounds, status aggregation and audits keep running meanwhile; a moment more for
  // any pass still under way (it would LIST there if at all).
  std::this_thread::sleep_for(milliseconds(1500));
  manager.StopAll();

  EXPECT_EQ(counting_.total("list"), lists)
      << "LISTs after start: " << counting_.Describe("list") << "; at start: " << lists_at_start;
  // The controllers did work meanwhile: member status (health), workload status (placement,
  // propagation), no LIST.
  auto updates = [](const auto& counts, const std::string& resource) {
    auto verb = counts.find("update");
    if (verb == counts.end()) return 0;
    auto it = verb->second.find(resource);
    return it == verb->second.end() ? 0 : it->second;
  };
  const auto at_end = counting_.counts();
  EXPECT_GT(updates(at_end, "federatedworkloads"), updates(at_start, "federatedworkloads"));
  EXPECT_GT(updates(at_end, "memberclusters"), 0);
}

}  // namespace
}  // namespace meridian::apiserver
