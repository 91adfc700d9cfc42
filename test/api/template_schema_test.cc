#include "api/template_schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meridian::api {
namespace {

using nlohmann::json;
using ::testing::ElementsAreArray;

std::vector<std::string> Problems(const std::string& tmpl) {
  FieldErrors errors;
  ValidateTemplate(json::parse(tmpl), "spec.template", &errors);
  std::vector<std::string> out;
  for (const FieldError& e : errors) out.push_back(e.ToString());
  return out;
}

// A real Deployment as users write it, with a pod template using probes, env, volumes.
const char* kDeployment = R"({"apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "web", "labels": {"app": "web"}},
  "spec": {"replicas": 30, "selector": {"matchLabels": {"app": "web"}},
    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
    "template": {"metadata": {"labels": {"app": "web"}},
      "spec": {"containers": [{"name": "web", "image": "registry.example.com/shop/web:1.0",
        "ports": [{"containerPort": 8080, "name": "http"}],
        "env": [{"name": "MODE", "value": "prod"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": 1}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/web"}]}],
        "volumes": [{"name": "config", "configMap": {"name": "web-config"}}],
        "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {}}}}}})";

TEST(TemplateSchemaTest, RealManifestsOfEveryKindAreAccepted) {
  const std::vector<std::string> ok = {
      kDeployment,
      R"({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 3}})",
      R"({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"replicas": 3, "serviceName": "db",
          "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "10Gi"}}}}],
          "template": {"spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}}})",
      R"({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"updateStrategy": {"type": "OnDelete"},
          "template": {"spec": {"containers": [{"name": "agent", "image": "agent:1"}]}}}})",
      R"({"apiVersion": "batch/v1", "kind": "Job", "spec": {"backoffLimit": 2, "template": {"spec": {
          "restartPolicy": "Never", "containers": [{"name": "m", "image": "migrate:1", "args": ["up"]}]}}}})",
      R"({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"schedule": "*/5 * * * *",
          "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure",
            "containers": [{"name": "c", "image": "cron:1"}]}}}}}})",
      R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"type": "LoadBalancer",
          "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}})",
      R"({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}})",
      R"({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "stringData": {"a": "b"}})",
      R"({"apiVersion": "v1", "kind": "ServiceAccount", "imagePullSecrets": [{"name": "r"}]})",
      R"({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "spec": {"accessModes": ["ReadWriteOnce"],
          "resources": {"requests": {"storage": "1Gi"}}}})",
      R"({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
          "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["shop.example.com"], "secretName": "tls"}],
            "rules": [{"host": "shop.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
              "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}],
            "defaultBackend": {"service": {"name": "web", "port": {"name": "http"}}}}})",
      R"({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "spec": {"minAvailable": "50%",
          "selector": {"matchLabels": {"app": "web"}}, "unhealthyPodEvictionPolicy": "AlwaysAllow"}})",
      R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "spec": {"podSelector": {}}})",
      // Versions older members still serve: left to the member.
      R"({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "spec": {"maxUnavailable": 1}})",
      // No built-in schema: a CRD's group, and a core kind the table does not describe.
      R"({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"anything": [1, 2]}})",
      R"({"apiVersion": "v1", "kind": "ResourceQuota", "spec": {"hard": {"pods": "10"}}})",
  };
  for (const std::string& t : ok) EXPECT_THAT(Problems(t), ElementsAreArray<std::string>({})) << t;
}

TEST(TemplateSchemaTest, EachProblemIsRefusedWithItsPath) {
  struct Case {
    const char* name;
    std::string tmpl;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"typo at the top of spec",
       R"({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicaz": 40}})",
       {"spec.template.spec.replicaz: unknown field \"replicaz\""}},
      {"string where an integer belongs",
       R"({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "40"}})",
       {"spec.template.spec.replicas: must be an integer, not a string"}},
      {"missing container image and name",
       R"({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"ports": []}]}}}})",
       {"spec.template.spec.template.spec.containers[0].name: required",
        "spec.template.spec.template.spec.containers[0].image: required"}},
      {"empty image", R"({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "a", "image": ""}]}})",
       {"spec.template.spec.containers[0].image: required (must not be empty)"}},
      {"pod spec without containers",
       R"({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"restartPolicy": "Never"}}}})",
       {"spec.template.spec.template.spec.containers: required"}},
      {"typo deep in a probe",
       R"({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"template": {"spec": {"containers": [
           {"name": "a", "image": "b", "readinessProbe": {"httpGet": {"port": 80}, "periodSecond": 5}}]}}}})",
       {"spec.template.spec.template.spec.containers[0].readinessProbe.periodSecond: unknown field \"periodSecond\""}},
      {"bad quantity", R"({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "a", "image": "b",
           "resources": {"requests": {"memory": "128MB"}}}]}})",
       {"spec.template.spec.containers[0].resources.requests.memory: \"128MB\" is not a quantity (such as 100m, 128Mi or 2)"}},
      {"enum", R"({"apiVersion": "v1", "kind": "Service", "spec": {"type": "Loadbalancer", "ports": [{"port": 80}]}})",
       {"spec.template.spec.type: unsupported value \"Loadbalancer\" (must be one of ClusterIP, NodePort, LoadBalancer, ExternalName)"}},
      {"service port required", R"({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"targetPort": 80}]}})",
       {"spec.template.spec.ports[0].port: required"}},
      {"volume without name and unknown source",
       R"({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "a", "image": "b"}],
           "volumes": [{"emptydir": {}}]}})",
       {"spec.template.spec.volumes[0].emptydir: unknown field \"emptydir\"",
        "spec.template.spec.volumes[0].name: required"}},
      {"configmap data not strings", R"({"apiVersion": "v1", "kind": "ConfigMap", "data": {"port": 80}})",
       {"spec.template.data.port: must be a string, not an integer"}},
      {"negative replicas", R"({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": -1}})",
       {"spec.template.spec.replicas: must be >= 0"}},
      {"cronjob without schedule and jobTemplate", R"({"apiVersion": "batch/v1", "kind": "CronJob", "spec": {}})",
       {"spec.template.spec.schedule: required", "spec.template.spec.jobTemplate: required"}},
      {"unknown kind of a core group", R"({"apiVersion": "apps/v1", "kind": "Deploymnet", "spec": {}})",
       {"spec.template.kind: unknown kind \"Deploymnet\" in apps/v1 (known: ControllerRevision, DaemonSet, "
        "Deployment, ReplicaSet, StatefulSet)"}},
      {"removed version", R"({"apiVersion": "batch/v1beta1", "kind": "CronJob", "spec": {}})",
       {"spec.template.apiVersion: unsupported version \"batch/v1beta1\" for kind CronJob (use batch/v1)"}},
      {"ingress path without pathType and backend",
       R"({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "spec": {"rules": [{"host": "a.example.com",
           "http": {"paths": [{"path": "/"}]}}]}})",
       {"spec.template.spec.rules[0].http.paths[0].pathType: required",
        "spec.template.spec.rules[0].http.paths[0].backend: required"}},
      {"ingress backend typo and bad pathType",
       R"({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "spec": {"rules": [{"http": {"paths": [
           {"pathType": "prefix", "backend": {"serviceName": "web"}}]}}]}})",
       {"spec.template.spec.rules[0].http.paths[0].backend.serviceName: unknown field \"serviceName\"",
        "spec.template.spec.rules[0].http.paths[0].pathType: unsupported value \"prefix\" (must be one of Exact, "
        "Prefix, ImplementationSpecific)"}},
      {"pdb typo and wrong type",
       R"({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "spec": {"minAvailable": true,
           "selectr": {}}})",
       {"spec.template.spec.minAvailable: must be an integer or a string, not a boolean",
        "spec.template.spec.selectr: unknown field \"selectr\""}},
      {"unknown kind of networking.k8s.io/v1", R"({"apiVersion": "networking.k8s.io/v1", "kind": "Ingres"})",
       {"spec.template.kind: unknown kind \"Ingres\" in networking.k8s.io/v1 (known: IPAddress, Ingress, "
        "IngressClass, NetworkPolicy, ServiceCIDR)"}},
      {"metadata typo", R"({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"label": {"a": "b"}}})",
       {"spec.template.metadata.label: unknown field \"label\""}},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Problems(c.tmpl), ElementsAreArray(c.want)) << c.name;
  }
}

TEST(TemplateSchemaTest, TheKindsWithASchemaAreListed) {
  EXPECT_THAT(KindsWithBuiltinSchema(),
              ElementsAreArray<std::string>(
                  {"apps/v1 DaemonSet", "apps/v1 Deployment", "apps/v1 ReplicaSet", "apps/v1 StatefulSet",
                   "batch/v1 CronJob", "batch/v1 Job", "networking.k8s.io/v1 Ingress",
                   "policy/v1 PodDisruptionBudget", "v1 ConfigMap", "v1 PersistentVolumeClaim", "v1 Pod",
                   "v1 Secret", "v1 Service", "v1 ServiceAccount"}));
}

}  // namespace
}  // namespace meridian::api
