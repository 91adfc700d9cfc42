#include "cli/explain.h"

#include "api/explanation.h"

#include "cli/kinds.h"
#include "cli/printers.h"

namespace meridian::cli {
namespace {

using nlohmann::json;

std::string Text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string PrintExplanation(const json& workload, const std::string& cluster, std::string* error) {
  error->clear();
  const json* ex = nullptr;
  std::vector<json> decisions;
  if (auto st = workload.find("status"); st != workload.end() && st->is_object()) {
    if (auto e = st->find("explanation"); e != st->end() && e->is_object()) ex = &*e;
    decisions = api::DecisionsJson(*st);
  }
  if (decisions.empty()) {
    *error = "no placement explanation yet (the placement controller has not placed it)";
    return "";
  }
  std::vector<std::vector<std::string>> rows = {{"CLUSTER", "REPLICAS", "REASON", "DETAIL"}};
  bool found = cluster.empty();
  for (const json& c : decisions) {
    const std::string name = Text(c, "cluster");
    if (!cluster.empty() && name != cluster) continue;
    found = true;
    std::string detail = Text(c, "message");
    // The message repeats "name: N; " for reading alone; the table has those columns.
    if (detail.rfind(name + ": ", 0) == 0) detail = detail.substr(name.size() + 2);
    if (auto semi = detail.find("; "); semi != std::string::npos && detail[0] >= '0' &&
                                       detail[0] <= '9' && detail.find(" = ") > semi) {
      detail = detail.substr(semi + 2);
    }
    rows.push_back(
        {name, std::to_string(c.value("replicas", int64_t{0})), Text(c, "reason"), detail});
  }
  if (!found) {
    *error = "cluster \"" + cluster + "\" is not in the explanation";
    return "";
  }
  std::string out = AlignColumns(rows);
  if (int64_t omitted = ex->value("omitted", int64_t{0}); omitted > 0 && cluster.empty()) {
    out += "(" + std::to_string(omitted) + " more clusters holding nothing left out)\n";
  }
  if (auto o = ex->find("overflow"); o != ex->end() && o->is_array() && !o->empty()) {
    std::string lines;
    for (const json& line : *o) {
      if (!line.is_string()) continue;
      const std::string s = line.get<std::string>();
      // With --cluster: the headings and the lines about that cluster.
      if (!cluster.empty() && s.rfind("  ", 0) == 0 && s.find("  " + cluster + " ") != 0) continue;
      lines += s + "\n";
    }
    out += "\nOverflow:\n" + lines;
  }
  if (cluster.empty()) {
    if (auto conds = workload["status"].find("conditions"); conds != workload["status"].end()) {
      for (const json& c : *conds) {
        if (Text(c, "type") == "Degraded" && Text(c, "status") == "True") {
          out += "\nDegraded (" + Text(c, "reason") + "): " + Text(c, "message") + "\n";
        }
      }
    }
  }
  return out;
}

int RunExplain(ResourceClient& client, const std::string& type, const std::string& name,
               const std::string& ns, const std::string& cluster, std::ostream& out,
               std::ostream& err) {
  const KindInfo* kind = ResolveType(type);
  if (kind == nullptr || kind->kind != "FederatedWorkload") {
    err << "error: explain shows placement decisions of FederatedWorkloads (fw), not \"" << type
        << "\"\n";
    return 1;
  }
  ApiResult<json> got = client.Get(*kind, ns, name);
  if (!got.ok()) {
    err << FormatApiError(got.error());
    return 1;
  }
  std::string error;
  std::string text = PrintExplanation(*got, cluster, &error);
  if (!error.empty()) {
    err << "error: " << kind->plural << " \"" << name << "\": " << error << "\n";
    return 1;
  }
  out << text;
  return 0;
}

}  // namespace meridian::cli
