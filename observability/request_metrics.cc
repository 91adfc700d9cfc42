#include "observability/request_metrics.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <new>
#include <utility>

namespace meridian::observability {
namespace {

namespace rest = apimachinery::rest;

// Each RequestMetrics' number in SeriesOf's per-thread cache; never reused, so a cached entry
// of a destroyed instance cannot be taken for a new one's.
std::atomic<uint64_t> next_instance{1};

// Keys looked up per request, built once (std::map<std::string, ...>::find takes a string).
const std::string kWatch = "watch";
const std::string kContentType = "content-type";

}  // namespace

// apiserver_current_inflight_requests of one kind: an integer add, not prometheus-cpp's
// compare-and-swap loop on a double. Requests hold it through a RequestTicket.
class InFlightGauge {
 public:
  InFlightGauge() = default;
  InFlightGauge(const InFlightGauge&) = delete;
  InFlightGauge& operator=(const InFlightGauge&) = delete;

  void Add(int64_t by) { value_.fetch_add(by, std::memory_order_relaxed); }
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

// The series of one RequestClass in one RequestMetrics: found once per request by the filter
// (or the observer), kept for the RequestMetrics' life.
struct RequestClassSeries {
  uint64_t key = 0;
  bool watch = false;  // verb WATCH: counted, no duration (the watch's life)
  // Series are created by the first response that needs them (not by the filter: a request
  // may be filtered and never observed, e.g. by a gRPC service without an observer, and a
  // series is never removed), written under the RequestMetrics' lock and read without it.
  std::atomic<StripedHistogram*> duration{nullptr};  // shared by every code
  // apiserver_request_total by CodeSlot(code).
  std::array<std::atomic<StripedCounter*>, kCodeSlots> slotted{};
  std::unordered_map<int, StripedCounter*> other_codes;  // under the RequestMetrics' lock
};

namespace {

// Memory for the tickets' shared_ptr control blocks, recycled per thread: once a thread has
// served a few requests a hold costs no malloc. A block released on another thread joins that
// thread's list; a list keeps at most kMaxFree blocks, the rest go back to the heap. The list
// itself is trivially destructible, so a block released while the thread's other thread_locals
// are being destroyed still finds it (and, once it is drained, goes to the heap).
namespace ticket_blocks {

constexpr size_t kBlockBytes = 64;
constexpr size_t kMaxFree = 256;

struct Free {
  Free* next;
};
struct List {
  Free* head = nullptr;
  size_t count = 0;
  bool drained = false;  // the thread is ending: blocks go back to the heap
};
constinit thread_local List list;

// Returns the list's blocks to the heap when the thread ends.
struct Drain {
  ~Drain() {
    while (list.head != nullptr) ::operator delete(std::exchange(list.head, list.head->next));
    list.count = 0;
    list.drained = true;
  }
};

void* Take() {
  if (list.head == nullptr) return ::operator new(kBlockBytes);
  --list.count;
  return std::exchange(list.head, list.head->next);
}

void Give(void* block) {
  if (list.drained || list.count == kMaxFree) return ::operator delete(block);
  [[maybe_unused]] thread_local Drain drain;  // registered with the first block kept
  list.head = new (block) Free{list.head};
  ++list.count;
}

}  // namespace ticket_blocks

template <typename T>
struct TicketAllocator {
  using value_type = T;
  TicketAllocator() = default;
  template <typename U>
  TicketAllocator(const TicketAllocator<U>&) {}  // NOLINT: rebinding, as allocators do
  T* allocate(size_t n) {
    static_assert(sizeof(T) <= ticket_blocks::kBlockBytes &&
                  alignof(T) <= alignof(std::max_align_t));
    if (n != 1) throw std::bad_alloc();  // shared_ptr asks for one control block
    return static_cast<T*>(ticket_blocks::Take());
  }
  void deallocate(T* block, size_t) { ticket_blocks::Give(block); }
  template <typename U>
  bool operator==(const TicketAllocator<U>&) const {
    return true;
  }
};

// The filter's hold on a request (RestRequest::holds), as a shared_ptr's deleter: copies of
// the request share it, and the in-flight count goes down when the last copy is released, on
// any thread, observed or not (a gRPC service without an observer runs the filters only). The
// observer finds it with std::get_deleter and counts the request in its series without
// classifying it again. Its control block comes from ticket_blocks.
struct RequestTicket {
  const RequestMetrics* owner = nullptr;
  InFlightGauge* gauge = nullptr;
  RequestClassSeries* series = nullptr;  // null: the path is outside the handler's base path
  void operator()(void*) const { gauge->Add(-1); }
};

// Only a GET can be a watch and only a PATCH an apply: the other map lookups are skipped.
std::string_view WatchParam(const rest::RestRequest& request) {
  if (request.method != "GET") return {};
  auto it = request.query.find(kWatch);
  return it == request.query.end() ? std::string_view() : std::string_view(it->second);
}
std::string_view ContentType(const rest::RestRequest& request) {
  if (request.method != "PATCH") return {};
  auto it = request.headers.find(kContentType);
  return it == request.headers.end() ? std::string_view() : std::string_view(it->second);
}

}  // namespace

RequestLabels LabelRequest(const apimachinery::ResourceRegistry& registry,
                           const std::string& method, const std::string& path,
                           const std::string& watch_param, const std::string& content_type) {
  const RequestClass c = ClassifyRequest(registry, method, path, watch_param, content_type);
  RequestLabels out;
  out.verb = kVerbLabels[static_cast<size_t>(c.verb)];
  if (c.resource >= 0) {
    const apimachinery::ResourceInfo& info = registry.All()[static_cast<size_t>(c.resource)];
    out.group = info.group;
    out.version = info.version;
    out.resource = info.plural;
  }
  out.subresource = kSubresourceLabels[c.subresource];
  out.scope = kScopeLabels[c.scope];
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

RequestMetrics::~RequestMetrics() = default;

std::map<std::string, std::string> RequestMetrics::WithExtra(
    std::map<std::string, std::string> labels) const {
  for (const auto& [k, v] : extra_labels_) labels[k] = v;
  return labels;
}

std::map<std::string, std::string> RequestMetrics::LabelsOf(uint64_t key) const {
  const size_t verb = static_cast<size_t>(key >> 40);
  const int resource = static_cast<int>((key >> 8) & 0xffffffff) - 1;
  std::map<std::string, std::string> labels = {
      {"verb", kVerbLabels[verb]},
      {"group", ""},
      {"version", ""},
      {"resource", ""},
      {"subresource", kSubresourceLabels[(key >> 4) & 0xf]},
      {"scope", kScopeLabels[key & 0xf]},
      {"component", "apiserver"}};
  if (resource >= 0) {
    const apimachinery::ResourceInfo& info = registry_.All()[static_cast<size_t>(resource)];
    labels["group"] = info.group;
    labels["version"] = info.version;
    labels["resource"] = info.plural;
  }
  return WithExtra(std::move(labels));
}

RequestClass RequestMetrics::Classify(const rest::RestRequest& request,
                                      std::string_view path) const {
  return ClassifyRequest(registry_, request.method, path, WatchParam(request),
                         ContentType(request));
}

RequestClassSeries& RequestMetrics::SeriesOf(uint64_t key) {
  // The classes of recent requests, per thread: the usual request takes no lock at all (the
  // shared lock's reader count is one cache line that every HTTP thread would write). Classes
  // live as long as their RequestMetrics, and instance numbers are never reused, so a hit for
  // this instance is always valid.
  struct Cached {
    uint64_t instance = 0;
    uint64_t key = 0;
    RequestClassSeries* series = nullptr;
  };
  thread_local std::array<Cached, 16> cache;
  Cached& slot = cache[(key ^ (key >> 8) ^ (key >> 40) ^ instance_) % cache.size()];
  if (slot.instance == instance_ && slot.key == key) return *slot.series;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = classes_.find(key);
    if (it != classes_.end()) {
      slot = {instance_, key, it->second.get()};
      return *it->second;
    }
  }
  // First request of its class (rare).
  std::unique_lock<std::shared_mutex> lock(mu_);
  std::unique_ptr<RequestClassSeries>& series = classes_[key];
  if (series == nullptr) {
    series = std::make_unique<RequestClassSeries>();
    series->key = key;
    series->watch = (key >> 40) == static_cast<uint64_t>(RequestVerb::kWatch);
  }
  slot = {instance_, key, series.get()};
  return *series;
}

StripedCounter& RequestMetrics::CounterFor(RequestClassSeries& series, int code) {
  const size_t slot = CodeSlot(code);
  if (slot < kCodeSlots) {
    if (StripedCounter* counter = series.slotted[slot].load(std::memory_order_acquire)) {
      return *counter;
    }
  } else {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = series.other_codes.find(code);
    if (it != series.other_codes.end()) return *it->second;
  }
  // First response of its class with this code (rare). The family keeps one series per
  // labels, so two threads racing here get the same counter.
  std::map<std::string, std::string> labels = LabelsOf(series.key);
  labels["code"] = std::to_string(code);
  StripedCounter& counter = Families().total.Add(labels);
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (slot < kCodeSlots) {
    series.slotted[slot].store(&counter, std::memory_order_release);
  } else {
    series.other_codes[code] = &counter;
  }
  return counter;
}

StripedHistogram& RequestMetrics::DurationFor(RequestClassSeries& series) {
  if (StripedHistogram* duration = series.duration.load(std::memory_order_acquire)) {
    return *duration;
  }
  // First observed response of its class (rare); the family dedups a racing thread's Add.
  StripedHistogram& duration =
      Families().duration.Add(LabelsOf(series.key), ApiserverRequestDurationBuckets());
  series.duration.store(&duration, std::memory_order_release);
  return duration;
}

void RequestMetrics::Count(RequestClassSeries& series, int code, Timestamp received) {
  CounterFor(series, code).Increment();
  if (!series.watch) {
    const double seconds = std::chrono::duration<double>(clock_.Now() - received).count();
    DurationFor(series).Observe(seconds < 0 ? 0 : seconds);
  }
}

void RequestMetrics::Observe(const rest::RestRequest& request, int code, Timestamp received) {
  // The filter's ticket, when it saw this request: its class and series are decided.
  for (const std::shared_ptr<void>& hold : request.holds) {
    const RequestTicket* ticket = std::get_deleter<RequestTicket>(hold);
    if (ticket != nullptr && ticket->owner == this) {
      if (ticket->series != nullptr) Count(*ticket->series, code, received);
      return;
    }
  }
  std::string_view path = request.path;
  if (!base_path_.empty()) {
    if (path.substr(0, base_path_.size()) != base_path_) return;
    path.remove_prefix(base_path_.size());
  }
  Count(SeriesOf(Classify(request, path).SeriesKey()), code, received);
}

rest::RestObserver RequestMetrics::Observer() {
  return [this](const rest::RestRequest& request, rest::RestResponse& response,
                Timestamp received) { Observe(request, response.code, received); };
}

rest::RestFilter RequestMetrics::Filter() {
  return [this](rest::RestRequest& request) -> Status {
    std::string_view path = request.path;
    const bool owned = path.substr(0, base_path_.size()) == base_path_;
    if (owned) path.remove_prefix(base_path_.size());
    const RequestClass c = Classify(request, path);
    // Long-running: not in the max-in-flight figures; the observer classifies it again.
    if (c.long_running) return Status::Ok();
    InFlightGauge& gauge = c.mutating ? inflight_mutating_ : inflight_read_;
    RequestClassSeries* series = owned ? &SeriesOf(c.SeriesKey()) : nullptr;
    gauge.Add(1);
    request.holds.push_back(std::shared_ptr<void>(series, RequestTicket{this, &gauge, series},
                                                  TicketAllocator<void>()));
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
