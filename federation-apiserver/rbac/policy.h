// Kubernetes RBAC as a pure evaluator: the rbac.authorization.k8s.io/v1 objects (Role,
// ClusterRole, RoleBinding, ClusterRoleBinding) in, allow/deny answers out. No I/O, no locks,
// no clock: the shell (rbac/authorizer.h) keeps an immutable RbacPolicy snapshot and swaps it
// when the objects change.
//
// Semantics follow kube-apiserver's RBAC authorizer (plugin/pkg/auth/authorizer/rbac):
//   - a request is allowed when any rule of any role bound to the user (by name, by one of its
//     groups, or as a ServiceAccount "system:serviceaccount:NS:NAME") matches it; there are no
//     deny rules;
//   - ClusterRoleBindings grant everywhere; a RoleBinding grants only in its own namespace,
//     whether it refers to a Role (of that namespace) or a ClusterRole;
//   - a rule matches verb ("*" or the verb), apiGroup ("*" or the group), resource ("*", the
//     resource, "resource/subresource", or "*/subresource"), resourceNames (empty = any;
//     otherwise the request must name one of them), or for non-resource requests a
//     nonResourceURL (exact, or a prefix ending in "*");
//   - a ClusterRole with an aggregationRule gets the rules of every ClusterRole matching one
//     of its clusterRoleSelectors (by labels), computed here instead of by a controller, so
//     the answer never lags an aggregated role's change;
//   - group "system:masters" is allowed everything (the superuser group).
// Bindings to absent roles grant nothing (as in Kubernetes: a binding may precede its role).
//
// Thread-safety: an RbacPolicy is immutable after Build(); all const methods are thread-safe.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/field_error.h"

namespace meridian::apiserver::rbac {

inline constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";
inline constexpr char kSuperuserGroup[] = "system:masters";

// What is being asked, in Kubernetes' authorizer.Attributes terms.
struct Attributes {
  std::string user;
  std::vector<std::string> groups;
  std::string verb;  // get list watch create update patch delete deletecollection (or bind...)
  bool resource_request = true;
  std::string api_group;    // resource requests: "" for core
  std::string resource;     // "federatedworkloads"
  std::string subresource;  // "" or "status"
  std::string ns;           // "" = cluster scope (or all namespaces for list/watch)
  std::string name;         // "" for list/create/collection requests
  std::string path;         // non-resource requests: "/version"
};

struct PolicyRule {
  std::vector<std::string> verbs;
  std::vector<std::string> api_groups;
  std::vector<std::string> resources;
  std::vector<std::string> resource_names;
  std::vector<std::string> non_resource_urls;
};

// True if `rule` allows `attrs` (ignores user and groups). Pure.
bool RuleAllows(const PolicyRule& rule, const Attributes& attrs);

// Decodes the `rules` array of a Role/ClusterRole (best effort: malformed entries are skipped;
// validation is ValidateRbacObject's job).
std::vector<PolicyRule> DecodeRules(const nlohmann::json& rules);

// Kubernetes' "covers": true if every permission `requested` grants is granted by some rule
// of `owner` (a requested "*" is covered only by an owner "*"). The permissions not covered
// go to `uncovered` (may be null), for the error message.
bool Covers(const std::vector<PolicyRule>& owner, const std::vector<PolicyRule>& requested,
            std::vector<PolicyRule>* uncovered);

// A compact "{verbs, apiGroups, resources, ...}" rendering of rules, as kube-apiserver's
// escalation error lists them.
std::string DescribeRules(const std::vector<PolicyRule>& rules);

// Validation of an RBAC object of `kind` (Role, ClusterRole, RoleBinding, ClusterRoleBinding)
// beyond metadata: unknown verbs, rules without verbs or targets, non-resource URLs in a
// namespaced Role, roleRef shape (apiGroup rbac.authorization.k8s.io, kind Role|ClusterRole,
// a name), subjects (kind User|Group|ServiceAccount, a name, a ServiceAccount's namespace),
// malformed aggregationRule selectors, unknown fields in rules/roleRef/subjects. `old` (update
// only, else null): roleRef may not change. Field paths are from the object root. Pure.
FieldErrors ValidateRbacObject(const std::string& kind, const nlohmann::json& object,
                               const nlohmann::json* old);

class RbacPolicy {
 public:
  RbacPolicy() = default;
  // Grants point into the role maps: a copy would dangle.
  RbacPolicy(const RbacPolicy&) = delete;
  RbacPolicy& operator=(const RbacPolicy&) = delete;

  // Builds a snapshot from the stored objects (each a whole object as JSON; kinds by
  // argument). Malformed objects contribute what can be decoded. Pure.
  static std::shared_ptr<const RbacPolicy> Build(
      const std::vector<nlohmann::json>& roles, const std::vector<nlohmann::json>& cluster_roles,
      const std::vector<nlohmann::json>& role_bindings,
      const std::vector<nlohmann::json>& cluster_role_bindings);

  // The decision for `attrs`.
  bool Allows(const Attributes& attrs) const;

  // Every rule that applies to the user in namespace `ns` ("" = cluster-wide rules only):
  // what kube's escalation check calls the user's "owner rules". Superusers get one rule
  // allowing everything.
  std::vector<PolicyRule> RulesFor(const std::string& user, const std::vector<std::string>& groups,
                                   const std::string& ns) const;

  // The rules a roleRef {kind, name} resolves to from a binding in `ns` ("" for a
  // ClusterRoleBinding); false when the role does not exist.
  bool RoleRefRules(const std::string& kind, const std::string& name, const std::string& ns,
                    std::vector<PolicyRule>* rules) const;

  size_t binding_count() const { return binding_count_; }

 private:
  struct Grant {
    std::string ns;                        // "" for a ClusterRoleBinding (everywhere)
    const std::vector<PolicyRule>* rules;  // into roles_ / cluster_roles_; never null
  };
  bool RoleRefRulesPtr(const std::string& kind, const std::string& name, const std::string& ns,
                       const std::vector<PolicyRule>** rules) const;
  // Calls `visit` for each grant to the user (by name, groups, service account) until it
  // returns true; returns whether one did.
  template <typename Visit>
  bool ForEachGrant(const std::string& user, const std::vector<std::string>& groups,
                    Visit&& visit) const;

  std::map<std::string, std::vector<PolicyRule>> cluster_roles_;  // name -> effective rules
  std::map<std::string, std::vector<PolicyRule>> roles_;          // "ns/name" -> rules
  std::unordered_map<std::string, std::vector<Grant>> by_user_;
  std::unordered_map<std::string, std::vector<Grant>> by_group_;
  size_t binding_count_ = 0;
};

}  // namespace meridian::apiserver::rbac
