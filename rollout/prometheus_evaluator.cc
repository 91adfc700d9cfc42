#include "rollout/prometheus_evaluator.h"

#include <algorithm>
#include <utility>

namespace meridian::rollout {

PrometheusEvaluator::PrometheusEvaluator(PrometheusQuery query, const Clock& clock,
                                         std::function<void()> on_done)
    : query_(std::move(query)),
      clock_(clock),
      on_done_(std::move(on_done)),
      thread_([this] { Run(); }) {}

PrometheusEvaluator::~PrometheusEvaluator() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  thread_.join();
}

std::optional<PrometheusSample> PrometheusEvaluator::Take(const std::string& key,
                                                          const std::string& query) {
  std::lock_guard lock(mu_);
  auto it = done_.find(key);
  if (it == done_.end()) return std::nullopt;
  std::optional<PrometheusSample> sample;
  if (it->second.query == query) sample = std::move(it->second);
  done_.erase(it);
  return sample;
}

void PrometheusEvaluator::Request(const std::string& key, const std::string& query) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || running_ == key) return;
    auto queued = std::find_if(queue_.begin(), queue_.end(),
                               [&](const Pending& p) { return p.key == key; });
    if (queued != queue_.end()) {
      queued->query = query;  // the gate changed since: ask what is asked now
      return;
    }
    queue_.push_back(Pending{key, query, clock_.Now()});
  }
  wake_.notify_all();
}

void PrometheusEvaluator::Retain(const std::set<std::string>& keep) {
  std::lock_guard lock(mu_);
  std::erase_if(done_, [&](const auto& entry) { return !keep.contains(entry.first); });
  std::erase_if(queue_, [&](const Pending& p) { return !keep.contains(p.key); });
}

void PrometheusEvaluator::Run() {
  for (;;) {
    Pending next;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
      running_ = next.key;
    }
    PrometheusSample sample;
    sample.query = next.query;
    sample.at = next.at;
    StatusOr<double> value = query_(next.query);
    if (value.ok()) {
      sample.value = value.value();
    } else {
      sample.error = value.status().message();
    }
    {
      std::lock_guard lock(mu_);
      running_.reset();
      if (stopping_) return;
      done_[next.key] = std::move(sample);
    }
    on_done_();
  }
}

}  // namespace meridian::rollout
