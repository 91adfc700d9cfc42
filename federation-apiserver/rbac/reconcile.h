// Reconciling the bootstrap RBAC objects (BootstrapObjects(), authorizer.h) with what is
// stored, at every start, the way kube-apiserver's RBAC post-start hook does
// (pkg/registry/rbac/reconciliation):
//   - absent: created;
//   - a ClusterRole: the expected rules it does not cover are appended, the expected
//     aggregationRule selectors it lacks are added; an operator's extra rules stay;
//   - a ClusterRoleBinding: the expected subjects it lacks are added (extra subjects stay);
//     a different roleRef (which cannot be updated) means delete and create again;
//   - both: the expected labels and annotations it lacks are added (existing values stay);
//   - annotated rbac.authorization.kubernetes.io/autoupdate: "false": left as it is (the
//     operator owns it), and the reconciliation says what it would have added.
// Pure: the shell (Authorizer::Create) reads, writes and logs.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace meridian::apiserver::rbac {

inline constexpr char kAutoupdateAnnotation[] = "rbac.authorization.kubernetes.io/autoupdate";

struct BootstrapReconciliation {
  enum class Action {
    kNone,      // stored as expected (or more)
    kCreate,    // absent: create `object`
    kUpdate,    // update to `object` (it carries the stored resourceVersion)
    kRecreate,  // the roleRef differs: delete the stored binding, create `object`
    kProtected  // autoupdate "false" and not as expected: nothing written
  };
  Action action = Action::kNone;
  nlohmann::json object;  // what to write (kCreate, kUpdate, kRecreate)
  std::string changes;    // what was (or, protected, would have been) added, for the log
};

// The reconciliation of bootstrap object `expected` of `plural` ("clusterroles" or
// "clusterrolebindings") against `stored` (null when absent). Pure.
BootstrapReconciliation ReconcileBootstrapObject(const std::string& plural,
                                                 const nlohmann::json& expected,
                                                 const nlohmann::json* stored);

}  // namespace meridian::apiserver::rbac
