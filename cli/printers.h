// What fedctl prints: tables like `kubectl get`, YAML and JSON, `describe` text, and
// server errors. Pure functions of their inputs (the current time is passed in); thread-safe.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apimachinery/api_error.h"
#include "cli/client.h"
#include "cli/kinds.h"
#include "common/clock.h"

namespace meridian::cli {

// What describe and the workload table show beyond the object itself (fetched by
// FetchRelated; empty when not fetched).
struct RelatedObjects {
  std::map<std::string, std::string> cluster_regions;  // MemberCluster name -> spec.region
  std::vector<nlohmann::json> events;                   // core v1 Events about the object
};

// Fetches, best effort, what `kind` needs: for FederatedWorkloads the MemberClusters'
// regions; with `object`, the Events about it (same namespace, or "default" for
// cluster-scoped objects; matched on involvedObject kind, name and uid). Failures leave the
// part empty (describe still shows the object).
RelatedObjects FetchRelated(ResourceClient& client, const KindInfo& kind,
                            const nlohmann::json* object);

struct TableOptions {
  bool with_namespace = false;  // a NAMESPACE column first (-A)
  bool wide = false;            // -o wide: extra columns (placement, zones, server)
  bool headers = true;
  Timestamp now;
  // When set, FederatedWorkload tables end with REGIONS: ready/desired replicas per region
  // ("us-east 15/15, eu-west 9/9, ap-south 4/6"), members of unknown region by name.
  const std::map<std::string, std::string>* cluster_regions = nullptr;
};


// The cell texts of a table: headers (when asked) then one row per object.
std::vector<std::vector<std::string>> TableCells(const KindInfo& kind,
                                                 const std::vector<nlohmann::json>& objects,
                                                 const TableOptions& options);

// Aligns rows like kubectl (columns padded to the widest cell plus three spaces, the last
// column unpadded), one line per row, each ending in '\n'.
std::string AlignColumns(const std::vector<std::vector<std::string>>& rows);
// The same, keeping column widths across calls (for watch rows printed one at a time under
// an earlier header): `widths` is widened to fit `rows` and used for padding.
std::string AlignColumns(const std::vector<std::vector<std::string>>& rows,
                         std::vector<size_t>* widths);

// TableCells + AlignColumns.
std::string PrintTable(const KindInfo& kind, const std::vector<nlohmann::json>& objects,
                       const TableOptions& options);

// One printer-column cell: "" when the path does not resolve; "date" columns as an age
// ("5m", "3d4h", "<unknown>" when absent); "count" columns as a number of entries.
std::string CellText(const api::PrinterColumn& column, const nlohmann::json& object, Timestamp now);

// Kubernetes' short age ("45s", "3m20s", "5h", "12d") of an RFC 3339 timestamp;
// "<unknown>" when it does not parse.
std::string Age(const std::string& rfc3339, Timestamp now);

// -o yaml / -o json of one object (as_list false, exactly one object) or of a list
// (kubectl's `kind: List` wrapper). JSON is indented by 4 like kubectl.
std::string PrintYaml(const std::vector<nlohmann::json>& objects, bool as_list);
std::string PrintJson(const std::vector<nlohmann::json>& objects, bool as_list);

// `fedctl describe`: metadata, a spec summary and the status, human-readable. For
// FederatedWorkload: placement per cluster with reasons, per-member sync state, conditions
// and the unplaced count; for MemberCluster: region, zones, jurisdiction, conditions, zone
// health and allocatable. Other kinds: metadata and spec/status as YAML. Secret values are
// never printed (only their sizes).
// With `related`: the Members table gains REGION and READY as ready/desired, a "By Region" line
// (ready/desired per region) is added, and every kind ends with its most recent Events (kubectl's
// TYPE/REASON/AGE/FROM/MESSAGE, "(xN over AGE)" for repeats).
std::string Describe(const KindInfo& kind, const nlohmann::json& object, Timestamp now,
                     const RelatedObjects* related = nullptr);

// How fedctl shows a failed API call, one or more lines each ending in '\n':
//   Error from server (NotFound): federatedworkloads.federation.meridian.io "x" not found
// An error with causes (422 Invalid) prints one line per cause, each complete:
//   Error from server (Invalid): web.yaml:8: federatedworkloads "web" is invalid: spec.x: y
// `where` ("web.yaml:8"), when not empty, goes before the message; `resource` (the plural,
// e.g. "federatedworkloads") names the object in cause lines (else the server's details.kind).
// `field_line`, when given, maps a cause's field to the line it is written on (0: unknown);
// a known line other than the document's is appended as " (line 38)".
// Transport errors (code 0) print as "error: <where: >message".
std::string FormatApiError(const apimachinery::ApiError& error, const std::string& where = "",
                           const std::string& resource = "",
                           const std::function<int(const std::string&)>& field_line = nullptr);

}  // namespace meridian::cli
