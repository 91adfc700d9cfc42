// The registry entries of the native Kubernetes kinds the federation stores as templates
// (api/native_kinds.h): kube-apiserver's names, scope and subresources (/status for the kinds
// whose status is the members' aggregate, /scale for Deployment and StatefulSet so that
// `kubectl scale` works), with the native kinds' columns. Pure.
#pragma once

#include <optional>

#include "api/native_kinds.h"
#include "apimachinery/resource_registry.h"

namespace meridian::apiserver {

// The entry for `kind`.
apimachinery::ResourceInfo NativeResourceInfo(const api::NativeKind& kind);

}  // namespace meridian::apiserver
