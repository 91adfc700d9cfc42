#include "membersim/printers.h"

#include <string>

#include "apimachinery/table.h"
#include "common/json_fields.h"

namespace meridian::membersim {
namespace {

using apimachinery::PrinterColumn;
using nlohmann::json;

using json_fields::Child;
using json_fields::Str;
int64_t Int(const json& v) { return v.is_number_integer() ? v.get<int64_t>() : 0; }

PrinterColumn Column(const char* name, const char* type, const char* description,
                     int priority = 0) {
  return PrinterColumn{name, type, "", description, "", priority};
}

PrinterColumn AgeColumn() {
  return Column("Age", "string",
                "CreationTimestamp is a timestamp representing the server time when this object "
                "was created.");
}

std::string Age(const json& o, Timestamp now) {
  Timestamp created;
  if (!ParseRfc3339(Str(Child(Child(o, "metadata"), "creationTimestamp")), &created))
    return "<unknown>";
  return apimachinery::HumanDuration(std::chrono::duration_cast<Duration>(now - created));
}

std::string OrNone(const std::string& s) { return s.empty() ? "<none>" : s; }

// Joined container names and images of a pod template (the wide CONTAINERS/IMAGES columns).
std::pair<std::string, std::string> ContainersAndImages(const json& pod_spec) {
  std::string names, images;
  const json& containers = Child(pod_spec, "containers");
  if (containers.is_array()) {
    for (const json& c : containers) {
      names += (names.empty() ? "" : ",") + Str(Child(c, "name"));
      images += (images.empty() ? "" : ",") + Str(Child(c, "image"));
    }
  }
  return {names, images};
}

// metav1.FormatLabelSelector for matchLabels (and "<none>" for none).
std::string SelectorString(const json& selector) {
  std::string out;
  const json& labels = Child(selector, "matchLabels");
  if (labels.is_object()) {
    for (const auto& [k, v] : labels.items()) out += (out.empty() ? "" : ",") + k + "=" + Str(v);
  }
  const json& exprs = Child(selector, "matchExpressions");
  if (exprs.is_array()) {
    for (const json& e : exprs) {
      std::string op = Str(Child(e, "operator")), key = Str(Child(e, "key"));
      std::string values;
      if (Child(e, "values").is_array()) {
        for (const json& v : Child(e, "values")) values += (values.empty() ? "" : ",") + Str(v);
      }
      std::string term = op == "In"             ? key + " in (" + values + ")"
                         : op == "NotIn"        ? key + " notin (" + values + ")"
                         : op == "Exists"       ? key
                         : op == "DoesNotExist" ? "!" + key
                                                : key;
      out += (out.empty() ? "" : ",") + term;
    }
  }
  return OrNone(out);
}

std::vector<PrinterColumn> WorkloadWide(bool with_selector) {
  std::vector<PrinterColumn> cols = {
      Column("Containers", "string", "Names of each container in the template.", 1),
      Column("Images", "string", "Images referenced by each container in the template.", 1)};
  if (with_selector) cols.push_back(Column("Selector", "string", "Label selector for pods.", 1));
  return cols;
}

void AppendWide(json& row, const json& spec, bool with_selector) {
  auto [names, images] = ContainersAndImages(Child(Child(spec, "template"), "spec"));
  row.push_back(names);
  row.push_back(images);
  if (with_selector) row.push_back(SelectorString(Child(spec, "selector")));
}

}  // namespace

std::vector<PrinterColumn> NodeColumns() {
  return {
      Column("Status", "string", "The status of the node"),
      Column("Roles", "string", "The roles of the node"),
      AgeColumn(),
      Column("Version", "string", "Kubelet Version reported by the node."),
      Column("Internal-IP", "string", "List of internal IPs in the node.", 1),
      Column("External-IP", "string", "List of external IPs in the node.", 1),
      Column("OS-Image", "string", "OS Image reported by the node from /etc/os-release.", 1),
      Column("Kernel-Version", "string", "Kernel Version reported by the node.", 1),
      Column("Container-Runtime", "string", "Container Runtime Version reported by the node.", 1)};
}

json NodeRow(const json& node, Timestamp now) {
  const json& status = Child(node, "status");
  std::string state;
  const json& conditions = Child(status, "conditions");
  if (conditions.is_array()) {
    for (const json& c : conditions) {
      if (Str(Child(c, "type")) != "Ready") continue;
      state = Str(Child(c, "status")) == "True" ? "Ready" : "NotReady";
    }
  }
  if (state.empty()) state = "Unknown";
  if (Child(Child(node, "spec"), "unschedulable") == json(true)) state += ",SchedulingDisabled";

  std::string roles;
  const json& labels = Child(Child(node, "metadata"), "labels");
  if (labels.is_object()) {
    static const std::string kRolePrefix = "node-role.kubernetes.io/";
    for (const auto& [k, v] : labels.items()) {
      std::string role;
      if (k.rfind(kRolePrefix, 0) == 0) role = k.substr(kRolePrefix.size());
      if (k == "kubernetes.io/role") role = Str(v);
      if (!role.empty()) roles += (roles.empty() ? "" : ",") + role;
    }
  }
  std::string internal, external;
  const json& addresses = Child(status, "addresses");
  if (addresses.is_array()) {
    for (const json& a : addresses) {
      std::string type = Str(Child(a, "type")), addr = Str(Child(a, "address"));
      if (type == "InternalIP") internal += (internal.empty() ? "" : ",") + addr;
      if (type == "ExternalIP") external += (external.empty() ? "" : ",") + addr;
    }
  }
  const json& info = Child(status, "nodeInfo");
  auto unknown = [](const std::string& s) { return s.empty() ? std::string("<unknown>") : s; };
  return json::array({state, OrNone(roles), Age(node, now), Str(Child(info, "kubeletVersion")),
                      OrNone(internal), OrNone(external), unknown(Str(Child(info, "osImage"))),
                      unknown(Str(Child(info, "kernelVersion"))),
                      unknown(Str(Child(info, "containerRuntimeVersion")))});
}

std::vector<PrinterColumn> PodColumns() {
  return {
      Column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
      Column("Status", "string", "The aggregate status of the containers in this pod."),
      Column("Restarts", "string",
             "The number of times the containers in this pod have been restarted."),
      AgeColumn(),
      Column("IP", "string", "IP address allocated to the pod.", 1),
      Column("Node", "string", "Name of the node the pod is assigned to.", 1),
      Column("Nominated Node", "string", "Name of the node the pod is nominated to run on.", 1),
      Column("Readiness Gates", "string", "The readiness gates of the pod.", 1)};
}

json PodRow(const json& pod, Timestamp now) {
  const json& spec = Child(pod, "spec");
  const json& status = Child(pod, "status");
  int64_t total = Child(spec, "containers").is_array()
                      ? static_cast<int64_t>(Child(spec, "containers").size())
                      : 0;
  int64_t ready = 0, restarts = 0;
  std::string reason = Str(Child(status, "reason"));
  if (reason.empty()) reason = Str(Child(status, "phase"));
  if (reason.empty()) reason = "Pending";
  const json& statuses = Child(status, "containerStatuses");
  if (statuses.is_array()) {
    // Upstream walks containers last to first, so the first container's reason wins.
    for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
      const json& cs = *it;
      restarts += Int(Child(cs, "restartCount"));
      const json& state = Child(cs, "state");
      std::string waiting = Str(Child(Child(state, "waiting"), "reason"));
      const json& terminated = Child(state, "terminated");
      if (!waiting.empty()) {
        reason = waiting;
      } else if (terminated.is_object()) {
        std::string r = Str(Child(terminated, "reason"));
        if (r.empty()) {
          r = Child(terminated, "signal").is_number() && Int(Child(terminated, "signal")) != 0
                  ? "Signal:" + std::to_string(Int(Child(terminated, "signal")))
                  : "ExitCode:" + std::to_string(Int(Child(terminated, "exitCode")));
        }
        reason = r;
      } else if (Child(cs, "ready") == json(true) && Child(state, "running").is_object()) {
        ++ready;
      }
    }
  }
  if (!Child(Child(pod, "metadata"), "deletionTimestamp").is_null()) {
    reason = Str(Child(status, "reason")) == "NodeLost" ? "Unknown" : "Terminating";
  }
  std::string gates;
  if (Child(spec, "readinessGates").is_array()) {
    int64_t n = static_cast<int64_t>(Child(spec, "readinessGates").size());
    if (n > 0) gates = "0/" + std::to_string(n);
  }
  return json::array({std::to_string(ready) + "/" + std::to_string(total), reason,
                      std::to_string(restarts), Age(pod, now), OrNone(Str(Child(status, "podIP"))),
                      OrNone(Str(Child(spec, "nodeName"))),
                      OrNone(Str(Child(status, "nominatedNodeName"))), OrNone(gates)});
}

std::vector<PrinterColumn> DeploymentColumns() {
  std::vector<PrinterColumn> cols = {
      Column("Ready", "string", "Number of the pod with ready state"),
      Column("Up-to-date", "integer",
             "Total number of non-terminated pods targeted by this deployment that have the "
             "desired template spec."),
      Column("Available", "integer",
             "Total number of available pods (ready for at least minReadySeconds) targeted by this "
             "deployment."),
      AgeColumn()};
  for (PrinterColumn& c : WorkloadWide(true)) cols.push_back(std::move(c));
  return cols;
}

json DeploymentRow(const json& deployment, Timestamp now) {
  const json& spec = Child(deployment, "spec");
  const json& status = Child(deployment, "status");
  json row = json::array({std::to_string(Int(Child(status, "readyReplicas"))) + "/" +
                              std::to_string(Int(Child(spec, "replicas"))),
                          Int(Child(status, "updatedReplicas")),
                          Int(Child(status, "availableReplicas")), Age(deployment, now)});
  AppendWide(row, spec, true);
  return row;
}

std::vector<PrinterColumn> ReplicaSetColumns() {
  std::vector<PrinterColumn> cols = {Column("Desired", "integer", "Number of desired pods."),
                                     Column("Current", "integer", "Number of actual running pods."),
                                     Column("Ready", "integer", "Number of ready pods."),
                                     AgeColumn()};
  for (PrinterColumn& c : WorkloadWide(true)) cols.push_back(std::move(c));
  return cols;
}

json ReplicaSetRow(const json& replica_set, Timestamp now) {
  const json& spec = Child(replica_set, "spec");
  const json& status = Child(replica_set, "status");
  json row = json::array({Int(Child(spec, "replicas")), Int(Child(status, "replicas")),
                          Int(Child(status, "readyReplicas")), Age(replica_set, now)});
  AppendWide(row, spec, true);
  return row;
}

std::vector<PrinterColumn> StatefulSetColumns() {
  std::vector<PrinterColumn> cols = {
      Column("Ready", "string", "Number of the pod with ready state"), AgeColumn()};
  for (PrinterColumn& c : WorkloadWide(false)) cols.push_back(std::move(c));
  return cols;
}

json StatefulSetRow(const json& stateful_set, Timestamp now) {
  const json& spec = Child(stateful_set, "spec");
  json row =
      json::array({std::to_string(Int(Child(Child(stateful_set, "status"), "readyReplicas"))) +
                       "/" + std::to_string(Int(Child(spec, "replicas"))),
                   Age(stateful_set, now)});
  AppendWide(row, spec, false);
  return row;
}

std::vector<PrinterColumn> ServiceColumns() {
  return {Column("Type", "string", "The type of the service."),
          Column("Cluster-IP", "string", "The IP address of the service."),
          Column("External-IP", "string", "The external IP address of the service."),
          Column("Port(s)", "string", "The ports of the service."),
          AgeColumn(),
          Column("Selector", "string", "The label selector of the service.", 1)};
}

json ServiceRow(const json& service, Timestamp now) {
  const json& spec = Child(service, "spec");
  std::string type = Str(Child(spec, "type"));
  if (type.empty()) type = "ClusterIP";
  std::string cluster_ip = Str(Child(spec, "clusterIP"));
  if (cluster_ip.empty()) cluster_ip = "<none>";

  std::string external;
  auto add = [&external](const std::string& s) {
    if (!s.empty()) external += (external.empty() ? "" : ",") + s;
  };
  const json& external_ips = Child(spec, "externalIPs");
  if (type == "ExternalName") {
    add(Str(Child(spec, "externalName")));
  } else {
    if (type == "LoadBalancer") {
      const json& ingress = Child(Child(Child(service, "status"), "loadBalancer"), "ingress");
      if (ingress.is_array()) {
        for (const json& i : ingress)
          add(Str(Child(i, "ip")).empty() ? Str(Child(i, "hostname")) : Str(Child(i, "ip")));
      }
    }
    if (external_ips.is_array()) {
      for (const json& ip : external_ips) add(Str(ip));
    }
    if (external.empty() && type == "LoadBalancer") external = "<pending>";
  }
  std::string ports;
  if (Child(spec, "ports").is_array()) {
    for (const json& p : Child(spec, "ports")) {
      std::string protocol = Str(Child(p, "protocol"));
      if (protocol.empty()) protocol = "TCP";
      std::string one = std::to_string(Int(Child(p, "port")));
      if (Int(Child(p, "nodePort")) > 0) one += ":" + std::to_string(Int(Child(p, "nodePort")));
      ports += (ports.empty() ? "" : ",") + one + "/" + protocol;
    }
  }
  std::string selector;
  if (Child(spec, "selector").is_object()) {
    for (const auto& [k, v] : Child(spec, "selector").items())
      selector += (selector.empty() ? "" : ",") + k + "=" + Str(v);
  }
  return json::array(
      {type, cluster_ip, OrNone(external), OrNone(ports), Age(service, now), OrNone(selector)});
}

}  // namespace meridian::membersim
