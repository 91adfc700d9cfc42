// Server-side behaviour of the core v1 kinds that every Meridian API server serves, so the
// federation-apiserver and each membersim cluster treat them as kube-apiserver does.
//
// Secrets: `stringData` is merged into `data` (base64, stringData wins on conflicts) and
// removed, `type` defaults to Opaque, and every `data` value must be valid base64 (422 Invalid
// naming `data[key]` otherwise). Member credentials live in Secrets, so readers can rely on
// `data` alone.
#pragma once

#include "apimachinery/object_service.h"

namespace meridian::apimachinery {

// Registers the core admission hooks on `service`. Startup only.
void InstallCoreAdmission(ObjectService& service);

}  // namespace meridian::apimachinery
