#include "cli/printers.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "api/explanation.h"
#include "api/workload_summary.h"
#include "api/yaml.h"
#include "apimachinery/table.h"
#include "scheduling/policy_binding.h"

namespace meridian::cli {
namespace {

using nlohmann::json;

// A value at a dotted path ("spec.region"), or null.
const json* At(const json& object, std::initializer_list<const char*> path) {
  const json* cur = &object;
  for (const char* p : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(p);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur->is_null() ? nullptr : cur;
}

std::string Str(const json& object, std::initializer_list<const char*> path,
                const std::string& fallback = "") {
  const json* v = At(object, path);
  if (!v) return fallback;
  if (v->is_string()) return v->get<std::string>();
  return v->dump();
}

std::string Scalar(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

// "a=1,b=2" for a string map, "<none>" when empty.
std::string KeyValues(const json* map, const char* sep = ",") {
  if (!map || !map->is_object() || map->empty()) return "<none>";
  std::string out;
  for (auto it = map->begin(); it != map->end(); ++it) {
    if (!out.empty()) out += sep;
    out += it.key() + "=" + Scalar(it.value());
  }
  return out;
}

std::string JoinStrings(const json* list, const char* sep = ", ") {
  if (!list || !list->is_array() || list->empty()) return "<none>";
  std::string out;
  for (const json& v : *list) {
    if (!out.empty()) out += sep;
    out += Scalar(v);
  }
  return out;
}

// Builds describe output: "Key:" lines whose values align within each block of consecutive
// lines at the same indentation, kubectl-style.
class DescribeWriter {
 public:
  // A "Key:  value" line at `level` (two spaces per level).
  void Field(int level, const std::string& key, const std::string& value) {
    lines_.push_back({level, key, value, false});
  }
  // A section heading ("Status:") with nothing after it.
  void Heading(int level, const std::string& key) { lines_.push_back({level, key, "", true}); }
  // Verbatim text lines (already formatted, e.g. a table or YAML) indented by `level`.
  void Block(int level, const std::string& text) {
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      std::string line =
          text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      lines_.push_back({level, "", line, true, true});
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  // Values of key lines line up per indentation level across the whole output, so that
  // sections separated by tables still read as one column.
  std::string Render() const {
    std::map<int, size_t> width;
    for (const Line& l : lines_) {
      if (!l.heading) width[l.level] = std::max(width[l.level], l.key.size() + 1);
    }
    std::string out;
    for (const Line& l : lines_) {
      std::string pad(2 * l.level, ' ');
      if (l.verbatim) {
        out += pad + l.value + "\n";
      } else if (l.heading) {
        out += pad + l.key + ":\n";
      } else {
        std::string key = l.key + ":";
        key.resize(width[l.level] + 2, ' ');
        out += pad + key + l.value + "\n";
      }
    }
    return out;
  }

 private:
  struct Line {
    int level;
    std::string key;
    std::string value;
    bool heading;
    bool verbatim = false;
  };
  std::vector<Line> lines_;
};

std::string TimeWithAge(const std::string& ts, Timestamp now) {
  if (ts.empty()) return "<unknown>";
  return ts + " (" + Age(ts, now) + " ago)";
}

void DescribeMetadata(DescribeWriter& w, const KindInfo& kind, const json& o, Timestamp now) {
  w.Field(0, "Name", Str(o, {"metadata", "name"}));
  if (kind.namespaced) w.Field(0, "Namespace", Str(o, {"metadata", "namespace"}));
  w.Field(0, "Labels", KeyValues(At(o, {"metadata", "labels"})));
  const json* ann = At(o, {"metadata", "annotations"});
  std::string annotations = "<none>";
  if (ann && ann->is_object() && !ann->empty()) {
    annotations.clear();
    for (auto it = ann->begin(); it != ann->end(); ++it) {
      std::string v = Scalar(it.value());
      if (v.size() > 80) v = v.substr(0, 77) + "...";
      annotations += (annotations.empty() ? "" : ", ") + it.key() + ": " + v;
    }
  }
  w.Field(0, "Annotations", annotations);
  w.Field(0, "API Version", Str(o, {"apiVersion"}, kind.ApiVersion()));
  w.Field(0, "Kind", Str(o, {"kind"}, kind.kind));
  w.Field(0, "Created", TimeWithAge(Str(o, {"metadata", "creationTimestamp"}), now));
  if (const json* g = At(o, {"metadata", "generation"})) w.Field(0, "Generation", Scalar(*g));
  w.Field(0, "Resource Version", Str(o, {"metadata", "resourceVersion"}, "<none>"));
  if (const json* d = At(o, {"metadata", "deletionTimestamp"})) {
    w.Field(0, "Deleting Since", TimeWithAge(Scalar(*d), now));
  }
  if (const json* f = At(o, {"metadata", "finalizers"}); f && f->is_array() && !f->empty()) {
    w.Field(0, "Finalizers", JoinStrings(f));
  }
}

// YAML of `value` indented under a heading; "<none>" when absent or empty.
void YamlSection(DescribeWriter& w, int level, const std::string& heading, const json* value) {
  if (!value || (value->is_object() && value->empty()) || (value->is_array() && value->empty())) {
    w.Field(level, heading, "<none>");
    return;
  }
  if (!value->is_object() && !value->is_array()) {
    w.Field(level, heading, Scalar(*value));
    return;
  }
  w.Heading(level, heading);
  std::string yaml = api::JsonToYaml(*value);
  if (!yaml.empty() && yaml.back() == '\n') yaml.pop_back();
  w.Block(level + 1, yaml);
}

void DescribeConditions(DescribeWriter& w, const json& o, Timestamp now) {
  const json* conds = At(o, {"status", "conditions"});
  if (!conds || !conds->is_array() || conds->empty()) {
    w.Field(0, "Conditions", "<none>");
    return;
  }
  w.Heading(0, "Conditions");
  std::vector<std::vector<std::string>> rows = {{"TYPE", "STATUS", "REASON", "AGE", "MESSAGE"}};
  for (const json& c : *conds) {
    std::string since = Str(c, {"lastTransitionTime"});
    rows.push_back({Str(c, {"type"}), Str(c, {"status"}), Str(c, {"reason"}),
                    since.empty() ? "" : Age(since, now), Str(c, {"message"})});
  }
  std::string table = AlignColumns(rows);
  table.pop_back();
  w.Block(1, table);
}

void DescribeWorkload(DescribeWriter& w, const json& o, Timestamp now,
                      const RelatedObjects* related) {
  // The template in one line: what it is and how replicas are handled.
  const json* tmpl = At(o, {"spec", "template"});
  std::string what = "<none>";
  if (tmpl && tmpl->is_object()) {
    what = Str(*tmpl, {"apiVersion"}) + " " + Str(*tmpl, {"kind"});
    std::string name = Str(*tmpl, {"metadata", "name"});
    if (!name.empty()) what += " \"" + name + "\"";
    if (const json* r = At(*tmpl, {"spec", "replicas"})) {
      what += ", " + Scalar(*r) + " replicas divided across clusters";
    } else {
      what += ", copied to every selected cluster";
    }
  }
  w.Field(0, "Template", what);
  YamlSection(w, 0, "Placement Policy", At(o, {"spec", "placement"}));
  const json* overrides = At(o, {"spec", "overrides"});
  if (overrides && overrides->is_array() && !overrides->empty()) {
    YamlSection(w, 0, "Overrides", overrides);
  } else {
    w.Field(0, "Overrides", "<none>");
  }
  if (const json* dns = At(o, {"spec", "dns"})) {
    w.Field(0, "DNS",
            fmt::format("{} (strategy {}, ttl {}s, port {})", Str(*dns, {"name"}),
                        Str(*dns, {"strategy"}, "geo"), Str(*dns, {"ttl"}, "30"),
                        Str(*dns, {"port"}, "80")));
  } else {
    w.Field(0, "DNS", "<none>");
  }
  if (const json* a = At(o, {"spec", "adoptExisting"}); a && a->is_boolean() && a->get<bool>()) {
    w.Field(0, "Adopt Existing", "true");
  }

  w.Heading(0, "Status");
  const json* status = At(o, {"status"});
  if (!status || !status->is_object() || status->empty()) {
    w.Block(1, "<not yet reconciled: no status>");
  } else {
    w.Field(1, "Observed Generation", Str(o, {"status", "observedGeneration"}, "0"));
    w.Field(1, "Desired Replicas", Str(o, {"status", "desiredReplicas"}, "0"));
    w.Field(1, "Ready Replicas", Str(o, {"status", "readyReplicas"}, "0"));
    w.Field(1, "Unplaced Replicas", Str(o, {"status", "unplacedReplicas"}, "0"));
  }

  const json* placement = At(o, {"status", "placement"});
  if (!placement || !placement->is_array() || placement->empty()) {
    w.Field(0, "Placement", "<none>");
  } else {
    w.Heading(0, "Placement");
    std::vector<std::vector<std::string>> rows = {{"CLUSTER", "REPLICAS", "ZONES", "REASONS"}};
    for (const json& p : *placement) {
      std::vector<std::string> reasons;
      if (const json* r = At(p, {"reasons"}); r && r->is_array()) {
        for (const json& x : *r) reasons.push_back(Scalar(x));
      }
      std::string zones = KeyValues(At(p, {"zones"}));
      if (zones == "<none>") zones = "";
      rows.push_back({Str(p, {"cluster"}), Str(p, {"replicas"}, "0"), zones,
                      reasons.empty() ? "" : reasons[0]});
      for (size_t i = 1; i < reasons.size(); ++i) rows.push_back({"", "", "", reasons[i]});
    }
    std::string table = AlignColumns(rows);
    table.pop_back();
    w.Block(1, table);
  }

  // Clusters that hold nothing with their one reason (status.explanation), those passed alike
  // on one line ("eu-1, eu-2, eu-3 and 40 more"); the whole decision, with the overflow
  // candidates in order, is `fedctl explain fw NAME`.
  if (const json* ex = At(o, {"status", "explanation"}); ex && ex->is_object()) {
    constexpr size_t kNamesPerLine = 4;
    std::vector<std::vector<std::string>> rows = {{"CLUSTER", "REASON", "DETAIL"}};
    std::map<std::pair<std::string, std::string>, std::pair<size_t, size_t>> row_of;  // -> row, names
    for (const json& c : api::DecisionsJson(*At(o, {"status"}))) {
      if (c.value("replicas", int64_t{0}) > 0) continue;
      const std::string name = Str(c, {"cluster"});
      std::string detail = Str(c, {"message"});
      if (detail.rfind(name + ": 0; ", 0) == 0) detail = detail.substr(name.size() + 5);
      if (detail.size() > 100) detail = detail.substr(0, 97) + "...";
      auto [it, added] = row_of.try_emplace({Str(c, {"reason"}), detail}, rows.size(), 0);
      if (added) rows.push_back({"", Str(c, {"reason"}), detail});
      auto& [row, names] = it->second;
      if (names < kNamesPerLine) rows[row][0] += (names == 0 ? "" : ", ") + name;
      ++names;
    }
    for (const auto& [key, at] : row_of) {
      if (at.second > kNamesPerLine) {
        rows[at.first][0] += " and " + std::to_string(at.second - kNamesPerLine) + " more";
      }
    }
    if (rows.size() > 1) {
      w.Heading(0, "Not Placed");
      std::string table = AlignColumns(rows);
      table.pop_back();
      w.Block(1, table);
    }
    if (const json* trail = At(o, {"status", "explanation", "overflow"});
        trail && trail->is_array() && !trail->empty()) {
      w.Field(0, "Overflow", Scalar((*trail)[0]) + " (fedctl explain for the candidates)");
    }
  }

  // Replicas left where they run (an unreachable member, or one just back): shown apart from
  // the placement, with why, so nobody mistakes them for placed ones.
  if (const json* retained = At(o, {"status", "retained"});
      retained && retained->is_array() && !retained->empty()) {
    w.Heading(0, "Retained");
    std::vector<std::vector<std::string>> rows = {{"CLUSTER", "REPLICAS", "WHY"}};
    for (const json& p : *retained) {
      std::string why;
      if (const json* r = At(p, {"reasons"}); r && r->is_array() && !r->empty()) {
        why = Scalar((*r)[0]);
      }
      rows.push_back({Str(p, {"cluster"}), Str(p, {"replicas"}, "0"), why});
    }
    std::string table = AlignColumns(rows);
    table.pop_back();
    w.Block(1, table);
  }

  // Template revisions (rollout controller): which runs on which members (status.clusters),
  // and which the staged rollout means each member to run.
  if (const json* revs = At(o, {"status", "revisions"});
      revs && revs->is_array() && !revs->empty()) {
    std::map<int64_t, std::vector<std::string>> runs, meant;
    if (const json* cl = At(o, {"status", "clusters"}); cl && cl->is_array()) {
      for (const json& c : *cl) {
        if (c.value("revision", int64_t{0}) == 0) continue;
        runs[c.value("revision", int64_t{0})].push_back(
            Str(c, {"cluster"}) + (c.value("revisionReady", false) ? "" : " (not ready)"));
      }
    }
    if (const json* m = At(o, {"status", "rollout", "members"}); m && m->is_array()) {
      for (const json& c : *m)
        meant[c.value("revision", int64_t{0})].push_back(Str(c, {"cluster"}));
    }
    auto join = [](const std::vector<std::string>& v) {
      std::string out;
      for (const std::string& x : v) out += (out.empty() ? "" : ", ") + x;
      return out.empty() ? std::string("-") : out;
    };
    w.Heading(0, "Revisions");
    std::vector<std::vector<std::string>> rows = {
        {"REVISION", "HASH", "CREATED", "RUNS ON", "MEANT FOR"}};
    for (const json& r : *revs) {
      const int64_t n = r.value("revision", int64_t{0});
      rows.push_back({std::to_string(n), Str(r, {"templateHash"}), Str(r, {"created"}),
                      join(runs[n]), join(meant[n])});
    }
    std::string table = AlignColumns(rows);
    table.pop_back();
    w.Block(1, table);
  }
  if (const json* ro = At(o, {"status", "rollout"}); ro && ro->is_object()) {
    std::string line = "revision " + Str(*ro, {"revision"}) + ", " + Str(*ro, {"phase"});
    if (!Str(*ro, {"stageName"}).empty()) line += ", stage " + Str(*ro, {"stageName"});
    w.Field(0, "Rollout", line);
    if (!Str(*ro, {"message"}).empty()) w.Field(1, "Message", Str(*ro, {"message"}));
  }

  // Per member: what placement asked for next to what the member runs and whether it is in
  // sync. Members placed but not yet reported come first (in placement order), then members
  // that only report (e.g. being drained).
  const json* members = At(o, {"status", "clusters"});
  std::vector<std::string> order;
  std::map<std::string, int64_t> desired;
  std::map<std::string, int64_t> kept;  // retained, not placed
  if (const json* retained = At(o, {"status", "retained"}); retained && retained->is_array()) {
    for (const json& p : *retained) kept[Str(p, {"cluster"})] += p.value("replicas", int64_t{0});
  }
  std::map<std::string, const json*> reported;
  if (placement && placement->is_array()) {
    for (const json& p : *placement) {
      std::string c = Str(p, {"cluster"});
      if (!desired.count(c)) order.push_back(c);
      desired[c] += p.value("replicas", int64_t{0});
    }
  }
  if (members && members->is_array()) {
    for (const json& m : *members) {
      std::string c = Str(m, {"cluster"});
      if (!desired.count(c) && !reported.count(c)) order.push_back(c);
      reported[c] = &m;
    }
  }
  for (const auto& [c, n] : kept) {
    if (!desired.count(c) && !reported.count(c)) order.push_back(c);
  }
  if (order.empty()) {
    w.Field(0, "Members", "<none>");
  } else {
    w.Heading(0, "Members");
    const bool regions = related && !related->cluster_regions.empty();
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"CLUSTER"});
    if (regions) rows[0].push_back("REGION");
    for (const char* h : {"READY", "SYNCED", "LAST ERROR"}) rows[0].push_back(h);
    for (const std::string& c : order) {
      const json* m = reported.count(c) ? reported[c] : nullptr;
      std::vector<std::string> row = {c};
      if (regions) {
        auto r = related->cluster_regions.find(c);
        row.push_back(r == related->cluster_regions.end() ? "<unknown>" : r->second);
      }
      // A member that only holds retained replicas reads "15/15 retained", not "15/0 true":
      // what it runs is left alone, not in sync with a placement of 0.
      const bool only_retained = !desired.count(c) && kept.count(c) && kept[c] > 0;
      row.push_back((m ? Str(*m, {"readyReplicas"}, "0") : "0") + "/" +
                    std::to_string(only_retained      ? kept[c]
                                   : desired.count(c) ? desired[c]
                                                      : 0) +
                    (only_retained ? " retained" : ""));
      row.push_back(only_retained ? "retained" : m ? Str(*m, {"synced"}, "false") : "false");
      row.push_back(m ? Str(*m, {"lastError"}) : "");
      rows.push_back(std::move(row));
    }
    std::string table = AlignColumns(rows);
    table.pop_back();
    w.Block(1, table);
    if (regions) w.Field(0, "By Region", api::ReplicasByRegion(o, related->cluster_regions));
  }
  DescribeConditions(w, o, now);
}

void DescribeMemberCluster(DescribeWriter& w, const json& o, Timestamp now) {
  w.Field(0, "Server", Str(o, {"spec", "server"}, "<none>"));
  std::string cred = Str(o, {"spec", "credentialsRef", "name"});
  if (!cred.empty()) {
    cred = Str(o, {"spec", "credentialsRef", "namespace"}, "meridian-system") + "/" + cred;
  }
  w.Field(0, "Credentials", cred.empty() ? "<none>" : "secret " + cred);
  w.Field(0, "Region", Str(o, {"spec", "region"}, "<none>"));
  w.Field(0, "Zones", JoinStrings(At(o, {"spec", "zones"})));
  w.Field(0, "Jurisdiction", Str(o, {"spec", "jurisdiction"}, "<none>"));
  const json* cap = At(o, {"spec", "capacity", "replicas"});
  w.Field(0, "Capacity", cap ? Scalar(*cap) + " replicas" : "<derived from member nodes>");
  if (const json* i = At(o, {"spec", "insecureSkipTLSVerify"});
      i && i->is_boolean() && i->get<bool>()) {
    w.Field(0, "Insecure Skip TLS Verify", "true");
  }
  w.Heading(0, "Status");
  const json* alloc = At(o, {"status", "allocatable", "replicas"});
  w.Field(1, "Allocatable", alloc ? Scalar(*alloc) + " replicas" : "<unknown>");
  w.Field(1, "Kubernetes Version", Str(o, {"status", "kubernetesVersion"}, "<unknown>"));
  std::string probe = Str(o, {"status", "lastProbeTime"});
  std::string probed = probe.empty() ? "<never>" : TimeWithAge(probe, now);
  if (const json* l = At(o, {"status", "probeLatencyMs"}))
    probed += ", latency " + Scalar(*l) + "ms";
  w.Field(1, "Last Probe", probed);
  DescribeConditions(w, o, now);
  const json* zones = At(o, {"status", "zones"});
  if (!zones || !zones->is_array() || zones->empty()) {
    w.Field(0, "Zone Health", "<none>");
  } else {
    w.Heading(0, "Zone Health");
    std::vector<std::vector<std::string>> rows = {{"ZONE", "HEALTHY", "ALLOCATABLE", "SINCE"}};
    for (const json& z : *zones) {
      std::string since = Str(z, {"lastTransitionTime"});
      rows.push_back({Str(z, {"name"}), Str(z, {"healthy"}, "true"),
                      Str(z, {"allocatableReplicas"}, "<unknown>"),
                      since.empty() ? "" : Age(since, now)});
    }
    std::string table = AlignColumns(rows);
    table.pop_back();
    w.Block(1, table);
  }
}

void DescribeSecret(DescribeWriter& w, const json& o) {
  w.Field(0, "Type", Str(o, {"type"}, "Opaque"));
  const json* data = At(o, {"data"});
  if (!data || !data->is_object() || data->empty()) {
    w.Field(0, "Data", "<none>");
    return;
  }
  w.Heading(0, "Data");
  for (auto it = data->begin(); it != data->end(); ++it) {
    // Values are base64; report the decoded size, never the value.
    std::string b64 = Scalar(it.value());
    size_t pad = 0;
    while (pad < b64.size() && b64[b64.size() - 1 - pad] == '=') ++pad;
    size_t bytes = b64.size() / 4 * 3 - std::min<size_t>(pad, 2);
    w.Field(1, it.key(), fmt::format("{} bytes", bytes));
  }
}

// The last events, oldest first, as kubectl describe prints them.
void DescribeEvents(DescribeWriter& w, std::vector<json> events, Timestamp now) {
  constexpr size_t kShown = 10;
  if (events.empty()) {
    w.Field(0, "Events", "<none>");
    return;
  }
  auto last_seen = [](const json& e) {
    std::string t = Str(e, {"lastTimestamp"});
    return t.empty() ? Str(e, {"eventTime"}) : t;
  };
  std::stable_sort(events.begin(), events.end(),
                   [&](const json& a, const json& b) { return last_seen(a) < last_seen(b); });
  if (events.size() > kShown) events.erase(events.begin(), events.end() - kShown);
  w.Heading(0, "Events");
  std::vector<std::vector<std::string>> rows = {{"TYPE", "REASON", "AGE", "FROM", "MESSAGE"}};
  for (const json& e : events) {
    std::string age = Age(last_seen(e), now);
    int64_t count = e.value("count", int64_t{1});
    std::string first = Str(e, {"firstTimestamp"});
    if (count > 1 && !first.empty()) {
      age += fmt::format(" (x{} over {})", count, Age(first, now));
    }
    rows.push_back({Str(e, {"type"}), Str(e, {"reason"}), age,
                    Str(e, {"source", "component"}, Str(e, {"reportingComponent"})),
                    Str(e, {"message"})});
  }
  std::string table = AlignColumns(rows);
  table.pop_back();
  w.Block(1, table);
}

// Extra -o wide columns per kind (kubectl's priority > 0 columns).
std::vector<std::string> WideHeaders(const KindInfo& kind) {
  if (kind.kind == "FederatedWorkload") return {"PLACEMENT"};
  if (kind.kind == "MemberCluster") return {"ZONES", "SERVER"};
  if (kind.kind == "ResidencyPolicy") return {"JURISDICTIONS", "ENFORCEMENT"};
  return {};
}

std::vector<std::string> WideCells(const KindInfo& kind, const json& o) {
  if (kind.kind == "FederatedWorkload") {
    return {api::PlacementSummary(o)};
  }
  if (kind.kind == "MemberCluster") {
    return {JoinStrings(At(o, {"spec", "zones"}), ","), Str(o, {"spec", "server"})};
  }
  if (kind.kind == "ResidencyPolicy") {
    const std::string enforcement = Str(o, {"spec", "enforcement"});
    return {JoinStrings(At(o, {"spec", "jurisdictions"}), ","),
            enforcement.empty() ? "report" : enforcement};
  }
  return {};
}

}  // namespace

RelatedObjects FetchRelated(ResourceClient& client, const KindInfo& kind, const json* object) {
  RelatedObjects related;
  if (kind.kind == "FederatedWorkload") {
    if (const KindInfo* mcs = ResolveType("memberclusters")) {
      ApiResult<json> list = client.List(*mcs, "", "");
      if (list.ok() && list->contains("items")) {
        for (const json& mc : (*list)["items"]) {
          related.cluster_regions[Str(mc, {"metadata", "name"})] = Str(mc, {"spec", "region"});
        }
      }
    }
  }
  const KindInfo* events = ResolveType("events");
  if (object && events) {
    const std::string name = Str(*object, {"metadata", "name"});
    const std::string uid = Str(*object, {"metadata", "uid"});
    std::string ns = Str(*object, {"metadata", "namespace"});
    if (!kind.namespaced || ns.empty()) ns = "default";
    ApiResult<json> list = client.List(*events, ns, "");
    if (list.ok() && list->contains("items")) {
      for (const json& e : (*list)["items"]) {
        const json* ref = At(e, {"involvedObject"});
        if (!ref || Str(*ref, {"name"}) != name || Str(*ref, {"kind"}) != kind.kind) continue;
        const std::string event_uid = Str(*ref, {"uid"});
        if (!uid.empty() && !event_uid.empty() && event_uid != uid) continue;  // a predecessor
        related.events.push_back(e);
      }
    }
  }
  return related;
}

std::string Age(const std::string& rfc3339, Timestamp now) {
  Timestamp t;
  if (rfc3339.empty() || !ParseRfc3339(rfc3339, &t)) return "<unknown>";
  return apimachinery::HumanDuration(std::chrono::duration_cast<Duration>(now - t));
}

std::string CellText(const api::PrinterColumn& column, const json& object, Timestamp now) {
  std::vector<json> found = apimachinery::EvaluateJsonPath(object, column.json_path);
  if (column.type == "date") {
    if (found.empty() || !found[0].is_string()) return "<unknown>";
    return Age(found[0].get<std::string>(), now);
  }
  if (column.type == "count") {
    if (found.empty() || !(found[0].is_object() || found[0].is_array())) return "0";
    return std::to_string(found[0].size());
  }
  std::string out;
  for (size_t i = 0; i < found.size(); ++i) {
    if (found[i].is_null()) continue;
    if (!out.empty()) out += ",";
    out += Scalar(found[i]);
  }
  return out;
}

std::vector<std::vector<std::string>> TableCells(const KindInfo& kind,
                                                 const std::vector<json>& objects,
                                                 const TableOptions& options) {
  std::vector<std::vector<std::string>> rows;
  const bool regions_column = kind.kind == "FederatedWorkload" && options.cluster_regions;
  if (options.headers) {
    std::vector<std::string> h;
    if (options.with_namespace && kind.namespaced) h.push_back("NAMESPACE");
    h.push_back("NAME");
    for (const api::PrinterColumn& c : kind.columns) h.push_back(c.name);
    if (regions_column) h.insert(h.end() - (h.back() == "AGE" ? 1 : 0), "REGIONS");
    if (options.wide) {
      for (std::string& x : WideHeaders(kind)) h.push_back(std::move(x));
    }
    rows.push_back(std::move(h));
  }
  for (const json& o : objects) {
    std::vector<std::string> r;
    if (options.with_namespace && kind.namespaced) r.push_back(Str(o, {"metadata", "namespace"}));
    r.push_back(Str(o, {"metadata", "name"}));
    for (const api::PrinterColumn& c : kind.columns) r.push_back(CellText(c, o, options.now));
    if (regions_column) {
      r.insert(r.end() - (!kind.columns.empty() && kind.columns.back().name == "AGE" ? 1 : 0),
               api::ReplicasByRegion(o, *options.cluster_regions));
    }
    if (options.wide) {
      for (std::string& x : WideCells(kind, o)) r.push_back(std::move(x));
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string AlignColumns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  return AlignColumns(rows, &widths);
}

std::string AlignColumns(const std::vector<std::vector<std::string>>& rows,
                         std::vector<size_t>* column_widths) {
  std::vector<size_t>& widths = *column_widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string PrintTable(const KindInfo& kind, const std::vector<json>& objects,
                       const TableOptions& options) {
  return AlignColumns(TableCells(kind, objects, options));
}

namespace {
json ListWrapper(const std::vector<json>& objects) {
  return {{"apiVersion", "v1"},
          {"items", objects},
          {"kind", "List"},
          {"metadata", {{"resourceVersion", ""}}}};
}
}  // namespace

std::string PrintYaml(const std::vector<json>& objects, bool as_list) {
  if (!as_list && objects.size() == 1) return api::JsonToYaml(objects[0]);
  if (objects.empty()) {
    // kubectl's flow-style empty list (the block emitter would put "[]" on its own line).
    return "apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n";
  }
  return api::JsonToYaml(ListWrapper(objects));
}

std::string PrintJson(const std::vector<json>& objects, bool as_list) {
  if (!as_list && objects.size() == 1) return objects[0].dump(4) + "\n";
  return ListWrapper(objects).dump(4) + "\n";
}

std::string Describe(const KindInfo& kind, const json& object, Timestamp now,
                     const RelatedObjects* related) {
  DescribeWriter w;
  DescribeMetadata(w, kind, object, now);
  if (kind.kind == "FederatedWorkload") {
    DescribeWorkload(w, object, now, related);
  } else if (kind.kind == "MemberCluster") {
    DescribeMemberCluster(w, object, now);
  } else if (kind.kind == "Secret") {
    DescribeSecret(w, object);
  } else {
    // A native object's staged rollout (scheduling/policy_binding.h): which revision runs
    // where, in full (the annotations line above cuts long values).
    if (const json* r = At(object, {"metadata", "annotations", scheduling::kRevisionsAnnotation});
        r && r->is_string()) {
      w.Field(0, "Revisions", r->get<std::string>());
    }
    if (object.contains("spec")) YamlSection(w, 0, "Spec", At(object, {"spec"}));
    if (object.contains("status")) YamlSection(w, 0, "Status", At(object, {"status"}));
  }
  if (related) DescribeEvents(w, related->events, now);
  return w.Render();
}

std::string FormatApiError(const apimachinery::ApiError& error, const std::string& where,
                           const std::string& resource,
                           const std::function<int(const std::string&)>& field_line) {
  std::string at = where.empty() ? "" : where + ": ";
  if (error.code == 0) return "error: " + at + error.message + "\n";
  std::string head = "Error from server (" + error.reason + "): " + at;
  if (error.causes.empty()) return head + error.message + "\n";
  if (error.reason != "Invalid") {
    std::string out = head + error.message + "\n";
    for (const apimachinery::StatusCause& c : error.causes) {
      out += "  " + (c.field.empty() ? "" : c.field + ": ") + c.message + "\n";
    }
    return out;
  }
  std::string what = resource.empty() ? error.kind : resource;
  std::string subject;
  if (!error.name.empty() && !what.empty()) {
    subject = what + " \"" + error.name + "\" is invalid: ";
  } else if (size_t p = error.message.find(" is invalid: "); p != std::string::npos) {
    subject = error.message.substr(0, p + 13);
  }
  // The document's own line, to avoid repeating it as a field's line.
  std::string doc_line =
      where.substr(where.rfind(':') == std::string::npos ? where.size() : where.rfind(':') + 1);
  std::string out;
  for (const apimachinery::StatusCause& c : error.causes) {
    std::string line;
    if (field_line && !c.field.empty()) {
      int n = field_line(c.field);
      if (n > 0 && std::to_string(n) != doc_line) line = fmt::format(" (line {})", n);
    }
    out += head + subject + (c.field.empty() ? "" : c.field + ": ") + c.message + line + "\n";
  }
  return out;
}

}  // namespace meridian::cli
