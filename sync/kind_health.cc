#include "sync/kind_health.h"

#include <algorithm>
#include <set>
#include <vector>

#include "common/json_fields.h"

namespace meridian::sync {
namespace {

using nlohmann::json;

using json_fields::Child;

int64_t Int(const json& j, const char* key) {
  const json& v = Child(j, key);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

std::string Str(const json& j, const char* key) {
  const json& v = Child(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

// The condition of `type` in status.conditions (null when absent).
const json& Condition(const json& status, const std::string& type) {
  static const json kNull;
  const json& conditions = Child(status, "conditions");
  if (!conditions.is_array()) return kNull;
  for (const json& c : conditions) {
    if (Str(c, "type") == type) return c;
  }
  return kNull;
}

bool ConditionTrue(const json& status, const std::string& type) {
  return Str(Condition(status, type), "status") == "True";
}

std::string Ratio(int64_t have, int64_t want) {
  return std::to_string(have) + "/" + std::to_string(want);
}

// RFC 3339 timestamps of one form compare as strings.
void Latest(json* out, const char* key, const json& status) {
  const std::string t = Str(status, key);
  if (!t.empty() && (!out->contains(key) || (*out)[key].get<std::string>() < t)) (*out)[key] = t;
}

void Earliest(json* out, const char* key, const json& status) {
  const std::string t = Str(status, key);
  if (!t.empty() && (!out->contains(key) || t < (*out)[key].get<std::string>())) (*out)[key] = t;
}

json MakeCondition(const std::string& type, bool value, const std::string& reason,
                   const std::string& message, const json& previous, const std::string& now) {
  const std::string status = value ? "True" : "False";
  const json& before = Condition(previous, type);
  const std::string since =
      Str(before, "status") == status && !Str(before, "lastTransitionTime").empty()
          ? Str(before, "lastTransitionTime")
          : now;
  return {{"type", type},
          {"status", status},
          {"reason", reason},
          {"message", message},
          {"lastTransitionTime", since}};
}

}  // namespace

bool KindHealthModel(const std::string& api_version, const std::string& kind) {
  return (api_version == "apps/v1" && kind == "DaemonSet") ||
         (api_version == "batch/v1" && (kind == "Job" || kind == "CronJob")) ||
         (api_version == "networking.k8s.io/v1" && kind == "Ingress") ||
         (api_version == "policy/v1" && kind == "PodDisruptionBudget");
}

MemberHealth HealthOf(const json& object) {
  const std::string kind = Str(object, "kind");
  const json& status = Child(object, "status");
  if (!status.is_object()) return {false, "no status reported yet"};
  if (kind == "DaemonSet") {
    const int64_t generation = Int(Child(object, "metadata"), "generation");
    if (Int(status, "observedGeneration") < generation) {
      return {false, "generation " + std::to_string(generation) + " not observed yet"};
    }
    const int64_t desired = Int(status, "desiredNumberScheduled");
    const int64_t ready = Int(status, "numberReady");
    const int64_t updated = Int(status, "updatedNumberScheduled");
    const int64_t available = Int(status, "numberAvailable");
    return {ready >= desired && updated >= desired && available >= desired,
            Ratio(ready, desired) + " ready, " + Ratio(updated, desired) + " updated, " +
                Ratio(available, desired) + " available"};
  }
  if (kind == "Job") {
    if (ConditionTrue(status, "Failed")) {
      const std::string reason = Str(Condition(status, "Failed"), "reason");
      return {false, "failed" + (reason.empty() ? "" : ": " + reason)};
    }
    const std::string counts = "active " + std::to_string(Int(status, "active")) + ", succeeded " +
                               std::to_string(Int(status, "succeeded")) + ", failed " +
                               std::to_string(Int(status, "failed"));
    if (ConditionTrue(status, "Complete")) return {true, "complete (" + counts + ")"};
    return {false, "running (" + counts + ")"};
  }
  if (kind == "CronJob") {
    const json& active = Child(status, "active");
    const std::string last = Str(status, "lastScheduleTime");
    return {true, "active " + std::to_string(active.is_array() ? active.size() : 0) + ", " +
                      (last.empty() ? "not scheduled yet" : "last scheduled " + last)};
  }
  if (kind == "Ingress") {
    const json& ingress = Child(Child(status, "loadBalancer"), "ingress");
    const size_t n = ingress.is_array() ? ingress.size() : 0;
    return {n > 0, n > 0 ? std::to_string(n) + " load balancer ingress point(s)"
                         : "no load balancer address yet"};
  }
  if (kind == "PodDisruptionBudget") {
    const int64_t current = Int(status, "currentHealthy");
    const int64_t desired = Int(status, "desiredHealthy");
    return {current >= desired, Ratio(current, desired) + " healthy pods (current/desired)"};
  }
  return {false, "no health model for " + kind};
}

json AggregateKindStatus(const std::string& kind, const std::map<std::string, json>& members,
                         const json& previous, const std::string& now_rfc3339) {
  json out = json::object();
  std::vector<std::string> unhealthy;
  std::vector<std::string> failed;
  bool all_complete = !members.empty();
  std::set<std::string> seen;  // CronJob active references, Ingress points (dumped)
  for (const auto& [member, object] : members) {
    const json& status = Child(object, "status");
    const MemberHealth health = HealthOf(object);
    if (!health.healthy) unhealthy.push_back(member + ": " + health.reason);
    if (kind == "DaemonSet") {
      for (const char* key : {"desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                              "updatedNumberScheduled", "numberAvailable", "numberUnavailable",
                              "numberMisscheduled"}) {
        out[key] = out.value(key, int64_t{0}) + Int(status, key);
      }
    } else if (kind == "Job") {
      for (const char* key : {"active", "ready", "succeeded", "failed"}) {
        out[key] = out.value(key, int64_t{0}) + Int(status, key);
      }
      Earliest(&out, "startTime", status);
      Latest(&out, "completionTime", status);
      if (ConditionTrue(status, "Failed")) failed.push_back(member);
      all_complete = all_complete && ConditionTrue(status, "Complete");
    } else if (kind == "CronJob") {
      const json& active = Child(status, "active");
      if (active.is_array()) {
        for (const json& ref : active) {
          if (seen.insert(ref.dump()).second) out["active"].push_back(ref);
        }
      }
      Latest(&out, "lastScheduleTime", status);
      Latest(&out, "lastSuccessfulTime", status);
    } else if (kind == "Ingress") {
      const json& ingress = Child(Child(status, "loadBalancer"), "ingress");
      if (ingress.is_array()) {
        for (const json& point : ingress) {
          if (seen.insert(point.dump()).second) {
            out["loadBalancer"]["ingress"].push_back(point);
          }
        }
      }
    } else if (kind == "PodDisruptionBudget") {
      for (const char* key :
           {"currentHealthy", "desiredHealthy", "expectedPods", "disruptionsAllowed"}) {
        out[key] = out.value(key, int64_t{0}) + Int(status, key);
      }
    }
  }
  if (kind == "Job") {
    if (!all_complete) out.erase("completionTime");
    json conditions = json::array();
    if (all_complete) {
      conditions.push_back(MakeCondition("Complete", true, "Completed",
                                         "the Job completed on every member", previous,
                                         now_rfc3339));
    }
    if (!failed.empty()) {
      std::string names;
      for (const std::string& m : failed) names += (names.empty() ? "" : ", ") + m;
      conditions.push_back(MakeCondition("Failed", true, "FailedOnMembers",
                                         "the Job failed on " + names, previous, now_rfc3339));
    }
    out["conditions"] = std::move(conditions);
  }
  // Kubernetes' CronJob and Ingress status have no conditions (a server validating status
  // would refuse one): their aggregate says it all (active Jobs; ingress points).
  if (kind == "CronJob" || kind == "Ingress") return out;
  std::string message = members.empty() ? "not on any member" : "";
  for (const std::string& u : unhealthy) message += (message.empty() ? "" : "; ") + u;
  const bool healthy = !members.empty() && unhealthy.empty();
  if (healthy) message = "healthy on " + std::to_string(members.size()) + " member(s)";
  out["conditions"].push_back(MakeCondition(
      "Healthy", healthy,
      members.empty() ? "NoMembers" : (healthy ? "AllMembersHealthy" : "MembersUnhealthy"), message,
      previous, now_rfc3339));
  return out;
}

int64_t InterpretedReadyReplicas(const api::InterpreterRule& rule, const json& object,
                                 int64_t placed) {
  if (rule.ready_replicas_path) {
    const json* ready = rule.ready_replicas_path->Find(object);
    return ready != nullptr && ready->is_number_integer() ? ready->get<int64_t>() : 0;
  }
  if (!rule.ready_condition.empty()) {
    return ConditionTrue(Child(object, "status"), rule.ready_condition) ? placed : 0;
  }
  return placed;
}

MemberHealth InterpretedHealthOf(const api::InterpreterRule& rule,
                                 const InterpretedMember& member) {
  if (!rule.ready_condition.empty()) {
    const json& c = Condition(Child(member.object, "status"), rule.ready_condition);
    if (c.is_null()) return {false, "condition " + rule.ready_condition + " not reported"};
    if (Str(c, "status") != "True") {
      const std::string message = Str(c, "message");
      return {false, "condition " + rule.ready_condition + " is " + Str(c, "status") +
                         (message.empty() ? "" : ": " + message)};
    }
  }
  if (rule.ready_replicas_path) {
    const int64_t ready = InterpretedReadyReplicas(rule, member.object, member.want);
    const std::string ratio = Ratio(ready, member.want) + " ready";
    return {ready >= member.want, ratio};
  }
  return {true, rule.ready_condition.empty() ? "present" : "condition " + rule.ready_condition};
}

json AggregateInterpretedStatus(const api::InterpreterRule& rule,
                                const std::map<std::string, InterpretedMember>& members,
                                const json& previous, const std::string& now_rfc3339) {
  std::vector<api::JsonPath> summed = rule.status_aggregation;
  if (rule.ready_replicas_path &&
      std::find(summed.begin(), summed.end(), *rule.ready_replicas_path) == summed.end()) {
    summed.push_back(*rule.ready_replicas_path);
  }
  json out = {{"status", json::object()}};  // the paths start at .status
  for (const api::JsonPath& path : summed) {
    bool reported = false, integral = true;
    int64_t total = 0;
    double real = 0;
    for (const auto& [name, member] : members) {
      const json* v = path.Find(member.object);
      if (v == nullptr || !v->is_number()) continue;
      reported = true;
      integral = integral && v->is_number_integer();
      if (v->is_number_integer()) total += v->get<int64_t>();
      real += v->get<double>();
    }
    // A path set already (a prefix of another, or crossing a list) is left as it is.
    if (reported) (void)path.Set(&out, integral ? json(total) : json(real));
  }
  std::vector<std::string> unhealthy;
  for (const auto& [name, member] : members) {
    const MemberHealth health = InterpretedHealthOf(rule, member);
    if (!health.healthy) unhealthy.push_back(name + ": " + health.reason);
  }
  const size_t ready = members.size() - unhealthy.size();
  const bool healthy = !members.empty() && unhealthy.empty();
  std::string message = members.empty() ? "not on any member"
                                        : "ready on " + std::to_string(ready) + "/" +
                                              std::to_string(members.size()) + " members";
  for (const std::string& u : unhealthy) message += "; " + u;
  json& status = out["status"];
  status["conditions"] = json::array({MakeCondition(
      "Healthy", healthy,
      members.empty() ? "NoMembers" : (healthy ? "AllMembersHealthy" : "MembersUnhealthy"), message,
      previous, now_rfc3339)});
  return status;
}

}  // namespace meridian::sync
