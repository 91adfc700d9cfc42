#include "dns/packet.h"

#include <algorithm>

#include "dns/answer.h"
#include "dns/wire.h"

namespace meridian::dns {
namespace {

size_t UdpLimit(const Message& query) {
  if (!query.edns) return kClassicUdpSize;
  return std::clamp<size_t>(query.edns->udp_payload_size, kClassicUdpSize, kAdvertisedUdpSize);
}

}  // namespace

PacketResult HandlePacket(std::span<const uint8_t> packet, const IpAddress& peer, bool udp,
                          const Snapshot& snapshot, std::vector<uint8_t>* out, bool slip) {
  PacketResult result;
  auto parsed = ParseMessage(packet);
  Message response;
  size_t limit = udp ? kClassicUdpSize : kMaxMessageSize;
  if (!parsed.ok()) {
    auto header = ParseHeader(packet);
    if (!header.ok() || header->qr) return result;  // nothing to answer, or never answer a response
    response = BuildFormErr(*header);
    result.formerr = true;
  } else {
    if (parsed->header.qr) return result;
    response = BuildResponse(*parsed, peer, snapshot);
    if (udp) limit = UdpLimit(*parsed);
  }
  if (slip) limit = 0;
  if (!response.questions.empty()) result.qtype = static_cast<uint16_t>(response.questions[0].type);
  result.rcode = static_cast<uint16_t>(response.header.rcode);
  result.truncated = SerializeMessage(response, limit, out);
  result.send = true;
  return result;
}

}  // namespace meridian::dns
