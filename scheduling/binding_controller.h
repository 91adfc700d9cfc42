// The binding controller: places native Kubernetes objects stored on the federation endpoint
// (api/native_kinds.h) with PlacementPolicies and ClusterPlacementPolicies
// (api/placement_policy.h), by keeping one binding FederatedWorkload per placed object and
// per needed dependency (scheduling/policy_binding.h says what a binding is and which policy
// wins). The placement and propagation controllers then treat bindings as any workload.
//
// Level-triggered, one full pass per change (apimachinery/change_loop.h) of a native object,
// a policy, a FederatedWorkload (a binding's placement moves its dependencies; its member
// status is aggregated) or a Namespace (namespaceSelector). A pass:
//   1. decides every native object's policy (none: not placed) and annotates the object with
//      the outcome (kPlacementAnnotation) when it changed;
//   2. derives the dependencies of every placed workload whose policy propagates them, on the
//      union of the members its binding runs on (placed or retained);
//   3. creates, updates (when the template, placement, labels or annotations differ) and
//      deletes bindings to match; a same-named FederatedWorkload not made by this controller
//      is never touched, and a binding admission refuses (a ResidencyPolicy guardrail, a
//      region that does not exist) is not an error but an answer: the object's annotation
//      says both ("NOT PLACED: ..." with admission's message);
//   4. writes each Deployment's and StatefulSet's status/ from its binding
//      (AggregatedStatus) when it differs.
// Idempotent; a failed write is logged and retried by the next pass (after 1 s). Everything
// goes through the ObjectService.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "apimachinery/change_loop.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "common/status.h"

namespace meridian::scheduling {

class BindingController {
 public:
  // `objects` and `clock` must outlive the controller.
  BindingController(apimachinery::ObjectService& objects, const Clock& clock);
  ~BindingController();  // Stop()s
  BindingController(const BindingController&) = delete;
  BindingController& operator=(const BindingController&) = delete;

  // Starts the watches and the worker. Errors: a watch could not start.
  Status Start();
  void Stop();  // idempotent

  // One full pass (see the file comment); how many objects it wrote. Public for tests;
  // not to be called concurrently with itself.
  StatusOr<int> ReconcileAll();

 private:
  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  std::vector<std::unique_ptr<apimachinery::Watch>> watches_;
  apimachinery::ChangeLoop loop_;
};

}  // namespace meridian::scheduling
