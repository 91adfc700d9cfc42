// Prometheus metrics for every Meridian binary (prometheus-cpp's core: families, counters,
// gauges, histograms; not its civetweb exposer). Each process has one registry; modules add
// their families to it once and keep the returned metric references (pre-resolved: the hot
// path increments an atomic, it never looks a series up by its labels); the series written on
// every request (API requests, DNS answers, placement decisions) are striped_metrics.h's
// lock-free ones, exported through the scrape-time collectors below. Each binary serves
// ExpositionText() on /metrics from its own HTTP server (the federation-apiserver behind its
// authentication and authorization, meridian-dns and the controller manager on
// --metrics-listen, see metrics_server.h).
//
// Names follow Kubernetes where Kubernetes has the same figure (apiserver_request_total,
// workqueue_depth, rest_client_requests_total, process_*), so existing dashboards and alerts
// read them; Meridian's own are meridian_*. Labels are bounded sets (verbs, resources,
// codes, members, regions, phases), never object names.
//
// Thread-safety: everything here is thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "observability/striped_metrics.h"

namespace meridian::observability {

// The process's registry. Families are created once (prometheus-cpp returns the existing
// family when the same name, help and labels are built again) and live as long as the process.
prometheus::Registry& Registry();

// The text exposition format 0.0.4 of the registry, the scrape-time collectors and the
// process metrics (process_cpu_seconds_total, process_resident_memory_bytes,
// process_open_fds, process_max_fds, process_virtual_memory_bytes,
// process_start_time_seconds, read from /proc at each call).
std::string ExpositionText();
inline constexpr char kExpositionContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Figures computed when scraped (fleet state read from the store, a server's own atomic
// counters): `collect` returns whole families. It runs on the scraping thread and must be
// thread-safe. The collector is unregistered when the returned handle is destroyed, which
// waits for a running collect to finish.
using CollectFunction = std::function<std::vector<prometheus::MetricFamily>()>;
class CollectorRegistration {
 public:
  virtual ~CollectorRegistration() = default;
};
std::unique_ptr<CollectorRegistration> RegisterCollector(CollectFunction collect);

// Exports striped families (striped_metrics.h; each must outlive the registration) when
// scraped, each only once it has a series.
template <typename... Families>
std::unique_ptr<CollectorRegistration> CollectFamilies(const Families&... families) {
  return RegisterCollector([&families...] {
    std::vector<prometheus::MetricFamily> out;
    (families.CollectInto(out), ...);
    return out;
  });
}

// Builders for scrape-time families.
prometheus::MetricFamily GaugeFamily(const std::string& name, const std::string& help);
prometheus::MetricFamily CounterFamily(const std::string& name, const std::string& help);
// Appends one series; `value` is read as the family's type (gauge or counter).
void AddSample(prometheus::MetricFamily& family, const std::map<std::string, std::string>& labels,
               double value);

// kube-apiserver's apiserver_request_duration_seconds buckets (k8s.io/apiserver metrics.go).
const std::vector<double>& ApiserverRequestDurationBuckets();
// client-go's workqueue latency buckets: 10^-8 .. 10^1 seconds, ten steps of x10.
const std::vector<double>& WorkqueueDurationBuckets();
// client-go's rest_client_request_duration_seconds buckets.
const std::vector<double>& RestClientDurationBuckets();

// meridian_placement_decision_duration_seconds: the placement engine's time for one
// FederatedWorkload (the placement controller observes it; its bench measures what that costs).
// Striped (striped_metrics.h): observed once per decision on the controller's workers.
StripedHistogram& PlacementDecisionSeconds();

// meridian_storage_writes_per_commit: how many writes each durable transaction of the embedded
// SQLite store carried (group commit: writes that queue while one commits share the next).
// Mostly 1 on a quiet server; larger under concurrent writers, each sharing one fsync.
StripedHistogram& StorageWritesPerCommit();

// The metrics of one client-go style work queue (sync/work_queue.h), labelled name=`name`:
// workqueue_depth, workqueue_adds_total, workqueue_queue_duration_seconds,
// workqueue_work_duration_seconds, workqueue_retries_total. Calling For twice with one name
// returns the same series.
struct WorkQueueMetrics {
  prometheus::Gauge* depth = nullptr;
  prometheus::Counter* adds = nullptr;
  prometheus::Histogram* queue_duration = nullptr;
  prometheus::Histogram* work_duration = nullptr;
  prometheus::Counter* retries = nullptr;
  static WorkQueueMetrics For(const std::string& name);
};

// client-go's member-client metrics: rest_client_requests_total{code,method,host} (code
// "<error>" when no answer came: a transport error or a deadline) and
// rest_client_request_duration_seconds{verb,host}. `host` is the member's host:port (bounded
// by the fleet). A network call's cost dwarfs the series lookup done here.
void ObserveRestClientRequest(const std::string& host, const std::string& method, int code,
                              double seconds);

}  // namespace meridian::observability
