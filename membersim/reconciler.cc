#include "membersim/reconciler.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common/json_fields.h"
#include "membersim/quantity.h"

namespace meridian::membersim {
namespace {

constexpr char kBoundAt[] = "membersim.meridian.io/bound-at-ms";
constexpr char kReadyAt[] = "membersim.meridian.io/ready-at-ms";
// On a pod (from its template): "true" keeps its containers from ever starting, a bad image
// or a crash at start-up, so that rollouts and their gates can be tested against it.
constexpr char kNeverReady[] = "membersim.meridian.io/never-ready";
constexpr char kRevision[] = "deployment.kubernetes.io/revision";
constexpr char kTemplateHash[] = "pod-template-hash";
constexpr char kRevisionHash[] = "controller-revision-hash";
constexpr char kZoneLabel[] = "topology.kubernetes.io/zone";
constexpr char kRegionLabel[] = "topology.kubernetes.io/region";
constexpr char kUnreachable[] = "node.kubernetes.io/unreachable";
constexpr char kSafeAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";

int64_t Ms(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
Timestamp FromMs(int64_t ms) { return Timestamp(std::chrono::milliseconds(ms)); }

using json_fields::Child;
using json_fields::Str;
int64_t IntOr(const json& j, int64_t def) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number()) return static_cast<int64_t>(j.get<double>());
  return def;
}
const json& Meta(const json& o) { return Child(o, "metadata"); }
std::string NameOf(const json& o) { return Str(Child(Meta(o), "name")); }
std::string NsOf(const json& o) { return Str(Child(Meta(o), "namespace")); }
std::string UidOf(const json& o) { return Str(Child(Meta(o), "uid")); }
bool Terminating(const json& o) { return !Child(Meta(o), "deletionTimestamp").is_null(); }
std::string Annotation(const json& o, const char* key) {
  return Str(Child(Child(Meta(o), "annotations"), key));
}
std::string Label(const json& o, const char* key) { return Str(Child(Child(Meta(o), "labels"), key)); }
void SetAnnotation(json& o, const std::string& key, const std::string& value) {
  o["metadata"]["annotations"][key] = value;
}

// Whether a container of `pod` runs an image matching the glob `pattern` ("" matches none).
bool CrashLoops(const json& pod, const std::string& pattern) {
  const json& containers = Child(Child(pod, "spec"), "containers");
  if (pattern.empty() || !containers.is_array()) return false;
  return std::any_of(containers.begin(), containers.end(), [&](const json& c) {
    return fnmatch(pattern.c_str(), Str(Child(c, "image")).c_str(), 0) == 0;
  });
}

// uid of the controller owner (ownerReferences[controller=true]) of `kind`, or "".
std::string ControllerUid(const json& o, const char* kind) {
  const json& refs = Child(Meta(o), "ownerReferences");
  if (!refs.is_array()) return "";
  for (const json& r : refs) {
    if (Child(r, "controller") == true && Str(Child(r, "kind")) == kind) return Str(Child(r, "uid"));
  }
  return "";
}

// Objects grouped by the uid of their controller owner of one kind, in the order given. Built
// once per phase of a step: looking up each owner's objects by scanning all of them made a
// step quadratic in the number of workloads (1,500 Deployments per member took seconds).
class OwnerIndex {
 public:
  OwnerIndex(const std::vector<json*>& objects, const char* owner_kind) {
    for (json* o : objects) {
      std::string uid = ControllerUid(*o, owner_kind);
      if (!uid.empty()) by_owner_[std::move(uid)].push_back(o);
    }
  }
  // The objects of `ns` owned by `owner_uid` (an owner is in its objects' namespace; one that
  // names an owner elsewhere is not its).
  std::vector<json*> Owned(const std::string& ns, const std::string& owner_uid) const {
    std::vector<json*> out;
    auto it = by_owner_.find(owner_uid);
    if (it == by_owner_.end()) return out;
    for (json* o : it->second) {
      if (NsOf(*o) == ns) out.push_back(o);
    }
    return out;
  }

 private:
  std::unordered_map<std::string, std::vector<json*>> by_owner_;
};

json OwnerRef(const json& owner, const char* api_version, const char* kind) {
  return json{{"apiVersion", api_version}, {"kind", kind},          {"name", NameOf(owner)},
              {"uid", UidOf(owner)},       {"controller", true}, {"blockOwnerDeletion", true}};
}

int64_t CreationMs(const json& o) {
  Timestamp t;
  if (ParseRfc3339(Str(Child(Meta(o), "creationTimestamp")), &t)) return Ms(t);
  return 0;
}

// Sets condition `type` in o.status.conditions; keeps lastTransitionTime when the status is
// unchanged. With `update_time`, also writes lastUpdateTime (Deployment style), refreshed
// only when status, reason or message change or `touch` is set.
void SetCondition(json& status, const std::string& type, const std::string& cond_status,
                  const std::string& reason, const std::string& message, Timestamp now,
                  bool update_time = false, bool touch = false) {
  json& conds = status["conditions"];
  if (!conds.is_array()) conds = json::array();
  std::string ts = FormatRfc3339(now);
  for (json& c : conds) {
    if (Str(Child(c, "type")) != type) continue;
    bool same_status = Str(Child(c, "status")) == cond_status;
    bool same = same_status && Str(Child(c, "reason")) == reason && Str(Child(c, "message")) == message;
    if (same && !touch) return;
    c["status"] = cond_status;
    if (!same_status) c["lastTransitionTime"] = ts;
    if (update_time) c["lastUpdateTime"] = ts;
    if (reason.empty()) c.erase("reason"); else c["reason"] = reason;
    if (message.empty()) c.erase("message"); else c["message"] = message;
    return;
  }
  json c = {{"type", type}, {"status", cond_status}};
  if (update_time) c["lastUpdateTime"] = ts;
  c["lastTransitionTime"] = ts;
  if (!reason.empty()) c["reason"] = reason;
  if (!message.empty()) c["message"] = message;
  conds.push_back(std::move(c));
}

const json* FindCondition(const json& obj, const char* type) {
  const json& conds = Child(Child(obj, "status"), "conditions");
  if (!conds.is_array()) return nullptr;
  for (const json& c : conds) {
    if (Str(Child(c, "type")) == type) return &c;
  }
  return nullptr;
}
bool ConditionTrue(const json& obj, const char* type) {
  const json* c = FindCondition(obj, type);
  return c && Str(Child(*c, "status")) == "True";
}

uint32_t Fnv32a(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}
std::string SafeEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += kSafeAlphabet[c % (sizeof kSafeAlphabet - 1)];
  return out;
}

// intstr: "25%" or 3, resolved against `total`.
int32_t ResolveIntOrPercent(const json& v, int32_t def_percent, int32_t total, bool round_up) {
  int64_t percent = def_percent;
  if (v.is_number_integer()) return static_cast<int32_t>(std::max<int64_t>(0, v.get<int64_t>()));
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (!s.empty() && s.back() == '%') {
      percent = std::atoll(s.substr(0, s.size() - 1).c_str());
    } else {
      return static_cast<int32_t>(std::max<int64_t>(0, std::atoll(s.c_str())));
    }
  }
  double x = static_cast<double>(percent) * total / 100.0;
  return static_cast<int32_t>(round_up ? std::ceil(x) : std::floor(x));
}

int32_t ReplicasOf(const json& spec_owner) {
  return static_cast<int32_t>(IntOr(Child(Child(spec_owner, "spec"), "replicas"), 1));
}
int32_t StatusInt(const json& o, const char* field) {
  return static_cast<int32_t>(IntOr(Child(Child(o, "status"), field), 0));
}

// Sets or removes (when zero) an int status field, as Go's omitempty does.
void SetOmitEmpty(json& status, const char* field, int64_t v) {
  if (v == 0) {
    status.erase(field);
  } else {
    status[field] = v;
  }
}

bool LabelsMatch(const json& selector_labels, const json& labels) {
  if (!selector_labels.is_object()) return true;
  for (auto it = selector_labels.begin(); it != selector_labels.end(); ++it) {
    if (Str(Child(labels, it.key().c_str())) != Str(it.value())) return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pure helpers

RollingParams ResolveRollingParams(const json& spec) {
  int32_t replicas = static_cast<int32_t>(IntOr(Child(spec, "replicas"), 1));
  const json& strategy = Child(spec, "strategy");
  RollingParams p;
  std::string type = Str(Child(strategy, "type"));
  if (!type.empty() && type != "RollingUpdate") return p;  // Recreate: 0/0
  const json& ru = Child(strategy, "rollingUpdate");
  p.max_surge = ResolveIntOrPercent(Child(ru, "maxSurge"), 25, replicas, true);
  p.max_unavailable = ResolveIntOrPercent(Child(ru, "maxUnavailable"), 25, replicas, false);
  if (p.max_surge == 0 && p.max_unavailable == 0) p.max_unavailable = 1;
  return p;
}

int32_t NewReplicaSetReplicas(int32_t desired, int32_t max_surge, int32_t all_pods,
                              int32_t new_rs_replicas) {
  int32_t max_total = desired + max_surge;
  if (all_pods >= max_total) return new_rs_replicas;
  int32_t scale_up = std::min(max_total - all_pods, desired - new_rs_replicas);
  return new_rs_replicas + scale_up;
}

std::vector<int32_t> ScaleDownOldReplicaSets(int32_t desired, int32_t max_unavailable,
                                             int32_t new_rs_replicas, int32_t new_rs_available,
                                             const std::vector<OldReplicaSet>& old) {
  std::vector<int32_t> r;
  int32_t old_pods = 0;
  for (const auto& o : old) {
    r.push_back(o.replicas);
    old_pods += o.replicas;
  }
  if (old_pods == 0) return r;
  int32_t all_pods = old_pods + new_rs_replicas;
  int32_t min_available = desired - max_unavailable;
  int32_t new_unavailable = new_rs_replicas - new_rs_available;
  int32_t max_scaled_down = all_pods - min_available - new_unavailable;
  if (max_scaled_down <= 0) return r;
  // Unhealthy old replicas go first: removing them costs no availability.
  int32_t cleaned = 0;
  for (size_t i = 0; i < old.size() && cleaned < max_scaled_down; ++i) {
    int32_t unhealthy = r[i] - std::min(r[i], old[i].available);
    if (r[i] == 0 || unhealthy <= 0) continue;
    int32_t c = std::min(max_scaled_down - cleaned, unhealthy);
    r[i] -= c;
    cleaned += c;
  }
  int32_t available = new_rs_available;
  for (size_t i = 0; i < old.size(); ++i) available += std::min(r[i], old[i].available);
  if (available <= min_available) return r;
  int32_t budget = available - min_available;
  int32_t scaled = 0;
  for (size_t i = 0; i < old.size() && scaled < budget; ++i) {
    if (r[i] == 0) continue;
    int32_t c = std::min(r[i], budget - scaled);
    r[i] -= c;
    scaled += c;
  }
  return r;
}

PodRequests RequestsOf(const json& pod_spec) {
  auto one = [](const json& container, PodRequests* out) {
    const json& res = Child(container, "resources");
    const json* src = &Child(res, "requests");
    for (const char* what : {"cpu", "memory"}) {
      const json* q = &Child(*src, what);
      if (q->is_null()) q = &Child(Child(res, "limits"), what);  // requests default to limits
      std::string text = q->is_string() ? q->get<std::string>()
                         : q->is_number() ? q->dump() : std::string();
      if (text.empty()) continue;
      if (std::string(what) == "cpu") {
        auto v = ParseQuantityMilli(text);
        if (v.ok()) out->cpu_milli += *v;
      } else {
        auto v = ParseQuantity(text);
        if (v.ok()) out->memory_bytes += *v;
      }
    }
  };
  PodRequests total;
  const json& containers = Child(pod_spec, "containers");
  if (containers.is_array()) {
    for (const json& c : containers) one(c, &total);
  }
  const json& inits = Child(pod_spec, "initContainers");
  if (inits.is_array()) {
    for (const json& c : inits) {
      PodRequests i;
      one(c, &i);
      total.cpu_milli = std::max(total.cpu_milli, i.cpu_milli);
      total.memory_bytes = std::max(total.memory_bytes, i.memory_bytes);
    }
  }
  return total;
}

std::string PodTemplateHash(const json& pod_template) {
  return SafeEncode(std::to_string(Fnv32a(pod_template.dump())));
}

// ---------------------------------------------------------------------------------------------
// The working copy of one step.

struct Reconciler::World {
  struct Entry {
    json obj;
    // The stored object in the step's snapshot (which outlives the World), null for objects
    // created in this step: a pointer, not a second copy of every object per step.
    const json* original = nullptr;
    int64_t rv = 0;
    bool created = false;
    bool deleted = false;
  };
  struct Table {
    ResourceType type;
    std::map<std::pair<std::string, std::string>, Entry> items;

    void Load(const std::vector<json>& objects) {
      for (const json& o : objects) {
        Entry e;
        e.obj = o;
        e.original = &o;
        auto rv = apimachinery::ResourceVersionOf(o);
        e.rv = rv.ok() ? *rv : 0;
        items[{NsOf(o), NameOf(o)}] = std::move(e);
      }
    }
    json* Find(const std::string& ns, const std::string& name) {
      auto it = items.find({ns, name});
      return it == items.end() || it->second.deleted ? nullptr : &it->second.obj;
    }
    bool Exists(const std::string& ns, const std::string& name) { return Find(ns, name) != nullptr; }
    // Live objects, in (namespace, name) order. Pointers stay valid for the whole step.
    std::vector<json*> Live() {
      std::vector<json*> out;
      for (auto& [k, e] : items) {
        if (!e.deleted) out.push_back(&e.obj);
      }
      return out;
    }
    void Create(json o) {
      auto key = std::make_pair(NsOf(o), NameOf(o));
      Entry& e = items[key];
      if (!e.deleted && !e.obj.is_null()) return;  // name taken: skip; next step decides again
      bool was_stored = e.original != nullptr;
      if (was_stored) {
        // Deleted and re-created in one step: let the delete happen first.
        return;
      }
      e.obj = std::move(o);
      e.created = true;
      e.deleted = false;
    }
    void Delete(const std::string& ns, const std::string& name) {
      auto it = items.find({ns, name});
      if (it != items.end()) it->second.deleted = true;
    }
  };

  Table nodes{kNodes, {}}, pods{kPods, {}}, deployments{kDeployments, {}},
      replicasets{kReplicaSets, {}}, statefulsets{kStatefulSets, {}}, services{kServices, {}};
  std::optional<Timestamp> wake_at;
  std::set<std::string> new_rs_created;  // deployment uids whose new RS was created this step

  void WakeAt(Timestamp t) {
    if (!wake_at || t < *wake_at) wake_at = t;
  }

  void Emit(Table& t, std::vector<Write>* out) {
    for (auto& [k, e] : t.items) {
      ObjectKey key{t.type, k.first, k.second};
      if (e.created && !e.deleted) {
        out->push_back(Write{WriteOp::kCreate, key, e.obj, 0, false});
      } else if (e.deleted && !e.created && e.original != nullptr) {
        out->push_back(Write{WriteOp::kDelete, key, json(), e.rv, false});
      } else if (!e.created && !e.deleted && e.obj != *e.original) {
        json a = e.obj, b = *e.original;
        a.erase("status");
        b.erase("status");
        out->push_back(Write{WriteOp::kUpdate, key, e.obj, e.rv, a == b});
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------

Reconciler::Reconciler(ClusterSpec spec, uint64_t seed) : spec_(std::move(spec)), rng_(seed) {}

std::string Reconciler::RandomSuffix() {
  std::string s;
  for (int i = 0; i < 5; ++i) s += kSafeAlphabet[rng_() % (sizeof kSafeAlphabet - 1)];
  return s;
}

std::vector<json> Reconciler::DesiredNodes() const {
  std::vector<json> out;
  for (size_t z = 0; z < spec_.zones.size(); ++z) {
    const ZoneSpec& zone = spec_.zones[z];
    for (int i = 0; i < zone.nodes; ++i) {
      std::string name = zone.name + "-node-" + std::to_string(i);
      json labels = {{"kubernetes.io/hostname", name},
                     {"kubernetes.io/os", "linux"},
                     {"kubernetes.io/arch", "amd64"},
                     {"beta.kubernetes.io/os", "linux"},
                     {"beta.kubernetes.io/arch", "amd64"},
                     {"node.kubernetes.io/instance-type", "membersim"},
                     {kZoneLabel, zone.name},
                     {kRegionLabel, spec_.region},
                     {"type", "membersim"}};
      if (!spec_.jurisdiction.empty()) labels["meridian.io/jurisdiction"] = spec_.jurisdiction;
      for (const auto& [k, v] : spec_.labels) labels[k] = v;
      json res = {{"cpu", FormatMilli(zone.allocatable.cpu_milli)},
                  {"memory", FormatBytes(zone.allocatable.memory_bytes)},
                  {"pods", std::to_string(zone.allocatable.pods)},
                  {"ephemeral-storage", "100Gi"}};
      std::string ip = "10.0." + std::to_string(z) + "." + std::to_string(10 + i);
      json node = {
          {"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"labels", labels}, {"annotations", {{"node.alpha.kubernetes.io/ttl", "0"}}}}},
          {"spec",
           {{"podCIDR", "10.244." + std::to_string(z * 64 + i) + ".0/24"},
            {"providerID", "membersim://" + spec_.name + "/" + name}}},
          {"status",
           {{"capacity", res},
            {"allocatable", res},
            {"addresses", json::array({{{"type", "InternalIP"}, {"address", ip}},
                                       {{"type", "Hostname"}, {"address", name}}})},
            {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", 10250}}}}},
            {"nodeInfo",
             {{"architecture", "amd64"},
              {"operatingSystem", "linux"},
              {"osImage", "membersim"},
              {"kernelVersion", "membersim"},
              {"kubeletVersion", "v1.32.0-membersim"},
              {"kubeProxyVersion", "v1.32.0-membersim"},
              {"containerRuntimeVersion", "membersim://1.0"},
              {"machineID", name},
              {"systemUUID", name},
              {"bootID", name}}},
            {"conditions", json::array()}}}};
      out.push_back(std::move(node));
    }
  }
  return out;
}

Step Reconciler::Reconcile(const Snapshot& s, const SimFaults& faults, Timestamp now) {
  World w;
  w.nodes.Load(s.nodes);
  w.pods.Load(s.pods);
  w.deployments.Load(s.deployments);
  w.replicasets.Load(s.replicasets);
  w.statefulsets.Load(s.statefulsets);
  w.services.Load(s.services);

  SyncNodes(w, faults, now);
  CollectGarbage(w);
  SyncDeployments(w, now);
  SyncReplicaSets(w);
  SyncStatefulSets(w);
  EvictFromFailedNodes(w, faults, now);
  Schedule(w, now);
  RunKubelets(w, now);
  ReplicaSetStatus(w, now);
  DeploymentStatus(w, now);
  StatefulSetStatus(w, now);
  LoadBalancers(w);

  Step step;
  w.Emit(w.nodes, &step.writes);
  w.Emit(w.replicasets, &step.writes);
  w.Emit(w.deployments, &step.writes);
  w.Emit(w.statefulsets, &step.writes);
  w.Emit(w.pods, &step.writes);
  w.Emit(w.services, &step.writes);
  step.wake_at = w.wake_at;
  return step;
}

// --- nodes -----------------------------------------------------------------------------------

void Reconciler::SyncNodes(World& w, const SimFaults& faults, Timestamp now) {
  std::map<std::string, std::string> zone_of;
  for (json& desired : DesiredNodes()) {
    std::string name = NameOf(desired);
    std::string zone = Str(Child(Child(Meta(desired), "labels"), kZoneLabel));
    json* node = w.nodes.Find("", name);
    if (!node) {
      desired["metadata"]["creationTimestamp"] = FormatRfc3339(now);
      w.nodes.Create(desired);
      node = w.nodes.Find("", name);
      if (!node) continue;
    }
    auto failed = faults.failed_zones.find(zone);
    bool down = failed != faults.failed_zones.end();
    json& status = (*node)["status"];
    if (!status.is_object()) status = json::object();  // a create through the API drops status
    for (const char* field : {"capacity", "allocatable", "addresses", "daemonEndpoints", "nodeInfo"}) {
      if (status[field] != desired["status"][field]) status[field] = desired["status"][field];
    }
    Timestamp since = down ? failed->second : now;
    if (down) {
      const char* msg = "Kubelet stopped posting node status.";
      SetCondition(status, "Ready", "Unknown", "NodeStatusUnknown", msg, since);
      SetCondition(status, "MemoryPressure", "Unknown", "NodeStatusUnknown", msg, since);
      SetCondition(status, "DiskPressure", "Unknown", "NodeStatusUnknown", msg, since);
      SetCondition(status, "PIDPressure", "Unknown", "NodeStatusUnknown", msg, since);
    } else {
      SetCondition(status, "MemoryPressure", "False", "KubeletHasSufficientMemory",
                   "kubelet has sufficient memory available", now);
      SetCondition(status, "DiskPressure", "False", "KubeletHasNoDiskPressure",
                   "kubelet has no disk pressure", now);
      SetCondition(status, "PIDPressure", "False", "KubeletHasSufficientPID",
                   "kubelet has sufficient PID available", now);
      SetCondition(status, "Ready", "True", "KubeletReady", "kubelet is posting ready status", now);
    }
    for (json& c : status["conditions"]) {
      if (!c.contains("lastHeartbeatTime")) c["lastHeartbeatTime"] = c["lastTransitionTime"];
    }
    // Taints the node lifecycle controller puts on unreachable nodes.
    json taints = json::array();
    const json& old_taints = Child(Child(*node, "spec"), "taints");
    if (old_taints.is_array()) {
      for (const json& t : old_taints) {
        if (Str(Child(t, "key")) != kUnreachable) taints.push_back(t);
      }
    }
    if (down) {
      taints.push_back({{"key", kUnreachable}, {"effect", "NoSchedule"}, {"timeAdded", FormatRfc3339(since)}});
      taints.push_back({{"key", kUnreachable}, {"effect", "NoExecute"}, {"timeAdded", FormatRfc3339(since)}});
    }
    // Keep timeAdded of existing taints stable.
    if (old_taints.is_array()) {
      for (json& t : taints) {
        for (const json& o : old_taints) {
          if (Child(o, "key") == Child(t, "key") && Child(o, "effect") == Child(t, "effect")) t = o;
        }
      }
    }
    if (taints.empty()) {
      if ((*node)["spec"].contains("taints")) (*node)["spec"].erase("taints");
    } else {
      (*node)["spec"]["taints"] = taints;
    }
  }
}

// --- garbage collection ----------------------------------------------------------------------

void Reconciler::CollectGarbage(World& w) {
  std::set<std::string> deploy_uids, rs_uids, sts_uids;
  for (json* d : w.deployments.Live()) deploy_uids.insert(UidOf(*d));
  for (json* r : w.replicasets.Live()) {
    std::string owner = ControllerUid(*r, "Deployment");
    if (!owner.empty() && !deploy_uids.count(owner)) {
      w.replicasets.Delete(NsOf(*r), NameOf(*r));
    } else {
      rs_uids.insert(UidOf(*r));
    }
  }
  for (json* st : w.statefulsets.Live()) sts_uids.insert(UidOf(*st));
  for (json* p : w.pods.Live()) {
    std::string rs = ControllerUid(*p, "ReplicaSet");
    std::string st = ControllerUid(*p, "StatefulSet");
    if ((!rs.empty() && !rs_uids.count(rs)) || (!st.empty() && !sts_uids.count(st))) {
      w.pods.Delete(NsOf(*p), NameOf(*p));
    }
  }
}

// --- deployments -----------------------------------------------------------------------------

void Reconciler::SyncDeployments(World& w, Timestamp now) {
  // A deployment changes only its own ReplicaSets, so an index of them taken here is what a
  // scan at each deployment would see.
  const OwnerIndex replicasets(w.replicasets.Live(), "Deployment");
  for (json* dp : w.deployments.Live()) {
    json& d = *dp;
    std::string uid = UidOf(d);
    if (uid.empty() || Terminating(d)) continue;
    if (Child(Child(d, "spec"), "paused") == true) continue;
    std::string ns = NsOf(d);
    const json& tmpl = Child(Child(d, "spec"), "template");
    std::string hash = PodTemplateHash(tmpl);
    json* new_rs = nullptr;
    std::vector<json*> old;
    for (json* r : replicasets.Owned(ns, uid)) {
      if (Label(*r, kTemplateHash) == hash) {
        new_rs = r;
      } else {
        old.push_back(r);
      }
    }
    std::sort(old.begin(), old.end(), [](json* a, json* b) {
      return std::make_tuple(CreationMs(*a), NameOf(*a)) < std::make_tuple(CreationMs(*b), NameOf(*b));
    });
    int32_t desired = ReplicasOf(d);
    RollingParams rp = ResolveRollingParams(d["spec"]);
    bool recreate = Str(Child(Child(Child(d, "spec"), "strategy"), "type")) == "Recreate";
    int32_t old_replicas = 0;
    int64_t max_revision = 0;
    for (json* r : old) {
      old_replicas += ReplicasOf(*r);
      max_revision = std::max<int64_t>(max_revision, std::atoll(Annotation(*r, kRevision).c_str()));
    }
    int32_t old_pods = 0;  // pods still alive for old ReplicaSets (Recreate waits for them)
    for (json* r : old) old_pods += StatusInt(*r, "replicas");

    if (!new_rs) {
      int32_t initial;
      if (recreate) {
        initial = (old_replicas > 0 || old_pods > 0) ? 0 : desired;
      } else {
        initial = old_replicas == 0 ? desired : NewReplicaSetReplicas(desired, rp.max_surge, old_replicas, 0);
      }
      json rs_tmpl = tmpl;
      rs_tmpl["metadata"]["labels"][kTemplateHash] = hash;
      json selector = Child(Child(d, "spec"), "selector");
      selector["matchLabels"][kTemplateHash] = hash;
      json labels = Child(Child(tmpl, "metadata"), "labels");
      if (!labels.is_object()) labels = json::object();
      labels[kTemplateHash] = hash;
      std::string revision = std::to_string(max_revision + 1);
      json rs = {{"apiVersion", "apps/v1"},
                 {"kind", "ReplicaSet"},
                 {"metadata",
                  {{"name", NameOf(d) + "-" + hash},
                   {"namespace", ns},
                   {"labels", labels},
                   {"annotations",
                    {{"deployment.kubernetes.io/desired-replicas", std::to_string(desired)},
                     {"deployment.kubernetes.io/max-replicas", std::to_string(desired + rp.max_surge)},
                     {kRevision, revision}}},
                   {"ownerReferences", json::array({OwnerRef(d, "apps/v1", "Deployment")})}}},
                 {"spec", {{"replicas", initial}, {"selector", selector}, {"template", rs_tmpl}}}};
      if (Child(d["spec"], "minReadySeconds").is_number()) rs["spec"]["minReadySeconds"] = d["spec"]["minReadySeconds"];
      w.replicasets.Create(std::move(rs));
      SetAnnotation(d, kRevision, revision);
      w.new_rs_created.insert(uid);
      continue;  // old ReplicaSets are scaled once the new one is stored
    }
    // Revision bookkeeping (a rollback to an old template makes that RS the newest revision).
    int64_t new_rev = std::atoll(Annotation(*new_rs, kRevision).c_str());
    if (new_rev <= max_revision) {
      new_rev = max_revision + 1;
      SetAnnotation(*new_rs, kRevision, std::to_string(new_rev));
    }
    if (Annotation(d, kRevision) != std::to_string(new_rev)) SetAnnotation(d, kRevision, std::to_string(new_rev));

    int32_t new_replicas = ReplicasOf(*new_rs);
    if (recreate) {
      if (old_replicas > 0) {
        for (json* r : old) (*r)["spec"]["replicas"] = 0;
      } else if (old_pods == 0 && new_replicas != desired) {
        (*new_rs)["spec"]["replicas"] = desired;
      }
      continue;
    }
    if (old_replicas == 0) {
      if (new_replicas != desired) (*new_rs)["spec"]["replicas"] = desired;
      continue;
    }
    int32_t scaled = NewReplicaSetReplicas(desired, rp.max_surge, old_replicas + new_replicas, new_replicas);
    if (scaled != new_replicas) {
      (*new_rs)["spec"]["replicas"] = scaled;
      continue;  // upstream returns after scaling up and scales down on the next sync
    }
    std::vector<OldReplicaSet> olds;
    for (json* r : old) olds.push_back({ReplicasOf(*r), StatusInt(*r, "availableReplicas")});
    std::vector<int32_t> down = ScaleDownOldReplicaSets(desired, rp.max_unavailable, new_replicas,
                                                        StatusInt(*new_rs, "availableReplicas"), olds);
    for (size_t i = 0; i < old.size(); ++i) {
      if (down[i] != olds[i].replicas) (*old[i])["spec"]["replicas"] = down[i];
    }
  }
  (void)now;
}

// --- replica sets ----------------------------------------------------------------------------

namespace {

bool PodReady(const json& p) { return ConditionTrue(p, "Ready"); }
bool PodBound(const json& p) { return !Str(Child(Child(p, "spec"), "nodeName")).empty(); }

// Non-terminating pods of `owner_uid` in `ns`, from an index of the step's pods by owner.
std::vector<json*> OwnedPods(const OwnerIndex& pods, const std::string& ns,
                             const std::string& owner_uid) {
  std::vector<json*> out;
  for (json* p : pods.Owned(ns, owner_uid)) {
    if (!Terminating(*p)) out.push_back(p);
  }
  return out;
}

json PodFromTemplate(const json& tmpl, const std::string& name, const std::string& ns, json owner_ref) {
  json meta = Child(tmpl, "metadata");
  if (!meta.is_object()) meta = json::object();
  meta.erase("creationTimestamp");
  meta["name"] = name;
  meta["namespace"] = ns;
  meta["ownerReferences"] = json::array({std::move(owner_ref)});
  json spec = Child(tmpl, "spec");
  if (!spec.is_object()) spec = json::object();
  if (!spec.contains("restartPolicy")) spec["restartPolicy"] = "Always";
  if (!spec.contains("schedulerName")) spec["schedulerName"] = "default-scheduler";
  if (!spec.contains("terminationGracePeriodSeconds")) spec["terminationGracePeriodSeconds"] = 30;
  if (!spec.contains("dnsPolicy")) spec["dnsPolicy"] = "ClusterFirst";
  PodRequests r = RequestsOf(spec);
  std::string qos = (r.cpu_milli == 0 && r.memory_bytes == 0) ? "BestEffort" : "Burstable";
  return json{{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", meta},
              {"spec", spec},
              {"status", {{"phase", "Pending"}, {"qosClass", qos}}}};
}

// Deletion preference (lower goes first): unscheduled, not ready, then newest.
std::tuple<int, int, int64_t, std::string> DeletionRank(const json& p) {
  return {PodBound(p) ? 1 : 0, PodReady(p) ? 1 : 0, -std::atoll(Annotation(p, kBoundAt).c_str()), NameOf(p)};
}

}  // namespace

void Reconciler::SyncReplicaSets(World& w) {
  const OwnerIndex pods(w.pods.Live(), "ReplicaSet");
  for (json* rp : w.replicasets.Live()) {
    json& rs = *rp;
    std::string uid = UidOf(rs);
    if (uid.empty() || Terminating(rs)) continue;
    std::string ns = NsOf(rs);
    std::vector<json*> owned = OwnedPods(pods, ns, uid);
    int32_t want = ReplicasOf(rs);
    int32_t have = static_cast<int32_t>(owned.size());
    if (have < want) {
      for (int32_t i = have; i < want; ++i) {
        std::string name;
        for (int tries = 0; tries < 10; ++tries) {
          name = NameOf(rs) + "-" + RandomSuffix();
          if (!w.pods.Exists(ns, name)) break;
        }
        json pod = PodFromTemplate(Child(Child(rs, "spec"), "template"), name, ns,
                                   OwnerRef(rs, "apps/v1", "ReplicaSet"));
        pod["metadata"]["generateName"] = NameOf(rs) + "-";
        w.pods.Create(std::move(pod));
      }
    } else if (have > want) {
      std::sort(owned.begin(), owned.end(),
                [](json* a, json* b) { return DeletionRank(*a) < DeletionRank(*b); });
      for (int32_t i = 0; i < have - want; ++i) w.pods.Delete(ns, NameOf(*owned[i]));
    }
  }
}

// --- stateful sets ---------------------------------------------------------------------------

void Reconciler::SyncStatefulSets(World& w) {
  const OwnerIndex pods(w.pods.Live(), "StatefulSet");
  for (json* sp : w.statefulsets.Live()) {
    json& st = *sp;
    std::string uid = UidOf(st);
    if (uid.empty() || Terminating(st)) continue;
    std::string ns = NsOf(st);
    std::string name = NameOf(st);
    const json& spec = Child(st, "spec");
    std::string update_rev = name + "-" + PodTemplateHash(Child(spec, "template"));
    std::string current_rev = Str(Child(Child(st, "status"), "currentRevision"));
    if (current_rev.empty()) current_rev = update_rev;
    bool parallel = Str(Child(spec, "podManagementPolicy")) == "Parallel";
    const json& strategy = Child(spec, "updateStrategy");
    bool on_delete = Str(Child(strategy, "type")) == "OnDelete";
    int64_t partition = IntOr(Child(Child(strategy, "rollingUpdate"), "partition"), 0);
    int32_t want = ReplicasOf(st);

    std::map<int64_t, json*> by_ordinal;
    for (json* p : OwnedPods(pods, ns, uid)) {
      std::string pn = NameOf(*p);
      if (pn.size() > name.size() + 1 && pn.compare(0, name.size() + 1, name + "-") == 0) {
        by_ordinal[std::atoll(pn.c_str() + name.size() + 1)] = p;
      }
    }
    bool all_ready = true;
    for (auto& [o, p] : by_ordinal) all_ready = all_ready && PodReady(*p);
    bool acted = false;
    for (int32_t i = 0; i < want; ++i) {
      auto it = by_ordinal.find(i);
      if (it == by_ordinal.end()) {
        std::string rev = (i < partition) ? current_rev : update_rev;
        std::string pn = name + "-" + std::to_string(i);
        json tmpl = Child(spec, "template");
        json pod = PodFromTemplate(tmpl, pn, ns, OwnerRef(st, "apps/v1", "StatefulSet"));
        pod["metadata"]["labels"][kRevisionHash] = rev;
        pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = pn;
        pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] = std::to_string(i);
        pod["spec"]["hostname"] = pn;
        if (Child(spec, "serviceName").is_string()) pod["spec"]["subdomain"] = spec["serviceName"];
        w.pods.Create(std::move(pod));
        acted = true;
        if (!parallel) break;
      } else if (!parallel && !PodReady(*it->second)) {
        acted = true;  // OrderedReady: wait for this ordinal before touching the next
        break;
      }
    }
    // Condemned ordinals go from the highest down.
    for (auto it = by_ordinal.rbegin(); it != by_ordinal.rend(); ++it) {
      if (it->first < want) break;
      if (!parallel && (acted || !all_ready)) break;
      w.pods.Delete(ns, NameOf(*it->second));
      acted = true;
      if (!parallel) break;
    }
    // Rolling update: one pod at a time from the highest ordinal, once everything is Ready.
    if (!acted && !on_delete && all_ready) {
      for (auto it = by_ordinal.rbegin(); it != by_ordinal.rend(); ++it) {
        if (it->first >= want) continue;
        if (it->first < partition) break;
        if (Label(*it->second, kRevisionHash) != update_rev) {
          w.pods.Delete(ns, NameOf(*it->second));
          break;
        }
      }
    }
  }
}

// --- node lifecycle: eviction ----------------------------------------------------------------

void Reconciler::EvictFromFailedNodes(World& w, const SimFaults& faults, Timestamp now) {
  if (faults.failed_zones.empty()) return;
  std::map<std::string, Timestamp> node_failed_at;
  for (json* n : w.nodes.Live()) {
    auto it = faults.failed_zones.find(Label(*n, kZoneLabel));
    if (it != faults.failed_zones.end()) node_failed_at[NameOf(*n)] = it->second;
  }
  for (json* p : w.pods.Live()) {
    auto it = node_failed_at.find(Str(Child(Child(*p, "spec"), "nodeName")));
    if (it == node_failed_at.end()) continue;
    Timestamp deadline = it->second + spec_.timings.pod_eviction_delay;
    if (now >= deadline) {
      w.pods.Delete(NsOf(*p), NameOf(*p));
    } else {
      w.WakeAt(deadline);
    }
  }
}

// --- scheduler -------------------------------------------------------------------------------

namespace {

struct NodeView {
  json* node;
  std::string name, zone;
  int64_t cpu = 0, mem = 0, pods = 0;              // allocatable
  int64_t used_cpu = 0, used_mem = 0, used_pods = 0;
  bool ready = false, unreachable = false, unschedulable = false;
};

bool NodeSelectorMatches(const json& pod_spec, const json& node) {
  const json& labels = Child(Meta(node), "labels");
  if (!LabelsMatch(Child(pod_spec, "nodeSelector"), labels)) return false;
  const json& terms = Child(Child(Child(Child(pod_spec, "affinity"), "nodeAffinity"),
                                  "requiredDuringSchedulingIgnoredDuringExecution"),
                            "nodeSelectorTerms");
  if (!terms.is_array() || terms.empty()) return true;
  for (const json& term : terms) {  // terms are ORed, expressions ANDed
    bool ok = true;
    const json& exprs = Child(term, "matchExpressions");
    if (exprs.is_array()) {
      for (const json& e : exprs) {
        std::string op = Str(Child(e, "operator"));
        const json& v = Child(labels, Str(Child(e, "key")).c_str());
        bool has = v.is_string();
        bool in = false;
        if (Child(e, "values").is_array()) {
          for (const json& x : e["values"]) in = in || (has && x == v);
        }
        if ((op == "In" && !in) || (op == "NotIn" && in) || (op == "Exists" && !has) ||
            (op == "DoesNotExist" && has)) {
          ok = false;
        }
      }
    }
    if (ok) return true;
  }
  return false;
}

std::string OwnerKey(const json& pod) {
  std::string rs = ControllerUid(pod, "ReplicaSet");
  if (!rs.empty()) return rs;
  std::string st = ControllerUid(pod, "StatefulSet");
  if (!st.empty()) return st;
  return NsOf(pod) + "/" + NameOf(pod);
}

}  // namespace

void Reconciler::Schedule(World& w, Timestamp now) {
  std::vector<NodeView> nodes;
  std::map<std::string, size_t> index;
  for (json* n : w.nodes.Live()) {
    NodeView v;
    v.node = n;
    v.name = NameOf(*n);
    v.zone = Label(*n, kZoneLabel);
    const json& alloc = Child(Child(*n, "status"), "allocatable");
    auto cpu = ParseQuantityMilli(Str(Child(alloc, "cpu")));
    auto mem = ParseQuantity(Str(Child(alloc, "memory")));
    auto pods = ParseQuantity(Str(Child(alloc, "pods")));
    v.cpu = cpu.ok() ? *cpu : 0;
    v.mem = mem.ok() ? *mem : 0;
    v.pods = pods.ok() ? *pods : 0;
    v.ready = ConditionTrue(*n, "Ready");
    v.unschedulable = Child(Child(*n, "spec"), "unschedulable") == true;
    const json& taints = Child(Child(*n, "spec"), "taints");
    if (taints.is_array()) {
      for (const json& t : taints) {
        if (Str(Child(t, "effect")) == "NoSchedule" || Str(Child(t, "effect")) == "NoExecute") v.unreachable = true;
      }
    }
    index[v.name] = nodes.size();
    nodes.push_back(std::move(v));
  }
  // owner -> zone -> count, owner -> node -> count, for spreading.
  std::map<std::string, std::map<std::string, int>> zone_count, node_count;
  std::vector<json*> pending;
  for (json* p : w.pods.Live()) {
    std::string node = Str(Child(Child(*p, "spec"), "nodeName"));
    if (node.empty()) {
      if (!Terminating(*p)) pending.push_back(p);
      continue;
    }
    auto it = index.find(node);
    if (it == index.end()) continue;
    NodeView& v = nodes[it->second];
    PodRequests r = RequestsOf((*p)["spec"]);
    v.used_cpu += r.cpu_milli;
    v.used_mem += r.memory_bytes;
    v.used_pods += 1;
    zone_count[OwnerKey(*p)][v.zone]++;
    node_count[OwnerKey(*p)][v.name]++;
  }
  std::sort(pending.begin(), pending.end(), [](json* a, json* b) {
    return std::make_tuple(CreationMs(*a), NsOf(*a), NameOf(*a)) <
           std::make_tuple(CreationMs(*b), NsOf(*b), NameOf(*b));
  });
  for (json* pp : pending) {
    json& pod = *pp;
    if (UidOf(pod).empty()) continue;  // created this step; bound once stored
    PodRequests r = RequestsOf(pod["spec"]);
    std::string owner = OwnerKey(pod);
    NodeView* best = nullptr;
    std::tuple<int, int, double, std::string> best_score;
    int not_ready = 0, taint = 0, selector = 0, cpu = 0, mem = 0, count = 0;
    for (NodeView& v : nodes) {
      if (v.unreachable || !v.ready) {
        ++taint;
        continue;
      }
      if (v.unschedulable) {
        ++not_ready;
        continue;
      }
      if (!NodeSelectorMatches(pod["spec"], *v.node)) {
        ++selector;
        continue;
      }
      bool fits = true;
      if (v.used_pods + 1 > v.pods) { ++count; fits = false; }
      if (v.used_cpu + r.cpu_milli > v.cpu) { ++cpu; fits = false; }
      if (v.used_mem + r.memory_bytes > v.mem) { ++mem; fits = false; }
      if (!fits) continue;
      double load = (v.cpu ? double(v.used_cpu + r.cpu_milli) / v.cpu : 1.0) +
                    (v.mem ? double(v.used_mem + r.memory_bytes) / v.mem : 1.0) +
                    (v.pods ? double(v.used_pods + 1) / v.pods : 1.0);
      auto score = std::make_tuple(zone_count[owner][v.zone], node_count[owner][v.name], load, v.name);
      if (!best || score < best_score) {
        best = &v;
        best_score = score;
      }
    }
    json& status = pod["status"];
    if (!best) {
      std::vector<std::string> reasons;
      if (cpu) reasons.push_back(std::to_string(cpu) + " Insufficient cpu");
      if (mem) reasons.push_back(std::to_string(mem) + " Insufficient memory");
      if (count) reasons.push_back(std::to_string(count) + " Too many pods");
      if (selector) reasons.push_back(std::to_string(selector) + " node(s) didn't match Pod's node affinity/selector");
      if (taint) reasons.push_back(std::to_string(taint) + " node(s) had untolerated taint {node.kubernetes.io/unreachable: }");
      if (not_ready) reasons.push_back(std::to_string(not_ready) + " node(s) were unschedulable");
      std::sort(reasons.begin(), reasons.end());
      std::string msg = "0/" + std::to_string(nodes.size()) + " nodes are available";
      for (size_t i = 0; i < reasons.size(); ++i) msg += (i == 0 ? ": " : ", ") + reasons[i];
      msg += ".";
      if (!reasons.empty() && nodes.size() > 0) {
        msg += " preemption: 0/" + std::to_string(nodes.size()) +
               " nodes are available: " + std::to_string(nodes.size()) +
               " Preemption is not helpful for scheduling.";
      }
      status["phase"] = "Pending";
      SetCondition(status, "PodScheduled", "False", "Unschedulable", msg, now);
      continue;
    }
    best->used_cpu += r.cpu_milli;
    best->used_mem += r.memory_bytes;
    best->used_pods += 1;
    zone_count[owner][best->zone]++;
    node_count[owner][best->name]++;
    pod["spec"]["nodeName"] = best->name;
    SetAnnotation(pod, kBoundAt, std::to_string(Ms(now)));
  }
}

// --- kubelets --------------------------------------------------------------------------------

void Reconciler::RunKubelets(World& w, Timestamp now) {
  std::map<std::string, std::pair<bool, std::string>> node_state;  // ready, InternalIP
  for (json* n : w.nodes.Live()) {
    std::string ip;
    const json& addrs = Child(Child(*n, "status"), "addresses");
    if (addrs.is_array() && !addrs.empty()) ip = Str(Child(addrs[0], "address"));
    node_state[NameOf(*n)] = {ConditionTrue(*n, "Ready"), ip};
  }
  for (json* pp : w.pods.Live()) {
    json& pod = *pp;
    std::string node = Str(Child(Child(pod, "spec"), "nodeName"));
    if (node.empty()) continue;
    auto ns = node_state.find(node);
    bool node_ready = ns != node_state.end() && ns->second.first;
    int64_t bound_ms = std::atoll(Annotation(pod, kBoundAt).c_str());
    if (bound_ms == 0) {  // bound by someone else (a Binding through the API): start now
      bound_ms = Ms(now);
      SetAnnotation(pod, kBoundAt, std::to_string(bound_ms));
    }
    Timestamp bound = FromMs(bound_ms);
    Timestamp ready_at = bound + spec_.timings.pod_ready_delay;
    json& status = pod["status"];
    SetCondition(status, "PodScheduled", "True", "", "", bound);
    if (!status.contains("hostIP") && ns != node_state.end()) {
      status["hostIP"] = ns->second.second;
      status["hostIPs"] = json::array({{{"ip", ns->second.second}}});
    }
    if (!status.contains("podIP")) {
      // Derived from the uid so that a status write lost to a race does not burn addresses.
      uint32_t n = Fnv32a(UidOf(pod) + NameOf(pod));
      std::string ip = "10.244." + std::to_string((n >> 8) % 250) + "." + std::to_string(n % 250 + 2);
      status["podIP"] = ip;
      status["podIPs"] = json::array({{{"ip", ip}}});
    }
    if (!status.contains("startTime")) status["startTime"] = FormatRfc3339(bound);
    SetCondition(status, "Initialized", "True", "", "", bound);
    // A started container stays started: a wall clock stepped back (NTP) must not turn a
    // running pod back into ContainerCreating.
    // A crash-looping image (ClusterTimings::crash_loop_image) never turns ready; its
    // containers restart every crash_loop_every since binding.
    const bool crash_loop = CrashLoops(pod, spec_.timings.crash_loop_image);
    int64_t restarts = 0;
    if (crash_loop) {
      const Duration every = spec_.timings.crash_loop_every;
      restarts = std::max<int64_t>(0, std::chrono::duration_cast<Duration>(now - bound) / every);
      w.WakeAt(bound + every * (restarts + 1));
    }
    const bool never_ready = crash_loop || Annotation(pod, kNeverReady) == "true";
    bool started = !never_ready && (now >= ready_at || !Annotation(pod, kReadyAt).empty());
    bool ready = started && node_ready;
    if (!started && !never_ready) w.WakeAt(ready_at);
    Timestamp transition = started ? std::max(ready_at, node_ready ? ready_at : now) : bound;
    if (ready) {
      if (Annotation(pod, kReadyAt).empty()) SetAnnotation(pod, kReadyAt, std::to_string(Ms(now)));
      SetCondition(status, "ContainersReady", "True", "", "", now);
      SetCondition(status, "Ready", "True", "", "", now);
    } else if (!started) {
      SetCondition(status, "ContainersReady", "False", "ContainersNotReady",
                   "containers with unready status: [" + std::string("app") + "]", transition);
      SetCondition(status, "Ready", "False", "ContainersNotReady", "containers with unready status", transition);
    } else {  // node lost: the node lifecycle controller marks pods NotReady
      if (pod["metadata"].contains("annotations")) pod["metadata"]["annotations"].erase(kReadyAt);
      SetCondition(status, "Ready", "False", "NodeNotReady", "", now);
    }
    status["phase"] = started ? "Running" : "Pending";
    json statuses = json::array();
    const json& containers = Child(Child(pod, "spec"), "containers");
    if (containers.is_array()) {
      for (const json& c : containers) {
        json cs = {{"name", Child(c, "name")},
                   {"image", Child(c, "image")},
                   {"imageID", ""},
                   {"ready", ready},
                   {"started", started},
                   {"restartCount", restarts}};
        if (started) {
          cs["containerID"] = "membersim://" + NameOf(pod) + "/" + Str(Child(c, "name"));
          cs["imageID"] = Str(Child(c, "image"));
          cs["state"] = {{"running", {{"startedAt", FormatRfc3339(ready_at)}}}};
        } else if (crash_loop) {
          cs["state"] = {{"waiting",
                          {{"reason", "CrashLoopBackOff"},
                           {"message", "back-off restarting failed container"}}}};
          if (restarts > 0) {
            cs["lastState"] = {{"terminated", {{"exitCode", 1}, {"reason", "Error"}}}};
          }
        } else {
          cs["state"] = {{"waiting", {{"reason", "ContainerCreating"}}}};
        }
        statuses.push_back(std::move(cs));
      }
    }
    status["containerStatuses"] = statuses;
  }
}

// --- status of workloads ---------------------------------------------------------------------

namespace {

struct PodCounts {
  int32_t replicas = 0, ready = 0, available = 0;
};

PodCounts CountPods(const std::vector<json*>& pods, int64_t min_ready_seconds, Timestamp now,
                    std::optional<Timestamp>* wake) {
  PodCounts c;
  for (json* p : pods) {
    c.replicas++;
    if (!PodReady(*p)) continue;
    c.ready++;
    int64_t ready_ms = std::atoll(Annotation(*p, kReadyAt).c_str());
    Timestamp avail_at = FromMs(ready_ms) + std::chrono::seconds(min_ready_seconds);
    if (min_ready_seconds == 0 || now >= avail_at) {
      c.available++;
    } else if (!*wake || avail_at < **wake) {
      *wake = avail_at;
    }
  }
  return c;
}

}  // namespace

void Reconciler::ReplicaSetStatus(World& w, Timestamp now) {
  const OwnerIndex pods(w.pods.Live(), "ReplicaSet");
  for (json* rp : w.replicasets.Live()) {
    json& rs = *rp;
    std::string uid = UidOf(rs);
    if (uid.empty()) continue;
    std::vector<json*> owned = OwnedPods(pods, NsOf(rs), uid);
    std::optional<Timestamp> wake;
    PodCounts c = CountPods(owned, IntOr(Child(Child(rs, "spec"), "minReadySeconds"), 0), now, &wake);
    if (wake) w.WakeAt(*wake);
    json& status = rs["status"];
    if (!status.is_object()) status = json::object();
    status["replicas"] = c.replicas;
    SetOmitEmpty(status, "fullyLabeledReplicas", c.replicas);
    SetOmitEmpty(status, "readyReplicas", c.ready);
    SetOmitEmpty(status, "availableReplicas", c.available);
    SetOmitEmpty(status, "observedGeneration", IntOr(Child(Meta(rs), "generation"), 0));
  }
}

void Reconciler::DeploymentStatus(World& w, Timestamp now) {
  const OwnerIndex replicasets(w.replicasets.Live(), "Deployment");
  for (json* dp : w.deployments.Live()) {
    json& d = *dp;
    std::string uid = UidOf(d);
    if (uid.empty()) continue;
    std::string hash = PodTemplateHash(Child(Child(d, "spec"), "template"));
    int32_t replicas = 0, updated = 0, ready = 0, available = 0;
    std::string new_rs_name;
    for (json* r : replicasets.Owned(NsOf(d), uid)) {
      replicas += StatusInt(*r, "replicas");
      ready += StatusInt(*r, "readyReplicas");
      available += StatusInt(*r, "availableReplicas");
      if (Label(*r, kTemplateHash) == hash) {
        updated = StatusInt(*r, "replicas");
        new_rs_name = NameOf(*r);
      }
    }
    int32_t desired = ReplicasOf(d);
    int64_t generation = IntOr(Child(Meta(d), "generation"), 1);
    const json old_status = Child(d, "status");
    json& status = d["status"];
    if (!status.is_object()) status = json::object();
    status["observedGeneration"] = generation;
    SetOmitEmpty(status, "replicas", replicas);
    SetOmitEmpty(status, "updatedReplicas", updated);
    SetOmitEmpty(status, "readyReplicas", ready);
    SetOmitEmpty(status, "availableReplicas", available);
    SetOmitEmpty(status, "unavailableReplicas", std::max(0, desired - available));
    RollingParams rp = ResolveRollingParams(d["spec"]);
    int32_t max_unavailable = std::min(rp.max_unavailable, desired);
    if (available >= desired - max_unavailable) {
      SetCondition(status, "Available", "True", "MinimumReplicasAvailable",
                   "Deployment has minimum availability.", now, true);
    } else {
      SetCondition(status, "Available", "False", "MinimumReplicasUnavailable",
                   "Deployment does not have minimum availability.", now, true);
    }
    // Progressing, as upstream syncRolloutStatus does.
    const json* prog = FindCondition(d, "Progressing");
    std::string prog_reason = prog ? Str(Child(*prog, "reason")) : "";
    bool complete = updated == desired && replicas == desired && available == desired;
    int64_t deadline_s = IntOr(Child(Child(d, "spec"), "progressDeadlineSeconds"), 600);
    std::string rs_ref = "ReplicaSet \"" + new_rs_name + "\"";
    if (new_rs_name.empty()) {
      // New ReplicaSet not stored yet: upstream writes NewReplicaSetCreated with the create.
      if (w.new_rs_created.count(uid)) {
        std::string rs_name = NameOf(d) + "-" + hash;
        SetCondition(status, "Progressing", "True", "NewReplicaSetCreated",
                     "Created new replica set \"" + rs_name + "\"", now, true);
      }
    } else if (complete) {
      SetCondition(status, "Progressing", "True", "NewReplicaSetAvailable",
                   rs_ref + " has successfully progressed.", now, true);
    } else {
      auto grew = [&](const char* f, int32_t now_v) { return now_v > IntOr(Child(old_status, f), 0); };
      int32_t old_old_replicas = static_cast<int32_t>(IntOr(Child(old_status, "replicas"), 0) -
                                                     IntOr(Child(old_status, "updatedReplicas"), 0));
      bool progressed = grew("updatedReplicas", updated) || grew("readyReplicas", ready) ||
                        grew("availableReplicas", available) || (replicas - updated) < old_old_replicas;
      if (progressed || !prog) {
        SetCondition(status, "Progressing", "True", "ReplicaSetUpdated", rs_ref + " is progressing.", now, true, true);
      } else if (prog_reason != "ProgressDeadlineExceeded") {
        Timestamp last;
        if (ParseRfc3339(Str(Child(*prog, "lastUpdateTime")), &last)) {
          Timestamp deadline = last + std::chrono::seconds(deadline_s);
          if (now > deadline) {
            SetCondition(status, "Progressing", "False", "ProgressDeadlineExceeded",
                         rs_ref + " has timed out progressing.", now, true);
          } else {
            w.WakeAt(deadline + std::chrono::seconds(1));
          }
        }
      }
    }
  }
}

void Reconciler::StatefulSetStatus(World& w, Timestamp now) {
  const OwnerIndex pods(w.pods.Live(), "StatefulSet");
  for (json* sp : w.statefulsets.Live()) {
    json& st = *sp;
    std::string uid = UidOf(st);
    if (uid.empty()) continue;
    std::string update_rev = NameOf(st) + "-" + PodTemplateHash(Child(Child(st, "spec"), "template"));
    json& status = st["status"];
    if (!status.is_object()) status = json::object();
    std::string current_rev = Str(Child(status, "currentRevision"));
    if (current_rev.empty()) current_rev = update_rev;
    std::vector<json*> owned = OwnedPods(pods, NsOf(st), uid);
    std::optional<Timestamp> wake;
    PodCounts c = CountPods(owned, IntOr(Child(Child(st, "spec"), "minReadySeconds"), 0), now, &wake);
    if (wake) w.WakeAt(*wake);
    int32_t current = 0, updated = 0;
    for (json* p : owned) {
      std::string rev = Label(*p, kRevisionHash);
      if (rev == current_rev) ++current;
      if (rev == update_rev) ++updated;
    }
    if (updated == c.replicas && c.ready == c.replicas && c.replicas == ReplicasOf(st)) {
      current_rev = update_rev;
      current = updated;
    }
    status["observedGeneration"] = IntOr(Child(Meta(st), "generation"), 1);
    status["replicas"] = c.replicas;
    SetOmitEmpty(status, "readyReplicas", c.ready);
    status["availableReplicas"] = c.available;
    SetOmitEmpty(status, "currentReplicas", current);
    SetOmitEmpty(status, "updatedReplicas", updated);
    status["currentRevision"] = current_rev;
    status["updateRevision"] = update_rev;
    status["collisionCount"] = 0;
  }
}

// --- load balancers --------------------------------------------------------------------------

// A LoadBalancer Service annotated with this set to "hostname" gets
// status.loadBalancer.ingress[].hostname (<name>.<namespace>.<cluster>.lb.membersim.test) and no
// ip, as AWS ELB/NLB report, instead of an address from the cluster's range.
constexpr char kLbIngressAnnotation[] = "membersim.meridian.io/load-balancer-ingress";

void Reconciler::LoadBalancers(World& w) {
  std::set<std::string> used;
  std::vector<json*> services = w.services.Live();
  for (json* s : services) {
    const json& ingress = Child(Child(Child(*s, "status"), "loadBalancer"), "ingress");
    if (ingress.is_array()) {
      for (const json& i : ingress) used.insert(Str(Child(i, "ip")));
    }
  }
  uint32_t size = spec_.lb_prefix >= 32 ? 1 : (uint32_t{1} << (32 - spec_.lb_prefix));
  for (json* sp : services) {
    json& svc = *sp;
    bool lb = Str(Child(Child(svc, "spec"), "type")) == "LoadBalancer";
    const json& ingress = Child(Child(Child(svc, "status"), "loadBalancer"), "ingress");
    bool has = ingress.is_array() && !ingress.empty();
    if (lb && !has &&
        Str(Child(Child(Meta(svc), "annotations"), kLbIngressAnnotation)) == "hostname") {
      // As a cloud whose load balancers have a DNS name and no fixed address (AWS ELB/NLB).
      std::string host = NameOf(svc) + "." + NsOf(svc) + "." + spec_.name + ".lb.membersim.test";
      svc["status"]["loadBalancer"]["ingress"] = json::array({{{"hostname", host}}});
    } else if (lb && !has) {
      for (uint32_t off = 1; off + 1 < size; ++off) {
        std::string ip = FormatIPv4(spec_.lb_base + off);
        if (used.insert(ip).second) {
          svc["status"]["loadBalancer"]["ingress"] = json::array({{{"ip", ip}, {"ipMode", "VIP"}}});
          break;
        }
      }
    } else if (!lb && has) {
      svc["status"]["loadBalancer"] = json::object();
    }
  }
}

}  // namespace meridian::membersim
