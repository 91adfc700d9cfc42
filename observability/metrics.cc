#include "observability/metrics.h"

#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

namespace meridian::observability {
namespace {

struct Collectors {
  // Held shared while collecting, exclusively to unregister: a handle's destructor waits
  // for a running collect, so a collector never outlives what it reads.
  std::mutex mu;  // guards the map and next_id
  std::map<int, CollectFunction> functions;
  int next_id = 0;
  std::mutex collect_mu;  // held while collecting and while unregistering
};

Collectors& TheCollectors() {
  static Collectors* collectors = new Collectors();  // never destroyed: used at exit
  return *collectors;
}

class CollectorRegistrationImpl : public CollectorRegistration {
 public:
  explicit CollectorRegistrationImpl(int id) : id_(id) {}
  ~CollectorRegistrationImpl() override {
    Collectors& c = TheCollectors();
    std::lock_guard<std::mutex> collecting(c.collect_mu);
    std::lock_guard<std::mutex> lock(c.mu);
    c.functions.erase(id_);
  }

 private:
  int id_;
};

// /proc/self/stat: fields after the command name (which may hold spaces and parentheses).
std::vector<std::string> ProcStatFields() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> fields;
  size_t close = text.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(text.substr(close + 1));
  std::string f;
  while (rest >> f) fields.push_back(f);
  return fields;  // fields[0] is field 3 (state)
}

double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

// Prometheus' process collector figures (client_golang's names), from /proc.
std::vector<prometheus::MetricFamily> ProcessFamilies() {
  std::vector<prometheus::MetricFamily> out;
  const std::vector<std::string> f = ProcStatFields();
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  auto field = [&](size_t n) {  // n as numbered in proc(5)
    return n - 3 < f.size() ? std::stod(f[n - 3]) : 0.0;
  };
  if (f.size() > 21 && ticks > 0) {
    prometheus::MetricFamily cpu = CounterFamily(
        "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
    AddSample(cpu, {}, (field(14) + field(15)) / ticks);
    out.push_back(std::move(cpu));
    prometheus::MetricFamily start = GaugeFamily(
        "process_start_time_seconds", "Start time of the process since unix epoch in seconds.");
    AddSample(start, {}, BootTimeSeconds() + field(22) / ticks);
    out.push_back(std::move(start));
    prometheus::MetricFamily vsize =
        GaugeFamily("process_virtual_memory_bytes", "Virtual memory size in bytes.");
    AddSample(vsize, {}, field(23));
    out.push_back(std::move(vsize));
    prometheus::MetricFamily rss =
        GaugeFamily("process_resident_memory_bytes", "Resident memory size in bytes.");
    AddSample(rss, {}, field(24) * page);
    out.push_back(std::move(rss));
  }
  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  prometheus::MetricFamily open =
      GaugeFamily("process_open_fds", "Number of open file descriptors.");
  AddSample(open, {}, fds);
  out.push_back(std::move(open));
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    prometheus::MetricFamily max =
        GaugeFamily("process_max_fds", "Maximum number of open file descriptors.");
    AddSample(max, {}, static_cast<double>(limit.rlim_cur));
    out.push_back(std::move(max));
  }
  return out;
}

}  // namespace

prometheus::Registry& Registry() {
  static prometheus::Registry* registry = new prometheus::Registry();  // used until exit
  return *registry;
}

std::string ExpositionText() {
  std::vector<prometheus::MetricFamily> families = Registry().Collect();
  {
    Collectors& c = TheCollectors();
    std::lock_guard<std::mutex> collecting(c.collect_mu);
    std::vector<CollectFunction> functions;
    {
      std::lock_guard<std::mutex> lock(c.mu);
      for (const auto& [id, fn] : c.functions) functions.push_back(fn);
    }
    for (const CollectFunction& fn : functions) {
      for (prometheus::MetricFamily& family : fn()) families.push_back(std::move(family));
    }
  }
  for (prometheus::MetricFamily& family : ProcessFamilies()) families.push_back(std::move(family));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

std::unique_ptr<CollectorRegistration> RegisterCollector(CollectFunction collect) {
  Collectors& c = TheCollectors();
  std::lock_guard<std::mutex> lock(c.mu);
  const int id = c.next_id++;
  c.functions[id] = std::move(collect);
  return std::make_unique<CollectorRegistrationImpl>(id);
}

prometheus::MetricFamily GaugeFamily(const std::string& name, const std::string& help) {
  prometheus::MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = prometheus::MetricType::Gauge;
  return family;
}

prometheus::MetricFamily CounterFamily(const std::string& name, const std::string& help) {
  prometheus::MetricFamily family = GaugeFamily(name, help);
  family.type = prometheus::MetricType::Counter;
  return family;
}

void AddSample(prometheus::MetricFamily& family, const std::map<std::string, std::string>& labels,
               double value) {
  prometheus::ClientMetric metric;
  for (const auto& [name, v] : labels) metric.label.push_back({name, v});
  if (family.type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

const std::vector<double>& ApiserverRequestDurationBuckets() {
  static const std::vector<double> buckets = {0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8,
                                              1.0,   1.25,  1.5,  2,   3,   4,   5,   6,
                                              8,     10,    15,   20,  30,  45,  60};
  return buckets;
}

const std::vector<double>& WorkqueueDurationBuckets() {
  static const std::vector<double> buckets = {1e-8, 1e-7, 1e-6, 1e-5, 1e-4,
                                              1e-3, 1e-2, 1e-1, 1,    10};
  return buckets;
}

const std::vector<double>& RestClientDurationBuckets() {
  static const std::vector<double> buckets = {0.005, 0.025, 0.1, 0.25, 0.5,  1.0,
                                              2.0,   4.0,   8.0, 15.0, 30.0, 60.0};
  return buckets;
}

StripedHistogram& PlacementDecisionSeconds() {
  struct Placement {
    StripedFamily<StripedHistogram> family{
        "meridian_placement_decision_duration_seconds",
        "Time the placement engine took to place one FederatedWorkload.",
        prometheus::MetricType::Histogram};
    StripedHistogram& histogram = family.Add(
        {}, std::vector<double>{0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1,
                                0.5, 1});
    std::unique_ptr<CollectorRegistration> registration = CollectFamilies(family);
  };
  static Placement* placement = new Placement();  // used until exit
  return placement->histogram;
}

StripedHistogram& StorageWritesPerCommit() {
  struct Commits {
    StripedFamily<StripedHistogram> family{
        "meridian_storage_writes_per_commit",
        "Writes carried by each durable transaction of the embedded SQLite store (group commit).",
        prometheus::MetricType::Histogram};
    StripedHistogram& histogram =
        family.Add({}, std::vector<double>{1, 2, 4, 8, 16, 32, 64, 128, 256});
    std::unique_ptr<CollectorRegistration> registration = CollectFamilies(family);
  };
  static Commits* commits = new Commits();  // used until exit
  return commits->histogram;
}

WorkQueueMetrics WorkQueueMetrics::For(const std::string& name) {
  // client-go's workqueue metrics provider (k8s.io/component-base/metrics/prometheus/workqueue).
  static auto& depth = prometheus::BuildGauge()
                           .Name("workqueue_depth")
                           .Help("Current depth of workqueue")
                           .Register(Registry());
  static auto& adds = prometheus::BuildCounter()
                          .Name("workqueue_adds_total")
                          .Help("Total number of adds handled by workqueue")
                          .Register(Registry());
  static auto& queue_duration =
      prometheus::BuildHistogram()
          .Name("workqueue_queue_duration_seconds")
          .Help("How long in seconds an item stays in workqueue before being requested.")
          .Register(Registry());
  static auto& work_duration =
      prometheus::BuildHistogram()
          .Name("workqueue_work_duration_seconds")
          .Help("How long in seconds processing an item from workqueue takes.")
          .Register(Registry());
  static auto& retries = prometheus::BuildCounter()
                             .Name("workqueue_retries_total")
                             .Help("Total number of retries handled by workqueue")
                             .Register(Registry());
  const prometheus::Labels labels = {{"name", name}};
  WorkQueueMetrics m;
  m.depth = &depth.Add(labels);
  m.adds = &adds.Add(labels);
  m.queue_duration = &queue_duration.Add(labels, WorkqueueDurationBuckets());
  m.work_duration = &work_duration.Add(labels, WorkqueueDurationBuckets());
  m.retries = &retries.Add(labels);
  return m;
}

void ObserveRestClientRequest(const std::string& host, const std::string& method, int code,
                              double seconds) {
  static auto& requests = prometheus::BuildCounter()
                              .Name("rest_client_requests_total")
                              .Help(
                                  "Number of HTTP requests, partitioned by status code, method, "
                                  "and host.")
                              .Register(Registry());
  static auto& durations = prometheus::BuildHistogram()
                               .Name("rest_client_request_duration_seconds")
                               .Help("Request latency in seconds. Broken down by verb, and host.")
                               .Register(Registry());
  static std::mutex mu;  // guards the two maps
  static std::map<std::string, prometheus::Counter*> counters;
  static std::map<std::string, prometheus::Histogram*> histograms;
  const std::string code_text = code < 0 ? "<error>" : std::to_string(code);
  prometheus::Counter* counter;
  prometheus::Histogram* histogram;
  {
    std::lock_guard<std::mutex> lock(mu);
    prometheus::Counter*& c = counters[host + " " + method + " " + code_text];
    if (c == nullptr) c = &requests.Add({{"code", code_text}, {"method", method}, {"host", host}});
    counter = c;
    prometheus::Histogram*& h = histograms[host + " " + method];
    if (h == nullptr)
      h = &durations.Add({{"verb", method}, {"host", host}}, RestClientDurationBuckets());
    histogram = h;
  }
  counter->Increment();
  histogram->Observe(std::max(0.0, seconds));
}

}  // namespace meridian::observability
