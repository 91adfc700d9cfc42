#include "apimachinery/lease_validity.h"

#include <string>

namespace meridian::apimachinery {

void LeaseValidity::Renewed(TimePoint attempt_started) {
  std::lock_guard lock(mu_);
  // A slow renewal that finishes after a later one must not move the deadline back.
  if (!held_ || attempt_started > last_renew_started_) last_renew_started_ = attempt_started;
  held_ = true;
}

void LeaseValidity::Lost() {
  std::lock_guard lock(mu_);
  held_ = false;
}

Status LeaseValidity::Check(TimePoint now) const {
  std::lock_guard lock(mu_);
  if (!held_) return FailedPreconditionError("write refused: this process does not hold the lease");
  const auto expired_at = last_renew_started_ + renew_deadline_;
  if (now < expired_at) return Status::Ok();
  const auto late = std::chrono::duration_cast<std::chrono::milliseconds>(now - expired_at);
  return FailedPreconditionError(
      "write refused: the lease was last renewed more than the renew deadline (" +
      std::to_string(renew_deadline_.count()) + " ms) ago, " + std::to_string(late.count()) +
      " ms past it on this process's monotonic clock (was it paused?); another leader may hold "
      "it");
}

}  // namespace meridian::apimachinery
