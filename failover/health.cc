#include "failover/health.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "failover/zone_order.h"
#include "scheduling/placement_inputs.h"

namespace meridian::failover {
namespace {

using nlohmann::json;

// Parses a non-negative integer or decimal; nullopt when malformed.
std::optional<double> ParseNumber(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used != text.size() || !(v >= 0) || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<std::string> QuantityText(const json& allocatable, const char* key) {
  if (!allocatable.is_object()) return std::nullopt;
  auto it = allocatable.find(key);
  if (it == allocatable.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number()) return it->dump();
  return std::nullopt;
}

std::optional<int64_t> CpuMillis(const std::string& text) {
  if (!text.empty() && text.back() == 'm') {
    auto v = ParseNumber(text.substr(0, text.size() - 1));
    if (!v) return std::nullopt;
    return static_cast<int64_t>(*v);
  }
  auto v = ParseNumber(text);
  if (!v) return std::nullopt;
  return static_cast<int64_t>(*v * 1000);
}

api::Condition* FindCondition(std::vector<api::Condition>* conditions, const std::string& type) {
  for (api::Condition& c : *conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

const api::Condition* FindCondition(const std::vector<api::Condition>& conditions,
                                    const std::string& type) {
  for (const api::Condition& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

// Sets a condition, keeping its lastTransitionTime when the status did not change.
void SetCondition(std::vector<api::Condition>* conditions, api::Condition c, Timestamp now) {
  if (api::Condition* existing = FindCondition(conditions, c.type)) {
    c.last_transition_time =
        existing->status == c.status ? existing->last_transition_time : FormatRfc3339(now);
    *existing = std::move(c);
    return;
  }
  c.last_transition_time = FormatRfc3339(now);
  conditions->push_back(std::move(c));
}

}  // namespace

bool NodeReady(const json& node) {
  const json* conditions = nullptr;
  if (node.contains("status") && node["status"].is_object() &&
      node["status"].contains("conditions") && node["status"]["conditions"].is_array()) {
    conditions = &node["status"]["conditions"];
  }
  if (conditions == nullptr) return false;
  for (const json& c : *conditions) {
    if (c.is_object() && c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

int64_t NodeAllocatableReplicas(const json& node) {
  json allocatable;
  if (node.contains("status") && node["status"].is_object()) {
    allocatable = node["status"].value("allocatable", json::object());
  }
  std::optional<int64_t> pods;
  if (auto text = QuantityText(allocatable, "pods")) {
    if (auto v = ParseNumber(*text)) pods = static_cast<int64_t>(*v);
  }
  std::optional<int64_t> by_cpu;
  if (auto text = QuantityText(allocatable, "cpu")) {
    if (auto millis = CpuMillis(*text)) by_cpu = *millis / 100;
  }
  if (pods && by_cpu) return std::min(*pods, *by_cpu);
  if (pods) return *pods;
  if (by_cpu) return *by_cpu;
  return 0;
}

std::vector<ZoneHealth> ZoneHealthFromNodes(const std::vector<json>& nodes,
                                            const std::vector<std::string>& declared_zones) {
  std::map<std::string, ZoneHealth> by_name;
  for (const std::string& z : declared_zones) by_name[z].name = z;
  for (const json& node : nodes) {
    if (!node.is_object() || !node.contains("metadata") || !node["metadata"].is_object()) continue;
    const json labels = node["metadata"].value("labels", json::object());
    if (!labels.is_object() || !labels.contains(kZoneLabel) || !labels[kZoneLabel].is_string()) {
      continue;
    }
    const std::string zone = labels[kZoneLabel].get<std::string>();
    if (zone.empty()) continue;
    if (!declared_zones.empty() && !by_name.count(zone)) continue;
    ZoneHealth& z = by_name[zone];
    z.name = zone;
    ++z.nodes;
    if (NodeReady(node)) {
      ++z.ready_nodes;
      z.healthy = true;
      z.allocatable_replicas += NodeAllocatableReplicas(node);
    }
  }
  return InDeclaredOrder(std::move(by_name), declared_zones);
}

ProbeHistory NextHistory(ProbeHistory history, const ProbeOutcome& outcome) {
  history.consecutive_failures = outcome.ok ? 0 : history.consecutive_failures + 1;
  return history;
}

bool RoundLooksDisrupted(int timed_out, int probed) {
  return timed_out >= 2 && 2 * timed_out > probed;
}

api::MemberClusterStatus ApplyProbe(const api::MemberClusterStatus& previous,
                                    const ProbeOutcome& outcome, const ProbeHistory& history,
                                    Timestamp now, int failure_threshold) {
  failure_threshold = std::max(failure_threshold, 1);
  api::MemberClusterStatus status = previous;
  status.last_probe_time = FormatRfc3339(now);
  status.probe_latency_ms = outcome.latency.count();

  if (outcome.ok && outcome.zones) {
    std::vector<api::ZoneStatus> zones;
    int64_t allocatable = 0;
    for (const ZoneHealth& z : *outcome.zones) {
      api::ZoneStatus s;
      s.name = z.name;
      s.healthy = z.healthy;
      s.allocatable_replicas = z.allocatable_replicas;
      s.replicas_by_pod_shape = z.replicas_by_pod_shape;
      // A zone seen for the first time has not transitioned: placement must not take a
      // member that just joined for one that is recovering from an outage.
      s.last_transition_time = "";
      for (const api::ZoneStatus& old : previous.zones) {
        if (old.name != z.name) continue;
        // Nor has a zone that was never healthy (declared before its nodes existed, or
        // whose nodes were not Ready yet) when it first turns healthy: it is new capacity.
        // An empty lastTransitionTime on an unhealthy zone means it was never healthy.
        const bool first_healthy = !old.healthy && z.healthy && old.last_transition_time.empty();
        s.last_transition_time = old.healthy == z.healthy || first_healthy
                                     ? old.last_transition_time
                                     : FormatRfc3339(now);
        // A failed zone keeps the room it had while healthy: what it holds when it comes
        // back. Placement divides by full capacity and caps by the healthy zones, so a zone
        // failure moves only the replicas that no longer fit.
        if (!z.healthy && old.allocatable_replicas) {
          s.allocatable_replicas = std::max(z.allocatable_replicas, *old.allocatable_replicas);
        }
      }
      if (z.healthy) allocatable += z.allocatable_replicas;
      zones.push_back(std::move(s));
    }
    status.zones = std::move(zones);
    status.allocatable_replicas = allocatable;
  }

  const api::Condition* old_reachable = FindCondition(previous.conditions, "Reachable");
  api::Condition reachable{"Reachable", "", "", "", "", 0};
  if (outcome.ok) {
    reachable.status = "True";
    if (old_reachable != nullptr && old_reachable->status == "False") {
      // Placement holds replicas back from a recovered member for recoveryDelaySeconds.
      reachable.reason = scheduling::kReachableRecoveredReason;
      reachable.message = "the member's health endpoint answers again";
    } else if (old_reachable != nullptr && old_reachable->status == "True") {
      reachable.reason = old_reachable->reason;  // keep Recovered until the next transition
      reachable.message = old_reachable->message;
    } else {
      reachable.reason = "ProbeSucceeded";
      reachable.message = "the member's health endpoint answers";
    }
  } else if (history.consecutive_failures >= failure_threshold) {
    reachable.status = "False";
    reachable.reason = "ProbeFailed";
    reachable.message = std::to_string(failure_threshold) + " consecutive probes failed; last: " +
                        outcome.error;
    // The count keeps rising while the member stays down; the message names the threshold
    // so that it (and hence the status) does not change on every failed probe.
  } else if (old_reachable != nullptr) {
    reachable = *old_reachable;  // below the threshold: no change yet
  } else {
    reachable.status = "Unknown";
    reachable.reason = "ProbeFailing";
    reachable.message = "not yet probed successfully; last: " + outcome.error;
  }
  SetCondition(&status.conditions, reachable, now);

  const bool any_zone_healthy =
      std::any_of(status.zones.begin(), status.zones.end(),
                  [](const api::ZoneStatus& z) { return z.healthy; });
  api::Condition ready{"Ready", "", "", "", "", 0};
  if (reachable.status != "True") {
    ready.status = reachable.status == "False" ? "False" : "Unknown";
    ready.reason = "Unreachable";
    ready.message = "the member is not reachable";
  } else if (!any_zone_healthy) {
    ready.status = "False";
    ready.reason = "NoHealthyZone";
    ready.message = "no zone has a Ready node";
  } else {
    ready.status = "True";
    ready.reason = "Ready";
    ready.message = "reachable with at least one healthy zone";
  }
  SetCondition(&status.conditions, ready, now);
  return status;
}

api::MemberClusterStatus WithoutProbeDetails(api::MemberClusterStatus status) {
  status.last_probe_time.clear();
  status.probe_latency_ms.reset();
  return status;
}

std::vector<std::string> DescribeTransitions(const api::MemberClusterStatus& before,
                                             const api::MemberClusterStatus& after) {
  std::vector<std::string> out;
  for (const char* type : {"Reachable", "Ready"}) {
    const api::Condition* a = FindCondition(after.conditions, type);
    if (a == nullptr) continue;
    const api::Condition* b = FindCondition(before.conditions, type);
    const std::string from = b ? b->status : "(none)";
    if (from == a->status) continue;
    out.push_back(std::string(type) + " " + from + " -> " + a->status + " (" + a->reason +
                  "): " + a->message);
  }
  for (const api::ZoneStatus& z : after.zones) {
    const api::ZoneStatus* old = nullptr;
    for (const api::ZoneStatus& o : before.zones) {
      if (o.name == z.name) old = &o;
    }
    if (old != nullptr && old->healthy == z.healthy) continue;
    out.push_back("zone " + z.name + " " +
                  (old == nullptr ? std::string("(new)") : old->healthy ? "healthy" : "failed") +
                  " -> " + (z.healthy ? "healthy" : "failed") + " (allocatable " +
                  std::to_string(z.allocatable_replicas.value_or(0)) + ")");
  }
  return out;
}

std::vector<HealthEvent> TransitionEvents(const api::MemberClusterStatus& before,
                                          const api::MemberClusterStatus& after) {
  std::vector<HealthEvent> out;
  for (const char* type : {"Reachable", "Ready"}) {
    const api::Condition* a = FindCondition(after.conditions, type);
    if (a == nullptr) continue;
    const api::Condition* b = FindCondition(before.conditions, type);
    if (b != nullptr && b->status == a->status) continue;
    const bool up = a->status == "True";
    if (b == nullptr && up) continue;  // first seen healthy: nothing happened
    if (a->status == "Unknown") continue;
    HealthEvent e;
    e.warning = !up;
    e.reason = std::string("Member") + (up ? "" : "Not") + type;
    if (e.reason == "MemberNotReachable") e.reason = "MemberUnreachable";
    e.message = std::string(type) + " " + (b ? b->status : "(none)") + " -> " + a->status +
                " (" + a->reason + "): " + a->message;
    out.push_back(std::move(e));
  }
  for (const api::ZoneStatus& z : after.zones) {
    const api::ZoneStatus* old = nullptr;
    for (const api::ZoneStatus& o : before.zones) {
      if (o.name == z.name) old = &o;
    }
    if (old == nullptr ? z.healthy : old->healthy == z.healthy) continue;
    // First healthy after being declared unhealthy: new capacity, nothing recovered.
    if (old != nullptr && z.healthy && old->last_transition_time.empty()) continue;
    HealthEvent e;
    e.warning = !z.healthy;
    e.reason = z.healthy ? "ZoneRecovered" : "ZoneFailed";
    e.message = "zone " + z.name + (z.healthy ? " recovered" : " failed") + " (allocatable " +
                std::to_string(z.allocatable_replicas.value_or(0)) + " replicas)";
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace meridian::failover
