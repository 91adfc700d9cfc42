#include "federation-apiserver/crd/registrar.h"

#include <algorithm>

#include "federation-apiserver/crd/definition.h"
#include "federation-apiserver/crd/internal/json_fields.h"
#include "federation-apiserver/openapi.h"

namespace meridian::apiserver::crd {
namespace {

using apimachinery::AdmissionAttributes;
using apimachinery::Operation;
using apimachinery::ResourceInfo;
using nlohmann::json;

constexpr std::chrono::milliseconds kRetry{500};

using internal::Child;
using internal::Str;

std::string GroupPlural(const std::string& group, const std::string& plural) {
  return group + "/" + plural;
}

// The entry through which every object of `crd` is reached, served or not: its storage
// version (objects of every version live under one group/plural in the store).
std::optional<ResourceInfo> StorageResource(const json& crd) {
  json all = crd;
  for (json& v : all["spec"]["versions"]) {
    if (v.is_object()) v["served"] = true;
  }
  std::vector<ResourceInfo> infos = ServedResources(all);
  if (infos.empty()) return std::nullopt;
  const std::string storage = StorageVersion(crd);
  for (const ResourceInfo& info : infos) {
    if (info.version == storage) return info;
  }
  return infos.front();
}

}  // namespace

CustomResourceRegistrar::CustomResourceRegistrar(apimachinery::ObjectService& objects,
                                                 apimachinery::ResourceRegistry& registry,
                                                 const Clock& clock, Mode mode)
    : objects_(objects),
      registry_(registry),
      clock_(clock),
      mode_(mode),
      crd_info_(registry.Find(kGroup, "v1", kPlural)),
      builtin_groups_(registry.Groups()) {}

CustomResourceRegistrar::~CustomResourceRegistrar() { Stop(); }

void CustomResourceRegistrar::InstallAdmission() {
  objects_.AddMutatingAdmission([this](const AdmissionAttributes& attrs, json* object) {
    const ResourceInfo& r = *attrs.resource;
    if (r.group == kGroup && r.plural == kPlural) {
      if (attrs.subresource.empty())
        DefaultDefinition(object, attrs.operation == Operation::kCreate);
      return Status::Ok();
    }
    std::shared_ptr<const Served> served = ServedFor(r.group, r.plural);
    if (served == nullptr) return Status::Ok();
    if (served->terminating && attrs.operation == Operation::kCreate) {
      return FailedPreconditionError(
          "create not allowed while custom resource definition is terminating");
    }
    auto schema = served->schemas.find(r.version);
    if (schema == served->schemas.end()) return Status::Ok();
    const std::vector<std::string> unknown =
        schema->second->PruneUnknownFields(object, attrs.strict_fields);
    if (attrs.strict_fields && !unknown.empty()) {
      std::string message = "strict decoding error: ";
      for (size_t i = 0; i < unknown.size(); ++i) {
        message += (i ? ", " : "") + std::string("unknown field \"") + unknown[i] + "\"";
      }
      return InvalidArgumentError(message);
    }
    return Status::Ok();
  });
  objects_.AddValidatingAdmission(
      [this](const AdmissionAttributes& attrs, const json& object, FieldErrors* errors) {
        if (attrs.operation == Operation::kDelete) return Status::Ok();
        const ResourceInfo& r = *attrs.resource;
        if (r.group == kGroup && r.plural == kPlural) {
          if (!attrs.subresource.empty()) return Status::Ok();
          FieldErrors found = ValidateDefinition(object, attrs.old_object, builtin_groups_);
          if (found.empty()) {
            auto listed = objects_.List(*crd_info_, "", {});
            if (!listed.ok()) return listed.error().ToStatus();
            std::vector<json> others((*listed)["items"].begin(), (*listed)["items"].end());
            found = NameConflicts(object, others);
          }
          errors->insert(errors->end(), found.begin(), found.end());
          return Status::Ok();
        }
        std::shared_ptr<const Served> served = ServedFor(r.group, r.plural);
        if (served == nullptr) return Status::Ok();
        auto schema = served->schemas.find(r.version);
        if (schema == served->schemas.end()) return Status::Ok();
        FieldErrors found = schema->second->Validate(object);
        errors->insert(errors->end(), found.begin(), found.end());
        return Status::Ok();
      });
  // A PlacementPolicy may select a custom kind only when a CRD serves it now: a typo (or a
  // CRD not created yet) would otherwise select nothing, silently. Its decoder (api/
  // placement_policy.h) judges the federation's own groups; this, the others.
  objects_.AddValidatingAdmission(
      [this](const AdmissionAttributes& attrs, const json& object, FieldErrors* errors) {
        const ResourceInfo& r = *attrs.resource;
        if (attrs.operation == Operation::kDelete || !attrs.subresource.empty() ||
            r.group != "federation.meridian.io" ||
            (r.plural != "placementpolicies" && r.plural != "clusterplacementpolicies")) {
          return Status::Ok();
        }
        const json& selectors = Child(Child(object, "spec"), "resourceSelectors");
        if (!selectors.is_array()) return Status::Ok();  // the decoder says so
        for (size_t i = 0; i < selectors.size(); ++i) {
          const std::string api_version = Str(selectors[i], "apiVersion");
          const std::string kind = Str(selectors[i], "kind");
          const size_t slash = api_version.find('/');
          if (kind.empty() || slash == std::string::npos) continue;
          const std::string group = api_version.substr(0, slash);
          if (std::find(builtin_groups_.begin(), builtin_groups_.end(), group) !=
              builtin_groups_.end()) {
            continue;
          }
          const std::vector<const ResourceInfo*> dynamic = registry_.Dynamic();
          const bool served = std::any_of(dynamic.begin(), dynamic.end(), [&](const auto* d) {
            return d->GroupVersion() == api_version && d->kind == kind;
          });
          if (!served) {
            errors->push_back(FieldError{
                "spec.resourceSelectors[" + std::to_string(i) + "].kind",
                "a policy cannot select " + api_version + " " + kind +
                    ": no CustomResourceDefinition of this server serves it (create the CRD "
                    "first; its group, version and kind must match)"});
          }
        }
        return Status::Ok();
      });
}

Status CustomResourceRegistrar::Start() {
  if (crd_info_ == nullptr) return InternalError("customresourcedefinitions are not registered");
  Pass();  // what is left undone is retried by the loop
  loop_ = std::make_unique<apimachinery::ChangeLoop>([this] { return Pass(); });
  apimachinery::ChangeLoop* loop = loop_.get();
  // From "": every stored CRD comes as ADDED first, so nothing written since the pass is missed.
  auto watch = objects_.StartWatch(*crd_info_, "", {},
                                   [loop](const apimachinery::ObjectEvent&) { loop->MarkDirty(); });
  if (!watch.ok())
    return UnavailableError("watching customresourcedefinitions: " + watch.error().message);
  watch_ = std::move(watch).value();
  loop_->Start(/*pass_at_once=*/true);
  return Status::Ok();
}

void CustomResourceRegistrar::Stop() {
  watch_.reset();
  if (loop_) loop_->Stop();
}

bool CustomResourceRegistrar::SyncNow() { return !Pass().has_value(); }

std::shared_ptr<const CustomResourceRegistrar::Served> CustomResourceRegistrar::ServedFor(
    const std::string& group, const std::string& plural) const {
  std::lock_guard lock(mu_);
  auto it = served_.find(GroupPlural(group, plural));
  return it == served_.end() ? nullptr : it->second;
}

StatusOr<size_t> CustomResourceRegistrar::DeleteObjectsOf(const json& crd) {
  std::optional<ResourceInfo> storage = StorageResource(crd);
  if (!storage) return size_t{0};
  auto deleted = objects_.DeleteCollection(*storage, "", {});
  if (!deleted.ok()) return deleted.error().ToStatus();
  auto left = objects_.List(*storage, "", {});
  if (!left.ok()) return left.error().ToStatus();
  return (*left)["items"].size();
}

std::optional<std::chrono::milliseconds> CustomResourceRegistrar::Pass() {
  std::lock_guard pass_lock(pass_mu_);
  auto listed = objects_.List(*crd_info_, "", {});
  if (!listed.ok()) return kRetry;
  std::vector<json> crds((*listed)["items"].begin(), (*listed)["items"].end());
  // Names go to the oldest CRD that asks for them (Kubernetes' naming controller).
  std::sort(crds.begin(), crds.end(), [](const json& a, const json& b) {
    const std::string ta = Str(Child(a, "metadata"), "creationTimestamp");
    const std::string tb = Str(Child(b, "metadata"), "creationTimestamp");
    return ta != tb ? ta < tb
                    : Str(Child(a, "metadata"), "name") < Str(Child(b, "metadata"), "name");
  });
  bool retry = false;
  std::vector<json> accepted;
  std::map<std::string, std::shared_ptr<const Served>> served;
  std::set<std::string> owners;
  for (const json& crd : crds) {
    const std::string name = Str(Child(crd, "metadata"), "name");
    const json& spec = Child(crd, "spec");
    const bool deleting = !Str(Child(crd, "metadata"), "deletionTimestamp").empty();
    std::optional<std::string> conflict;
    FieldErrors clashes = NameConflicts(crd, accepted);
    auto entry = std::make_shared<Served>();
    entry->crd = crd;
    entry->terminating = deleting;
    if (!clashes.empty()) {
      conflict = clashes[0].message.substr(clashes[0].message.find(": ") + 2);
    } else {
      for (const json& v : Child(spec, "versions")) {
        if (!v.is_object() || v.value("served", false) != true) continue;
        auto compiled = CustomResourceSchema::Compile(Child(Child(v, "schema"), "openAPIV3Schema"));
        if (!compiled.ok()) {
          conflict = "spec.versions: " + compiled.status().message();
          break;
        }
        entry->schemas[Str(v, "name")] = std::move(compiled).value();
      }
    }
    if (!conflict) {
      Status st = Status::Ok();
      auto previous = registered_specs_.find(name);
      if (previous == registered_specs_.end() || previous->second != spec) {
        st = registry_.SetDynamic(name, ServedResources(crd));
      }
      if (st.ok()) {
        registered_specs_[name] = spec;
        owners.insert(name);
        accepted.push_back(crd);
        served[GroupPlural(Str(spec, "group"), Str(Child(spec, "names"), "plural"))] = entry;
      } else {
        conflict = st.message();
      }
    }

    if (mode_ == Mode::kFollow) continue;  // status and deletion are the API's
    std::string terminating;
    bool finalize = false;
    if (deleting) {
      StatusOr<size_t> left = DeleteObjectsOf(crd);
      if (!left.ok() || *left > 0) {
        terminating = left.ok() ? "waiting for " + std::to_string(*left) +
                                      " custom objects with finalizers to go"
                                : "deleting custom objects: " + left.status().message();
        retry = true;
      } else {
        finalize = true;
      }
    }
    if (!finalize) {
      json status = DesiredStatus(crd, conflict, terminating, clock_.Now());
      if (status != Child(crd, "status")) {
        json updated = crd;
        updated["status"] = std::move(status);
        auto written = objects_.Update(*crd_info_, "", name, std::move(updated), "status");
        if (!written.ok() && written.error().code != 404) retry = true;
      }
      continue;
    }
    // Every object is gone: drop the cleanup finalizer, and the CRD goes.
    json current = crd;
    json& finalizers = current["metadata"]["finalizers"];
    if (finalizers.is_array()) {
      finalizers.erase(std::remove(finalizers.begin(), finalizers.end(), json(kCleanupFinalizer)),
                       finalizers.end());
      auto written = objects_.Update(*crd_info_, "", name, std::move(current));
      if (!written.ok() && written.error().code != 404) retry = true;
    }
  }
  for (auto it = registered_specs_.begin(); it != registered_specs_.end();) {
    if (owners.count(it->first)) {
      ++it;
      continue;
    }
    registry_.RemoveDynamic(it->first);
    it = registered_specs_.erase(it);
  }
  {
    std::lock_guard lock(mu_);
    served_ = std::move(served);
  }
  if (retry) return kRetry;
  return std::nullopt;
}

std::vector<std::string> CustomResourceRegistrar::OpenApiPaths() const {
  std::set<std::string> paths;
  std::lock_guard lock(mu_);
  for (const auto& [key, served] : served_) {
    const json& spec = Child(served->crd, "spec");
    for (const auto& [version, schema] : served->schemas) {
      paths.insert("apis/" + Str(spec, "group") + "/" + version);
    }
  }
  return {paths.begin(), paths.end()};
}

json CustomResourceRegistrar::OpenApiV3For(const std::string& group_version_path) const {
  std::vector<OpenApiKind> kinds;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, served] : served_) {
      const json& spec = Child(served->crd, "spec");
      const json& names = Child(spec, "names");
      for (const auto& [version, schema] : served->schemas) {
        if ("apis/" + Str(spec, "group") + "/" + version != group_version_path) continue;
        kinds.push_back({Str(spec, "group"), version, Str(names, "kind"), Str(names, "plural"),
                         Str(spec, "scope") != "Cluster", schema->schema()});
      }
    }
  }
  if (kinds.empty()) return nullptr;
  return OpenApiV3Document(group_version_path, kinds);
}

}  // namespace meridian::apiserver::crd
