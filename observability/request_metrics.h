// Kubernetes' API server request metrics for a RestHandler (apimachinery/rest/rest_handler.h),
// under kube-apiserver's names so its dashboards and alerts read them:
//   apiserver_request_total{verb,group,version,resource,subresource,scope,component,code}
//   apiserver_request_duration_seconds{verb,group,version,resource,subresource,scope,component}
//     (kube-apiserver's buckets; watches are left out, their duration is the watch's life)
//   apiserver_current_inflight_requests{request_kind="readOnly"|"mutating"} (watches excluded,
//     as from --max-requests-inflight)
//   apiserver_registered_watchers (the handler's open watch streams, read when scraped)
// Verbs are kube-apiserver's: GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE; a path
// outside the registry counts with resource "" (so a client cannot grow the label set).
// Extra labels (membersim: cluster=NAME) are added to every series.
//
// Hooks: Observer() sees each response (RestHandler::SetObserver, or Chain it before the
// audit stage); Filter() must run first among the filters so that it counts requests other
// filters refuse too. The filter classifies the request once (request_class.h: views of the
// path, no allocation) and finds its class's series (a small per-thread cache, no lock; else
// one hash map under a shared lock; created once); its in-flight hold carries both to the
// observer, which then only picks the response code's counter from a fixed slot and observes
// the duration. A request the filter did not see (a watch, a route served before the
// filters) is classified by the observer itself. The series are striped_metrics.h's (no
// lock, integer adds on the calling thread's stripe), in three process-wide families that
// every instance shares (membersim has one per cluster) and one scrape-time collector
// exports: the exposition is what prometheus-cpp's series wrote.
//
// Thread-safety: thread-safe. The registry and the handler must outlive this object.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "apimachinery/resource_registry.h"
#include "apimachinery/rest/rest_handler.h"
#include "common/clock.h"
#include "observability/metrics.h"
#include "observability/request_class.h"
#include "observability/striped_metrics.h"

namespace meridian::observability {

// What the metrics label a request with, from its method, path and query.
struct RequestLabels {
  std::string verb;   // GET LIST WATCH POST PUT PATCH APPLY DELETE, or the method
  std::string group;  // "" for core and non-resource paths
  std::string version;
  std::string resource;     // a registered plural, or "" (non-resource or unknown)
  std::string subresource;  // "status", "scale" or ""
  std::string scope;        // "resource" (one object), "namespace", "cluster", or ""
};

// Pure: the labels of a request to `path` (relative to the handler's base path).
RequestLabels LabelRequest(const apimachinery::ResourceRegistry& registry,
                           const std::string& method, const std::string& path,
                           const std::string& watch_param, const std::string& content_type);

class InFlightGauge;        // request_metrics.cc
struct RequestClassSeries;  // request_metrics.cc: the series of one RequestClass

class RequestMetrics {
 public:
  RequestMetrics(const apimachinery::ResourceRegistry& registry, const Clock& clock,
                 std::string base_path = "", std::map<std::string, std::string> extra_labels = {});
  ~RequestMetrics();
  RequestMetrics(const RequestMetrics&) = delete;
  RequestMetrics& operator=(const RequestMetrics&) = delete;

  // Counts a response (total, duration).
  void Observe(const apimachinery::rest::RestRequest& request, int code, Timestamp received);
  apimachinery::rest::RestObserver Observer();
  // Counts the request in flight until it is served (RestRequest::holds; watches are left
  // out), and leaves its class and series in that hold for Observe.
  apimachinery::rest::RestFilter Filter();
  // Reports `handler`'s open watches as apiserver_registered_watchers while the returned
  // registration lives (destroy it before the handler).
  std::unique_ptr<CollectorRegistration> CollectWatchers(
      const apimachinery::rest::RestHandler& handler);

  // `first` then `second` (either may be empty).
  static apimachinery::rest::RestObserver Chain(apimachinery::rest::RestObserver first,
                                                apimachinery::rest::RestObserver second);

 private:
  // The class of `request`, whose path relative to the base path is `path`.
  RequestClass Classify(const apimachinery::rest::RestRequest& request,
                        std::string_view path) const;
  // The series of a class (RequestClass::SeriesKey): created on first use, kept for this
  // object's life.
  RequestClassSeries& SeriesOf(uint64_t key);
  // The request counter of `series` for `code`: a fixed slot for the usual codes, else one
  // lookup under the lock; created on first use.
  StripedCounter& CounterFor(RequestClassSeries& series, int code);
  // The duration histogram of `series`: created on first use.
  StripedHistogram& DurationFor(RequestClassSeries& series);
  void Count(RequestClassSeries& series, int code, Timestamp received);
  std::map<std::string, std::string> LabelsOf(uint64_t key) const;
  std::map<std::string, std::string> WithExtra(std::map<std::string, std::string> labels) const;

  const apimachinery::ResourceRegistry& registry_;
  const Clock& clock_;
  const uint64_t instance_;  // this object's number in SeriesOf's per-thread cache
  const std::string base_path_;
  const std::map<std::string, std::string> extra_labels_;
  InFlightGauge& inflight_read_;
  InFlightGauge& inflight_mutating_;
  // Guards classes_ and each class's `other_codes`.
  mutable std::shared_mutex mu_;
  std::unordered_map<uint64_t, std::unique_ptr<RequestClassSeries>> classes_;  // by key
};

}  // namespace meridian::observability
