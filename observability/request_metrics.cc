#include "observability/request_metrics.h"

#include <array>
#include <atomic>
#include <mutex>

namespace meridian::observability {
namespace {

namespace rest = apimachinery::rest;

// Each RequestMetrics' number in SeriesFor's per-thread cache; never reused, so a cached entry
// of a destroyed instance cannot be taken for a new one's.
std::atomic<uint64_t> next_instance{1};

// Keys looked up per request, built once (std::map<std::string, ...>::find takes a string).
const std::string kWatch = "watch";
const std::string kContentType = "content-type";

constexpr std::array<const char*, 9> kVerbs = {"GET",   "LIST",  "WATCH",  "POST", "PUT",
                                               "PATCH", "APPLY", "DELETE", "OTHER"};
constexpr std::array<const char*, 3> kSubresources = {"", "status", "scale"};
constexpr std::array<const char*, 4> kScopes = {"", "resource", "namespace", "cluster"};

// A request reduced to small indices: the series key, without building a string.
struct Classified {
  uint32_t verb = 8;
  int32_t resource = -1;  // index into registry.All()
  uint32_t subresource = 0;
  uint32_t scope = 0;
  bool watch = false;
  bool mutating = false;
};

uint64_t KeyOf(const Classified& c) {
  return (uint64_t{c.verb} << 40) | (uint64_t(uint32_t(c.resource + 1)) << 8) |
         (uint64_t{c.subresource} << 4) | c.scope;
}

// "/a/b/c" as views, without allocating; segments past the 16th are dropped (no resource
// path has that many).
struct Segments {
  std::array<std::string_view, 16> items;
  size_t count = 0;
  explicit Segments(std::string_view path) {
    size_t i = 0;
    while (i < path.size() && count < items.size()) {
      if (path[i] == '/') {
        ++i;
        continue;
      }
      size_t end = path.find('/', i);
      if (end == std::string_view::npos) end = path.size();
      items[count++] = path.substr(i, end - i);
      i = end;
    }
  }
  size_t size() const { return count; }
  std::string_view operator[](size_t i) const { return items[i]; }
};

int FindResource(const apimachinery::ResourceRegistry& registry, std::string_view group,
                 std::string_view version, std::string_view plural) {
  const std::vector<apimachinery::ResourceInfo>& all = registry.All();
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].plural == plural && all[i].group == group && all[i].version == version) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

Classified Classify(const apimachinery::ResourceRegistry& registry, std::string_view method,
                    std::string_view path, std::string_view watch_param,
                    std::string_view content_type) {
  Classified c;
  c.mutating = method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
  const Segments segs(path);
  std::string_view group, version;
  size_t at = 0;
  if (segs.size() >= 2 && segs[0] == "api") {
    version = segs[1];
    at = 2;
  } else if (segs.size() >= 3 && segs[0] == "apis") {
    group = segs[1];
    version = segs[2];
    at = 3;
  }
  bool watch = watch_param == "true" || watch_param == "1";
  bool has_name = false;
  if (at > 0 && at < segs.size()) {
    if (segs[at] == "watch") {
      watch = true;
      ++at;
    }
    bool namespaced = false;
    if (segs.size() >= at + 3 && segs[at] == "namespaces" &&
        FindResource(registry, group, version, segs[at + 2]) >= 0) {
      namespaced = true;
      at += 2;
    }
    if (at < segs.size()) {
      c.resource = FindResource(registry, group, version, segs[at]);
      has_name = at + 1 < segs.size();
      if (at + 2 < segs.size()) {
        if (segs[at + 2] == "status") c.subresource = 1;
        if (segs[at + 2] == "scale") c.subresource = 2;
      }
      c.scope = has_name ? 1 : namespaced ? 2 : 3;
    }
  }
  if (method == "GET" || method == "HEAD") {
    c.watch = watch && c.resource >= 0;
    c.verb = c.watch ? 2 : (c.resource >= 0 && !has_name) ? 1 : 0;
  } else if (method == "POST") {
    c.verb = 3;
  } else if (method == "PUT") {
    c.verb = 4;
  } else if (method == "PATCH") {
    c.verb = content_type.find("apply-patch") != std::string_view::npos ? 6 : 5;
  } else if (method == "DELETE") {
    c.verb = 7;
  }
  if (c.resource < 0) c.subresource = c.scope = 0;
  return c;
}

}  // namespace

// apiserver_current_inflight_requests of one kind. A hold is the request's (RestRequest::holds):
// copies of a request share it, and it counts down when the last copy is released, on any
// thread, observed or not (the gRPC service runs the filters without the observer). An integer
// add, not prometheus-cpp's compare-and-swap loop on a double.
class InFlightGauge {
 public:
  InFlightGauge() = default;
  InFlightGauge(const InFlightGauge&) = delete;
  InFlightGauge& operator=(const InFlightGauge&) = delete;

  std::shared_ptr<void> Hold() {
    value_.fetch_add(1, std::memory_order_relaxed);
    return std::shared_ptr<void>(this, [](void* gauge) {
      static_cast<InFlightGauge*>(gauge)->value_.fetch_sub(1, std::memory_order_relaxed);
    });
  }
  prometheus::ClientMetric Collect() const {
    prometheus::ClientMetric metric;
    metric.gauge.value = static_cast<double>(value_.load(std::memory_order_relaxed));
    return metric;
  }

 private:
  std::atomic<int64_t> value_{0};
};

namespace {

// The families every RequestMetrics writes into, under kube-apiserver's names and help, and
// the one collector that exports them. Created with the first instance, kept until exit like
// their series.
struct ApiserverFamilies {
  StripedFamily<StripedCounter> total{
      "apiserver_request_total",
      "Counter of apiserver requests broken out for each verb, group, version, resource, scope, "
      "component, and HTTP response code.",
      prometheus::MetricType::Counter};
  StripedFamily<StripedHistogram> duration{
      "apiserver_request_duration_seconds",
      "Response latency distribution in seconds for each verb, group, version, resource, "
      "subresource, scope and component.",
      prometheus::MetricType::Histogram};
  StripedFamily<InFlightGauge> inflight{
      "apiserver_current_inflight_requests",
      "Maximal number of currently used inflight request limit of this apiserver per request "
      "kind in last second.",
      prometheus::MetricType::Gauge};
  std::unique_ptr<CollectorRegistration> registration =
      CollectFamilies(total, duration, inflight);
};

ApiserverFamilies& Families() {
  static ApiserverFamilies* families = new ApiserverFamilies();  // series outlive instances
  return *families;
}

}  // namespace

RequestLabels LabelRequest(const apimachinery::ResourceRegistry& registry,
                           const std::string& method, const std::string& path,
                           const std::string& watch_param, const std::string& content_type) {
  Classified c = Classify(registry, method, path, watch_param, content_type);
  RequestLabels out;
  out.verb = kVerbs[c.verb];
  if (c.resource >= 0) {
    const apimachinery::ResourceInfo& info = registry.All()[c.resource];
    out.group = info.group;
    out.version = info.version;
    out.resource = info.plural;
  }
  out.subresource = kSubresources[c.subresource];
  out.scope = kScopes[c.scope];
  return out;
}

RequestMetrics::RequestMetrics(const apimachinery::ResourceRegistry& registry, const Clock& clock,
                               std::string base_path,
                               std::map<std::string, std::string> extra_labels)
    : registry_(registry),
      clock_(clock),
      instance_(next_instance.fetch_add(1)),
      base_path_(std::move(base_path)),
      extra_labels_(std::move(extra_labels)),
      inflight_read_(Families().inflight.Add(WithExtra({{"request_kind", "readOnly"}}))),
      inflight_mutating_(Families().inflight.Add(WithExtra({{"request_kind", "mutating"}}))) {}

std::map<std::string, std::string> RequestMetrics::WithExtra(
    std::map<std::string, std::string> labels) const {
  for (const auto& [k, v] : extra_labels_) labels[k] = v;
  return labels;
}

std::map<std::string, std::string> RequestMetrics::LabelsOf(uint64_t key) const {
  const uint32_t verb = static_cast<uint32_t>(key >> 40);
  const int resource = static_cast<int>((key >> 8) & 0xffffffff) - 1;
  std::map<std::string, std::string> labels = {{"verb", kVerbs[verb]},
                                               {"group", ""},
                                               {"version", ""},
                                               {"resource", ""},
                                               {"subresource", kSubresources[(key >> 4) & 0xf]},
                                               {"scope", kScopes[key & 0xf]},
                                               {"component", "apiserver"}};
  if (resource >= 0) {
    const apimachinery::ResourceInfo& info = registry_.All()[resource];
    labels["group"] = info.group;
    labels["version"] = info.version;
    labels["resource"] = info.plural;
  }
  return WithExtra(std::move(labels));
}

RequestMetrics::Series RequestMetrics::SeriesFor(uint64_t key, int code) {
  const uint64_t full = (key << 12) | static_cast<uint64_t>(code & 0xfff);
  // The series of recent requests, per thread: the usual request takes no lock at all (the
  // shared lock's reader count is one cache line that every HTTP thread would write). Series
  // live as long as their RequestMetrics, so a hit for this instance is always valid.
  struct Cached {
    uint64_t instance = 0;
    uint64_t full = 0;
    Series series;
  };
  thread_local std::array<Cached, 16> cache;
  Cached& slot = cache[(full ^ (full >> 12) ^ (full >> 40) ^ instance_) % cache.size()];
  if (slot.instance == instance_ && slot.full == full) return slot.series;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = series_.find(full);
    if (it != series_.end()) {
      slot = {instance_, full, it->second};
      return it->second;
    }
  }
  // First request of its kind: build the labels and create the series (rare).
  std::map<std::string, std::string> labels = LabelsOf(key);
  std::map<std::string, std::string> with_code = labels;
  with_code["code"] = std::to_string(code);
  std::unique_lock<std::shared_mutex> lock(mu_);
  StripedHistogram*& histogram = durations_[key];
  if (histogram == nullptr) {
    histogram = &Families().duration.Add(labels, ApiserverRequestDurationBuckets());
  }
  Series& series = series_[full];
  if (series.total == nullptr) series = {&Families().total.Add(with_code), histogram};
  slot = {instance_, full, series};
  return series;
}

void RequestMetrics::Observe(const rest::RestRequest& request, int code, Timestamp received) {
  std::string_view path = request.path;
  if (!base_path_.empty()) {
    if (path.substr(0, base_path_.size()) != base_path_) return;
    path.remove_prefix(base_path_.size());
  }
  // Only a GET can be a watch and only a PATCH an apply: skip the other map lookups.
  std::string_view watch, content_type;
  if (request.method == "GET") {
    auto it = request.query.find(kWatch);
    if (it != request.query.end()) watch = it->second;
  } else if (request.method == "PATCH") {
    auto it = request.headers.find(kContentType);
    if (it != request.headers.end()) content_type = it->second;
  }
  Classified c = Classify(registry_, request.method, path, watch, content_type);
  const Series series = SeriesFor(KeyOf(c), code);
  series.total->Increment();
  if (!c.watch) {
    const double seconds = std::chrono::duration<double>(clock_.Now() - received).count();
    series.duration->Observe(seconds < 0 ? 0 : seconds);
  }
}

rest::RestObserver RequestMetrics::Observer() {
  return [this](const rest::RestRequest& request, rest::RestResponse& response,
                Timestamp received) { Observe(request, response.code, received); };
}

rest::RestFilter RequestMetrics::Filter() {
  return [this](rest::RestRequest& request) -> Status {
    const bool read = request.method == "GET";
    if (read) {
      auto watch = request.query.find(kWatch);
      if ((watch != request.query.end() && (watch->second == "true" || watch->second == "1")) ||
          request.path.find("/watch/") != std::string::npos) {
        return Status::Ok();  // long-running: not in the max-in-flight figures
      }
    }
    const bool mutating = !read && (request.method == "POST" || request.method == "PUT" ||
                                    request.method == "PATCH" || request.method == "DELETE");
    request.holds.push_back((mutating ? inflight_mutating_ : inflight_read_).Hold());
    return Status::Ok();
  };
}

std::unique_ptr<CollectorRegistration> RequestMetrics::CollectWatchers(
    const rest::RestHandler& handler) {
  return RegisterCollector([this, &handler] {
    prometheus::MetricFamily family =
        GaugeFamily("apiserver_registered_watchers", "Number of currently registered watchers.");
    AddSample(family, extra_labels_, static_cast<double>(handler.ActiveWatches()));
    return std::vector<prometheus::MetricFamily>{std::move(family)};
  });
}

rest::RestObserver RequestMetrics::Chain(rest::RestObserver first, rest::RestObserver second) {
  if (!first) return second;
  if (!second) return first;
  return [first = std::move(first), second = std::move(second)](
             const rest::RestRequest& request, rest::RestResponse& response, Timestamp received) {
    first(request, response, received);
    second(request, response, received);
  };
}

}  // namespace meridian::observability
