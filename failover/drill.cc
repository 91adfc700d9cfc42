#include "failover/drill.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "api/codec.h"
#include "api/conditions.h"
#include "api/explanation.h"
#include "placement/engine.h"
#include "residency/policy.h"
#include "scheduling/placement_inputs.h"

namespace meridian::failover {
namespace {

using nlohmann::json;

const api::MemberCluster* FindMember(const std::vector<api::MemberCluster>& members,
                                     const std::string& name) {
  for (const api::MemberCluster& m : members) {
    if (m.metadata.name == name) return &m;
  }
  return nullptr;
}

std::string WorkloadKey(const api::FederatedWorkload& w) {
  return w.metadata.ns + "/" + w.metadata.name;
}

int64_t DesiredOf(const api::FederatedWorkload& w) {
  if (w.status.desired_replicas > 0) return w.status.desired_replicas;
  return api::TemplateReplicas(w.spec).value_or(0);
}

bool Reachable(const api::MemberCluster& m) {
  const api::Condition* c = api::FindCondition(m.status.conditions, "Reachable");
  return c == nullptr || c->status != "False";
}

bool HasHealthyZone(const api::MemberCluster& m) {
  if (m.status.zones.empty()) return true;  // not reported: nothing says it failed
  return std::any_of(m.status.zones.begin(), m.status.zones.end(),
                     [](const api::ZoneStatus& z) { return z.healthy; });
}

json OptMs(const std::optional<int64_t>& ms) { return ms ? json(*ms) : json(nullptr); }

json OptSeconds(const std::optional<int64_t>& ms) {
  return ms ? json(static_cast<double>(*ms) / 1000.0) : json(nullptr);
}

json IntMap(const std::map<std::string, int64_t>& m) {
  json j = json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

json ViolationsJson(const std::vector<ResidencyViolation>& violations) {
  json out = json::array();
  for (const ResidencyViolation& v : violations) {
    out.push_back({{"workload", v.workload},
                   {"cluster", v.cluster},
                   {"jurisdiction", v.jurisdiction},
                   {"replicas", v.replicas}});
  }
  return out;
}

json UnplacedJson(const std::vector<UnplacedReplicas>& unplaced) {
  json out = json::array();
  for (const UnplacedReplicas& u : unplaced) {
    out.push_back({{"workload", u.workload}, {"replicas", u.replicas}, {"why", u.why}});
  }
  return out;
}

// Reads report JSON defensively: the report is written by this controller, but a user may
// have edited it; a wrong type is an error naming the field, never an exception.
class ReportReader {
 public:
  explicit ReportReader(const json& j) : j_(j) {}
  const Status& status() const { return status_; }

  void Str(const char* key, std::string* out) {
    if (const json* v = Get(key, json::value_t::string)) *out = v->get<std::string>();
  }
  void Bool(const char* key, bool* out) {
    if (const json* v = Get(key, json::value_t::boolean)) *out = v->get<bool>();
  }
  void Int(const json& j, const std::string& path, const char* key, int64_t* out) {
    const json* v = Member(j, key);
    if (!v) return;
    if (!v->is_number_integer()) {
      Fail(path + key, "want an integer");
      return;
    }
    *out = v->get<int64_t>();
  }
  void Int(const char* key, int64_t* out) { Int(j_, "status.report.", key, out); }
  void OptInt(const char* key, std::optional<int64_t>* out) {
    const json* v = Member(j_, key);
    if (!v || v->is_null()) return;
    int64_t x = 0;
    Int(key, &x);
    *out = x;
  }
  void Map(const json& j, const std::string& path, std::map<std::string, int64_t>* out) {
    if (!j.is_object()) {
      Fail(path, "want an object of integers");
      return;
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!it->is_number_integer()) {
        Fail(path + "." + it.key(), "want an integer");
        continue;
      }
      (*out)[it.key()] = it->get<int64_t>();
    }
  }
  void Map(const char* key, std::map<std::string, int64_t>* out) {
    if (const json* v = Member(j_, key)) Map(*v, std::string("status.report.") + key, out);
  }
  // Calls `each(item, path)` for every element of the array `key`.
  template <typename F>
  void Array(const char* key, F each) {
    const json* v = Get(key, json::value_t::array);
    if (!v) return;
    for (size_t i = 0; i < v->size(); ++i) {
      std::string path = std::string("status.report.") + key + "[" + std::to_string(i) + "]";
      if (!(*v)[i].is_object()) {
        Fail(path, "want an object");
        continue;
      }
      each((*v)[i], path);
    }
  }
  static std::string StrOf(const json& j, const char* key) {
    const json* v = Member(j, key);
    return v && v->is_string() ? v->get<std::string>() : "";
  }
  static const json* Member(const json& j, const char* key) {
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
  }
  void Fail(const std::string& path, const std::string& why) {
    if (status_.ok()) status_ = InvalidArgumentError(path + ": " + why);
  }

 private:
  const json* Get(const char* key, json::value_t type) {
    const json* v = Member(j_, key);
    if (!v || v->is_null()) return nullptr;
    if (v->type() != type) {
      Fail(std::string("status.report.") + key, std::string("want a ") + json(type).type_name());
      return nullptr;
    }
    return v;
  }

  const json& j_;
  Status status_;
};

std::map<std::string, int64_t> PlacementMap(const std::vector<api::ClusterPlacement>& placement) {
  std::map<std::string, int64_t> out;
  for (const api::ClusterPlacement& p : placement) {
    if (p.replicas != 0) out[p.cluster] += p.replicas;
  }
  return out;
}

std::map<std::string, int64_t> Difference(const std::map<std::string, int64_t>& after,
                                          const std::map<std::string, int64_t>& before) {
  std::map<std::string, int64_t> out;
  for (const auto& [k, v] : after) out[k] += v;
  for (const auto& [k, v] : before) out[k] -= v;
  std::erase_if(out, [](const auto& kv) { return kv.second == 0; });
  return out;
}

// Appends `sample`; beyond kMaxTimelineSamples every other sample is dropped (the last kept).
void AppendThinned(std::vector<DrillSample>* timeline, DrillSample sample) {
  timeline->push_back(std::move(sample));
  if (timeline->size() <= kMaxTimelineSamples) return;
  std::vector<DrillSample> thinned;
  for (size_t i = 0; i < timeline->size(); ++i) {
    if (i % 2 == 0 || i + 1 == timeline->size()) thinned.push_back(std::move((*timeline)[i]));
  }
  *timeline = std::move(thinned);
}

const api::FederatedWorkload* FindWorkload(const std::vector<api::FederatedWorkload>& workloads,
                                           const std::string& key) {
  for (const api::FederatedWorkload& w : workloads) {
    if (WorkloadKey(w) == key) return &w;
  }
  return nullptr;
}

std::string DegradedMessage(const api::FederatedWorkloadStatus& status) {
  const api::Condition* c = api::FindCondition(status.conditions, "Degraded");
  return c != nullptr && c->status == "True" ? c->message : "";
}

void TrackUnplacedAndResidency(DrillRecord* r, const std::vector<api::FederatedWorkload>& followed,
                               const std::vector<api::MemberCluster>& members,
                               const std::vector<api::ResidencyPolicy>& policies,
                               const placement::TopologySpec& topology);

}  // namespace

std::string DescribeTarget(const api::DrillTarget& target) {
  if (!target.zone.empty()) return "zone=" + target.zone;
  if (!target.region.empty()) return "region=" + target.region;
  return "cluster=" + target.cluster;
}

bool TargetTouches(const api::DrillTarget& target, const api::MemberCluster& member) {
  if (!target.cluster.empty()) return member.metadata.name == target.cluster;
  if (!target.region.empty()) return member.spec.region == target.region;
  const auto& zones = member.spec.zones;
  return !target.zone.empty() && std::find(zones.begin(), zones.end(), target.zone) != zones.end();
}

Status CheckTargetExists(const api::DrillTarget& target,
                         const std::vector<api::MemberCluster>& members) {
  for (const api::MemberCluster& m : members) {
    if (TargetTouches(target, m)) return Status::Ok();
  }
  std::string field = !target.zone.empty()     ? "spec.target.zone"
                      : !target.region.empty() ? "spec.target.region"
                                               : "spec.target.cluster";
  std::string value = !target.zone.empty()     ? target.zone
                      : !target.region.empty() ? target.region
                                               : target.cluster;
  return NotFoundError(field + ": no member cluster has \"" + value + "\"");
}

int64_t ReplicasOnTarget(const api::DrillTarget& target,
                         const std::vector<api::ClusterPlacement>& placement,
                         const std::vector<api::MemberCluster>& members) {
  int64_t n = 0;
  for (const api::ClusterPlacement& p : placement) {
    const api::MemberCluster* m = FindMember(members, p.cluster);
    if (m == nullptr || !TargetTouches(target, *m)) continue;
    if (target.zone.empty()) {
      n += p.replicas;
    } else if (p.zones.empty()) {
      n += p.replicas;
    } else if (auto it = p.zones.find(target.zone); it != p.zones.end()) {
      n += it->second;
    }
  }
  return n;
}

bool TargetSeenFailed(const api::DrillTarget& target,
                      const std::vector<api::MemberCluster>& members) {
  if (!target.zone.empty()) {
    for (const api::MemberCluster& m : members) {
      if (!TargetTouches(target, m)) continue;
      if (!Reachable(m)) return true;
      for (const api::ZoneStatus& z : m.status.zones) {
        if (z.name == target.zone && !z.healthy) return true;
      }
    }
    return false;
  }
  bool any = false;
  for (const api::MemberCluster& m : members) {
    if (!TargetTouches(target, m)) continue;
    any = true;
    if (Reachable(m) && HasHealthyZone(m)) return false;
  }
  return any;
}

std::optional<Timestamp> TargetFailedSince(const api::DrillTarget& target,
                                           const std::vector<api::MemberCluster>& members) {
  if (!TargetSeenFailed(target, members)) return std::nullopt;
  auto parse = [](const std::string& text) -> std::optional<Timestamp> {
    Timestamp t;
    if (text.empty() || !ParseRfc3339(text, &t)) return std::nullopt;
    return t;
  };
  auto unreachable_since = [&](const api::MemberCluster& m) -> std::optional<Timestamp> {
    const api::Condition* c = api::FindCondition(m.status.conditions, "Reachable");
    if (c == nullptr || c->status != "False") return std::nullopt;
    return parse(c->last_transition_time);
  };
  std::optional<Timestamp> out;
  if (!target.zone.empty()) {
    // The zone is lost where the first member lost it (an unreachable member lost it all).
    for (const api::MemberCluster& m : members) {
      if (!TargetTouches(target, m)) continue;
      std::optional<Timestamp> t = unreachable_since(m);
      for (const api::ZoneStatus& z : m.status.zones) {
        if (z.name != target.zone || z.healthy) continue;
        std::optional<Timestamp> zt = parse(z.last_transition_time);
        if (zt && (!t || *zt < *t)) t = zt;
      }
      if (t && (!out || *t < *out)) out = t;
    }
    return out;
  }
  // A cluster or region is lost when the last of its members is.
  for (const api::MemberCluster& m : members) {
    if (!TargetTouches(target, m)) continue;
    std::optional<Timestamp> t = unreachable_since(m);
    if (!t) {  // reachable without a healthy zone: failed when its last zone failed
      for (const api::ZoneStatus& z : m.status.zones) {
        std::optional<Timestamp> zt = parse(z.last_transition_time);
        if (!zt) return std::nullopt;
        if (!t || *zt > *t) t = zt;
      }
    }
    if (!t) return std::nullopt;
    if (!out || *t > *out) out = t;
  }
  return out;
}

std::optional<std::vector<std::string>> AllowedJurisdictions(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies) {
  std::optional<std::set<std::string>> allowed;
  auto restrict = [&](const std::vector<std::string>& list) {
    std::set<std::string> next(list.begin(), list.end());
    if (allowed) {
      std::erase_if(next, [&](const std::string& j) { return !allowed->contains(j); });
    }
    allowed = std::move(next);
  };
  if (workload.spec.placement.residency) restrict(workload.spec.placement.residency->jurisdictions);
  for (const placement::ResidencyRule& rule : residency::ResidencyRulesFor(workload, policies)) {
    restrict(rule.jurisdictions);
  }
  if (!allowed) return std::nullopt;
  return std::vector<std::string>(allowed->begin(), allowed->end());
}

std::string JurisdictionOf(const api::MemberCluster& member, const placement::TopologySpec& topology) {
  if (!member.spec.jurisdiction.empty()) return member.spec.jurisdiction;
  for (const placement::RegionSpec& r : topology.regions) {
    if (r.name == member.spec.region) return r.jurisdiction;
  }
  return "";
}

std::vector<ResidencyViolation> FindResidencyViolations(
    const std::vector<api::FederatedWorkload>& workloads,
    const std::vector<api::MemberCluster>& members,
    const std::vector<api::ResidencyPolicy>& policies, const placement::TopologySpec& topology) {
  std::vector<ResidencyViolation> out;
  for (const api::FederatedWorkload& w : workloads) {
    std::optional<std::vector<std::string>> allowed = AllowedJurisdictions(w, policies);
    if (!allowed) continue;
    for (const api::ClusterPlacement& p : w.status.placement) {
      if (p.replicas <= 0) continue;
      const api::MemberCluster* m = FindMember(members, p.cluster);
      if (m == nullptr) continue;
      std::string j = JurisdictionOf(*m, topology);
      if (std::find(allowed->begin(), allowed->end(), j) == allowed->end()) {
        out.push_back({WorkloadKey(w), p.cluster, j, p.replicas});
      }
    }
  }
  return out;
}

std::map<std::string, int64_t> ReplicasPerRegion(const std::vector<api::ClusterPlacement>& placement,
                                                 const std::vector<api::MemberCluster>& members) {
  std::map<std::string, int64_t> out;
  for (const api::ClusterPlacement& p : placement) {
    if (p.replicas == 0) continue;
    const api::MemberCluster* m = FindMember(members, p.cluster);
    out[m ? m->spec.region : "?"] += p.replicas;
  }
  return out;
}

DrillSample TakeSample(const api::DrillTarget& target, int64_t at_ms,
                       const std::vector<api::FederatedWorkload>& workloads,
                       const std::vector<api::MemberCluster>& members,
                       const MemberReadiness* observed) {
  DrillSample s;
  s.at_ms = at_ms;
  auto region_of = [&](const std::string& cluster) {
    const api::MemberCluster* m = FindMember(members, cluster);
    return m ? m->spec.region : std::string("?");
  };
  for (const api::FederatedWorkload& w : workloads) {
    // Copied objects (a Service, a ConfigMap: no spec.replicas) are objects, not replicas:
    // availability is about replicas, and the members report no readiness for them.
    if (observed != nullptr && !api::TemplateReplicas(w.spec)) continue;
    WorkloadSampleFigures& mine = s.by_workload[WorkloadKey(w)];
    mine.desired = DesiredOf(w);
    mine.on_target = ReplicasOnTarget(target, w.status.placement, members);
    s.desired += DesiredOf(w);
    for (const auto& [region, n] : ReplicasPerRegion(w.status.placement, members)) {
      s.desired_by_region[region] += n;
    }
    s.on_target += ReplicasOnTarget(target, w.status.placement, members);
    const std::map<std::string, int64_t> placed = PlacementMap(w.status.placement);
    // Ready per cluster: from the members when they were read, else from status.clusters.
    std::map<std::string, int64_t> ready;
    if (observed != nullptr) {
      const std::string key = w.metadata.ns + "." + w.metadata.name;
      for (const auto& [cluster, by_workload] : observed->ready) {
        if (observed->unverified.count(cluster)) continue;
        auto it = by_workload.find(key);
        if (it != by_workload.end()) ready[cluster] += it->second;
      }
    } else {
      for (const api::ClusterSyncStatus& c : w.status.clusters) ready[c.cluster] += c.ready_replicas;
    }
    for (const auto& [cluster, n] : ready) {
      if (observed != nullptr) mine.ready += n;
      s.ready_by_region[region_of(cluster)] += n;
      auto it = placed.find(cluster);
      if (it != placed.end()) mine.ready_as_placed += std::min(n, it->second);
    }
    if (observed == nullptr) mine.ready = w.status.ready_replicas;
    s.ready += mine.ready;
    s.ready_as_placed += mine.ready_as_placed;
  }
  if (observed != nullptr) {
    s.from_members = true;
    s.unverified.assign(observed->unverified.begin(), observed->unverified.end());
  }
  // A region that is placed on but has nothing ready yet is a 0 on the chart, not a gap.
  for (const auto& [region, n] : s.desired_by_region) s.ready_by_region.try_emplace(region, 0);
  s.target_seen_failed = TargetSeenFailed(target, members);
  return s;
}

bool AbortConditionFires(const DrillSample& sample, std::optional<int32_t> min_availability_percent) {
  if (!min_availability_percent || sample.desired <= 0) return false;
  return sample.ready * 100 < int64_t{*min_availability_percent} * sample.desired;
}

json RecordToJson(const DrillRecord& r) {
  json timeline = json::array();
  for (const DrillSample& s : r.timeline) {
    timeline.push_back({{"atMs", s.at_ms},
                        {"ready", s.ready},
                        {"desired", s.desired},
                        {"readyByRegion", IntMap(s.ready_by_region)},
                        {"desiredByRegion", IntMap(s.desired_by_region)},
                        {"readyAsPlaced", s.ready_as_placed},
                        {"onTarget", s.on_target},
                        {"targetSeenFailed", s.target_seen_failed}});
    if (s.from_members) timeline.back()["fromMembers"] = true;
    if (!s.unverified.empty()) timeline.back()["unverifiedMembers"] = s.unverified;
    if (s.dns) timeline.back()["dns"] = DnsSampleToJson(*s.dns);
  }
  json before = json::array();
  for (const WorkloadBefore& b : r.before) {
    before.push_back({{"workload", b.workload}, {"placement", IntMap(b.placement)}, {"onTarget", b.on_target}});
  }
  auto since_start = [](const std::optional<int64_t>& ms) { return OptSeconds(ms); };
  json j = {
      {"target", r.target},
      {"mode", r.mode},
      {"failure", r.failure},
      {"startedAtMs", r.started_at_ms},
      {"minAvailabilityPercent",
       r.min_availability_percent ? json(*r.min_availability_percent) : json(nullptr)},
      {"workloads", before},
      {"timeline", timeline},
      {"events",
       {{"detectedMs", OptMs(r.detected_ms)},
        {"replacedMs", OptMs(r.replaced_ms)},
        {"fullyReadyMs", OptMs(r.fully_ready_ms)},
        {"restoredMs", OptMs(r.restored_ms)},
        {"abortedMs", OptMs(r.aborted_ms)},
        {"returnedMs", OptMs(r.returned_ms)}}},
      {"timeToDetectSeconds", since_start(r.detected_ms)},
      {"timeToReplaceSeconds", since_start(r.replaced_ms)},
      {"timeToFullReadySeconds", since_start(r.fully_ready_ms)},
      {"abortConditionFired", r.abort_condition_fired},
      {"abortReason", r.abort_reason},
      {"faultInjected", r.fault_injected},
      {"faultHealed", r.fault_healed},
      {"replicasMovedPerRegion", IntMap(r.replicas_moved_per_region)},
      {"placedBeforePerRegion", IntMap(r.placed_before_per_region)},
      {"placedWhileFailedPerRegion", IntMap(r.placed_during_per_region)},
      {"residencyViolations", static_cast<int64_t>(r.residency_violations.size())},
      {"residencyViolationDetails", ViolationsJson(r.residency_violations)},
      {"unplaced", UnplacedJson(r.unplaced)},
      {"lowestReady", r.lowest_ready},
      {"lowestReadyDesired", r.lowest_ready_desired},
  };
  if (!r.return_observation.empty()) {
    j["returnObservation"] = r.return_observation;
    j["returnObservedUntilMs"] = OptMs(r.return_watch_until_ms);
    j["returned"] = r.returned_ms.has_value();
    j["timeToReturnSeconds"] = r.returned_ms && r.restored_ms
                                   ? OptSeconds(*r.returned_ms - *r.restored_ms)
                                   : json(nullptr);
    j["returnProgress"] = {{"want", r.return_progress.want},
                           {"placed", r.return_progress.placed},
                           {"ready", r.return_progress.ready},
                           {"before", r.return_progress.before}};
  }
  const int64_t last_ms = r.timeline.empty() ? 0 : r.timeline.back().at_ms;
  json per_workload = json::array();
  for (const auto& [key, m] : r.workloads) {
    json w = {{"workload", key},
              {"onTargetBefore", m.on_target_before},
              {"replacedMs", OptMs(m.replaced_ms)},
              {"fullyReadyMs", OptMs(m.fully_ready_ms)},
              {"returnedMs", OptMs(m.returned_ms)},
              {"lowestReady", m.lowest_ready},
              {"lowestReadyDesired", m.lowest_ready_desired}};
    if (r.slo_percent) {
      w["belowSloMs"] = m.below_slo.closed_ms;
      w["belowSloSinceMs"] = OptMs(m.below_slo.since_ms);
      w["secondsBelowSlo"] = static_cast<double>(m.below_slo.TotalAt(last_ms)) / 1000.0;
    }
    per_workload.push_back(std::move(w));
  }
  j["perWorkload"] = std::move(per_workload);
  if (r.dns) j["dns"] = DnsSummaryToJson(*r.dns);
  auto percentiles = [](const MilestonePercentiles& p) {
    return json{{"p50", OptSeconds(p.p50_ms)}, {"p95", OptSeconds(p.p95_ms)},
                {"of", p.of}, {"missing", p.missing}};
  };
  j["percentiles"] = {{"timeToReplaceSeconds", percentiles(ReplacePercentiles(r))},
                      {"timeToFullReadySeconds", percentiles(FullReadyPercentiles(r))},
                      {"timeToReturnSeconds", percentiles(ReturnPercentiles(r))}};
  if (r.slo_percent) {
    j["slo"] = {{"minAvailabilityPercent", *r.slo_percent},
                {"belowMs", r.below_slo.closed_ms},
                {"belowSinceMs", OptMs(r.below_slo.since_ms)},
                {"secondsBelow", static_cast<double>(r.below_slo.TotalAt(last_ms)) / 1000.0}};
  }
  if (r.lowest_ready >= 0 && r.lowest_ready_desired > 0) {
    j["lowestAvailabilityPercent"] =
        std::floor(1000.0 * static_cast<double>(r.lowest_ready) /
                   static_cast<double>(r.lowest_ready_desired)) / 10.0;
  }
  return j;
}

StatusOr<DrillRecord> RecordFromJson(const json& report) {
  DrillRecord r;
  if (!report.is_object()) return InvalidArgumentError("status.report: want an object");
  ReportReader in(report);
  in.Str("target", &r.target);
  in.Str("mode", &r.mode);
  in.Int("startedAtMs", &r.started_at_ms);
  std::optional<int64_t> percent;
  in.OptInt("minAvailabilityPercent", &percent);
  if (percent) r.min_availability_percent = static_cast<int32_t>(*percent);
  in.Array("workloads", [&](const json& item, const std::string& path) {
    WorkloadBefore b;
    b.workload = ReportReader::StrOf(item, "workload");
    if (const json* p = ReportReader::Member(item, "placement")) in.Map(*p, path + ".placement", &b.placement);
    in.Int(item, path + ".", "onTarget", &b.on_target);
    r.before.push_back(std::move(b));
  });
  in.Array("timeline", [&](const json& item, const std::string& path) {
    DrillSample s;
    in.Int(item, path + ".", "atMs", &s.at_ms);
    in.Int(item, path + ".", "ready", &s.ready);
    in.Int(item, path + ".", "desired", &s.desired);
    in.Int(item, path + ".", "onTarget", &s.on_target);
    in.Int(item, path + ".", "readyAsPlaced", &s.ready_as_placed);
    if (const json* m = ReportReader::Member(item, "readyByRegion")) in.Map(*m, path + ".readyByRegion", &s.ready_by_region);
    if (const json* m = ReportReader::Member(item, "desiredByRegion")) in.Map(*m, path + ".desiredByRegion", &s.desired_by_region);
    if (const json* b = ReportReader::Member(item, "targetSeenFailed"); b && b->is_boolean()) s.target_seen_failed = b->get<bool>();
    if (const json* b = ReportReader::Member(item, "fromMembers"); b && b->is_boolean()) s.from_members = b->get<bool>();
    if (const json* u = ReportReader::Member(item, "unverifiedMembers"); u && u->is_array()) {
      for (const json& name : *u) {
        if (name.is_string()) s.unverified.push_back(name.get<std::string>());
      }
    }
    if (const json* d = ReportReader::Member(item, "dns"); d && !d->is_null()) {
      StatusOr<DnsAnswerSample> dns = DnsSampleFromJson(*d, "");
      if (dns.ok()) {
        s.dns = std::move(dns).value();
      } else {
        in.Fail(path + ".dns", dns.status().message());
      }
    }
    r.timeline.push_back(std::move(s));
  });
  if (const json* e = ReportReader::Member(report, "events"); e && e->is_object()) {
    ReportReader events(*e);
    events.OptInt("detectedMs", &r.detected_ms);
    events.OptInt("replacedMs", &r.replaced_ms);
    events.OptInt("fullyReadyMs", &r.fully_ready_ms);
    events.OptInt("restoredMs", &r.restored_ms);
    events.OptInt("abortedMs", &r.aborted_ms);
    events.OptInt("returnedMs", &r.returned_ms);
    if (!events.status().ok()) in.Fail("status.report.events", events.status().message());
  }
  in.Str("failure", &r.failure);
  in.Bool("abortConditionFired", &r.abort_condition_fired);
  in.Str("abortReason", &r.abort_reason);
  in.Bool("faultInjected", &r.fault_injected);
  in.Bool("faultHealed", &r.fault_healed);
  in.Map("replicasMovedPerRegion", &r.replicas_moved_per_region);
  in.Map("placedBeforePerRegion", &r.placed_before_per_region);
  in.Map("placedWhileFailedPerRegion", &r.placed_during_per_region);
  in.Array("residencyViolationDetails", [&](const json& item, const std::string& path) {
    ResidencyViolation v;
    v.workload = ReportReader::StrOf(item, "workload");
    v.cluster = ReportReader::StrOf(item, "cluster");
    v.jurisdiction = ReportReader::StrOf(item, "jurisdiction");
    in.Int(item, path + ".", "replicas", &v.replicas);
    r.residency_violations.push_back(std::move(v));
  });
  in.Array("unplaced", [&](const json& item, const std::string& path) {
    UnplacedReplicas u;
    u.workload = ReportReader::StrOf(item, "workload");
    u.why = ReportReader::StrOf(item, "why");
    in.Int(item, path + ".", "replicas", &u.replicas);
    r.unplaced.push_back(std::move(u));
  });
  in.Int("lowestReady", &r.lowest_ready);
  in.Int("lowestReadyDesired", &r.lowest_ready_desired);
  in.Str("returnObservation", &r.return_observation);
  if (!r.return_observation.empty() &&
      !std::set<std::string>{kReturnOff, kReturnNothing, kReturnWatching, kReturnReturned,
                             kReturnNotReturned}
           .contains(r.return_observation)) {
    in.Fail("status.report.returnObservation", "unknown value \"" + r.return_observation + "\"");
  }
  in.OptInt("returnObservedUntilMs", &r.return_watch_until_ms);
  if (const json* p = ReportReader::Member(report, "returnProgress"); p && !p->is_null()) {
    if (!p->is_object()) {
      in.Fail("status.report.returnProgress", "want an object");
    } else {
      in.Int(*p, "status.report.returnProgress.", "want", &r.return_progress.want);
      in.Int(*p, "status.report.returnProgress.", "placed", &r.return_progress.placed);
      in.Int(*p, "status.report.returnProgress.", "ready", &r.return_progress.ready);
      // Reports written before `before` existed waited for what they had before: want.
      r.return_progress.before = r.return_progress.want;
      in.Int(*p, "status.report.returnProgress.", "before", &r.return_progress.before);
    }
  }
  // Nested optional integers (null = not reached).
  auto opt_int = [&](const json& obj, const std::string& path, const char* key,
                     std::optional<int64_t>* out) {
    const json* v = ReportReader::Member(obj, key);
    if (!v || v->is_null()) return;
    int64_t x = 0;
    in.Int(obj, path, key, &x);
    *out = x;
  };
  if (const json* slo = ReportReader::Member(report, "slo"); slo && !slo->is_null()) {
    if (!slo->is_object()) {
      in.Fail("status.report.slo", "want an object");
    } else {
      int64_t percent = 0;
      in.Int(*slo, "status.report.slo.", "minAvailabilityPercent", &percent);
      r.slo_percent = static_cast<int32_t>(std::clamp<int64_t>(percent, 0, 100));
      in.Int(*slo, "status.report.slo.", "belowMs", &r.below_slo.closed_ms);
      opt_int(*slo, "status.report.slo.", "belowSinceMs", &r.below_slo.since_ms);
    }
  }
  in.Array("perWorkload", [&](const json& item, const std::string& path) {
    WorkloadMilestones m;
    const std::string prefix = path + ".";
    in.Int(item, prefix, "onTargetBefore", &m.on_target_before);
    opt_int(item, prefix, "replacedMs", &m.replaced_ms);
    opt_int(item, prefix, "fullyReadyMs", &m.fully_ready_ms);
    opt_int(item, prefix, "returnedMs", &m.returned_ms);
    in.Int(item, prefix, "lowestReady", &m.lowest_ready);
    in.Int(item, prefix, "lowestReadyDesired", &m.lowest_ready_desired);
    in.Int(item, prefix, "belowSloMs", &m.below_slo.closed_ms);
    opt_int(item, prefix, "belowSloSinceMs", &m.below_slo.since_ms);
    r.workloads[ReportReader::StrOf(item, "workload")] = m;
  });
  if (const json* d = ReportReader::Member(report, "dns"); d && !d->is_null()) {
    StatusOr<DnsAnswerSummary> dns = DnsSummaryFromJson(*d, "");
    if (dns.ok()) {
      r.dns = std::move(dns).value();
    } else {
      in.Fail("status.report.dns", dns.status().message());
    }
  }
  if (!in.status().ok()) return in.status();
  return r;
}

namespace {

// Below the SLO: ready * 100 < percent * desired (nothing desired is never below).
bool BelowSlo(int64_t ready, int64_t desired, int32_t percent) {
  return desired > 0 && ready * 100 < int64_t{percent} * desired;
}

void TrackBelow(TimeBelow* below, bool is_below, int64_t at_ms) {
  if (is_below && !below->since_ms) below->since_ms = at_ms;
  if (!is_below && below->since_ms) {
    below->closed_ms += at_ms - *below->since_ms;
    below->since_ms.reset();
  }
}

// Lowest ready/desired so far, compared as fractions without dividing.
void TrackLowest(int64_t ready, int64_t desired, int64_t* lowest_ready, int64_t* lowest_desired) {
  if (*lowest_ready < 0 ||
      (desired > 0 && (*lowest_desired <= 0 || ready * *lowest_desired < *lowest_ready * desired))) {
    *lowest_ready = ready;
    *lowest_desired = desired;
  }
}

// When a sample's milestones happened (DrillSample::placement_read_ms). A placement change
// first seen in this sample happened after the previous pass read the placement and before
// this one did: the middle of that interval (off by at most half a pass gap, not late by a
// whole one; the previous read is estimated with this pass's lag). Readiness is read from the
// members after that: the middle of the member reads. Neither before the detection (both are
// estimates; a move cannot precede what caused it).
struct SampleTimes {
  int64_t placement_ms = 0;
  int64_t readiness_ms = 0;
};
SampleTimes TimesOf(const DrillRecord& r, const DrillSample& sample) {
  const int64_t floor = r.detected_ms.value_or(0);
  const int64_t read = std::min(sample.placement_read_ms.value_or(sample.at_ms), sample.at_ms);
  const int64_t lag = sample.at_ms - read;
  const int64_t previous_read =
      r.timeline.empty() ? read : std::clamp<int64_t>(r.timeline.back().at_ms - lag, 0, read);
  int64_t placement = previous_read + (read - previous_read) / 2;
  placement = std::min(std::max(placement, floor), std::max(read, floor));
  const int64_t readiness = read + (sample.at_ms - read) / 2;
  return {placement, std::max(readiness, placement)};
}

// Folds a sample into the SLO time and each followed workload's milestones; `returned`
// (after the restore) says which hurt workloads are back on the target, ready.
void TrackWorkloads(DrillRecord* r, const DrillSample& sample,
                    const std::map<std::string, bool>* returned) {
  if (r->slo_percent) {
    TrackBelow(&r->below_slo, BelowSlo(sample.ready, sample.desired, *r->slo_percent), sample.at_ms);
  }
  for (auto& [key, m] : r->workloads) {
    auto it = sample.by_workload.find(key);
    if (it == sample.by_workload.end()) continue;  // deleted, or a copied object
    const WorkloadSampleFigures& f = it->second;
    TrackLowest(f.ready, f.desired, &m.lowest_ready, &m.lowest_ready_desired);
    if (r->slo_percent) TrackBelow(&m.below_slo, BelowSlo(f.ready, f.desired, *r->slo_percent), sample.at_ms);
    if (m.on_target_before <= 0) continue;  // not hurt: no milestones to reach
    if (returned != nullptr) {
      auto back = returned->find(key);
      if (!m.returned_ms && back != returned->end() && back->second) m.returned_ms = sample.at_ms;
      continue;
    }
    const SampleTimes times = TimesOf(*r, sample);
    if (!m.replaced_ms && f.on_target == 0) m.replaced_ms = times.placement_ms;
    if (m.replaced_ms && !m.fully_ready_ms && f.desired > 0 && f.ready_as_placed >= f.desired) {
      m.fully_ready_ms = std::max(times.readiness_ms, *m.replaced_ms);
    }
  }
}

}  // namespace

std::optional<int64_t> NearestRankPercentile(std::vector<int64_t> values, int p) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  const size_t rank = static_cast<size_t>((static_cast<int64_t>(values.size()) * p + 99) / 100);
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

namespace {
MilestonePercentiles PercentilesOf(const DrillRecord& r,
                                   std::optional<int64_t> WorkloadMilestones::*milestone,
                                   int64_t origin_ms) {
  MilestonePercentiles out;
  std::vector<int64_t> values;
  for (const auto& [key, m] : r.workloads) {
    if (m.on_target_before <= 0) continue;
    if (const std::optional<int64_t>& at = m.*milestone) {
      values.push_back(*at - origin_ms);
    } else {
      ++out.missing;
    }
  }
  out.of = static_cast<int64_t>(values.size());
  out.p50_ms = NearestRankPercentile(values, 50);
  out.p95_ms = NearestRankPercentile(values, 95);
  return out;
}
}  // namespace

MilestonePercentiles ReplacePercentiles(const DrillRecord& r) {
  return PercentilesOf(r, &WorkloadMilestones::replaced_ms, 0);
}
MilestonePercentiles FullReadyPercentiles(const DrillRecord& r) {
  return PercentilesOf(r, &WorkloadMilestones::fully_ready_ms, 0);
}
MilestonePercentiles ReturnPercentiles(const DrillRecord& r) {
  if (!r.restored_ms) return {};
  return PercentilesOf(r, &WorkloadMilestones::returned_ms, *r.restored_ms);
}

DrillRecord StartRecord(const api::FailoverDrill& drill, int64_t started_at_ms,
                        const std::vector<api::FederatedWorkload>& workloads,
                        const std::vector<api::MemberCluster>& members) {
  DrillRecord r;
  r.target = DescribeTarget(drill.spec.target);
  r.mode = drill.spec.mode;
  if (drill.spec.mode == "live")
    r.failure = drill.spec.inject_fault ? kFailureInjected : kFailureDeclared;
  r.started_at_ms = started_at_ms;
  r.min_availability_percent = drill.spec.abort_below_percent;
  r.slo_percent = drill.spec.slo_min_availability_percent;
  for (const api::FederatedWorkload& w : workloads) {
    if (!w.metadata.deletion_timestamp.empty()) continue;
    WorkloadBefore b{WorkloadKey(w), PlacementMap(w.status.placement),
                     ReplicasOnTarget(drill.spec.target, w.status.placement, members)};
    r.before.push_back(std::move(b));
  }
  // Follow the workloads the target hurts; when it hurts none, follow them all (the drill
  // then shows that nothing moved).
  if (std::any_of(r.before.begin(), r.before.end(), [](const WorkloadBefore& b) { return b.on_target > 0; })) {
    std::erase_if(r.before, [](const WorkloadBefore& b) { return b.on_target == 0; });
  }
  for (const WorkloadBefore& b : r.before) r.workloads[b.workload].on_target_before = b.on_target;
  for (const api::FederatedWorkload& w : FollowedWorkloads(r, workloads)) {
    for (const auto& [region, n] : ReplicasPerRegion(w.status.placement, members)) {
      r.placed_before_per_region[region] += n;
    }
  }
  return r;
}

std::vector<api::FederatedWorkload> FollowedWorkloads(
    const DrillRecord& record, const std::vector<api::FederatedWorkload>& workloads) {
  std::set<std::string> keys;
  for (const WorkloadBefore& b : record.before) keys.insert(b.workload);
  std::vector<api::FederatedWorkload> out;
  for (const api::FederatedWorkload& w : workloads) {
    if (keys.contains(WorkloadKey(w))) out.push_back(w);
  }
  return out;
}

void AddSample(DrillRecord* r, DrillSample sample,
               const std::vector<api::FederatedWorkload>& followed,
               const std::vector<api::MemberCluster>& members,
               const std::vector<api::ResidencyPolicy>& policies,
               const placement::TopologySpec& topology) {
  int64_t on_target_before = 0, off_target_before = 0;
  for (const WorkloadBefore& b : r->before) {
    on_target_before += b.on_target;
    for (const auto& [cluster, n] : b.placement) off_target_before += n;
    off_target_before -= b.on_target;
  }
  int64_t off_target = -sample.on_target;
  for (const auto& [region, n] : sample.desired_by_region) off_target += n;

  // Detected: the members' status shows the failure, or placement moved to act on it — it
  // took replicas off the target, or (make-before-break: the target keeps its replicas until
  // their replacements are ready) placed replacements elsewhere.
  // An injected drill rehearses the real detection path: only the members' health counts
  // (placement acts on nothing else then), at the time the health monitor marked it.
  const bool placement_moved =
      sample.on_target < on_target_before || off_target > off_target_before;
  if (!r->detected_ms && sample.target_seen_failed) {
    // Seen in the members' status, which this pass read with the placement.
    r->detected_ms = std::min(sample.placement_read_ms.value_or(sample.at_ms), sample.at_ms);
    StatusOr<api::DrillTarget> target = scheduling::ParseFailureTarget(r->target);
    std::optional<Timestamp> since =
        target.ok() ? TargetFailedSince(*target, members) : std::nullopt;
    if (since) {
      // Transition times are written to the second (truncated), and the previous sample did
      // not see the failure: the transition lies in [since, since + 1 s) and after the
      // previous sample, up to this one. The middle of that interval: off by at most half of
      // it, not biased early as its start would be by up to a second (a drill's detection
      // must compare with the same fault measured from outside, issue 15).
      // The bounds are when the API objects were read (this pass's and, estimated with this
      // pass's lag, the previous one's), not the passes' ends after the member reads.
      const int64_t read = std::min(sample.placement_read_ms.value_or(sample.at_ms), sample.at_ms);
      const int64_t lag = sample.at_ms - read;
      const int64_t previous = r->timeline.empty() ? 0 : r->timeline.back().at_ms - lag;
      const int64_t ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(since->time_since_epoch()).count() -
          r->started_at_ms;
      const int64_t lo = std::clamp<int64_t>(std::max(ms, previous), 0, read);
      const int64_t hi = std::clamp<int64_t>(ms + 999, lo, read);
      r->detected_ms = lo + (hi - lo) / 2;
    }
  } else if (!r->detected_ms && r->failure != kFailureInjected && placement_moved) {
    r->detected_ms = std::min(sample.placement_read_ms.value_or(sample.at_ms), sample.at_ms);
  }
  const SampleTimes times = TimesOf(*r, sample);
  if (!r->replaced_ms && sample.on_target == 0) r->replaced_ms = times.placement_ms;
  if (r->replaced_ms && !r->fully_ready_ms && sample.desired > 0 &&
      sample.ready_as_placed >= sample.desired) {
    r->fully_ready_ms = std::max(times.readiness_ms, *r->replaced_ms);
  }
  TrackLowest(sample.ready, sample.desired, &r->lowest_ready, &r->lowest_ready_desired);
  r->placed_during_per_region = sample.desired_by_region;
  r->replicas_moved_per_region = Difference(sample.desired_by_region, r->placed_before_per_region);
  TrackUnplacedAndResidency(r, followed, members, policies, topology);
  TrackWorkloads(r, sample, /*returning=*/nullptr);
  if (sample.dns) {
    if (!r->dns) r->dns.emplace();
    r->dns->names = DnsNamesOf(followed);
    AddDnsSample(&*r->dns, *sample.dns, sample.at_ms);
    sample.dns->source.clear();  // the summary keeps it; the timeline's JSON has none
  }
  sample.by_workload.clear();
  sample.placement_read_ms.reset();
  AppendThinned(&r->timeline, std::move(sample));
}

namespace {
// Unplaced replicas with why (the largest count seen per workload) and residency violations
// (cumulative: one seen once stays reported).
void TrackUnplacedAndResidency(DrillRecord* r, const std::vector<api::FederatedWorkload>& followed,
                               const std::vector<api::MemberCluster>& members,
                               const std::vector<api::ResidencyPolicy>& policies,
                               const placement::TopologySpec& topology) {
  for (const api::FederatedWorkload& w : followed) {
    const std::string key = WorkloadKey(w);
    if (w.status.unplaced_replicas <= 0) continue;
    auto it = std::find_if(r->unplaced.begin(), r->unplaced.end(),
                           [&](const UnplacedReplicas& u) { return u.workload == key; });
    if (it == r->unplaced.end()) {
      r->unplaced.push_back({key, w.status.unplaced_replicas, DegradedMessage(w.status)});
    } else if (w.status.unplaced_replicas > it->replicas) {
      *it = {key, w.status.unplaced_replicas, DegradedMessage(w.status)};
    }
  }
  for (ResidencyViolation& v : FindResidencyViolations(followed, members, policies, topology)) {
    auto it = std::find_if(r->residency_violations.begin(), r->residency_violations.end(),
                           [&](const ResidencyViolation& x) {
                             return x.workload == v.workload && x.cluster == v.cluster;
                           });
    if (it == r->residency_violations.end()) {
      r->residency_violations.push_back(std::move(v));
    } else {
      it->replicas = std::max(it->replicas, v.replicas);
    }
  }
}
}  // namespace

int64_t ReadyOnTarget(const api::DrillTarget& target, const api::FederatedWorkload& workload,
                      const std::vector<api::MemberCluster>& members) {
  int64_t n = 0;
  for (const api::ClusterPlacement& p : workload.status.placement) {
    if (p.replicas <= 0) continue;
    const int64_t on_target = ReplicasOnTarget(target, {p}, members);
    if (on_target <= 0) continue;
    int64_t ready = 0;
    for (const api::ClusterSyncStatus& c : workload.status.clusters) {
      if (c.cluster == p.cluster) ready += c.ready_replicas;
    }
    ready = std::min(ready, p.replicas);
    n += std::clamp<int64_t>(ready - (p.replicas - on_target), 0, on_target);
  }
  return n;
}

bool PlacementSettledOnTarget(const api::DrillTarget& target, const api::FederatedWorkload& workload,
                              const std::vector<api::MemberCluster>& members) {
  if (!target.zone.empty()) return false;
  bool touched = false;
  for (const api::MemberCluster& m : members) {
    if (!TargetTouches(target, m)) continue;
    touched = true;
    const std::optional<api::ClusterDecision> it =
        api::DecisionFor(workload.status, m.metadata.name);
    if (!it) return false;  // not explained (yet, or omitted): unknown
    using placement::Reason, placement::ReasonName;
    if (it->reason == ReasonName(Reason::kUnreachable) ||
        it->reason == ReasonName(Reason::kZoneFailure) ||
        it->reason == ReasonName(Reason::kRecoveryHold)) {
      return false;
    }
  }
  return touched;
}

ReturnProgress ReturnProgressOf(const api::DrillTarget& target,
                                const std::vector<WorkloadBefore>& before,
                                const std::vector<api::FederatedWorkload>& followed,
                                const std::vector<api::MemberCluster>& members) {
  ReturnProgress p;
  for (const WorkloadBefore& b : before) {
    const api::FederatedWorkload* w = FindWorkload(followed, b.workload);
    if (w == nullptr || b.on_target <= 0) continue;  // deleted since: nothing to wait for
    const int64_t placed_now = ReplicasOnTarget(target, w->status.placement, members);
    const int64_t want = PlacementSettledOnTarget(target, *w, members)
                             ? std::min(b.on_target, placed_now)
                             : b.on_target;
    p.before += b.on_target;
    p.want += want;
    p.placed += std::min(placed_now, want);
    p.ready += std::min(ReadyOnTarget(target, *w, members), want);
  }
  return p;
}

void StartReturnObservation(DrillRecord* r, int64_t observe_seconds) {
  r->returned_ms.reset();
  r->return_watch_until_ms.reset();
  int64_t want = 0;
  for (const WorkloadBefore& b : r->before) want += b.on_target;
  r->return_progress = ReturnProgress{.want = want, .before = want};
  if (want == 0) {
    r->return_observation = kReturnNothing;
  } else if (observe_seconds <= 0) {
    r->return_observation = kReturnOff;
  } else {
    r->return_observation = kReturnWatching;
    r->return_watch_until_ms = r->restored_ms.value_or(0) + observe_seconds * 1000;
  }
}

bool WatchingReturn(const DrillRecord& r) { return r.return_observation == kReturnWatching; }

void AddReturnSample(DrillRecord* r, DrillSample sample, const ReturnProgress& progress,
                     const std::vector<api::FederatedWorkload>& followed,
                     const std::vector<api::MemberCluster>& members,
                     const std::vector<api::ResidencyPolicy>& policies,
                     const placement::TopologySpec& topology) {
  if (!WatchingReturn(*r)) return;
  r->return_progress = progress;
  TrackUnplacedAndResidency(r, followed, members, policies, topology);
  // Each hurt workload's own return: its replicas back on the target and ready.
  std::map<std::string, bool> returned;
  if (StatusOr<api::DrillTarget> target = scheduling::ParseFailureTarget(r->target); target.ok()) {
    for (const WorkloadBefore& b : r->before) {
      if (b.on_target <= 0) continue;
      returned[b.workload] = ReturnProgressOf(*target, {b}, followed, members).Complete();
    }
  }
  TrackWorkloads(r, sample, &returned);
  sample.by_workload.clear();
  sample.placement_read_ms.reset();
  if (progress.Complete()) {
    r->returned_ms = sample.at_ms;
    r->return_observation = kReturnReturned;
  } else if (r->return_watch_until_ms && sample.at_ms >= *r->return_watch_until_ms) {
    r->return_observation = kReturnNotReturned;
  }
  AppendThinned(&r->timeline, std::move(sample));
}

StatusOr<json> SimulateDrill(const api::FailoverDrill& drill, const Fleet& fleet, Timestamp now) {
  MERIDIAN_RETURN_IF_ERROR(CheckTargetExists(drill.spec.target, fleet.members));
  const api::DrillTarget failures[] = {drill.spec.target};
  MERIDIAN_ASSIGN_OR_RETURN(scheduling::WhatIfAnswer answer, scheduling::WhatIf(fleet, failures, now));

  json workloads = json::array();
  std::map<std::string, int64_t> before_regions, after_regions;
  std::vector<api::FederatedWorkload> after_workloads;  // for the residency check
  std::vector<UnplacedReplicas> unplaced;
  int64_t on_target_total = 0;
  for (const scheduling::WhatIfWorkload& w : answer.affected) {
    const std::string key = w.ns + "/" + w.name;
    std::map<std::string, int64_t> before, after, regions_before, regions_after;
    api::FederatedWorkload placed;
    for (const api::FederatedWorkload& candidate : fleet.workloads) {
      if (candidate.metadata.ns == w.ns && candidate.metadata.name == w.name) placed = candidate;
    }
    placed.status.placement.clear();
    json zones = json::object();  // clusters whose zone hints change: a zone target's moves
    for (const scheduling::WhatIfCluster& c : w.clusters) {
      if (c.before != 0) {
        before[c.cluster] = c.before;
        regions_before[c.region] += c.before;
      }
      if (c.after != 0) {
        after[c.cluster] = c.after;
        regions_after[c.region] += c.after;
        api::ClusterPlacement p;
        p.cluster = c.cluster;
        p.replicas = c.after;
        p.zones = c.zones_after;
        placed.status.placement.push_back(std::move(p));
      }
      if (c.zones_before != c.zones_after) {
        zones[c.cluster] = {{"before", IntMap(c.zones_before)}, {"after", IntMap(c.zones_after)}};
      }
    }
    on_target_total += w.on_target;
    for (const auto& [k, v] : regions_before) before_regions[k] += v;
    for (const auto& [k, v] : regions_after) after_regions[k] += v;
    workloads.push_back({{"workload", key},
                         {"onTarget", w.on_target},
                         {"zones", zones},
                         {"before", IntMap(before)},
                         {"after", IntMap(after)},
                         {"movedPerRegion", IntMap(Difference(regions_after, regions_before))},
                         {"unplaced", w.unplaced_after}});
    if (w.unplaced_after > 0) unplaced.push_back({key, w.unplaced_after, w.blocked_by});
    after_workloads.push_back(std::move(placed));
  }
  auto violations = FindResidencyViolations(after_workloads, fleet.members, fleet.policies, fleet.topology);
  return json{
      {"target", DescribeTarget(drill.spec.target)},
      {"mode", "simulate"},
      {"startedAtMs",
       std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()},
      {"workloads", workloads},
      {"unaffectedWorkloads", answer.unaffected},
      {"replicasOnTarget", on_target_total},
      {"timeline", json::array()},
      {"replicasMovedPerRegion", IntMap(Difference(after_regions, before_regions))},
      {"placedBeforePerRegion", IntMap(before_regions)},
      {"placedWhileFailedPerRegion", IntMap(after_regions)},
      {"residencyViolations", static_cast<int64_t>(violations.size())},
      {"residencyViolationDetails", ViolationsJson(violations)},
      {"unplaced", UnplacedJson(unplaced)},
      {"abortConditionFired", false},
      {"timeToDetectSeconds", nullptr},
      {"timeToReplaceSeconds", nullptr},
      {"timeToFullReadySeconds", nullptr},
  };
}

}  // namespace meridian::failover
