// The fleet's state as Prometheus gauges (Meridian's own names), computed when scraped from
// the stored objects by the fleet-metrics controller
// (federation-apiserver/controllers/fleet_metrics.cc). Labels are members, regions,
// jurisdictions, phases and states: bounded by the fleet, never by workloads.
//   meridian_member_ready{member,region,jurisdiction}          1 when Ready=True, else 0
//   meridian_member_probe_latency_seconds{member,region}       the last health probe
//   meridian_replicas{region,jurisdiction,state}               state: placed, ready, retained
//   meridian_replicas_desired, meridian_replicas_unplaced      over every workload
//   meridian_workloads{condition}                              workloads with the condition
//                                                              True: Placed, Degraded
//   meridian_residency_violations                              open violations, all policies
//   meridian_residency_audit_coverage_ratio                    the worst policy's share of
//                                                              members its last scan verified
//   meridian_drills{phase}                                     drills by status.phase
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

#include "api/types.h"

namespace meridian::observability {

struct FleetObjects {
  std::vector<api::MemberCluster> members;
  std::vector<api::FederatedWorkload> workloads;
  std::vector<api::ResidencyPolicy> policies;
  std::vector<api::FailoverDrill> drills;
};

// Pure. A cluster missing from `members` counts under its own name as region.
std::vector<prometheus::MetricFamily> FleetFamilies(const FleetObjects& fleet);

}  // namespace meridian::observability
