// The binding controller: places native Kubernetes objects stored on the federation endpoint
// (api/native_kinds.h) with PlacementPolicies and ClusterPlacementPolicies
// (api/placement_policy.h), by keeping one binding FederatedWorkload per placed object and
// per needed dependency (scheduling/policy_binding.h says what a binding is and which policy
// wins). The placement and propagation controllers then treat bindings as any workload.
//
// Level-triggered, one full pass per change (apimachinery/change_loop.h) of a native object,
// a policy, a ResourceInterpreter, a FederatedWorkload (a binding's placement moves its dependencies; its member
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
// Custom objects (the kinds CustomResourceDefinitions serve, federation-apiserver/crd/) are
// placed like the native kinds without replicas: copied whole to each selected member; their
// binding names the CRD (api::kCustomResourceDefinitionAnnotation) so the propagation
// controller puts it on the member first. Without a ResourceInterpreter they have no health
// model: the object's kMemberStatusAnnotation says, per member, "applied" or the error,
// nothing more. With one (api/resource_interpreter.h; the first by name of the kind's), its
// rule goes on the binding (api::kResourceInterpreterAnnotation) and the template carries the
// count at its replicasPath as spec.replicas, so the object is divided like a Deployment and
// the propagation controller judges and aggregates it by the rule; an object the rule cannot
// divide is not placed, its kPlacementAnnotation says why.
// Idempotent; a failed write is logged and retried by the next pass (after 1 s). Everything
// goes through the ObjectService; passes read the process's shared informers (objects as
// stored), so a pass LISTs nothing once they are started.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "apimachinery/change_loop.h"
#include "apimachinery/informer.h"
#include "apimachinery/object_service.h"
#include "common/clock.h"
#include "common/status.h"

namespace meridian::scheduling {

class BindingController {
 public:
  // `objects` and `clock` must outlive the controller, and so must `informers` (the
  // process's shared informers over `objects`) when given; without, it has its own.
  BindingController(apimachinery::ObjectService& objects, const Clock& clock,
                    apimachinery::SharedInformerFactory* informers = nullptr);
  ~BindingController();  // Stop()s
  BindingController(const BindingController&) = delete;
  BindingController& operator=(const BindingController&) = delete;

  // Starts the informers (one LIST each unless already started) and the worker. Errors: an
  // informer could not start.
  Status Start();
  void Stop();  // idempotent

  // One full pass (see the file comment) over the informers' caches (listed first when the
  // controller is not started); how many objects it wrote. Public for tests; not to be
  // called concurrently with itself.
  StatusOr<int> ReconcileAll();

 private:
  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  // The informer of `info` (objects as stored) restricted to `selector`.
  apimachinery::SharedInformer<nlohmann::json>& Informer(const apimachinery::ResourceInfo& info,
                                                         const std::string& selector = "");
  // Every informer a pass reads: namespaces, both policy kinds, bindings, native kinds.
  std::vector<apimachinery::InformerBase*> Informers();

  apimachinery::ControllerInformers informers_;
  std::vector<apimachinery::InformerRegistration> handlers_;  // mark the loop dirty
  // Custom kinds (CRDs) watched since Start, by group/resource, and their registrations
  // (passes only: the loop's thread, or a caller driving passes by hand).
  std::set<std::string> custom_watched_;
  std::vector<apimachinery::InformerRegistration> custom_handlers_;
  bool started_ = false;  // set before the loop starts: passes read the caches as they are
  // Set by ReconcileAll when a custom kind is pending: an Established CRD the registry does
  // not serve yet, or a kind whose objects could not be read. The loop then repeats the pass
  // after a delay growing with the consecutive such passes (custom_retries_).
  bool retry_custom_ = false;
  int custom_retries_ = 0;
  apimachinery::ChangeLoop loop_;
};

}  // namespace meridian::scheduling
