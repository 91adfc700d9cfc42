#include "federation-apiserver/rbac/authorizer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "apimachinery/rest/protobuf_body.h"
#include "common/json_parse.h"
#include "common/path_segments.h"

namespace meridian::apiserver::rbac {
namespace {

using apimachinery::AdmissionAttributes;
using apimachinery::ObjectEvent;
using apimachinery::ResourceInfo;
namespace rest = apimachinery::rest;
using nlohmann::json;

constexpr const char* kRbacPlurals[] = {"roles", "clusterroles", "rolebindings",
                                        "clusterrolebindings"};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool IsRbacKind(const ResourceInfo& r) {
  return r.group == kRbacGroup && (r.plural == "roles" || r.plural == "clusterroles" ||
                                   r.plural == "rolebindings" || r.plural == "clusterrolebindings");
}

std::string Str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Brings bootstrap object `expected` of `info` to its reconciled state in `objects`. Another
// replica starting at the same moment may write in between: a conflict reads again (a few
// times; each round only adds, so two replicas converge).
Status ReconcileStored(apimachinery::ObjectService& objects, const ResourceInfo& info,
                       const json& expected) {
  const std::string name = Str(expected["metadata"], "name");
  const std::string what = "RBAC: bootstrap " + info.plural + " " + name;
  for (int attempt = 0;; ++attempt) {
    auto got = objects.Get(info, "", name);
    if (!got.ok() && got.error().code != 404) {
      return InternalError(what + ": reading: " + got.error().message);
    }
    BootstrapReconciliation r =
        ReconcileBootstrapObject(info.plural, expected, got.ok() ? &got.value() : nullptr);
    std::optional<apimachinery::ApiError> failed;
    switch (r.action) {
      case BootstrapReconciliation::Action::kNone:
        return Status::Ok();
      case BootstrapReconciliation::Action::kProtected:
        spdlog::warn("{}: annotated {}: \"false\", so not adding: {}", what, kAutoupdateAnnotation,
                     r.changes);
        return Status::Ok();
      case BootstrapReconciliation::Action::kCreate:
        if (auto created = objects.Create(info, "", r.object); !created.ok()) {
          failed = created.error();
        }
        break;
      case BootstrapReconciliation::Action::kUpdate: {
        auto updated = objects.Update(info, "", name, r.object);
        if (!updated.ok()) failed = updated.error();
        break;
      }
      case BootstrapReconciliation::Action::kRecreate: {
        apimachinery::DeleteOptions precondition;
        precondition.precondition_resource_version =
            Str(got.value()["metadata"], "resourceVersion");
        auto deleted = objects.Delete(info, "", name, precondition);
        if (!deleted.ok()) {
          failed = deleted.error();
        } else if (auto created = objects.Create(info, "", r.object); !created.ok()) {
          failed = created.error();
        }
        break;
      }
    }
    if (!failed) {
      if (r.action != BootstrapReconciliation::Action::kCreate) {
        spdlog::info("{}: reconciled: {}", what, r.changes);
      }
      return Status::Ok();
    }
    if (failed->code != 409 || attempt == 4) {
      return InternalError(what + ": writing: " + failed->message);
    }
  }
}

}  // namespace

StatusOr<AuthorizationMode> ParseAuthorizationMode(const std::string& value) {
  if (value == "AlwaysAllow") return AuthorizationMode::kAlwaysAllow;
  if (value == "RBAC") return AuthorizationMode::kRbac;
  return InvalidArgumentError("--authorization-mode: \"" + value +
                              "\" is not supported; use AlwaysAllow or RBAC");
}

Attributes AttributesFor(const rest::RestRequest& request) {
  Attributes a;
  a.user = request.user.name;
  a.groups = request.user.groups;
  a.path = request.path;
  std::string method = Lower(request.method);
  if (method == "head") method = "get";
  a.verb = method;
  std::vector<std::string> segs = SplitPath(request.path);
  // Resource requests are /api/v1/<rest> and /apis/G/V/<rest> with <rest> non-empty.
  size_t depth = 0;
  if (!segs.empty() && segs[0] == "api") {
    depth = 2;
  } else if (!segs.empty() && segs[0] == "apis") {
    depth = 3;
    a.api_group = segs.size() > 1 ? segs[1] : "";
  }
  if (depth == 0 || segs.size() <= depth) {
    a.resource_request = false;
    a.api_group.clear();
    return a;
  }
  std::vector<std::string> rest(segs.begin() + static_cast<long>(depth), segs.end());
  bool watch_path = false;
  if (rest[0] == "watch") {
    watch_path = true;
    rest.erase(rest.begin());
  }
  if (!rest.empty() && rest[0] == "namespaces" && rest.size() > 1) {
    a.ns = rest[1];
    // "namespaces/NS" and "namespaces/NS/status|finalize" address the Namespace itself.
    if (rest.size() > 2 && rest[2] != "status" && rest[2] != "finalize") {
      rest.erase(rest.begin(), rest.begin() + 2);
    }
  }
  if (!rest.empty()) a.resource = rest[0];
  if (rest.size() > 1) a.name = rest[1];
  if (rest.size() > 2) a.subresource = rest[2];
  const std::string watch_param = request.Query("watch");
  if (method == "get") {
    if (watch_path || watch_param == "true" || watch_param == "1") {
      a.verb = "watch";
    } else if (a.name.empty()) {
      a.verb = "list";
    }
  } else if (method == "post") {
    a.verb = "create";
  } else if (method == "put") {
    a.verb = "update";
  } else if (method == "delete" && a.name.empty()) {
    a.verb = "deletecollection";
  }
  return a;
}

std::string ForbiddenMessage(const Attributes& attrs) {
  const std::string user = "User \"" + attrs.user + "\" cannot " + attrs.verb;
  if (!attrs.resource_request) return "forbidden: " + user + " path \"" + attrs.path + "\"";
  std::string resource = attrs.resource;
  if (!attrs.subresource.empty()) resource += "/" + attrs.subresource;
  std::string detail =
      user + " resource \"" + resource + "\" in API group \"" + attrs.api_group + "\"" +
      (attrs.ns.empty() ? " at the cluster scope" : " in the namespace \"" + attrs.ns + "\"");
  std::string qualified =
      attrs.api_group.empty() ? attrs.resource : attrs.resource + "." + attrs.api_group;
  if (!attrs.name.empty()) qualified += " \"" + attrs.name + "\"";
  return qualified + " is forbidden: " + detail;
}

void InstallRbacValidation(apimachinery::ObjectService& objects) {
  objects.AddValidatingAdmission(
      [](const AdmissionAttributes& attrs, const json& object, FieldErrors* errors) {
        if (attrs.operation == apimachinery::Operation::kDelete || !IsRbacKind(*attrs.resource)) {
          return Status::Ok();
        }
        FieldErrors found = ValidateRbacObject(attrs.resource->kind, object, attrs.old_object);
        errors->insert(errors->end(), found.begin(), found.end());
        return Status::Ok();
      });
}

StatusOr<std::unique_ptr<Authorizer>> Authorizer::Create(AuthorizationMode mode,
                                                         apimachinery::ObjectService& objects) {
  std::unique_ptr<Authorizer> authz(new Authorizer(mode));
  if (mode == AuthorizationMode::kAlwaysAllow) return authz;
  const apimachinery::ResourceRegistry& registry = objects.registry();

  // Bootstrap roles: reconciled at every start (an operator's additions survive; what a
  // release adds arrives; deleting one brings it back; autoupdate "false" opts out).
  for (const auto& [plural, object] : BootstrapObjects()) {
    const ResourceInfo* info = registry.Find(kRbacGroup, "v1", plural);
    if (info == nullptr) return InternalError("RBAC: " + plural + " is not registered");
    MERIDIAN_RETURN_IF_ERROR(ReconcileStored(objects, *info, object));
  }

  Authorizer* self = authz.get();
  for (const char* plural : kRbacPlurals) {
    const ResourceInfo* info = registry.Find(kRbacGroup, "v1", plural);
    if (info == nullptr)
      return InternalError(std::string("RBAC: ") + plural + " is not registered");
    std::string kind = plural;
    auto watch = objects.StartWatch(
        *info, "", apimachinery::ListRequest{}, [self, kind](const ObjectEvent& event) {
          const json& meta = (*event.object)["metadata"];
          std::string key = Str(meta, "namespace") + "/" + Str(meta, "name");
          std::lock_guard<std::mutex> lock(self->mu_);
          auto& by_key = self->objects_by_kind_[kind];
          if (event.type == "DELETED") {
            by_key.erase(key);
          } else {
            by_key[key] = *event.object;
          }
          self->dirty_ = true;
        });
    if (!watch.ok()) {
      return InternalError(std::string("RBAC: watching ") + plural + ": " + watch.error().message);
    }
    authz->watches_.push_back(std::move(watch).value());
  }

  objects.AddValidatingAdmission(
      [self](const AdmissionAttributes& attrs, const json& object, FieldErrors*) {
        if (attrs.operation == apimachinery::Operation::kDelete || !IsRbacKind(*attrs.resource)) {
          return Status::Ok();
        }
        return self->CheckEscalation(attrs, object);
      });
  return authz;
}

Authorizer::~Authorizer() {
  // Watch callbacks reference this object: stop them first.
  watches_.clear();
}

std::shared_ptr<const RbacPolicy> Authorizer::Snapshot() const {
  if (mode_ == AuthorizationMode::kAlwaysAllow) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  if (dirty_ || snapshot_ == nullptr) {
    auto values = [&](const char* plural) {
      std::vector<json> out;
      auto it = objects_by_kind_.find(plural);
      if (it == objects_by_kind_.end()) return out;
      for (const auto& [key, object] : it->second) out.push_back(object);
      return out;
    };
    snapshot_ = RbacPolicy::Build(values("roles"), values("clusterroles"), values("rolebindings"),
                                  values("clusterrolebindings"));
    dirty_ = false;
  }
  return snapshot_;
}

bool Authorizer::Allows(const Attributes& attrs) const {
  if (mode_ == AuthorizationMode::kAlwaysAllow) return true;
  return Snapshot()->Allows(attrs);
}

rest::RestFilter Authorizer::Filter() {
  return [this](rest::RestRequest& request) -> Status {
    if (request.user.name.empty()) {
      request.user.name = "system:anonymous";
      request.user.groups = {"system:unauthenticated"};
    }
    Attributes attrs = AttributesFor(request);
    if (Allows(attrs)) return Status::Ok();
    return PermissionDeniedError(ForbiddenMessage(attrs));
  };
}

rest::RestResponse Authorizer::SelfSubjectAccessReview(const rest::RestRequest& request) const {
  json review;
  if (request.Header("content-type").find("protobuf") != std::string::npos) {
    // kubectl auth can-i posts its review in protobuf.
    StatusOr<json> decoded = rest::DecodeKubernetesProtobuf(request.body);
    if (!decoded.ok()) {
      return rest::RestResponse::Error(apimachinery::ApiError::BadRequest(
          "invalid SelfSubjectAccessReview: " + decoded.status().message()));
    }
    review = std::move(decoded).value();
  } else {
    // Depth-limited (common/json_parse.h): the spec is copied below, which recursed once per
    // nesting level of what the client sent (a 1,400,000-level body crashed the server).
    JsonParseError parse_error;
    review = ParseJson(request.body, &parse_error);
    if (review.is_discarded()) {
      return rest::RestResponse::Error(apimachinery::ApiError::BadRequest(
          "invalid SelfSubjectAccessReview: " + parse_error.ToString()));
    }
  }
  const json spec = review.is_object() ? review.value("spec", json::object()) : json::object();
  Attributes attrs;
  attrs.user = request.user.name;
  attrs.groups = request.user.groups;
  if (spec.contains("resourceAttributes") && spec["resourceAttributes"].is_object()) {
    const json& r = spec["resourceAttributes"];
    attrs.verb = Str(r, "verb");
    attrs.api_group = Str(r, "group");
    attrs.resource = Str(r, "resource");
    attrs.subresource = Str(r, "subresource");
    attrs.ns = Str(r, "namespace");
    attrs.name = Str(r, "name");
  } else if (spec.contains("nonResourceAttributes") && spec["nonResourceAttributes"].is_object()) {
    const json& r = spec["nonResourceAttributes"];
    attrs.resource_request = false;
    attrs.verb = Str(r, "verb");
    attrs.path = Str(r, "path");
  } else {
    return rest::RestResponse::Error(apimachinery::ApiError::BadRequest(
        "spec: Invalid value: resourceAttributes or nonResourceAttributes is required"));
  }
  const bool allowed = Allows(attrs);
  json out = {{"kind", "SelfSubjectAccessReview"},
              {"apiVersion", "authorization.k8s.io/v1"},
              {"metadata", {{"creationTimestamp", nullptr}}},
              {"spec", spec},
              {"status", {{"allowed", allowed}}}};
  if (allowed) {
    out["status"]["reason"] = mode_ == AuthorizationMode::kRbac ? "RBAC: allowed" : "AlwaysAllow";
  }
  return rest::RestResponse::Json(201, out);
}

Status Authorizer::CheckEscalation(const AdmissionAttributes& attrs, const json& object) const {
  const apimachinery::UserInfo& user = *attrs.user;
  // In-process writers (bootstrap, controllers) are the server itself.
  if (user.name.empty()) return Status::Ok();
  std::shared_ptr<const RbacPolicy> policy = Snapshot();
  const std::string& plural = attrs.resource->plural;
  const bool is_role = plural == "roles" || plural == "clusterroles";

  auto may = [&](const std::string& verb, const std::string& resource, const std::string& name) {
    Attributes a;
    a.user = user.name;
    a.groups = user.groups;
    a.verb = verb;
    a.api_group = kRbacGroup;
    a.resource = resource;
    a.ns = attrs.ns;
    a.name = name;
    return policy->Allows(a);
  };
  const std::vector<PolicyRule> owner = policy->RulesFor(user.name, user.groups, attrs.ns);
  std::vector<PolicyRule> uncovered;
  std::string what;
  if (is_role) {
    if (may("escalate", plural, attrs.name)) return Status::Ok();
    // An aggregated ClusterRole grants whatever its selectors will ever match, so, as in
    // Kubernetes, only a writer holding every permission may write one.
    std::vector<PolicyRule> requested = DecodeRules(object.value("rules", json::array()));
    if (object.contains("aggregationRule") && !object["aggregationRule"].is_null()) {
      requested.push_back({{"*"}, {"*"}, {"*"}, {}, {}});
    }
    if (Covers(owner, requested, &uncovered)) return Status::Ok();
    what = std::string(attrs.resource->kind) + " " + attrs.name;
  } else {
    const json ref = object.value("roleRef", json::object());
    const std::string ref_kind = Str(ref, "kind");
    const std::string ref_name = Str(ref, "name");
    if (may("bind", ref_kind == "Role" ? "roles" : "clusterroles", ref_name)) return Status::Ok();
    std::vector<PolicyRule> rules;
    if (!policy->RoleRefRules(ref_kind, ref_name, attrs.ns, &rules)) {
      // Kubernetes refuses a binding to a role it cannot resolve unless the writer may bind.
      return PermissionDeniedError(attrs.resource->GroupResource() + " \"" + attrs.name +
                                   "\" is forbidden: user \"" + user.name + "\" cannot bind to " +
                                   ref_kind + " \"" + ref_name + "\": it does not exist");
    }
    if (Covers(owner, rules, &uncovered)) return Status::Ok();
    what = ref_kind + " " + ref_name;
  }
  if (uncovered.size() > 20) uncovered.resize(20);
  return PermissionDeniedError(attrs.resource->GroupResource() + " \"" + attrs.name +
                               "\" is forbidden: user \"" + user.name + "\" (groups=" +
                               [&] {
                                 std::string g;
                                 for (const std::string& s : user.groups)
                                   g += (g.empty() ? "\"" : " \"") + s + "\"";
                                 return "[" + g + "]";
                               }() +
                               ") is attempting to grant RBAC permissions not currently held (" +
                               what + "):\n" + DescribeRules(uncovered));
}

}  // namespace meridian::apiserver::rbac
