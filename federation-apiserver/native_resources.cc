#include "federation-apiserver/native_resources.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "apimachinery/table.h"

namespace meridian::apiserver {
namespace {

// "3/5": status.`done` (0 when unset) over spec.`desired` (Kubernetes' default 1 when unset),
// as kube's Go printer writes READY and COMPLETIONS.
std::string Ratio(const nlohmann::json& o, const char* done, const char* desired) {
  const nlohmann::json& spec = o.value("spec", nlohmann::json::object());
  const nlohmann::json& status = o.value("status", nlohmann::json::object());
  const nlohmann::json& want = spec.value(desired, nlohmann::json(1));
  const nlohmann::json& have = status.value(done, nlohmann::json(0));
  return std::to_string(have.is_number_integer() ? have.get<int64_t>() : 0) + "/" +
         std::to_string(want.is_number_integer() ? want.get<int64_t>() : 1);
}

}  // namespace

apimachinery::ResourceInfo NativeResourceInfo(const api::NativeKind& kind) {
  apimachinery::ResourceInfo info;
  info.group = kind.group;
  info.version = kind.version;
  info.kind = kind.kind;
  info.plural = kind.plural;
  info.singular = kind.kind;
  std::transform(info.singular.begin(), info.singular.end(), info.singular.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  info.short_names = kind.short_names;
  // `kubectl get all` lists what kube lists.
  if (kind.in_all_category) info.categories = {"all"};
  info.namespaced = true;
  info.has_status = kind.has_status;
  // Services' names are DNS labels starting with a letter (they become DNS names).
  if (kind.kind == "Service") info.name_validation = apimachinery::NameValidation::kDns1035Label;
  if (kind.workload) info.scale = apimachinery::ScaleSubresource{};
  std::vector<bool> counts;  // fedctl's "count" columns: the number of entries at the path
  for (const api::PrinterColumn& c : kind.columns) {
    counts.push_back(c.type == "count");
    info.printer_columns.push_back(
        {c.name, c.type == "count" ? "integer" : c.type, c.json_path, c.description, "", 0});
  }
  // kubectl's READY is "ready/desired" and a Job's COMPLETIONS "succeeded/desired" (kube's Go
  // printer), DATA a count: no JSONPath says any of them.
  const bool job = kind.group == "batch" && kind.kind == "Job";
  if (kind.workload || job) info.printer_columns[0].type = "string";
  info.row_cells = [columns = info.printer_columns, counts, workload = kind.workload, job](
                       const nlohmann::json& o, Timestamp now) {
    nlohmann::json cells = nlohmann::json::array();
    for (size_t i = 0; i < columns.size(); ++i) {
      const apimachinery::PrinterColumn& c = columns[i];
      if (counts[i]) {
        const std::vector<nlohmann::json> v = apimachinery::EvaluateJsonPath(o, c.json_path);
        cells.push_back(!v.empty() && (v[0].is_object() || v[0].is_array()) ? v[0].size() : 0);
      } else if (job && c.name == "COMPLETIONS") {
        // spec.completions unset: one success completes the Job (kube prints "n/1").
        cells.push_back(Ratio(o, "succeeded", "completions"));
      } else if (workload && c.name == "READY") {
        cells.push_back(Ratio(o, "readyReplicas", "replicas"));
      } else {
        cells.push_back(apimachinery::ColumnCell(c, o, now));
      }
    }
    return cells;
  };
  return info;
}

}  // namespace meridian::apiserver
