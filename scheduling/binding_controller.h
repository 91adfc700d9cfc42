// The binding controller: places native Kubernetes objects stored on the federation endpoint
// (api/native_kinds.h) with PlacementPolicies and ClusterPlacementPolicies
// (api/placement_policy.h), by keeping one binding FederatedWorkload per placed object and
// per needed dependency (scheduling/policy_binding.h says what a binding is and which policy
// wins). The placement and propagation controllers then treat bindings as any workload.
//
// Level-triggered (apimachinery/change_loop.h), per object where a change is about one object,
// whole passes where it is global:
//   - a native or custom object changed (or went): a pass over that object only, plus the
//     dependencies whose ask from it changed (referenced now and not before or the reverse,
//     or asked for other members, rollout or dependent's name; their members are the union
//     over their workloads, kept between passes in an index: needed_by_);
//   - a binding changed (its placement or member status, written by the placement and
//     propagation controllers many times a second on a busy fleet): a pass over the object it
//     binds (kBoundObjectAnnotation), and over its dependencies as above (a member status
//     changes no ask: the object alone);
//   - a ResidencyPolicy, a Topology or the fleet's members (added, gone, relabelled) changed:
//     a pass over the objects whose binding admission refused (an answer said on the object,
//     that such a change may alter);
//   - a PlacementPolicy, ClusterPlacementPolicy, ResourceInterpreter, Namespace
//     (namespaceSelector) or CustomResourceDefinition changed, or a FederatedWorkload not made
//     by this controller was created or deleted (a binding's name freed or taken): a whole
//     pass, which also rebuilds the dependency index.
// The controller's own writes (applied to the informers at once, Assume) wake nothing: the
// pass that wrote them already decided with what they say. A pass (whole, or over the objects
// in scope):
//   1. decides every native object's policy (none: not placed) and annotates the object with
//      the outcome (kPlacementAnnotation) when it changed (a Deployment or StatefulSet whose
//      binding placement has not decided on yet: with its first status, step 4; a dependency
//      whose binding is not written with it: kDependentsDelay later, see there);
//   2. derives the dependencies of every placed workload whose policy propagates them, on the
//      union of the members its binding runs on (placed or retained);
//   3. creates, updates (when the template, placement, labels or annotations differ) and
//      deletes bindings to match; a same-named FederatedWorkload not made by this controller
//      is never touched, and a binding admission refuses (a ResidencyPolicy guardrail, a
//      region that does not exist) is not an error but an answer: the object's annotation
//      says both ("NOT PLACED: ..." with admission's message);
//   4. writes each Deployment's and StatefulSet's status/ from its binding
//      (AggregatedStatus) when it differs; not before placement decided on the binding
//      (status.observedGeneration): the placement controller's first status on it wakes the
//      pass that writes the object's, with the step-1 annotation that waited for it.
// Steps 3 and 4 issue their writes 16 at a time (each waits for the store's commit; writes
// in flight share one); an object whose annotation and status both change is written once
// (ObjectService::UpdateWithStatus).
// A per-key pass decides with the namespaces, policies and interpreters the last whole pass
// read (a change to any of them wakes a whole pass).
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
// Idempotent; a failed write is logged and retried by the next (whole) pass (after 1 s). Everything
// goes through the ObjectService; passes read the process's shared informers (objects as
// stored), so a pass LISTs nothing once they are started.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
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

  // How a dependency's (ConfigMap, Secret, ...) placement annotation waits when its binding is
  // not written with it (members and template as stored, or no binding either way): only its
  // text changed. Its members follow its workloads, so that text changes with every workload
  // created or deleted that references it (the list of dependents: a ConfigMap shared by
  // hundreds of Deployments; "not placed until they are" before the first of them is placed;
  // "no policy selects it" just created, its workloads usually applied with it), and each
  // write wakes every informer of the kind for nothing a controller acts on. It is written once
  // it has not changed for kDependentsDelay, and at the latest kDependentsMaxDelay after it first
  // differed from the stored one, by the controller's clock; the binding's list of dependents
  // (kDependentsAnnotation), when nothing else about the binding changed, goes with it. A change
  // of the members it is on, or of its template, is written at once with the binding (the text
  // with it). The loop's passes wait so, whole ones too; ReconcileAll() writes everything.
  static constexpr std::chrono::seconds kDependentsDelay{5};
  static constexpr std::chrono::seconds kDependentsMaxDelay{30};

  // What the passes of this controller did since it was made: whole passes, passes over the
  // objects a change is about, and the native and custom objects they looked at (tests assert
  // that a change to one object does not cost a pass over all of them).
  struct PassCounts {
    int64_t whole = 0;
    int64_t partial = 0;
    int64_t objects = 0;
  };
  PassCounts Counts() const;

 private:
  // Names a native or custom object: its group and kind (any version: one object), namespace
  // and name.
  struct ObjectKey {
    std::string group, kind, ns, name;
    friend auto operator<=>(const ObjectKey&, const ObjectKey&) = default;
  };
  // A dependency (ConfigMap, Secret, ...): kind, namespace, name.
  using DependencyKey = std::tuple<std::string, std::string, std::string>;
  // What one workload asks of one of its dependencies.
  struct Contribution {
    std::string dependent;              // "Deployment/web"
    std::set<std::string> members;      // where the workload's binding runs
    nlohmann::json rollout;             // its binding's spec.rollout (null: none)
    std::optional<int32_t> history;     // its policy's revisionHistoryLimit
    friend bool operator==(const Contribution&, const Contribution&) = default;
  };

  // One pass: over everything (`only` null), or over the objects `only` names and what they
  // depend on (see the file comment). `defer`: dependencies' annotations may wait
  // (kDependentsDelay); without, every one is written now.
  StatusOr<int> Reconcile(const std::set<ObjectKey>* only, bool defer);
  // The loop's pass: whole or per key (see the file comment); when to run again.
  std::optional<std::chrono::milliseconds> Pass();
  // Informer handlers: a pass over everything, over one object, over a binding's object.
  void MarkWhole();
  void MarkObject(const nlohmann::json& object);
  void MarkBinding(const nlohmann::json& binding);
  // Per-object handlers on `informer` (a native or custom kind's), skipping own writes.
  apimachinery::InformerRegistration ObjectHandlers(
      apimachinery::SharedInformer<nlohmann::json>& informer);

  apimachinery::ObjectService& objects_;
  const Clock& clock_;
  // The informer of `info` (objects as stored) restricted to `selector`.
  apimachinery::SharedInformer<nlohmann::json>& Informer(const apimachinery::ResourceInfo& info,
                                                         const std::string& selector = "");

  apimachinery::ControllerInformers informers_;
  std::vector<apimachinery::InformerRegistration> handlers_;  // mark changes (Mark*)
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
  // When the custom-kind retry is due (a per-key pass in between does not retry it).
  std::optional<std::chrono::steady_clock::time_point> custom_retry_at_;

  // Changes since the last pass began (informer threads; the loop takes them).
  std::mutex changes_mu_;
  std::set<ObjectKey> changed_;
  bool whole_due_ = true;
  bool retry_refused_ = false;  // what admission judges by changed: look at refused_ again
  // The objects whose binding admission refused at the last pass that looked at them (passes
  // only).
  std::set<ObjectKey> refused_;

  // The dependency index, kept by passes (never concurrently): per dependency, what each
  // workload that references it asks; per workload, the dependencies it is in. A whole pass
  // rebuilds it; a per-key pass replaces the entries of the workloads it looks at.
  std::map<DependencyKey, std::map<ObjectKey, Contribution>> needed_by_;
  std::map<ObjectKey, std::set<DependencyKey>> needs_;

  // Dependencies whose changed annotation (and binding's list of dependents) waits to be
  // written (kDependentsDelay): when it first differed, when it is due, and the text it waits
  // with (a change to it pushes `due` back, up to first + kDependentsMaxDelay). `flushing_`:
  // those the current pass writes (passes only).
  struct Deferred {
    Timestamp first, due;  // by clock_
    std::string text;
  };
  std::map<ObjectKey, Deferred> deferred_;
  std::set<ObjectKey> flushing_;
  // Defers `key`'s annotation, saying `text` (passes only).
  void Defer(const ObjectKey& key, const std::string& text);

  // What the last whole pass read of the global inputs (namespaces' labels, policies,
  // interpreters), decoded, for the per-key passes after it: a change to any of them wakes a
  // whole pass, which reads them again (passes only; null until a whole pass succeeds).
  struct GlobalInputs;
  std::unique_ptr<GlobalInputs> inputs_;

  std::atomic<int64_t> whole_passes_{0}, partial_passes_{0}, objects_looked_at_{0};
  apimachinery::ChangeLoop loop_;
};

}  // namespace meridian::scheduling
