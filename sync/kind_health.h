// Health of the propagated kinds that have no replicas to divide, as Kubernetes judges them,
// from each member's copy of the object, and their aggregate over the members (issue 18).
// Pure; thread-safe.
//
//   DaemonSet  healthy when the member's controller observed the generation and
//              numberReady, updatedNumberScheduled and numberAvailable reach
//              desiredNumberScheduled (what `kubectl rollout status daemonset` waits for);
//              aggregate: every count summed.
//   Job        healthy when condition Complete is True; failed (unhealthy, final) when Failed
//              is True; otherwise running (unhealthy, not final); aggregate: active, ready,
//              succeeded, failed summed, the earliest startTime, and the conditions Complete
//              (True when every member's Job completed; then the latest completionTime) and
//              Failed (True when any member's failed, naming them).
//   CronJob    healthy once present (its status has no failure state: kube reports only what
//              runs and when it last ran); aggregate: active (every member's Jobs, each
//              reference once) and the latest lastScheduleTime and lastSuccessfulTime.
//   Ingress    healthy when status.loadBalancer.ingress is not empty (an address was given);
//              aggregate: every member's ingress points, each once.
//   PodDisruptionBudget  healthy when currentHealthy >= desiredHealthy; aggregate: the counts
//              summed (each member's budget guards its own pods).
// Any other kind has no health model here: KindHealthModel is false, and callers report
// "applied" only.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace meridian::sync {

// Whether apiVersion/kind is one of the kinds above.
bool KindHealthModel(const std::string& api_version, const std::string& kind);

struct MemberHealth {
  bool healthy = false;
  std::string reason;  // "3/3 ready, 3/3 updated, 3/3 available"; "failed: BackoffLimitExceeded"
};

// The health of one member's copy `object` (with its status) of a kind KindHealthModel knows.
// An object without status (the member's controller has not reported) is not healthy.
MemberHealth HealthOf(const nlohmann::json& object);

// The status the federation's object should show: the aggregate (see the file comment) of
// `members` (member name -> that member's copy, with its status), plus — for DaemonSet, Job
// and PodDisruptionBudget, whose status has conditions (CronJob's and Ingress's have none) —
// condition Healthy (True when every member's copy is healthy; otherwise False naming each
// unhealthy member and why; reason NoMembers when there are none). Condition lastTransitionTime is
// `now_rfc3339` unless `previous` (the object's current status) had the same status for that
// condition.
nlohmann::json AggregateKindStatus(const std::string& kind,
                                   const std::map<std::string, nlohmann::json>& members,
                                   const nlohmann::json& previous, const std::string& now_rfc3339);

}  // namespace meridian::sync
