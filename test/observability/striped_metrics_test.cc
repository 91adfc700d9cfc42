// The lock-free series (observability/striped_metrics.h): the exposition is byte for byte
// prometheus-cpp's for the same observations (a real prometheus::Histogram and Counter beside
// ours, both through TextSerializer), buckets are Prometheus' inclusive `le`, and
// observations from more threads than there are stripes add up exactly while a scraper reads.
#include "observability/striped_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "observability/metrics.h"

namespace meridian {
namespace {

using observability::StripedCounter;
using observability::StripedFamily;
using observability::StripedHistogram;

std::string Serialize(std::vector<prometheus::MetricFamily> families) {
  // prometheus-cpp's families keep their series in a hash map: put both sides in label order.
  for (prometheus::MetricFamily& family : families) {
    std::sort(family.metric.begin(), family.metric.end(),
              [](const prometheus::ClientMetric& a, const prometheus::ClientMetric& b) {
                return a.label < b.label;
              });
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

TEST(StripedHistogramTest, ExpositionIsPrometheusCppsForTheSameObservations) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    std::string name;
    std::vector<double> bounds;
    std::vector<double> values;  // alternately into the series a="x" and a="y"
  };
  const std::vector<Case> cases = {
      {"no observations", {0.1, 1}, {}},
      {"on, between, below and above the bounds",
       {0.005, 0.025, 0.05, 0.1, 1, 10},
       {0.005, 0.0049, 0.025, 0.03, 0.1, 0.7, 1, 10, 10.5, 1e6, 0, -3}},
      {"kube-apiserver's buckets",
       observability::ApiserverRequestDurationBuckets(),
       {0.0001, 0.004, 0.2, 0.2, 1.25, 59.9, 60, 61, 0.6, 0.8000001}},
      {"no bounds: only +Inf", {}, {1, 2, 3}},
      {"infinities and NaN", {1, 2}, {inf, -inf, 1.5, nan}},
  };
  for (const Case& c : cases) {
    prometheus::Registry registry;
    auto& theirs = prometheus::BuildHistogram().Name("h_seconds").Help("A test.").Register(registry);
    prometheus::Histogram& theirs_x = theirs.Add({{"a", "x"}, {"b", "1"}}, c.bounds);
    prometheus::Histogram& theirs_y = theirs.Add({{"a", "y"}, {"b", "1"}}, c.bounds);
    StripedFamily<StripedHistogram> ours("h_seconds", "A test.",
                                         prometheus::MetricType::Histogram);
    StripedHistogram& ours_x = ours.Add({{"a", "x"}, {"b", "1"}}, c.bounds);
    StripedHistogram& ours_y = ours.Add({{"b", "1"}, {"a", "y"}}, c.bounds);
    for (size_t i = 0; i < c.values.size(); ++i) {
      (i % 2 ? theirs_y : theirs_x).Observe(c.values[i]);
      (i % 2 ? ours_y : ours_x).Observe(c.values[i]);
    }
    const std::string expected = Serialize(registry.Collect());
    EXPECT_EQ(Serialize({ours.Collect()}), expected) << c.name;
    EXPECT_NE(expected.find("h_seconds_bucket{a=\"y\",b=\"1\",le=\"+Inf\"}"), std::string::npos)
        << c.name << "\n"
        << expected;
  }
}

TEST(StripedCounterTest, ExpositionIsPrometheusCppsForTheSameIncrements) {
  prometheus::Registry registry;
  auto& theirs = prometheus::BuildCounter().Name("c_total").Help("Counted.").Register(registry);
  StripedFamily<StripedCounter> ours("c_total", "Counted.", prometheus::MetricType::Counter);
  for (int i = 0; i < 5; ++i) {
    theirs.Add({{"code", "200"}}).Increment();
    ours.Add({{"code", "200"}}).Increment();
  }
  theirs.Add({{"code", "404"}}).Increment(1000);
  ours.Add({{"code", "404"}}).Increment(1000);
  EXPECT_EQ(Serialize({ours.Collect()}), Serialize(registry.Collect()));
  EXPECT_EQ(ours.Add({{"code", "200"}}).Value(), 5u);
}

TEST(StripedHistogramTest, BucketsAreInclusiveUpperBounds) {
  StripedHistogram h({1, 2, 5});
  struct Step {
    double value;
    std::vector<uint64_t> cumulative;  // le=1, le=2, le=5, +Inf after observing `value`
  };
  const std::vector<Step> steps = {
      {1, {1, 1, 1, 1}},     {2, {1, 2, 2, 2}},         {1.0000001, {1, 3, 3, 3}},
      {5, {1, 3, 4, 4}},     {5.0000001, {1, 3, 4, 5}}, {-1, {2, 4, 5, 6}},
      {0.999, {3, 5, 6, 7}},
  };
  double sum = 0;
  for (const Step& step : steps) {
    h.Observe(step.value);
    sum += step.value;
    const prometheus::ClientMetric m = h.Collect();
    ASSERT_EQ(m.histogram.bucket.size(), 4u);
    std::vector<uint64_t> got;
    for (const prometheus::ClientMetric::Bucket& b : m.histogram.bucket) {
      got.push_back(b.cumulative_count);
    }
    EXPECT_EQ(got, step.cumulative) << "after " << step.value;
    EXPECT_EQ(m.histogram.sample_count, step.cumulative.back());
    EXPECT_DOUBLE_EQ(m.histogram.sample_sum, sum);
    EXPECT_EQ(m.histogram.bucket[1].upper_bound, 2);
    EXPECT_TRUE(std::isinf(m.histogram.bucket[3].upper_bound));
  }
}

TEST(StripedHistogramTest, BoundsMustIncreaseStrictly) {
  EXPECT_THROW(StripedHistogram({1, 1}), std::invalid_argument);
  EXPECT_THROW(StripedHistogram({2, 1, 3}), std::invalid_argument);
  EXPECT_NO_THROW(StripedHistogram({-1, 0, 1}));
}

// More threads than stripes, so some share one: every observation is counted once, the sum is
// exact (quarters add exactly), and a scraper running meanwhile never sees a count go down or
// a _count other than the +Inf bucket.
TEST(StripedMetricsTest, ConcurrentObservationsFromManyThreadsSumExactly) {
  const std::vector<double> bounds = {0.5, 1, 2.5, 5, 7.5};
  StripedHistogram h(bounds);
  StripedCounter counter;
  const int threads = static_cast<int>(observability::kStripes) + 4;
  const int per_thread = 20000;
  auto value = [](int t, int i) { return ((t * 7 + i) % 40) * 0.25; };  // 0 .. 9.75

  std::atomic<bool> done{false};
  int scrapes = 0;
  std::thread scraper([&] {
    std::vector<uint64_t> last(bounds.size() + 1, 0);
    while (!done.load()) {
      const prometheus::ClientMetric m = h.Collect();
      ASSERT_EQ(m.histogram.sample_count, m.histogram.bucket.back().cumulative_count);
      for (size_t b = 0; b < last.size(); ++b) {
        ASSERT_GE(m.histogram.bucket[b].cumulative_count, last[b]) << "bucket " << b;
        if (b > 0) {
          ASSERT_GE(m.histogram.bucket[b].cumulative_count,
                    m.histogram.bucket[b - 1].cumulative_count);
        }
        last[b] = m.histogram.bucket[b].cumulative_count;
      }
      ++scrapes;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        h.Observe(value(t, i));
        counter.Increment();
      }
    });
  }
  for (std::thread& w : writers) w.join();
  done = true;
  scraper.join();

  std::vector<uint64_t> expected(bounds.size() + 1, 0);
  double expected_sum = 0;
  for (int t = 0; t < threads; ++t) {
    for (int i = 0; i < per_thread; ++i) {
      const double v = value(t, i);
      size_t b = 0;
      while (b < bounds.size() && v > bounds[b]) ++b;
      ++expected[b];
      expected_sum += v;
    }
  }
  for (size_t b = 1; b < expected.size(); ++b) expected[b] += expected[b - 1];
  const prometheus::ClientMetric m = h.Collect();
  std::vector<uint64_t> got;
  for (const prometheus::ClientMetric::Bucket& b : m.histogram.bucket) {
    got.push_back(b.cumulative_count);
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(m.histogram.sample_count, uint64_t(threads) * per_thread);
  EXPECT_EQ(m.histogram.sample_sum, expected_sum) << "quarters add exactly in any order";
  EXPECT_EQ(counter.Value(), uint64_t(threads) * per_thread);
  EXPECT_GT(scrapes, 0);
}

TEST(StripedFamilyTest, OneSeriesPerLabelSetAndNoFamilyWithoutSeries) {
  StripedFamily<StripedCounter> family("f_total", "Help.", prometheus::MetricType::Counter);
  std::vector<prometheus::MetricFamily> out;
  family.CollectInto(out);
  EXPECT_TRUE(out.empty()) << "prometheus-cpp's registry leaves an empty family out";
  StripedCounter& a = family.Add({{"k", "1"}});
  EXPECT_EQ(&family.Add({{"k", "1"}}), &a);
  EXPECT_NE(&family.Add({{"k", "2"}}), &a);
  a.Increment(3);
  family.CollectInto(out);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].metric.size(), 2u);
  EXPECT_EQ(out[0].metric[0].counter.value, 3);
  EXPECT_EQ(out[0].metric[0].label[0].value, "1");
}

// Striped families reach /metrics through CollectFamilies, and leave when it is released.
TEST(StripedFamilyTest, CollectFamiliesExportsThemWhenScraped) {
  StripedFamily<StripedCounter> counters("meridian_striped_test_total", "Help.",
                                         prometheus::MetricType::Counter);
  StripedFamily<StripedHistogram> histograms("meridian_striped_test_seconds", "Help.",
                                             prometheus::MetricType::Histogram);
  auto registration = observability::CollectFamilies(counters, histograms);
  EXPECT_EQ(observability::ExpositionText().find("meridian_striped_test"), std::string::npos);
  counters.Add({{"k", "v"}}).Increment(2);
  histograms.Add({}, std::vector<double>{1}).Observe(0.5);
  const std::string text = observability::ExpositionText();
  EXPECT_NE(text.find("meridian_striped_test_total{k=\"v\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("meridian_striped_test_seconds_bucket{le=\"1\"} 1\n"), std::string::npos)
      << text;
  registration.reset();
  EXPECT_EQ(observability::ExpositionText().find("meridian_striped_test"), std::string::npos);
}

}  // namespace
}  // namespace meridian
