// The built-in schema table and the strict walker (api/template_schema.h).
#include "api/template_schema.h"

#include <deque>
#include <map>
#include <regex>
#include <set>

namespace meridian::api {
namespace {

using nlohmann::json;

enum class Type {
  kString,
  kInteger,
  kNumber,
  kBoolean,
  kObject,        // known fields only
  kArray,         // items
  kMap,           // string keys, values of `items`
  kIntOrString,   // a port or a percentage
  kQuantity,      // "100m", "128Mi", 2
  kOpaqueObject,  // an object, members not checked
  kOpaqueArray,   // a list, items not checked
  kAny,           // anything (status)
};

struct Node;

struct Field {
  Field(const char* n, const Node* s, bool r = false) : name(n), node(s), required(r) {}
  std::string name;
  const Node* node;
  bool required;
};

struct Node {
  Type type = Type::kAny;
  std::vector<Field> fields;         // kObject
  const Node* items = nullptr;       // kArray, kMap
  std::vector<std::string> allowed;  // kString: an enum when not empty
  int64_t min = INT64_MIN;           // kInteger
};

Field R(const char* name, const Node* node) { return Field(name, node, true); }

// The table. Built once; nodes are shared (every container uses the same Probe node).
class Schemas {
 public:
  Schemas() { Build(); }

  const Node* Find(const std::string& api_version, const std::string& kind) const {
    auto it = kinds_.find(api_version + " " + kind);
    return it == kinds_.end() ? nullptr : it->second;
  }
  // Kinds of `api_version` known to exist, with or without a schema ("" if the group is not
  // one the table covers completely).
  const std::set<std::string>* KnownKinds(const std::string& api_version) const {
    auto it = known_.find(api_version);
    return it == known_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> WithSchema() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : kinds_) out.push_back(k);
    return out;
  }

 private:
  const Node* New(Node n) { return &nodes_.emplace_back(std::move(n)); }
  const Node* Prim(Type t) { return New(Node{t, {}, nullptr, {}, INT64_MIN}); }
  const Node* Obj(std::vector<Field> f) { return New(Node{Type::kObject, std::move(f)}); }
  const Node* Arr(const Node* item) { return New(Node{Type::kArray, {}, item}); }
  const Node* Map(const Node* value) { return New(Node{Type::kMap, {}, value}); }
  const Node* Enum(std::vector<std::string> a) {
    return New(Node{Type::kString, {}, nullptr, std::move(a)});
  }
  const Node* IntMin(int64_t min) { return New(Node{Type::kInteger, {}, nullptr, {}, min}); }

  void Kind(const std::string& api_version, const std::string& kind, std::vector<Field> top) {
    std::vector<Field> fields = {
        {"apiVersion", str_}, {"kind", str_}, {"metadata", meta_}, {"status", any_}};
    fields.insert(fields.end(), top.begin(), top.end());
    kinds_[api_version + " " + kind] = Obj(std::move(fields));
    known_[api_version].insert(kind);
  }

  void Build();

  std::deque<Node> nodes_;
  std::map<std::string, const Node*> kinds_;
  std::map<std::string, std::set<std::string>> known_;
  const Node* str_ = nullptr;
  const Node* any_ = nullptr;
  const Node* meta_ = nullptr;
};

void Schemas::Build() {
  const Node* s = str_ = Prim(Type::kString);
  any_ = Prim(Type::kAny);
  const Node* i = Prim(Type::kInteger);
  const Node* n0 = IntMin(0);  // counts, seconds
  const Node* b = Prim(Type::kBoolean);
  const Node* ios = Prim(Type::kIntOrString);
  const Node* q = Prim(Type::kQuantity);
  const Node* oo = Prim(Type::kOpaqueObject);
  const Node* oa = Prim(Type::kOpaqueArray);
  const Node* ss = Arr(s);
  const Node* sm = Map(s);
  const Node* qm = Map(q);
  const Node* name_ref = Obj({{"name", s}});
  const Node* name_ref_opt = Obj({{"name", s}, {"optional", b}});

  meta_ = Obj({{"name", s},
               {"generateName", s},
               {"namespace", s},
               {"labels", sm},
               {"annotations", sm},
               {"finalizers", ss},
               {"ownerReferences", oa},
               {"uid", s},
               {"resourceVersion", s},
               {"generation", i},
               {"creationTimestamp", any_},
               {"deletionTimestamp", any_},
               {"deletionGracePeriodSeconds", i},
               {"managedFields", oa},
               {"selfLink", s}});
  const Node* selector = Obj(
      {{"matchLabels", sm},
       {"matchExpressions", Arr(Obj({R("key", s),
                                     R("operator", Enum({"In", "NotIn", "Exists", "DoesNotExist"})),
                                     {"values", ss}}))}});

  // ---- containers ----
  const Node* http_get = Obj({{"path", s},
                              R("port", ios),
                              {"host", s},
                              {"scheme", Enum({"HTTP", "HTTPS"})},
                              {"httpHeaders", Arr(Obj({R("name", s), R("value", s)}))}});
  const Node* exec = Obj({{"command", ss}});
  const Node* tcp = Obj({R("port", ios), {"host", s}});
  const Node* probe = Obj({{"exec", exec},
                           {"httpGet", http_get},
                           {"tcpSocket", tcp},
                           {"grpc", Obj({R("port", i), {"service", s}})},
                           {"initialDelaySeconds", n0},
                           {"timeoutSeconds", n0},
                           {"periodSeconds", n0},
                           {"successThreshold", n0},
                           {"failureThreshold", n0},
                           {"terminationGracePeriodSeconds", n0}});
  const Node* handler = Obj({{"exec", exec},
                             {"httpGet", http_get},
                             {"tcpSocket", tcp},
                             {"sleep", Obj({R("seconds", n0)})}});
  const Node* se_linux = Obj({{"user", s}, {"role", s}, {"type", s}, {"level", s}});
  const Node* profile = Obj({R("type", s), {"localhostProfile", s}});
  const Node* windows = Obj({{"gmsaCredentialSpecName", s},
                             {"gmsaCredentialSpec", s},
                             {"runAsUserName", s},
                             {"hostProcess", b}});
  const Node* security = Obj({{"capabilities", Obj({{"add", ss}, {"drop", ss}})},
                              {"privileged", b},
                              {"seLinuxOptions", se_linux},
                              {"windowsOptions", windows},
                              {"runAsUser", i},
                              {"runAsGroup", i},
                              {"runAsNonRoot", b},
                              {"readOnlyRootFilesystem", b},
                              {"allowPrivilegeEscalation", b},
                              {"procMount", s},
                              {"seccompProfile", profile},
                              {"appArmorProfile", profile}});
  const Node* key_ref = Obj({{"name", s}, R("key", s), {"optional", b}});
  const Node* env = Obj(
      {R("name", s),
       {"value", s},
       {"valueFrom",
        Obj({{"fieldRef", Obj({{"apiVersion", s}, R("fieldPath", s)})},
             {"resourceFieldRef", Obj({{"containerName", s}, R("resource", s), {"divisor", q}})},
             {"configMapKeyRef", key_ref},
             {"secretKeyRef", key_ref}})}});
  const Node* resources = Obj({{"limits", qm}, {"requests", qm}, {"claims", Arr(name_ref)}});
  const Node* container = Obj({
      R("name", s),
      R("image", s),
      {"command", ss},
      {"args", ss},
      {"workingDir", s},
      {"ports", Arr(Obj({{"name", s},
                         R("containerPort", IntMin(1)),
                         {"hostPort", i},
                         {"hostIP", s},
                         {"protocol", Enum({"TCP", "UDP", "SCTP"})}}))},
      {"env", Arr(env)},
      {"envFrom",
       Arr(Obj({{"prefix", s}, {"configMapRef", name_ref_opt}, {"secretRef", name_ref_opt}}))},
      {"resources", resources},
      {"resizePolicy", Arr(Obj({R("resourceName", s), R("restartPolicy", s)}))},
      {"restartPolicy", Enum({"Always"})},
      {"volumeMounts", Arr(Obj({R("name", s),
                                R("mountPath", s),
                                {"readOnly", b},
                                {"subPath", s},
                                {"subPathExpr", s},
                                {"mountPropagation", s},
                                {"recursiveReadOnly", s}}))},
      {"volumeDevices", Arr(Obj({R("name", s), R("devicePath", s)}))},
      {"livenessProbe", probe},
      {"readinessProbe", probe},
      {"startupProbe", probe},
      {"lifecycle", Obj({{"postStart", handler}, {"preStop", handler}, {"stopSignal", s}})},
      {"terminationMessagePath", s},
      {"terminationMessagePolicy", Enum({"File", "FallbackToLogsOnError"})},
      {"imagePullPolicy", Enum({"Always", "IfNotPresent", "Never"})},
      {"securityContext", security},
      {"stdin", b},
      {"stdinOnce", b},
      {"tty", b},
  });

  // ---- volumes ----
  const Node* key_paths = Arr(Obj({R("key", s), R("path", s), {"mode", i}}));
  const Node* volume = Obj({
      R("name", s),
      {"emptyDir", Obj({{"medium", s}, {"sizeLimit", q}})},
      {"configMap", Obj({{"name", s}, {"items", key_paths}, {"defaultMode", i}, {"optional", b}})},
      {"secret",
       Obj({{"secretName", s}, {"items", key_paths}, {"defaultMode", i}, {"optional", b}})},
      {"persistentVolumeClaim", Obj({R("claimName", s), {"readOnly", b}})},
      {"hostPath", Obj({R("path", s), {"type", s}})},
      {"projected", Obj({{"sources", oa}, {"defaultMode", i}})},
      {"downwardAPI", Obj({{"items", oa}, {"defaultMode", i}})},
      {"csi", Obj({R("driver", s),
                   {"readOnly", b},
                   {"fsType", s},
                   {"volumeAttributes", sm},
                   {"nodePublishSecretRef", name_ref}})},
      {"nfs", Obj({R("server", s), R("path", s), {"readOnly", b}})},
      {"ephemeral", Obj({{"volumeClaimTemplate", oo}})},
      {"image", Obj({{"reference", s}, {"pullPolicy", s}})},
  });

  const Node* pod_security = Obj({{"runAsUser", i},
                                  {"runAsGroup", i},
                                  {"runAsNonRoot", b},
                                  {"fsGroup", i},
                                  {"fsGroupChangePolicy", s},
                                  {"supplementalGroups", Arr(i)},
                                  {"supplementalGroupsPolicy", s},
                                  {"seLinuxOptions", se_linux},
                                  {"seccompProfile", profile},
                                  {"appArmorProfile", profile},
                                  {"sysctls", Arr(Obj({R("name", s), R("value", s)}))},
                                  {"windowsOptions", windows},
                                  {"seLinuxChangePolicy", s}});
  const Node* pod_spec = Obj({
      R("containers", Arr(container)),
      {"initContainers", Arr(container)},
      {"ephemeralContainers", oa},
      {"volumes", Arr(volume)},
      {"restartPolicy", Enum({"Always", "OnFailure", "Never"})},
      {"terminationGracePeriodSeconds", n0},
      {"activeDeadlineSeconds", IntMin(1)},
      {"dnsPolicy", Enum({"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"})},
      {"dnsConfig", Obj({{"nameservers", ss},
                         {"searches", ss},
                         {"options", Arr(Obj({{"name", s}, {"value", s}}))}})},
      {"nodeSelector", sm},
      {"nodeName", s},
      {"serviceAccountName", s},
      {"serviceAccount", s},
      {"automountServiceAccountToken", b},
      {"hostNetwork", b},
      {"hostPID", b},
      {"hostIPC", b},
      {"hostUsers", b},
      {"shareProcessNamespace", b},
      {"securityContext", pod_security},
      {"imagePullSecrets", Arr(name_ref)},
      {"hostname", s},
      {"subdomain", s},
      {"setHostnameAsFQDN", b},
      {"hostAliases", Arr(Obj({R("ip", s), {"hostnames", ss}}))},
      {"affinity", oo},
      {"tolerations", Arr(Obj({{"key", s},
                               {"operator", Enum({"Exists", "Equal"})},
                               {"value", s},
                               {"effect", Enum({"NoSchedule", "PreferNoSchedule", "NoExecute"})},
                               {"tolerationSeconds", i}}))},
      {"topologySpreadConstraints",
       Arr(Obj({R("maxSkew", IntMin(1)),
                R("topologyKey", s),
                R("whenUnsatisfiable", Enum({"DoNotSchedule", "ScheduleAnyway"})),
                {"labelSelector", selector},
                {"minDomains", IntMin(1)},
                {"nodeAffinityPolicy", s},
                {"nodeTaintsPolicy", s},
                {"matchLabelKeys", ss}}))},
      {"schedulerName", s},
      {"priorityClassName", s},
      {"priority", i},
      {"preemptionPolicy", s},
      {"runtimeClassName", s},
      {"enableServiceLinks", b},
      {"overhead", qm},
      {"readinessGates", Arr(Obj({R("conditionType", s)}))},
      {"os", Obj({R("name", Enum({"linux", "windows"}))})},
      {"schedulingGates", Arr(Obj({R("name", s)}))},
      {"resourceClaims", oa},
      {"resources", resources},
  });
  const Node* pod_template = Obj({{"metadata", meta_}, {"spec", pod_spec}});

  // ---- workloads ----
  const Node* rolling = Obj({{"maxUnavailable", ios}, {"maxSurge", ios}});
  Kind("apps/v1", "Deployment",
       {{"spec", Obj({{"replicas", n0},
                      {"selector", selector},
                      {"template", pod_template},
                      {"strategy", Obj({{"type", Enum({"Recreate", "RollingUpdate"})},
                                        {"rollingUpdate", rolling}})},
                      {"minReadySeconds", n0},
                      {"revisionHistoryLimit", n0},
                      {"progressDeadlineSeconds", n0},
                      {"paused", b}})}});
  Kind("apps/v1", "ReplicaSet",
       {{"spec", Obj({{"replicas", n0},
                      {"selector", selector},
                      {"template", pod_template},
                      {"minReadySeconds", n0}})}});
  const Node* pvc_spec =
      Obj({{"accessModes", ss},
           {"selector", selector},
           {"resources", resources},
           {"volumeName", s},
           {"storageClassName", s},
           {"volumeMode", Enum({"Filesystem", "Block"})},
           {"dataSource", Obj({{"apiGroup", s}, R("kind", s), R("name", s)})},
           {"dataSourceRef", Obj({{"apiGroup", s}, R("kind", s), R("name", s), {"namespace", s}})},
           {"volumeAttributesClassName", s}});
  const Node* on_delete = Enum({"RollingUpdate", "OnDelete"});
  Kind("apps/v1", "StatefulSet",
       {{"spec", Obj({{"replicas", n0},
                      {"selector", selector},
                      {"template", pod_template},
                      {"serviceName", s},
                      {"volumeClaimTemplates", Arr(Obj({{"apiVersion", s},
                                                        {"kind", s},
                                                        {"metadata", meta_},
                                                        {"spec", pvc_spec},
                                                        {"status", any_}}))},
                      {"podManagementPolicy", Enum({"OrderedReady", "Parallel"})},
                      {"updateStrategy",
                       Obj({{"type", on_delete},
                            {"rollingUpdate", Obj({{"partition", n0}, {"maxUnavailable", ios}})}})},
                      {"revisionHistoryLimit", n0},
                      {"minReadySeconds", n0},
                      {"persistentVolumeClaimRetentionPolicy",
                       Obj({{"whenDeleted", Enum({"Retain", "Delete"})},
                            {"whenScaled", Enum({"Retain", "Delete"})}})},
                      {"ordinals", Obj({{"start", n0}})}})}});
  Kind("apps/v1", "DaemonSet",
       {{"spec", Obj({{"selector", selector},
                      {"template", pod_template},
                      {"updateStrategy", Obj({{"type", on_delete}, {"rollingUpdate", rolling}})},
                      {"minReadySeconds", n0},
                      {"revisionHistoryLimit", n0}})}});
  const Node* job_spec = Obj({{"template", pod_template},
                              {"parallelism", n0},
                              {"completions", n0},
                              {"activeDeadlineSeconds", IntMin(1)},
                              {"backoffLimit", n0},
                              {"backoffLimitPerIndex", n0},
                              {"maxFailedIndexes", n0},
                              {"selector", selector},
                              {"manualSelector", b},
                              {"ttlSecondsAfterFinished", n0},
                              {"completionMode", Enum({"NonIndexed", "Indexed"})},
                              {"suspend", b},
                              {"podFailurePolicy", oo},
                              {"podReplacementPolicy", Enum({"TerminatingOrFailed", "Failed"})},
                              {"successPolicy", oo},
                              {"managedBy", s}});
  Kind("batch/v1", "Job", {{"spec", job_spec}});
  Kind("batch/v1", "CronJob",
       {{"spec", Obj({R("schedule", s),
                      {"timeZone", s},
                      {"startingDeadlineSeconds", n0},
                      {"concurrencyPolicy", Enum({"Allow", "Forbid", "Replace"})},
                      {"suspend", b},
                      R("jobTemplate", Obj({{"metadata", meta_}, {"spec", job_spec}})),
                      {"successfulJobsHistoryLimit", n0},
                      {"failedJobsHistoryLimit", n0}})}});

  // ---- core v1 ----
  Kind("v1", "Pod", {{"spec", pod_spec}});
  Kind("v1", "Service",
       {{"spec",
         Obj({{"ports", Arr(Obj({{"name", s},
                                 {"protocol", Enum({"TCP", "UDP", "SCTP"})},
                                 {"appProtocol", s},
                                 R("port", IntMin(1)),
                                 {"targetPort", ios},
                                 {"nodePort", i}}))},
              {"selector", sm},
              {"clusterIP", s},
              {"clusterIPs", ss},
              {"type", Enum({"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"})},
              {"externalIPs", ss},
              {"externalName", s},
              {"sessionAffinity", Enum({"None", "ClientIP"})},
              {"sessionAffinityConfig", oo},
              {"loadBalancerIP", s},
              {"loadBalancerSourceRanges", ss},
              {"loadBalancerClass", s},
              {"externalTrafficPolicy", Enum({"Cluster", "Local"})},
              {"internalTrafficPolicy", Enum({"Cluster", "Local"})},
              {"healthCheckNodePort", i},
              {"publishNotReadyAddresses", b},
              {"ipFamilies", ss},
              {"ipFamilyPolicy", Enum({"SingleStack", "PreferDualStack", "RequireDualStack"})},
              {"allocateLoadBalancerNodePorts", b},
              {"trafficDistribution", s}})}});
  Kind("v1", "ConfigMap", {{"data", sm}, {"binaryData", sm}, {"immutable", b}});
  Kind("v1", "Secret", {{"data", sm}, {"stringData", sm}, {"type", s}, {"immutable", b}});
  Kind("v1", "ServiceAccount",
       {{"secrets", oa}, {"imagePullSecrets", Arr(name_ref)}, {"automountServiceAccountToken", b}});
  Kind("v1", "PersistentVolumeClaim", {{"spec", pvc_spec}});

  // ---- networking.k8s.io/v1, policy/v1 (zero-change adoption serves both kinds) ----
  const Node* ingress_backend =
      Obj({{"service", Obj({R("name", s), {"port", Obj({{"name", s}, {"number", IntMin(1)}})}})},
           {"resource", Obj({{"apiGroup", s}, R("kind", s), R("name", s)})}});
  Kind("networking.k8s.io/v1", "Ingress",
       {{"spec",
         Obj({{"ingressClassName", s},
              {"defaultBackend", ingress_backend},
              {"tls", Arr(Obj({{"hosts", ss}, {"secretName", s}}))},
              {"rules",
               Arr(Obj({{"host", s},
                        {"http",
                         Obj({R("paths", Arr(Obj({{"path", s},
                                                  R("pathType", Enum({"Exact", "Prefix",
                                                                      "ImplementationSpecific"})),
                                                  R("backend", ingress_backend)})))})}}))}})}});
  for (const char* k : {"IngressClass", "NetworkPolicy", "IPAddress", "ServiceCIDR"}) {
    known_["networking.k8s.io/v1"].insert(k);
  }
  Kind("policy/v1", "PodDisruptionBudget",
       {{"spec", Obj({{"minAvailable", ios},
                      {"maxUnavailable", ios},
                      {"selector", selector},
                      {"unhealthyPodEvictionPolicy", Enum({"IfHealthyBudget", "AlwaysAllow"})}})}});

  // Kinds of these groups that exist but have no schema here: accepted unchecked (a template
  // rarely holds them; refusing them would be wrong, not safe).
  for (const char* k :
       {"Namespace", "Endpoints", "LimitRange", "ResourceQuota", "ReplicationController",
        "PodTemplate", "PersistentVolume", "Event", "Node", "Binding", "ComponentStatus"}) {
    known_["v1"].insert(k);
  }
  known_["apps/v1"].insert("ControllerRevision");
}

const Schemas& Table() {
  static const Schemas* table = new Schemas();
  return *table;
}

void Check(const Node& n, const json& v, const std::string& path, FieldErrors* errors) {
  if (v.is_null()) return;  // null is absent, as in the API server's decoding
  auto wrong = [&](const char* want) {
    errors->push_back({path, std::string("must be ") + want + ", not " + JsonTypeName(v)});
  };
  switch (n.type) {
    case Type::kAny:
      return;
    case Type::kString:
      if (!v.is_string()) return wrong("a string");
      if (!n.allowed.empty()) {
        const std::string got = v.get<std::string>();
        std::string list;
        for (const std::string& a : n.allowed) {
          if (a == got) return;
          list += (list.empty() ? "" : ", ") + a;
        }
        errors->push_back(
            {path, "unsupported value \"" + got + "\" (must be one of " + list + ")"});
      }
      return;
    case Type::kInteger:
      if (!v.is_number_integer()) return wrong("an integer");
      if (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < n.min) {
        errors->push_back({path, "must be >= " + std::to_string(n.min)});
      }
      return;
    case Type::kNumber:
      if (!v.is_number()) return wrong("a number");
      return;
    case Type::kBoolean:
      if (!v.is_boolean()) return wrong("a boolean");
      return;
    case Type::kIntOrString:
      if (!v.is_number_integer() && !v.is_string()) return wrong("an integer or a string");
      return;
    case Type::kQuantity:
      if (v.is_number()) return;
      if (!v.is_string()) return wrong("a quantity (such as 100m, 128Mi or 2)");
      if (!IsQuantityString(v.get<std::string>())) {
        errors->push_back({path, "\"" + v.get<std::string>() +
                                     "\" is not a quantity (such as 100m, 128Mi or 2)"});
      }
      return;
    case Type::kOpaqueObject:
      if (!v.is_object()) return wrong("an object");
      return;
    case Type::kOpaqueArray:
      if (!v.is_array()) return wrong("a list");
      return;
    case Type::kArray:
      if (!v.is_array()) return wrong("a list");
      for (size_t k = 0; k < v.size(); ++k) {
        Check(*n.items, v[k], path + "[" + std::to_string(k) + "]", errors);
      }
      return;
    case Type::kMap:
      if (!v.is_object()) return wrong("an object");
      for (auto it = v.begin(); it != v.end(); ++it) {
        Check(*n.items, it.value(), JoinPath(path, it.key()), errors);
      }
      return;
    case Type::kObject:
      if (!v.is_object()) return wrong("an object");
      for (auto it = v.begin(); it != v.end(); ++it) {
        const Field* f = nullptr;
        for (const Field& c : n.fields) {
          if (c.name == it.key()) f = &c;
        }
        if (f == nullptr) {
          errors->push_back({JoinPath(path, it.key()), "unknown field \"" + it.key() + "\""});
        } else {
          Check(*f->node, it.value(), JoinPath(path, it.key()), errors);
        }
      }
      for (const Field& f : n.fields) {
        if (!f.required) continue;
        auto it = v.find(f.name);
        if (it == v.end() || it->is_null()) {
          errors->push_back({JoinPath(path, f.name), "required"});
        } else if (it->is_string() && it->get<std::string>().empty()) {
          errors->push_back({JoinPath(path, f.name), "required (must not be empty)"});
        }
      }
      return;
  }
}

}  // namespace

void ValidateTemplate(const json& tmpl, const std::string& path, FieldErrors* errors) {
  if (!tmpl.is_object()) return;
  auto av = tmpl.find("apiVersion");
  auto k = tmpl.find("kind");
  if (av == tmpl.end() || k == tmpl.end() || !av->is_string() || !k->is_string()) return;
  const std::string api_version = av->get<std::string>();
  const std::string kind = k->get<std::string>();
  const Schemas& table = Table();
  if (const Node* schema = table.Find(api_version, kind)) {
    Check(*schema, tmpl, path, errors);
    return;
  }
  const std::set<std::string>* known = table.KnownKinds(api_version);
  if (known != nullptr) {
    if (known->count(kind)) return;  // exists, no schema here: accepted unchecked
    std::string list;
    for (const std::string& name : *known) list += (list.empty() ? "" : ", ") + name;
    errors->push_back({JoinPath(path, "kind"), "unknown kind \"" + kind + "\" in " + api_version +
                                                   " (known: " + list + ")"});
    return;
  }
  // Another version of a group the table covers: Kubernetes serves only v1 of these today.
  const size_t slash = api_version.find('/');
  const std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  if (group.empty() || group == "apps" || group == "batch") {
    const std::string want = group.empty() ? "v1" : group + "/v1";
    errors->push_back(
        {JoinPath(path, "apiVersion"),
         "unsupported version \"" + api_version + "\" for kind " + kind + " (use " + want + ")"});
  }
  // Any other group: no built-in schema; the member validates it on propagation.
}

std::vector<std::string> KindsWithBuiltinSchema() { return Table().WithSchema(); }

namespace {

// One node as an OpenAPI v2 schema (inlined: shared nodes are written once per use).
json ToOpenApi(const Node& n) {
  switch (n.type) {
    case Type::kString: {
      json s = {{"type", "string"}};
      if (!n.allowed.empty()) s["enum"] = n.allowed;
      return s;
    }
    case Type::kInteger: {
      json s = {{"type", "integer"}, {"format", "int64"}};
      if (n.min != INT64_MIN) s["minimum"] = n.min;
      return s;
    }
    case Type::kNumber:
      return {{"type", "number"}};
    case Type::kBoolean:
      return {{"type", "boolean"}};
    case Type::kObject: {
      json props = json::object();
      json required = json::array();
      for (const Field& f : n.fields) {
        props[f.name] = ToOpenApi(*f.node);
        if (f.required) required.push_back(f.name);
      }
      json s = {{"type", "object"}, {"properties", std::move(props)}};
      if (!required.empty()) s["required"] = std::move(required);
      return s;
    }
    case Type::kArray:
      return {{"type", "array"}, {"items", ToOpenApi(*n.items)}};
    case Type::kMap:
      return {{"type", "object"}, {"additionalProperties", ToOpenApi(*n.items)}};
    case Type::kIntOrString:
      return {{"type", "string"}, {"format", "int-or-string"}};
    case Type::kQuantity:
      return {{"$ref", "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}};
    case Type::kOpaqueObject:
      return {{"type", "object"}};
    case Type::kOpaqueArray:
      return {{"type", "array"}};
    case Type::kAny:
      return json::object();
  }
  return json::object();
}

}  // namespace

json BuiltinOpenApiV2Document() {
  json defs = json::object();
  defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {{"type", "string"}};
  const Schemas& table = Table();
  for (const std::string& key : table.WithSchema()) {
    const size_t space = key.find(' ');
    const std::string api_version = key.substr(0, space);
    const std::string kind = key.substr(space + 1);
    const size_t slash = api_version.find('/');
    const std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
    const std::string version = api_version.substr(slash == std::string::npos ? 0 : slash + 1);
    json schema = ToOpenApi(*table.Find(api_version, kind));
    schema["x-kubernetes-group-version-kind"] =
        json::array({{{"group", group}, {"version", version}, {"kind", kind}}});
    defs["io.k8s.api." + (group.empty() ? std::string("core") : group) + "." + version + "." +
         kind] = std::move(schema);
  }
  return {{"swagger", "2.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "built-in schemas (Meridian)"}}},
          {"paths", json::object()},
          {"definitions", std::move(defs)}};
}

std::string JsonTypeName(const json& v) {
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_object()) return "an object";
  if (v.is_array()) return "a list";
  return "null";
}

bool IsQuantityString(const std::string& q) {
  static const std::regex re(R"(^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$)");
  return std::regex_match(q, re);
}

}  // namespace meridian::api
