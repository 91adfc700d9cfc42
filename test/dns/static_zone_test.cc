#include "dns/static_zone.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "dns/answer.h"
#include "test/common/test_env.h"

namespace meridian::dns {
namespace {

const char* kGood = R"(zones:
  - apex: global.example.com
    soa: {serial: 7, minimum: 15}
    nameservers: [ns1.global.example.com, ns2.global.example.com]
rtt:
  - {from: eu-west, to: us-east, ms: 80}
clientRegions:
  - {cidr: 81.0.0.0/8, region: eu-west}
defaultRegion: us-east
records:
  - name: web.global.example.com
    type: A
    ttl: 30
    strategy: geo
    endpoints:
      - {target: 198.51.100.10, region: eu-west, weight: 3}
      - {target: 203.0.113.10, region: us-east, healthy: false}
      - {target: 203.0.113.11, region: us-east}
)";

TEST(StaticZoneTest, LoadsAGoodFile) {
  auto snap = ParseStaticZone(kGood, "good.yaml");
  ASSERT_TRUE(snap.ok()) << snap.status();
  ASSERT_EQ((*snap)->zones().size(), 1u);
  EXPECT_EQ(std::get<SoaData>((*snap)->zones()[0].soa.rdata).serial, 7u);
  EXPECT_EQ((*snap)->zones()[0].negative_ttl, 15u);
  EXPECT_EQ((*snap)->regions(), (std::vector<std::string>{"eu-west", "us-east"}));
  EXPECT_EQ((*snap)->Rtt(1, 0), 80u);
  const NameNode* node = (*snap)->FindNode(*Name::FromText("web.global.example.com"));
  ASSERT_NE(node, nullptr);
  ASSERT_EQ(node->sets.size(), 1u);
  EXPECT_EQ(node->sets[0].strategy, Strategy::kGeo);
  EXPECT_FALSE(node->sets[0].endpoints[1].spec.healthy);
  EXPECT_EQ(node->sets[0].endpoints[0].spec.weight, 3u);
}

TEST(StaticZoneTest, ErrorsNameFileLineAndField) {
  struct Case {
    std::string what;
    std::string yaml;
    std::vector<std::string> expected;  // substrings, each must appear
  };
  const std::string zone = "zones:\n  - apex: global.example.com\n";
  const std::vector<Case> cases = {
      {"bad address",
       zone +
           "records:\n  - name: a.global.example.com\n    endpoints:\n      - {target: 10.0.0}\n",
       {"z.yaml:6:18: records[0].endpoints[0].target: \"10.0.0\" is not an IPv4 address"}},
      {"unknown field",
       zone + "records:\n  - name: a.global.example.com\n    tll: 5\n",
       {"z.yaml:5:5: records[0].tll: unknown field"}},
      {"unknown strategy and type",
       zone + "records:\n  - name: a.global.example.com\n    type: MX2\n    strategy: nearest\n",
       {"z.yaml:5:11: records[0].type: unknown record type \"MX2\"",
        "z.yaml:6:15: records[0].strategy: unknown strategy \"nearest\""}},
      {"record outside every zone",
       zone + "records:\n  - name: www.example.org\n",
       {"z.yaml:4:11: records[0].name: www.example.org. is not inside any zone"}},
      {"wrong scalar types",
       zone + "    nsTtl: soon\nrecords:\n  - name: a.global.example.com\n    endpoints:\n      - "
              "{target: 1.2.3.4, healthy: maybe, weight: -1}\n",
       {"zones[0].nsTtl: must be an integer",
        "records[0].endpoints[0].healthy: must be true or false",
        "records[0].endpoints[0].weight: must be between 0 and 4294967295"}},
      {"decode and semantic problems in one pass",
       zone + "records:\n  - name: a.global.example.com\n    endpoints:\n      - {target: 10.0.0}\n"
              "  - name: b.global.example.com\n    ttl: -1\n  - name: www.example.org\n",
       {"z.yaml:6:18: records[0].endpoints[0].target: \"10.0.0\" is not an IPv4 address",
        "z.yaml:8:10: records[1].ttl: must be between 0 and 2147483647",
        "z.yaml:9:11: records[2].name: www.example.org. is not inside any zone"}},
      {"YAML syntax", "zones: [\n", {"z.yaml:", "YAML syntax"}},
      // common/yaml_reader.h: what stalls yaml-cpp's parser (fuzz_yaml), an alias cycle, and
      // content after the one document.
      {"parser stall", zone + "---\n,\n", {"z.yaml:4:1", "cannot continue here"}},
      {"alias cycle", zone + "records: &r [*r]\n", {"z.yaml:3:", "a cycle"}},
      {"second document", zone + "---\nzones: []\n", {"z.yaml:3:1", "holds one document"}},
      {"no zones", "records: []\n", {"zones: at least one zone is required"}},
      {"bad cidr",
       zone + "clientRegions:\n  - {cidr: 10.0.0.0/40, region: x}\n",
       {"z.yaml:4:12: clientRegions[0].cidr: \"10.0.0.0/40\" has an invalid prefix length"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto snap = ParseStaticZone(c.yaml, "z.yaml");
    ASSERT_FALSE(snap.ok());
    EXPECT_EQ(snap.status().code(), StatusCode::kInvalidArgument);
    for (const std::string& e : c.expected) {
      EXPECT_NE(snap.status().message().find(e), std::string::npos) << "want: " << e << "\ngot:\n"
                                                                    << snap.status().message();
    }
  }
}

TEST(StaticZoneTest, MissingFileIsNotFound) {
  auto snap = LoadStaticZoneFile("/nonexistent/zones.yaml");
  EXPECT_EQ(snap.status().code(), StatusCode::kNotFound);
}

TEST(StaticZoneTest, TheExampleFileLoads) {
  std::string path = test_env::SourceDir() + "/examples/dns/three-continents.yaml";
  auto snap = LoadStaticZoneFile(path);
  ASSERT_TRUE(snap.ok()) << snap.status();
}

}  // namespace
}  // namespace meridian::dns
