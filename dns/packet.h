// One DNS packet in, one response packet out: what every server worker runs per query, as a
// pure function (no I/O, no clock), so the fuzzer and the in-process benchmark exercise exactly
// the server's path.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dns/records.h"

namespace meridian::dns {

// The byte-level core the workers run for one query, exposed for the fuzzer, the in-process
// benchmark and tests: parses `packet` from `peer`, answers from `snapshot` into `out`. Over TCP
// (`udp` false) the size limit is 65535; over UDP it is the query's EDNS payload size capped at
// 1232 (512 without EDNS). `slip` forces the truncated form (rate limiter). `send` is false when
// nothing must be sent (unparseable header, or a response packet).
struct PacketResult {
  bool send = false;
  bool formerr = false;
  bool truncated = false;
  // What was answered, for the query metrics (when `send`): the first question's type (0
  // for none) and the response code.
  uint16_t qtype = 0;
  uint16_t rcode = 0;
};
PacketResult HandlePacket(std::span<const uint8_t> packet, const IpAddress& peer, bool udp,
                          const Snapshot& snapshot, std::vector<uint8_t>* out, bool slip = false);

}  // namespace meridian::dns
