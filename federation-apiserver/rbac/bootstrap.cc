// The bootstrap RBAC objects (see authorizer.h). Kubernetes' default roles, narrowed to what
// the federation serves, plus Meridian's three operator roles and the controller manager's.
#include "federation-apiserver/rbac/authorizer.h"

#include <map>

#include "api/native_kinds.h"
#include "apimachinery/leader_election.h"

namespace meridian::apiserver::rbac {
namespace {

using nlohmann::json;

constexpr char kMeridian[] = "federation.meridian.io";
constexpr char kAggregatePrefix[] = "rbac.authorization.k8s.io/aggregate-to-";
constexpr char kControllerManagerCustomResourcesRole[] = "meridian:controller-manager:custom-resources";
constexpr char kControllerManagerAggregateLabel[] =
    "federation.meridian.io/aggregate-to-controller-manager";

json Rule(std::vector<std::string> verbs, std::vector<std::string> groups,
          std::vector<std::string> resources) {
  return {{"verbs", verbs}, {"apiGroups", groups}, {"resources", resources}};
}

json UrlRule(std::vector<std::string> verbs, std::vector<std::string> urls) {
  return {{"verbs", verbs}, {"nonResourceURLs", urls}};
}

// Kubernetes' bootstrap metadata: the label, and the annotation that lets an operator stop
// the reconciliation at start (ReconcileBootstrapObject) by setting it to "false".
json BootstrapMetadata(const std::string& name, json labels = json::object()) {
  labels["kubernetes.io/bootstrapping"] = "rbac-defaults";
  return {{"name", name}, {"labels", labels}, {"annotations", {{kAutoupdateAnnotation, "true"}}}};
}

json ClusterRole(const std::string& name, json rules, json labels = json::object()) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "ClusterRole"},
          {"metadata", BootstrapMetadata(name, std::move(labels))},
          {"rules", rules}};
}

// A ClusterRole whose rules are those of every ClusterRole labelled aggregate-to-<each of
// `levels`> (Kubernetes' admin/edit/view shape, so operators can extend them the same way).
json AggregatedRole(const std::string& name, const std::vector<std::string>& levels) {
  json selectors = json::array();
  for (const std::string& level : levels) {
    selectors.push_back({{"matchLabels", {{kAggregatePrefix + level, "true"}}}});
  }
  json role = ClusterRole(name, json::array());
  role["aggregationRule"] = {{"clusterRoleSelectors", selectors}};
  return role;
}

// A ClusterRoleBinding of ClusterRole `role` to one subject of `subject_kind` (Group, User).
json Binding(const std::string& name, const std::string& role, const std::string& subject,
             const std::string& subject_kind = "Group") {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "ClusterRoleBinding"},
          {"metadata", BootstrapMetadata(name)},
          {"roleRef", {{"apiGroup", kRbacGroup}, {"kind", "ClusterRole"}, {"name", role}}},
          {"subjects",
           json::array({{{"kind", subject_kind}, {"apiGroup", kRbacGroup}, {"name", subject}}})}};
}

// kube's system:kube-controller-manager for federation-controller-manager --kubeconfig: what
// its controllers and its RestStore ask of the API, and nothing else (no patch, no
// deletecollection, no RBAC). Derived from the controllers' calls; each rule says who needs it.
json ControllerManagerRules(const std::vector<std::string>& read) {
  const std::vector<std::string> status = {"update"};
  json rules = json::array({
      // Leader election (apimachinery/leader_election.h): create the Lease once, then read
      // and renew only the manager's own, as kube grants kube-controller-manager.
      Rule({"create"}, {"coordination.k8s.io"}, {"leases"}),
      Rule({"get", "update"}, {"coordination.k8s.io"}, {"leases"}),
      // EventRecorder: create, and a repeat raises the count (a merge patch, which a
      // RestStore sends as GET + PUT).
      Rule({"create", "get", "update"}, {""}, {"events"}),
      // Namespaces gate every namespaced write (ObjectService's check); the binding
      // controller watches them.
      Rule(read, {""}, {"namespaces"}),
      // Every Meridian kind is read by some controller (placement, propagation, health,
      // dns, drills, rollout, residency audit and ledger, fleet metrics, member schemas).
      Rule(read, {kMeridian},
           {"federatedworkloads", "memberclusters", "topologies", "residencypolicies",
            "dnsrecordsets", "failoverdrills", "placementpolicies", "clusterplacementpolicies",
            "rolloutstrategies", "residencyevidences", "resourceinterpreters"}),
      // binding: its binding FederatedWorkloads; propagation: its finalizer.
      Rule({"create", "update", "delete"}, {kMeridian}, {"federatedworkloads"}),
      // placement, propagation, rollout: FederatedWorkload status; health: MemberCluster
      // status; drills: FailoverDrill status; residency audit: ResidencyPolicy status. Only
      // /status: the RestStore sends a status write as one PUT of /status (status_store.h),
      // so MemberClusters and ResidencyPolicies themselves stay read-only to the manager.
      Rule(status, {kMeridian},
           {"federatedworkloads/status", "memberclusters/status", "failoverdrills/status",
            "residencypolicies/status"}),
      // drills: a game day creates its drills, and an abort edits one.
      Rule({"create", "update"}, {kMeridian}, {"failoverdrills"}),
      // dns: the DNSRecordSets it derives from workloads.
      Rule({"create", "update", "delete"}, {kMeridian}, {"dnsrecordsets"}),
      // residency ledger: appends evidence, moves the head, drops checkpointed entries.
      Rule({"create", "update", "delete"}, {kMeridian}, {"residencyevidences"}),
      // Its registry follows the CRDs the API serves (crd/registrar.h, Mode::kFollow); the
      // propagation controller copies a custom kind's CRD to the members that need it. The
      // custom objects themselves: meridian:controller-manager:custom-resources (below).
      Rule(read, {"apiextensions.k8s.io"}, {"customresourcedefinitions"}),
  });
  // The lease rule above is narrowed to the manager's own Lease (resourceNames), so a
  // manager cannot take another component's lease; a custom --leader-elect-resource-name
  // needs its own Role (as in Kubernetes).
  rules[1]["resourceNames"] = {apimachinery::LeaderElectionConfig{}.lease_name};
  return rules;
}

}  // namespace

std::vector<std::pair<std::string, json>> BootstrapObjects() {
  const std::vector<std::string> read = {"get", "list", "watch"};
  const std::vector<std::string> write = {"create", "update", "patch", "delete",
                                          "deletecollection"};
  const std::vector<std::string> all = {"*"};
  // Everything Meridian serves that a workload author reads; the cluster-scoped kinds only
  // take effect through a ClusterRoleBinding.
  const std::vector<std::string> meridian_kinds = {
      "federatedworkloads",    "federatedworkloads/status",
      "dnsrecordsets",         "memberclusters",
      "memberclusters/status", "topologies",
      "residencypolicies",     "failoverdrills",
      "failoverdrills/status", "placementpolicies",
      "clusterplacementpolicies", "rolloutstrategies",
      "resourceinterpreters"};
  // What a namespace's workload authors write. Not residencypolicies: residency is the
  // residency admins' decision, never the authors'.
  const std::vector<std::string> authored = {"federatedworkloads", "dnsrecordsets",
                                             "placementpolicies"};
  // The native kinds stored as templates (api/native_kinds.h), by group: a team's unchanged
  // manifests are theirs to read and write, as in one cluster. (Secrets are granted below.)
  std::map<std::string, std::vector<std::string>> native;
  for (const api::NativeKind& k : api::NativeKinds()) {
    if (k.group.empty() && k.kind == "Secret") continue;
    native[k.group].push_back(k.plural);
    if (k.has_status) native[k.group].push_back(k.plural + "/status");
  }
  json native_read = json::array(), native_write = json::array();
  // The controller manager's on the native kinds (the binding controller): it watches them
  // (member credentials are Secrets too), annotates each with its placement, and writes a
  // workload's aggregated status.
  json manager_rules = ControllerManagerRules(read);
  for (const api::NativeKind& k : api::NativeKinds()) {
    manager_rules.push_back(Rule({"get", "list", "watch", "update"}, {k.group}, {k.plural}));
    if (k.has_status) manager_rules.push_back(Rule({"update"}, {k.group}, {k.plural + "/status"}));
  }
  for (const auto& [group, plurals] : native) {
    native_read.push_back(Rule(read, {group}, plurals));
    std::vector<std::string> writable;
    for (const std::string& p : plurals) {
      if (p.find('/') == std::string::npos) writable.push_back(p);
    }
    native_write.push_back(Rule(write, {group}, writable));
  }

  std::vector<std::pair<std::string, json>> out;
  auto role = [&](json r) { out.emplace_back("clusterroles", std::move(r)); };
  auto binding = [&](json b) { out.emplace_back("clusterrolebindings", std::move(b)); };

  role(ClusterRole("cluster-admin", json::array({Rule(all, {"*"}, {"*"}), UrlRule(all, {"*"})})));
  binding(Binding("cluster-admin", "cluster-admin", kSuperuserGroup));

  // Discovery and the self-review every authenticated user needs for kubectl to work.
  role(ClusterRole(
      "system:discovery",
      json::array({UrlRule({"get"}, {"/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*",
                                     "/version", "/version/", "/healthz", "/livez", "/readyz"})})));
  binding(Binding("system:discovery", "system:discovery", "system:authenticated"));
  role(ClusterRole(
      "system:public-info-viewer",
      json::array({UrlRule({"get"}, {"/healthz", "/healthz/*", "/livez", "/livez/*", "/readyz",
                                     "/readyz/*", "/version", "/version/"})})));
  binding(
      Binding("system:public-info-viewer", "system:public-info-viewer", "system:authenticated"));
  binding(Binding("system:public-info-viewer:unauthenticated", "system:public-info-viewer",
                  "system:unauthenticated"));
  // As kube's: Prometheus scrapes /metrics as a member of group system:monitoring (a token or
  // client certificate with that group); cluster-admin may read it too.
  role(ClusterRole(
      "system:monitoring",
      json::array({UrlRule({"get"}, {"/metrics", "/metrics/slis", "/healthz", "/healthz/*",
                                     "/livez", "/livez/*", "/readyz", "/readyz/*"})})));
  binding(Binding("system:monitoring", "system:monitoring", "system:monitoring"));
  // As kube's: every authenticated user may ask what it may do (kubectl auth can-i) and who
  // it is (kubectl auth whoami). And ask for the residency compliance report, which the server
  // answers only to those who may list residencyevidences (compliance_review.h).
  role(ClusterRole("system:basic-user",
                   json::array({Rule({"create"}, {"authorization.k8s.io"}, {"selfsubjectaccessreviews"}),
                                Rule({"create"}, {"authentication.k8s.io"}, {"selfsubjectreviews"}),
                                Rule({"create"}, {kMeridian}, {"compliancereviews"})})));
  binding(Binding("system:basic-user", "system:basic-user", "system:authenticated"));

  // admin > edit > view, each the union of the aggregate-to-* roles at its level and below.
  role(AggregatedRole("admin", {"admin", "edit", "view"}));
  role(AggregatedRole("edit", {"edit", "view"}));
  role(AggregatedRole("view", {"view"}));
  json view_rules = json::array({Rule(read, {kMeridian}, meridian_kinds),
                                 Rule(read, {""}, {"namespaces", "events"})});
  for (const json& r : native_read) view_rules.push_back(r);
  json edit_rules = json::array({Rule(write, {kMeridian}, authored), Rule(read, {""}, {"secrets"}),
                                 Rule(write, {""}, {"secrets", "events"})});
  for (const json& r : native_write) edit_rules.push_back(r);
  role(ClusterRole("meridian:aggregate-to-view", std::move(view_rules),
                   {{std::string(kAggregatePrefix) + "view", "true"}}));
  role(ClusterRole("meridian:aggregate-to-edit", std::move(edit_rules),
                   {{std::string(kAggregatePrefix) + "edit", "true"}}));
  // Explicit verbs, not "*": that would include escalate and bind, and let a namespace admin
  // grant what it does not hold.
  std::vector<std::string> read_write = read;
  read_write.insert(read_write.end(), write.begin(), write.end());
  role(ClusterRole("meridian:aggregate-to-admin",
                   json::array({Rule(read_write, {kRbacGroup}, {"roles", "rolebindings"})}),
                   {{std::string(kAggregatePrefix) + "admin", "true"}}));

  role(ClusterRole(
      "meridian:residency-admin",
      json::array({Rule(all, {kMeridian}, {"residencypolicies"}), Rule(read, {kMeridian}, {"*"}),
                   Rule(read, {""}, {"namespaces", "events"})})));
  role(ClusterRole(
      "meridian:drill-operator",
      json::array({Rule(all, {kMeridian}, {"failoverdrills"}),
                   // The drill form's confirmation (what_if_review.h): asked, never stored.
                   Rule({"create"}, {kMeridian}, {"whatifreviews"}),
                   Rule(read, {kMeridian},
                        {"failoverdrills/status", "memberclusters", "memberclusters/status",
                         "topologies", "federatedworkloads", "federatedworkloads/status"}),
                   Rule(read, {""}, {"namespaces", "events"})})));
  // Member credentials are Secrets in meridian-system: bind this role there with a
  // RoleBinding for the credentials, and with a ClusterRoleBinding for the fleet itself
  // (which also grants Secrets everywhere).
  role(ClusterRole("meridian:fleet-admin",
                   json::array({Rule(all, {kMeridian},
                                     {"memberclusters", "memberclusters/status", "topologies"}),
                                Rule(all, {""}, {"secrets"}), Rule(read, {kMeridian}, {"*"}),
                                Rule(read, {""}, {"namespaces", "events"})})));

  // federation-controller-manager --kubeconfig authenticates as this user (a token in
  // --token-auth-file, or a client certificate with this CN), as kube-controller-manager
  // does as system:kube-controller-manager.
  role(ClusterRole(kControllerManagerUser, std::move(manager_rules)));
  binding(Binding(kControllerManagerUser, kControllerManagerUser, kControllerManagerUser, "User"));
  // The custom kinds a PlacementPolicy may select are not known here: whoever installs a CRD
  // grants the manager its objects (get, list, watch, update, and update of /status) with a
  // ClusterRole labelled federation.meridian.io/aggregate-to-controller-manager: "true",
  // aggregated into this one, as an operator extends admin/edit/view. Not "*": the manager
  // would then write RBAC and every Secret.
  {
    json role_object = ClusterRole(kControllerManagerCustomResourcesRole, json::array());
    role_object["aggregationRule"] = {
        {"clusterRoleSelectors",
         json::array({{{"matchLabels", {{kControllerManagerAggregateLabel, "true"}}}}})}};
    role(std::move(role_object));
  }
  binding(Binding(kControllerManagerCustomResourcesRole, kControllerManagerCustomResourcesRole,
                  kControllerManagerUser, "User"));
  return out;
}

}  // namespace meridian::apiserver::rbac
