// Decoding of Kubernetes protobuf request bodies (Content-Type
// application/vnd.kubernetes.protobuf) into JSON, for the few kinds kubectl's typed clients
// send that way from its generators (`create namespace|configmap|secret|serviceaccount|
// deployment|service|role|clusterrole|rolebinding|clusterrolebinding`, `run`, `expose`,
// `auth can-i`): v1 Namespace, ConfigMap, Secret, ServiceAccount, Pod, Service, apps/v1
// Deployment with their commonly set fields (unknown fields are skipped), the four
// rbac.authorization.k8s.io/v1 kinds whole, and SelfSubjectAccessReview. Other kinds are reported as unsupported (the REST layer answers 415).
// Everything else kubectl does (create/apply/replace -f, patch, ...) sends JSON.
// Pure functions; thread-safe.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace meridian::apimachinery::rest {

// `body` is the whole request body ("k8s\0" + runtime.Unknown). kInvalidArgument for a
// malformed body, kUnimplemented for a kind without a built-in schema.
StatusOr<nlohmann::json> DecodeKubernetesProtobuf(const std::string& body);

}  // namespace meridian::apimachinery::rest
