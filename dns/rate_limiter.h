// Response rate limiting (the idea of BIND's RRL, simplified): a token bucket per client
// subnet (IPv4 /24, IPv6 /56) so that the server cannot be used to amplify traffic towards a
// spoofed victim. Over the limit, responses are dropped, except every `slip`-th one, which is
// sent truncated (TC=1, no records): a real client behind a busy subnet retries over TCP, which
// a spoofed source cannot do.
// Exempt clients (BIND's `exempt-clients`) are never limited and use no bucket: the
// federation-apiserver exempts the source address of its own drill probes
// (failover/drill_dns_udp.h), so that a busy subnet never makes a drill's DNS samples fail.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "dns/records.h"

namespace meridian::dns {

struct RateLimitConfig {
  uint32_t responses_per_second = 0;  // per subnet; 0 disables limiting
  uint32_t burst = 0;                 // bucket size; 0 means responses_per_second
  uint32_t slip = 2;                  // every slip-th limited response is sent truncated; 0 never
  int ipv4_prefix = 24;
  int ipv6_prefix = 56;
  size_t max_tracked_subnets = 100000;  // memory bound on the table
  // Exact client addresses whose responses are always sent (a handful: a linear scan).
  std::vector<IpAddress> exempt_clients;
};

// Not thread-safe: each server thread owns one (the server divides the configured rate among
// its threads). Time comes from the injected clock, so tests drive it with a FakeClock.
class ResponseRateLimiter {
 public:
  enum class Action { kSend, kDrop, kSlip };

  // `clock` must outlive the limiter.
  ResponseRateLimiter(const RateLimitConfig& config, const Clock& clock);

  // Accounts one response to `client` and says what to do with it.
  Action Check(const IpAddress& client);

  size_t tracked_subnets() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t last_us = 0;   // when tokens was last brought up to date
    uint64_t limited = 0;  // responses limited so far (drives slip)
  };
  uint64_t KeyOf(const IpAddress& client) const;
  void Evict(int64_t now_us);

  RateLimitConfig config_;
  const Clock& clock_;
  double capacity_;
  std::unordered_map<uint64_t, Bucket> buckets_;
};

}  // namespace meridian::dns
