// meta.k8s.io/v1 Table rendering for `kubectl get` (Accept: application/json;as=Table;...),
// from a ResourceInfo's printer columns. Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apimachinery/resource_registry.h"
#include "common/clock.h"

namespace meridian::apimachinery {

// Evaluates a simple JSONPath against `object`: ".a.b", ".a[0].b", ".a[*].b",
// ".a[?(@.type==\"Ready\")].status", optionally wrapped in "{...}". Returns every match
// (empty when the path does not resolve or is malformed).
std::vector<nlohmann::json> EvaluateJsonPath(const nlohmann::json& object,
                                             const std::string& path);

// One cell of `column` for `object`, as a Table without a row printer fills it: the JSONPath's
// value typed per the column ("date" as an age at `now`); null when the path finds nothing.
// For row printers that compute some columns and leave the others to their JSONPath.
nlohmann::json ColumnCell(const PrinterColumn& column, const nlohmann::json& object,
                          Timestamp now);

// Kubernetes' HumanDuration: "45s", "3m20s", "5h", "12d", "2y30d".
std::string HumanDuration(Duration d);

// What the rows' `object` field holds (the `includeObject` query parameter).
enum class TableObjects { kNone, kMetadata, kObject };

// A Table for `objects` (items of a list, or one object): columns Name, then the
// resource's printer columns (or Age when it has none), filled by the resource's
// `row_cells` printer when it has one, else from each column's JSONPath. Each row's object is a
// PartialObjectMetadata (kMetadata, kubectl's default), the full object, or absent.
// `list_metadata` (resourceVersion, continue) is copied to the table's metadata.
// `with_headers` false leaves columnDefinitions empty (later watch events).
nlohmann::json RenderTable(const ResourceInfo& resource, const std::vector<nlohmann::json>& objects,
                           const nlohmann::json& list_metadata, Timestamp now,
                           TableObjects include = TableObjects::kMetadata,
                           bool with_headers = true);

}  // namespace meridian::apimachinery
