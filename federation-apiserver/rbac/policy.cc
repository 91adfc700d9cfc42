#include "federation-apiserver/rbac/policy.h"

#include <algorithm>
#include <set>

#include "apimachinery/labels.h"

namespace meridian::apiserver::rbac {
namespace {

using nlohmann::json;

bool Has(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool HasOrStar(const std::vector<std::string>& list, const std::string& value) {
  for (const std::string& v : list) {
    if (v == "*" || v == value) return true;
  }
  return false;
}

std::vector<std::string> Strings(const json& object, const char* key) {
  std::vector<std::string> out;
  if (!object.is_object()) return out;
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return out;
  for (const json& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::string Str(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

bool ResourceMatches(const PolicyRule& rule, const Attributes& attrs) {
  const std::string combined =
      attrs.subresource.empty() ? attrs.resource : attrs.resource + "/" + attrs.subresource;
  for (const std::string& r : rule.resources) {
    if (r == "*" || r == combined) return true;
    if (!attrs.subresource.empty() && r == "*/" + attrs.subresource) return true;
  }
  return false;
}

bool NonResourceUrlMatches(const PolicyRule& rule, const std::string& path) {
  for (const std::string& u : rule.non_resource_urls) {
    if (u == "*" || u == path) return true;
    if (!u.empty() && u.back() == '*' && path.rfind(u.substr(0, u.size() - 1), 0) == 0) {
      return true;
    }
  }
  return false;
}

// The known verbs: Kubernetes' request verbs plus the RBAC-specific ones (bind, escalate,
// impersonate, use, approve, sign). A rule naming anything else is almost always a typo that
// would silently grant nothing.
const std::set<std::string>& KnownVerbs() {
  static const std::set<std::string> kVerbs = {"*",     "get",      "list",
                                               "watch", "create",   "update",
                                               "patch", "delete",   "deletecollection",
                                               "bind",  "escalate", "impersonate",
                                               "use",   "approve",  "sign",
                                               "proxy"};
  return kVerbs;
}

void CheckKeys(const json& object, const std::string& path, const std::set<std::string>& allowed,
               FieldErrors* errors) {
  if (!object.is_object()) {
    errors->push_back({path, "must be an object"});
    return;
  }
  for (const auto& [key, value] : object.items()) {
    if (!allowed.count(key)) errors->push_back({JoinPath(path, key), "unknown field"});
  }
}

void CheckStringList(const json& object, const char* key, const std::string& path,
                     FieldErrors* errors) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return;
  if (!it->is_array()) {
    errors->push_back({JoinPath(path, key), "must be a list of strings"});
    return;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string()) {
      errors->push_back(
          {JoinPath(path, std::string(key) + "[" + std::to_string(i) + "]"), "must be a string"});
    }
  }
}

void ValidateRules(const json& object, bool namespaced, FieldErrors* errors) {
  auto it = object.find("rules");
  if (it == object.end() || it->is_null()) return;
  if (!it->is_array()) {
    errors->push_back({"rules", "must be a list"});
    return;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& rule = (*it)[i];
    const std::string path = "rules[" + std::to_string(i) + "]";
    CheckKeys(rule, path, {"verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"},
              errors);
    if (!rule.is_object()) continue;
    for (const char* key :
         {"verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"}) {
      CheckStringList(rule, key, path, errors);
    }
    std::vector<std::string> verbs = Strings(rule, "verbs");
    if (verbs.empty())
      errors->push_back({path + ".verbs", "Required value: verbs must contain at least one value"});
    for (size_t v = 0; v < verbs.size(); ++v) {
      if (!KnownVerbs().count(verbs[v])) {
        std::string known;
        for (const std::string& k : KnownVerbs()) known += (known.empty() ? "" : ", ") + k;
        errors->push_back({path + ".verbs[" + std::to_string(v) + "]",
                           "Unsupported value: \"" + verbs[v] + "\": supported values: " + known});
      }
    }
    const bool has_resources = !Strings(rule, "resources").empty();
    const bool has_urls = !Strings(rule, "nonResourceURLs").empty();
    if (has_urls && namespaced) {
      errors->push_back({path + ".nonResourceURLs",
                         "Invalid value: namespaced rules cannot apply to non-resource URLs"});
    }
    if (has_urls && has_resources) {
      errors->push_back({path + ".nonResourceURLs",
                         "Invalid value: rules cannot apply to both regular resources and "
                         "non-resource URLs"});
    }
    if (!has_urls && !has_resources) {
      errors->push_back({path + ".resources",
                         "Required value: resource rules must supply at least one resource"});
    }
    if (has_resources && Strings(rule, "apiGroups").empty()) {
      errors->push_back({path + ".apiGroups",
                         "Required value: resource rules must supply at least one api group"});
    }
  }
}

void ValidateRoleRef(const json& object, bool cluster_binding, const json* old,
                     FieldErrors* errors) {
  auto it = object.find("roleRef");
  if (it == object.end() || !it->is_object()) {
    errors->push_back({"roleRef", "Required value"});
    return;
  }
  const json& ref = *it;
  CheckKeys(ref, "roleRef", {"apiGroup", "kind", "name"}, errors);
  if (Str(ref, "apiGroup") != kRbacGroup) {
    errors->push_back({"roleRef.apiGroup", "Unsupported value: \"" + Str(ref, "apiGroup") +
                                               "\": supported values: \"" + kRbacGroup + "\""});
  }
  const std::string kind = Str(ref, "kind");
  if (cluster_binding ? kind != "ClusterRole" : kind != "Role" && kind != "ClusterRole") {
    errors->push_back(
        {"roleRef.kind", "Unsupported value: \"" + kind + "\": supported values: " +
                             (cluster_binding ? "\"ClusterRole\"" : "\"Role\", \"ClusterRole\"")});
  }
  if (Str(ref, "name").empty()) {
    errors->push_back({"roleRef.name", "Required value"});
  } else if (Str(ref, "name").find('/') != std::string::npos) {
    errors->push_back(
        {"roleRef.name", "Invalid value: \"" + Str(ref, "name") + "\": may not contain '/'"});
  }
  if (old != nullptr && old->contains("roleRef") && (*old)["roleRef"] != ref) {
    errors->push_back({"roleRef", "Invalid value: cannot change roleRef"});
  }
}

void ValidateSubjects(const json& object, bool cluster_binding, FieldErrors* errors) {
  auto it = object.find("subjects");
  if (it == object.end() || it->is_null()) return;
  if (!it->is_array()) {
    errors->push_back({"subjects", "must be a list"});
    return;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& s = (*it)[i];
    const std::string path = "subjects[" + std::to_string(i) + "]";
    CheckKeys(s, path, {"kind", "apiGroup", "name", "namespace"}, errors);
    if (!s.is_object()) continue;
    const std::string kind = Str(s, "kind");
    if (Str(s, "name").empty()) errors->push_back({path + ".name", "Required value"});
    if (kind == "User" || kind == "Group") {
      if (!Str(s, "apiGroup").empty() && Str(s, "apiGroup") != kRbacGroup) {
        errors->push_back({path + ".apiGroup", "Unsupported value: \"" + Str(s, "apiGroup") +
                                                   "\": supported values: \"" + kRbacGroup + "\""});
      }
    } else if (kind == "ServiceAccount") {
      if (!Str(s, "apiGroup").empty()) {
        errors->push_back({path + ".apiGroup", "Unsupported value: \"" + Str(s, "apiGroup") +
                                                   "\": supported values: \"\""});
      }
      if (cluster_binding && Str(s, "namespace").empty()) {
        errors->push_back({path + ".namespace", "Required value"});
      }
    } else {
      errors->push_back({path + ".kind", "Unsupported value: \"" + kind +
                                             "\": supported values: \"ServiceAccount\", "
                                             "\"User\", \"Group\""});
    }
  }
}

// One atomic permission of a rule, for Covers().
struct Permission {
  std::string verb, group, resource, name, url;
};

std::vector<Permission> Explode(const PolicyRule& rule) {
  std::vector<Permission> out;
  for (const std::string& verb : rule.verbs) {
    for (const std::string& url : rule.non_resource_urls) out.push_back({verb, "", "", "", url});
    for (const std::string& group : rule.api_groups) {
      for (const std::string& resource : rule.resources) {
        if (rule.resource_names.empty()) {
          out.push_back({verb, group, resource, "", ""});
        } else {
          for (const std::string& name : rule.resource_names) {
            out.push_back({verb, group, resource, name, ""});
          }
        }
      }
    }
  }
  return out;
}

bool OwnerRuleCovers(const PolicyRule& owner, const Permission& p) {
  if (!HasOrStar(owner.verbs, p.verb)) return false;
  if (!p.url.empty()) {
    for (const std::string& u : owner.non_resource_urls) {
      if (u == "*" || u == p.url) return true;
      if (!u.empty() && u.back() == '*' && p.url.rfind(u.substr(0, u.size() - 1), 0) == 0) {
        return true;
      }
    }
    return false;
  }
  if (!HasOrStar(owner.api_groups, p.group)) return false;
  bool resource_ok = false;
  for (const std::string& r : owner.resources) {
    if (r == "*" || r == p.resource) resource_ok = true;
    // "*/status" covers "x/status".
    size_t slash = p.resource.find('/');
    if (slash != std::string::npos && r == "*" + p.resource.substr(slash)) resource_ok = true;
  }
  if (!resource_ok) return false;
  return owner.resource_names.empty() || (!p.name.empty() && Has(owner.resource_names, p.name));
}

std::string Quoted(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + ("\"" + v[i] + "\"");
  return out + "]";
}

}  // namespace

bool RuleAllows(const PolicyRule& rule, const Attributes& attrs) {
  if (!HasOrStar(rule.verbs, attrs.verb)) return false;
  if (!attrs.resource_request) return NonResourceUrlMatches(rule, attrs.path);
  if (!HasOrStar(rule.api_groups, attrs.api_group)) return false;
  if (!ResourceMatches(rule, attrs)) return false;
  return rule.resource_names.empty() || Has(rule.resource_names, attrs.name);
}

std::vector<PolicyRule> DecodeRules(const json& rules) {
  std::vector<PolicyRule> out;
  if (!rules.is_array()) return out;
  for (const json& r : rules) {
    if (!r.is_object()) continue;
    out.push_back({Strings(r, "verbs"), Strings(r, "apiGroups"), Strings(r, "resources"),
                   Strings(r, "resourceNames"), Strings(r, "nonResourceURLs")});
  }
  return out;
}

bool Covers(const std::vector<PolicyRule>& owner, const std::vector<PolicyRule>& requested,
            std::vector<PolicyRule>* uncovered) {
  bool all = true;
  for (const PolicyRule& rule : requested) {
    for (const Permission& p : Explode(rule)) {
      bool covered = std::any_of(owner.begin(), owner.end(),
                                 [&](const PolicyRule& o) { return OwnerRuleCovers(o, p); });
      if (covered) continue;
      all = false;
      if (uncovered == nullptr) return false;
      PolicyRule missing;
      missing.verbs = {p.verb};
      if (!p.url.empty()) {
        missing.non_resource_urls = {p.url};
      } else {
        missing.api_groups = {p.group};
        missing.resources = {p.resource};
        if (!p.name.empty()) missing.resource_names = {p.name};
      }
      uncovered->push_back(std::move(missing));
    }
  }
  return all;
}

std::string DescribeRules(const std::vector<PolicyRule>& rules) {
  std::string out;
  for (const PolicyRule& r : rules) {
    if (!out.empty()) out += " ";
    out += "{";
    if (!r.non_resource_urls.empty()) {
      out += "NonResourceURLs:" + Quoted(r.non_resource_urls);
    } else {
      out += "APIGroups:" + Quoted(r.api_groups) + ", Resources:" + Quoted(r.resources);
      if (!r.resource_names.empty()) out += ", ResourceNames:" + Quoted(r.resource_names);
    }
    out += ", Verbs:" + Quoted(r.verbs) + "}";
  }
  return out;
}

FieldErrors ValidateRbacObject(const std::string& kind, const json& object, const json* old) {
  FieldErrors errors;
  if (kind == "Role" || kind == "ClusterRole") {
    ValidateRules(object, kind == "Role", &errors);
    if (kind == "ClusterRole" && object.contains("aggregationRule") &&
        !object["aggregationRule"].is_null()) {
      const json& agg = object["aggregationRule"];
      CheckKeys(agg, "aggregationRule", {"clusterRoleSelectors"}, &errors);
      if (agg.is_object() && agg.contains("clusterRoleSelectors")) {
        const json& sels = agg["clusterRoleSelectors"];
        if (!sels.is_array()) {
          errors.push_back({"aggregationRule.clusterRoleSelectors", "must be a list"});
        } else {
          for (size_t i = 0; i < sels.size(); ++i) {
            FieldErrors sel_errors;
            apimachinery::DecodeLabelSelector(sels[i], &sel_errors);
            AppendWithPrefix("aggregationRule.clusterRoleSelectors[" + std::to_string(i) + "]",
                             sel_errors, &errors);
          }
        }
      }
    }
  } else if (kind == "RoleBinding" || kind == "ClusterRoleBinding") {
    ValidateRoleRef(object, kind == "ClusterRoleBinding", old, &errors);
    ValidateSubjects(object, kind == "ClusterRoleBinding", &errors);
  }
  return errors;
}

std::shared_ptr<const RbacPolicy> RbacPolicy::Build(
    const std::vector<json>& roles, const std::vector<json>& cluster_roles,
    const std::vector<json>& role_bindings, const std::vector<json>& cluster_role_bindings) {
  auto policy = std::make_shared<RbacPolicy>();
  for (const json& r : roles) {
    const json& meta = r.value("metadata", json::object());
    policy->roles_[Str(meta, "namespace") + "/" + Str(meta, "name")] =
        DecodeRules(r.value("rules", json::array()));
  }
  // Own rules first, then aggregation (one level, like the aggregation controller: an
  // aggregated role's own aggregated rules are not followed, its stored rules are).
  std::map<std::string, apimachinery::Labels> labels;
  for (const json& r : cluster_roles) {
    const std::string name = Str(r.value("metadata", json::object()), "name");
    policy->cluster_roles_[name] = DecodeRules(r.value("rules", json::array()));
    labels[name] = apimachinery::LabelsOf(r);
  }
  std::map<std::string, std::vector<PolicyRule>> own = policy->cluster_roles_;
  for (const json& r : cluster_roles) {
    const json* selectors = nullptr;
    if (r.contains("aggregationRule") && r["aggregationRule"].is_object() &&
        r["aggregationRule"].contains("clusterRoleSelectors")) {
      selectors = &r["aggregationRule"]["clusterRoleSelectors"];
    }
    if (selectors == nullptr || !selectors->is_array()) continue;
    const std::string name = Str(r.value("metadata", json::object()), "name");
    std::vector<PolicyRule>& rules = policy->cluster_roles_[name];
    for (const json& s : *selectors) {
      FieldErrors ignored;
      apimachinery::LabelSelector selector = apimachinery::DecodeLabelSelector(s, &ignored);
      if (!ignored.empty() || selector.Empty()) continue;  // an empty selector selects nothing
      for (const auto& [other, other_labels] : labels) {
        if (other == name || !selector.Matches(other_labels)) continue;
        const std::vector<PolicyRule>& add = own[other];
        rules.insert(rules.end(), add.begin(), add.end());
      }
    }
  }

  auto add_binding = [&](const json& b, bool cluster) {
    const json& meta = b.value("metadata", json::object());
    const std::string ns = cluster ? "" : Str(meta, "namespace");
    const json& ref = b.value("roleRef", json::object());
    const std::vector<PolicyRule>* rules = nullptr;
    if (!policy->RoleRefRulesPtr(Str(ref, "kind"), Str(ref, "name"), ns, &rules)) return;
    ++policy->binding_count_;
    for (const json& s : b.value("subjects", json::array())) {
      const std::string kind = Str(s, "kind");
      Grant grant{ns, rules};
      if (kind == "User") {
        policy->by_user_[Str(s, "name")].push_back(grant);
      } else if (kind == "Group") {
        policy->by_group_[Str(s, "name")].push_back(grant);
      } else if (kind == "ServiceAccount") {
        std::string sa_ns = Str(s, "namespace").empty() ? ns : Str(s, "namespace");
        policy->by_user_["system:serviceaccount:" + sa_ns + ":" + Str(s, "name")].push_back(grant);
      }
    }
  };
  for (const json& b : cluster_role_bindings) add_binding(b, true);
  for (const json& b : role_bindings) add_binding(b, false);
  return policy;
}

bool RbacPolicy::RoleRefRulesPtr(const std::string& kind, const std::string& name,
                                 const std::string& ns,
                                 const std::vector<PolicyRule>** rules) const {
  if (kind == "ClusterRole") {
    auto it = cluster_roles_.find(name);
    if (it == cluster_roles_.end()) return false;
    *rules = &it->second;
    return true;
  }
  if (kind == "Role" && !ns.empty()) {
    auto it = roles_.find(ns + "/" + name);
    if (it == roles_.end()) return false;
    *rules = &it->second;
    return true;
  }
  return false;
}

bool RbacPolicy::RoleRefRules(const std::string& kind, const std::string& name,
                              const std::string& ns, std::vector<PolicyRule>* rules) const {
  const std::vector<PolicyRule>* found = nullptr;
  if (!RoleRefRulesPtr(kind, name, ns, &found)) return false;
  *rules = *found;
  return true;
}

template <typename Visit>
bool RbacPolicy::ForEachGrant(const std::string& user, const std::vector<std::string>& groups,
                              Visit&& visit) const {
  if (auto it = by_user_.find(user); it != by_user_.end()) {
    for (const Grant& g : it->second) {
      if (visit(g)) return true;
    }
  }
  for (const std::string& group : groups) {
    auto it = by_group_.find(group);
    if (it == by_group_.end()) continue;
    for (const Grant& g : it->second) {
      if (visit(g)) return true;
    }
  }
  return false;
}

bool RbacPolicy::Allows(const Attributes& attrs) const {
  if (Has(attrs.groups, kSuperuserGroup)) return true;
  return ForEachGrant(attrs.user, attrs.groups, [&](const Grant& g) {
    if (!g.ns.empty() && g.ns != attrs.ns) return false;
    for (const PolicyRule& rule : *g.rules) {
      if (RuleAllows(rule, attrs)) return true;
    }
    return false;
  });
}

std::vector<PolicyRule> RbacPolicy::RulesFor(const std::string& user,
                                             const std::vector<std::string>& groups,
                                             const std::string& ns) const {
  std::vector<PolicyRule> out;
  if (Has(groups, kSuperuserGroup)) {
    out.push_back({{"*"}, {"*"}, {"*"}, {}, {}});
    out.push_back({{"*"}, {}, {}, {}, {"*"}});
    return out;
  }
  ForEachGrant(user, groups, [&](const Grant& g) {
    if (g.ns.empty() || g.ns == ns) out.insert(out.end(), g.rules->begin(), g.rules->end());
    return false;
  });
  return out;
}

}  // namespace meridian::apiserver::rbac
