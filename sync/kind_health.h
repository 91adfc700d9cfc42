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
// A custom kind (a CustomResourceDefinition's) is judged by the ResourceInterpreter that targets
// it (api/resource_interpreter.h), when one does (the Interpreted* functions below); without
// one, and for any other kind, there is no health model: KindHealthModel is false, and
// callers report "applied" only.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "api/resource_interpreter.h"

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

// The ready replicas a member's copy `object` reports under `rule`: the integer at
// readyReplicasPath (0 when absent or not an integer); else, with a readyCondition, `placed`
// when that condition is True and 0 otherwise; else `placed` (present is all the rule knows).
int64_t InterpretedReadyReplicas(const api::InterpreterRule& rule, const nlohmann::json& object,
                                 int64_t placed);

// One member's copy of an interpreted object and the replicas it is to run (its share when the
// object is divided; the whole count, or 1, when it is copied).
struct InterpretedMember {
  nlohmann::json object;  // with the member's status
  int64_t want = 1;
};

// Healthy under `rule`: its readyCondition (when set) is True and its ready replicas (when
// readyReplicasPath is set) reach `want`. Reasons: "condition Ready is False: <message>",
// "condition Ready not reported", "2/5 ready".
MemberHealth InterpretedHealthOf(const api::InterpreterRule& rule, const InterpretedMember& member);

// The status the federation's interpreted object should show: each statusAggregation path and
// readyReplicasPath summed over `members` (numbers; a member without the field adds 0; a path
// no member reports is left out), and condition Healthy: True "ready on 2/2 members"; False
// "ready on 1/2 members; eu-west-1: 2/5 ready" naming each unhealthy member; False NoMembers
// when there are none. Fields of `previous` (the object's status) other than those are not
// kept: the status is the members' aggregate. lastTransitionTime as AggregateKindStatus's.
nlohmann::json AggregateInterpretedStatus(const api::InterpreterRule& rule,
                                          const std::map<std::string, InterpretedMember>& members,
                                          const nlohmann::json& previous,
                                          const std::string& now_rfc3339);

}  // namespace meridian::sync
