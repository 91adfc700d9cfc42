// Simulator: every simulated member cluster of one membersim process, the runner that
// reconciles them, and failure injection with its timestamped log.
//
// Reconciles are level-triggered: a store event marks a cluster dirty and wakes the runner;
// the runner also wakes at each cluster's requested time (pods turning Ready, evictions).
// RunPending() does one round synchronously (tests drive it with a FakeClock); Start()
// runs rounds on a background thread against the given clock.
//
// Failure injection (every call is appended to the injection log and logged via spdlog):
//   FailZone/HealZone     the zone's nodes go NotReady (Ready=Unknown, unreachable taints),
//                         their pods stop being Ready and are evicted after the cluster's
//                         podEvictionDelay; capacity returns on heal.
//   Partition/Heal        the cluster's API stops answering (hang) or refuses connections
//                         (refuse; a real TCP refusal needs the cluster's dedicated port).
//   SetLatency            every API answer of the cluster is delayed.
//   FailRegion/HealRegion every zone of every cluster in the region fails and the clusters'
//                         APIs are partitioned (mode hang by default), as in a region outage.
// Errors: kNotFound for an unknown cluster/zone/region (message names it),
// kFailedPrecondition for a no-op (zone already failed), kInvalidArgument for bad values.
//
// Thread-safety: all public methods are thread-safe, except that RunPending() must not run
// concurrently with itself or with the background runner.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "membersim/cluster_sim.h"
#include "membersim/config.h"

namespace meridian::membersim {

struct InjectionRecord {
  Timestamp time;
  std::string action;  // "fail-zone", "heal-zone", "partition", "heal", "latency", "fail-region", "heal-region"
  std::string target;  // "eu-west-1/eu-west-1a", "eu-west-1", "eu-west"
  std::string detail;  // "mode=hang", "latencyMs=200", ""
};

class Simulator {
 public:
  struct Options {
    size_t history_limit = 1000;
  };

  // Builds every cluster of `config` (not yet started). `clock` must outlive the simulator.
  Simulator(SimConfig config, const Clock& clock, Options options);
  ~Simulator();  // stops the runner
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Starts every cluster (namespaces, watches), then creates the clusters' seed objects
  // (config.h `seed:`, membersim/seed.h; clusters in parallel). Call once. Errors: a cluster
  // could not start, or a seed was refused (the message names the cluster and the seed).
  Status StartClusters();
  // Objects created from the clusters' seeds by StartClusters.
  int64_t seeded_objects() const { return seeded_objects_; }
  // Starts the background runner (real deployments). Stop() joins it; idempotent.
  void Start();
  void Stop();

  // One round: reconciles every cluster that needs it. Returns the writes applied.
  int RunPending();
  // Rounds until a round makes no writes and the watch dispatcher is drained (tests).
  int RunUntilIdle(int max_rounds = 200);

  SimulatedCluster* Find(const std::string& name);
  const std::vector<std::unique_ptr<SimulatedCluster>>& clusters() const { return clusters_; }
  const SimConfig& config() const { return config_; }

  Status FailZone(const std::string& cluster, const std::string& zone);
  Status HealZone(const std::string& cluster, const std::string& zone);
  Status Partition(const std::string& cluster, PartitionMode mode);
  Status Heal(const std::string& cluster);
  Status SetLatency(const std::string& cluster, Duration latency);
  Status FailRegion(const std::string& region, PartitionMode mode = PartitionMode::kHang);
  Status HealRegion(const std::string& region);

  // Called after a cluster's partition mode changes (the HTTP shell releases held requests
  // and closes/reopens dedicated listeners). Set before serving.
  void SetPartitionListener(std::function<void(SimulatedCluster&)> listener) {
    partition_listener_ = std::move(listener);
  }

  std::vector<InjectionRecord> InjectionLog() const;
  nlohmann::json StatusJson() const;
  nlohmann::json InjectionLogJson() const;

 private:
  void Record(const std::string& action, const std::string& target, const std::string& detail);
  void Wake();
  void RunLoop();
  void NotifyPartition(SimulatedCluster& c);
  Status SeedClusters();

  SimConfig config_;
  const Clock& clock_;
  std::shared_ptr<apimachinery::WatchDispatcher> dispatcher_;
  std::vector<std::unique_ptr<SimulatedCluster>> clusters_;
  std::map<std::string, SimulatedCluster*> by_name_;
  std::function<void(SimulatedCluster&)> partition_listener_;
  int64_t seeded_objects_ = 0;  // set by StartClusters

  mutable std::mutex log_mu_;  // guards log_
  std::vector<InjectionRecord> log_;

  std::mutex run_mu_;  // guards wake_, stop_
  std::condition_variable run_cv_;
  bool wake_ = false;
  bool stop_ = false;
  std::thread runner_;
};

// The admin HTTP API, transport-free: `method` "GET"/"POST", `path` below the listener root
// ("/admin/status"), `body` the request body (JSON or empty). Returns the HTTP code and a
// JSON body (errors: {"error": message}).
//   GET  /admin/status                               clusters with zones, faults, URLs
//   GET  /admin/log                                  {"injections": [{time, action, target, detail}]}
//   POST /admin/clusters/NAME/zones/ZONE/fail|heal
//   POST /admin/clusters/NAME/partition              {"mode": "hang"|"refuse"}
//   POST /admin/clusters/NAME/heal                   ends a partition
//   POST /admin/clusters/NAME/latency                {"ms": 250}  (0 removes it)
//   POST /admin/regions/REGION/fail                  {"mode": "hang"|"refuse"} (optional)
//   POST /admin/regions/REGION/heal
struct AdminResponse {
  int code = 200;
  nlohmann::json body;
};
AdminResponse HandleAdmin(Simulator& sim, const std::string& method, const std::string& path,
                          const std::string& body);

}  // namespace meridian::membersim
