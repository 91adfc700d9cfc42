#include "membersim/kube_resources.h"

#include <set>
#include <string>

#include "apimachinery/event_recorder.h"
#include "common/quantity.h"
#include "membersim/printers.h"

namespace meridian::membersim {
namespace {

using apimachinery::PrinterColumn;
using apimachinery::ResourceInfo;

PrinterColumn Col(const char* name, const char* type, const char* path, int priority = 0) {
  return PrinterColumn{name, type, path, "", "", priority};
}
PrinterColumn Age() { return Col("Age", "date", ".metadata.creationTimestamp"); }

ResourceInfo Res(const char* group, const char* kind, const char* plural, bool namespaced,
                 bool has_status, std::vector<std::string> short_names,
                 std::vector<PrinterColumn> columns) {
  ResourceInfo r;
  r.group = group;
  r.version = "v1";
  r.kind = kind;
  r.plural = plural;
  r.namespaced = namespaced;
  r.has_status = has_status;
  r.short_names = std::move(short_names);
  r.printer_columns = std::move(columns);
  return r;
}

apimachinery::ResourceRegistry Build() {
  apimachinery::ResourceRegistry reg;
  std::vector<ResourceInfo> all;
  all.push_back(apimachinery::NamespaceResourceInfo());
  all.push_back(Res("", "Node", "nodes", false, true, {"no"}, NodeColumns()));
  all.back().row_cells = NodeRow;
  all.back().field_labels = {"spec.unschedulable"};
  all.push_back(Res("", "Pod", "pods", true, true, {"po"}, PodColumns()));
  all.back().row_cells = PodRow;
  // kube-apiserver's pod field labels (pkg/registry/core/pod/strategy.go).
  all.back().field_labels = {"spec.nodeName",
                             "spec.restartPolicy",
                             "spec.schedulerName",
                             "spec.serviceAccountName",
                             "spec.hostNetwork",
                             "status.phase",
                             "status.podIP",
                             "status.podIPs",
                             "status.nominatedNodeName"};
  all.back().categories = {"all"};
  all.push_back(Res("", "Service", "services", true, true, {"svc"}, ServiceColumns()));
  all.back().row_cells = ServiceRow;
  all.back().categories = {"all"};
  all.back().name_validation = apimachinery::NameValidation::kDns1035Label;
  all.push_back(Res("", "Endpoints", "endpoints", true, false, {"ep"}, {}));
  all.push_back(Res("", "ConfigMap", "configmaps", true, false, {"cm"}, {}));
  all.push_back(Res("", "Secret", "secrets", true, false, {}, {Col("Type", "string", ".type"), Age()}));
  all.back().field_labels = {"type"};
  all.push_back(Res("", "ServiceAccount", "serviceaccounts", true, false, {"sa"}, {}));
  all.push_back(Res("", "Event", "events", true, false, {"ev"},
                    {Col("Type", "string", ".type"), Col("Reason", "string", ".reason"),
                     Col("Message", "string", ".message")}));
  all.back().field_labels = apimachinery::EventResourceInfo().field_labels;
  all.push_back(Res("apps", "Deployment", "deployments", true, true, {"deploy"}, DeploymentColumns()));
  all.back().row_cells = DeploymentRow;
  all.back().categories = {"all"};
  all.push_back(Res("apps", "ReplicaSet", "replicasets", true, true, {"rs"}, ReplicaSetColumns()));
  all.back().row_cells = ReplicaSetRow;
  all.back().field_labels = {"status.replicas"};
  all.back().categories = {"all"};
  all.push_back(Res("apps", "StatefulSet", "statefulsets", true, true, {"sts"}, StatefulSetColumns()));
  all.back().row_cells = StatefulSetRow;
  all.back().categories = {"all"};
  for (ResourceInfo& r : all) {
    if (r.group == "apps") r.scale = apimachinery::ScaleSubresource{};  // kubectl scale
  }
  all.push_back(Res("apps", "DaemonSet", "daemonsets", true, true, {"ds"}, {}));
  all.push_back(Res("apps", "ControllerRevision", "controllerrevisions", true, false, {}, {}));
  // Stored as a kube-apiserver stores them (discovery lists them, /status is theirs), not run:
  // membersim simulates no Job, CronJob or DaemonSet controller, no ingress controller and no
  // eviction API, so their status is what a writer puts there.
  all.push_back(Res("batch", "Job", "jobs", true, true, {}, {}));
  all.back().categories = {"all"};
  all.push_back(Res("batch", "CronJob", "cronjobs", true, true, {"cj"}, {}));
  all.back().categories = {"all"};
  all.push_back(Res("networking.k8s.io", "Ingress", "ingresses", true, true, {"ing"}, {}));
  all.push_back(
      Res("policy", "PodDisruptionBudget", "poddisruptionbudgets", true, true, {"pdb"}, {}));
  for (ResourceInfo& r : all) {
    Status st = reg.Add(std::move(r));
    (void)st;  // names are distinct by construction
  }
  reg.EnableFallback(/*cluster_scoped_too=*/false);
  return reg;
}

}  // namespace

const apimachinery::ResourceRegistry& MemberClusterRegistry() {
  static const apimachinery::ResourceRegistry registry = Build();
  return registry;
}

apimachinery::MutatingAdmission ServiceDefaulting(std::atomic<uint32_t>* next_ip) {
  return [next_ip](const apimachinery::AdmissionAttributes& attrs, nlohmann::json* obj) -> Status {
    if (attrs.resource->plural != "services" || !attrs.resource->group.empty() ||
        !attrs.subresource.empty() || !obj->is_object()) {
      return Status::Ok();
    }
    nlohmann::json& spec = (*obj)["spec"];
    if (!spec.is_object()) spec = nlohmann::json::object();
    if (!spec.contains("type")) spec["type"] = "ClusterIP";
    if (!spec.contains("sessionAffinity")) spec["sessionAffinity"] = "None";
    if (spec["ports"].is_array()) {
      for (auto& p : spec["ports"]) {
        if (!p.is_object()) continue;
        if (!p.contains("protocol")) p["protocol"] = "TCP";
        if (!p.contains("targetPort") && p.contains("port")) p["targetPort"] = p["port"];
      }
    } else {
      spec.erase("ports");
    }
    bool external_name = spec["type"] == "ExternalName";
    if (attrs.operation == apimachinery::Operation::kUpdate && attrs.old_object) {
      // clusterIP is immutable: carry it over when the update leaves it out.
      const auto& old_spec = attrs.old_object->value("spec", nlohmann::json::object());
      if (!spec.contains("clusterIP") && old_spec.contains("clusterIP")) spec["clusterIP"] = old_spec["clusterIP"];
      if (!spec.contains("clusterIPs") && old_spec.contains("clusterIPs")) spec["clusterIPs"] = old_spec["clusterIPs"];
    }
    if (!external_name && (!spec.contains("clusterIP") || spec["clusterIP"] == "")) {
      uint32_t n = next_ip->fetch_add(1);
      std::string ip = "10.96." + std::to_string((n / 254) % 256) + "." + std::to_string(n % 254 + 1);
      spec["clusterIP"] = ip;
      spec["clusterIPs"] = nlohmann::json::array({ip});
    }
    if (!external_name) {
      if (!spec.contains("ipFamilies")) spec["ipFamilies"] = nlohmann::json::array({"IPv4"});
      if (!spec.contains("ipFamilyPolicy")) spec["ipFamilyPolicy"] = "SingleStack";
      if (!spec.contains("internalTrafficPolicy")) spec["internalTrafficPolicy"] = "Cluster";
    }
    if (spec["type"] == "LoadBalancer" && !spec.contains("externalTrafficPolicy")) {
      spec["externalTrafficPolicy"] = "Cluster";
    }
    return Status::Ok();
  };
}

namespace {

void Default(nlohmann::json& obj, const char* key, const nlohmann::json& value) {
  if (!obj.contains(key) || obj[key].is_null()) obj[key] = value;
}

void DefaultPodSpec(nlohmann::json& spec) {
  if (!spec.is_object()) return;
  Default(spec, "restartPolicy", "Always");
  Default(spec, "dnsPolicy", "ClusterFirst");
  Default(spec, "schedulerName", "default-scheduler");
  Default(spec, "terminationGracePeriodSeconds", 30);
  Default(spec, "securityContext", nlohmann::json::object());
  for (const char* list : {"containers", "initContainers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (auto& c : spec[list]) {
      if (!c.is_object()) continue;
      std::string image = c.value("image", "");
      std::string last = image.substr(image.find_last_of('/') == std::string::npos ? 0 : image.find_last_of('/'));
      bool latest = last.find(':') == std::string::npos || (image.size() >= 7 && image.substr(image.size() - 7) == ":latest");
      if (image.find('@') != std::string::npos) latest = false;
      Default(c, "imagePullPolicy", latest ? "Always" : "IfNotPresent");
      Default(c, "terminationMessagePath", "/dev/termination-log");
      Default(c, "terminationMessagePolicy", "File");
      Default(c, "resources", nlohmann::json::object());
      // ContainerPort.protocol defaults to TCP (SetDefaults_ContainerPort).
      if (c.contains("ports") && c["ports"].is_array()) {
        for (auto& p : c["ports"]) {
          if (p.is_object()) Default(p, "protocol", "TCP");
        }
      }
    }
  }
}

}  // namespace

apimachinery::MutatingAdmission WorkloadDefaulting() {
  return [](const apimachinery::AdmissionAttributes& attrs, nlohmann::json* obj) -> Status {
    if (attrs.resource->group != "apps" || !attrs.subresource.empty() || !obj->is_object()) return Status::Ok();
    const std::string& plural = attrs.resource->plural;
    if (plural != "deployments" && plural != "statefulsets" && plural != "replicasets" && plural != "daemonsets") {
      return Status::Ok();
    }
    nlohmann::json& spec = (*obj)["spec"];
    if (!spec.is_object()) return Status::Ok();  // validation is not ours to do
    if (plural != "daemonsets") Default(spec, "replicas", 1);
    if (plural == "deployments") {
      Default(spec, "strategy", nlohmann::json{{"type", "RollingUpdate"}});
      if (spec["strategy"].is_object() && spec["strategy"].value("type", "") == "RollingUpdate") {
        nlohmann::json& ru = spec["strategy"]["rollingUpdate"];
        if (!ru.is_object()) ru = nlohmann::json::object();
        Default(ru, "maxSurge", "25%");
        Default(ru, "maxUnavailable", "25%");
      }
      Default(spec, "revisionHistoryLimit", 10);
      Default(spec, "progressDeadlineSeconds", 600);
    }
    if (plural == "statefulsets") {
      Default(spec, "podManagementPolicy", "OrderedReady");
      Default(spec, "updateStrategy", nlohmann::json{{"type", "RollingUpdate"}});
      if (spec["updateStrategy"].is_object() && spec["updateStrategy"].value("type", "") == "RollingUpdate") {
        nlohmann::json& ru = spec["updateStrategy"]["rollingUpdate"];
        if (!ru.is_object()) ru = nlohmann::json::object();
        Default(ru, "partition", 0);
      }
      Default(spec, "revisionHistoryLimit", 10);
      Default(spec, "persistentVolumeClaimRetentionPolicy",
              nlohmann::json{{"whenDeleted", "Retain"}, {"whenScaled", "Retain"}});
    }
    if (plural == "daemonsets") {
      Default(spec, "updateStrategy",
              nlohmann::json{{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxUnavailable", 1}, {"maxSurge", 0}}}});
      Default(spec, "revisionHistoryLimit", 10);
    }
    if (spec.contains("template") && spec["template"].is_object() && spec["template"].contains("spec")) {
      DefaultPodSpec(spec["template"]["spec"]);
    }
    return Status::Ok();
  };
}

namespace {

// Go's json round trip for built-in kinds: see StorageRoundTrip. `path` names the field for
// errors; `quantity` says the value sits where a resource.Quantity is decoded.
Status RoundTrip(nlohmann::json* v, const std::string& path, bool quantity_map) {
  static const std::set<std::string> kQuantityMaps = {"requests", "limits",   "overhead",
                                                      "hard",     "capacity", "allocatable"};
  if (v->is_object()) {
    for (auto it = v->begin(); it != v->end();) {
      nlohmann::json& child = it.value();
      if (child.is_null() || (child.is_array() && child.empty())) {
        it = v->erase(it);
        continue;
      }
      const std::string p = path.empty() ? it.key() : path + "." + it.key();
      if ((quantity_map || it.key() == "sizeLimit") && (child.is_string() || child.is_number())) {
        StatusOr<std::string> c =
            CanonicalQuantity(child.is_string() ? child.get<std::string>() : child.dump());
        if (!c.ok()) {
          return InvalidArgumentError(p + ": " + c.status().message() +
                                      ": quantities must match the regular expression "
                                      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
        }
        child = *c;
      } else {
        MERIDIAN_RETURN_IF_ERROR(RoundTrip(&child, p, kQuantityMaps.count(it.key()) > 0));
      }
      ++it;
    }
  } else if (v->is_array()) {
    for (size_t i = 0; i < v->size(); ++i) {
      MERIDIAN_RETURN_IF_ERROR(RoundTrip(&(*v)[i], path + "[" + std::to_string(i) + "]", false));
    }
  }
  return Status::Ok();
}

}  // namespace

apimachinery::MutatingAdmission StorageRoundTrip() {
  return [](const apimachinery::AdmissionAttributes& attrs, nlohmann::json* obj) -> Status {
    static const std::set<std::string> kBuiltin = {
        "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "storage.k8s.io"};
    if (!kBuiltin.count(attrs.resource->group) || !obj->is_object()) return Status::Ok();
    return RoundTrip(obj, "", false);
  };
}

apimachinery::MutatingAdmission CoreKindsHaveNoGeneration() {
  return [](const apimachinery::AdmissionAttributes& attrs, nlohmann::json* obj) -> Status {
    if (!attrs.resource->group.empty() || !obj->is_object()) return Status::Ok();
    auto meta = obj->find("metadata");
    if (meta != obj->end() && meta->is_object()) meta->erase("generation");
    return Status::Ok();
  };
}

apimachinery::MutatingAdmission NamespaceDefaulting() {
  return [](const apimachinery::AdmissionAttributes& attrs, nlohmann::json* obj) -> Status {
    if (attrs.operation != apimachinery::Operation::kCreate || !attrs.resource->group.empty() ||
        attrs.resource->plural != "namespaces" || !attrs.subresource.empty() || !obj->is_object()) {
      return Status::Ok();
    }
    nlohmann::json& spec = (*obj)["spec"];
    if (!spec.is_object()) spec = nlohmann::json::object();
    if (!spec.contains("finalizers")) spec["finalizers"] = nlohmann::json::array({"kubernetes"});
    return Status::Ok();
  };
}

}  // namespace meridian::membersim
