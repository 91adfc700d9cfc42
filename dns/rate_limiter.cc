#include "dns/rate_limiter.h"

#include <algorithm>

namespace meridian::dns {

ResponseRateLimiter::ResponseRateLimiter(const RateLimitConfig& config, const Clock& clock)
    : config_(config),
      clock_(clock),
      capacity_(config.burst > 0 ? config.burst : config.responses_per_second) {}

uint64_t ResponseRateLimiter::KeyOf(const IpAddress& client) const {
  // Family flag in the top bit, then up to 56 prefix bits (enough for IPv4 /24 and IPv6 /56).
  int bits = std::clamp(client.v6 ? config_.ipv6_prefix : config_.ipv4_prefix, 0, 56);
  uint64_t key = 0;
  for (int i = 0; i < 7; ++i) key = (key << 8) | client.bytes[i];
  if (bits < 56) key &= ~((uint64_t{1} << (56 - bits)) - 1);
  return key | (client.v6 ? (uint64_t{1} << 63) : 0);
}

void ResponseRateLimiter::Evict(int64_t now_us) {
  // Drop subnets whose bucket has refilled completely: forgetting them changes nothing.
  const double refill_us = capacity_ / config_.responses_per_second * 1e6;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (now_us - it->second.last_us >= refill_us) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
  // Under a flood from more subnets than we track, start over rather than grow.
  if (buckets_.size() >= config_.max_tracked_subnets) buckets_.clear();
}

ResponseRateLimiter::Action ResponseRateLimiter::Check(const IpAddress& client) {
  if (config_.responses_per_second == 0) return Action::kSend;
  for (const IpAddress& exempt : config_.exempt_clients) {
    if (exempt == client) return Action::kSend;
  }
  const int64_t now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(clock_.Now().time_since_epoch())
          .count();
  const uint64_t key = KeyOf(client);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= config_.max_tracked_subnets) Evict(now_us);
    it = buckets_.emplace(key, Bucket{capacity_, now_us, 0}).first;
  }
  Bucket& b = it->second;
  if (now_us > b.last_us) {
    b.tokens =
        std::min(capacity_, b.tokens + (now_us - b.last_us) * 1e-6 * config_.responses_per_second);
    b.last_us = now_us;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return Action::kSend;
  }
  ++b.limited;
  if (config_.slip > 0 && b.limited % config_.slip == 0) return Action::kSlip;
  return Action::kDrop;
}

}  // namespace meridian::dns
