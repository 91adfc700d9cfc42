#include "membersim/simulator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

#include "common/json_parse.h"
#include "common/log_fields.h"
#include "common/path_segments.h"
#include "membersim/seed.h"

namespace meridian::membersim {

Simulator::Simulator(SimConfig config, const Clock& clock, Options options)
    : config_(std::move(config)), clock_(clock), dispatcher_(std::make_shared<apimachinery::WatchDispatcher>()) {
  SimulatedCluster::Options co;
  co.history_limit = options.history_limit;
  co.dispatcher = dispatcher_;
  clusters_.reserve(config_.clusters.size());
  for (const ClusterSpec& spec : config_.clusters) {
    clusters_.push_back(std::make_unique<SimulatedCluster>(spec, clock_, co, [this] { Wake(); }));
    by_name_[spec.name] = clusters_.back().get();
  }
}

Simulator::~Simulator() {
  Stop();
  clusters_.clear();  // cancels watches before the dispatcher goes
}

Status Simulator::StartClusters() {
  for (auto& c : clusters_) MERIDIAN_RETURN_IF_ERROR(c->Start().WithContext("cluster " + c->spec().name));
  return SeedClusters();
}

// Clusters are seeded in parallel, one thread per core: each has its own store, so creates
// in different clusters do not contend, and a million objects take seconds, not a minute.
Status Simulator::SeedClusters() {
  const size_t threads = std::min<size_t>(clusters_.size(), std::max(1u, std::thread::hardware_concurrency()));
  std::atomic<size_t> next{0};
  std::atomic<int64_t> made{0};
  std::mutex mu;  // guards first_error
  Status first_error = Status::Ok();
  auto work = [&] {
    for (size_t i = next++; i < clusters_.size(); i = next++) {
      SimulatedCluster& c = *clusters_[i];
      if (c.spec().seed.empty()) continue;
      auto n = SeedCluster(c.spec().seed, c.service());
      if (n.ok()) {
        made += *n;
        continue;
      }
      std::lock_guard lock(mu);
      if (first_error.ok()) first_error = n.status().WithContext("seeding cluster " + c.spec().name);
      next = clusters_.size();  // stop the others: start-up fails anyway
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  seeded_objects_ = made.load();
  return first_error;
}

void Simulator::Wake() {
  {
    std::lock_guard lock(run_mu_);
    wake_ = true;
  }
  run_cv_.notify_one();
}

void Simulator::Start() {
  if (runner_.joinable()) return;
  runner_ = std::thread([this] { RunLoop(); });
}

void Simulator::Stop() {
  {
    std::lock_guard lock(run_mu_);
    stop_ = true;
  }
  run_cv_.notify_all();
  if (runner_.joinable()) runner_.join();
}

void Simulator::RunLoop() {
  while (true) {
    RunPending();
    Timestamp next = Timestamp::max();
    for (auto& c : clusters_) next = std::min(next, c->NextWake());
    std::unique_lock lock(run_mu_);
    if (stop_) return;
    if (!wake_) {
      // The clock is injected but waiting is real: cap the wait so clock skew cannot stall us.
      auto wait = std::chrono::milliseconds(1000);
      if (next != Timestamp::max()) {
        auto until = std::chrono::duration_cast<std::chrono::milliseconds>(next - clock_.Now());
        wait = std::clamp(until, std::chrono::milliseconds(1), wait);
      }
      run_cv_.wait_for(lock, wait, [this] { return wake_ || stop_; });
    }
    if (stop_) return;
    wake_ = false;
  }
}

int Simulator::RunPending() {
  int writes = 0;
  Timestamp now = clock_.Now();
  for (auto& c : clusters_) {
    if (c->NeedsReconcile(now)) writes += c->Reconcile(now);
  }
  return writes;
}

int Simulator::RunUntilIdle(int max_rounds) {
  int total = 0;
  for (int i = 0; i < max_rounds; ++i) {
    dispatcher_->Drain();
    int w = RunPending();
    total += w;
    dispatcher_->Drain();
    if (w == 0) {
      bool any = false;
      Timestamp now = clock_.Now();
      for (auto& c : clusters_) any = any || c->NeedsReconcile(now);
      if (!any) break;
    }
  }
  return total;
}

SimulatedCluster* Simulator::Find(const std::string& name) {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

namespace {
Status UnknownCluster(const std::string& name) { return NotFoundError("unknown cluster \"" + name + "\""); }
}  // namespace

void Simulator::Record(const std::string& action, const std::string& target, const std::string& detail) {
  InjectionRecord r{clock_.Now(), action, target, detail};
  spdlog::info(LogFields(
      "injection",
      {{"action", action}, {"target", target}, {"detail", detail}, {"at", FormatRfc3339(r.time)}}));
  std::lock_guard lock(log_mu_);
  log_.push_back(std::move(r));
}

void Simulator::NotifyPartition(SimulatedCluster& c) {
  if (partition_listener_) partition_listener_(c);
}

Status Simulator::FailZone(const std::string& cluster, const std::string& zone) {
  SimulatedCluster* c = Find(cluster);
  if (!c) return UnknownCluster(cluster);
  MERIDIAN_RETURN_IF_ERROR(c->FailZone(zone, clock_.Now()));
  Record("fail-zone", cluster + "/" + zone, "");
  return Status::Ok();
}

Status Simulator::HealZone(const std::string& cluster, const std::string& zone) {
  SimulatedCluster* c = Find(cluster);
  if (!c) return UnknownCluster(cluster);
  MERIDIAN_RETURN_IF_ERROR(c->HealZone(zone));
  Record("heal-zone", cluster + "/" + zone, "");
  return Status::Ok();
}

Status Simulator::Partition(const std::string& cluster, PartitionMode mode) {
  SimulatedCluster* c = Find(cluster);
  if (!c) return UnknownCluster(cluster);
  if (mode == PartitionMode::kNone) return InvalidArgumentError("partition mode must be hang or refuse");
  c->SetPartition(mode);
  Record("partition", cluster, std::string("mode=") + PartitionModeName(mode));
  NotifyPartition(*c);
  return Status::Ok();
}

Status Simulator::Heal(const std::string& cluster) {
  SimulatedCluster* c = Find(cluster);
  if (!c) return UnknownCluster(cluster);
  if (c->partition() == PartitionMode::kNone) return FailedPreconditionError("cluster " + cluster + " is not partitioned");
  c->SetPartition(PartitionMode::kNone);
  Record("heal", cluster, "");
  NotifyPartition(*c);
  return Status::Ok();
}

Status Simulator::SetLatency(const std::string& cluster, Duration latency) {
  SimulatedCluster* c = Find(cluster);
  if (!c) return UnknownCluster(cluster);
  if (latency.count() < 0 || latency.count() > 600'000) {
    return InvalidArgumentError("latency must be between 0 and 600000 ms");
  }
  c->SetLatency(latency);
  Record("latency", cluster, "latencyMs=" + std::to_string(latency.count()));
  return Status::Ok();
}

Status Simulator::FailRegion(const std::string& region, PartitionMode mode) {
  std::vector<SimulatedCluster*> members;
  for (auto& c : clusters_) {
    if (c->spec().region == region) members.push_back(c.get());
  }
  if (members.empty()) return NotFoundError("unknown region \"" + region + "\"");
  if (mode == PartitionMode::kNone) mode = PartitionMode::kHang;
  Timestamp now = clock_.Now();
  for (SimulatedCluster* c : members) {
    for (const auto& z : c->spec().zones) {
      Status st = c->FailZone(z.name, now);  // already-failed zones stay failed
      (void)st;
    }
    c->SetPartition(mode);
  }
  Record("fail-region", region, std::string("mode=") + PartitionModeName(mode) + " clusters=" +
                                    std::to_string(members.size()));
  for (SimulatedCluster* c : members) NotifyPartition(*c);
  return Status::Ok();
}

Status Simulator::HealRegion(const std::string& region) {
  std::vector<SimulatedCluster*> members;
  for (auto& c : clusters_) {
    if (c->spec().region == region) members.push_back(c.get());
  }
  if (members.empty()) return NotFoundError("unknown region \"" + region + "\"");
  for (SimulatedCluster* c : members) {
    for (const auto& z : c->spec().zones) {
      Status st = c->HealZone(z.name);
      (void)st;
    }
    c->SetPartition(PartitionMode::kNone);
  }
  Record("heal-region", region, "clusters=" + std::to_string(members.size()));
  for (SimulatedCluster* c : members) NotifyPartition(*c);
  return Status::Ok();
}

std::vector<InjectionRecord> Simulator::InjectionLog() const {
  std::lock_guard lock(log_mu_);
  return log_;
}

nlohmann::json Simulator::InjectionLogJson() const {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& r : InjectionLog()) {
    items.push_back({{"time", FormatRfc3339(r.time)},
                     {"timeUnixMs", std::chrono::duration_cast<std::chrono::milliseconds>(
                                        r.time.time_since_epoch())
                                        .count()},
                     {"action", r.action},
                     {"target", r.target},
                     {"detail", r.detail}});
  }
  return {{"injections", items}};
}

nlohmann::json Simulator::StatusJson() const {
  nlohmann::json clusters = nlohmann::json::array();
  for (const auto& c : clusters_) clusters.push_back(c->StatusJson());
  return {{"clusters", clusters}};
}

// --- admin API -------------------------------------------------------------------------------

namespace {

AdminResponse FromStatus(const Status& st) {
  if (st.ok()) return {200, {{"ok", true}}};
  int code = HttpStatusFor(st.code());
  if (st.code() == StatusCode::kFailedPrecondition) code = 409;
  return {code, {{"error", st.message()}}};
}

}  // namespace

AdminResponse HandleAdmin(Simulator& sim, const std::string& method, const std::string& path,
                          const std::string& body) {
  std::string p = path.substr(0, path.find('?'));
  std::vector<std::string> seg = SplitPath(p);
  if (seg.empty() || seg[0] != "admin") return {404, {{"error", "not found: " + path}}};
  nlohmann::json args = nlohmann::json::object();
  if (!body.empty()) {
    JsonParseError error;
    args = ParseJson(body, &error);
    if (args.is_discarded()) return {400, {{"error", "body must be a JSON object: " + error.ToString()}}};
    if (!args.is_object()) return {400, {{"error", "body must be a JSON object"}}};
  }
  if (method == "GET") {
    if (seg.size() == 2 && seg[1] == "status") return {200, sim.StatusJson()};
    if (seg.size() == 2 && seg[1] == "log") return {200, sim.InjectionLogJson()};
    return {404, {{"error", "not found: " + path}}};
  }
  if (method != "POST") return {405, {{"error", "method " + method + " not allowed"}}};
  auto mode_arg = [&](PartitionMode def) -> StatusOr<PartitionMode> {
    if (!args.contains("mode")) return def;
    if (!args["mode"].is_string()) return InvalidArgumentError("mode must be a string");
    return ParsePartitionMode(args["mode"].get<std::string>());
  };
  if (seg.size() == 6 && seg[1] == "clusters" && seg[3] == "zones") {
    if (seg[5] == "fail") return FromStatus(sim.FailZone(seg[2], seg[4]));
    if (seg[5] == "heal") return FromStatus(sim.HealZone(seg[2], seg[4]));
  }
  if (seg.size() == 4 && seg[1] == "clusters") {
    if (seg[3] == "partition") {
      auto mode = mode_arg(PartitionMode::kHang);
      if (!mode.ok()) return FromStatus(mode.status());
      return FromStatus(sim.Partition(seg[2], *mode));
    }
    if (seg[3] == "heal") return FromStatus(sim.Heal(seg[2]));
    if (seg[3] == "latency") {
      if (!args.contains("ms") || !args["ms"].is_number_integer()) {
        return {400, {{"error", "latency needs {\"ms\": <integer>}"}}};
      }
      return FromStatus(sim.SetLatency(seg[2], Duration(args["ms"].get<int64_t>())));
    }
  }
  if (seg.size() == 4 && seg[1] == "regions") {
    if (seg[3] == "fail") {
      auto mode = mode_arg(PartitionMode::kHang);
      if (!mode.ok()) return FromStatus(mode.status());
      return FromStatus(sim.FailRegion(seg[2], *mode));
    }
    if (seg[3] == "heal") return FromStatus(sim.HealRegion(seg[2]));
  }
  return {404, {{"error", "not found: " + path}}};
}

}  // namespace meridian::membersim
