#include "dns/query_metrics.h"

#include <array>
#include <atomic>
#include <mutex>

#include "dns/wire.h"

namespace meridian::dns {
namespace {

constexpr std::array<RRType, 10> kTypes = {RRType::kA,   RRType::kAAAA, RRType::kCNAME, RRType::kNS,
                                           RRType::kSOA, RRType::kTXT,  RRType::kSRV,   RRType::kMX,
                                           RRType::kPTR, RRType::kANY};
constexpr std::array<const char*, 7> kRcodes = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                "NOTIMP",  "REFUSED", "OTHER"};

struct ResponseSeries {
  // [qtype index (kTypes, then OTHER)][rcode index]; created on first use.
  std::array<std::array<std::atomic<observability::StripedCounter*>, kRcodes.size()>,
             kTypes.size() + 1>
      table{};
  std::mutex mu;  // serialises creation
  observability::StripedFamily<observability::StripedCounter> family{
      "meridian_dns_responses_total", "DNS responses sent, by the query's type and the response code.",
      prometheus::MetricType::Counter};
  std::unique_ptr<observability::CollectorRegistration> registration =
      observability::CollectFamilies(family);
};

ResponseSeries& Series() {
  static ResponseSeries* series = new ResponseSeries();  // used until exit
  return *series;
}

}  // namespace

void CountResponse(uint16_t qtype, uint16_t rcode) {
  size_t t = kTypes.size();
  for (size_t i = 0; i < kTypes.size(); ++i) {
    if (static_cast<uint16_t>(kTypes[i]) == qtype) t = i;
  }
  const size_t r = rcode < kRcodes.size() - 1 ? rcode : kRcodes.size() - 1;
  ResponseSeries& s = Series();
  observability::StripedCounter* counter = s.table[t][r].load(std::memory_order_acquire);
  if (counter == nullptr) {
    std::lock_guard<std::mutex> lock(s.mu);
    counter = s.table[t][r].load(std::memory_order_acquire);
    if (counter == nullptr) {
      const std::string type = t < kTypes.size() ? RRTypeName(kTypes[t]) : "OTHER";
      counter = &s.family.Add({{"qtype", type}, {"rcode", kRcodes[r]}});
      s.table[t][r].store(counter, std::memory_order_release);
    }
  }
  counter->Increment();
}

std::unique_ptr<observability::CollectorRegistration> CollectServerCounters(const Server& server) {
  return observability::RegisterCollector([&server] {
    const ServerCounters& c = server.counters();
    std::vector<prometheus::MetricFamily> out;
    auto add = [&](const char* name, const char* help, const std::atomic<uint64_t>& value) {
      prometheus::MetricFamily f = observability::CounterFamily(name, help);
      observability::AddSample(f, {}, static_cast<double>(value.load(std::memory_order_relaxed)));
      out.push_back(std::move(f));
    };
    add("meridian_dns_udp_queries_total", "DNS queries received over UDP.", c.udp_queries);
    add("meridian_dns_tcp_queries_total", "DNS queries received over TCP.", c.tcp_queries);
    add("meridian_dns_rrl_dropped_total", "UDP responses dropped by response rate limiting.",
        c.rate_limited_dropped);
    add("meridian_dns_rrl_slipped_total",
        "UDP responses sent truncated (slipped) by response rate limiting.",
        c.rate_limited_slipped);
    add("meridian_dns_truncated_total", "Responses sent truncated (TC).", c.truncated);
    add("meridian_dns_malformed_dropped_total", "Packets dropped without an answer.",
        c.dropped_malformed);
    add("meridian_dns_tcp_evicted_total",
        "TCP connections closed to admit new ones at the connection cap.", c.tcp_evicted);
    return out;
  });
}

}  // namespace meridian::dns
