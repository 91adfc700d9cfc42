// The answer builder: the pure core of the DNS server. Takes a parsed query, who asked and an
// immutable Snapshot; returns the response Message. No I/O, no clock, no logging, no state:
// thread-safe and deterministic (the same inputs always give the same answer).
//
// Behaviour, in the order it is decided:
//   - opcode other than QUERY -> NOTIMP; not exactly one question -> FORMERR; EDNS version
//     > 0 -> BADVERS (RFC 6891 §6.1.3); class other than IN -> REFUSED; AXFR/IXFR -> NOTIMP.
//   - a name in none of our zones -> REFUSED (we never recurse; RA is always 0, RD is copied).
//   - a name that does not exist in the zone -> NXDOMAIN, SOA in authority.
//   - the name exists but has no answerable data of that type -> NODATA: NOERROR, empty answer,
//     SOA in authority (also when every endpoint of the set is unhealthy or weight 0).
//   - a CNAME is answered for any type and followed inside our zones (at most 8 links); a
//     CNAME leading out of our zones ends the answer (the resolver follows it). A CNAME set
//     answers one target: its strategy selects as for any set, and where that leaves several
//     (geo: the nearest region's; failover: the best priority's; static: all) one is picked
//     in proportion to weight per client subnet, as the weighted strategy does. A CNAME query
//     at a name without a CNAME is NODATA; a CNAME set with no answerable target is NODATA for
//     every type.
//   - ANY is answered with every record set at the name (strategies applied).
// Strategies (records.h): static = all answerable endpoints; geo = the answerable endpoints of
// the region with the lowest RTT from the client's region (ties by region name); weighted = one
// endpoint per client subnet (IPv4 /24, IPv6 /56, or the ECS prefix if shorter), chosen by a hash
// of subnet and name in proportion to weight, so a client keeps its answer and the population
// spreads by ready replicas; failover = the answerable endpoints with the lowest priority value.
// Client region: the ECS subnet when the query carries one (a /0 subnet means "do not tailor":
// the default region), else the source address, looked up longest-prefix-first in the
// snapshot's client-region table; unknown addresses use the snapshot's default region.
// ECS (RFC 7871): when the query carries the option, the response echoes it with the scope
// prefix set to the number of address bits the answer depended on (0 for answers that do not
// depend on the client).
#pragma once

#include "dns/records.h"
#include "dns/wire.h"

namespace meridian::dns {

// The UDP payload size we advertise in our OPT record (the DNS flag day 2020 value).
constexpr uint16_t kAdvertisedUdpSize = 1232;

// Builds the response to `query` from `source` (the packet's peer address).
Message BuildResponse(const Message& query, const IpAddress& source, const Snapshot& snapshot);

// The response for a packet whose header parsed but whose body did not: FORMERR, same id and
// opcode, no sections (RFC 1035 §4.1.1).
Message BuildFormErr(const Header& query_header);

// The client region the answer builder would use, and how many leading address bits decided
// it (the ECS scope). Exposed for tests and diagnostics. `region` is -1 when unknown.
struct ClientRegion {
  int region = -1;
  int scope_prefix = 0;
};
ClientRegion ResolveClientRegion(const IpAddress& address, int prefix, const Snapshot& snapshot);

}  // namespace meridian::dns
