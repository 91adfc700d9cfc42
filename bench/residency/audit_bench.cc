// The residency audit's pure core (residency/audit.h) at issue 14's scale: one full scan of
// 100 members × 10,000 objects. Two parts are timed separately:
//   - BM_AuditScan: AuditResidency over the inventories (which policies and workload govern
//     each object, its allowed jurisdictions, the member's jurisdiction);
//   - BM_ReadMemberObjects: MemberObjectFrom over the member's list items (parsed JSON, as the
//     member client hands them over), the part of reading a list the audit owns.
// Listing the members (HTTP, parsing the body) is the member client's and not measured here.
// The fleet: 50 EU and 50 US members; 20 ResidencyPolicies (one namespace each, EU or US);
// 1,000 FederatedWorkloads (50 per namespace). Each member holds 10,000 objects of the audited
// kinds: managed by Meridian for a workload (a third), created by hand in a governed namespace
// (a third: Deployments, Pods with and without owners, PVCs), and in ungoverned namespaces;
// about 1 % of them are in the wrong jurisdiction.
#include <benchmark/benchmark.h>

#include "residency/audit.h"
#include "sync/propagation.h"

namespace meridian::residency {
namespace {

using nlohmann::json;

constexpr int kMembers = 100;
constexpr int kObjectsPerMember = 10'000;
constexpr int kNamespaces = 20;
constexpr int kWorkloadsPerNamespace = 50;

std::string MemberName(int m) { return (m % 2 == 0 ? "eu-" : "us-") + std::to_string(m); }
// Namespaces 0..9 are EU-bound, 10..19 US-bound.
std::string Namespace(int n) { return "team-" + std::to_string(n); }
bool NamespaceIsEu(int n) { return n < kNamespaces / 2; }

struct Fleet {
  std::shared_ptr<const placement::World> world;
  std::vector<api::ResidencyPolicy> policies;
  std::vector<api::FederatedWorkload> workloads;
};

const Fleet& TheFleet() {
  static const Fleet fleet = [] {
    Fleet f;
    std::vector<placement::ClusterState> clusters(kMembers);
    for (int m = 0; m < kMembers; ++m) {
      clusters[m].name = MemberName(m);
      clusters[m].region = m % 2 == 0 ? "eu-west" : "us-east";
    }
    placement::TopologySpec topology;
    topology.regions = {{"eu-west", "eu", {}, {}}, {"us-east", "us", {}, {}}};
    f.world = placement::World::Build(std::move(clusters), topology).value();
    for (int n = 0; n < kNamespaces; ++n) {
      api::ResidencyPolicy p;
      p.metadata.name = Namespace(n) + (NamespaceIsEu(n) ? "-eu-only" : "-us-only");
      p.spec.namespaces = {Namespace(n)};
      p.spec.jurisdictions = {NamespaceIsEu(n) ? "eu" : "us"};
      f.policies.push_back(p);
      for (int w = 0; w < kWorkloadsPerNamespace; ++w) {
        api::FederatedWorkload fw;
        fw.metadata.ns = Namespace(n);
        fw.metadata.name = "app-" + std::to_string(w);
        fw.metadata.labels = {{"app", fw.metadata.name}, {"tier", "backend"}};
        f.workloads.push_back(fw);
      }
    }
    return f;
  }();
  return fleet;
}

const sync::GroupVersionResource kDeployments{"apps", "v1", "deployments"};
const sync::GroupVersionResource kPods{"", "v1", "pods"};
const sync::GroupVersionResource kPvcs{"", "v1", "persistentvolumeclaims"};

// Object `i` of member `m` as the member would list it. Objects of a namespace bound to the
// member's own jurisdiction, except every 100th, which is in a namespace bound elsewhere.
std::pair<sync::GroupVersionResource, json> ListedObject(int m, int i) {
  const bool eu_member = m % 2 == 0;
  int n = (i / 3) % (kNamespaces / 2) + (eu_member ? 0 : kNamespaces / 2);
  if (i % 100 == 99) n = (n + kNamespaces / 2) % kNamespaces;  // the wrong jurisdiction
  const int w = (i / 7) % kWorkloadsPerNamespace;
  const std::string app = "app-" + std::to_string(w);
  json meta = {{"namespace", Namespace(n)},
               {"name", app + "-" + std::to_string(i)},
               {"uid", "0c8f7a52-" + std::to_string(m) + "-" + std::to_string(i)},
               {"resourceVersion", std::to_string(1000 + i)},
               {"labels", {{"app", app}, {"pod-template-hash", "7d9f8c6b5"}}}};
  sync::GroupVersionResource gvr = kDeployments;
  json object = {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}};
  switch (i % 3) {
    case 0:  // managed by Meridian for its workload
      meta["labels"][sync::kManagedByLabel] = sync::kManagedByValue;
      meta["labels"][sync::kWorkloadLabel] = Namespace(n) + "." + app;
      object["spec"] = {{"replicas", 3}};
      break;
    case 1:  // by hand in a governed namespace: a Pod of a ReplicaSet, or a bare one
      gvr = kPods;
      object = {{"apiVersion", "v1"}, {"kind", "Pod"}};
      if (i % 2 == 0) {
        meta["ownerReferences"] = json::array({{{"kind", "ReplicaSet"}, {"name", app}}});
      }
      break;
    default:
      if (i % 4 == 0) {
        gvr = kPvcs;
        object = {{"apiVersion", "v1"}, {"kind", "PersistentVolumeClaim"}};
      } else {
        object["spec"] = {{"replicas", 2}};
      }
      if (i % 5 == 0) meta["namespace"] = "shop";  // no policy governs it
  }
  object["metadata"] = std::move(meta);
  return {gvr, std::move(object)};
}

const std::vector<MemberInventory>& Inventories() {
  static const std::vector<MemberInventory> inventories = [] {
    std::vector<MemberInventory> out(kMembers);
    for (int m = 0; m < kMembers; ++m) {
      out[m].member = MemberName(m);
      out[m].verified = true;
      out[m].objects.reserve(kObjectsPerMember);
      for (int i = 0; i < kObjectsPerMember; ++i) {
        auto [gvr, object] = ListedObject(m, i);
        out[m].objects.push_back(MemberObjectFrom(gvr, object));
      }
    }
    return out;
  }();
  return inventories;
}

void BM_AuditScan(benchmark::State& state) {
  const Fleet& fleet = TheFleet();
  const std::vector<MemberInventory>& inventories = Inventories();
  size_t violations = 0;
  for (auto _ : state) {
    AuditResult r = AuditResidency(inventories, *fleet.world, fleet.policies, fleet.workloads);
    violations = r.violations.size();
    if (r.objects_seen != int64_t{kMembers} * kObjectsPerMember || r.members_verified != kMembers) {
      state.SkipWithError("not every object was audited");
    }
    benchmark::DoNotOptimize(r);
  }
  state.counters["violations"] = static_cast<double>(violations);
  state.SetItemsProcessed(state.iterations() * int64_t{kMembers} * kObjectsPerMember);
}
BENCHMARK(BM_AuditScan)->Unit(benchmark::kMillisecond)->MinTime(2);

// One member's 10,000 listed objects read 100 times (the same cost as 100 members' lists).
void BM_ReadMemberObjects(benchmark::State& state) {
  static const std::vector<std::pair<sync::GroupVersionResource, json>> listed = [] {
    std::vector<std::pair<sync::GroupVersionResource, json>> out;
    for (int i = 0; i < kObjectsPerMember; ++i) out.push_back(ListedObject(0, i));
    return out;
  }();
  for (auto _ : state) {
    for (int m = 0; m < kMembers; ++m) {
      std::vector<MemberObject> objects;
      objects.reserve(listed.size());
      for (const auto& [gvr, object] : listed) objects.push_back(MemberObjectFrom(gvr, object));
      benchmark::DoNotOptimize(objects);
    }
  }
  state.SetItemsProcessed(state.iterations() * int64_t{kMembers} * kObjectsPerMember);
}
BENCHMARK(BM_ReadMemberObjects)->Unit(benchmark::kMillisecond)->MinTime(2);

}  // namespace
}  // namespace meridian::residency

BENCHMARK_MAIN();
