#include "sync/work_queue.h"

#include <algorithm>
#include <cmath>

namespace meridian::sync {

Duration ItemBackoff::Next(const std::string& key) {
  const int failures = ++failures_[key];
  // 2^(failures-1) overflows quickly; past 40 doublings every sane cap is reached.
  const int exponent = std::min(failures - 1, 40);
  const double delay = static_cast<double>(limits_.base_delay.count()) * std::ldexp(1.0, exponent);
  if (delay >= static_cast<double>(limits_.max_delay.count())) return limits_.max_delay;
  return Duration(static_cast<int64_t>(delay));
}

int ItemBackoff::Failures(const std::string& key) const {
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

Duration TokenBucket::Reserve(Timestamp now) {
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min<double>(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  tokens_ -= 1;
  if (tokens_ >= 0) return Duration(0);
  // Round up: a caller must never get its token before the bucket has it.
  return Duration(static_cast<int64_t>(std::ceil(-tokens_ / qps_ * 1000.0)));
}

WorkQueue::WorkQueue(const Clock& clock, RateLimits limits, const std::string& metrics_name)
    : clock_(clock),
      backoff_(limits),
      bucket_(limits.qps, limits.burst, clock.Now()),
      bucket_enabled_(limits.qps > 0) {
  if (!metrics_name.empty()) metrics_ = observability::WorkQueueMetrics::For(metrics_name);
}

namespace {
double Seconds(Duration d) { return std::max(0.0, std::chrono::duration<double>(d).count()); }
}  // namespace

void WorkQueue::AddLocked(const std::string& key, Timestamp due) {
  if (shut_down_) return;
  if (metrics_) metrics_->adds->Increment();
  if (processing_.count(key)) {
    auto [it, inserted] = readd_.emplace(key, due);
    if (!inserted) it->second = std::min(it->second, due);
    return;
  }
  auto it = waiting_.find(key);
  if (it != waiting_.end()) {
    if (it->second <= due) return;
    by_due_.erase({it->second, key});
    it->second = due;
  } else {
    waiting_.emplace(key, due);
  }
  by_due_.insert({due, key});
  if (metrics_) metrics_->depth->Set(static_cast<double>(waiting_.size()));
  cv_.notify_one();
}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard lock(mu_);
  AddLocked(key, clock_.Now());
}

void WorkQueue::AddAfter(const std::string& key, Duration delay) {
  std::lock_guard lock(mu_);
  AddLocked(key, clock_.Now() + delay);
}

Duration WorkQueue::AddRateLimited(const std::string& key) {
  std::lock_guard lock(mu_);
  const Timestamp now = clock_.Now();
  Duration delay = backoff_.Next(key);
  if (metrics_) metrics_->retries->Increment();
  if (bucket_enabled_) delay = std::max(delay, bucket_.Reserve(now));
  AddLocked(key, now + delay);
  return delay;
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  backoff_.Forget(key);
}

int WorkQueue::NumRequeues(const std::string& key) const {
  std::lock_guard lock(mu_);
  return backoff_.Failures(key);
}

std::optional<std::string> WorkQueue::PopDueLocked(Timestamp now) {
  if (shut_down_ || by_due_.empty() || by_due_.begin()->first > now) return std::nullopt;
  auto [due, key] = *by_due_.begin();
  by_due_.erase(by_due_.begin());
  waiting_.erase(key);
  processing_.emplace(key, now);
  if (metrics_) {
    metrics_->depth->Set(static_cast<double>(waiting_.size()));
    metrics_->queue_duration->Observe(Seconds(std::chrono::duration_cast<Duration>(now - due)));
  }
  return key;
}

std::optional<std::string> WorkQueue::TryGet() {
  std::lock_guard lock(mu_);
  return PopDueLocked(clock_.Now());
}

std::optional<std::string> WorkQueue::Get(Duration max_wait) {
  std::unique_lock lock(mu_);
  while (!shut_down_) {
    const Timestamp now = clock_.Now();
    if (auto key = PopDueLocked(now)) return key;
    if (by_due_.empty()) {
      cv_.wait(lock);
    } else {
      const Duration until = std::chrono::duration_cast<Duration>(by_due_.begin()->first - now);
      cv_.wait_for(lock, std::clamp(until, Duration(1), max_wait));
    }
  }
  return std::nullopt;
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard lock(mu_);
  auto started = processing_.find(key);
  if (started != processing_.end()) {
    if (metrics_) {
      metrics_->work_duration->Observe(
          Seconds(std::chrono::duration_cast<Duration>(clock_.Now() - started->second)));
    }
    processing_.erase(started);
  }
  auto it = readd_.find(key);
  if (it == readd_.end()) return;
  const Timestamp due = it->second;
  readd_.erase(it);
  AddLocked(key, due);
}

void WorkQueue::ShutDown() {
  std::lock_guard lock(mu_);
  shut_down_ = true;
  cv_.notify_all();
}

size_t WorkQueue::Len() const {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

size_t WorkQueue::DueNow() const {
  std::lock_guard lock(mu_);
  const Timestamp now = clock_.Now();
  size_t n = 0;
  for (const auto& [due, key] : by_due_) {
    if (due > now) break;
    ++n;
  }
  return n;
}

}  // namespace meridian::sync
