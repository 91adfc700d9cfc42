#include "observability/striped_metrics.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <stdexcept>

namespace meridian::observability {
namespace {

size_t WordsPerStripe(size_t bounds) {
  const size_t words = 1 + bounds + 1;  // the sum, the buckets, +Inf
  return (words + 7) / 8 * 8;           // whole cache lines: stripes never share one
}

}  // namespace

size_t NextStripe() {
  static std::atomic<size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) % kStripes;
}

uint64_t StripedCounter::Value() const {
  uint64_t total = 0;
  for (const Stripe& s : stripes_) total += s.value.load(std::memory_order_relaxed);
  return total;
}

prometheus::ClientMetric StripedCounter::Collect() const {
  prometheus::ClientMetric metric;
  metric.counter.value = static_cast<double>(Value());
  return metric;
}

StripedHistogram::StripedHistogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      words_per_stripe_(WordsPerStripe(bounds_.size())),
      lines_(new Line[kStripes * words_per_stripe_ / 8]) {
  for (size_t i = 1; i < bounds_.size(); ++i) {
    if (!(bounds_[i - 1] < bounds_[i])) {
      throw std::invalid_argument("histogram bounds must increase strictly");
    }
  }
}

void StripedHistogram::Observe(double value) {
  // prometheus-cpp's choice of bucket, NaN included (it lands in the first bucket).
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  const size_t stripe = ThisThreadStripe();
  Word(stripe, 1 + bucket).fetch_add(1, std::memory_order_relaxed);
  // The sum is a double kept as its bits: no atomic floating-point add on x86, and a stripe
  // is seldom shared, so the exchange almost always succeeds the first time.
  std::atomic<uint64_t>& sum = Word(stripe, 0);
  uint64_t old = sum.load(std::memory_order_relaxed);
  while (!sum.compare_exchange_weak(old, std::bit_cast<uint64_t>(std::bit_cast<double>(old) + value),
                                    std::memory_order_relaxed)) {
  }
}

prometheus::ClientMetric StripedHistogram::Collect() const {
  prometheus::ClientMetric metric;
  metric.histogram.bucket.reserve(bounds_.size() + 1);
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= bounds_.size(); ++b) {
    for (size_t s = 0; s < kStripes; ++s) cumulative += Word(s, 1 + b).load(std::memory_order_relaxed);
    prometheus::ClientMetric::Bucket bucket;
    bucket.cumulative_count = cumulative;
    bucket.upper_bound =
        b < bounds_.size() ? bounds_[b] : std::numeric_limits<double>::infinity();
    metric.histogram.bucket.push_back(bucket);
  }
  metric.histogram.sample_count = cumulative;
  double sum = 0;
  for (size_t s = 0; s < kStripes; ++s) {
    sum += std::bit_cast<double>(Word(s, 0).load(std::memory_order_relaxed));
  }
  metric.histogram.sample_sum = sum;
  return metric;
}

}  // namespace meridian::observability
