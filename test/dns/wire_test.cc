#include "dns/wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meridian::dns {
namespace {

using Bytes = std::vector<uint8_t>;

Name N(const std::string& text) {
  auto n = Name::FromText(text);
  EXPECT_TRUE(n.ok()) << text << ": " << n.status();
  return n.ok() ? *n : Name();
}

Bytes Header(uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar, uint8_t flags2 = 0x01) {
  return {0x12,
          0x34,
          flags2,
          0x00,
          uint8_t(qd >> 8),
          uint8_t(qd),
          uint8_t(an >> 8),
          uint8_t(an),
          uint8_t(ns >> 8),
          uint8_t(ns),
          uint8_t(ar >> 8),
          uint8_t(ar)};
}
Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
// "\3www\7example\3com\0"
const Bytes kWww = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0};
const Bytes kTypeAClassIn = {0, 1, 0, 1};
// An OPT record with the given RDATA.
Bytes Opt(const Bytes& rdata, uint16_t udp = 4096) {
  Bytes b = {0, 0, 41, uint8_t(udp >> 8),          uint8_t(udp),         0,
             0, 0, 0,  uint8_t(rdata.size() >> 8), uint8_t(rdata.size())};
  b.insert(b.end(), rdata.begin(), rdata.end());
  return b;
}

TEST(NameTest, TextFormsAndLimits) {
  struct Case {
    std::string text;
    bool ok;
    std::string round_trip;
  };
  std::string label63(63, 'a'), label64(64, 'a');
  std::string long_name = label63 + "." + label63 + "." + label63 + "." + label63;  // 4*64+1 = 257
  for (const Case& c : std::vector<Case>{
           {"www.example.com", true, "www.example.com."},
           {"www.example.com.", true, "www.example.com."},
           {".", true, "."},
           {"", true, "."},
           {"a\\.b.example", true, "a\\.b.example."},
           {"x\\032y.example", true, "x\\032y.example."},
           {label63 + ".example", true, label63 + ".example."},
           {label64 + ".example", false, ""},
           {"a..b", false, ""},
           {".a", false, ""},
           {long_name, false, ""},
           {"x\\999y", false, ""},
       }) {
    auto n = Name::FromText(c.text);
    EXPECT_EQ(n.ok(), c.ok) << c.text;
    if (n.ok()) {
      EXPECT_EQ(n->ToText(), c.round_trip) << c.text;
    }
  }
}

TEST(NameTest, CaseInsensitiveRelations) {
  struct Case {
    std::string name, apex;
    bool sub;
  };
  for (const Case& c : std::vector<Case>{{"WWW.Example.COM", "example.com", true},
                                         {"example.com", "EXAMPLE.com", true},
                                         {"notexample.com", "example.com", false},
                                         {"com", "example.com", false},
                                         {"a.b.example.com", "b.example.com", true},
                                         {"anything", ".", true}}) {
    EXPECT_EQ(N(c.name).IsSubdomainOf(N(c.apex)), c.sub) << c.name << " in " << c.apex;
  }
  EXPECT_TRUE(N("WWW.EXAMPLE.COM").EqualsIgnoreCase(N("www.example.com")));
  EXPECT_EQ(N("WWW.EXAMPLE.COM").Lowercased(), N("www.example.com"));
  EXPECT_EQ(N("a.b.c").Parent(), N("b.c"));
  EXPECT_EQ(N("a.b.c").LabelCount(), 3);
}

Message SampleMessage() {
  Message m;
  m.header.id = 0xBEEF;
  m.header.qr = true;
  m.header.aa = true;
  m.header.rd = true;
  m.questions.push_back({N("www.example.com"), RRType::kA, kClassIN});
  m.answers.push_back(
      {N("www.example.com"), RRType::kCNAME, kClassIN, 300, NameData{N("web.example.com")}});
  m.answers.push_back({N("web.example.com"), RRType::kA, kClassIN, 30, AData{{192, 0, 2, 1}}});
  m.answers.push_back({N("web.example.com"), RRType::kAAAA, kClassIN, 30,
                       AaaaData{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}});
  m.answers.push_back({N("_h._tcp.example.com"), RRType::kSRV, kClassIN, 30,
                       SrvData{1, 2, 80, N("web.example.com")}});
  m.answers.push_back({N("example.com"), RRType::kTXT, kClassIN, 30,
                       TxtData{{"hello", "", std::string(255, 'x')}}});
  m.answers.push_back(
      {N("example.com"), RRType::kMX, kClassIN, 30, MxData{10, N("mail.example.com")}});
  m.answers.push_back(
      {N("example.com"), static_cast<RRType>(99), kClassIN, 30, RawData{"\x01\x02"}});
  m.authority.push_back(
      {N("example.com"), RRType::kSOA, kClassIN, 60,
       SoaData{N("ns1.example.com"), N("hostmaster.example.com"), 1, 2, 3, 4, 5}});
  m.authority.push_back(
      {N("example.com"), RRType::kNS, kClassIN, 60, NameData{N("ns1.example.com")}});
  m.additional.push_back({N("ns1.example.com"), RRType::kA, kClassIN, 60, AData{{192, 0, 2, 53}}});
  Edns e;
  e.udp_payload_size = 1232;
  e.dnssec_ok = true;
  e.client_subnet = ClientSubnet{ClientSubnet::kFamilyIPv4, 20, 16, {81, 2, 0x30}};
  e.other_options.push_back({10, "cookie42"});
  m.edns = e;
  return m;
}

TEST(WireTest, RoundTripsEveryRecordType) {
  Message m = SampleMessage();
  Bytes wire = SerializeMessage(m);
  auto parsed = ParseMessage(wire);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->header.id, 0xBEEF);
  EXPECT_TRUE(parsed->header.qr && parsed->header.aa && parsed->header.rd);
  EXPECT_EQ(parsed->questions, m.questions);
  EXPECT_EQ(parsed->answers, m.answers);
  EXPECT_EQ(parsed->authority, m.authority);
  EXPECT_EQ(parsed->additional, m.additional);
  EXPECT_EQ(parsed->edns, m.edns);
  // Serializing the parse gives the same bytes.
  EXPECT_EQ(SerializeMessage(*parsed), wire);
}

TEST(WireTest, CompressesRepeatedNamesCaseInsensitively) {
  Message m;
  m.questions.push_back({N("WWW.example.com"), RRType::kA, kClassIN});
  m.answers.push_back({N("www.example.com"), RRType::kA, kClassIN, 30, AData{{1, 2, 3, 4}}});
  m.answers.push_back(
      {N("mail.example.com"), RRType::kCNAME, kClassIN, 30, NameData{N("example.com")}});
  Bytes w = SerializeMessage(m);
  // Header 12 + question (17 + 4) = 33; the first answer's owner is a pointer to offset 12.
  ASSERT_GT(w.size(), 35u);
  EXPECT_EQ(w[33], 0xC0);
  EXPECT_EQ(w[34], 12);
  // Second owner "mail" + pointer to "example.com" at offset 16; its RDATA is a bare pointer.
  size_t second = 33 + 2 + 10 + 4;
  EXPECT_EQ(w[second], 4);
  EXPECT_EQ(w[second + 5], 0xC0);
  EXPECT_EQ(w[second + 6], 16);
  size_t rdlen_at = second + 7 + 8;
  EXPECT_EQ(w[rdlen_at + 1], 2);  // RDATA is the 2-octet pointer
  EXPECT_EQ(w.size(), rdlen_at + 2 + 2);
  auto p = ParseMessage(w);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->answers[1].name.ToText(), "mail.example.com.");
  EXPECT_TRUE(std::get<NameData>(p->answers[1].rdata).name.EqualsIgnoreCase(N("example.com")));
}

TEST(WireTest, SrvTargetIsNeverCompressed) {
  Message m;
  m.questions.push_back({N("web.example.com"), RRType::kSRV, kClassIN});
  m.answers.push_back(
      {N("web.example.com"), RRType::kSRV, kClassIN, 30, SrvData{0, 0, 80, N("web.example.com")}});
  Bytes w = SerializeMessage(m);
  // 12 + 21 question + 2 owner pointer + 10 fixed + 6 SRV fields + 17 uncompressed target.
  EXPECT_EQ(w.size(), 12u + 21 + 2 + 10 + 6 + 17);
}

TEST(WireTest, TruncatesToTheLimitKeepingQuestionAndOpt) {
  Message m;
  m.header.qr = true;
  m.questions.push_back({N("big.example.com"), RRType::kA, kClassIN});
  for (int i = 0; i < 100; ++i) {
    m.answers.push_back(
        {N("big.example.com"), RRType::kA, kClassIN, 30, AData{{10, 0, 0, uint8_t(i)}}});
  }
  m.edns = Edns{};
  std::vector<uint8_t> out;
  EXPECT_FALSE(SerializeMessage(m, 65535, &out));
  EXPECT_GT(out.size(), 1232u);
  EXPECT_TRUE(SerializeMessage(m, 1232, &out));
  auto p = ParseMessage(out);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->header.tc);
  EXPECT_EQ(p->questions.size(), 1u);
  EXPECT_TRUE(p->answers.empty());
  EXPECT_TRUE(p->edns.has_value());
}

TEST(WireTest, ExtendedRcodeTravelsInOpt) {
  Message m;
  m.header.qr = true;
  m.header.rcode = RCode::kBadVers;
  m.edns = Edns{};
  auto p = ParseMessage(SerializeMessage(m));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->header.rcode, RCode::kBadVers);
}

TEST(WireTest, ParsesAQueryWithClientSubnet) {
  // dig +subnet=81.2.3.0/24: family 1, source 24, scope 0, 3 address octets.
  Bytes ecs = {0, 8, 0, 7, 0, 1, 24, 0, 81, 2, 3};
  Bytes pkt = Cat({Header(1, 0, 0, 1), kWww, kTypeAClassIn, Opt(ecs)});
  auto p = ParseMessage(pkt);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->edns && p->edns->client_subnet);
  EXPECT_EQ(p->edns->udp_payload_size, 4096);
  EXPECT_EQ(p->edns->client_subnet->source_prefix, 24);
  EXPECT_EQ(p->edns->client_subnet->address[2], 3);
  EXPECT_EQ(p->questions[0].name.ToText(), "www.example.com.");
}

TEST(WireTest, RejectsMalformedPackets) {
  struct Case {
    std::string what;
    Bytes packet;
    std::string error;  // substring of the message
  };
  Bytes label64 = {64};
  label64.insert(label64.end(), 64, 'a');
  label64.push_back(0);
  Bytes long_name;  // 5 labels of 60 octets = 306 octets
  for (int i = 0; i < 5; ++i) {
    long_name.push_back(60);
    long_name.insert(long_name.end(), 60, 'a');
  }
  long_name.push_back(0);
  const Bytes a_rr_head = {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30};
  for (const Case& c : std::vector<Case>{
           {"empty", {}, "shorter than a header"},
           {"short header", {1, 2, 3}, "shorter than a header"},
           {"missing question", Header(1, 0, 0, 0), "question count exceeds packet"},
           {"huge counts", Header(65535, 65535, 0, 0), "question count exceeds packet"},
           {"question truncated", Cat({Header(1, 0, 0, 0), kWww, {0, 1}}), "question truncated"},
           {"label type 0x40", Cat({Header(1, 0, 0, 0), label64, kTypeAClassIn}),
            "unsupported label type"},
           {"name over 255", Cat({Header(1, 0, 0, 0), long_name, kTypeAClassIn}),
            "longer than 255"},
           {"label past end", Cat({Header(1, 0, 0, 0), {10, 'a', 'b', 'c', 'd'}}), "past the end"},
           {"pointer to itself", Cat({Header(1, 0, 0, 0), {0xC0, 12}, kTypeAClassIn}),
            "does not point backwards"},
           {"forward pointer", Cat({Header(1, 0, 0, 0), {0xC0, 20}, kTypeAClassIn, {0, 0, 0, 0}}),
            "does not point backwards"},
           {"pointer truncated", Cat({Header(1, 0, 0, 0), {3, 'a', 'b', 'c', 0xC0}}),
            "pointer truncated"},
           {"pointer loop via earlier name",
            Cat({Header(2, 0, 0, 0), {1, 'a', 0xC0, 14}, kTypeAClassIn, {0xC0, 12}, kTypeAClassIn}),
            "does not point backwards"},
           {"rdata past end",
            Cat({Header(1, 1, 0, 0), kWww, kTypeAClassIn, a_rr_head, {0, 4, 1, 2}}),
            "RDATA runs past"},
           {"A rdata 5 octets",
            Cat({Header(1, 1, 0, 0), kWww, kTypeAClassIn, a_rr_head, {0, 5, 1, 2, 3, 4, 5}}),
            "A RDATA must be 4"},
           {"record header truncated",
            Cat({Header(1, 1, 0, 0), kWww, kTypeAClassIn, {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0}}),
            "record header truncated"},
           {"trailing bytes", Cat({Header(1, 0, 0, 0), kWww, kTypeAClassIn, {0}}),
            "trailing bytes"},
           {"two OPT", Cat({Header(1, 0, 0, 2), kWww, kTypeAClassIn, Opt({}), Opt({})}),
            "more than one OPT"},
           {"OPT in answer", Cat({Header(1, 1, 0, 0), kWww, kTypeAClassIn, Opt({})}),
            "OPT record outside"},
           {"ECS family 3",
            Cat({Header(1, 0, 0, 1), kWww, kTypeAClassIn, Opt({0, 8, 0, 4, 0, 3, 0, 0})}),
            "family 3 unsupported"},
           {"ECS prefix 33",
            Cat({Header(1, 0, 0, 1), kWww, kTypeAClassIn,
                 Opt({0, 8, 0, 9, 0, 1, 33, 0, 1, 2, 3, 4, 5})}),
            "source prefix too long"},
           {"ECS address too long",
            Cat({Header(1, 0, 0, 1), kWww, kTypeAClassIn,
                 Opt({0, 8, 0, 8, 0, 1, 16, 0, 1, 2, 3, 4})}),
            "does not match prefix"},
           {"ECS bits beyond prefix",
            Cat({Header(1, 0, 0, 1), kWww, kTypeAClassIn,
                 Opt({0, 8, 0, 7, 0, 1, 20, 0, 81, 2, 0x3F})}),
            "bits beyond its prefix"},
           {"EDNS option truncated",
            Cat({Header(1, 0, 0, 1), kWww, kTypeAClassIn, Opt({0, 8, 0, 9, 0})}),
            "EDNS option truncated"},
           {"TXT string past rdata",
            Cat({Header(1, 1, 0, 0),
                 kWww,
                 kTypeAClassIn,
                 {0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 30, 0, 2, 5, 'a'}}),
            "TXT string runs past"},
           {"CNAME rdata longer than name",
            Cat({Header(1, 1, 0, 0),
                 kWww,
                 kTypeAClassIn,
                 {0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 30, 0, 3, 0xC0, 12, 0}}),
            "does not match its length"},
           {"SOA truncated",
            Cat({Header(1, 1, 0, 0),
                 kWww,
                 kTypeAClassIn,
                 {0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 30, 0, 6, 0xC0, 12, 0xC0, 12, 0, 0}}),
            "SOA RDATA truncated"},
       }) {
    auto p = ParseMessage(c.packet);
    ASSERT_FALSE(p.ok()) << c.what;
    EXPECT_NE(p.status().message().find(c.error), std::string::npos)
        << c.what << ": " << p.status();
  }
}

TEST(WireTest, HeaderParsesEvenWhenTheBodyDoesNot) {
  Bytes pkt = Cat({Header(1, 0, 0, 0, 0x01), {0xC0, 12}});
  EXPECT_FALSE(ParseMessage(pkt).ok());
  auto h = ParseHeader(pkt);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->id, 0x1234);
  EXPECT_TRUE(h->rd);
  EXPECT_EQ(h->qdcount, 1);
}

TEST(WireTest, TypeNames) {
  EXPECT_EQ(RRTypeName(RRType::kAAAA), "AAAA");
  EXPECT_EQ(RRTypeName(static_cast<RRType>(99)), "TYPE99");
  EXPECT_EQ(RRTypeFromName("srv"), RRType::kSRV);
  EXPECT_FALSE(RRTypeFromName("BOGUS").has_value());
}

}  // namespace
}  // namespace meridian::dns
