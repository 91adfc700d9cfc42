// From DNSRecordSets + Topology + the configured zones to what the server answers: the
// mapping, residency, and that one bad record set never takes the others down.
#include "dns/served_zone.h"

#include <gtest/gtest.h>

#include <map>

#include "dns/answer.h"
#include "dns/static_zone.h"

namespace meridian::dns {
namespace {

api::DnsEndpoint Ep(const std::string& target, const std::string& region,
                    const std::string& jurisdiction, int64_t weight = 1, bool healthy = true,
                    const std::string& type = "A",
                    const std::string& name = "web.global.example.com") {
  api::DnsEndpoint e;
  e.dns_name = name;
  e.record_type = type;
  e.targets = {target};
  e.record_ttl = 30;
  e.set_identifier = region + "-1";
  e.region = region;
  e.jurisdiction = jurisdiction;
  e.weight = weight;
  e.healthy = healthy;
  return e;
}

api::DnsRecordSet Rs(const std::string& name, const std::string& strategy,
                     std::vector<api::DnsEndpoint> endpoints) {
  api::DnsRecordSet rs;
  rs.metadata.name = name;
  rs.metadata.ns = "shop";
  rs.spec.strategy = strategy;
  rs.spec.endpoints = std::move(endpoints);
  return rs;
}

api::Topology Topology() {
  api::Topology t;
  t.metadata.name = "default";
  t.spec.regions = {{"us-east", "us", {}, {{"eu-west", 76}, {"ap-south", 190}}},
                    {"eu-west", "eu", {}, {{"ap-south", 120}}},
                    {"ap-south", "in", {}, {}}};
  placement::DemandProfile p;
  p.name = "shoppers";
  p.sources = {{"paris", 20, {{"us-east", 80}, {"eu-west", 10}, {"ap-south", 125}}},
               {"mumbai", 20, {{"us-east", 195}, {"eu-west", 120}, {"ap-south", 9}}},
               {"us-east", 1, {{"ap-south", 1}}}};  // named like a region: ignored
  t.spec.demand_profiles = {p};
  return t;
}

ServingConfig Config() {
  ServingConfig c;
  ZoneSpec z;
  z.apex = "global.example.com";
  c.zones = {z};
  c.client_regions = {{"81.0.0.0/8", "paris"}, {"103.0.0.0/8", "mumbai"}, {"3.0.0.0/8", "us-east"}};
  c.default_region = "us-east";
  return c;
}

// What a client in `subnet` (ECS) gets for `type` at `name`: the rcode, and each answer as
// "CNAME target." / "A 1.2.3.4"; whether SOA is in authority (NODATA / NXDOMAIN).
struct Reply {
  RCode rcode = RCode::kNoError;
  std::vector<std::string> answers;
  bool soa = false;
  int scope = -1;
};
Reply Ask(const Snapshot& snap, const std::string& name, RRType type, const std::string& subnet) {
  Message q;
  q.header.id = 1;
  q.questions.push_back({Name::FromText(name).value(), type, kClassIN});
  auto cidr = Cidr::Parse(subnet).value();
  ClientSubnet cs;
  cs.family = ClientSubnet::kFamilyIPv4;
  cs.source_prefix = static_cast<uint8_t>(cidr.prefix);
  cs.address = cidr.address.bytes;
  q.edns = Edns{};
  q.edns->client_subnet = cs;
  Message r = BuildResponse(q, IpAddress::V4(127, 0, 0, 1), snap);
  Reply out;
  out.rcode = r.header.rcode;
  for (const ResourceRecord& rr : r.answers) {
    if (const auto* n = std::get_if<NameData>(&rr.rdata)) {
      out.answers.push_back(RRTypeName(rr.type) + " " + n->name.ToText());
    } else if (const auto* a = std::get_if<AData>(&rr.rdata)) {
      out.answers.push_back(
          "A " +
          IpAddress::V4(a->address[0], a->address[1], a->address[2], a->address[3]).ToString());
    } else {
      out.answers.push_back(RRTypeName(rr.type));
    }
  }
  for (const ResourceRecord& rr : r.authority) out.soa = out.soa || rr.type == RRType::kSOA;
  if (r.edns && r.edns->client_subnet) out.scope = r.edns->client_subnet->scope_prefix;
  return out;
}

// The A targets answered to a client in `subnet` (as ECS) for `name`, sorted.
std::vector<std::string> Answer(const Snapshot& snap, const std::string& name,
                                const std::string& subnet) {
  std::vector<std::string> out;
  for (const std::string& a : Ask(snap, name, RRType::kA, subnet).answers) {
    if (a.rfind("A ", 0) == 0) out.push_back(a.substr(2));
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ServedZoneTest, GroupsEndpointsByNameAndTypeWithTheObjectsStrategy) {
  api::DnsRecordSet rs = Rs("web", "geo",
                            {Ep("192.0.2.1", "us-east", "us"), Ep("192.0.2.2", "eu-west", "eu"),
                             Ep("2001:db8::1", "eu-west", "eu", 1, true, "AAAA")});
  rs.spec.endpoints[1].record_ttl = 10;
  rs.spec.endpoints[0].targets.push_back("192.0.2.3");
  std::vector<std::string> origins;
  SnapshotSpec spec = ServedSnapshotSpec({rs}, {Topology()}, Config(), 77, &origins);
  ASSERT_EQ(spec.record_sets.size(), 2u);
  EXPECT_EQ(origins, (std::vector<std::string>{"shop/web", "shop/web"}));
  const RecordSetSpec& a = spec.record_sets[0];
  EXPECT_EQ(a.type, RRType::kA);
  EXPECT_EQ(a.strategy, Strategy::kGeo);
  EXPECT_EQ(a.ttl, 10u);              // the smallest recordTTL of the group
  ASSERT_EQ(a.endpoints.size(), 3u);  // one per target
  EXPECT_EQ(a.endpoints[1].target, "192.0.2.3");
  EXPECT_EQ(a.endpoints[1].cluster, "us-east-1");
  EXPECT_EQ(spec.record_sets[1].type, RRType::kAAAA);
  EXPECT_EQ(spec.zones[0].serial, 77u);
  // RTTs: regions and demand sources, never a source named like a region.
  int paris = 0, us_east_as_source = 0;
  for (const RegionRtt& r : spec.rtts) {
    paris += r.from == "paris";
    us_east_as_source += r.from == "us-east" && r.ms == 1;
  }
  EXPECT_EQ(paris, 3);
  EXPECT_EQ(us_east_as_source, 0);
}

TEST(ServedZoneTest, GeoAnswersTheNearestHealthyRegionForClientsOfEachContinent) {
  api::DnsRecordSet rs = Rs("web", "geo",
                            {Ep("192.0.2.1", "us-east", "us"), Ep("192.0.2.2", "eu-west", "eu"),
                             Ep("192.0.2.3", "ap-south", "in")});
  std::vector<std::string> problems;
  auto snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(Answer(**snap, "web.global.example.com", "81.1.2.0/24"),
            std::vector<std::string>{"192.0.2.2"});  // paris -> eu-west
  EXPECT_EQ(Answer(**snap, "web.global.example.com", "103.1.2.0/24"),
            std::vector<std::string>{"192.0.2.3"});  // mumbai -> ap-south
  EXPECT_EQ(Answer(**snap, "web.global.example.com", "3.1.2.0/24"),
            std::vector<std::string>{"192.0.2.1"});  // us-east
  // eu-west unhealthy: Paris goes to the next nearest (us-east 80 ms < ap-south 125 ms).
  rs.spec.endpoints[1].healthy = false;
  snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(Answer(**snap, "web.global.example.com", "81.1.2.0/24"),
            std::vector<std::string>{"192.0.2.1"});
}

TEST(ServedZoneTest, AnUnhealthyMemberIsNotAnsweredBeforeItsRecordSetsAreRewritten) {
  api::DnsRecordSet rs =
      Rs("web", "geo", {Ep("192.0.2.1", "us-east", "us"), Ep("192.0.2.2", "eu-west", "eu")});
  std::vector<std::string> problems;
  auto snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems, {"eu-west-1"});
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(Answer(**snap, "web.global.example.com", "81.1.2.0/24"),
            std::vector<std::string>{"192.0.2.1"});
  // Never the other way: a member that is healthy does not revive an unhealthy endpoint.
  rs.spec.endpoints[1].healthy = false;
  snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems, {});
  EXPECT_EQ(Answer(**snap, "web.global.example.com", "81.1.2.0/24"),
            std::vector<std::string>{"192.0.2.1"});
}

TEST(ServedZoneTest, ResidencyJurisdictionsAreEnforcedByTheServer) {
  // Even if an endpoint outside the allowed jurisdictions is in the object (edited by hand,
  // imported), it is never answered.
  api::DnsRecordSet rs =
      Rs("data", "geo",
         {Ep("192.0.2.1", "us-east", "us", 1, true, "A", "data.global.example.com"),
          Ep("192.0.2.2", "eu-west", "eu", 1, true, "A", "data.global.example.com")});
  rs.spec.jurisdictions = std::vector<std::string>{"eu"};
  std::vector<std::string> problems;
  auto snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(Answer(**snap, "data.global.example.com", "3.1.2.0/24"),
            std::vector<std::string>{"192.0.2.2"});
  rs.spec.endpoints[1].healthy = false;
  snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems);
  EXPECT_TRUE(Answer(**snap, "data.global.example.com", "3.1.2.0/24").empty())
      << "the us endpoint is never a fallback";
  // Present but empty: nothing at all.
  rs.spec.endpoints[1].healthy = true;
  rs.spec.jurisdictions = std::vector<std::string>{};
  snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems);
  EXPECT_TRUE(Answer(**snap, "data.global.example.com", "81.1.2.0/24").empty());
}

TEST(ServedZoneTest, WeightedAndFailoverUseWeightAndPriority) {
  api::DnsRecordSet weighted =
      Rs("shop", "weighted",
         {Ep("192.0.2.1", "us-east", "us", 3, true, "A", "shop.global.example.com"),
          Ep("192.0.2.2", "eu-west", "eu", 1, true, "A", "shop.global.example.com")});
  api::DnsRecordSet failover =
      Rs("api", "failover",
         {Ep("192.0.2.5", "us-east", "us", 1, true, "A", "api.global.example.com"),
          Ep("192.0.2.6", "eu-west", "eu", 1, true, "A", "api.global.example.com")});
  failover.spec.endpoints[0].priority = 1;
  std::vector<std::string> problems;
  auto snap = BuildServedSnapshot({weighted, failover}, {}, Config(), 1, &problems);
  ASSERT_TRUE(snap.ok());
  std::map<std::string, int> seen;
  for (int i = 0; i < 400; ++i) {
    std::string subnet = std::to_string(1 + i % 200) + "." + std::to_string(i / 200) + ".7.0/24";
    auto a = Answer(**snap, "shop.global.example.com", subnet);
    ASSERT_EQ(a.size(), 1u);
    ++seen[a[0]];
  }
  EXPECT_GT(seen["192.0.2.1"], 2 * seen["192.0.2.2"]) << "3:1 by weight";
  EXPECT_GT(seen["192.0.2.2"], 40);
  EXPECT_EQ(Answer(**snap, "api.global.example.com", "3.1.2.0/24"),
            std::vector<std::string>{"192.0.2.6"});  // priority 0 first
}

TEST(ServedZoneTest, ARecordSetThatCannotBeServedIsLeftOutAndNamed) {
  api::DnsRecordSet good = Rs("web", "geo", {Ep("192.0.2.1", "us-east", "us")});
  api::DnsRecordSet outside =
      Rs("other", "geo", {Ep("192.0.2.9", "us-east", "us", 1, true, "A", "web.elsewhere.org")});
  api::DnsRecordSet duplicate = Rs("web2", "geo", {Ep("192.0.2.7", "eu-west", "eu")});
  api::DnsRecordSet bad_target =
      Rs("bad", "static", {Ep("10.0.0", "eu-west", "eu", 1, true, "A", "bad.global.example.com")});
  std::vector<std::string> problems;
  auto snap = BuildServedSnapshot({good, outside, duplicate, bad_target}, {Topology()}, Config(), 1,
                                  &problems);
  ASSERT_TRUE(snap.ok()) << snap.status();
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_NE(problems[0].find("DNSRecordSet shop/other"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("not inside any zone"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("DNSRecordSet shop/web2"), std::string::npos) << problems[1];
  EXPECT_NE(problems[1].find("duplicate"), std::string::npos) << problems[1];
  EXPECT_NE(problems[2].find("DNSRecordSet shop/bad"), std::string::npos) << problems[2];
  // The first claimant of the name keeps serving.
  EXPECT_EQ(Answer(**snap, "web.global.example.com", "81.1.2.0/24"),
            std::vector<std::string>{"192.0.2.1"});
}

// Members whose load balancers report only a hostname (AWS ELB/NLB): the name is a CNAME to
// the member the strategy picks, for A, AAAA and CNAME queries; never A and CNAME together.
TEST(ServedZoneTest, HostnameMembersAreAnsweredWithOneCnameToTheMemberTheStrategyPicks) {
  const std::string us = "web.shop.us-east-1.lb.membersim.test";
  const std::string eu = "web.shop.eu-west-1.lb.membersim.test";
  const std::string ap = "web.shop.ap-south-1.lb.membersim.test";
  api::DnsRecordSet rs =
      Rs("web", "geo",
         {Ep(us, "us-east", "us", 1, true, "CNAME"), Ep(eu, "eu-west", "eu", 1, true, "CNAME"),
          Ep(ap, "ap-south", "in", 1, true, "CNAME")});
  std::vector<std::string> problems;
  auto snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_TRUE(problems.empty());
  for (RRType type : {RRType::kA, RRType::kAAAA, RRType::kCNAME}) {
    Reply paris = Ask(**snap, "web.global.example.com", type, "81.1.2.0/24");
    EXPECT_EQ(paris.rcode, RCode::kNoError);
    // One CNAME alone; its target is outside our zones, so the resolver follows it.
    EXPECT_EQ(paris.answers, std::vector<std::string>{"CNAME " + eu + "."}) << RRTypeName(type);
    EXPECT_FALSE(paris.soa);
  }
  EXPECT_EQ(Ask(**snap, "web.global.example.com", RRType::kA, "103.1.2.0/24").answers,
            std::vector<std::string>{"CNAME " + ap + "."});  // mumbai -> ap-south
  // Every member down: NODATA for A and for CNAME, SOA in authority (never a dead CNAME).
  for (auto& e : rs.spec.endpoints) e.healthy = false;
  snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems);
  ASSERT_TRUE(snap.ok());
  for (RRType type : {RRType::kA, RRType::kCNAME}) {
    Reply r = Ask(**snap, "web.global.example.com", type, "81.1.2.0/24");
    EXPECT_EQ(r.rcode, RCode::kNoError);
    EXPECT_TRUE(r.answers.empty());
    EXPECT_TRUE(r.soa);
  }
}

TEST(ServedZoneTest, SeveralHostnameMembersInTheNearestRegionShareItsClientsByWeight) {
  api::DnsRecordSet rs = Rs("web", "geo",
                            {Ep("a.lb.example.net", "eu-west", "eu", 3, true, "CNAME"),
                             Ep("b.lb.example.net", "eu-west", "eu", 1, true, "CNAME"),
                             Ep("c.lb.example.net", "us-east", "us", 9, true, "CNAME")});
  std::vector<std::string> problems;
  auto snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems);
  ASSERT_TRUE(snap.ok()) << snap.status();
  std::map<std::string, int> seen;
  for (int i = 0; i < 400; ++i) {
    std::string subnet = "81." + std::to_string(i % 200) + "." + std::to_string(i / 200) + ".0/24";
    Reply r = Ask(**snap, "web.global.example.com", RRType::kA, subnet);
    ASSERT_EQ(r.answers.size(), 1u) << subnet;
    ++seen[r.answers[0]];
    EXPECT_EQ(r.scope, 24);  // the choice depends on the client's /24
    // Stable per client subnet (caches agree).
    EXPECT_EQ(Ask(**snap, "web.global.example.com", RRType::kA, subnet).answers, r.answers);
  }
  EXPECT_EQ(seen.count("CNAME c.lb.example.net."), 0u) << "us-east is farther from Paris";
  EXPECT_GT(seen["CNAME a.lb.example.net."], 2 * seen["CNAME b.lb.example.net."]) << "3:1";
  EXPECT_GT(seen["CNAME b.lb.example.net."], 40);
}

TEST(ServedZoneTest, FailoverAndWeightedPickOneHostnameMember) {
  api::DnsRecordSet failover = Rs(
      "api", "failover",
      {Ep("primary.lb.example.net", "us-east", "us", 1, true, "CNAME", "api.global.example.com"),
       Ep("standby.lb.example.net", "eu-west", "eu", 1, true, "CNAME", "api.global.example.com")});
  failover.spec.endpoints[1].priority = 1;
  std::vector<std::string> problems;
  auto snap = BuildServedSnapshot({failover}, {}, Config(), 1, &problems);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(Ask(**snap, "api.global.example.com", RRType::kA, "81.1.2.0/24").answers,
            std::vector<std::string>{"CNAME primary.lb.example.net."});
  failover.spec.endpoints[0].healthy = false;
  snap = BuildServedSnapshot({failover}, {}, Config(), 1, &problems);
  EXPECT_EQ(Ask(**snap, "api.global.example.com", RRType::kAAAA, "81.1.2.0/24").answers,
            std::vector<std::string>{"CNAME standby.lb.example.net."});
}

// One name cannot be both A and CNAME: the addresses are served, the CNAME group is not (the
// controller marks such members unhealthy; a healthy one, e.g. hand-written, is reported).
TEST(ServedZoneTest, AddressesWinOverACnameAtTheSameName) {
  api::DnsRecordSet rs = Rs("web", "geo",
                            {Ep("web.lb.example.net", "eu-west", "eu", 1, false, "CNAME"),
                             Ep("192.0.2.1", "us-east", "us")});
  std::vector<std::string> problems;
  auto snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_TRUE(problems.empty()) << problems.front();
  Reply paris = Ask(**snap, "web.global.example.com", RRType::kA, "81.1.2.0/24");
  EXPECT_EQ(paris.answers, std::vector<std::string>{"A 192.0.2.1"});
  Reply cname = Ask(**snap, "web.global.example.com", RRType::kCNAME, "81.1.2.0/24");
  EXPECT_TRUE(cname.answers.empty());  // NODATA: the name has A only
  EXPECT_TRUE(cname.soa);
  rs.spec.endpoints[0].healthy = true;
  snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems);
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("DNSRecordSet shop/web (web.global.example.com CNAME)"),
            std::string::npos)
      << problems[0];
  EXPECT_EQ(Ask(**snap, "web.global.example.com", RRType::kA, "81.1.2.0/24").answers,
            std::vector<std::string>{"A 192.0.2.1"});
}

TEST(ServedZoneTest, AMemberWithoutALoadBalancerYetDoesNotHideTheHostnameMembers) {
  // The controller writes a member whose Service has no load balancer yet as a target-less A
  // endpoint; beside hostname members that placeholder is dropped, not the CNAME.
  api::DnsRecordSet rs = Rs("web", "geo",
                            {Ep("web.lb.example.net", "eu-west", "eu", 1, true, "CNAME"),
                             Ep("", "us-east", "us", 1, false)});
  rs.spec.endpoints[1].targets.clear();
  std::vector<std::string> problems;
  auto snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(Ask(**snap, "web.global.example.com", RRType::kA, "3.1.2.0/24").answers,
            std::vector<std::string>{"CNAME web.lb.example.net."});
  // Nothing has a target: the name still exists (NODATA, not NXDOMAIN).
  rs.spec.endpoints[0].targets.clear();
  snap = BuildServedSnapshot({rs}, {Topology()}, Config(), 1, &problems);
  ASSERT_TRUE(snap.ok()) << snap.status();
  Reply r = Ask(**snap, "web.global.example.com", RRType::kA, "3.1.2.0/24");
  EXPECT_EQ(r.rcode, RCode::kNoError);
  EXPECT_TRUE(r.answers.empty());
  EXPECT_TRUE(r.soa);
}

TEST(ServedZoneTest, ConfigErrorsAreReportedNotDropped) {
  ServingConfig c = Config();
  c.client_regions.push_back({"300.1.0.0/16", "paris"});
  Status st = ValidateServingConfig(c);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("clientRegions[3].cidr"), std::string::npos) << st.message();
  c = Config();
  c.zones[0].apex = "";
  EXPECT_FALSE(ValidateServingConfig(c).ok());
  c.zones.clear();
  EXPECT_NE(ValidateServingConfig(c).message().find("at least one DNS zone"), std::string::npos);
  EXPECT_TRUE(ValidateServingConfig(Config()).ok());
}

TEST(ClientRegionsFileTest, ParsesTheTableAndLocatesEveryProblem) {
  auto table = ParseClientRegions(
      "clientRegions:\n  - {cidr: 81.0.0.0/8, region: paris}\n  - {cidr: \"2a01::/16\", region: "
      "eu-west}\ndefaultRegion: us-east\n",
      "regions.yaml");
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->client_regions.size(), 2u);
  EXPECT_EQ(table->client_regions[1].cidr, "2a01::/16");
  EXPECT_EQ(table->default_region, "us-east");

  auto bad = ParseClientRegions(
      "clientRegions:\n  - {cidr: 81.0.0/8, region: paris}\n  - {region: x}\nzones: []\n",
      "regions.yaml");
  ASSERT_FALSE(bad.ok());
  const std::string msg = bad.status().message();
  EXPECT_NE(msg.find("regions.yaml:2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("clientRegions[0].cidr"), std::string::npos) << msg;
  EXPECT_NE(msg.find("clientRegions[1].cidr: required"), std::string::npos) << msg;
  EXPECT_NE(msg.find("regions.yaml:4:1: zones: unknown field"), std::string::npos) << msg;

  EXPECT_FALSE(ParseClientRegions("defaultRegion: x\n", "r.yaml").ok());
  EXPECT_EQ(LoadClientRegionsFile("/nonexistent/regions.yaml").status().code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace meridian::dns
