#include "membersim/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meridian::membersim {
namespace {

using ::testing::HasSubstr;

TEST(ConfigTest, ParsesFullCluster) {
  const char* yaml = R"(
defaults:
  podReadyDelay: 1500ms
  namespaceDeletionDelay: 2s
  crashLoop: {image: "example/*:crash", every: 3s}
  node: {cpu: "4", memory: 16Gi}
clusters:
  - name: eu-west-1
    region: eu-west
    jurisdiction: eu
    labels: {tier: prod}
    zones:
      - {name: eu-west-1a, nodes: 2}
      - name: eu-west-1b
        nodes: 1
        allocatable: {cpu: 500m, memory: 1Gi, pods: 10}
    podEvictionDelay: 1m
    namespaceDeletionDelay: 250ms
    crashLoop: {image: "bad:*"}
    loadBalancerRange: 127.30.0.0/24
    port: 0
    auth: {token: s3cret}
  - name: us-east-1
    region: us-east
    zones: [{name: us-east-1a, nodes: 1}]
)";
  auto c = ParseConfig(yaml, "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->clusters.size(), 2u);
  const ClusterSpec& eu = c->clusters[0];
  EXPECT_EQ(eu.name, "eu-west-1");
  EXPECT_EQ(eu.region, "eu-west");
  EXPECT_EQ(eu.jurisdiction, "eu");
  EXPECT_EQ(eu.labels.at("tier"), "prod");
  ASSERT_EQ(eu.zones.size(), 2u);
  EXPECT_EQ(eu.zones[0].allocatable.cpu_milli, 4000);
  EXPECT_EQ(eu.zones[0].allocatable.memory_bytes, int64_t{16} << 30);
  EXPECT_EQ(eu.zones[1].allocatable.cpu_milli, 500);
  EXPECT_EQ(eu.zones[1].allocatable.pods, 10);
  EXPECT_EQ(eu.timings.pod_ready_delay, Duration(1500));
  EXPECT_EQ(eu.timings.pod_eviction_delay, Duration(60000));
  EXPECT_EQ(eu.timings.namespace_deletion_delay, Duration(250));
  EXPECT_EQ(eu.timings.crash_loop_image, "bad:*");
  EXPECT_EQ(eu.timings.crash_loop_every, Duration(3000));  // the default's, not given here
  EXPECT_EQ(FormatIPv4(eu.lb_base), "127.30.0.0");
  EXPECT_EQ(eu.port, 0);
  EXPECT_EQ(eu.token, "s3cret");
  const ClusterSpec& us = c->clusters[1];
  EXPECT_EQ(us.port, -1);
  EXPECT_EQ(us.timings.pod_ready_delay, Duration(1500));
  EXPECT_EQ(us.timings.namespace_deletion_delay, Duration(2000));
  EXPECT_EQ(us.timings.crash_loop_image, "example/*:crash");
  EXPECT_EQ(FormatIPv4(us.lb_base), "127.20.2.0");
  EXPECT_NE(c->Find("us-east-1"), nullptr);
  EXPECT_EQ(c->Find("nope"), nullptr);
}

TEST(ConfigTest, ErrorsNameFileLineAndField) {
  struct Case {
    const char* name;
    const char* yaml;
    std::vector<std::string> want;  // substrings of the error
  };
  const Case cases[] = {
      {"bad cpu", "clusters:\n  - name: a\n    region: r\n    zones:\n      - name: z\n        nodes: 1\n        allocatable: {cpu: 2x}\n",
       {"c.yaml:7:", "clusters[0].zones[0].allocatable.cpu", "quantity \"2x\""}},
      {"bad memory", "clusters:\n  - name: a\n    region: r\n    zones: [{name: z, nodes: 1, allocatable: {memory: lots}}]\n",
       {"c.yaml:4:", "clusters[0].zones[0].allocatable.memory"}},
      {"unknown field", "clusters:\n  - name: a\n    region: r\n    zone: []\n    zones: [{name: z, nodes: 1}]\n",
       {"c.yaml:4:5: clusters[0].zone: unknown field"}},
      {"missing region and zones", "clusters:\n  - name: a\n", {"clusters[0].region: required", "clusters[0].zones: required"}},
      {"duplicate cluster", "clusters:\n  - {name: a, region: r, zones: [{name: z, nodes: 1}]}\n  - {name: a, region: r, zones: [{name: z, nodes: 1}]}\n",
       {"c.yaml:3:", "duplicate cluster \"a\""}},
      {"bad name", "clusters:\n  - {name: Eu_West, region: r, zones: [{name: z, nodes: 1}]}\n", {"DNS-1123"}},
      {"bad duration", "defaults: {podReadyDelay: soon}\nclusters:\n  - {name: a, region: r, zones: [{name: z, nodes: 1}]}\n",
       {"c.yaml:1:", "defaults.podReadyDelay", "duration \"soon\""}},
      {"non-loopback range", "clusters:\n  - {name: a, region: r, loadBalancerRange: 10.0.0.0/24, zones: [{name: z, nodes: 1}]}\n",
       {"loopback only"}},
      {"no clusters", "defaults: {}\n", {"clusters: must be a non-empty list"}},
      {"crash loop without image", "defaults: {crashLoop: {every: 1s}}\nclusters:\n  - {name: a, region: r, zones: [{name: z, nodes: 1}]}\n",
       {"c.yaml:1:", "defaults.crashLoop.image: required"}},
      {"crash loop every 0", "clusters:\n  - {name: a, region: r, crashLoop: {image: x, every: 0s}, zones: [{name: z, nodes: 1}]}\n",
       {"clusters[0].crashLoop.every: must be more than 0"}},
      {"syntax", "clusters: [\n", {"c.yaml:"}},
      // common/yaml_reader.h: what stalls yaml-cpp's parser (fuzz_yaml), an alias cycle, and
      // content after the one document.
      {"parser stall", "clusters: []\n---\n,\n", {"c.yaml:3:1:", "cannot continue here"}},
      {"alias cycle", "clusters: &c [*c]\n", {"c.yaml:1:", "a cycle"}},
      {"second document", "clusters: []\n---\nclusters: []\n",
       {"c.yaml:2:1:", "holds one document"}},
      {"negative nodes", "clusters:\n  - {name: a, region: r, zones: [{name: z, nodes: -1}]}\n", {"nodes: must be between 0 and 1000"}},
  };
  for (const Case& c : cases) {
    auto r = ParseConfig(c.yaml, "c.yaml");
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.name;
    for (const auto& w : c.want) EXPECT_THAT(r.status().message(), HasSubstr(w)) << c.name;
  }
}

TEST(ConfigTest, ReportsEveryProblem) {
  auto r = ParseConfig(
      "clusters:\n  - {name: a, region: r, zones: [{name: z, nodes: 1, allocatable: {cpu: 2x, memory: 3y}}]}\n",
      "c.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("allocatable.cpu"));
  EXPECT_THAT(r.status().message(), HasSubstr("allocatable.memory"));
}

TEST(ConfigTest, Durations) {
  struct Case {
    const char* text;
    int64_t ms;
  };
  for (const Case& c : {Case{"2s", 2000}, Case{"500ms", 500}, Case{"1m30s", 90000}, Case{"0", 0},
                        Case{"1.5s", 1500}, Case{"1h", 3600000}}) {
    auto d = ParseDuration(c.text);
    ASSERT_TRUE(d.ok()) << c.text;
    EXPECT_EQ(d->count(), c.ms) << c.text;
  }
  for (const char* bad : {"", "2", "s", "2days", "-1s"}) EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
}

TEST(ConfigTest, ShippedTopologyLoads) {
  const char* src = std::getenv("MERIDIAN_SOURCE_DIR");
  if (!src) GTEST_SKIP() << "MERIDIAN_SOURCE_DIR not set (run through ctest)";
  auto c = LoadConfigFile(std::string(src) + "/examples/topology-3-continents.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  std::set<std::string> jurisdictions;
  for (const char* name : {"us-east-1", "us-west-1", "eu-west-1", "eu-central-1", "ap-south-1"}) {
    const ClusterSpec* s = c->Find(name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_GE(s->zones.size(), 2u) << name;
    EXPECT_LE(s->zones.size(), 3u) << name;
    jurisdictions.insert(s->jurisdiction);
  }
  EXPECT_EQ(jurisdictions, (std::set<std::string>{"us", "eu", "in"}));
  EXPECT_EQ(c->Find("eu-west-1")->region, "eu-west");
  EXPECT_EQ(c->Find("eu-west-1")->zones[0].name, "eu-west-1a");
  EXPECT_EQ(c->Find("eu-west-1")->timings.pod_ready_delay, Duration(2000));
}

TEST(ConfigTest, MissingFileIsNotFound) {
  auto c = LoadConfigFile("/nonexistent/membersim.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
}

TEST(ConfigTest, ParsesSeeds) {
  auto c = ParseConfig(R"(
defaults:
  seed:
    - {apiVersion: v1, kind: ConfigMap, count: 2, name: "cm-{i}"}
clusters:
  - name: eu-1
    region: eu
    zones: [{name: eu-1a, nodes: 1}]
    seed:
      - apiVersion: apps/v1
        kind: Deployment
        namespace: payments
        count: 500
        name: "web-{i}"
        labels: {app: "web-{i}", tier: db}
        fields:
          spec: {replicas: 0, paused: true, selector: {matchLabels: {app: x}}, note: "0"}
  - name: us-1
    region: us
    zones: [{name: us-1a, nodes: 1}]
  - name: ap-1
    region: ap
    zones: [{name: ap-1a, nodes: 1}]
    seed: []
)",
                       "s.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  const ClusterSpec& eu = c->clusters[0];
  ASSERT_EQ(eu.seed.size(), 1u);  // its own seeds replace the defaults'
  const SeedSpec& d = eu.seed[0];
  EXPECT_EQ(d.location, "s.yaml:10:9");
  EXPECT_EQ(d.path, "clusters[0].seed[0]");
  EXPECT_EQ(d.api_version, "apps/v1");
  EXPECT_EQ(d.kind, "Deployment");
  EXPECT_EQ(d.ns, "payments");
  EXPECT_EQ(d.count, 500);
  EXPECT_EQ(d.name, "web-{i}");
  EXPECT_EQ(d.labels, (std::map<std::string, std::string>{{"app", "web-{i}"}, {"tier", "db"}}));
  // Scalars typed as in a manifest: numbers, booleans, and a quoted number stays a string.
  EXPECT_EQ(d.fields, nlohmann::json::parse(
                          R"({"spec": {"replicas": 0, "paused": true, "selector": {"matchLabels": {"app": "x"}},
                                       "note": "0"}})"));
  ASSERT_EQ(c->clusters[1].seed.size(), 1u);  // the defaults'
  EXPECT_EQ(c->clusters[1].seed[0].path, "defaults.seed[0]");
  EXPECT_EQ(c->clusters[1].seed[0].ns, "");
  EXPECT_EQ(c->clusters[1].seed[0].fields, nlohmann::json::object());
  EXPECT_TRUE(c->clusters[2].seed.empty());  // seed: [] turns the defaults off
}

TEST(ConfigTest, SeedErrorsNameTheField) {
  struct Case {
    const char* name;
    const char* seed;  // one entry of clusters[0].seed
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {"missing fields", "{kind: ConfigMap}",
       {"c.yaml:3:12: clusters[0].seed[0].apiVersion: required", "clusters[0].seed[0].count: required",
        "clusters[0].seed[0].name: required"}},
      {"unknown field", "{apiVersion: v1, kind: ConfigMap, count: 1, name: a, replicas: 3}",
       {"clusters[0].seed[0].replicas: unknown field"}},
      {"bad apiVersion", "{apiVersion: apps/v1/x, kind: ConfigMap, count: 1, name: a}",
       {"clusters[0].seed[0].apiVersion: \"apps/v1/x\" must be VERSION or GROUP/VERSION"}},
      {"lower-case kind", "{apiVersion: v1, kind: configmap, count: 1, name: a}",
       {"clusters[0].seed[0].kind: \"configmap\" must be a kind"}},
      {"count too large", "{apiVersion: v1, kind: ConfigMap, count: 1000001, name: \"a-{i}\"}",
       {"clusters[0].seed[0].count: must be between 0 and 1000000"}},
      {"count not a number", "{apiVersion: v1, kind: ConfigMap, count: many, name: \"a-{i}\"}",
       {"clusters[0].seed[0].count: \"many\" is not an integer"}},
      {"name without index", "{apiVersion: v1, kind: ConfigMap, count: 2, name: same}",
       {"clusters[0].seed[0].name: must hold {i}"}},
      {"bad name", "{apiVersion: v1, kind: ConfigMap, count: 2, name: \"Data_{i}\"}",
       {"clusters[0].seed[0].name: \"Data_1\" must be a DNS-1123 subdomain"}},
      {"bad namespace", "{apiVersion: v1, kind: ConfigMap, namespace: Pay, count: 1, name: a}",
       {"clusters[0].seed[0].namespace: \"Pay\" must be a DNS-1123 label"}},
      {"labels not a map", "{apiVersion: v1, kind: ConfigMap, count: 1, name: a, labels: [x]}",
       {"clusters[0].seed[0].labels: must be a map of strings"}},
      {"fields not a map", "{apiVersion: v1, kind: ConfigMap, count: 1, name: a, fields: 3}",
       {"clusters[0].seed[0].fields: must be a map"}},
      {"metadata in fields", "{apiVersion: v1, kind: ConfigMap, count: 1, name: a, fields: {metadata: {}}}",
       {"clusters[0].seed[0].fields.metadata: set by the seed's"}},
      {"seed not a list", "", {}},
  };
  for (const Case& c : cases) {
    const std::string yaml = std::string("clusters:\n  - name: a\n    seed: ") +
                             (std::string(c.seed).empty() ? "{kind: ConfigMap}" : "[" + std::string(c.seed) + "]") +
                             "\n    region: r\n    zones: [{name: z, nodes: 1}]\n";
    auto r = ParseConfig(yaml, "c.yaml");
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.name;
    if (c.want.empty()) EXPECT_THAT(r.status().message(), HasSubstr("clusters[0].seed: must be a list")) << c.name;
    for (const auto& w : c.want) EXPECT_THAT(r.status().message(), HasSubstr(w)) << c.name;
  }
  auto d = ParseConfig("defaults: {seed: [{apiVersion: v1, kind: ConfigMap, count: -1, name: a}]}\n"
                       "clusters: [{name: a, region: r, zones: [{name: z, nodes: 1}]}]\n",
                       "c.yaml");
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("c.yaml:1:"));
  EXPECT_THAT(d.status().message(), HasSubstr("defaults.seed[0].count: must be between 0 and 1000000"));
}

TEST(ConfigTest, ExpandsSeedPatterns) {
  EXPECT_EQ(ExpandSeedPattern("data-{i}", 0), "data-0");
  EXPECT_EQ(ExpandSeedPattern("{i}-x-{i}", 9999), "9999-x-9999");
  EXPECT_EQ(ExpandSeedPattern("fixed", 3), "fixed");
  EXPECT_EQ(ExpandSeedPattern("{j}-{i", 3), "{j}-{i");
}

TEST(ConfigTest, GeneratesScaleConfig) {
  SimConfig c = GenerateConfig(1000, 2, 5);
  ASSERT_EQ(c.clusters.size(), 1000u);
  EXPECT_EQ(c.clusters[999].name, "sim-0999");
  EXPECT_EQ(c.clusters[999].zones.size(), 2u);
  EXPECT_NE(c.clusters[0].lb_base, c.clusters[250].lb_base);
}

}  // namespace
}  // namespace meridian::membersim

namespace meridian::membersim {
namespace {

// TLS files are resolved against the config file's folder and must be readable; TLS needs a
// dedicated port and a client CA needs TLS.
TEST(ConfigTest, TlsAndClientCa) {
  char tmpl[] = "/tmp/membersim-config-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  for (const char* f : {"s.crt", "s.key", "ca.crt"}) std::ofstream(dir + "/" + f) << "PEM";
  const std::string source = dir + "/c.yaml";
  auto ok = ParseConfig(
      "clusters:\n  - name: a\n    region: r\n    port: 0\n    tls: {cert: s.crt, key: " + dir +
          "/s.key}\n    auth: {token: t, clientCA: ca.crt}\n    zones: [{name: z, nodes: 1}]\n",
      source);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->clusters[0].tls_cert_file, dir + "/s.crt");
  EXPECT_EQ(ok->clusters[0].tls_key_file, dir + "/s.key");
  EXPECT_EQ(ok->clusters[0].client_ca_file, dir + "/ca.crt");
  EXPECT_EQ(ok->clusters[0].token, "t");

  struct Case {
    const char* name;
    std::string cluster;  // fields after name/region/zones
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"tls without port", "    tls: {cert: s.crt, key: s.key}\n", {"c.yaml:4:", "clusters[0].tls: needs a dedicated port"}},
      {"missing key", "    port: 0\n    tls: {cert: s.crt}\n", {"clusters[0].tls.key: required"}},
      {"unreadable cert", "    port: 0\n    tls: {cert: nope.crt, key: s.key}\n",
       {"c.yaml:5:", "clusters[0].tls.cert: cannot read " + dir + "/nope.crt"}},
      {"client CA without tls", "    port: 0\n    auth: {clientCA: ca.crt}\n",
       {"clusters[0].auth.clientCA: client certificates need TLS"}},
      {"unknown auth field", "    auth: {password: x}\n", {"clusters[0].auth.password: unknown field"}},
  };
  for (const Case& c : cases) {
    auto r = ParseConfig("clusters:\n  - name: a\n    region: r\n" + c.cluster + "    zones: [{name: z, nodes: 1}]\n", source);
    ASSERT_FALSE(r.ok()) << c.name;
    for (const auto& w : c.want) EXPECT_THAT(r.status().message(), HasSubstr(w)) << c.name;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace meridian::membersim
