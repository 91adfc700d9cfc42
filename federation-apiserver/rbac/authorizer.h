// The authorization stage of the request pipeline (see request_filters.h for
// authentication, which runs first and sets RestRequest::user).
//
//   AttributesFor()     a request (REST, or gRPC's synthesized RestRequest) -> the RBAC
//                       Attributes kube-apiserver's RequestInfo resolver would give it;
//   ForbiddenMessage()  Kubernetes' exact 403 text;
//   Authorizer          AlwaysAllow or RBAC: the filter every transport runs, the
//                       SelfSubjectAccessReview endpoint (kubectl auth can-i), and the
//                       escalation check on RBAC writes;
//   InstallRbacValidation()  422 for malformed RBAC objects, in every mode.
//
// RBAC mode keeps the four RBAC kinds in memory from ObjectService watches and evaluates
// an immutable RbacPolicy snapshot, rebuilt on the first request after a change. Like
// kube-apiserver (whose RBAC authorizer reads informer caches), a binding written a moment
// ago takes effect once its watch event arrives, normally within milliseconds.
//
// Requests without an authenticated user are evaluated as "system:anonymous" in group
// "system:unauthenticated" (the filter sets that on the request). In-process callers of the
// ObjectService (controllers) carry no user and are not subject to authorization.
//
// Thread-safety: after Create, every method is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "apimachinery/object_service.h"
#include "apimachinery/rest/rest_handler.h"
#include "common/status.h"
#include "federation-apiserver/rbac/policy.h"
#include "federation-apiserver/rbac/reconcile.h"

namespace meridian::apiserver::rbac {

enum class AuthorizationMode { kAlwaysAllow, kRbac };

// Parses --authorization-mode ("AlwaysAllow" or "RBAC"); kInvalidArgument naming the flag.
StatusOr<AuthorizationMode> ParseAuthorizationMode(const std::string& value);

// kube-apiserver's request attributes for `request` (its user and groups included). Paths
// outside /api/v1/... and /apis/G/V/... (discovery, /version, /openapi, /healthz) are
// non-resource requests with the lower-cased HTTP method as verb (HEAD -> get). Resource
// verbs: GET get / list / watch (?watch=true or a /watch/ path), POST create, PUT update,
// PATCH patch, DELETE delete / deletecollection. Pure.
Attributes AttributesFor(const apimachinery::rest::RestRequest& request);

// `federatedworkloads.federation.meridian.io is forbidden: User "x" cannot create resource
// "federatedworkloads" in API group "federation.meridian.io" in the namespace "shop"` (or
// "... at the cluster scope"; `secrets "db" is forbidden: ...` with a name; `forbidden: User
// "x" cannot get path "/apis"` for non-resource requests). Pure.
std::string ForbiddenMessage(const Attributes& attrs);

// The user federation-controller-manager --kubeconfig authenticates as (a token, or a client
// certificate with this CN), bound by the bootstrap ClusterRoleBinding of that name to the
// bootstrap ClusterRole of that name: what its controllers ask of the API.
inline constexpr char kControllerManagerUser[] = "system:meridian:federation-controller-manager";

// The bootstrap ClusterRoles and ClusterRoleBindings (cluster-admin, admin/edit/view and
// their Meridian aggregation roles, meridian:residency-admin, meridian:drill-operator,
// meridian:fleet-admin, the controller manager's (kControllerManagerUser), and the
// discovery/basic-user roles every authenticated user gets), as {plural, object} pairs, each
// labelled kubernetes.io/bootstrapping: rbac-defaults and annotated
// rbac.authorization.kubernetes.io/autoupdate: "true". Pure.
std::vector<std::pair<std::string, nlohmann::json>> BootstrapObjects();

// Registers validating admission for the RBAC kinds (ValidateRbacObject), in every mode.
void InstallRbacValidation(apimachinery::ObjectService& objects);

class Authorizer {
 public:
  // AlwaysAllow: allows everything. RBAC: reconciles the bootstrap objects with the stored
  // ones (ReconcileBootstrapObject, reconcile.h: creates the absent, adds what the present
  // lack, leaves autoupdate "false" ones alone), watches the four kinds (the RBAC kinds must be registered), and installs the escalation
  // check on `objects`. Errors: kInternal when a bootstrap object cannot be read or written
  // or a watch cannot start. `objects` must outlive the Authorizer.
  static StatusOr<std::unique_ptr<Authorizer>> Create(AuthorizationMode mode,
                                                      apimachinery::ObjectService& objects);
  ~Authorizer();
  Authorizer(const Authorizer&) = delete;
  Authorizer& operator=(const Authorizer&) = delete;

  AuthorizationMode mode() const { return mode_; }

  // The decision for `attrs`.
  bool Allows(const Attributes& attrs) const;

  // The filter to run after authentication: kPermissionDenied with ForbiddenMessage() when
  // denied. Sets an anonymous request's user to system:anonymous. The Authorizer must
  // outlive the filter.
  apimachinery::rest::RestFilter Filter();

  // POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews: answers the review for the
  // requesting user (status.allowed, status.reason). 400 for a body without
  // spec.resourceAttributes or spec.nonResourceAttributes.
  apimachinery::rest::RestResponse SelfSubjectAccessReview(
      const apimachinery::rest::RestRequest& request) const;

  // The current snapshot (RBAC mode; null in AlwaysAllow).
  std::shared_ptr<const RbacPolicy> Snapshot() const;

 private:
  explicit Authorizer(AuthorizationMode mode) : mode_(mode) {}
  // Refuses RBAC writes that would grant what the writer does not hold (Kubernetes'
  // escalation prevention), unless the writer may `escalate` (roles) or `bind` (bindings).
  Status CheckEscalation(const apimachinery::AdmissionAttributes& attrs,
                         const nlohmann::json& object) const;

  const AuthorizationMode mode_;
  std::vector<std::unique_ptr<apimachinery::Watch>> watches_;

  mutable std::mutex mu_;  // guards objects_by_kind_, dirty_ and snapshot_
  // plural -> "ns/name" -> object, as the watches last delivered them.
  std::map<std::string, std::map<std::string, nlohmann::json>> objects_by_kind_;
  mutable bool dirty_ = true;
  mutable std::shared_ptr<const RbacPolicy> snapshot_;
};

}  // namespace meridian::apiserver::rbac
