#include "failover/node_capacity.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <unordered_map>

#include "common/json_fields.h"
#include "common/quantity.h"
#include "failover/zone_order.h"

namespace meridian::failover {
namespace {

using nlohmann::json;

using json_fields::Child;
using json_fields::Str;
// Condition Ready=True (failover::NodeReady, which this library cannot link).
bool Ready(const json& node) {
  const json& conditions = Child(Child(node, "status"), "conditions");
  if (!conditions.is_array()) return false;
  for (const json& c : conditions) {
    if (Str(Child(c, "type")) == "Ready") return Str(Child(c, "status")) == "True";
  }
  return false;
}

std::optional<std::string> QuantityText(const json& q) {
  if (q.is_string()) return q.get<std::string>();
  if (q.is_number()) return q.dump();
  return std::nullopt;
}

struct Resources {
  int64_t cpu_milli = 0;
  int64_t memory_bytes = 0;
};

// One container's requests (limits when a request is absent). `path` prefixes errors; with
// `lenient`, malformed quantities count as 0 instead.
StatusOr<Resources> ContainerRequests(const json& container, const std::string& path,
                                      bool lenient) {
  Resources r;
  const json& res = Child(container, "resources");
  for (const char* what : {"cpu", "memory"}) {
    std::string where = path + ".resources.requests." + what;
    const json* q = &Child(Child(res, "requests"), what);
    if (q->is_null()) {
      q = &Child(Child(res, "limits"), what);
      where = path + ".resources.limits." + what;
    }
    if (q->is_null()) continue;
    std::optional<std::string> text = QuantityText(*q);
    if (!text) {
      if (lenient) continue;
      return InvalidArgumentError(where + ": must be a quantity (a string or a number)");
    }
    const bool cpu = std::string(what) == "cpu";
    StatusOr<int64_t> v = cpu ? QuantityMilliValue(*text) : QuantityValue(*text);
    if (!v.ok() || *v < 0) {
      if (lenient) continue;
      return InvalidArgumentError(where + ": " +
                                  (v.ok() ? "must not be negative" : v.status().message()));
    }
    (cpu ? r.cpu_milli : r.memory_bytes) += *v;
  }
  return r;
}

StatusOr<Resources> PodRequests(const json& pod_spec, bool lenient) {
  Resources total;
  const json& containers = Child(pod_spec, "containers");
  if (containers.is_array()) {
    for (size_t i = 0; i < containers.size(); ++i) {
      MERIDIAN_ASSIGN_OR_RETURN(
          Resources c,
          ContainerRequests(containers[i], "containers[" + std::to_string(i) + "]", lenient));
      total.cpu_milli += c.cpu_milli;
      total.memory_bytes += c.memory_bytes;
    }
  }
  const json& inits = Child(pod_spec, "initContainers");
  if (inits.is_array()) {
    // Init containers run one at a time before the others: the pod needs the largest.
    for (size_t i = 0; i < inits.size(); ++i) {
      MERIDIAN_ASSIGN_OR_RETURN(
          Resources c,
          ContainerRequests(inits[i], "initContainers[" + std::to_string(i) + "]", lenient));
      total.cpu_milli = std::max(total.cpu_milli, c.cpu_milli);
      total.memory_bytes = std::max(total.memory_bytes, c.memory_bytes);
    }
  }
  return total;
}

// Whether one toleration tolerates one taint (core/v1 Toleration.ToleratesTaint).
bool Tolerates(const json& toleration, const json& taint) {
  const std::string effect = Str(Child(toleration, "effect"));
  if (!effect.empty() && effect != Str(Child(taint, "effect"))) return false;
  const std::string key = Str(Child(toleration, "key"));
  const std::string op = Str(Child(toleration, "operator"));
  if (!key.empty() && key != Str(Child(taint, "key"))) return false;
  if (op == "Exists") return true;  // an empty key with Exists tolerates every taint
  if (key.empty()) return false;    // Equal needs a key
  return Str(Child(toleration, "value")) == Str(Child(taint, "value"));
}

// One nodeSelectorTerm's matchExpressions against the node's labels (ANDed).
bool TermMatches(const json& term, const json& labels) {
  const json& exprs = Child(term, "matchExpressions");
  if (!exprs.is_array()) return true;
  for (const json& e : exprs) {
    const std::string op = Str(Child(e, "operator"));
    const json& v = Child(labels, Str(Child(e, "key")).c_str());
    const bool has = v.is_string();
    bool in = false;
    if (Child(e, "values").is_array()) {
      for (const json& x : e["values"]) in = in || (has && x == v);
    }
    if (op == "In" && !in) return false;
    if (op == "NotIn" && in) return false;
    if (op == "Exists" && !has) return false;
    if (op == "DoesNotExist" && has) return false;
    if (op == "Gt" || op == "Lt") {
      // Integer comparison of the label's value, as the scheduler does.
      const json& values = Child(e, "values");
      if (!has || !values.is_array() || values.size() != 1 || !values[0].is_string()) return false;
      try {
        const long long label = std::stoll(v.get<std::string>());
        const long long bound = std::stoll(values[0].get<std::string>());
        if (op == "Gt" ? !(label > bound) : !(label < bound)) return false;
      } catch (const std::exception&) {
        return false;
      }
    }
  }
  return true;
}

// Free room of a node: allocatable, minus what is bound to it.
struct NodeRoom {
  std::optional<int64_t> cpu_milli, memory_bytes, pods;  // allocatable; nullopt = not reported
  int64_t used_cpu = 0, used_memory = 0, used_pods = 0;
};

std::optional<int64_t> Allocatable(const json& node, const char* what, bool milli) {
  std::optional<std::string> text =
      QuantityText(Child(Child(Child(node, "status"), "allocatable"), what));
  if (!text) return std::nullopt;
  StatusOr<int64_t> v = milli ? QuantityMilliValue(*text) : QuantityValue(*text);
  if (!v.ok() || *v < 0) return std::nullopt;
  return *v;
}

// Replicas of `pod` that fit in `room`.
int64_t Fits(const NodeRoom& room, const PodRequirements& pod) {
  int64_t n = std::max<int64_t>(room.pods.value_or(0) - room.used_pods, 0);
  if (pod.cpu_milli > 0) {
    n = std::min(n,
                 std::max<int64_t>(room.cpu_milli.value_or(0) - room.used_cpu, 0) / pod.cpu_milli);
  }
  if (pod.memory_bytes > 0) {
    n = std::min(n, std::max<int64_t>(room.memory_bytes.value_or(0) - room.used_memory, 0) /
                        pod.memory_bytes);
  }
  return n;
}

}  // namespace

std::string PodRequirements::ShapeKey() const {
  std::string key = "cpu=" + std::to_string(cpu_milli) + "m,memory=" + std::to_string(memory_bytes);
  if (!node_selector.empty()) key += ",nodeSelector=" + json(node_selector).dump();
  if (!tolerations.empty()) key += ",tolerations=" + tolerations.dump();
  if (!node_selector_terms.empty()) key += ",affinity=" + node_selector_terms.dump();
  return key;
}

std::string WorkloadObjectKey(const std::string& ns, const std::string& kind,
                              const std::string& name) {
  return ns + "/" + kind + "/" + name;
}

std::string PodWorkloadKey(const json& pod) {
  const json& meta = Child(pod, "metadata");
  const std::string ns = Str(Child(meta, "namespace"));
  const json& owners = Child(meta, "ownerReferences");
  if (owners.is_array()) {
    for (const json& o : owners) {
      if (Child(o, "controller") != true) continue;
      const std::string kind = Str(Child(o, "kind"));
      std::string name = Str(Child(o, "name"));
      if (kind == "ReplicaSet") {
        const std::string hash = Str(Child(Child(meta, "labels"), "pod-template-hash"));
        const std::string suffix = "-" + hash;
        if (!hash.empty() && name.size() > suffix.size() &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
          return WorkloadObjectKey(ns, "Deployment", name.substr(0, name.size() - suffix.size()));
        }
      }
      return WorkloadObjectKey(ns, kind, name);
    }
  }
  return WorkloadObjectKey(ns, "Pod", Str(Child(meta, "name")));
}

PodRequirements ReferencePod() {
  PodRequirements p;
  p.cpu_milli = 100;
  return p;
}

const json* TemplatePodSpec(const json& object) {
  const std::string kind = Str(Child(object, "kind"));
  const json* spec = nullptr;
  if (kind == "Pod") {
    spec = &Child(object, "spec");
  } else if (kind == "Deployment" || kind == "StatefulSet" || kind == "ReplicaSet" ||
             kind == "DaemonSet" || kind == "Job") {
    spec = &Child(Child(Child(object, "spec"), "template"), "spec");
  } else if (kind == "CronJob") {
    spec = &Child(Child(Child(Child(Child(object, "spec"), "jobTemplate"), "spec"), "template"),
                  "spec");
  }
  return spec != nullptr && spec->is_object() ? spec : nullptr;
}

StatusOr<PodRequirements> PodRequirementsFrom(const json& pod_spec) {
  PodRequirements p;
  MERIDIAN_ASSIGN_OR_RETURN(Resources r, PodRequests(pod_spec, /*lenient=*/false));
  p.cpu_milli = r.cpu_milli;
  p.memory_bytes = r.memory_bytes;
  const json& selector = Child(pod_spec, "nodeSelector");
  if (!selector.is_null() && !selector.is_object()) {
    return InvalidArgumentError("nodeSelector: must be a map of strings");
  }
  if (selector.is_object()) {
    for (const auto& [k, v] : selector.items()) {
      if (!v.is_string()) return InvalidArgumentError("nodeSelector." + k + ": must be a string");
      p.node_selector[k] = v.get<std::string>();
    }
  }
  const json& tolerations = Child(pod_spec, "tolerations");
  if (!tolerations.is_null() && !tolerations.is_array()) {
    return InvalidArgumentError("tolerations: must be a list");
  }
  if (tolerations.is_array()) p.tolerations = tolerations;
  const json& terms = Child(Child(Child(Child(pod_spec, "affinity"), "nodeAffinity"),
                                  "requiredDuringSchedulingIgnoredDuringExecution"),
                            "nodeSelectorTerms");
  if (terms.is_array()) p.node_selector_terms = terms;
  return p;
}

bool NodeAccepts(const json& node, const PodRequirements& pod) {
  if (!Ready(node)) return false;
  const json& spec = Child(node, "spec");
  if (Child(spec, "unschedulable") == true) return false;
  const json& taints = Child(spec, "taints");
  if (taints.is_array()) {
    for (const json& taint : taints) {
      const std::string effect = Str(Child(taint, "effect"));
      if (effect != "NoSchedule" && effect != "NoExecute") continue;
      const bool tolerated = std::any_of(pod.tolerations.begin(), pod.tolerations.end(),
                                         [&](const json& t) { return Tolerates(t, taint); });
      if (!tolerated) return false;
    }
  }
  const json& labels = Child(Child(node, "metadata"), "labels");
  for (const auto& [k, v] : pod.node_selector) {
    if (Str(Child(labels, k.c_str())) != v || !Child(labels, k.c_str()).is_string()) return false;
  }
  if (!pod.node_selector_terms.empty()) {  // terms are ORed
    const bool any = std::any_of(pod.node_selector_terms.begin(), pod.node_selector_terms.end(),
                                 [&](const json& term) { return TermMatches(term, labels); });
    if (!any) return false;
  }
  return true;
}

namespace {

using Rooms = std::unordered_map<std::string, NodeRoom>;

// The room of every node: allocatable minus the requests of the pods `counts` bound to it.
Rooms RoomsOf(const std::vector<json>& nodes, const std::vector<json>& pods,
              const PodFilter& counts) {
  // Room of every node, by name.
  Rooms rooms;
  for (const json& node : nodes) {
    const std::string name = Str(Child(Child(node, "metadata"), "name"));
    if (name.empty()) continue;
    NodeRoom& room = rooms[name];
    room.cpu_milli = Allocatable(node, "cpu", true);
    room.memory_bytes = Allocatable(node, "memory", false);
    room.pods = Allocatable(node, "pods", false);
  }
  for (const json& p : pods) {
    const std::string bound = Str(Child(Child(p, "spec"), "nodeName"));
    if (bound.empty()) continue;
    const std::string phase = Str(Child(Child(p, "status"), "phase"));
    if (phase == "Succeeded" || phase == "Failed") continue;  // they hold nothing any more
    auto it = rooms.find(bound);
    if (it == rooms.end()) continue;
    if (counts && !counts(p)) continue;
    StatusOr<Resources> requests = PodRequests(Child(p, "spec"), /*lenient=*/true);
    const Resources r = requests.ok() ? *requests : Resources{};  // lenient: always ok
    it->second.used_cpu += r.cpu_milli;
    it->second.used_memory += r.memory_bytes;
    it->second.used_pods += 1;
  }

  return rooms;
}

std::vector<ZoneCapacity> ZonesFor(const std::vector<json>& nodes, const Rooms& rooms,
                                   const PodRequirements& pod,
                                   const std::vector<std::string>& declared_zones) {
  std::map<std::string, ZoneCapacity> by_name;
  for (const std::string& z : declared_zones) by_name[z].name = z;
  for (const json& node : nodes) {
    const json& zone_label = Child(Child(Child(node, "metadata"), "labels"), kZoneLabel);
    const std::string zone = Str(zone_label);
    if (zone.empty()) continue;
    if (!declared_zones.empty() && !by_name.count(zone)) continue;
    ZoneCapacity& z = by_name[zone];
    z.name = zone;
    ++z.nodes;
    if (Ready(node)) {
      ++z.ready_nodes;
      z.healthy = true;
    }
    if (!NodeAccepts(node, pod)) continue;
    auto it = rooms.find(Str(Child(Child(node, "metadata"), "name")));
    if (it != rooms.end()) z.replicas += Fits(it->second, pod);
  }
  return InDeclaredOrder(std::move(by_name), declared_zones);
}

}  // namespace

std::vector<ZoneCapacity> EstimateZoneCapacity(const std::vector<json>& nodes,
                                               const std::vector<json>& pods,
                                               const PodRequirements& pod,
                                               const std::vector<std::string>& declared_zones,
                                               const PodFilter& counts) {
  return ZonesFor(nodes, RoomsOf(nodes, pods, counts), pod, declared_zones);
}

std::vector<std::vector<ZoneCapacity>> EstimateZoneCapacities(
    const std::vector<json>& nodes, const std::vector<json>& pods,
    const std::vector<PodRequirements>& kinds, const std::vector<std::string>& declared_zones,
    const PodFilter& counts) {
  const Rooms rooms = RoomsOf(nodes, pods, counts);
  std::vector<std::vector<ZoneCapacity>> out;
  out.reserve(kinds.size());
  for (const PodRequirements& pod : kinds) {
    out.push_back(ZonesFor(nodes, rooms, pod, declared_zones));
  }
  return out;
}

}  // namespace meridian::failover
