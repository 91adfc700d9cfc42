#include "dns/answer.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "dns/records.h"

namespace meridian::dns {
namespace {

Endpoint Ep(std::string target, std::string region, uint32_t weight = 1, bool healthy = true,
            int priority = 0, std::string jurisdiction = "") {
  Endpoint e;
  e.target = std::move(target);
  e.region = std::move(region);
  e.cluster = e.region + "-1";
  e.weight = weight;
  e.healthy = healthy;
  e.priority = priority;
  e.jurisdiction = std::move(jurisdiction);
  return e;
}

SnapshotSpec World() {
  SnapshotSpec s;
  ZoneSpec z;
  z.apex = "global.example.com";
  z.minimum = 20;
  z.soa_ttl = 300;
  s.zones.push_back(z);
  s.rtts = {{"eu-west", "us-east", 80}, {"eu-west", "ap-south", 120}, {"us-east", "ap-south", 200}};
  s.client_regions = {{"81.0.0.0/8", "eu-west"},
                      {"81.2.3.0/24", "ap-south"},  // a more specific exception inside EU space
                      {"3.0.0.0/8", "us-east"},
                      {"103.0.0.0/8", "ap-south"},
                      {"2a01::/16", "eu-west"}};
  s.default_region = "us-east";
  auto rs = [&](std::string name, RRType type, Strategy st, std::vector<Endpoint> eps,
                std::vector<std::string> jur = {}) {
    RecordSetSpec r;
    r.name = std::move(name);
    r.type = type;
    r.ttl = 30;
    r.strategy = st;
    r.endpoints = std::move(eps);
    r.jurisdictions = std::move(jur);
    s.record_sets.push_back(r);
  };
  rs("web.global.example.com", RRType::kA, Strategy::kGeo,
     {Ep("198.51.100.10", "eu-west"), Ep("198.51.100.11", "eu-west"), Ep("203.0.113.10", "us-east"),
      Ep("192.0.2.10", "ap-south")});
  rs("web.global.example.com", RRType::kAAAA, Strategy::kGeo,
     {Ep("2001:db8::e", "eu-west"), Ep("2001:db8::a", "us-east")});
  rs("euout.global.example.com", RRType::kA, Strategy::kGeo,
     {Ep("198.51.100.20", "eu-west", 1, false), Ep("203.0.113.20", "us-east"),
      Ep("192.0.2.20", "ap-south")});
  rs("dead.global.example.com", RRType::kA, Strategy::kGeo,
     {Ep("198.51.100.30", "eu-west", 1, false), Ep("203.0.113.30", "us-east", 0, true)});
  rs("fo.global.example.com", RRType::kA, Strategy::kFailover,
     {Ep("203.0.113.40", "us-east", 1, false, 0), Ep("198.51.100.40", "eu-west", 1, true, 1),
      Ep("198.51.100.41", "eu-west", 1, true, 1), Ep("192.0.2.40", "ap-south", 1, true, 2)});
  rs("static.global.example.com", RRType::kA, Strategy::kStatic,
     {Ep("192.0.2.50", ""), Ep("192.0.2.51", "", 1, false), Ep("192.0.2.52", "", 0)});
  rs("resident.global.example.com", RRType::kA, Strategy::kGeo,
     {Ep("198.51.100.60", "eu-west", 1, true, 0, "eu"),
      Ep("203.0.113.60", "us-east", 1, true, 0, "us"),
      Ep("198.51.100.61", "eu-west", 1, true, 0, "")},
     {"eu"});
  rs("www.global.example.com", RRType::kCNAME, Strategy::kStatic,
     {Ep("web.global.example.com", "")});
  rs("out.global.example.com", RRType::kCNAME, Strategy::kStatic,
     {Ep("elsewhere.example.org", "")});
  rs("loop1.global.example.com", RRType::kCNAME, Strategy::kStatic,
     {Ep("loop2.global.example.com", "")});
  rs("loop2.global.example.com", RRType::kCNAME, Strategy::kStatic,
     {Ep("loop1.global.example.com", "")});
  rs("a.b.c.global.example.com", RRType::kTXT, Strategy::kStatic, {Ep("deep", "")});
  Endpoint srv = Ep("web.global.example.com", "", 7, true, 3);
  srv.port = 8080;
  rs("_http._tcp.global.example.com", RRType::kSRV, Strategy::kStatic, {srv});
  return s;
}

std::shared_ptr<const Snapshot> Snap() {
  static auto snap = [] {
    auto s = Snapshot::Build(World());
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }();
  return snap;
}

Message Query(const std::string& name, RRType type,
              std::optional<std::string> subnet = std::nullopt, bool edns = true) {
  Message q;
  q.header.id = 77;
  q.header.rd = true;
  q.questions.push_back({*Name::FromText(name), type, kClassIN});
  if (edns || subnet) {
    q.edns = Edns{};
    if (subnet) {
      auto cidr = Cidr::Parse(*subnet);
      EXPECT_TRUE(cidr.ok()) << *subnet;
      ClientSubnet cs;
      cs.family = cidr->address.v6 ? ClientSubnet::kFamilyIPv6 : ClientSubnet::kFamilyIPv4;
      cs.source_prefix = static_cast<uint8_t>(cidr->prefix);
      cs.address = cidr->address.bytes;
      q.edns->client_subnet = cs;
    }
  }
  return q;
}

// "A 1.2.3.4", "CNAME web.global.example.com.", ...
std::vector<std::string> Render(const std::vector<ResourceRecord>& rrs) {
  std::vector<std::string> out;
  for (const ResourceRecord& rr : rrs) {
    std::string s = RRTypeName(rr.type) + " ";
    if (auto* a = std::get_if<AData>(&rr.rdata)) {
      IpAddress ip;
      std::copy(a->address.begin(), a->address.end(), ip.bytes.begin());
      s += ip.ToString();
    } else if (auto* aaaa = std::get_if<AaaaData>(&rr.rdata)) {
      IpAddress ip;
      ip.v6 = true;
      ip.bytes = aaaa->address;
      s += ip.ToString();
    } else if (auto* n = std::get_if<NameData>(&rr.rdata)) {
      s += n->name.ToText();
    } else if (auto* soa = std::get_if<SoaData>(&rr.rdata)) {
      s += soa->mname.ToText() + " ttl=" + std::to_string(rr.ttl);
    } else if (auto* srv = std::get_if<SrvData>(&rr.rdata)) {
      s += std::to_string(srv->priority) + " " + std::to_string(srv->weight) + " " +
           std::to_string(srv->port) + " " + srv->target.ToText();
    } else if (auto* txt = std::get_if<TxtData>(&rr.rdata)) {
      s += txt->strings.at(0);
    }
    out.push_back(s);
  }
  return out;
}

const IpAddress kResolverUs = IpAddress::V4(3, 3, 3, 3);
const IpAddress kResolverUnknown = IpAddress::V4(127, 0, 0, 1);

TEST(AnswerTest, AnswersByStrategyAndClient) {
  struct Case {
    std::string what;
    std::string name;
    RRType type;
    std::optional<std::string> subnet;
    IpAddress source;
    RCode rcode;
    std::vector<std::string> answers;
    int soa_in_authority;  // 0 or 1
    int scope;             // expected ECS scope, -1 when no ECS is echoed
  };
  // clang-format off
  const std::vector<Case> cases = {
      {"geo EU by ECS", "web.global.example.com", RRType::kA, "81.9.0.0/16", kResolverUs, RCode::kNoError,
       {"A 198.51.100.10", "A 198.51.100.11"}, 0, 13},
      {"geo US by ECS", "web.global.example.com", RRType::kA, "3.4.5.0/24", kResolverUnknown, RCode::kNoError,
       {"A 203.0.113.10"}, 0, 8},
      {"geo Asia by ECS", "web.global.example.com", RRType::kA, "103.1.2.0/24", kResolverUs, RCode::kNoError,
       {"A 192.0.2.10"}, 0, 8},
      {"geo more-specific CIDR wins", "web.global.example.com", RRType::kA, "81.2.3.0/24", kResolverUs,
       RCode::kNoError, {"A 192.0.2.10"}, 0, 24},
      {"geo ECS shorter than the table: scope is the source prefix", "web.global.example.com", RRType::kA,
       "81.0.0.0/8", kResolverUs, RCode::kNoError, {"A 198.51.100.10", "A 198.51.100.11"}, 0, 8},
      {"geo by source address without ECS", "web.global.example.com", RRType::kA, std::nullopt,
       IpAddress::V4(103, 9, 9, 9), RCode::kNoError, {"A 192.0.2.10"}, 0, -1},
      {"geo unknown client uses the default region", "web.global.example.com", RRType::kA, std::nullopt,
       kResolverUnknown, RCode::kNoError, {"A 203.0.113.10"}, 0, -1},
      {"geo ECS /0 means untailored: default region, scope 0", "web.global.example.com", RRType::kA,
       "0.0.0.0/0", IpAddress::V4(103, 9, 9, 9), RCode::kNoError, {"A 203.0.113.10"}, 0, 0},
      {"geo IPv6 ECS", "web.global.example.com", RRType::kAAAA, "2a01:4f8::/32", kResolverUs, RCode::kNoError,
       {"AAAA 2001:db8::e"}, 0, 16},
      {"geo unhealthy region falls to the next nearest", "euout.global.example.com", RRType::kA,
       "81.9.0.0/16", kResolverUs, RCode::kNoError, {"A 203.0.113.20"}, 0, 13},
      {"all unhealthy or weight 0 is NODATA", "dead.global.example.com", RRType::kA, "3.0.0.0/16",
       kResolverUs, RCode::kNoError, {}, 1, 8},
      {"failover: first healthy priority, all of its endpoints", "fo.global.example.com", RRType::kA,
       "3.0.0.0/16", kResolverUs, RCode::kNoError, {"A 198.51.100.40", "A 198.51.100.41"}, 0, 0},
      {"static skips unhealthy and weight 0", "static.global.example.com", RRType::kA, std::nullopt,
       kResolverUs, RCode::kNoError, {"A 192.0.2.50"}, 0, -1},
      {"residency keeps US clients on EU endpoints", "resident.global.example.com", RRType::kA,
       "3.4.5.0/24", kResolverUs, RCode::kNoError, {"A 198.51.100.60"}, 0, 8},
      {"CNAME is followed inside the zone", "WWW.Global.example.com", RRType::kA, "3.4.5.0/24",
       kResolverUs, RCode::kNoError, {"CNAME web.global.example.com.", "A 203.0.113.10"}, 0, 8},
      {"CNAME asked for directly", "www.global.example.com", RRType::kCNAME, std::nullopt, kResolverUs,
       RCode::kNoError, {"CNAME web.global.example.com."}, 0, -1},
      {"CNAME out of our zones is not chased", "out.global.example.com", RRType::kA, std::nullopt,
       kResolverUs, RCode::kNoError, {"CNAME elsewhere.example.org."}, 0, -1},
      {"CNAME loop stops after 8 links", "loop1.global.example.com", RRType::kA, std::nullopt, kResolverUs,
       RCode::kNoError,
       {"CNAME loop2.global.example.com.", "CNAME loop1.global.example.com.", "CNAME loop2.global.example.com.",
        "CNAME loop1.global.example.com.", "CNAME loop2.global.example.com.", "CNAME loop1.global.example.com.",
        "CNAME loop2.global.example.com.", "CNAME loop1.global.example.com.", "CNAME loop2.global.example.com."},
       0, -1},
      {"NXDOMAIN with SOA at the negative TTL", "nope.global.example.com", RRType::kA, std::nullopt,
       kResolverUs, RCode::kNXDomain, {}, 1, -1},
      {"NODATA for a type the name lacks", "web.global.example.com", RRType::kTXT, std::nullopt, kResolverUs,
       RCode::kNoError, {}, 1, -1},
      {"empty non-terminal is NODATA, not NXDOMAIN", "b.c.global.example.com", RRType::kA, std::nullopt,
       kResolverUs, RCode::kNoError, {}, 1, -1},
      {"TXT", "a.b.c.global.example.com", RRType::kTXT, std::nullopt, kResolverUs, RCode::kNoError,
       {"TXT deep"}, 0, -1},
      {"SRV", "_http._tcp.global.example.com", RRType::kSRV, std::nullopt, kResolverUs, RCode::kNoError,
       {"SRV 3 7 8080 web.global.example.com."}, 0, -1},
      {"SOA at the apex", "global.example.com", RRType::kSOA, std::nullopt, kResolverUs, RCode::kNoError,
       {"SOA ns1.global.example.com. ttl=300"}, 0, -1},
      {"NS at the apex", "GLOBAL.example.com", RRType::kNS, std::nullopt, kResolverUs, RCode::kNoError,
       {"NS ns1.global.example.com."}, 0, -1},
      {"ANY returns every set", "web.global.example.com", RRType::kANY, "81.9.0.0/16", kResolverUs,
       RCode::kNoError, {"A 198.51.100.10", "A 198.51.100.11", "AAAA 2001:db8::e"}, 0, 13},
      {"out of zone is REFUSED", "www.example.org", RRType::kA, "3.4.5.0/24", kResolverUs, RCode::kRefused,
       {}, 0, 0},
      {"parent of the zone is REFUSED", "example.com", RRType::kA, std::nullopt, kResolverUs, RCode::kRefused,
       {}, 0, -1},
      {"AXFR is not implemented", "global.example.com", RRType::kAXFR, std::nullopt, kResolverUs,
       RCode::kNotImp, {}, 0, -1},
  };
  // clang-format on
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Message q = Query(c.name, c.type, c.subnet, /*edns=*/c.subnet.has_value());
    Message r = BuildResponse(q, c.source, *Snap());
    EXPECT_EQ(r.header.rcode, c.rcode);
    EXPECT_TRUE(r.header.qr);
    EXPECT_FALSE(r.header.ra);
    EXPECT_TRUE(r.header.rd);
    EXPECT_EQ(r.header.id, 77);
    EXPECT_EQ(r.header.aa, c.rcode != RCode::kRefused && c.rcode != RCode::kNotImp);
    ASSERT_EQ(r.questions.size(), 1u);
    EXPECT_EQ(r.questions[0].name.ToText(), Name::FromText(c.name)->ToText())
        << "question case kept";
    EXPECT_EQ(Render(r.answers), c.answers);
    ASSERT_EQ(r.authority.size(), static_cast<size_t>(c.soa_in_authority));
    if (c.soa_in_authority) {
      EXPECT_EQ(r.authority[0].type, RRType::kSOA);
      EXPECT_EQ(r.authority[0].ttl, 20u) << "min(SOA TTL, minimum)";
    }
    if (c.scope < 0) {
      EXPECT_FALSE(r.edns && r.edns->client_subnet);
    } else {
      ASSERT_TRUE(r.edns && r.edns->client_subnet);
      EXPECT_EQ(r.edns->client_subnet->scope_prefix, c.scope);
      EXPECT_EQ(r.edns->client_subnet->source_prefix, q.edns->client_subnet->source_prefix);
      EXPECT_EQ(r.edns->client_subnet->address, q.edns->client_subnet->address);
    }
  }
}

TEST(AnswerTest, WeightedIsStablePerSubnetAndSpreadsByWeight) {
  SnapshotSpec spec = World();
  RecordSetSpec w;
  w.name = "shop.global.example.com";
  w.strategy = Strategy::kWeighted;
  w.endpoints = {Ep("10.0.0.5", "us-east", 5), Ep("10.0.0.3", "eu-west", 3),
                 Ep("10.0.0.2", "ap-south", 2), Ep("10.0.0.9", "ap-south", 9, false),
                 Ep("10.0.0.8", "ap-south", 0)};
  spec.record_sets.push_back(w);
  auto snap = Snapshot::Build(spec);
  ASSERT_TRUE(snap.ok()) << snap.status();
  std::map<std::string, int> counts;
  const int kSubnets = 5000;
  for (int i = 0; i < kSubnets; ++i) {
    IpAddress src =
        IpAddress::V4(static_cast<uint8_t>(20 + i / 256), static_cast<uint8_t>(i % 256), 7, 1);
    Message r = BuildResponse(Query("shop.global.example.com", RRType::kA, std::nullopt, false),
                              src, **snap);
    ASSERT_EQ(r.answers.size(), 1u);
    std::string a = Render(r.answers)[0];
    counts[a]++;
    // Same /24, different host: same answer.
    IpAddress neighbour = src;
    neighbour.bytes[3] = 200;
    Message r2 = BuildResponse(Query("shop.global.example.com", RRType::kA, std::nullopt, false),
                               neighbour, **snap);
    EXPECT_EQ(Render(r2.answers)[0], a);
  }
  EXPECT_EQ(counts.count("A 10.0.0.9"), 0u) << "unhealthy never answered";
  EXPECT_EQ(counts.count("A 10.0.0.8"), 0u) << "weight 0 never answered";
  // Within 3 points of 50/30/20 over 5000 subnets.
  EXPECT_NEAR(counts["A 10.0.0.5"] * 100.0 / kSubnets, 50, 3);
  EXPECT_NEAR(counts["A 10.0.0.3"] * 100.0 / kSubnets, 30, 3);
  EXPECT_NEAR(counts["A 10.0.0.2"] * 100.0 / kSubnets, 20, 3);
  // ECS scope for weighted answers is the /24 the choice depended on.
  Message r = BuildResponse(Query("shop.global.example.com", RRType::kA, "3.4.5.0/24"), kResolverUs,
                            **snap);
  ASSERT_TRUE(r.edns && r.edns->client_subnet);
  EXPECT_EQ(r.edns->client_subnet->scope_prefix, 24);
}

TEST(AnswerTest, ProtocolEdges) {
  struct Case {
    std::string what;
    std::function<void(Message*)> mutate;
    RCode rcode;
  };
  for (const Case& c : std::vector<Case>{
           {"no question", [](Message* q) { q->questions.clear(); }, RCode::kFormErr},
           {"two questions", [](Message* q) { q->questions.push_back(q->questions[0]); },
            RCode::kFormErr},
           {"opcode STATUS", [](Message* q) { q->header.opcode = Opcode::kStatus; },
            RCode::kNotImp},
           {"EDNS version 1", [](Message* q) { q->edns->version = 1; }, RCode::kBadVers},
           {"class CH", [](Message* q) { q->questions[0].klass = 3; }, RCode::kRefused},
       }) {
    SCOPED_TRACE(c.what);
    Message q = Query("web.global.example.com", RRType::kA);
    c.mutate(&q);
    Message r = BuildResponse(q, kResolverUs, *Snap());
    EXPECT_EQ(r.header.rcode, c.rcode);
    EXPECT_TRUE(r.answers.empty());
    EXPECT_TRUE(r.edns.has_value()) << "EDNS queries get an OPT back";
  }
  Header h;
  h.id = 9;
  h.rd = true;
  Message f = BuildFormErr(h);
  EXPECT_EQ(f.header.rcode, RCode::kFormErr);
  EXPECT_EQ(f.header.id, 9);
  EXPECT_TRUE(f.header.qr);
}

TEST(SnapshotTest, RejectsInvalidSpecsNamingEveryField) {
  SnapshotSpec s;
  s.zones.push_back(ZoneSpec{.apex = "example.com"});
  s.zones.push_back(ZoneSpec{.apex = "EXAMPLE.com."});
  s.zones.push_back(ZoneSpec{.apex = ""});
  RecordSetSpec out{.name = "www.example.org", .type = RRType::kA};
  RecordSetSpec bad_a{.name = "a.example.com", .type = RRType::kA};
  bad_a.endpoints = {Ep("10.0.0", "x"), Ep("2001:db8::1", "x")};
  RecordSetSpec geo{.name = "g.example.com", .type = RRType::kA, .strategy = Strategy::kGeo};
  geo.endpoints = {Ep("10.0.0.1", "")};
  RecordSetSpec cname_apex{.name = "example.com", .type = RRType::kCNAME};
  RecordSetSpec dup1{.name = "d.example.com", .type = RRType::kA};
  RecordSetSpec dup2{.name = "D.example.com", .type = RRType::kA};
  RecordSetSpec cname_mix{.name = "d.example.com", .type = RRType::kCNAME};
  RecordSetSpec ns{.name = "sub.example.com", .type = RRType::kNS};
  s.record_sets = {out, bad_a, geo, cname_apex, dup1, dup2, cname_mix, ns};
  s.client_regions = {{"300.0.0.0/8", "eu"}, {"10.0.0.0/33", "eu"}};
  FieldErrors errors;
  EXPECT_EQ(Snapshot::Build(s, &errors), nullptr);
  std::set<std::string> paths;
  for (const FieldError& e : errors) paths.insert(e.path);
  for (const char* p :
       {"zones[1].apex", "zones[2].apex", "records[0].name", "records[1].endpoints[0].target",
        "records[1].endpoints[1].target", "records[2].endpoints[0].region", "records[3].name",
        "records[5]", "records[6]", "records[7].type", "clientRegions[0].cidr",
        "clientRegions[1].cidr"}) {
    EXPECT_TRUE(paths.count(p)) << "missing error for " << p;
  }
  EXPECT_EQ(errors.size(), 12u);
  for (const FieldError& e : errors) EXPECT_FALSE(e.message.empty()) << e.path;
}

TEST(CidrTest, ParseAndContains) {
  struct Case {
    std::string cidr, ip;
    bool ok, contains;
  };
  for (const Case& c : std::vector<Case>{{"10.1.0.0/16", "10.1.200.3", true, true},
                                         {"10.1.7.7/16", "10.1.200.3", true, true},
                                         {"10.1.0.0/16", "10.2.0.1", true, false},
                                         {"0.0.0.0/0", "1.2.3.4", true, true},
                                         {"2001:db8::/32", "2001:db8:ffff::1", true, true},
                                         {"2001:db8::/32", "10.0.0.1", true, false},
                                         {"10.0.0.1", "10.0.0.1", true, true},
                                         {"10.0.0.0/", "", false, false},
                                         {"10.0.0.0/x", "", false, false},
                                         {"nope/8", "", false, false}}) {
    auto cidr = Cidr::Parse(c.cidr);
    ASSERT_EQ(cidr.ok(), c.ok) << c.cidr;
    if (c.ok) {
      EXPECT_EQ(cidr->Contains(*IpAddress::Parse(c.ip)), c.contains) << c.cidr << " " << c.ip;
    }
  }
}

}  // namespace
}  // namespace meridian::dns
