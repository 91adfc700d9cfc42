#include "api/rollout.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "common/json_decoder.h"

namespace meridian::api {
namespace {

using nlohmann::json;

bool IsDnsLabel(const std::string& s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

int64_t Seconds(JsonDecoder& d, const json& j, const char* name, const std::string& path,
                int64_t fallback) {
  const json* v = JsonDecoder::Member(j, name);
  if (!v) return fallback;
  return d.Int(*v, JoinPath(path, name), 0, 365LL * 24 * 3600).value_or(fallback);
}

std::string Str(JsonDecoder& d, const json& j, const char* name, const std::string& path) {
  const json* v = JsonDecoder::Member(j, name);
  if (!v) return "";
  return d.String(*v, JoinPath(path, name), false).value_or("");
}

int64_t Int(JsonDecoder& d, const json& j, const char* name, const std::string& path) {
  const json* v = JsonDecoder::Member(j, name);
  if (!v) return 0;
  return d.Int(*v, JoinPath(path, name), 0).value_or(0);
}

// Calls `each(item, its path)` for every object of the list `j[name]`, when present (anything
// but a list, or an item that is not an object, is an error at its path).
template <typename Each>
void ForEachListed(JsonDecoder& d, const json& j, const char* name, const std::string& path,
                   Each each) {
  const json* list = JsonDecoder::Member(j, name);
  if (!list) return;
  const std::string list_path = JoinPath(path, name);
  if (!list->is_array()) {
    d.Error(list_path, "must be a list");
    return;
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string p = list_path + "[" + std::to_string(i) + "]";
    if (d.ExpectObject((*list)[i], p)) each((*list)[i], p);
  }
}

StageSelector DecodeSelector(JsonDecoder& d, const json& j, const std::string& path,
                             FieldErrors* errors) {
  StageSelector out;
  if (!d.ExpectObject(j, path)) return out;
  d.RejectUnknown(j, path, {"clusters", "regions", "matchLabels", "matchExpressions"});
  if (const json* v = JsonDecoder::Member(j, "clusters")) {
    out.clusters = d.StringList(*v, path + ".clusters");
  }
  if (const json* v = JsonDecoder::Member(j, "regions")) {
    out.regions = d.StringList(*v, path + ".regions");
  }
  json labels = json::object();
  for (const char* f : {"matchLabels", "matchExpressions"}) {
    if (const json* v = JsonDecoder::Member(j, f)) labels[f] = *v;
  }
  if (!labels.empty()) {
    FieldErrors sel_errors;
    out.labels = apimachinery::DecodeLabelSelector(labels, &sel_errors);
    AppendWithPrefix(path, sel_errors, errors);
  }
  return out;
}

PrometheusGate DecodePrometheusGate(JsonDecoder& d, const json& j, const std::string& path) {
  PrometheusGate out;
  if (!d.ExpectObject(j, path)) return out;
  d.RejectUnknown(j, path, {"query", "max", "forSeconds"});
  if (const json* v = JsonDecoder::Member(j, "query")) {
    out.query = d.String(*v, path + ".query", false).value_or("");
    if (v->is_string()) {
      if (std::string why = PromQlShapeError(out.query); !why.empty()) {
        d.Error(path + ".query", why);
      }
    }
  } else {
    d.Error(path + ".query", "required");
  }
  const json* max = JsonDecoder::Member(j, "max");
  if (!max) {
    d.Error(path + ".max", "required");
  } else if (!max->is_number() || !std::isfinite(max->get<double>())) {
    d.Error(path + ".max", "must be a number");
  } else {
    out.max = max->get<double>();
  }
  out.for_seconds = Seconds(d, j, "forSeconds", path, 0);
  return out;
}

json EncodePrometheusGate(const PrometheusGate& g) {
  return {{"query", g.query}, {"max", g.max}, {"forSeconds", g.for_seconds}};
}

json EncodeSelector(const StageSelector& s) {
  json sel = s.labels.Empty() ? json::object() : apimachinery::EncodeLabelSelector(s.labels);
  if (!s.clusters.empty()) sel["clusters"] = s.clusters;
  if (!s.regions.empty()) sel["regions"] = s.regions;
  return sel;
}

AfterStageGates DecodeAfterStageGates(JsonDecoder& d, const json& j, const std::string& path) {
  AfterStageGates out;
  if (!d.ExpectObject(j, path)) return out;
  d.RejectUnknown(j, path, {"approval", "prometheus"});
  if (const json* v = JsonDecoder::Member(j, "approval")) {
    out.approval = d.Bool(*v, path + ".approval").value_or(false);
  }
  if (const json* v = JsonDecoder::Member(j, "prometheus")) {
    out.prometheus = DecodePrometheusGate(d, *v, path + ".prometheus");
  }
  return out;
}

// `stage.groups` at `path` (the stage's selector is decoded): each group's selector must be
// able to take a member of the stage, and groups must not share a member where the strategy
// alone shows it (the same cluster, or the same region of two groups selecting by region only;
// label overlaps need the fleet: rollout::GroupOverlaps).
std::vector<RolloutGroup> DecodeGroups(JsonDecoder& d, const json& list, const RolloutStage& stage,
                                       const std::string& path, FieldErrors* errors) {
  std::vector<RolloutGroup> out;
  if (!list.is_array() || list.empty()) {
    d.Error(path, list.is_array() ? "at least one group when given" : "must be a list");
    return out;
  }
  std::map<std::string, size_t> names, clusters, regions;  // -> the group that has it
  auto within = [](const std::vector<std::string>& stage_list, const std::string& v) {
    return stage_list.empty() ||
           std::find(stage_list.begin(), stage_list.end(), v) != stage_list.end();
  };
  for (size_t k = 0; k < list.size(); ++k) {
    const std::string p = path + "[" + std::to_string(k) + "]";
    const std::string also = " (also groups[";
    if (!d.ExpectObject(list[k], p)) continue;
    d.RejectUnknown(list[k], p, {"name", "selector", "maxConcurrency"});
    RolloutGroup g;
    g.name = Str(d, list[k], "name", p);
    if (g.name.empty()) {
      d.Error(p + ".name", "required");
    } else if (!IsDnsLabel(g.name)) {
      d.Error(p + ".name", "\"" + g.name + "\" must be a DNS label (a-z, 0-9, '-')");
    } else if (auto [it, fresh] = names.emplace(g.name, k); !fresh) {
      d.Error(p + ".name",
              "duplicate group \"" + g.name + "\"" + also + std::to_string(it->second) + "])");
    }
    const json* sel = JsonDecoder::Member(list[k], "selector");
    if (sel) g.selector = DecodeSelector(d, *sel, p + ".selector", errors);
    if (!sel || (sel->is_object() && g.selector.Empty())) {
      d.Error(p + ".selector",
              "required: name the group's clusters, regions or labels (an empty group would "
              "take every member of the stage)");
    }
    for (size_t n = 0; n < g.selector.clusters.size(); ++n) {
      const std::string& c = g.selector.clusters[n];
      const std::string at = p + ".selector.clusters[" + std::to_string(n) + "]";
      if (!within(stage.selector.clusters, c)) {
        d.Error(at, "cluster \"" + c + "\" is not in the stage (its selector.clusters)");
      } else if (auto [it, fresh] = clusters.emplace(c, k); !fresh) {
        d.Error(at, "cluster \"" + c + "\" is already in groups[" + std::to_string(it->second) +
                        "]: a member belongs to one group");
      }
    }
    const bool by_region_only = g.selector.clusters.empty() && g.selector.labels.Empty();
    for (size_t n = 0; n < g.selector.regions.size(); ++n) {
      const std::string& r = g.selector.regions[n];
      const std::string at = p + ".selector.regions[" + std::to_string(n) + "]";
      if (!within(stage.selector.regions, r)) {
        d.Error(at, "region \"" + r + "\" is not in the stage (its selector.regions)");
      } else if (by_region_only) {
        if (auto [it, fresh] = regions.emplace(r, k); !fresh) {
          d.Error(at, "region \"" + r + "\" is already in groups[" + std::to_string(it->second) +
                          "]: a member belongs to one group");
        }
      }
    }
    if (const json* v = JsonDecoder::Member(list[k], "maxConcurrency")) {
      g.max_concurrency = d.Int32(*v, p + ".maxConcurrency", 1).value_or(1);
    }
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace

std::string RolloutApproval(int64_t revision, const std::string& stage, const std::string& point) {
  return std::to_string(revision) + "/" + stage + (point == "after" ? "/after" : "");
}

std::string PromQlShapeError(const std::string& query) {
  if (query.find_first_not_of(" \t\n") == std::string::npos) return "must not be empty";
  std::string open;  // brackets not yet closed, innermost last
  for (size_t i = 0; i < query.size(); ++i) {
    const char c = query[i];
    const std::string at = " at offset " + std::to_string(i);
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') {
      return "control character" + at;
    }
    if (c == '"' || c == '\'' || c == '`') {
      // A string literal: escapes in "" and '' only (a raw `...` string has none).
      size_t k = i + 1;
      for (; k < query.size() && query[k] != c; ++k) {
        if (c != '`' && query[k] == '\\') ++k;
      }
      if (k >= query.size()) return std::string("string opened with ") + c + at + " is not closed";
      i = k;
      continue;
    }
    if (c == '#') {  // a comment runs to the end of the line
      while (i + 1 < query.size() && query[i + 1] != '\n') ++i;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') open.push_back(c);
    if (c == ')' || c == ']' || c == '}') {
      const char want = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (open.empty() || open.back() != want) {
        return std::string("'") + c + "'" + at +
               (open.empty() ? " closes nothing"
                             : " does not close '" + std::string(1, open.back()) + "'");
      }
      open.pop_back();
    }
  }
  if (!open.empty()) return std::string("'") + open.back() + "' is not closed";
  return "";
}

RolloutStrategySpec DecodeRolloutStrategySpec(const json& j, const std::string& path,
                                              FieldErrors* errors) {
  JsonDecoder d(errors);
  RolloutStrategySpec out;
  if (!d.ExpectObject(j, path)) {
    if (j.is_null()) d.Error(path, "required");
    return out;
  }
  d.RejectUnknown(j, path, {"stages", "onFailure", "gateTimeoutSeconds"});
  if (const json* v = JsonDecoder::Member(j, "onFailure")) {
    out.on_failure = d.Enum(*v, path + ".onFailure", {"halt", "rollback"}).value_or("halt");
  }
  out.gate_timeout_seconds = Seconds(d, j, "gateTimeoutSeconds", path, 600);
  if (out.gate_timeout_seconds == 0) d.Error(path + ".gateTimeoutSeconds", "must be >= 1");
  const json* stages = JsonDecoder::Member(j, "stages");
  if (!stages || !stages->is_array() || stages->empty()) {
    d.Error(path + ".stages",
            stages && !stages->is_array() ? "must be a list" : "required: at least one stage");
    return out;
  }
  std::map<std::string, size_t> names;     // stage name -> index
  std::map<std::string, size_t> clusters;  // cluster -> the stage that names it
  for (size_t i = 0; i < stages->size(); ++i) {
    const std::string p = path + ".stages[" + std::to_string(i) + "]";
    const json& sj = (*stages)[i];
    if (!d.ExpectObject(sj, p)) {
      if (sj.is_null()) d.Error(p, "must be an object");
      continue;
    }
    d.RejectUnknown(sj, p,
                    {"name", "selector", "maxConcurrency", "approval", "readySeconds",
                     "soakSeconds", "afterStageWaitSeconds", "expand", "continentLabel", "drain",
                     "maxRestarts", "prometheus", "after", "groups"});
    RolloutStage st;
    st.name = Str(d, sj, "name", p);
    if (st.name.empty()) {
      d.Error(p + ".name", "required");
    } else if (!IsDnsLabel(st.name)) {
      d.Error(p + ".name", "\"" + st.name + "\" must be a DNS label (a-z, 0-9, '-')");
    } else if (auto [it, fresh] = names.emplace(st.name, i); !fresh) {
      // Stages run in list order, so an order cannot loop; a name given twice would make
      // an approval ("revision/stage") ambiguous.
      d.Error(p + ".name", "duplicate stage \"" + st.name + "\" (also stages[" +
                               std::to_string(it->second) + "])");
    }
    if (const json* sel = JsonDecoder::Member(sj, "selector")) {
      st.selector = DecodeSelector(d, *sel, p + ".selector", errors);
    }
    for (size_t k = 0; k < st.selector.clusters.size(); ++k) {
      const std::string& c = st.selector.clusters[k];
      if (auto [it, fresh] = clusters.emplace(c, i); !fresh) {
        d.Error(p + ".selector.clusters[" + std::to_string(k) + "]",
                "cluster \"" + c + "\" is already in stages[" + std::to_string(it->second) + "]");
      }
    }
    if (const json* v = JsonDecoder::Member(sj, "maxConcurrency")) {
      st.max_concurrency = d.Int32(*v, p + ".maxConcurrency", 1).value_or(0);
    }
    if (const json* v = JsonDecoder::Member(sj, "approval")) {
      st.approval = d.Bool(*v, p + ".approval").value_or(false);
    }
    st.ready_seconds = Seconds(d, sj, "readySeconds", p, 0);
    st.soak_seconds = Seconds(d, sj, "soakSeconds", p, 0);
    st.after_stage_wait_seconds = Seconds(d, sj, "afterStageWaitSeconds", p, 0);
    if (const json* v = JsonDecoder::Member(sj, "maxRestarts")) {
      st.max_restarts = d.Int32(*v, p + ".maxRestarts", 0).value_or(-1);
    }
    if (const json* v = JsonDecoder::Member(sj, "drain")) {
      st.drain = d.Bool(*v, p + ".drain").value_or(false);
    }
    if (const json* v = JsonDecoder::Member(sj, "prometheus")) {
      st.prometheus = DecodePrometheusGate(d, *v, p + ".prometheus");
    }
    if (const json* v = JsonDecoder::Member(sj, "after")) {
      st.after = DecodeAfterStageGates(d, *v, p + ".after");
    }
    if (const json* v = JsonDecoder::Member(sj, "groups")) {
      // Beside groups, the stage's maxConcurrency caps the members changing at once across
      // all of them (each group's own cap still holds).
      st.groups = DecodeGroups(d, *v, st, p + ".groups", errors);
    }
    if (const json* v = JsonDecoder::Member(sj, "expand")) {
      st.expand = d.Enum(*v, p + ".expand", {"regionBySize", "regionPerContinent"}).value_or("");
    }
    if (const json* v = JsonDecoder::Member(sj, "continentLabel")) {
      st.continent_label = d.String(*v, p + ".continentLabel", false).value_or("");
      if (JsonDecoder::Member(sj, "expand") && st.expand != "regionPerContinent") {
        d.Error(p + ".continentLabel", "only with expand: regionPerContinent");
      } else if (st.continent_label.empty()) {
        d.Error(p + ".continentLabel", "must name a member label");
      }
    }
    out.stages.push_back(std::move(st));
  }
  return out;
}

json EncodeRolloutStrategySpec(const RolloutStrategySpec& s) {
  json stages = json::array();
  for (const RolloutStage& st : s.stages) {
    json sj = {{"name", st.name}};
    if (json sel = EncodeSelector(st.selector); !sel.empty()) sj["selector"] = std::move(sel);
    if (st.max_concurrency) sj["maxConcurrency"] = st.max_concurrency;
    if (st.approval) sj["approval"] = true;
    if (st.ready_seconds) sj["readySeconds"] = st.ready_seconds;
    if (st.soak_seconds) sj["soakSeconds"] = st.soak_seconds;
    if (st.after_stage_wait_seconds) sj["afterStageWaitSeconds"] = st.after_stage_wait_seconds;
    if (!st.expand.empty()) sj["expand"] = st.expand;
    if (st.expand == "regionPerContinent") sj["continentLabel"] = st.continent_label;
    if (st.drain) sj["drain"] = true;
    if (st.max_restarts >= 0) sj["maxRestarts"] = st.max_restarts;
    if (st.prometheus) sj["prometheus"] = EncodePrometheusGate(*st.prometheus);
    if (!st.after.Empty()) {
      json after = json::object();
      if (st.after.approval) after["approval"] = true;
      if (st.after.prometheus) after["prometheus"] = EncodePrometheusGate(*st.after.prometheus);
      sj["after"] = std::move(after);
    }
    if (!st.groups.empty()) {
      json groups = json::array();
      for (const RolloutGroup& g : st.groups) {
        groups.push_back({{"name", g.name},
                          {"selector", EncodeSelector(g.selector)},
                          {"maxConcurrency", g.max_concurrency}});
      }
      sj["groups"] = std::move(groups);
    }
    stages.push_back(std::move(sj));
  }
  return {{"stages", std::move(stages)},
          {"onFailure", s.on_failure},
          {"gateTimeoutSeconds", s.gate_timeout_seconds}};
}

WorkloadRolloutSpec DecodeWorkloadRolloutSpec(const json& j, const std::string& path,
                                              FieldErrors* errors) {
  JsonDecoder d(errors);
  WorkloadRolloutSpec out;
  if (!d.ExpectObject(j, path)) return out;
  d.RejectUnknown(j, path, {"strategyRef", "strategy", "paused"});
  if (const json* ref = JsonDecoder::Member(j, "strategyRef");
      ref && d.ExpectObject(*ref, path + ".strategyRef")) {
    d.RejectUnknown(*ref, path + ".strategyRef", {"name"});
    out.strategy_ref = Str(d, *ref, "name", path + ".strategyRef");
    if (out.strategy_ref.empty()) d.Error(path + ".strategyRef.name", "required");
  }
  if (const json* s = JsonDecoder::Member(j, "strategy")) {
    out.strategy = DecodeRolloutStrategySpec(*s, path + ".strategy", errors);
  }
  const bool has_ref = JsonDecoder::Member(j, "strategyRef") != nullptr;
  if (has_ref == out.strategy.has_value()) {
    d.Error(path, "exactly one of strategyRef and strategy is required");
  }
  if (const json* v = JsonDecoder::Member(j, "paused")) {
    out.paused = d.Bool(*v, path + ".paused").value_or(false);
  }
  return out;
}

json EncodeWorkloadRolloutSpec(const WorkloadRolloutSpec& s) {
  json j = json::object();
  if (!s.strategy_ref.empty()) j["strategyRef"] = {{"name", s.strategy_ref}};
  if (s.strategy) j["strategy"] = EncodeRolloutStrategySpec(*s.strategy);
  if (s.paused) j["paused"] = true;
  return j;
}

std::vector<WorkloadRevision> DecodeRevisions(const json& j, const std::string& path,
                                              FieldErrors* errors) {
  JsonDecoder d(errors);
  std::vector<WorkloadRevision> out;
  if (!j.is_array()) {
    d.Error(path, "must be a list");
    return out;
  }
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string p = path + "[" + std::to_string(i) + "]";
    if (!d.ExpectObject(j[i], p)) continue;
    d.RejectUnknown(j[i], p, {"revision", "templateHash", "template", "created"});
    WorkloadRevision r;
    r.revision = Int(d, j[i], "revision", p);
    r.template_hash = Str(d, j[i], "templateHash", p);
    if (const json* t = JsonDecoder::Member(j[i], "template")) r.template_ = *t;
    r.created = Str(d, j[i], "created", p);
    out.push_back(std::move(r));
  }
  return out;
}

json EncodeRevisions(const std::vector<WorkloadRevision>& revisions) {
  json arr = json::array();
  for (const WorkloadRevision& r : revisions) {
    json rj = {
        {"revision", r.revision}, {"templateHash", r.template_hash}, {"template", r.template_}};
    if (!r.created.empty()) rj["created"] = r.created;
    arr.push_back(std::move(rj));
  }
  return arr;
}

RolloutStatus DecodeRolloutStatus(const json& j, const std::string& path, FieldErrors* errors) {
  JsonDecoder d(errors);
  RolloutStatus out;
  if (!d.ExpectObject(j, path)) return out;
  d.RejectUnknown(j, path,
                  {"revision",      "stableRevision",    "phase",          "stage",
                   "stageName",     "started",           "batchStartedAt", "readySince",
                   "gatesPassedAt", "pausedAt",          "failedGate",     "message",
                   "members",       "derived",           "drain",          "drained",
                   "drainUntil",    "prometheusOkSince", "afterPassedAt",  "approvalPoint"});
  out.revision = Int(d, j, "revision", path);
  out.stable_revision = Int(d, j, "stableRevision", path);
  out.phase = Str(d, j, "phase", path);
  out.stage = static_cast<int32_t>(Int(d, j, "stage", path));
  out.stage_name = Str(d, j, "stageName", path);
  if (const json* v = JsonDecoder::Member(j, "started")) {
    out.started = d.StringList(*v, path + ".started");
  }
  out.batch_started_at = Str(d, j, "batchStartedAt", path);
  out.ready_since = Str(d, j, "readySince", path);
  out.gates_passed_at = Str(d, j, "gatesPassedAt", path);
  out.paused_at = Str(d, j, "pausedAt", path);
  out.prometheus_ok_since = Str(d, j, "prometheusOkSince", path);
  out.drain_until = Str(d, j, "drainUntil", path);
  out.after_passed_at = Str(d, j, "afterPassedAt", path);
  out.approval_point = Str(d, j, "approvalPoint", path);
  out.failed_gate = Str(d, j, "failedGate", path);
  out.message = Str(d, j, "message", path);
  out.drain = Str(d, j, "drain", path);
  if (const json* v = JsonDecoder::Member(j, "drained")) {
    out.drained = d.StringList(*v, path + ".drained");
  }
  ForEachListed(d, j, "members", path, [&](const json& item, const std::string& p) {
    d.RejectUnknown(item, p, {"cluster", "revision"});
    out.members.push_back({Str(d, item, "cluster", p), Int(d, item, "revision", p)});
  });
  ForEachListed(d, j, "derived", path, [&](const json& item, const std::string& p) {
    d.RejectUnknown(item, p, {"stage", "regions"});
    DerivedStage ds;
    ds.stage = Str(d, item, "stage", p);
    if (const json* r = JsonDecoder::Member(item, "regions")) {
      ds.regions = d.StringList(*r, p + ".regions");
    }
    out.derived.push_back(std::move(ds));
  });
  return out;
}

json EncodeRolloutStatus(const RolloutStatus& s) {
  json j = {{"revision", s.revision}, {"phase", s.phase}, {"stage", s.stage}};
  if (s.stable_revision) j["stableRevision"] = s.stable_revision;
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  put("stageName", s.stage_name);
  if (!s.started.empty()) j["started"] = s.started;
  put("batchStartedAt", s.batch_started_at);
  put("readySince", s.ready_since);
  put("gatesPassedAt", s.gates_passed_at);
  put("pausedAt", s.paused_at);
  put("prometheusOkSince", s.prometheus_ok_since);
  put("drainUntil", s.drain_until);
  put("afterPassedAt", s.after_passed_at);
  put("approvalPoint", s.approval_point);
  put("failedGate", s.failed_gate);
  put("message", s.message);
  put("drain", s.drain);
  if (!s.drained.empty()) j["drained"] = s.drained;
  if (!s.members.empty()) {
    json arr = json::array();
    for (const MemberRevision& m : s.members) {
      arr.push_back({{"cluster", m.cluster}, {"revision", m.revision}});
    }
    j["members"] = std::move(arr);
  }
  if (!s.derived.empty()) {
    json arr = json::array();
    for (const DerivedStage& ds : s.derived) {
      arr.push_back({{"stage", ds.stage}, {"regions", ds.regions}});
    }
    j["derived"] = std::move(arr);
  }
  return j;
}

std::string TemplateHash(const json& template_) {
  // FNV-1a 64 over the canonical dump (nlohmann sorts object keys).
  const std::string text = template_.dump();
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace meridian::api
