// libFuzzer target: the DNS packet parser and the answer builder on a fixed snapshot, as the
// server runs them for every packet. Checks, beyond "no crash / no sanitizer report":
//   - whatever we serialize parses again, and fits the size limit we gave;
//   - a response never carries more than one question and always has QR set.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "dns/answer.h"
#include "dns/packet.h"
#include "dns/records.h"
#include "dns/wire.h"

namespace {

using namespace meridian::dns;

std::shared_ptr<const Snapshot> FixedSnapshot() {
  SnapshotSpec s;
  ZoneSpec z;
  z.apex = "global.example.com";
  s.zones.push_back(z);
  s.rtts = {{"eu-west", "us-east", 80}, {"us-east", "ap-south", 200}};
  s.client_regions = {
      {"81.0.0.0/8", "eu-west"}, {"3.0.0.0/8", "us-east"}, {"2a01::/16", "eu-west"}};
  s.default_region = "us-east";
  auto add = [&](const char* name, RRType type, Strategy st, std::vector<Endpoint> eps) {
    RecordSetSpec r;
    r.name = name;
    r.type = type;
    r.strategy = st;
    r.endpoints = std::move(eps);
    s.record_sets.push_back(r);
  };
  Endpoint eu{.target = "198.51.100.1", .region = "eu-west"};
  Endpoint us{.target = "203.0.113.1", .region = "us-east", .weight = 3};
  Endpoint ap{.target = "192.0.2.1", .region = "ap-south", .healthy = false};
  add("web.global.example.com", RRType::kA, Strategy::kGeo, {eu, us, ap});
  add("w.global.example.com", RRType::kA, Strategy::kWeighted, {eu, us, ap});
  add("f.global.example.com", RRType::kA, Strategy::kFailover, {eu, us, ap});
  add("v6.global.example.com", RRType::kAAAA, Strategy::kStatic, {{.target = "2001:db8::1"}});
  add("www.global.example.com", RRType::kCNAME, Strategy::kStatic,
      {{.target = "web.global.example.com"}});
  add("l1.global.example.com", RRType::kCNAME, Strategy::kStatic,
      {{.target = "l2.global.example.com"}});
  add("l2.global.example.com", RRType::kCNAME, Strategy::kStatic,
      {{.target = "l1.global.example.com"}});
  add("t.global.example.com", RRType::kTXT, Strategy::kStatic, {{.target = std::string(600, 't')}});
  add("_s._tcp.global.example.com", RRType::kSRV, Strategy::kStatic,
      {{.target = "web.global.example.com", .port = 80}});
  std::vector<Endpoint> big;
  for (int i = 0; i < 200; ++i) big.push_back({.target = "198.18.0." + std::to_string(i % 250)});
  add("big.global.example.com", RRType::kA, Strategy::kStatic, big);
  auto snap = Snapshot::Build(s);
  if (!snap.ok()) abort();
  return *snap;
}

void Check(bool ok) {
  if (!ok) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<const Snapshot> snapshot = FixedSnapshot();
  std::span<const uint8_t> packet(data, size);
  auto header = ParseHeader(packet);
  Check(header.ok() == (size >= kHeaderSize));
  auto query = ParseMessage(packet);
  Message response;
  size_t limit = kClassicUdpSize;
  if (query.ok()) {
    // Round trip of the parsed query itself.
    std::vector<uint8_t> again;
    SerializeMessage(*query, kMaxMessageSize, &again);
    Check(ParseMessage(again).ok());
    // The source address comes from the input too, so geo/weighted paths vary.
    IpAddress source = IpAddress::V4(size > 0 ? data[0] : 0, size > 1 ? data[1] : 0, 0, 1);
    if (size > 2 && (data[2] & 1)) {
      source.v6 = true;
      source.bytes[0] = 0x2a;
    }
    response = BuildResponse(*query, source, *snapshot);
    if (query->edns) limit = std::max<size_t>(kClassicUdpSize, query->edns->udp_payload_size);
  } else if (header.ok()) {
    response = BuildFormErr(*header);
  } else {
    return 0;
  }
  Check(response.header.qr);
  Check(response.questions.size() <= 1);
  std::vector<uint8_t> out;
  for (size_t max : {limit, kMaxMessageSize}) {
    bool truncated = SerializeMessage(response, max, &out);
    Check(out.size() <= max);  // max >= 512 always fits header + question + OPT
    auto reparsed = ParseMessage(out);
    Check(reparsed.ok());
    Check(reparsed->header.tc == truncated);
  }
  // The server's own per-packet path, over both transports and with the rate limiter's slip.
  const IpAddress peer = IpAddress::V4(81, 2, 3, 4);
  for (bool udp : {true, false}) {
    PacketResult r = HandlePacket(packet, peer, udp, *snapshot, &out, /*slip=*/size % 7 == 0);
    Check(r.send == (header.ok() && !header->qr));
    if (r.send) {
      Check(out.size() <= (udp ? size_t{1232} : kMaxMessageSize));
      Check(ParseMessage(out).ok());
    }
  }
  return 0;
}
