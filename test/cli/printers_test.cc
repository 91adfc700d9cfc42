#include "cli/printers.h"
#include "cli/explain.h"
#include "api/workload_summary.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fmt/format.h>

#include "test/cli/fake_client.h"

namespace meridian::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

Timestamp At(const std::string& rfc3339) {
  Timestamp t;
  EXPECT_TRUE(ParseRfc3339(rfc3339, &t)) << rfc3339;
  return t;
}

const KindInfo& Kind(const std::string& name) {
  const KindInfo* k = ResolveType(name);
  EXPECT_NE(k, nullptr) << name;
  return *k;
}

json Workload() {
  return json::parse(R"({
    "apiVersion": "federation.meridian.io/v1alpha1", "kind": "FederatedWorkload",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"},
                 "creationTimestamp": "2026-11-21T10:00:00Z", "generation": 2,
                 "resourceVersion": "42"},
    "spec": {"template": {"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "web"}, "spec": {"replicas": 30}},
             "placement": {"distribution": {"weights": {"us-east": 3, "eu-west": 2}}},
             "dns": {"name": "web.global.example.com", "strategy": "geo", "ttl": 30, "port": 80}},
    "status": {"observedGeneration": 2, "desiredReplicas": 30, "readyReplicas": 27,
               "unplacedReplicas": 3,
               "placement": [
                 {"cluster": "us-east-1", "replicas": 18, "zones": {"us-east-1a": 9, "us-east-1b": 9},
                  "reasons": ["weight 3 of 5", "capped by capacity 18"]},
                 {"cluster": "eu-west-1", "replicas": 9, "reasons": ["weight 2 of 5"]}],
               "clusters": [
                 {"cluster": "us-east-1", "readyReplicas": 18, "synced": true},
                 {"cluster": "eu-west-1", "readyReplicas": 9, "synced": false,
                  "lastError": "member unreachable"}],
               "conditions": [
                 {"type": "Placed", "status": "True", "reason": "Placed",
                  "lastTransitionTime": "2026-11-21T10:01:00Z", "message": "27 of 30 placed"},
                 {"type": "Degraded", "status": "True", "reason": "CapacityExhausted",
                  "lastTransitionTime": "2026-11-21T10:02:00Z",
                  "message": "3 replicas unplaced: no allowed cluster has room"}]}
  })");
}

json Cluster() {
  return json::parse(R"({
    "apiVersion": "federation.meridian.io/v1alpha1", "kind": "MemberCluster",
    "metadata": {"name": "eu-west-1", "creationTimestamp": "2026-11-19T10:00:00Z"},
    "spec": {"server": "https://127.0.0.1:7001", "region": "eu-west",
             "zones": ["eu-west-1a", "eu-west-1b"], "jurisdiction": "eu",
             "credentialsRef": {"name": "eu-west-1-creds"}, "capacity": {"replicas": 400}},
    "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Probed",
                               "lastTransitionTime": "2026-11-21T09:00:00Z"},
                              {"type": "Reachable", "status": "True"}],
               "zones": [{"name": "eu-west-1a", "healthy": true, "allocatableReplicas": 200},
                         {"name": "eu-west-1b", "healthy": false, "allocatableReplicas": 0,
                          "lastTransitionTime": "2026-11-21T09:58:00Z"}],
               "allocatable": {"replicas": 380}, "probeLatencyMs": 12,
               "lastProbeTime": "2026-11-21T09:59:55Z", "kubernetesVersion": "v1.32.0"}
  })");
}

TEST(AgeTest, RendersLikeKubectl) {
  const Timestamp now = At("2026-11-21T10:00:00Z");
  struct Case {
    std::string ts, want;
  };
  for (const Case& c :
       std::vector<Case>{{"2026-11-21T09:59:15Z", "45s"},
                         {"2026-11-21T09:56:40Z", "3m20s"},
                         {"2026-11-21T09:00:00Z", "60m"},
                         {"2026-11-21T05:00:00Z", "5h"},
                         {"2026-11-09T10:00:00Z", "12d"},
                         {"2026-11-21T10:00:05Z", "<invalid>"} /* clock skew, as kubectl */,
                         {"", "<unknown>"},
                         {"yesterday", "<unknown>"}}) {
    EXPECT_EQ(Age(c.ts, now), c.want) << c.ts;
  }
}

TEST(CellTextTest, PrinterColumnsResolveAgainstObjects) {
  const Timestamp now = At("2026-11-21T10:00:00Z");
  const KindInfo& mc = Kind("mc");
  json c = Cluster();
  std::vector<std::string> cells;
  for (const auto& col : mc.columns) cells.push_back(CellText(col, c, now));
  EXPECT_EQ(cells, (std::vector<std::string>{"eu-west", "eu", "True", "380", "2d"}));
  json bare = {{"metadata", {{"name", "x"}}}};
  cells.clear();
  for (const auto& col : mc.columns) cells.push_back(CellText(col, bare, now));
  EXPECT_EQ(cells, (std::vector<std::string>{"", "", "", "", "<unknown>"}));
  const KindInfo& secret = Kind("secret");
  json s = {{"type", "Opaque"}, {"data", {{"a", "YQ=="}, {"b", "Yg=="}}}};
  EXPECT_EQ(CellText(secret.columns[1], s, now), "2");
  EXPECT_EQ(CellText(secret.columns[1], json::object(), now), "0");
}

TEST(PrintTableTest, AlignedColumnsNamespacesAndWide) {
  const Timestamp now = At("2026-11-21T10:30:00Z");
  json other = Workload();
  other["metadata"]["name"] = "checkout-api";
  other["metadata"]["namespace"] = "payments";
  other.erase("status");
  TableOptions opts;
  opts.now = now;
  EXPECT_EQ(PrintTable(Kind("fw"), {Workload(), other}, opts),
            "NAME           READY   DESIRED   UNPLACED   AGE\n"
            "web            27      30        3          30m\n"
            "checkout-api                                30m\n");
  opts.with_namespace = true;
  opts.wide = true;
  EXPECT_EQ(
      PrintTable(Kind("fw"), {Workload(), other}, opts),
      "NAMESPACE   NAME           READY   DESIRED   UNPLACED   AGE   PLACEMENT\n"
      "shop        web            27      30        3          30m   us-east-1=18,eu-west-1=9\n"
      "payments    checkout-api                                30m   <none>\n");
  opts.headers = false;
  opts.with_namespace = true;  // cluster-scoped kinds never get a NAMESPACE column
  opts.wide = false;
  EXPECT_EQ(PrintTable(Kind("membercluster"), {Cluster()}, opts),
            "eu-west-1   eu-west   eu   True   380   2d\n");
}

TEST(PrintYamlJsonTest, OneObjectOrAList) {
  json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}};
  EXPECT_EQ(PrintYaml({ns}, false), "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n");
  EXPECT_EQ(PrintYaml({}, true),
            "apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n");
  std::string j = PrintJson({ns, ns}, true);
  json parsed = json::parse(j);
  EXPECT_EQ(parsed["kind"], "List");
  EXPECT_EQ(parsed["items"].size(), 2u);
  EXPECT_THAT(j, HasSubstr("\n    \"items\": ["));  // kubectl indents by 4
  EXPECT_EQ(json::parse(PrintJson({ns}, false)), ns);
}

TEST(DescribeTest, FederatedWorkloadShowsPlacementMembersConditionsAndUnplaced) {
  std::string d = Describe(Kind("fw"), Workload(), At("2026-11-21T10:05:00Z"));
  for (const char* want : {
           "Name:              web\n",
           "Namespace:         shop\n",
           "Labels:            app=web\n",
           "Created:           2026-11-21T10:00:00Z (5m ago)\n",
           "Template:          apps/v1 Deployment \"web\", 30 replicas divided across clusters\n",
           "DNS:               web.global.example.com (strategy geo, ttl 30s, port 80)\n",
           "  Unplaced Replicas:    3\n",
           "Placement:\n"
           "  CLUSTER     REPLICAS   ZONES                       REASONS\n"
           "  us-east-1   18         us-east-1a=9,us-east-1b=9   weight 3 of 5\n"
           "                                                     capped by capacity 18\n"
           "  eu-west-1   9                                      weight 2 of 5\n",
           "Members:\n"
           "  CLUSTER     READY   SYNCED   LAST ERROR\n"
           "  us-east-1   18/18   true\n"
           "  eu-west-1   9/9     false    member unreachable\n",
           "  Degraded   True     CapacityExhausted   3m    3 replicas unplaced: no allowed "
           "cluster has room\n",
       }) {
    EXPECT_THAT(d, HasSubstr(want)) << d;
  }
  // Unreconciled: says so instead of printing zeros as facts.
  json fresh = Workload();
  fresh.erase("status");
  std::string f = Describe(Kind("fw"), fresh, At("2026-11-21T10:05:00Z"));
  EXPECT_THAT(f, HasSubstr("not yet reconciled"));
  EXPECT_THAT(f, HasSubstr("Placement:         <none>\n"));
}

TEST(DescribeTest, WithRelatedObjectsShowsRegionsAndRecentEvents) {
  RelatedObjects related;
  related.cluster_regions = {{"us-east-1", "us-east"}, {"eu-west-1", "eu-west"}};
  for (int i = 0; i < 12; ++i) {  // with the Warning 13 events; the last 10 are shown
    related.events.push_back(
        {{"type", "Normal"},
         {"reason", "Synced" + std::to_string(i)},
         {"message", "m" + std::to_string(i)},
         {"source", {{"component", "propagation-controller"}}},
         {"count", i == 11 ? 4 : 1},
         {"firstTimestamp", fmt::format("2026-11-21T10:{:02}:00Z", i == 11 ? 0 : i)},
         {"lastTimestamp", fmt::format("2026-11-21T10:{:02}:00Z", i)}});
  }
  related.events.push_back({{"type", "Warning"}, {"reason", "SyncFailed"},
                            {"message", "eu-west-1: member refused the credentials"},
                            {"reportingComponent", "propagation-controller"},
                            {"lastTimestamp", "2026-11-21T10:12:30Z"}});
  std::string d = Describe(Kind("fw"), Workload(), At("2026-11-21T10:15:00Z"), &related);
  for (const char* want : {
           "Members:\n"
           "  CLUSTER     REGION    READY   SYNCED   LAST ERROR\n"
           "  us-east-1   us-east   18/18   true\n"
           "  eu-west-1   eu-west   9/9     false    member unreachable\n",
           "By Region:         us-east 18/18, eu-west 9/9\n",
           "Events:\n  TYPE      REASON       AGE ",
           "  Warning   SyncFailed   2m30s ",
           "propagation-controller   eu-west-1: member refused the credentials\n",
           "  Normal    Synced11     4m (x4 over 15m)   propagation-controller   m11\n",
       }) {
    EXPECT_THAT(d, HasSubstr(want)) << d;
  }
  EXPECT_THAT(d, Not(HasSubstr("Synced0 "))) << d;
  EXPECT_THAT(d, Not(HasSubstr("Synced2 "))) << d;  // 13 events: the 3 oldest are left out
  EXPECT_THAT(d, HasSubstr("Synced3 ")) << d;

  RelatedObjects none;
  EXPECT_THAT(Describe(Kind("mc"), Cluster(), At("2026-11-21T10:15:00Z"), &none),
              HasSubstr("Events:            <none>\n"));
}

TEST(DescribeTest, RetainedReplicasAreShownApartWithWhy) {
  json w = Workload();
  std::string d = Describe(Kind("fw"), w, At("2026-11-21T10:15:00Z"));
  EXPECT_THAT(d, Not(HasSubstr("Retained:"))) << d;
  w["status"]["retained"] = json::array(
      {{{"cluster", "ap-south-1"},
        {"replicas", 6},
        {"reasons", {"ap-south-1: unreachable, its 6 replicas are left as they are"}}}});
  d = Describe(Kind("fw"), w, At("2026-11-21T10:15:00Z"));
  w["status"]["clusters"].push_back({{"cluster", "ap-south-1"}, {"readyReplicas", 6}, {"synced", true}});
  d = Describe(Kind("fw"), w, At("2026-11-21T10:15:00Z"));
  // In Members too: "6/6 retained", not "6/0 true".
  EXPECT_THAT(d, HasSubstr("  ap-south-1   6/6 retained   retained\n")) << d;
  EXPECT_THAT(d, HasSubstr("Retained:\n"
                           "  CLUSTER      REPLICAS   WHY\n"
                           "  ap-south-1   6          ap-south-1: unreachable, its 6 replicas are "
                           "left as they are\n")) << d;
}

TEST(DescribeTest, ClustersThatGetNothingAreListedWithTheirReason) {
  json w = Workload();
  w["status"]["explanation"] = {
      {"clusters",
       {{{"cluster", "us-east-1"}, {"replicas", 18}, {"reason", "Placed"}, {"message", "us-east-1: 18 = ..."}},
        {{"cluster", "eu-west-1"},
         {"replicas", 0},
         {"reason", "RecoveryHold"},
         {"message", "eu-west-1: 0; recovery hold until 2026-11-21T10:16:00Z (recoveryDelaySeconds 60): "
                     "gains nothing, takes no overflow"}},
        {{"cluster", "ap-south-1"},
         {"replicas", 0},
         {"reason", "ExcludedByResidency"},
         {"message", "ap-south-1: 0; excluded by residency (ResidencyPolicy eu-only allows eu; cluster is in in)"}}}},
      {"overflow", {"9 replicas overflowed (nearest)", "from us-east (9 it could not hold), nearest first:"}}};
  std::string d = Describe(Kind("fw"), w, At("2026-11-21T10:15:00Z"));
  EXPECT_THAT(d, HasSubstr("Not Placed:\n"
                           "  CLUSTER      REASON                DETAIL\n"
                           "  eu-west-1    RecoveryHold          recovery hold until 2026-11-21T10:16:00Z "
                           "(recoveryDelaySeconds 60): gains nothing, takes no overflow\n"
                           "  ap-south-1   ExcludedByResidency   excluded by residency (ResidencyPolicy "
                           "eu-only allows eu; cluster is in in)\n")) << d;
  EXPECT_THAT(d, HasSubstr("Overflow:          9 replicas overflowed (nearest) (fedctl explain for the "
                           "candidates)\n")) << d;
}

// As the placement controller stores it: the clusters holding nothing grouped by reason and
// detail (status.explanation.notPlaced); describe says each group once, explain every cluster.
TEST(DescribeTest, ClustersPassedAlikeAreOneLine) {
  json w = Workload();
  w["status"]["explanation"] = {
      {"clusters",
       {{{"cluster", "us-east-1"}, {"replicas", 18}, {"reason", "Placed"}, {"message", "us-east-1: 18 = ..."}}}},
      {"notPlaced",
       {{{"reason", "ExcludedBySelector"},
         {"message", "excluded by clusterSelector (tier=gold)"},
         {"clusters", {"c1", "c2", "c3", "c4", "c5", "c6"}}},
        {{"reason", "Unreachable"}, {"message", "unreachable"}, {"clusters", {"eu-west-1"}}}}}};
  std::string d = Describe(Kind("fw"), w, At("2026-11-21T10:15:00Z"));
  EXPECT_THAT(d, HasSubstr("Not Placed:\n"
                           "  CLUSTER                     REASON               DETAIL\n"
                           "  c1, c2, c3, c4 and 2 more   ExcludedBySelector   excluded by "
                           "clusterSelector (tier=gold)\n"
                           "  eu-west-1                   Unreachable          unreachable\n"))
      << d;
  std::string error;
  EXPECT_EQ(PrintExplanation(w, "c5", &error),
            "CLUSTER   REPLICAS   REASON               DETAIL\n"
            "c5        0          ExcludedBySelector   excluded by clusterSelector (tier=gold)\n");
  EXPECT_EQ(error, "");
  EXPECT_EQ(PrintExplanation(w, "", &error),
            "CLUSTER     REPLICAS   REASON               DETAIL\n"
            "us-east-1   18         Placed               18 = ...\n"
            "c1          0          ExcludedBySelector   excluded by clusterSelector (tier=gold)\n"
            "c2          0          ExcludedBySelector   excluded by clusterSelector (tier=gold)\n"
            "c3          0          ExcludedBySelector   excluded by clusterSelector (tier=gold)\n"
            "c4          0          ExcludedBySelector   excluded by clusterSelector (tier=gold)\n"
            "c5          0          ExcludedBySelector   excluded by clusterSelector (tier=gold)\n"
            "c6          0          ExcludedBySelector   excluded by clusterSelector (tier=gold)\n"
            "eu-west-1   0          Unreachable          unreachable\n"
            "\nDegraded (CapacityExhausted): 3 replicas unplaced: no allowed cluster has room\n");
}

TEST(ExplainTest, EveryClusterThenTheOverflowCandidatesOrOneCluster) {
  json w = Workload();
  std::string error;
  EXPECT_EQ(PrintExplanation(w, "", &error), "");
  EXPECT_THAT(error, HasSubstr("no placement explanation yet"));
  w["status"]["explanation"] = {
      {"clusters",
       {{{"cluster", "eu-central-1"}, {"replicas", 12}, {"reason", "Placed"},
         {"message", "eu-central-1: 12 = region eu-central weight 1/10 of 30; +9 overflow"}},
        {{"cluster", "us-east-1"}, {"replicas", 0}, {"reason", "Unreachable"},
         {"message", "us-east-1: 0; unreachable (its share 9 overflowed)"}}}},
      {"overflow",
       {"9 replicas overflowed (nearest)", "from us-east (9 it could not hold), nearest first:",
        "  us-west-1 (us-west, 62 ms): passed, recovering (takes no overflow)",
        "  eu-central-1 (eu-central, 90 ms): took 9"}}};
  EXPECT_EQ(PrintExplanation(w, "", &error),
            "CLUSTER        REPLICAS   REASON        DETAIL\n"
            "eu-central-1   12         Placed        12 = region eu-central weight 1/10 of 30; +9 overflow\n"
            "us-east-1      0          Unreachable   unreachable (its share 9 overflowed)\n"
            "\nOverflow:\n"
            "9 replicas overflowed (nearest)\n"
            "from us-east (9 it could not hold), nearest first:\n"
            "  us-west-1 (us-west, 62 ms): passed, recovering (takes no overflow)\n"
            "  eu-central-1 (eu-central, 90 ms): took 9\n"
            "\nDegraded (CapacityExhausted): 3 replicas unplaced: no allowed cluster has room\n");
  EXPECT_EQ(error, "");
  EXPECT_EQ(PrintExplanation(w, "us-west-1", &error), "");
  EXPECT_EQ(error, "cluster \"us-west-1\" is not in the explanation");
  EXPECT_EQ(PrintExplanation(w, "us-east-1", &error),
            "CLUSTER     REPLICAS   REASON        DETAIL\n"
            "us-east-1   0          Unreachable   unreachable (its share 9 overflowed)\n"
            "\nOverflow:\n"
            "9 replicas overflowed (nearest)\n"
            "from us-east (9 it could not hold), nearest first:\n");
}

TEST(TableTest, WorkloadTablesShowReadyOverDesiredPerRegion) {
  std::map<std::string, std::string> regions = {{"us-east-1", "us-east"},
                                                {"us-west-1", "us-east"}};
  json w = Workload();
  w["status"]["placement"].push_back({{"cluster", "us-west-1"}, {"replicas", 2}});
  w["status"]["clusters"].push_back({{"cluster", "us-west-1"}, {"readyReplicas", 1}});
  // eu-west-1 has no known region: shown by its own name.
  EXPECT_EQ(api::ReplicasByRegion(w, regions), "us-east 19/20, eu-west-1 9/9");
  json fresh = Workload();
  fresh.erase("status");
  EXPECT_EQ(api::ReplicasByRegion(fresh, regions), "<none>");

  // Retained replicas are their own figure, never "15/0" (issue 16).
  json kept = w;
  kept["status"]["retained"] = json::array({{{"cluster", "ap-south-1"}, {"replicas", 15}},
                                            {{"cluster", "us-west-1"}, {"replicas", 3}}});
  kept["status"]["clusters"].push_back({{"cluster", "ap-south-1"}, {"readyReplicas", 15}});
  EXPECT_EQ(api::ReplicasByRegion(kept, regions), "us-east 19/20, ap-south-1 15 retained, eu-west-1 9/9");

  TableOptions t;
  t.now = At("2026-11-21T10:05:00Z");
  t.cluster_regions = &regions;
  auto cells = TableCells(Kind("fw"), {w}, t);
  ASSERT_EQ(cells.size(), 2u);
  EXPECT_EQ(cells[0], (std::vector<std::string>{"NAME", "READY", "DESIRED", "UNPLACED",
                                                "REGIONS", "AGE"}));
  EXPECT_EQ(cells[1][4], "us-east 19/20, eu-west-1 9/9");
  EXPECT_EQ(cells[1][5], "5m");
  // Without regions (and for other kinds) the table is the server's columns.
  t.cluster_regions = nullptr;
  EXPECT_EQ(TableCells(Kind("fw"), {w}, t)[0].size(), 5u);
}

TEST(FetchRelatedTest, FindsTheMembersRegionsAndTheObjectsOwnEvents) {
  testing::FakeClient client;
  client.Put(Kind("mc"), "", Cluster());
  auto event = [](const std::string& name, const std::string& kind, const std::string& object,
                  const std::string& uid) {
    return json{{"metadata", {{"name", name}, {"namespace", "shop"}}},
                {"involvedObject", {{"kind", kind}, {"name", object}, {"uid", uid}}}};
  };
  json w = Workload();
  w["metadata"]["uid"] = "u1";
  client.Put(Kind("events"), "shop", event("a", "FederatedWorkload", "web", "u1"));
  client.Put(Kind("events"), "shop", event("b", "FederatedWorkload", "web", ""));
  client.Put(Kind("events"), "shop", event("c", "FederatedWorkload", "web", "old-uid"));
  client.Put(Kind("events"), "shop", event("d", "FederatedWorkload", "api", "u2"));
  client.Put(Kind("events"), "shop", event("e", "MemberCluster", "web", "u3"));
  RelatedObjects r = FetchRelated(client, Kind("fw"), &w);
  EXPECT_EQ(r.cluster_regions, (std::map<std::string, std::string>{{"eu-west-1", "eu-west"}}));
  std::vector<std::string> names;
  for (const json& e : r.events) names.push_back(e["metadata"]["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));
  // A failing server leaves the parts empty; describe still works.
  client.FailNext("list", ApiError::BadRequest("no"));
  client.FailNext("list", ApiError::BadRequest("no"));
  RelatedObjects empty = FetchRelated(client, Kind("fw"), &w);
  EXPECT_TRUE(empty.cluster_regions.empty());
  EXPECT_TRUE(empty.events.empty());
}

TEST(DescribeTest, MemberClusterShowsLocationConditionsZonesAndAllocatable) {
  std::string d = Describe(Kind("mc"), Cluster(), At("2026-11-21T10:00:00Z"));
  for (const char* want :
       {"Region:            eu-west\n", "Zones:             eu-west-1a, eu-west-1b\n",
        "Jurisdiction:      eu\n", "Capacity:          400 replicas\n",
        "Credentials:       secret meridian-system/eu-west-1-creds\n",
        "  Allocatable:         380 replicas\n",
        "  Last Probe:          2026-11-21T09:59:55Z (5s ago), latency 12ms\n",
        "  Ready       True     Probed   60m\n",
        "Zone Health:\n  ZONE         HEALTHY   ALLOCATABLE   SINCE\n"
        "  eu-west-1a   true      200\n"
        "  eu-west-1b   false     0             2m\n"}) {
    EXPECT_THAT(d, HasSubstr(want)) << d;
  }
  EXPECT_THAT(d, Not(HasSubstr("Namespace:")));
}

TEST(DescribeTest, SecretsShowSizesNeverValuesAndOtherKindsShowYaml) {
  json s = {{"apiVersion", "v1"},
            {"kind", "Secret"},
            {"metadata", {{"name", "creds"}, {"namespace", "meridian-system"}}},
            {"type", "Opaque"},
            {"data", {{"token", "c2VjcmV0LXRva2Vu"}}}};
  std::string d = Describe(Kind("secret"), s, At("2026-11-21T10:00:00Z"));
  EXPECT_THAT(d, HasSubstr("  token:  12 bytes\n"));
  EXPECT_THAT(d, Not(HasSubstr("c2VjcmV0")));
  json topo = {{"apiVersion", "federation.meridian.io/v1alpha1"},
               {"kind", "Topology"},
               {"metadata", {{"name", "default"}}},
               {"spec", {{"regions", {{{"name", "eu-west"}, {"jurisdiction", "eu"}}}}}}};
  std::string t = Describe(Kind("topo"), topo, At("2026-11-21T10:00:00Z"));
  EXPECT_THAT(t, HasSubstr("Spec:\n  regions:\n    - jurisdiction: eu\n      name: eu-west\n"));
}

TEST(FormatApiErrorTest, ServerTransportAndInvalidWithCauses) {
  using apimachinery::ApiError;
  EXPECT_EQ(FormatApiError(ApiError::NotFound("federation.meridian.io", "federatedworkloads", "x")),
            "Error from server (NotFound): federatedworkloads.federation.meridian.io \"x\" not "
            "found\n");
  ApiError invalid =
      ApiError::Invalid("federation.meridian.io", "FederatedWorkload", "web",
                        {{"spec.placement.distribution.weights.eu-west", "must be >= 0"},
                         {"spec.template.spec.replicas", "must be >= 0"}});
  EXPECT_EQ(FormatApiError(invalid, "web.yaml:8", "federatedworkloads"),
            "Error from server (Invalid): web.yaml:8: federatedworkloads \"web\" is invalid: "
            "spec.placement.distribution.weights.eu-west: must be >= 0\n"
            "Error from server (Invalid): web.yaml:8: federatedworkloads \"web\" is invalid: "
            "spec.template.spec.replicas: must be >= 0\n");
  ApiError down;
  down.code = 0;
  down.message = "cannot connect to the server at http://127.0.0.1:1: connection refused";
  EXPECT_EQ(FormatApiError(down, "a.yaml:1"),
            "error: a.yaml:1: cannot connect to the server at http://127.0.0.1:1: connection "
            "refused\n");
  ApiError big = ApiError::RequestEntityTooLarge(3 << 20);
  EXPECT_EQ(FormatApiError(big, "big.yaml:1"),
            "Error from server (RequestEntityTooLarge): big.yaml:1: Request entity too large: "
            "limit is 3145728\n");
}

TEST(KindsTest, ResolvesEveryNameAUserMightType) {
  struct Case {
    std::string typed, kind;
  };
  for (const Case& c :
       std::vector<Case>{{"fw", "FederatedWorkload"},
                         {"FederatedWorkload", "FederatedWorkload"},
                         {"federatedworkloads", "FederatedWorkload"},
                         {"federatedworkloads.federation.meridian.io", "FederatedWorkload"},
                         {"mc", "MemberCluster"},
                         {"topo", "Topology"},
                         {"ns", "Namespace"},
                         {"namespaces", "Namespace"},
                         {"secret", "Secret"},
                         {"Secrets", "Secret"},
                         {"drill", "FailoverDrill"}}) {
    const KindInfo* k = ResolveType(c.typed);
    ASSERT_NE(k, nullptr) << c.typed;
    EXPECT_EQ(k->kind, c.kind) << c.typed;
  }
  EXPECT_EQ(ResolveType("pods"), nullptr);
  EXPECT_EQ(ResolveType("fw.apps"), nullptr);
  EXPECT_EQ(ResolveManifestKind("v1", "Namespace")->plural, "namespaces");
  EXPECT_EQ(ResolveManifestKind("federation.meridian.io/v1alpha1", "MemberCluster")->ApiPrefix(),
            "/apis/federation.meridian.io/v1alpha1");
  EXPECT_EQ(ResolveManifestKind("v1", "FederatedWorkload"), nullptr);
  EXPECT_EQ(ResolveType("fw")->GroupSingular(), "federatedworkload.federation.meridian.io");
  EXPECT_EQ(ResolveType("ns")->GroupSingular(), "namespace");
}

}  // namespace
}  // namespace meridian::cli
