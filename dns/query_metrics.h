// The DNS server's Prometheus metrics (observability/metrics.h):
//   meridian_dns_responses_total{qtype,rcode}   every answer sent, by the first question's
//     type (A, AAAA, CNAME, NS, SOA, TXT, SRV, MX, PTR, ANY, or OTHER) and response code
//     (NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, or OTHER): bounded label sets;
//   meridian_dns_{udp,tcp}_queries_total, meridian_dns_rrl_{dropped,slipped}_total,
//   meridian_dns_truncated_total, meridian_dns_malformed_dropped_total,
//   meridian_dns_tcp_evicted_total: the server's own atomic counters, read when scraped.
// Counting an answer is one relaxed load of a pre-resolved series and one integer add on the
// calling thread's stripe (observability/striped_metrics.h).
//
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <memory>

#include "dns/server.h"
#include "observability/metrics.h"
#include "observability/striped_metrics.h"

namespace meridian::dns {

// Counts one answer sent (PacketResult::qtype and rcode).
void CountResponse(uint16_t qtype, uint16_t rcode);

// Reports `server`'s counters while the registration lives (destroy it before the server).
std::unique_ptr<observability::CollectorRegistration> CollectServerCounters(const Server& server);

}  // namespace meridian::dns
