// Counters and histograms for the series written on every request (API requests, DNS
// answers, placement decisions), without prometheus-cpp's costs on that path: its
// Histogram::Observe takes a mutex, and its counters and gauges add doubles in a
// compare-and-swap loop on one cache line that every thread writes. Here each series keeps
// kStripes cache-line-aligned copies of its cells; a thread writes the stripe it was given on
// its first observation (round robin), with relaxed atomic adds on integers (and one
// compare-and-swap for a histogram's sum), and takes no lock. A scrape adds the stripes up.
//
// Collect() returns the prometheus::ClientMetric that prometheus-cpp's Counter and Histogram
// return for the same observations, so TextSerializer writes the same exposition
// (test/observability/striped_metrics_test.cc compares them): counts are integers (exact up
// to 2^53 in the exposition's doubles), histogram buckets are Prometheus' `le` (a value equal
// to a bound counts in that bound's bucket) and cumulative, _count is the +Inf bucket.
// StripedFamily is a named family of such series keyed by their labels, for the scrape-time
// collector path (metrics.h RegisterCollector).
//
// Consistency: a scrape that runs during an observation may see the observation's bucket but
// not yet its sum (never a torn value, never a count that goes down), as with any lock-free
// client (client_golang before its hot/cold swap); the next scrape sees both.
//
// Thread-safety: every member is thread-safe.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace meridian::observability {

// Copies per series: enough that the HTTP and DNS worker threads of a small host seldom share
// one, few enough that a histogram with kube-apiserver's 23 buckets stays at 2 KiB.
inline constexpr size_t kStripes = 8;

size_t NextStripe();  // the round robin behind ThisThreadStripe

// The stripe the calling thread writes (0..kStripes-1), handed out round robin on a thread's
// first call. Inline: it runs on every observation.
inline size_t ThisThreadStripe() {
  thread_local const size_t stripe = NextStripe();
  return stripe;
}

class StripedCounter {
 public:
  StripedCounter() = default;
  StripedCounter(const StripedCounter&) = delete;
  StripedCounter& operator=(const StripedCounter&) = delete;

  void Increment(uint64_t by = 1) {
    stripes_[ThisThreadStripe()].value.fetch_add(by, std::memory_order_relaxed);
  }
  uint64_t Value() const;
  prometheus::ClientMetric Collect() const;  // counter.value

 private:
  struct alignas(64) Stripe {
    std::atomic<uint64_t> value{0};
  };
  std::array<Stripe, kStripes> stripes_;
};

class StripedHistogram {
 public:
  // `bounds`: the buckets' upper bounds, strictly increasing (a +Inf bucket is implied);
  // std::invalid_argument otherwise (a programming error: bounds are constants).
  explicit StripedHistogram(std::vector<double> bounds);
  StripedHistogram(const StripedHistogram&) = delete;
  StripedHistogram& operator=(const StripedHistogram&) = delete;

  // Counts `value` in the first bucket whose bound is >= value, and adds it to the sum.
  void Observe(double value);
  // histogram.bucket (cumulative, the last one +Inf), sample_count and sample_sum.
  prometheus::ClientMetric Collect() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  // A stripe is words_per_stripe_ words: the sum's bits, then one count per bucket (+Inf
  // last), padded to whole cache lines.
  struct alignas(64) Line {
    std::array<std::atomic<uint64_t>, 8> words{};
  };
  std::atomic<uint64_t>& Word(size_t stripe, size_t index) const {
    const size_t at = stripe * words_per_stripe_ + index;
    return lines_[at / 8].words[at % 8];
  }

  const std::vector<double> bounds_;
  const size_t words_per_stripe_;
  const std::unique_ptr<Line[]> lines_;
};

// Series of one metric name, keyed by their labels. Series are created on first Add and kept
// for the process's life (as prometheus-cpp's families keep theirs), so references returned
// by Add stay valid; Collect lists them in label order.
template <typename Metric>
class StripedFamily {
 public:
  using Labels = std::map<std::string, std::string>;

  StripedFamily(std::string name, std::string help, prometheus::MetricType type)
      : name_(std::move(name)), help_(std::move(help)), type_(type) {}
  StripedFamily(const StripedFamily&) = delete;
  StripedFamily& operator=(const StripedFamily&) = delete;

  // The series labelled `labels`, created from `args` (a histogram's bounds) if new; an
  // existing series is returned as it is. Takes the family's lock: resolve series once, not
  // per observation.
  template <typename... Args>
  Metric& Add(const Labels& labels, Args&&... args) {
    std::lock_guard<std::mutex> lock(mu_);
    std::unique_ptr<Metric>& series = series_[labels];
    if (!series) series = std::make_unique<Metric>(std::forward<Args>(args)...);
    return *series;
  }

  prometheus::MetricFamily Collect() const {
    prometheus::MetricFamily family;
    family.name = name_;
    family.help = help_;
    family.type = type_;
    std::lock_guard<std::mutex> lock(mu_);
    family.metric.reserve(series_.size());
    for (const auto& [labels, series] : series_) {
      prometheus::ClientMetric metric = series->Collect();
      for (const auto& [name, value] : labels) metric.label.push_back({name, value});
      family.metric.push_back(std::move(metric));
    }
    return family;
  }
  // Appends Collect() to `out` when the family has series: prometheus-cpp's registry leaves a
  // family without series out of the exposition, and so does this.
  void CollectInto(std::vector<prometheus::MetricFamily>& out) const {
    prometheus::MetricFamily family = Collect();
    if (!family.metric.empty()) out.push_back(std::move(family));
  }

 private:
  const std::string name_;
  const std::string help_;
  const prometheus::MetricType type_;
  mutable std::mutex mu_;  // guards series_ (not the series' values)
  std::map<Labels, std::unique_ptr<Metric>> series_;
};

}  // namespace meridian::observability
