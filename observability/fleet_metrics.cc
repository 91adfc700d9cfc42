#include "observability/fleet_metrics.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "observability/metrics.h"

namespace meridian::observability {
namespace {

bool ConditionTrue(const std::vector<api::Condition>& conditions, const std::string& type) {
  return std::any_of(conditions.begin(), conditions.end(),
                     [&](const api::Condition& c) { return c.type == type && c.status == "True"; });
}

}  // namespace

std::vector<prometheus::MetricFamily> FleetFamilies(const FleetObjects& fleet) {
  struct Where {
    std::string region;
    std::string jurisdiction;
  };
  std::map<std::string, Where> where;  // member -> region, jurisdiction
  prometheus::MetricFamily ready = GaugeFamily(
      "meridian_member_ready", "1 when the member cluster's Ready condition is True, else 0.");
  prometheus::MetricFamily probe = GaugeFamily("meridian_member_probe_latency_seconds",
                                               "Latency of the last health probe of the member.");
  for (const api::MemberCluster& m : fleet.members) {
    where[m.metadata.name] = {m.spec.region, m.spec.jurisdiction};
    AddSample(ready,
              {{"member", m.metadata.name},
               {"region", m.spec.region},
               {"jurisdiction", m.spec.jurisdiction}},
              ConditionTrue(m.status.conditions, "Ready") ? 1 : 0);
    if (m.status.probe_latency_ms) {
      AddSample(probe, {{"member", m.metadata.name}, {"region", m.spec.region}},
                static_cast<double>(*m.status.probe_latency_ms) / 1000.0);
    }
  }
  auto where_of = [&](const std::string& cluster) {
    auto it = where.find(cluster);
    return it == where.end() ? Where{cluster, ""} : it->second;
  };

  // (region, jurisdiction, state) -> replicas
  std::map<std::tuple<std::string, std::string, std::string>, double> replicas;
  double desired = 0, unplaced = 0;
  std::map<std::string, double> workloads_by_condition = {{"Placed", 0}, {"Degraded", 0}};
  for (const api::FederatedWorkload& w : fleet.workloads) {
    desired += static_cast<double>(w.status.desired_replicas);
    unplaced += static_cast<double>(w.status.unplaced_replicas);
    for (auto& [condition, count] : workloads_by_condition) {
      if (ConditionTrue(w.status.conditions, condition)) ++count;
    }
    auto add = [&](const std::string& cluster, const char* state, int64_t n) {
      const Where at = where_of(cluster);
      replicas[{at.region, at.jurisdiction, state}] += static_cast<double>(n);
    };
    for (const api::ClusterPlacement& p : w.status.placement) add(p.cluster, "placed", p.replicas);
    for (const api::ClusterPlacement& p : w.status.retained) add(p.cluster, "retained", p.replicas);
    for (const api::ClusterSyncStatus& c : w.status.clusters)
      add(c.cluster, "ready", c.ready_replicas);
  }
  // Every region of the fleet reports each state, so a region that lost everything reads 0
  // rather than vanishing (alerts and dashboards see the fall).
  for (const auto& [member, at] : where) {
    for (const char* state : {"placed", "ready", "retained"}) {
      replicas.try_emplace({at.region, at.jurisdiction, state}, 0.0);
    }
  }
  prometheus::MetricFamily by_region = GaugeFamily(
      "meridian_replicas",
      "FederatedWorkload replicas per region and jurisdiction: placed (status.placement), ready "
      "(reported by members), retained (left where they run while unreachable or draining).");
  for (const auto& [key, n] : replicas) {
    const auto& [region, jurisdiction, state] = key;
    AddSample(by_region, {{"region", region}, {"jurisdiction", jurisdiction}, {"state", state}}, n);
  }
  prometheus::MetricFamily desired_family = GaugeFamily(
      "meridian_replicas_desired", "Replicas the FederatedWorkloads ask for, in total.");
  AddSample(desired_family, {}, desired);
  prometheus::MetricFamily unplaced_family = GaugeFamily(
      "meridian_replicas_unplaced",
      "Replicas no eligible member cluster could take (status.unplacedReplicas), in total.");
  AddSample(unplaced_family, {}, unplaced);
  prometheus::MetricFamily workloads = GaugeFamily(
      "meridian_workloads", "FederatedWorkloads whose condition is True, by condition.");
  for (const auto& [condition, count] : workloads_by_condition) {
    AddSample(workloads, {{"condition", condition}}, count);
  }

  double violations = 0;
  double coverage = 1;
  const double members = static_cast<double>(fleet.members.size());
  for (const api::ResidencyPolicy& p : fleet.policies) {
    violations += static_cast<double>(p.status.violations);
    if (members > 0) {
      const double verified =
          std::max(0.0, members - static_cast<double>(p.status.unverified_members));
      coverage = std::min(coverage, verified / members);
    }
  }
  prometheus::MetricFamily violations_family = GaugeFamily(
      "meridian_residency_violations",
      "Open residency violations (objects found in a jurisdiction their policy does not allow).");
  AddSample(violations_family, {}, violations);
  prometheus::MetricFamily coverage_family = GaugeFamily(
      "meridian_residency_audit_coverage_ratio",
      "Share of member clusters the residency audit verified in its last scan (the worst "
      "policy); below 1 some member could not be listed.");
  AddSample(coverage_family, {}, coverage);

  std::map<std::string, double> drills = {
      {"Pending", 0}, {"Running", 0}, {"Completed", 0}, {"Aborted", 0}, {"Failed", 0}};
  for (const api::FailoverDrill& d : fleet.drills) {
    if (d.status.phase.empty()) {
      ++drills["Pending"];
    } else if (drills.count(d.status.phase)) {
      ++drills[d.status.phase];
    }
  }
  prometheus::MetricFamily drills_family =
      GaugeFamily("meridian_drills", "FailoverDrills by status.phase.");
  for (const auto& [phase, count] : drills) AddSample(drills_family, {{"phase", phase}}, count);

  std::vector<prometheus::MetricFamily> out;
  for (prometheus::MetricFamily* f :
       {&ready, &probe, &by_region, &desired_family, &unplaced_family, &workloads,
        &violations_family, &coverage_family, &drills_family}) {
    out.push_back(std::move(*f));
  }
  return out;
}

}  // namespace meridian::observability
