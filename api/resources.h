// The catalogue of Meridian's API resources: names, scope, printer columns, validation and
// the OpenAPI schemas that `kubectl explain` and `kubectl apply` read. The federation-apiserver
// builds its resource registry from this; fedctl uses it to resolve names like "fw".
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/field_error.h"

namespace meridian::api {

struct PrinterColumn {
  std::string name;       // header, e.g. "READY"
  std::string type;       // string | integer | date
  std::string json_path;  // e.g. ".status.readyReplicas"
  std::string description;
};

struct ResourceDescriptor {
  std::string kind;      // FederatedWorkload
  std::string plural;    // federatedworkloads
  std::string singular;  // federatedworkload
  std::vector<std::string> short_names;  // fw
  bool namespaced = false;
  bool has_status = true;
  std::vector<PrinterColumn> columns;
  // Every problem with an object of this kind (decoding + validation), with field paths.
  FieldErrors (*validate)(const nlohmann::json& object) = nullptr;
};

// The seven kinds of group federation.meridian.io/v1alpha1.
const std::vector<ResourceDescriptor>& FederationResources();

// The descriptor whose kind, plural, singular or short name is `name` (case-insensitive),
// or nullptr.
const ResourceDescriptor* FindResource(const std::string& name);

// OpenAPI v3 schema (components.schemas entry, with x-kubernetes-group-version-kind) of a kind.
nlohmann::json OpenApiSchemaFor(const ResourceDescriptor& resource);

}  // namespace meridian::api
