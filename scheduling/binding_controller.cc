#include "scheduling/binding_controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

#include "api/codec.h"
#include "api/informers.h"
#include "api/native_kinds.h"
#include "api/placement_policy.h"
#include "api/resource_interpreter.h"
#include "common/parallel.h"
#include "scheduling/policy_binding.h"

namespace meridian::scheduling {
namespace {

using apimachinery::ResourceInfo;
using nlohmann::json;

constexpr char kWho[] = "binding controller";
// Writes a pass has in flight together (see step 3 in Reconcile).
constexpr size_t kWritesInFlight = 16;

// A native object as listed, with where it is and what the pass decided for it.
struct NativeObject {
  const api::NativeKind* kind = nullptr;
  const ResourceInfo* info = nullptr;
  json object;
  std::string ns, name;
  std::string placement;  // kPlacementAnnotation's text
  std::string crd;        // a custom object's CustomResourceDefinition
  // A dependency whose binding this pass does not write: a changed annotation waits
  // (BindingController::deferred_).
  bool deferred = false;
  // Its binding's update lost a race (409): the next pass writes both.
  bool lost_race = false;
};

// The custom kinds the registry serves now (CRDs registered by federation-apiserver/crd/),
// one NativeKind per served version (stable addresses), grouped by CRD.
struct CustomKinds {
  struct Definition {
    std::string crd;                     // its name ("widgets.example.com")
    const ResourceInfo* list = nullptr;  // the objects of every version are listed through it
    std::map<std::string, std::pair<const api::NativeKind*, const ResourceInfo*>> versions;
  };
  std::deque<api::NativeKind> kinds;
  std::vector<Definition> definitions;
};

CustomKinds CustomKindsOf(const apimachinery::ResourceRegistry& registry) {
  CustomKinds out;
  for (const ResourceInfo* info : registry.Dynamic()) {
    const std::string owner = registry.DynamicOwner(info->group, info->version, info->plural);
    if (out.definitions.empty() || out.definitions.back().crd != owner) {
      out.definitions.push_back({owner, info, {}});  // the first: the preferred version
    }
    api::NativeKind& k = out.kinds.emplace_back();
    k.group = info->group;
    k.version = info->version;
    k.kind = info->kind;
    k.plural = info->plural;
    k.short_names = info->short_names;
    k.has_status = info->has_status;
    k.custom = true;
    out.definitions.back().versions[info->version] = {&k, info};
  }
  return out;
}

std::string Annotation(const json& object, const char* key) {
  const json& meta = object.value("metadata", json::object());
  const json& annotations = meta.value("annotations", json::object());
  return annotations.is_object() ? annotations.value(key, "") : "";
}

// Whether a stored binding already says what `desired` says (the fields this controller
// owns: spec, labels, its annotations).
bool SameBinding(const json& stored, const json& desired) {
  if (stored.value("spec", json()) != desired["spec"]) return false;
  const json& meta = stored.value("metadata", json::object());
  if (meta.value("labels", json::object()) != desired["metadata"]["labels"]) return false;
  for (const auto& [key, value] : desired["metadata"]["annotations"].items()) {
    if (Annotation(stored, key.c_str()) != value.get<std::string>()) return false;
  }
  // An interpreter's rule that no longer applies goes (the others are always set).
  return desired["metadata"]["annotations"].contains(api::kResourceInterpreterAnnotation) ||
         Annotation(stored, api::kResourceInterpreterAnnotation).empty();
}

// Whether `desired` differs from the stored binding only in its list of dependents
// (kDependentsAnnotation): same members, template and everything else.
bool DependentsOnly(const json& stored, const json& desired) {
  if (Annotation(desired, kDependentsAnnotation) == Annotation(stored, kDependentsAnnotation)) {
    return false;
  }
  json same = desired;
  same["metadata"]["annotations"][kDependentsAnnotation] = Annotation(stored, kDependentsAnnotation);
  return SameBinding(stored, same);
}

// Applies the rule that interprets a custom object, if any (api::ApplicableRule: the placing
// policy's spec.interpreter over a ResourceInterpreter of its kind), to its `binding`: the
// rule goes on it as an annotation and its template is divided by the rule's replicasPath.
// False when the object cannot be divided as the rule says (`placement` then says why, and it
// is not placed); true otherwise, with `placement` naming the rule that applied.
bool Interpret(const std::vector<api::ResourceInterpreterObject>& interpreters,
               const api::PlacementPolicyObject& policy, const api::NativeKind& kind, json* binding,
               std::string* placement, std::optional<api::InterpreterRule>* applied) {
  std::string why;
  std::optional<api::InterpreterRule> rule =
      api::ApplicableRule(policy.interpreter, interpreters, kind.ApiVersion(), kind.kind, &why);
  *applied = rule;
  if (!rule) return true;
  StatusOr<json> t = api::InterpretedTemplate(*rule, (*binding)["spec"]["template"]);
  if (!t.ok()) {
    *placement += "; NOT PLACED: " + t.status().message();
    return false;
  }
  (*binding)["spec"]["template"] = std::move(t).value();
  (*binding)["metadata"]["annotations"][api::kResourceInterpreterAnnotation] =
      api::EncodeInterpreterRule(*rule);
  *placement += "; " + why;
  return true;
}

// Whether a stored CRD is one the API serves (condition Established True, not being
// deleted) with at least one served version: its kinds belong in the registry.
bool EstablishedAndServing(const json& crd) {
  static const json kNone;
  auto child = [](const json& j, const char* key) -> const json& {
    if (!j.is_object()) return kNone;
    auto it = j.find(key);
    return it == j.end() ? kNone : *it;
  };
  const json& deletion = child(child(crd, "metadata"), "deletionTimestamp");
  if (!deletion.is_null()) return false;
  const json& versions = child(child(crd, "spec"), "versions");
  if (!versions.is_array() || std::none_of(versions.begin(), versions.end(), [&](const json& v) {
        return child(v, "served") == json(true);
      })) {
    return false;
  }
  const json& conditions = child(child(crd, "status"), "conditions");
  return conditions.is_array() &&
         std::any_of(conditions.begin(), conditions.end(), [&](const json& c) {
           return child(c, "type") == json("Established") && child(c, "status") == json("True");
         });
}

// Admission's answer (400, 422), as opposed to a failure worth retrying.
bool Refused(const apimachinery::ApiError& e) { return e.code == 400 || e.code == 422; }

// Set while this thread applies the controller's own write to an informer (Assume): the
// handlers then mark nothing, since the pass that wrote it decided with what it says.
thread_local const void* own_write = nullptr;

// A binding change nothing here reads: only its finalizers (the propagation controller adds
// its own to every binding it syncs) or its resourceVersion. A pass over its object would
// read, decode and compare everything again to decide what it decided before.
bool OnlyFinalizersChanged(const json& old, const json& now) {
  if (!old.is_object() || !now.is_object() || old.size() != now.size()) return false;
  for (auto it = now.begin(); it != now.end(); ++it) {
    auto was = old.find(it.key());
    if (was == old.end()) return false;
    if (it.key() != "metadata") {
      if (*was != *it) return false;
      continue;
    }
    const json& a = *was;
    const json& b = *it;
    if (!a.is_object() || !b.is_object()) return false;
    auto ignored = [](const std::string& field) {
      return field == "finalizers" || field == "resourceVersion" || field == "managedFields";
    };
    for (auto f = b.begin(); f != b.end(); ++f) {
      if (ignored(f.key())) continue;
      auto g = a.find(f.key());
      if (g == a.end() || *g != *f) return false;
    }
    for (auto f = a.begin(); f != a.end(); ++f) {
      if (!ignored(f.key()) && !b.contains(f.key())) return false;
    }
  }
  return true;
}

// Assumes `written` into `informer` as the controller's own write.
void AssumeOwn(const void* controller, apimachinery::SharedInformer<json>& informer,
               const json& written) {
  own_write = controller;
  informer.Assume(written);
  own_write = nullptr;
}

// A kind the registry serves now, as a pass places it: the NativeKind, the resource its
// objects are written through, the resource its informer lists, and for a custom kind its
// CRD's definition (the version is the object's own: VersionOf).
struct ResolvedKind {
  const api::NativeKind* kind = nullptr;
  const ResourceInfo* info = nullptr;
  const ResourceInfo* list = nullptr;
  const CustomKinds::Definition* custom = nullptr;
};

// Which kind `group` and `kind` name, among the native kinds the registry serves and
// `custom` (then with the CRD's preferred version); nullopt when neither serves it.
std::optional<ResolvedKind> Resolve(const apimachinery::ResourceRegistry& registry,
                                    const CustomKinds& custom, const std::string& group,
                                    const std::string& kind) {
  for (const api::NativeKind& k : api::NativeKinds()) {
    if (k.kind != kind || k.group != group) continue;
    if (const ResourceInfo* info = registry.Find(k.group, k.version, k.plural)) {
      return ResolvedKind{&k, info, info, nullptr};
    }
  }
  for (const CustomKinds::Definition& d : custom.definitions) {
    if (d.list->group != group || d.list->kind != kind) continue;
    auto preferred = d.versions.find(d.list->version);
    if (preferred == d.versions.end()) continue;
    return ResolvedKind{preferred->second.first, preferred->second.second, d.list, &d};
  }
  return std::nullopt;
}

// A custom object's kind and resource: those of its own apiVersion's version, else the
// preferred version's (as a whole pass reads it); nullopt when that is not served either.
std::optional<std::pair<const api::NativeKind*, const ResourceInfo*>> VersionOf(
    const CustomKinds::Definition& d, const json& object) {
  const std::string api_version = object.value("apiVersion", "");
  const size_t slash = api_version.find('/');
  const std::string version = slash == std::string::npos ? "" : api_version.substr(slash + 1);
  auto v = d.versions.find(version);
  if (v == d.versions.end()) v = d.versions.find(d.list->version);
  if (v == d.versions.end()) return std::nullopt;
  return v->second;
}

// The group of an apiVersion ("apps/v1" -> "apps", "v1" -> "").
std::string GroupOf(const std::string& api_version) {
  const size_t slash = api_version.find('/');
  return slash == std::string::npos ? "" : api_version.substr(0, slash);
}

// The native kind of a dependency reference ("ConfigMap"), or null.
const api::NativeKind* DependencyKind(const std::string& kind) {
  for (const api::NativeKind& k : api::NativeKinds()) {
    if (k.dependency && k.kind == kind) return &k;
  }
  return nullptr;
}

}  // namespace

struct BindingController::GlobalInputs {
  std::map<std::string, apimachinery::Labels> namespace_labels;
  std::vector<api::PlacementPolicyObject> policies;
  std::vector<api::ResourceInterpreterObject> interpreters;
};

BindingController::BindingController(apimachinery::ObjectService& objects, const Clock& clock,
                                     apimachinery::SharedInformerFactory* informers)
    : objects_(objects),
      clock_(clock),
      informers_(objects, informers),
      loop_([this] { return Pass(); }) {}

BindingController::~BindingController() { Stop(); }

apimachinery::SharedInformer<json>& BindingController::Informer(const ResourceInfo& info,
                                                                const std::string& selector) {
  return api::RawInformer(informers_.factory(), info, selector);
}

Status BindingController::Start() {
  const apimachinery::ResourceRegistry& registry = objects_.registry();
  // Global inputs wake a whole pass.
  std::vector<apimachinery::InformerBase*> global;
  if (const ResourceInfo* ns_info = registry.Find("", "v1", "namespaces")) {
    global.push_back(&Informer(*ns_info));
  }
  for (const char* plural :
       {"placementpolicies", "clusterplacementpolicies", "resourceinterpreters"}) {
    global.push_back(&Informer(api::MeridianResource(objects_, plural, kWho)));
  }
  // A CRD registered (or changed, or gone) may add or remove kinds to place.
  if (const ResourceInfo* crds =
          registry.Find("apiextensions.k8s.io", "v1", "customresourcedefinitions")) {
    global.push_back(&Informer(*crds));
  }
  // A FederatedWorkload not made by this controller created or deleted: a name an object's
  // binding needs may be free, or taken, now. Not its other changes (statuses, written many
  // times a second on a busy fleet): the name stays taken; nor bindings (handled per object
  // below). The typed informer the other controllers share: no LIST or watch of its own.
  auto& every_workload = api::MeridianInformer(informers_.factory(), "federatedworkloads",
                                               api::DecodeFederatedWorkload, kWho);
  MERIDIAN_ASSIGN_OR_RETURN(
      handlers_,
      apimachinery::StartInformers(
          global,
          {apimachinery::OnlyChangesThatMatter(
              every_workload,
              [](const api::FederatedWorkload* old, const api::FederatedWorkload* now) {
                if (old && now) return false;
                return (old ? old : now)->metadata.labels.count(kBindingLabel) == 0;
              })},
          [this] { MarkWhole(); }, kWho));
  // What admission judges a binding by (residency guardrails, regions, members): the objects
  // whose binding it refused are looked at again when one changes.
  auto& members = api::MeridianInformer(informers_.factory(), "memberclusters",
                                        api::DecodeMemberCluster, kWho);
  std::vector<apimachinery::InformerBase*> admission = {
      &api::MeridianInformer(informers_.factory(), "residencypolicies",
                             api::DecodeResidencyPolicy, kWho),
      &api::MeridianInformer(informers_.factory(), "topologies", api::DecodeTopology, kWho)};
  MERIDIAN_ASSIGN_OR_RETURN(
      std::vector<apimachinery::InformerRegistration> refused_handlers,
      apimachinery::StartInformers(
          admission,
          {apimachinery::OnlyChangesThatMatter(
              members,
              [](const api::MemberCluster* old, const api::MemberCluster* now) {
                return !old || !now || old->metadata.labels != now->metadata.labels;
              })},
          [this] {
            {
              std::lock_guard lock(changes_mu_);
              retry_refused_ = true;
            }
            loop_.MarkDirty();
          },
          kWho));
  for (auto& h : refused_handlers) handlers_.push_back(std::move(h));
  // Per object: bindings (by the object they bind) and the native kinds' objects.
  std::vector<apimachinery::InformerBase*> per_object;
  auto& bindings = Informer(api::MeridianResource(objects_, "federatedworkloads", kWho),
                            kBindingLabel);
  auto mark_binding = [this](const std::shared_ptr<const json>& binding) {
    if (own_write != this) MarkBinding(*binding);
  };
  handlers_.emplace_back(
      bindings.cache(),
      apimachinery::InformerHandlers<json>{
          .on_add = mark_binding,
          .on_update =
              [mark_binding](const auto& old, const auto& now) {
                // (A resync's old is now: still a reason to look.)
                if (!old || old == now || !OnlyFinalizersChanged(*old, *now)) mark_binding(now);
              },
          .on_delete = mark_binding});
  per_object.push_back(&bindings);
  for (const api::NativeKind& k : api::NativeKinds()) {
    if (const ResourceInfo* info = registry.Find(k.group, k.version, k.plural)) {
      auto& informer = Informer(*info);
      handlers_.push_back(ObjectHandlers(informer));
      per_object.push_back(&informer);
    }
  }
  for (apimachinery::InformerBase* informer : per_object) {
    if (Status st = informer->Start(); !st.ok()) {
      handlers_.clear();
      return UnavailableError(std::string(kWho) + ": " + st.message());
    }
  }
  started_ = true;
  loop_.Start();
  return Status::Ok();
}

apimachinery::InformerRegistration BindingController::ObjectHandlers(
    apimachinery::SharedInformer<json>& informer) {
  auto mark = [this](const std::shared_ptr<const json>& object) {
    if (own_write != this) MarkObject(*object);
  };
  return apimachinery::InformerRegistration(
      informer.cache(),
      apimachinery::InformerHandlers<json>{
          .on_add = mark,
          .on_update = [mark](const auto&, const auto& now) { mark(now); },
          .on_delete = mark});
}

void BindingController::MarkWhole() {
  {
    std::lock_guard lock(changes_mu_);
    whole_due_ = true;
  }
  loop_.MarkDirty();
}

void BindingController::MarkObject(const json& object) {
  const json& meta = object.value("metadata", json::object());
  ObjectKey key{GroupOf(object.value("apiVersion", "")), object.value("kind", ""),
                meta.value("namespace", ""), meta.value("name", "")};
  if (key.kind.empty() || key.name.empty()) return MarkWhole();
  {
    std::lock_guard lock(changes_mu_);
    changed_.insert(std::move(key));
  }
  loop_.MarkDirty();
}

void BindingController::MarkBinding(const json& binding) {
  // kBoundObjectAnnotation: "<apiVersion>/<kind>/<name>" (apiVersion may hold a slash).
  const std::string bound = Annotation(binding, kBoundObjectAnnotation);
  const size_t last = bound.rfind('/');
  const size_t kind_at = last == std::string::npos || last == 0 ? std::string::npos
                                                                : bound.rfind('/', last - 1);
  if (kind_at == std::string::npos) return MarkWhole();  // not one of ours as made: look at all
  const json& meta = binding.value("metadata", json::object());
  ObjectKey key{GroupOf(bound.substr(0, kind_at)), bound.substr(kind_at + 1, last - kind_at - 1),
                meta.value("namespace", ""), bound.substr(last + 1)};
  {
    std::lock_guard lock(changes_mu_);
    changed_.insert(std::move(key));
  }
  loop_.MarkDirty();
}

std::optional<std::chrono::milliseconds> BindingController::Pass() {
  const auto now = std::chrono::steady_clock::now();
  // Waiting annotations (and lists of dependents) now due, by the controller's clock: this
  // pass writes them.
  const Timestamp clock_now = clock_.Now();
  flushing_.clear();
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    if (it->second.due > clock_now) {
      ++it;
      continue;
    }
    flushing_.insert(it->first);
    it = deferred_.erase(it);
  }
  std::set<ObjectKey> changed = flushing_;
  bool whole = false;
  {
    std::lock_guard lock(changes_mu_);
    changed.insert(changed_.begin(), changed_.end());
    changed_.clear();
    const bool retry_refused = std::exchange(retry_refused_, false);
    // Nothing marked and no annotation waiting: the custom-kind retry's wake-up, or a failed
    // pass's.
    whole = std::exchange(whole_due_, false) ||
            (changed.empty() && !retry_refused && deferred_.empty()) ||
            (custom_retry_at_ && now >= *custom_retry_at_);
    if (retry_refused && !whole) changed.insert(refused_.begin(), refused_.end());
  }
  // When to run again: the custom-kind retry or the next deferred list of dependents, the
  // sooner (none: when something changes).
  auto next = [this](std::optional<std::chrono::steady_clock::time_point> at)
      -> std::optional<std::chrono::milliseconds> {
    std::optional<std::chrono::milliseconds> in;
    if (at) {
      in = std::chrono::duration_cast<std::chrono::milliseconds>(
          *at - std::chrono::steady_clock::now());
    }
    const Timestamp clock_now = clock_.Now();
    for (const auto& [key, waiting] : deferred_) {
      const auto d =
          std::chrono::duration_cast<std::chrono::milliseconds>(waiting.due - clock_now) +
          std::chrono::milliseconds(1);
      if (!in || d < *in) in = d;
    }
    if (!in) return std::nullopt;
    return std::max(std::chrono::milliseconds(0), *in);
  };
  if (!whole && changed.empty()) {  // only a retry of refused bindings, and none is
    return next(custom_retry_at_);
  }
  StatusOr<int> written = Reconcile(whole ? nullptr : &changed, /*defer=*/true);
  if (!written.ok()) {
    spdlog::warn("{}: {}", kWho, written.status().ToString());
    std::lock_guard lock(changes_mu_);
    whole_due_ = true;
    return std::chrono::milliseconds(1000);  // retry a failed pass shortly, whole
  }
  if (whole) {
    if (!retry_custom_) {
      custom_retries_ = 0;
      custom_retry_at_.reset();
      return next(std::nullopt);
    }
    // The registry is filled by a registrar following its own watch of CRDs (in
    // federation-controller-manager --kubeconfig, through the API), so this pass may have
    // heard of a CRD before its kinds were registered; or a custom kind could not be read.
    // Look again: 100 ms, doubling to 10 s while it lasts.
    const int shift = std::min(custom_retries_++, 7);
    const auto delay = std::chrono::milliseconds(std::min(100 << shift, 10'000));
    custom_retry_at_ = now + delay;
    return delay;
  }
  return next(custom_retry_at_);
}

BindingController::PassCounts BindingController::Counts() const {
  return {whole_passes_.load(), partial_passes_.load(), objects_looked_at_.load()};
}

void BindingController::Stop() {
  handlers_.clear();  // no more MarkDirty from the (possibly shared) informers
  loop_.Stop();
  custom_handlers_.clear();  // after the loop: passes add to it
  informers_.StopOwn();
}

StatusOr<int> BindingController::ReconcileAll() { return Reconcile(nullptr, /*defer=*/false); }

void BindingController::Defer(const ObjectKey& key, const std::string& text) {
  const Timestamp now = clock_.Now();
  auto [it, added] = deferred_.try_emplace(key, Deferred{now, now + kDependentsDelay, text});
  if (added || it->second.text == text) return;
  // Changed again while waiting: written once it has stopped changing, or at the latest
  // kDependentsMaxDelay after it first waited (a list that grows for minutes).
  it->second.text = text;
  it->second.due = std::min(now + kDependentsDelay, it->second.first + kDependentsMaxDelay);
}

StatusOr<int> BindingController::Reconcile(const std::set<ObjectKey>* only, bool defer) {
  (only ? partial_passes_ : whole_passes_).fetch_add(1);
  const apimachinery::ResourceRegistry& registry = objects_.registry();
  // The objects as stored, from the cache (each informer LISTs first when not started).
  auto list = [&](const ResourceInfo& info, const std::string& selector) -> StatusOr<json> {
    MERIDIAN_ASSIGN_OR_RETURN(std::vector<json> items,
                              apimachinery::InformerValues(Informer(info, selector), started_));
    return json(std::move(items));
  };

  // The global inputs: read and decoded by a whole pass, kept for the per-key passes after it
  // (a change to any of them wakes a whole pass).
  if (!only) inputs_.reset();  // a whole pass that fails leaves none: the next one reads them
  if (!defer) deferred_.clear();  // this pass writes every annotation
  if (!inputs_) {
    auto in = std::make_unique<GlobalInputs>();
    // Namespaces' labels, for namespaceSelectors.
    if (const ResourceInfo* ns_info = registry.Find("", "v1", "namespaces")) {
      MERIDIAN_ASSIGN_OR_RETURN(json items, list(*ns_info, ""));
      for (const json& ns : items) {
        in->namespace_labels[ns["metadata"].value("name", "")] = apimachinery::LabelsOf(ns);
      }
    }
    for (bool cluster_scoped : {false, true}) {
      const char* plural = cluster_scoped ? "clusterplacementpolicies" : "placementpolicies";
      MERIDIAN_ASSIGN_OR_RETURN(json items,
                                list(api::MeridianResource(objects_, plural, kWho), ""));
      for (const json& item : items) {
        FieldErrors errors;
        api::PlacementPolicyObject p = cluster_scoped
                                           ? api::DecodeClusterPlacementPolicy(item, &errors)
                                           : api::DecodeNamespacedPlacementPolicy(item, &errors);
        if (!errors.empty()) {
          spdlog::warn("{}: skipping {} (invalid: {})", kWho, p.Display(), errors[0].ToString());
          continue;
        }
        in->policies.push_back(std::move(p));
      }
    }
    // How custom kinds are divided, judged and aggregated (api/resource_interpreter.h).
    MERIDIAN_ASSIGN_OR_RETURN(
        json items, list(api::MeridianResource(objects_, "resourceinterpreters", kWho), ""));
    for (const json& item : items) {
      FieldErrors errors;
      api::ResourceInterpreterObject i = api::DecodeResourceInterpreter(item, &errors);
      if (!errors.empty()) {
        spdlog::warn("{}: skipping ResourceInterpreter {} (invalid: {})", kWho, i.metadata.name,
                     errors[0].ToString());
        continue;
      }
      in->interpreters.push_back(std::move(i));
    }
    inputs_ = std::move(in);
  }
  const std::map<std::string, apimachinery::Labels>& namespace_labels = inputs_->namespace_labels;
  const std::vector<api::PlacementPolicyObject>& policies = inputs_->policies;
  const std::vector<api::ResourceInterpreterObject>& interpreters = inputs_->interpreters;
  static const apimachinery::Labels kNoLabels;
  auto labels_of_namespace = [&](const std::string& ns) -> const apimachinery::Labels& {
    auto it = namespace_labels.find(ns);
    return it == namespace_labels.end() ? kNoLabels : it->second;
  };

  // Bindings as stored (raw, for updates) and decoded (their placement and member status).
  const ResourceInfo& fw_info = api::MeridianResource(objects_, "federatedworkloads", kWho);
  apimachinery::SharedInformer<json>& bindings_cache = Informer(fw_info, kBindingLabel);
  // (A pass over some objects: their bindings only.)
  std::map<std::string, json> stored;  // "ns/name"
  std::map<std::string, api::FederatedWorkload> bindings;
  auto add_stored = [&](json item) {
    FieldErrors ignored;
    api::FederatedWorkload w = api::DecodeFederatedWorkload(item, &ignored);
    const std::string key = w.metadata.ns + "/" + w.metadata.name;
    bindings[key] = std::move(w);
    stored[key] = std::move(item);
  };
  if (!only) {
    MERIDIAN_ASSIGN_OR_RETURN(json items, list(fw_info, kBindingLabel));
    for (json& item : items) add_stored(std::move(item));
  }

  // The objects this pass decides for (a deque: `matched` points into it while it grows).
  std::deque<NativeObject> objects;
  CustomKinds custom = CustomKindsOf(registry);
  std::set<std::string> unreadable_crds;  // their bindings stay as they are this pass
  // A pass over some objects: those it was asked about and the dependencies they reference
  // now or did before (added while deciding), each with its binding; `in_scope` says which
  // were looked at, present or not (an object gone: its binding goes), in order.
  std::set<ObjectKey> in_scope;
  std::vector<ObjectKey> scope_order;
  auto add_to_scope = [&](const ObjectKey& key) {
    if (!in_scope.insert(key).second) return;
    std::optional<ResolvedKind> kind = Resolve(registry, custom, key.group, key.kind);
    if (!kind) return;  // not served (any more): a CRD change brings a whole pass
    // A custom kind not watched yet (registered since the last whole pass, or unreadable):
    // its informer knows nothing, so nothing can be said of its objects here.
    if (kind->custom && custom_watched_.count(kind->list->GroupResource()) == 0) return;
    scope_order.push_back(key);
    if (auto b = bindings_cache.cache().Get({key.ns, BindingName(*kind->kind, key.name)})) {
      add_stored(*b);
    }
    auto object = Informer(*kind->list).cache().Get({key.ns, key.name});
    if (!object) return;  // gone: its binding goes
    const json& meta = object->value("metadata", json::object());
    if (meta.contains("deletionTimestamp")) return;  // going: its binding goes too
    NativeObject o;
    o.kind = kind->kind;
    o.info = kind->info;
    if (kind->custom) {
      auto version = VersionOf(*kind->custom, *object);
      if (!version) return;  // not served any more
      std::tie(o.kind, o.info) = *version;
      o.crd = kind->custom->crd;
    }
    o.ns = key.ns;
    o.name = key.name;
    o.object = *object;
    objects.push_back(std::move(o));
  };
  auto key_of = [](const NativeObject& o) {
    return ObjectKey{o.kind->group, o.kind->kind, o.ns, o.name};
  };
  auto dependency_key = [](const api::NativeKind& k, const std::string& ns,
                           const std::string& name) {
    return ObjectKey{k.group, k.kind, ns, name};
  };
  for (const api::NativeKind& k : api::NativeKinds()) {
    if (only) break;
    const ResourceInfo* info = registry.Find(k.group, k.version, k.plural);
    if (info == nullptr) continue;
    MERIDIAN_ASSIGN_OR_RETURN(json items, list(*info, ""));
    for (json& item : items) {
      const json& meta = item["metadata"];
      if (meta.contains("deletionTimestamp")) continue;  // going: its binding goes too
      NativeObject o;
      o.kind = &k;
      o.info = info;
      o.ns = meta.value("namespace", "");
      o.name = meta.value("name", "");
      o.object = std::move(item);
      objects.push_back(std::move(o));
    }
  }

  // Custom objects: those of every kind a CRD serves now, each with the kind of its own
  // apiVersion (a CRD's versions share one store; objects keep the version that wrote them).
  if (!only) retry_custom_ = false;
  const ResourceInfo* crds =
      only ? nullptr : registry.Find("apiextensions.k8s.io", "v1", "customresourcedefinitions");
  if (crds != nullptr) {
    MERIDIAN_ASSIGN_OR_RETURN(json items, list(*crds, ""));
    for (const json& crd : items) {
      if (!EstablishedAndServing(crd)) continue;
      const std::string name = crd["metadata"].value("name", "");
      retry_custom_ |= std::none_of(
          custom.definitions.begin(), custom.definitions.end(),
          [&](const CustomKinds::Definition& d) { return d.crd == name; });
    }
  }
  for (const CustomKinds::Definition& d : custom.definitions) {
    if (only) break;
    apimachinery::SharedInformer<json>& informer = Informer(*d.list);
    if (started_ && custom_watched_.count(d.list->GroupResource()) == 0) {
      // A kind registered after Start: watched from now on (its first LIST is here). A
      // failure (through the API: a 403 until the operator grants the manager the kind)
      // holds back this kind only: its objects are not looked at and their bindings are
      // kept as they are, while everything else is placed; the start is retried.
      apimachinery::InformerRegistration handlers = ObjectHandlers(informer);
      if (Status st = informer.Start(); !st.ok()) {
        spdlog::warn("{}: not placing the objects of CustomResourceDefinition {} for now: {}",
                     kWho, d.crd, std::string(kWho) + ": " + st.message());
        unreadable_crds.insert(d.crd);
        retry_custom_ = true;
        continue;
      }
      custom_handlers_.push_back(std::move(handlers));
      custom_watched_.insert(d.list->GroupResource());
    }
    MERIDIAN_ASSIGN_OR_RETURN(json items, list(*d.list, ""));
    for (json& item : items) {
      const json& meta = item["metadata"];
      if (meta.contains("deletionTimestamp")) continue;
      auto version = VersionOf(d, item);
      if (!version) continue;  // not served any more
      NativeObject o;
      std::tie(o.kind, o.info) = *version;
      o.crd = d.crd;
      o.ns = meta.value("namespace", "");
      o.name = meta.value("name", "");
      o.object = std::move(item);
      objects.push_back(std::move(o));
    }
  }

  if (only) {
    for (const ObjectKey& key : *only) add_to_scope(key);
  }

  // 1. Which policy places each object; what each placed workload asks of its dependencies.
  std::map<std::string, json> desired;            // binding "ns/name" -> binding
  std::map<std::string, NativeObject*> bound_by;  // binding "ns/name" -> its object
  std::map<const NativeObject*, std::vector<PolicyMatch>> matched;
  std::map<ObjectKey, std::map<DependencyKey, Contribution>> asks;  // per workload decided here
  auto decide = [&](NativeObject& o) {
    std::vector<PolicyMatch> matches =
        MatchingPolicies(o.object, *o.kind, labels_of_namespace(o.ns), policies);
    o.placement = ExplainMatches(matches);
    const std::string key = o.ns + "/" + BindingName(*o.kind, o.name);
    if (!matches.empty()) {
      std::optional<api::InterpreterRule> rule;  // a custom object's, when one applies
      desired[key] = PolicyBinding(*o.kind, o.object, *matches[0].policy);
      if (o.kind->custom) {
        desired[key]["metadata"]["annotations"][api::kCustomResourceDefinitionAnnotation] = o.crd;
        if (!Interpret(interpreters, *matches[0].policy, *o.kind, &desired[key], &o.placement,
                       &rule)) {
          desired.erase(key);  // its binding (if any) goes: the object cannot be divided
          matched[&o] = std::move(matches);
          return;
        }
      }
      bound_by[key] = &o;
      // A native workload's pod template, or the pod templates an interpreter rule names in a
      // custom object (podTemplatePaths): what they reference follows the object.
      const bool has_templates =
          !o.kind->pod_template.empty() || (rule && !rule->pod_template_paths.empty());
      if (has_templates && matches[0].policy->propagate_dependencies) {
        std::set<std::string> members;
        auto b = bindings.find(key);
        if (b != bindings.end()) members = MembersOf(b->second);
        const std::set<DependencyRef> refs = rule ? DependenciesOfInterpreted(*rule, o.object)
                                                  : DependenciesOf(o.object, o.kind->pod_template);
        std::map<DependencyKey, Contribution>& mine = asks[key_of(o)];
        for (const DependencyRef& ref : refs) {
          Contribution& c = mine[{ref.kind, o.ns, ref.name}];
          c.dependent = o.kind->kind + "/" + o.name;
          c.members = members;
          c.rollout = desired[key]["spec"].value("rollout", json());
          c.history = matches[0].policy->revision_history_limit;
        }
      }
    }
    matched[&o] = std::move(matches);
  };
  size_t decided = 0;
  for (; decided < objects.size(); ++decided) decide(objects[decided]);
  if (only) {
    // The dependencies whose ask from an object in scope changed: referenced now and not
    // before, or the reverse (the object gone, or no longer placed), or asked for other
    // members, rollout or history. Only they can change: a binding's member status, written
    // many times a second, changes no ask, and each dependency's pass rebuilds a binding
    // from the asks of all its dependents (a hundred for a ConfigMap a policy's apps share).
    static const std::map<DependencyKey, Contribution> kNone;
    std::set<DependencyKey> touched;
    for (const ObjectKey& k : scope_order) {
      auto a = asks.find(k);
      const std::map<DependencyKey, Contribution>& now = a == asks.end() ? kNone : a->second;
      for (const auto& [d, c] : now) {
        auto before = needed_by_.find(d);
        if (before == needed_by_.end()) {
          touched.insert(d);
          continue;
        }
        auto mine = before->second.find(k);
        if (mine == before->second.end() || mine->second != c) touched.insert(d);
      }
      if (auto was = needs_.find(k); was != needs_.end()) {
        for (const DependencyKey& d : was->second) {
          if (now.count(d) == 0) touched.insert(d);
        }
      }
    }
    for (const auto& [kind, ns, name] : touched) {
      if (const api::NativeKind* k = DependencyKind(kind)) {
        add_to_scope(dependency_key(*k, ns, name));
      }
    }
    // (A dependency references nothing: these add no further scope.)
    for (; decided < objects.size(); ++decided) decide(objects[decided]);
  }
  objects_looked_at_.fetch_add(static_cast<int64_t>(objects.size()));

  // The dependency index: rebuilt by a whole pass; the objects a pass over some looked at
  // (present or gone) replace their entries.
  if (!only) {
    needed_by_.clear();
    needs_.clear();
  } else {
    for (const ObjectKey& k : scope_order) {
      auto was = needs_.find(k);
      if (was == needs_.end()) continue;
      for (const DependencyKey& d : was->second) {
        auto n = needed_by_.find(d);
        if (n == needed_by_.end()) continue;
        n->second.erase(k);
        if (n->second.empty()) needed_by_.erase(n);
      }
      needs_.erase(was);
    }
  }
  for (auto& [k, mine] : asks) {
    for (auto& [d, c] : mine) {
      needed_by_[d][k] = std::move(c);
      needs_[k].insert(d);
    }
  }
  // Per dependency in this pass: the union of what its workloads ask.
  struct Needed {
    std::set<std::string> members, dependents;
    // Per dependent ("Deployment/web"), its binding's spec.rollout and revisionHistoryLimit:
    // the first dependent (by kind and name) with one rolls the dependency out too.
    std::map<std::string, std::pair<json, std::optional<int32_t>>> rollouts;
  };
  std::map<DependencyKey, Needed> needed;
  for (const NativeObject& o : objects) {
    if (!o.kind->dependency) continue;
    auto asked = needed_by_.find({o.kind->kind, o.ns, o.name});
    if (asked == needed_by_.end()) continue;
    Needed& n = needed[asked->first];
    for (const auto& [dependent, c] : asked->second) {
      n.members.insert(c.members.begin(), c.members.end());
      n.dependents.insert(c.dependent);
      n.rollouts[c.dependent] = {c.rollout, c.history};
    }
  }

  // 2. Dependencies go where their workloads run (and nowhere else).
  for (NativeObject& o : objects) {
    if (!o.kind->dependency) continue;
    auto n = needed.find({o.kind->kind, o.ns, o.name});
    if (n == needed.end()) continue;
    const std::string key = o.ns + "/" + BindingName(*o.kind, o.name);
    std::string dependents;
    for (const std::string& d : n->second.dependents) {
      dependents += (dependents.empty() ? "" : ", ") + d;
    }
    std::string members;
    for (const std::string& m : n->second.members) members += (members.empty() ? "" : ", ") + m;
    const std::vector<PolicyMatch>& matches = matched[&o];
    const std::string also = matches.empty()
                                 ? ""
                                 : "; also selected by " + matches[0].policy->Display() +
                                       " (a dependency goes only where its workloads run)";
    if (n->second.members.empty()) {
      desired.erase(key);
      bound_by.erase(key);
      // No binding, before or after: this text waits (step 4), as a binding's list does.
      o.placement = "dependency of " + dependents + ": not placed until they are" + also;
      continue;
    }
    std::pair<json, std::optional<int32_t>> rollout;
    for (const auto& [dependent, r] : n->second.rollouts) {
      if (r.first.is_object()) {
        rollout = r;
        break;
      }
    }
    desired[key] = DependencyBinding(*o.kind, o.object, n->second.members, n->second.dependents,
                                     rollout.first, rollout.second);
    bound_by[key] = &o;
    o.placement = "dependency of " + dependents + ": on " + members + also;
  }

  // Refused by admission: retried when a ResidencyPolicy, a Topology or the fleet changes.
  if (!only) {
    refused_.clear();
  } else {
    for (const ObjectKey& k : scope_order) refused_.erase(k);
  }

  // 3. Bindings to match. The writes go out together (kWritesInFlight at a time): each waits
  // for the store's commit, and writes in flight share one (common/parallel.h); one after the
  // other, a pass over a burst of new Deployments held their bindings back by one commit each.
  // Each write is about its own binding and object; outcomes are applied in order after.
  int written = 0;
  std::string first_error;
  auto failed = [&first_error](const std::string& what, const apimachinery::ApiError& e) {
    spdlog::warn("{}: {}: {}", kWho, what, e.message);
    if (first_error.empty()) first_error = what + ": " + e.message;
  };
  enum class Op { kCreate, kUpdate, kDelete };
  struct BindingWrite {
    Op op;
    std::string key;  // "ns/name"
    json body;        // create, update
    std::optional<apimachinery::ApiResult<json>> result;
  };
  std::vector<BindingWrite> binding_writes;
  for (auto& [key, binding] : desired) {
    auto it = stored.find(key);
    if (it == stored.end()) {
      binding_writes.push_back({Op::kCreate, key, binding, std::nullopt});
      continue;
    }
    if (SameBinding(it->second, binding)) continue;
    if (defer && DependentsOnly(it->second, binding)) {
      // Its members and template are as stored: only the workloads that need it differ. That
      // list changes with every workload created or deleted that references it (a shared
      // ConfigMap: each of hundreds of Deployments), so it waits with the object's annotation
      // (kDependentsDelay, step 4).
      NativeObject& o = *bound_by[key];
      if (flushing_.count(key_of(o)) == 0) {
        o.deferred = true;
        Defer(key_of(o), o.placement);
        continue;
      }
    }
    json update = it->second;
    update["spec"] = binding["spec"];
    update["metadata"]["labels"] = binding["metadata"]["labels"];
    json& annotations = update["metadata"]["annotations"];
    if (!annotations.is_object()) annotations = json::object();
    annotations.erase(kDependentsAnnotation);
    annotations.erase(api::kResourceInterpreterAnnotation);
    for (const auto& [k, v] : binding["metadata"]["annotations"].items()) annotations[k] = v;
    binding_writes.push_back({Op::kUpdate, key, std::move(update), std::nullopt});
  }
  for (const auto& [key, binding] : stored) {
    if (desired.count(key) != 0) continue;
    const json& meta = binding["metadata"];
    if (meta.contains("deletionTimestamp")) continue;
    if (!unreadable_crds.empty() &&
        unreadable_crds.count(Annotation(binding, api::kCustomResourceDefinitionAnnotation))) {
      continue;  // its object could not be read: not known to be gone
    }
    binding_writes.push_back({Op::kDelete, key, json(), std::nullopt});
  }
  ForEachInParallel(binding_writes.size(), kWritesInFlight, [&](size_t i) {
    BindingWrite& w = binding_writes[i];
    const size_t slash = w.key.find('/');
    const std::string ns = w.key.substr(0, slash), name = w.key.substr(slash + 1);
    switch (w.op) {
      case Op::kCreate:
        w.result = objects_.Create(fw_info, ns, w.body);
        break;
      case Op::kUpdate:
        w.result = objects_.Update(fw_info, ns, name, w.body);
        break;
      case Op::kDelete:
        w.result = objects_.Delete(fw_info, ns, name);
        break;
    }
    // At once, on the writing thread: the next pass knows it is ours, and the write's own watch
    // event (a duplicate the cache then drops) wakes nothing.
    if (w.result->ok()) AssumeOwn(this, bindings_cache, w.result->value());
  });
  std::set<std::string> created_now;  // bindings this pass created ("ns/name")
  // Objects whose write lost a race with another writer (409 Conflict: the cache this pass
  // read was older than the store; the propagation and placement controllers write bindings'
  // statuses all the time): looked at again by the next pass, from the newer copy the watch
  // brings. Not a failed pass: that retried as a whole pass over every object (1 s later,
  // two seconds of CPU at 1,000 Deployments), which wrote every deferred list of dependents
  // at once and lost more such races (docs/performance.md, issue 18, h18e).
  std::set<ObjectKey> conflicted;
  // (A dependency's annotation it carried is due again at once: after step 4.)
  auto lost_race = [&](const ObjectKey& k) { conflicted.insert(k); };
  for (BindingWrite& w : binding_writes) {
    const apimachinery::ApiResult<json>& r = *w.result;
    if (r.ok()) {
      ++written;
      if (w.op == Op::kCreate) created_now.insert(w.key);
      continue;
    }
    const apimachinery::ApiError& e = r.error();
    switch (w.op) {
      case Op::kCreate:
        if (e.code == 409) {
          // Someone's own FederatedWorkload of that name: never taken over.
          bound_by[w.key]->placement += "; NOT PLACED: FederatedWorkload " + w.key +
                                        " exists and was not made by a policy";
        } else {
          bound_by[w.key]->placement += "; NOT PLACED: " + e.message;
          // Refused (a residency guardrail, an unknown region): an answer, said on the object;
          // retried when something changes. Anything else is an error: retried soon.
          if (Refused(e)) {
            refused_.insert(key_of(*bound_by[w.key]));
          } else {
            failed("creating FederatedWorkload " + w.key, e);
          }
        }
        break;
      case Op::kUpdate:
        if (e.code == 409) {
          bound_by[w.key]->lost_race = true;
          lost_race(key_of(*bound_by[w.key]));
          break;
        }
        // The binding keeps its previous (admitted) form meanwhile.
        bound_by[w.key]->placement += "; NOT UPDATED: " + e.message;
        if (Refused(e)) {
          refused_.insert(key_of(*bound_by[w.key]));
        } else {
          failed("updating FederatedWorkload " + w.key, e);
        }
        break;
      case Op::kDelete:
        if (e.code != 404) failed("deleting FederatedWorkload " + w.key, e);
        break;
    }
  }

  // 4. What each object is told: the decision, and a workload's aggregated status. Objects'
  // writes go out together as the bindings' did; an object's annotations and status are one
  // write when both changed.
  // A dependency's annotation goes with its binding's write (members or template changed: the
  // text says where it is now); otherwise only its text changed (its list of dependents, "not
  // placed until they are", "no policy selects it") and it waits (kDependentsDelay, Defer).
  // Measured (docs/performance.md, issue 18, h18g): each dependency of a burst of 1,000 new
  // Deployments was annotated ~5 times (just created: no policy; its first dependent: not
  // placed until it is; placed; then its growing list, every 5 s), each write waking every
  // informer of its kind.
  {
    std::set<std::string> binding_written;  // "ns/name": created, updated or deleted (tried)
    for (const BindingWrite& w : binding_writes) binding_written.insert(w.key);
    for (NativeObject& o : objects) {
      if (!o.kind->dependency || o.lost_race) continue;  // (a lost race: due again at once)
      const ObjectKey k = key_of(o);
      const std::string key = o.ns + "/" + BindingName(*o.kind, o.name);
      auto b = desired.count(key) != 0 ? bindings.find(key) : bindings.end();
      const std::string revisions = b != bindings.end() && b->second.spec.rollout
                                        ? RevisionSummary(b->second)
                                        : std::string();
      const bool text_only = Annotation(o.object, kRevisionsAnnotation) == revisions &&
                             Annotation(o.object, kMemberStatusAnnotation).empty();
      const bool differs = Annotation(o.object, kPlacementAnnotation) != o.placement;
      if (defer && differs && text_only && binding_written.count(key) == 0 &&
          flushing_.count(k) == 0) {
        o.deferred = true;
        Defer(k, o.placement);
      } else if (!o.deferred) {
        deferred_.erase(k);  // written now, or nothing left to write
      }
    }
  }
  const std::string now = FormatRfc3339(clock_.Now());
  std::atomic<int> objects_written{0};
  std::mutex errors_mu;  // guards `failed` (first_error) from the writing threads
  auto failed_writing = [&](const std::string& what, const apimachinery::ApiError& e) {
    std::lock_guard lock(errors_mu);
    failed(what, e);
  };
  ForEachInParallel(objects.size(), kWritesInFlight, [&](size_t i) {
    NativeObject& o = objects[i];
    const json* current = &o.object;
    const std::string key = o.ns + "/" + BindingName(*o.kind, o.name);
    const bool wanted = desired.count(key) != 0;
    auto b = wanted ? bindings.find(key) : bindings.end();
    // A custom kind has no health model: what each member did with it (applied, or the error).
    std::string members;
    // A staged rollout: which revision runs where, said on the object itself.
    std::string revisions;
    if (b != bindings.end() && o.kind->custom) members = MemberApplyStatus(b->second);
    if (b != bindings.end() && b->second.spec.rollout) revisions = RevisionSummary(b->second);
    // A binding made by this pass has no placement yet: the placement controller's first
    // status on it (always written) wakes a pass over this object, which writes the status
    // from what placement decided (written now it would say "not placed": this pass read no
    // binding, and be written again at once). The object's annotation waits for that pass
    // too, and both go in one write (UpdateWithStatus): one write per new workload saved,
    // and a pass's new bindings are not followed by a round of annotation writes.
    // Likewise while placement has not decided on the binding yet (status.observedGeneration
    // still 0): the rollout controller records a new binding's first revision before that, and
    // its write woke a pass that wrote "0 replicas placed", rewritten when placement's status
    // came (135 of 1,000 new Deployments in one run, docs/performance.md, issue 18, h18g).
    const bool status_follows = o.kind->workload && o.info->has_status;
    if (status_follows && (created_now.count(key) != 0 ||
                           (b != bindings.end() && b->second.status.observed_generation == 0))) {
      return;
    }
    const bool annotate = !o.deferred && !o.lost_race &&
                          (Annotation(*current, kPlacementAnnotation) != o.placement ||
                           Annotation(*current, kMemberStatusAnnotation) != members ||
                           Annotation(*current, kRevisionsAnnotation) != revisions);
    std::optional<json> status;  // the aggregated status, when it is to be written
    if (status_follows) {
      const bool bound = b != bindings.end() &&
                         b->second.metadata.labels.count(kBindingLabel) != 0 &&
                         b->second.metadata.labels.at(kBindingLabel) == "policy";
      json aggregated = AggregatedStatus(*current, bound ? &b->second : nullptr, o.placement, now);
      if (current->value("status", json::object()) != aggregated) status = std::move(aggregated);
    }
    if (annotate) {
      json update = *current;
      json& annotations = update["metadata"]["annotations"];
      if (!annotations.is_object()) annotations = json::object();
      annotations[kPlacementAnnotation] = o.placement;
      for (const auto& [annotation, text] :
           {std::pair{kMemberStatusAnnotation, &members}, {kRevisionsAnnotation, &revisions}}) {
        if (text->empty()) {
          annotations.erase(annotation);
        } else {
          annotations[annotation] = *text;
        }
      }
      // Annotation and status in one write when both change.
      const bool with_status = status.has_value();
      if (with_status) update["status"] = std::move(*status);
      status.reset();
      auto updated = with_status
                         ? objects_.UpdateWithStatus(*o.info, o.ns, o.name, std::move(update))
                         : objects_.Update(*o.info, o.ns, o.name, std::move(update));
      if (!updated.ok() && updated.error().code == 409) {
        std::lock_guard lock(errors_mu);
        conflicted.insert(key_of(o));
        return;
      }
      if (!updated.ok()) {
        failed_writing("annotating " + o.kind->kind + " " + o.ns + "/" + o.name, updated.error());
        return;
      }
      ++objects_written;
      AssumeOwn(this, Informer(*o.info), updated.value());
      return;  // the status, if it changed, went with it
    }
    if (!status) return;
    json update = *current;
    update["status"] = std::move(*status);
    auto updated = objects_.Update(*o.info, o.ns, o.name, std::move(update), "status");
    if (updated.ok()) {
      ++objects_written;
      AssumeOwn(this, Informer(*o.info), updated.value());
    } else if (updated.error().code == 409) {
      std::lock_guard lock(errors_mu);
      conflicted.insert(key_of(o));
    } else {
      failed_writing("writing the status of " + o.kind->kind + " " + o.ns + "/" + o.name,
                     updated.error());
    }
  });
  written += objects_written.load();
  // A dependency whose binding's or annotation's write lost a race: its annotation is due again
  // at once (the next pass writes it, not kDependentsDelay later).
  for (const ObjectKey& k : conflicted) {
    if (DependencyKind(k.kind) != nullptr) {
      deferred_.insert_or_assign(k, Deferred{clock_.Now(), clock_.Now(), ""});
    }
  }
  if (!conflicted.empty()) {
    {
      std::lock_guard lock(changes_mu_);
      changed_.insert(conflicted.begin(), conflicted.end());
    }
    loop_.MarkDirty();
  }
  if (!first_error.empty()) return UnavailableError(first_error);
  return written;
}

}  // namespace meridian::scheduling
