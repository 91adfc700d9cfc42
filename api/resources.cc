#include "api/resources.h"

#include <algorithm>
#include <cctype>

#include "api/codec.h"
#include "api/evidence.h"
#include "api/placement_policy.h"
#include "api/resource_interpreter.h"

namespace meridian::api {
namespace {

using nlohmann::json;

template <typename T, T (*Decode)(const json&, FieldErrors*)>
FieldErrors ValidateWith(const json& object) {
  FieldErrors errors;
  Decode(object, &errors);
  return errors;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Schema helpers: small builders so the schemas below read like the YAML in docs/design.md.
json Str(const std::string& d) { return {{"type", "string"}, {"description", d}}; }
json Int(const std::string& d) { return {{"type", "integer"}, {"format", "int64"}, {"description", d}}; }
json Bool(const std::string& d) { return {{"type", "boolean"}, {"description", d}}; }
json StrList(const std::string& d) {
  return {{"type", "array"}, {"items", {{"type", "string"}}}, {"description", d}};
}
json IntMap(const std::string& d) {
  return {{"type", "object"}, {"additionalProperties", {{"type", "integer"}}}, {"description", d}};
}
json Obj(const std::string& d, json props, std::vector<std::string> required = {}) {
  json o = {{"type", "object"}, {"description", d}, {"properties", std::move(props)}};
  if (!required.empty()) o["required"] = required;
  return o;
}
json ListOf(const std::string& d, json item) {
  return {{"type", "array"}, {"items", std::move(item)}, {"description", d}};
}
// A ResourceInterpreter's rule fields (api/resource_interpreter.h), also a placement policy's
// spec.interpreter.
json InterpreterRuleProperties() {
  return {{"replicasPath", Str("JSONPath into spec of the replicas divided between members "
                               "(.spec.replicas).")},
          {"readyCondition", Str("Condition type whose status True means ready on a member.")},
          {"readyReplicasPath", Str("JSONPath into status of a member's ready replicas.")},
          {"statusAggregation", StrList("JSONPaths into status summed over the members.")},
          {"podTemplatePaths", StrList("JSONPaths into spec of pod templates whose ConfigMaps, "
                                       "Secrets, ServiceAccounts and PVCs follow the object.")}};
}
json AnyObject(const std::string& d) {
  return {{"type", "object"}, {"description", d}, {"x-kubernetes-preserve-unknown-fields", true}};
}

json Selector(const std::string& d) {
  return Obj(d, {{"matchLabels", {{"type", "object"},
                                  {"additionalProperties", {{"type", "string"}}},
                                  {"description", "Labels that must all match."}}},
                 {"matchExpressions",
                  ListOf("Set-based requirements, all of which must hold.",
                         Obj("A requirement.", {{"key", Str("Label key.")},
                                                {"operator", Str("In, NotIn, Exists or DoesNotExist.")},
                                                {"values", StrList("Values for In and NotIn.")}}))}});
}

json Conditions() {
  return ListOf("Observations of the object's state, Kubernetes-style.",
                Obj("A condition.", {{"type", Str("Condition type.")},
                                     {"status", Str("True, False or Unknown.")},
                                     {"reason", Str("Machine-readable reason.")},
                                     {"message", Str("Human-readable detail.")},
                                     {"lastTransitionTime", Str("When status last changed (RFC 3339).")},
                                     {"observedGeneration", Int("Generation this condition reflects.")}}));
}

json Metadata() {
  return {{"type", "object"},
          {"description", "Standard object metadata (name, namespace, labels, annotations, ...)."},
          {"x-kubernetes-preserve-unknown-fields", true}};
}

json PlacementSchema() {
  return Obj(
      "Where replicas run: hard constraints (selector, residency, latency) first, then how the "
      "total is divided, spread, and what happens on failure.",
      {{"clusterSelector", Selector("Only member clusters whose labels match are candidates.")},
       {"residency", Obj("Hard data-residency constraint, intersected with every ResidencyPolicy "
                         "that applies.",
                         {{"jurisdictions", StrList("Legal areas replicas may run in, e.g. [eu].")}})},
       {"latency", Obj("Hard latency bound: every source of the demand profile must be served by "
                       "a selected region within maxRTTMs.",
                       {{"demand", Str("Name of a Topology demand profile.")},
                        {"maxRTTMs", Int("Largest acceptable round-trip time in milliseconds.")}})},
       {"distribution",
        Obj("How the total replica count is divided.",
            {{"weights", IntMap("Relative weights by region or cluster name, e.g. "
                                "{us-east: 5, eu-west: 3, ap-south: 2}.")},
             {"fromDemand", Bool("Derive region weights from the latency demand profile.")},
             {"minPerCluster", Int("Minimum replicas on every selected cluster.")},
             {"clusters", {{"type", "object"},
                           {"description", "Per-cluster bounds by cluster name."},
                           {"additionalProperties",
                            Obj("Bounds.", {{"min", Int("At least this many.")},
                                            {"max", Int("At most this many.")}})}}}})},
       {"spread", Obj("Minimum distinct failure domains with replicas.",
                      {{"minRegions", Int("Distinct regions.")}, {"minZones", Int("Distinct zones.")}})},
       {"failover",
        Obj("Where displaced replicas go and how they come back.",
            {{"overflow", Str("nearest (by RTT from the failed region), ordered, or none.")},
             {"order", StrList("Clusters or regions for ordered overflow, first first.")},
             {"recoveryDelaySeconds", Int("Replicas return to a recovered cluster only after this "
                                          "long healthy.")},
             {"recoveryMaxReplicasPerStep",
              {{"x-kubernetes-int-or-string", true},
               {"description",
                "Replicas that move back per step: a count or a percentage of the replicas "
                "(default \"25%\"). A step starts when the previous one's replicas are ready and "
                "the replicas they replace are released."}}}})}});
}

json StageSelectorSchema(const char* description) {
  return Obj(description,
             {{"clusters", StrList("Member names.")},
              {"regions", StrList("Member regions.")},
              {"matchLabels", {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}}},
              {"matchExpressions", ListOf("Requirements.", AnyObject("One."))}});
}

json PrometheusGateSchema(const char* description) {
  return Obj(description,
             {{"query", Str("PromQL; must yield a scalar or one sample.")},
              {"max", {{"type", "number"}, {"description", "Largest passing value."}}},
              {"forSeconds", Int("How long the value must stay <= max.")}},
             {"query", "max"});
}

json RolloutStrategySchema() {
  return Obj(
      "Stages in order; members in no stage come last.",
      {{"stages",
        ListOf(
            "Stages.",
            Obj("A stage.",
                {{"name", Str("Unique DNS label.")},
                 {"selector", StageSelectorSchema("Members of the stage: every given "
                                                  "criterion holds; empty = the rest.")},
                 {"maxConcurrency", Int("Members changing at once (default all); with "
                                        "groups, a cap across all of them.")},
                 {"groups",
                  ListOf("Groups of the stage's members, run in parallel; members no group "
                         "takes change one at a time beside them.",
                         Obj("A group.",
                             {{"name", Str("Unique in the stage (DNS label).")},
                              {"selector", StageSelectorSchema("Its members (not empty, within "
                                                               "the stage's; one group each).")},
                              {"maxConcurrency", Int("Members changing at once (default 1).")}},
                             {"name", "selector"}))},
                 {"approval", Bool("Wait for `fedctl rollout approve` before the stage.")},
                 {"readySeconds", Int("Gate: all replicas of the revision ready this long.")},
                 {"soakSeconds", Int("Gate: this long after the stage's last member changed.")},
                 {"afterStageWaitSeconds", Int("Wait after the gates pass.")},
                 {"maxRestarts", Int("Gate: a member's pods of the revision restarting more "
                                     "often than this fail the stage at once.")},
                 {"expand", Str("Derived from the fleet: regionBySize (a stage per region, "
                                "smallest first) or regionPerContinent (the smallest "
                                "region of each continent).")},
                 {"continentLabel", Str("regionPerContinent: the member label naming the continent "
                                        "(default continent).")},
                 {"drain", Bool("With spec.dns: DNS leaves the stage's members out while it "
                                "changes them (one at a time instead when no other member "
                                "may answer).")},
                 {"prometheus",
                  PrometheusGateSchema("Gate: a PromQL instant query against the controller "
                                       "manager's --prometheus-url; one number, <= max for "
                                       "forSeconds (above max fails at once).")},
                 {"after",
                  Obj("Gates after the stage's own gates passed; the stage completes when all "
                      "pass.",
                      {{"approval", Bool("Wait for `fedctl rollout approve` after the stage.")},
                       {"prometheus", PrometheusGateSchema("Gate: as the stage's, counted from "
                                                           "when its gates passed.")}})}}))},
       {"onFailure", Str("halt or rollback (to the last revision every member completed).")},
       {"gateTimeoutSeconds", Int("A gate not passed this long after a change fails (600).")}});
}

json SpecSchemaFor(const std::string& kind) {
  if (kind == "MemberCluster") {
    return Obj("How to reach the member and where it is.",
               {{"server", Str("Kubernetes API endpoint of the member; may carry a base path.")},
                {"credentialsRef", Obj("Secret in the federation with token / client cert / CA.",
                                       {{"name", Str("Secret name.")},
                                        {"namespace", Str("Secret namespace (default meridian-system).")}})},
                {"region", Str("Region name, as in the Topology.")},
                {"zones", StrList("Availability zones of the member.")},
                {"jurisdiction", Str("Legal area for residency, e.g. eu.")},
                {"capacity", Obj("Optional capacity override.", {{"replicas", Int("Replica capacity.")}})},
                {"insecureSkipTLSVerify", Bool("Skip TLS verification (development only).")}},
               {"server", "region", "jurisdiction"});
  }
  if (kind == "FederatedWorkload") {
    return Obj(
        "What to run and where.",
        {{"template", AnyObject("Any Kubernetes object. If it has spec.replicas, replicas are "
                                "divided across clusters; otherwise it is copied to each.")},
         {"placement", PlacementSchema()},
         {"overrides",
          ListOf("Per-cluster RFC 6902 JSON patches.",
                 Obj("An override.",
                     {{"clusterSelector", Selector("Clusters it applies to.")},
                      {"patches", ListOf("RFC 6902 operations.", AnyObject("An operation."))}}))},
         {"dns",
          Obj("Global DNS name for the workload.",
              {{"name", Str("Fully qualified name, e.g. web.global.example.com.")},
               {"strategy", Str("geo, weighted or failover.")},
               {"ttl", Int("Record TTL in seconds.")},
               {"port", Int("Service port.")},
               {"failoverOrder", StrList("Regions or clusters for the failover strategy.")}})},
         {"adoptExisting",
          Bool("Take over same-named objects in members that Meridian did not create.")},
         {"retainedPaths", StrList("JSON pointers into the member object (\"/spec/replicas\", "
                                   "\"/spec/ports/*/nodePort\") whose member value is kept once "
                                   "the object exists: set on create, never written after.")},
         {"rollout", Obj("Staged rollout of template changes (docs/design.md, Rollouts).",
                         {{"strategyRef", Obj("A RolloutStrategy.", {{"name", Str("Its name.")}})},
                          {"strategy", RolloutStrategySchema()},
                          {"paused", Bool("No member gets a new revision while true.")}})},
         {"revisionHistoryLimit",
          Int("Template revisions kept in status.revisions (default 10).")}},
        {"template"});
  }
  if (kind == "RolloutStrategy") return RolloutStrategySchema();
  if (kind == "Topology") {
    return Obj("Regions and demand profiles.",
               {{"regions", ListOf("Regions.", Obj("A region.", {{"name", Str("Region name.")},
                                                                 {"jurisdiction", Str("Legal area.")},
                                                                 {"zones", StrList("Zones.")},
                                                                 {"rttMs", IntMap("RTT to other regions.")}}))},
                {"demandProfiles",
                 ListOf("Where users are.",
                        Obj("A demand profile.",
                            {{"name", Str("Profile name.")},
                             {"sources", ListOf("Population centres.",
                                                Obj("A source.", {{"name", Str("Source name.")},
                                                                  {"weight", Int("Relative demand.")},
                                                                  {"rttMs", IntMap("RTT to each region.")}}))}}))}});
  }
  if (kind == "ResidencyPolicy") {
    return Obj("An admin guardrail: workloads it selects may only run in these jurisdictions.",
               {{"namespaces", StrList("Namespaces it applies to (empty: all).")},
                {"workloadSelector", Selector("Workloads it applies to (empty: all).")},
                {"jurisdictions", StrList("Allowed jurisdictions.")},
                {"enforcement", Str("What the residency audit does about an object in a member "
                                    "of a jurisdiction this policy does not allow: report "
                                    "(default) or remove (scale it to zero; data volumes are "
                                    "never deleted).")}},
               {"jurisdictions"});
  }
  if (kind == "PlacementPolicy" || kind == "ClusterPlacementPolicy") {
    const json workload = SpecSchemaFor("FederatedWorkload");
    json selector = Obj("Which objects it places.",
                        {{"apiVersion", Str("apps/v1, v1, autoscaling/v2.")},
                         {"kind", Str("A native kind the federation serves.")},
                         {"name", Str("Exactly this object (optional).")},
                         {"labelSelector", Selector("Objects whose labels match (optional).")},
                         {"namespaceSelector",
                          Selector("ClusterPlacementPolicy only: namespaces whose labels match.")}},
                        {"apiVersion", "kind"});
    return Obj(
        "Places unchanged Kubernetes objects: selectors plus a FederatedWorkload's "
        "placement block.",
        {{"resourceSelectors", ListOf("An object matches when any selector does.", selector)},
         {"priority", Int("Wins over equally specific policies; higher first.")},
         {"propagateDependencies",
          Bool("ConfigMaps, Secrets, ServiceAccounts and PVCs follow (default true).")},
         {"placement", workload["properties"]["placement"]},
         {"overrides", workload["properties"]["overrides"]},
         {"rollout", workload["properties"]["rollout"]},
         {"revisionHistoryLimit", workload["properties"]["revisionHistoryLimit"]},
         {"interpreter", Obj("How the custom kinds it places are divided, judged and "
                             "aggregated: a ResourceInterpreter's rule without a target; it "
                             "wins over a ResourceInterpreter of the kind.",
                             InterpreterRuleProperties(), {})}},
        {"resourceSelectors"});
  }
  if (kind == "ResourceInterpreter") {
    json rule = InterpreterRuleProperties();
    rule["target"] = Obj("The kind it interprets.",
                         {{"apiVersion", Str("A custom group/version (example.com/v1).")},
                          {"kind", Str("A kind a CustomResourceDefinition serves.")}},
                         {"apiVersion", "kind"});
    return Obj(
        "How a custom kind is divided, judged healthy and aggregated (api/resource_interpreter.h).",
        std::move(rule), {"target"});
  }
  if (kind == "ResidencyEvidence") {
    return Obj("One entry of the residency evidence ledger (or its head, named head).",
               {{"sequence", Int("Position in the chain, from 1 (the head: the last entry's).")},
                {"time", Str("When (RFC 3339, UTC).")},
                {"type", Str("Placement, AuditScan, PolicyChange, ViolationOpened, "
                             "ViolationResolved, Enforcement, or Head.")},
                {"previousHash", Str("SHA-256 (hex) of the previous entry's canonical form.")},
                {"hash", Str("SHA-256 (hex) of this entry's canonical form.")},
                {"data", AnyObject("The fact recorded.")}},
               {"sequence", "time", "type"});
  }
  if (kind == "FailoverDrill") {
    return Obj(
        "A rehearsal of losing a zone, region or cluster.",
        {{"target",
          Obj("Exactly one of zone, region, cluster.", {{"zone", Str("Zone name.")},
                                                        {"region", Str("Region name.")},
                                                        {"cluster", Str("Member cluster name.")}})},
         {"mode", Str("simulate (changes nothing) or live.")},
         {"durationSeconds", Int("How long a live drill keeps the target failed.")},
         {"abortConditions",
          Obj("When to stop early and restore.",
              {{"minAvailabilityPercent", Int("Abort when ready replicas fall below this share.")},
               {"residencyViolation", Bool("Abort when a sample sees a residency violation.")},
               {"dnsAnswersToFailedRegionPercent",
                Int("Abort when, after the target was detected failed, more than this share of "
                    "the DNS answers a sample gets still points at it.")}})},
         {"injectFault", Bool("Also inject the real fault (membersim only); the older spelling of "
                              "failure: injected.")},
         {"failure", Str("Live drills: declared (the target is treated as failed for placement) or "
                         "injected (the real fault is injected through the member's fault API and "
                         "the drill only observes).")},
         {"observeReturnSeconds", Int("After the restore, how long a live drill watches the "
                                      "replicas return (0: not at all).")},
         {"slo", Obj("The service level the report judges the drill against (stops nothing).",
                     {{"minAvailabilityPercent",
                       Int("The report counts the time ready replicas were below this share, "
                           "overall and per workload.")}})},
         {"schedule",
          Obj("A game day's schedule: runs start when the cron expression fires, inside the "
              "window.",
              {{"cron", Str("5 fields: minute hour day-of-month month day-of-week.")},
               {"timeZone", Str("IANA time zone of the cron fields and the window (default UTC).")},
               {"window",
                Obj("Local times of day a run may start in.", {{"start", Str("HH:MM.")},
                                                               {"end", Str("HH:MM (before start: "
                                                                           "spans midnight).")}})}},
              {"cron"})},
         {"steps",
          ListOf("A game day's steps, run in order (instead of target).",
                 Obj("A step.",
                     {{"target", Obj("Exactly one of zone, region, cluster.",
                                     {{"zone", Str("Zone name.")},
                                      {"region", Str("Region name.")},
                                      {"cluster", Str("Member cluster name.")}})},
                      {"durationSeconds", Int("How long the step keeps its target failed.")}},
                     {"target", "durationSeconds"}))}});
  }
  return Obj("Records served by Meridian's DNS.",
             {{"strategy", Str("geo, weighted, failover or static.")},
              {"jurisdictions", StrList("Residency: only endpoints in these jurisdictions are answered.")},
              {"endpoints", ListOf("Endpoints, close to external-dns' DNSEndpoint.",
                                   Obj("An endpoint.", {{"dnsName", Str("Name.")},
                                                        {"recordType", Str("A, AAAA, CNAME, SRV or TXT.")},
                                                        {"targets", StrList("Targets.")},
                                                        {"recordTTL", Int("TTL.")},
                                                        {"setIdentifier", Str("Member cluster.")},
                                                        {"labels", {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}}},
                                                        {"region", Str("Region.")},
                                                        {"jurisdiction", Str("Jurisdiction.")},
                                                        {"weight", Int("Ready replicas.")},
                                                        {"priority", Int("Failover order.")},
                                                        {"healthy", Bool("Healthy.")}}))}});
}

json StatusSchemaFor(const std::string& kind) {
  if (kind == "MemberCluster") {
    return Obj(
        "Observed health and capacity.",
        {{"conditions", Conditions()},
         {"zones", ListOf("Per-zone health.",
                          Obj("Zone.", {{"name", Str("Zone.")},
                                        {"healthy", Bool("Healthy.")},
                                        {"allocatableReplicas", Int("Room.")},
                                        {"lastTransitionTime", Str("Last change.")},
                                        {"replicasByPodShape",
                                         IntMap("Room per pod shape of the workloads placed.")}}))},
         {"allocatable", Obj("Room for replicas.", {{"replicas", Int("Replicas.")}})},
         {"lastProbeTime", Str("Last health probe.")},
         {"probeLatencyMs", Int("Probe latency.")},
         {"kubernetesVersion", Str("Member's Kubernetes version.")},
         {"workloadSummary",
          Obj("What the FederatedWorkloads have on this member (member-summary controller).",
              {{"workloads", Int("Workloads with replicas placed here.")},
               {"desiredReplicas", Int("Replicas placed here.")},
               {"readyReplicas", Int("Replicas ready here.")}})}});
  }
  if (kind == "FederatedWorkload") {
    return Obj(
        "Placement, per-member sync state and readiness.",
        {{"observedGeneration", Int("Generation the status reflects.")},
         {"placement", ListOf("Replicas per cluster with reasons.",
                              Obj("Placement.", {{"cluster", Str("Cluster.")},
                                                 {"replicas", Int("Replicas.")},
                                                 {"zones", IntMap("Per-zone hints.")},
                                                 {"reasons", StrList("Why.")}}))},
         {"retained",
          ListOf("Replicas left running where placement no longer puts them: on an "
                 "unreachable member (never delete what cannot be seen), or on a member "
                 "that came back, until its recovery delay passed and the replacements "
                 "are ready. Not counted as placed.",
                 Obj("Retained.", {{"cluster", Str("Cluster.")},
                                   {"replicas", Int("Replicas.")},
                                   {"reasons", StrList("Why.")}}))},
         {"unplacedReplicas", Int("Replicas no allowed cluster could take.")},
         {"clusters",
          ListOf(
              "Per-member sync state.",
              Obj("Member.", {{"cluster", Str("Cluster.")},
                              {"readyReplicas", Int("Ready.")},
                              {"synced", Bool("Synced.")},
                              {"lastError", Str("Last error.")},
                              {"revision", Int("Revision the member runs.")},
                              {"revisionReady", Bool("All its replicas of that revision ready.")},
                              {"restarts", Int("Container restarts of that revision's pods "
                                               "while not ready.")}}))},
         {"readyReplicas", Int("Ready replicas in all members.")},
         {"revisions", ListOf("Template revisions, newest last (rollout controller).",
                              AnyObject("revision, templateHash, template, created."))},
         {"rollout", AnyObject("The staged rollout's state (rollout/stage_machine.h).")},
         {"desiredReplicas", Int("Replicas asked for.")},
         {"conditions", Conditions()},
         {"explanation",
          Obj("Why each cluster holds what it holds (fedctl explain).",
              {{"clusters",
                ListOf(
                    "The clusters holding replicas, one primary reason each.",
                    Obj("Decision.",
                        {{"cluster", Str("Cluster.")},
                         {"replicas", Int("Replicas.")},
                         {"reason", Str("Placed, Overflow, Coverage, ExcludedBySelector, "
                                        "ExcludedByResidency, ExcludedByLatency, Unreachable, "
                                        "ZoneFailure, RecoveryHold, Capacity, Max or NotNeeded.")},
                         {"message", Str("Detail; left out when it is the first reason of the "
                                         "cluster's status.placement line.")}}))},
               {"notPlaced",
                ListOf("The clusters holding nothing, one line per reason and detail.",
                       Obj("Clusters passed alike.",
                           {{"reason", Str("ExcludedBySelector, ExcludedByResidency, "
                                           "ExcludedByLatency, Unreachable, ZoneFailure, "
                                           "RecoveryHold, Capacity, Max, NotNeeded or "
                                           "AffinityGroup.")},
                            {"message", Str("Detail (each cluster's: \"<cluster>: 0; <detail>\").")},
                            {"clusters", StrList("Clusters.")}}))},
               {"overflow", StrList("Overflow candidates in order, taken or passed.")},
               {"omitted", Int("Clusters left out of the bounded list.")}})}});
  }
  if (kind == "ResidencyPolicy") {
    return Obj("What the residency audit last found for the objects this policy governs.",
               {{"conditions", Conditions()},
                {"violations", Int("Open residency violations.")},
                {"enforced", Int("Of those, objects held at zero replicas (enforcement: remove).")},
                {"unverifiedMembers", Int("Members the last scan could not list.")}});
  }
  if (kind == "FailoverDrill") {
    return Obj("The drill's progress and report.",
               {{"phase", Str("Pending, Scheduled (a game day between runs), Running, Completed, "
                              "Aborted or Failed.")},
                {"message", Str("Detail.")},
                {"startTime", Str("Start.")},
                {"completionTime", Str("End.")},
                {"conditions", Conditions()},
                {"report", AnyObject("Timeline, timings, replicas moved, residency violations.")}});
  }
  return json();
}

}  // namespace

const std::vector<ResourceDescriptor>& FederationResources() {
  static const std::vector<ResourceDescriptor> kResources = {
      {"MemberCluster",
       "memberclusters",
       "membercluster",
       {"mc"},
       false,
       true,
       {{"REGION", "string", ".spec.region", "Region"},
        {"JURISDICTION", "string", ".spec.jurisdiction", "Jurisdiction"},
        {"READY", "string", ".status.conditions[?(@.type==\"Ready\")].status", "Ready condition"},
        {"ALLOCATABLE", "integer", ".status.allocatable.replicas", "Room for replicas"},
        {"AGE", "date", ".metadata.creationTimestamp", "Age"}},
       ValidateWith<MemberCluster, DecodeMemberCluster>},
      {"FederatedWorkload",
       "federatedworkloads",
       "federatedworkload",
       {"fw"},
       true,
       true,
       {{"READY", "integer", ".status.readyReplicas", "Ready replicas in all members"},
        {"DESIRED", "integer", ".status.desiredReplicas", "Replicas asked for"},
        {"UNPLACED", "integer", ".status.unplacedReplicas", "Replicas no cluster could take"},
        {"AGE", "date", ".metadata.creationTimestamp", "Age"}},
       ValidateWith<FederatedWorkload, DecodeFederatedWorkload>},
      {"Topology",
       "topologies",
       "topology",
       {"topo"},
       false,
       false,
       {{"AGE", "date", ".metadata.creationTimestamp", "Age"}},
       ValidateWith<Topology, DecodeTopology>},
      {"ResidencyPolicy",
       "residencypolicies",
       "residencypolicy",
       {"rp"},
       false,
       true,
       {{"COMPLIANT", "string", ".status.conditions[?(@.type==\"Compliant\")].status",
         "Compliant condition (from the residency audit)"},
        {"VIOLATIONS", "integer", ".status.violations", "Open residency violations"},
        {"UNVERIFIED", "integer", ".status.unverifiedMembers", "Members the audit cannot see"},
        {"AGE", "date", ".metadata.creationTimestamp", "Age"}},
       ValidateWith<ResidencyPolicy, DecodeResidencyPolicy>},
      {"FailoverDrill",
       "failoverdrills",
       "failoverdrill",
       {"drill"},
       false,
       true,
       {{"PHASE", "string", ".status.phase", "Phase"},
        {"MODE", "string", ".spec.mode", "Mode"},
        {"AGE", "date", ".metadata.creationTimestamp", "Age"}},
       ValidateWith<FailoverDrill, DecodeFailoverDrill>},
      {"DNSRecordSet",
       "dnsrecordsets",
       "dnsrecordset",
       {"dnsrs"},
       true,
       false,
       {{"STRATEGY", "string", ".spec.strategy", "Strategy"},
        {"AGE", "date", ".metadata.creationTimestamp", "Age"}},
       ValidateWith<DnsRecordSet, DecodeDnsRecordSet>},
      // The residency evidence ledger (api/evidence.h, residency/ledger.h): append-only.
      {"ResidencyEvidence",
       "residencyevidences",
       "residencyevidence",
       {"evidence"},
       false,
       false,
       {{"SEQUENCE", "integer", ".spec.sequence", "Position in the chain"},
        {"TYPE", "string", ".spec.type", "What the entry records"},
        {"TIME", "string", ".spec.time", "When"}},
       ValidateWith<ResidencyEvidence, DecodeResidencyEvidence>},
      // Placing unchanged Kubernetes objects (api/placement_policy.h, issue 18).
      {"PlacementPolicy", "placementpolicies", "placementpolicy", {"pp"}, true, false,
       {{"PRIORITY", "integer", ".spec.priority", "Wins over equally specific policies"},
        {"AGE", "date", ".metadata.creationTimestamp", "Age"}},
       ValidateWith<PlacementPolicyObject, DecodeNamespacedPlacementPolicy>},
      {"ClusterPlacementPolicy", "clusterplacementpolicies", "clusterplacementpolicy", {"cpp"},
       false, false,
       {{"PRIORITY", "integer", ".spec.priority", "Wins over equally specific policies"},
        {"AGE", "date", ".metadata.creationTimestamp", "Age"}},
       ValidateWith<PlacementPolicyObject, DecodeClusterPlacementPolicy>},
      // How a custom kind is divided, judged and aggregated (api/resource_interpreter.h).
      {"ResourceInterpreter", "resourceinterpreters", "resourceinterpreter", {"ri"}, false, false,
       {{"KIND", "string", ".spec.target.kind", "The kind it interprets"},
        {"REPLICAS", "string", ".spec.replicasPath", "Where its replicas are"},
        {"AGE", "date", ".metadata.creationTimestamp", "Age"}},
       ValidateWith<ResourceInterpreterObject, DecodeResourceInterpreter>},
      // Reusable stages and gates for staged rollouts (api/rollout.h).
      {"RolloutStrategy",
       "rolloutstrategies",
       "rolloutstrategy",
       {"rstrat"},
       false,
       false,
       {{"AGE", "date", ".metadata.creationTimestamp", "Age"}},
       ValidateWith<RolloutStrategy, DecodeRolloutStrategy>},
  };
  return kResources;
}

const ResourceDescriptor* FindResource(const std::string& name) {
  std::string n = Lower(name);
  for (const ResourceDescriptor& r : FederationResources()) {
    if (Lower(r.kind) == n || r.plural == n || r.singular == n ||
        std::find(r.short_names.begin(), r.short_names.end(), n) != r.short_names.end()) {
      return &r;
    }
  }
  return nullptr;
}

json OpenApiSchemaFor(const ResourceDescriptor& resource) {
  json props = {{"apiVersion", Str("federation.meridian.io/v1alpha1")},
                {"kind", Str(resource.kind)},
                {"metadata", Metadata()},
                {"spec", SpecSchemaFor(resource.kind)}};
  json status = StatusSchemaFor(resource.kind);
  if (!status.is_null()) props["status"] = std::move(status);
  json schema = Obj(resource.kind + " (federation.meridian.io/v1alpha1); see docs/design.md.",
                    std::move(props));
  schema["x-kubernetes-group-version-kind"] =
      json::array({{{"group", kGroup}, {"version", kVersion}, {"kind", resource.kind}}});
  return schema;
}

}  // namespace meridian::api
