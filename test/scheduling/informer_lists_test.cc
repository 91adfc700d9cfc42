// Controllers on shared informers make no LIST per event: the placement, DNS and drill
// controllers of one process, started on one SharedInformerFactory over an in-process
// federation-apiserver, under a stream of workload changes (new workloads, replica changes,
// deletes). Requests are counted by verb at the store under the API (every in-process request
// reaches it; the controllers do not go through HTTP). After start the LIST count stays where
// it was, one per kind, while every change is still placed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "api/codec.h"
#include "apimachinery/informer.h"
#include "dns/dns_controller.h"
#include "failover/drill_controller.h"
#include "scheduling/placement_controller.h"
#include "test/common/counting_store.h"
#include "test/common/in_process_federation.h"

namespace meridian::scheduling {
namespace {

using nlohmann::json;

using CountingStore = test_env::CountingStore;

class InformerListsTest : public ::testing::Test {
 protected:
  const apimachinery::ResourceInfo& WorkloadInfo() {
    return federation_.Info(api::kApiVersion, "FederatedWorkload");
  }
  // Waits (bounded) until `name` is placed for its current generation with `replicas`.
  bool Placed(const std::string& name, int64_t replicas) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      auto got = federation_.objects().Get(WorkloadInfo(), "shop", name);
      if (got.ok()) {
        FieldErrors errors;
        api::FederatedWorkload w = api::DecodeFederatedWorkload(got.value(), &errors);
        if (w.status.observed_generation == w.metadata.generation &&
            w.status.desired_replicas == replicas) {
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  test_env::InProcessFederation federation_{"informer-lists"};
  CountingStore counting_{federation_.server().store()};
  // The controllers' ObjectService: the server's resources over the counting store.
  apimachinery::ObjectService objects_{counting_, federation_.clock(),
                                       federation_.server().registry()};
};

TEST_F(InformerListsTest, NoListPerEventAfterStart) {
  federation_.ApplyFile("examples/three-continents/topology.yaml");
  federation_.ApplyFile("examples/three-continents/members.yaml");
  federation_.Apply(
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}});
  federation_.Apply(test_env::DeploymentWorkloadJson("w0", 3));

  apimachinery::SharedInformerFactory informers(objects_);
  PlacementController placement(objects_, federation_.clock(), &informers);
  dns::DnsController dns(
      objects_,
      [](const api::MemberCluster&) -> StatusOr<std::shared_ptr<sync::MemberClient>> {
        return UnavailableError("no member clients in this test");
      },
      dns::DnsControllerOptions{.member_retry = std::chrono::seconds(60)}, &informers);
  failover::DrillController drills(objects_, federation_.clock(), nullptr, {}, &informers);
  ASSERT_TRUE(placement.Start().ok());
  ASSERT_TRUE(dns.Start().ok());
  ASSERT_TRUE(drills.Start().ok());
  ASSERT_TRUE(informers.HasSynced());
  ASSERT_TRUE(Placed("w0", 3));

  // One LIST per kind for the three controllers together.
  const auto at_start = counting_.counts();
  for (const char* kind : {"federatedworkloads", "memberclusters", "residencypolicies"}) {
    EXPECT_EQ(at_start.at("list").at(kind), 1) << kind;
  }
  const int lists = counting_.total("list");

  // The stream: new workloads, replica changes, deletes, each placed before the next.
  for (int i = 1; i <= 12; ++i) {
    const std::string name = "w" + std::to_string(i);
    federation_.Apply(test_env::DeploymentWorkloadJson(name, i));
    ASSERT_TRUE(Placed(name, i)) << name;
    auto scaled = federation_.objects().Patch(
        WorkloadInfo(), "shop", name, apimachinery::PatchType::kMergePatch,
        json{{"spec", {{"template", {{"spec", {{"replicas", i + 1}}}}}}}}.dump());
    ASSERT_TRUE(scaled.ok()) << scaled.error().message;
    ASSERT_TRUE(Placed(name, i + 1)) << name;
    if (i % 3 == 0) {
      ASSERT_TRUE(federation_.objects().Delete(WorkloadInfo(), "shop", name).ok());
    }
  }
  // Give the controllers' last passes the time to run (they would LIST there if at all).
  ASSERT_TRUE(Placed("w11", 12));
  placement.Stop();
  dns.Stop();
  drills.Stop();

  const auto at_end = counting_.counts();
  EXPECT_EQ(counting_.total("list"), lists) << "LISTs after start: " << counting_.Describe("list");
  // The controllers did work meanwhile: status writes and DNS-free passes, no LIST.
  EXPECT_GT(at_end.at("update").at("federatedworkloads"),
            at_start.count("update") ? at_start.at("update").count("federatedworkloads") : 0);
}

}  // namespace
}  // namespace meridian::scheduling
