#include "cli/printers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
           "  us-east-1   18      true\n"
           "  eu-west-1   9       false    member unreachable\n",
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
