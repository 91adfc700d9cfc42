// RBAC evaluation cost per request (federation-apiserver/rbac/policy.h) with 1,000 bindings:
// request attributes from the path plus the decision, as the authorization filter does it.
// See docs/performance.md ("RBAC") for numbers and the command.
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "federation-apiserver/rbac/authorizer.h"
#include "federation-apiserver/rbac/policy.h"

namespace {

using meridian::apiserver::rbac::AttributesFor;
using meridian::apiserver::rbac::BootstrapObjects;
using meridian::apiserver::rbac::RbacPolicy;
using nlohmann::json;

// The bootstrap roles plus `bindings` RoleBindings spread over 100 namespaces, each granting
// edit or view to one user and one team group. With `all_to_one_group`, every binding names
// the same group instead (the worst case: one request visits every grant).
std::shared_ptr<const RbacPolicy> Fleet(int bindings, bool all_to_one_group) {
  std::vector<json> cluster_roles, cluster_bindings, role_bindings;
  for (auto& [plural, object] : BootstrapObjects()) {
    (plural == "clusterroles" ? cluster_roles : cluster_bindings).push_back(object);
  }
  for (int i = 0; i < bindings; ++i) {
    std::string ns = "ns-" + std::to_string(i % 100);
    std::string group = all_to_one_group ? "everyone" : "team-" + std::to_string(i % 100);
    role_bindings.push_back(
        {{"metadata", {{"name", "b-" + std::to_string(i)}, {"namespace", ns}}},
         {"roleRef",
          {{"apiGroup", "rbac.authorization.k8s.io"},
           {"kind", "ClusterRole"},
           {"name", i % 2 ? "edit" : "view"}}},
         {"subjects", json::array({{{"kind", "User"}, {"name", "user-" + std::to_string(i)}},
                                   {{"kind", "Group"}, {"name", group}}})}});
  }
  return RbacPolicy::Build({}, cluster_roles, role_bindings, cluster_bindings);
}

meridian::apimachinery::rest::RestRequest Request(const std::string& user,
                                                  std::vector<std::string> groups,
                                                  const std::string& method,
                                                  const std::string& ns) {
  meridian::apimachinery::rest::RestRequest r;
  r.method = method;
  r.path = "/apis/federation.meridian.io/v1alpha1/namespaces/" + ns + "/federatedworkloads";
  r.user.name = user;
  r.user.groups = std::move(groups);
  r.user.groups.push_back("system:authenticated");
  return r;
}

void Run(benchmark::State& state, const RbacPolicy& policy,
         const meridian::apimachinery::rest::RestRequest& request, bool want) {
  for (auto _ : state) {
    bool allowed = policy.Allows(AttributesFor(request));
    if (allowed != want) state.SkipWithError("unexpected decision");
    benchmark::DoNotOptimize(allowed);
  }
}

// user-1 is bound to edit in ns-1 (one binding of its own, one through team-1).
void BM_AllowedCreate(benchmark::State& state) {
  auto policy = Fleet(static_cast<int>(state.range(0)), false);
  Run(state, *policy, Request("user-1", {"team-1"}, "POST", "ns-1"), true);
}
BENCHMARK(BM_AllowedCreate)->Arg(1000)->Unit(benchmark::kMicrosecond);

// Denied: every grant of the user and its groups is tried.
void BM_DeniedCreate(benchmark::State& state) {
  auto policy = Fleet(static_cast<int>(state.range(0)), false);
  Run(state, *policy, Request("user-1", {"team-1"}, "POST", "ns-2"), false);
}
BENCHMARK(BM_DeniedCreate)->Arg(1000)->Unit(benchmark::kMicrosecond);

// Worst case: all 1,000 bindings name one of the user's groups, and the request is denied.
void BM_DeniedOneGroupHoldsAll(benchmark::State& state) {
  auto policy = Fleet(static_cast<int>(state.range(0)), true);
  Run(state, *policy, Request("nobody", {"everyone"}, "POST", "elsewhere"), false);
}
BENCHMARK(BM_DeniedOneGroupHoldsAll)->Arg(1000)->Unit(benchmark::kMicrosecond);

// Rebuilding the snapshot after an RBAC change (once per change, not per request).
void BM_BuildSnapshot(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Fleet(static_cast<int>(state.range(0)), false));
}
BENCHMARK(BM_BuildSnapshot)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
