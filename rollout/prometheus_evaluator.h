// Prometheus gate evaluations off the rollout controller's worker. A query may take up to the
// client's timeout (a slow or unreachable Prometheus); asked on the worker, it held every other
// workload's rollout, the drain waits and the drill holds with it. Here one thread of its own
// asks Prometheus, one query at a time (PrometheusClient is not thread-safe, and the gates of
// a fleet are a handful of queries per interval), and the worker only looks up answers:
//
//   pass N:   the stage machine wants an evaluation; Take finds none, Request queues it; the
//             pass discards that step's answer (the workload's rollout stays as it was);
//   thread:   asks Prometheus; stores the sample; calls `on_done` (the controller marks its
//             loop dirty);
//   pass N+1: Take hands the sample over and the stage machine judges with it.
//
// A sample's time is when it was requested (what the gate's window counts from, as before),
// read from the injectable clock. One request per key at a time: asking again while one is
// queued or running changes nothing (a newer query for the key replaces a queued one).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/status.h"
#include "rollout/prometheus_gate.h"

namespace meridian::rollout {

// Evaluates a PromQL instant query to its one number (PrometheusClient::Query).
using PrometheusQuery = std::function<StatusOr<double>(const std::string& query)>;

class PrometheusEvaluator {
 public:
  // `query` must not be empty; `clock` must outlive the evaluator; `on_done` runs on the
  // evaluator's thread after each sample is stored.
  PrometheusEvaluator(PrometheusQuery query, const Clock& clock, std::function<void()> on_done);
  // Waits for a running query (bounded by the client's timeout); queued ones are dropped.
  ~PrometheusEvaluator();
  PrometheusEvaluator(const PrometheusEvaluator&) = delete;
  PrometheusEvaluator& operator=(const PrometheusEvaluator&) = delete;

  // The finished evaluation of `query` for `key`, handed over once (nullopt: none yet). A
  // finished evaluation of another query for the key is dropped.
  std::optional<PrometheusSample> Take(const std::string& key, const std::string& query);
  // Queues an evaluation of `query` for `key`, unless that key's request is queued (its query
  // is then replaced) or running.
  void Request(const std::string& key, const std::string& query);
  // Drops what is kept for keys not in `keep` (workloads deleted since).
  void Retain(const std::set<std::string>& keep);

 private:
  struct Pending {
    std::string key, query;
    Timestamp at;
  };
  void Run();

  const PrometheusQuery query_;
  const Clock& clock_;
  const std::function<void()> on_done_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;                       // guarded by mu_
  std::optional<std::string> running_;              // the key being asked; guarded by mu_
  std::map<std::string, PrometheusSample> done_;    // guarded by mu_
  bool stopping_ = false;                           // guarded by mu_
  std::thread thread_;                              // last: starts once the rest exists
};

}  // namespace meridian::rollout
