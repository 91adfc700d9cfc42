// The request metrics' classification of a request (request_class.h, pure: table-driven) and
// how RequestMetrics carries it from the in-flight filter to the observer: one class per
// request, a copied request in flight once, no series for a request that is never observed
// (a gRPC service without an observer runs the filters only), codes with and without a fixed slot.
#include "observability/request_class.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
#include "apimachinery/rest/rest_handler.h"
#include "common/clock.h"
#include "observability/metrics.h"
#include "observability/request_metrics.h"
#include "test/observability/exposition.h"

namespace meridian {
namespace {

namespace rest = apimachinery::rest;
using observability::RequestClass;
using observability::RequestVerb;
using test_metrics::Value;

apimachinery::ResourceInfo Widgets() {
  apimachinery::ResourceInfo info;
  info.group = "example.meridian.io";
  info.version = "v1";
  info.kind = "Widget";
  info.plural = "widgets";
  info.singular = "widget";
  info.namespaced = true;
  info.has_status = true;
  return info;
}

apimachinery::ResourceRegistry Registry() {
  apimachinery::ResourceRegistry registry;
  EXPECT_TRUE(registry.Add(apimachinery::NamespaceResourceInfo()).ok());
  EXPECT_TRUE(registry.Add(Widgets()).ok());
  return registry;
}

TEST(ClassifyRequestTest, VerbsScopesAndLongRunningRequests) {
  const apimachinery::ResourceRegistry registry = Registry();
  const int namespaces = 0, widgets = 1;
  const std::string w = "/apis/example.meridian.io/v1";
  struct Case {
    std::string method, path, watch, content_type;
    RequestVerb verb;
    int resource;
    uint8_t subresource, scope;
    bool long_running, mutating;
  };
  const std::vector<Case> cases = {
      {"GET", w + "/namespaces/a/widgets/x", "", "", RequestVerb::kGet, widgets, 0, 1, false,
       false},
      {"GET", w + "/namespaces/a/widgets", "", "", RequestVerb::kList, widgets, 0, 2, false, false},
      {"GET", w + "/widgets", "", "", RequestVerb::kList, widgets, 0, 3, false, false},
      {"HEAD", w + "/widgets", "", "", RequestVerb::kList, widgets, 0, 3, false, false},
      {"GET", w + "/namespaces/a/widgets", "true", "", RequestVerb::kWatch, widgets, 0, 2, true,
       false},
      {"GET", w + "/widgets", "1", "", RequestVerb::kWatch, widgets, 0, 3, true, false},
      {"GET", w + "/widgets", "false", "", RequestVerb::kList, widgets, 0, 3, false, false},
      {"GET", w + "/watch/namespaces/a/widgets", "", "", RequestVerb::kWatch, widgets, 0, 2, true,
       false},
      // A watch of an unknown resource is long-running but counted under resource "".
      {"GET", w + "/watch/gadgets", "", "", RequestVerb::kGet, -1, 0, 0, true, false},
      // A namespace called "watch" is a name, not a watch.
      {"GET", "/api/v1/namespaces/watch", "", "", RequestVerb::kGet, namespaces, 0, 1, false,
       false},
      {"POST", w + "/namespaces/a/widgets", "", "application/json", RequestVerb::kPost, widgets, 0,
       2, false, true},
      {"PUT", w + "/namespaces/a/widgets/x/status", "", "", RequestVerb::kPut, widgets, 1, 1, false,
       true},
      {"PATCH", w + "/namespaces/a/widgets/x/scale", "", "application/merge-patch+json",
       RequestVerb::kPatch, widgets, 2, 1, false, true},
      {"PATCH", w + "/namespaces/a/widgets/x", "", "application/apply-patch+yaml",
       RequestVerb::kApply, widgets, 0, 1, false, true},
      {"DELETE", "/api/v1/namespaces/a", "", "", RequestVerb::kDelete, namespaces, 0, 1, false,
       true},
      {"DELETE", w + "/namespaces/a/widgets", "", "", RequestVerb::kDelete, widgets, 0, 2, false,
       true},
      // Paths outside the registry: resource -1, no subresource or scope.
      {"GET", "/metrics", "true", "", RequestVerb::kGet, -1, 0, 0, true, false},
      {"GET", "/api/v2/namespaces", "", "", RequestVerb::kGet, -1, 0, 0, false, false},
      {"GET", w + "/namespaces/a/gadgets/x/status", "", "", RequestVerb::kGet, -1, 0, 0, false,
       false},
      {"GET", "//api//v1///namespaces/", "", "", RequestVerb::kList, namespaces, 0, 3, false,
       false},
      {"OPTIONS", "/api", "", "", RequestVerb::kOther, -1, 0, 0, false, false},
      {"get", "/api/v1/namespaces", "", "", RequestVerb::kOther, namespaces, 0, 3, false, false},
      {"", "", "", "", RequestVerb::kOther, -1, 0, 0, false, false},
  };
  for (const Case& c : cases) {
    const RequestClass got =
        observability::ClassifyRequest(registry, c.method, c.path, c.watch, c.content_type);
    const std::string what = c.method + " " + c.path + " watch=" + c.watch;
    EXPECT_EQ(got.verb, c.verb) << what;
    EXPECT_EQ(got.resource, c.resource) << what;
    EXPECT_EQ(got.subresource, c.subresource) << what;
    EXPECT_EQ(got.scope, c.scope) << what;
    EXPECT_EQ(got.long_running, c.long_running) << what;
    EXPECT_EQ(got.mutating, c.mutating) << what;
  }
}

TEST(ClassifyRequestTest, EachClassHasItsOwnSeriesKey) {
  const apimachinery::ResourceRegistry registry = Registry();
  const std::string w = "/apis/example.meridian.io/v1";
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"GET", w + "/namespaces/a/widgets/x"},
      {"GET", w + "/namespaces/a/widgets"},
      {"GET", w + "/widgets"},
      {"PUT", w + "/namespaces/a/widgets/x"},
      {"PUT", w + "/namespaces/a/widgets/x/status"},
      {"GET", "/api/v1/namespaces/a"},
      {"GET", "/metrics"},
      {"DELETE", "/metrics"}};
  std::set<uint64_t> keys;
  for (const auto& [method, path] : requests) {
    keys.insert(observability::ClassifyRequest(registry, method, path, "", "").SeriesKey());
  }
  EXPECT_EQ(keys.size(), requests.size());
  // The same class from another object or namespace: the same key.
  EXPECT_EQ(observability::ClassifyRequest(registry, "GET", w + "/namespaces/b/widgets/y", "", "")
                .SeriesKey(),
            observability::ClassifyRequest(registry, "GET", w + "/namespaces/a/widgets/x", "", "")
                .SeriesKey());
}

TEST(CodeSlotTest, UsualCodesHaveSlotsOthersNone) {
  std::set<size_t> slots;
  for (int code : observability::kSlottedCodes) {
    const size_t slot = observability::CodeSlot(code);
    ASSERT_LT(slot, observability::kCodeSlots) << code;
    EXPECT_EQ(observability::kSlottedCodes[slot], code);
    slots.insert(slot);
  }
  EXPECT_EQ(slots.size(), observability::kCodeSlots) << "two codes share a slot";
  for (int code : {-1, 0, 100, 203, 418, 499, 502, 599, 600, 1000}) {
    EXPECT_EQ(observability::CodeSlot(code), observability::kCodeSlots) << code;
  }
}

// A handler over a MemoryStore with the request metrics' filter and observer, labelled with a
// cluster of its own so that each test reads only its own series (series live as long as the
// process).
class RequestMetricsHoldTest : public ::testing::Test {
 protected:
  RequestMetricsHoldTest() {
    EXPECT_TRUE(registry_.Add(apimachinery::NamespaceResourceInfo()).ok());
    EXPECT_TRUE(registry_.Add(Widgets()).ok());
    objects_ = std::make_unique<apimachinery::ObjectService>(store_, clock_, registry_);
    static int run = 0;
    cluster_ = "hold-test-" + std::to_string(++run);
    metrics_ = std::make_unique<observability::RequestMetrics>(
        registry_, clock_, "", std::map<std::string, std::string>{{"cluster", cluster_}});
    handler_ = std::make_unique<rest::RestHandler>(*objects_, clock_);
    handler_->AddFilter(metrics_->Filter());
    handler_->SetObserver(metrics_->Observer());
  }

  double Sample(const std::string& name, std::map<std::string, std::string> labels) {
    labels["cluster"] = cluster_;
    return Value(observability::ExpositionText(), name, labels);
  }
  double InFlight(const std::string& kind) {
    return Sample("apiserver_current_inflight_requests", {{"request_kind", kind}});
  }
  static rest::RestRequest Request(const std::string& method, const std::string& path) {
    rest::RestRequest r;
    r.method = method;
    r.path = path;
    r.headers["content-type"] = "application/json";
    return r;
  }

  apimachinery::ResourceRegistry registry_;
  apimachinery::MemoryStore store_;
  FakeClock clock_;
  std::unique_ptr<apimachinery::ObjectService> objects_;
  std::string cluster_;
  std::unique_ptr<observability::RequestMetrics> metrics_;
  std::unique_ptr<rest::RestHandler> handler_;
};

TEST_F(RequestMetricsHoldTest, ServedRequestsAreCountedOnceAndLeaveNothingInFlight) {
  rest::RestRequest create = Request("POST", "/api/v1/namespaces");
  create.body = R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}})";
  ASSERT_EQ(handler_->Handle(create).code, 201);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(handler_->Handle(Request("GET", "/api/v1/namespaces/shop")).code, 200);
  }
  ASSERT_EQ(handler_->Handle(Request("GET", "/api/v1/namespaces/gone")).code, 404);
  EXPECT_EQ(Sample("apiserver_request_total", {{"verb", "POST"}, {"code", "201"}}), 1);
  EXPECT_EQ(Sample("apiserver_request_total",
                   {{"verb", "GET"}, {"resource", "namespaces"}, {"scope", "resource"}}),
            4);
  EXPECT_EQ(Sample("apiserver_request_total", {{"verb", "GET"}, {"code", "200"}}), 3);
  EXPECT_EQ(Sample("apiserver_request_total", {{"verb", "GET"}, {"code", "404"}}), 1);
  EXPECT_EQ(Sample("apiserver_request_duration_seconds_count",
                   {{"verb", "GET"}, {"resource", "namespaces"}}),
            4);
  EXPECT_EQ(InFlight("readOnly"), 0);
  EXPECT_EQ(InFlight("mutating"), 0);
}

TEST_F(RequestMetricsHoldTest, ACopiedRequestIsInFlightOnceUntilItsLastCopyGoes) {
  rest::RestFilter filter = metrics_->Filter();
  auto request = std::make_unique<rest::RestRequest>(Request("PUT", "/api/v1/namespaces/a"));
  ASSERT_TRUE(filter(*request).ok());
  auto copy = std::make_unique<rest::RestRequest>(*request);
  EXPECT_EQ(InFlight("mutating"), 1);
  request.reset();
  EXPECT_EQ(InFlight("mutating"), 1) << "a copy still holds it";
  metrics_->Observe(*copy, 200, clock_.Now());
  EXPECT_EQ(Sample("apiserver_request_total", {{"verb", "PUT"}, {"code", "200"}}), 1);
  copy.reset();
  EXPECT_EQ(InFlight("mutating"), 0);
}

TEST_F(RequestMetricsHoldTest, ARequestThatIsNeverObservedCreatesNoSeries) {
  // As a gRPC service without an observer does: the filters only.
  rest::RestRequest request = Request("DELETE", "/apis/example.meridian.io/v1/widgets");
  ASSERT_TRUE(metrics_->Filter()(request).ok());
  EXPECT_EQ(InFlight("mutating"), 1);
  request.holds.clear();
  EXPECT_EQ(InFlight("mutating"), 0);
  EXPECT_EQ(Sample("apiserver_request_total", {{"verb", "DELETE"}}), -1);
  EXPECT_EQ(Sample("apiserver_request_duration_seconds_count", {{"verb", "DELETE"}}), -1);
}

TEST_F(RequestMetricsHoldTest, TheObserverCountsTheClassTheFilterSaw) {
  rest::RestRequest request = Request("GET", "/api/v1/namespaces/a");
  ASSERT_TRUE(metrics_->Filter()(request).ok());
  // A later stage rewriting the request does not move it to another series.
  request.path = "/api/v1/namespaces";
  const Timestamp received = clock_.Now();
  clock_.Advance(std::chrono::milliseconds(30));
  metrics_->Observe(request, 200, received);
  EXPECT_EQ(Sample("apiserver_request_total", {{"verb", "GET"}, {"scope", "resource"}}), 1);
  EXPECT_EQ(Sample("apiserver_request_total", {{"verb", "LIST"}}), -1);
  // 30 ms on the injected clock: in the bucket up to 0.05 s, not in the one up to 0.025 s.
  double below = -1, within = -1;
  for (const test_metrics::Sample& sample :
       test_metrics::ParseSamples(observability::ExpositionText())) {
    if (sample.name != "apiserver_request_duration_seconds_bucket" ||
        sample.labels.count("cluster") == 0 || sample.labels.at("cluster") != cluster_) {
      continue;
    }
    const double le = std::stod(sample.labels.at("le"));
    if (le > 0.024 && le < 0.026) below = sample.value;
    if (le > 0.049 && le < 0.051) within = sample.value;
  }
  EXPECT_EQ(below, 0);
  EXPECT_EQ(within, 1);
  EXPECT_EQ(Sample("apiserver_request_duration_seconds_count", {{"verb", "GET"}}), 1);
  EXPECT_NEAR(Sample("apiserver_request_duration_seconds_sum", {{"verb", "GET"}}), 0.03, 1e-9);
}

TEST_F(RequestMetricsHoldTest, WatchesAreCountedWithoutDurationAndNotInFlight) {
  rest::RestRequest watch = Request("GET", "/api/v1/namespaces");
  watch.query["watch"] = "true";
  ASSERT_TRUE(metrics_->Filter()(watch).ok());
  EXPECT_TRUE(watch.holds.empty());
  EXPECT_EQ(InFlight("readOnly"), 0);
  metrics_->Observe(watch, 200, clock_.Now());
  EXPECT_EQ(Sample("apiserver_request_total", {{"verb", "WATCH"}, {"code", "200"}}), 1);
  EXPECT_EQ(Sample("apiserver_request_duration_seconds_count", {{"verb", "WATCH"}}), -1);
}

TEST_F(RequestMetricsHoldTest, CodesWithoutASlotAreCountedToo) {
  for (int code : {418, 418, 200, 502}) {
    rest::RestRequest request = Request("GET", "/api/v1/namespaces/a");
    ASSERT_TRUE(metrics_->Filter()(request).ok());
    metrics_->Observe(request, code, clock_.Now());
  }
  EXPECT_EQ(Sample("apiserver_request_total", {{"code", "418"}}), 2);
  EXPECT_EQ(Sample("apiserver_request_total", {{"code", "200"}}), 1);
  EXPECT_EQ(Sample("apiserver_request_total", {{"code", "502"}}), 1);
  EXPECT_EQ(Sample("apiserver_request_duration_seconds_count", {{"verb", "GET"}}), 4);
}

}  // namespace
}  // namespace meridian
