// Built-in schemas for the Kubernetes kinds a FederatedWorkload's template usually holds, and
// strict validation of a template against them (what kube-apiserver does with
// fieldValidation=Strict), so that a typo such as `replicaz: 40` is refused at admission with
// its path instead of silently turning the workload into "one copy per cluster".
//
// The schemas are a compact hand-written table (api/template_schema.cc), not an embedded
// OpenAPI document: the fields real manifests use of apps/v1 Deployment, StatefulSet,
// DaemonSet, ReplicaSet; batch/v1 Job, CronJob; v1 Pod, Service, ConfigMap, Secret,
// ServiceAccount, PersistentVolumeClaim; networking.k8s.io/v1 Ingress; policy/v1
// PodDisruptionBudget, with the pod template, containers, resources, probes, volumes. A few deep, rarely hand-written structures (affinity, projected volume sources,
// podFailurePolicy, ...) are checked to be objects / lists only; `status` is accepted as is.
//
// Kinds without a schema:
//   - a kind of a group version the table covers completely ("", apps, batch,
//     networking.k8s.io, policy at v1) that the table does not know, or another version of
//     "", apps or batch, is refused with the known kinds
//     (`kind: unknown kind "Deploymnet" in apps/v1 (known: ...)`): for these groups an unknown
//     name is a typo, never a CRD;
//   - any other group or version (CRDs; networking.k8s.io/v1beta1 and policy/v1beta1, which
//     members older than 1.22 / 1.21 still serve) is accepted with the generic checks only
//     (apiVersion, kind, metadata); the member's API server validates it when it is propagated.
// Required fields are those Kubernetes requires inside the objects given (container name and
// image, a port's containerPort, an env var's name, a volume's name, ...). A workload's own
// spec.selector / spec.template are not required: Meridian fills in nothing, but the shorthand
// `spec: {replicas: N}` is how tests and demos describe a workload to place.
// Pure functions over static data; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/field_error.h"

namespace meridian::api {

// Appends every problem of `tmpl` (a FederatedWorkload's spec.template) to `errors`, each
// with its path under `path` ("spec.template.spec.replicaz: unknown field \"replicaz\"",
// "spec.template.spec.replicas: must be an integer, not a string",
// "spec.template.spec.template.spec.containers[0].image: required"). A template that is not
// an object, or lacks apiVersion / kind, is left to the FederatedWorkload codec (it reports
// those) and adds nothing here.
void ValidateTemplate(const nlohmann::json& tmpl, const std::string& path, FieldErrors* errors);

// "apps/v1 Deployment", ... : the kinds with a built-in schema, sorted.
std::vector<std::string> KindsWithBuiltinSchema();

// The built-in schemas as an OpenAPI v2 document (definitions only, each tagged with
// x-kubernetes-group-version-kind, quantities as a $ref to resource.Quantity), the form
// kube-apiserver serves at /openapi/v2: what membersim serves there, so that Meridian reads a
// simulated member's schemas the way it reads a real one's (api/openapi_schema.h).
nlohmann::json BuiltinOpenApiV2Document();

// How a JSON value's type reads in an error ("a string", "an integer", "a list", ...), shared by
// the built-in and the member-provided (openapi_schema.h) template validation.
std::string JsonTypeName(const nlohmann::json& v);

// Whether `q` has the form of Kubernetes' resource.Quantity: a signed decimal, then a binary or
// decimal suffix or an exponent ("100m", "1.5Gi", "2", "1e3").
bool IsQuantityString(const std::string& q);

}  // namespace meridian::api
