// Leader election on a coordination.k8s.io/v1 Lease, after client-go's
// tools/leaderelection (the algorithm kube-controller-manager runs with --leader-elect):
//
//   - a candidate reads the Lease; it may take it when it is absent, when it already holds
//     it, when the holder released it (empty holderIdentity), or when the holder's record
//     has not changed for leaseDurationSeconds *as measured by this candidate's own clock*
//     since it first saw that record (client-go's observedTime: clocks of different
//     machines are never compared, so skew cannot make two leaders);
//   - every write is compare-and-swap on the Lease's resourceVersion, so of two candidates
//     racing for an expired lease exactly one wins;
//   - the leader renews every retry period; when no renewal has succeeded for
//     renew_deadline it has lost, and must stop writing. renew_deadline < lease_duration is
//     what keeps two leaders apart: the old one gives up (renew_deadline after its last
//     renewal) before anyone else may take over (lease_duration after they last saw it
//     change, which is no earlier than that renewal).
//
// LeaderElection is the pure state machine: one Tick() per retry period, time from the
// injected Clock, so tests drive it with a FakeClock. LeaderElector is the thin shell that
// ticks it on a thread and calls back on the transitions.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "apimachinery/lease_validity.h"
#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
#include "common/clock.h"
#include "common/status.h"

namespace meridian::apimachinery {

// coordination.k8s.io/v1 Lease (namespaced; HOLDER and AGE columns).
ResourceInfo LeaseResourceInfo();

// Validates Lease writes like kube-apiserver (pkg/apis/coordination/validation): spec's
// fields have their types, leaseDurationSeconds > 0 and leaseTransitions >= 0 when set,
// unknown spec fields refused (422 naming the field). Installs on `objects` at startup.
void InstallLeaseValidation(ObjectService& objects);
// The checks InstallLeaseValidation runs, for one Lease object.
FieldErrors ValidateLease(const nlohmann::json& lease);

struct LeaderElectionConfig {
  std::string lease_namespace = "meridian-system";
  std::string lease_name = "federation-controller-manager";
  std::string identity;  // required: unique per candidate (host name and a random suffix)
  // federation-controller-manager's defaults (client-go's are 15 s / 10 s / 2 s: too slow
  // for a region's failover to wait on a new leader).
  std::chrono::milliseconds lease_duration{4000};
  std::chrono::milliseconds renew_deadline{3000};
  std::chrono::milliseconds retry_period{1000};
};

// client-go's NewLeaderElector checks: identity set, every duration > 0,
// lease_duration > renew_deadline, renew_deadline > 1.2 × retry_period (its JitterFactor).
// kInvalidArgument naming the flag (--leader-elect-lease-duration, ...).
Status ValidateLeaderElectionConfig(const LeaderElectionConfig& config);

// The election state machine. Not thread-safe: one caller ticks it (LeaderElector's thread,
// or a test). The ObjectService and Clock must outlive it.
class LeaderElection {
 public:
  enum class Transition { kNone, kStartedLeading, kStoppedLeading };

  // `leases` must have LeaseResourceInfo() registered (and the lease namespace must exist).
  LeaderElection(ObjectService& objects, const Clock& clock, LeaderElectionConfig config);

  // One attempt to acquire (when not leading) or renew (when leading) the lease at
  // clock.Now(). Returns the transition it caused: kStartedLeading when this attempt won the
  // lease, kStoppedLeading when a leader's renewals have failed for renew_deadline (after
  // that, is_leader() is false and further ticks try to acquire again), else kNone.
  Transition Tick();

  // Best effort, for a graceful stop: a leader writes holderIdentity "" (client-go's
  // ReleaseOnCancel), so the next candidate need not wait for the lease to expire. Stops
  // leading in any case.
  Status Release();

  // Stops leading without writing (the shell's watchdog decided the deadline passed while a
  // renewal was blocked); the next Tick tries to acquire again.
  void StepDown() { leader_ = false; }

  bool is_leader() const { return leader_; }
  // The holder this candidate last saw in the Lease ("" when none or never read).
  const std::string& observed_holder() const { return observed_holder_; }
  // The last error of an acquire or renew attempt (OK after a success), for logs.
  const Status& last_error() const { return last_error_; }
  const LeaderElectionConfig& config() const { return config_; }

 private:
  // Acquires or renews; OK when this candidate holds the lease afterwards.
  Status TryAcquireOrRenew(Timestamp now);

  ObjectService& objects_;
  const Clock& clock_;
  const LeaderElectionConfig config_;
  const ResourceInfo* lease_info_ = nullptr;
  bool leader_ = false;
  Timestamp last_renew_{};  // this candidate's clock at its last successful write as leader
  // The Lease record (spec) as last read and when this candidate first saw it so: the
  // holder's lease counts down from observed_time_, not from the record's renewTime.
  nlohmann::json observed_spec_;
  std::string observed_holder_;
  Timestamp observed_time_{};
  Status last_error_ = Status::Ok();
};

// Runs a LeaderElection on a thread: ticks at once, then every retry_period; calls
// on_started_leading / on_stopped_leading on the transitions. A watchdog thread also calls
// on_stopped_leading when renew_deadline has passed since the last successful renewal while
// a renewal is still blocked in the store (an etcd call may hang for its whole timeout, longer
// than the deadline): the deadline holds however slow the store is. on_stopped_leading is
// called at most once per leadership. Thread-safe.
class LeaderElector {
 public:
  struct Callbacks {
    std::function<void()> on_started_leading;
    std::function<void()> on_stopped_leading;
    // Optional: the holder changed (another candidate leads, or none); for logs.
    std::function<void(const std::string& holder)> on_new_leader;
  };

  LeaderElector(ObjectService& objects, const Clock& clock, LeaderElectionConfig config,
                Callbacks callbacks);
  ~LeaderElector() { Stop(/*release=*/false); }
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  void Start();
  // Stops the thread (waits for it); with `release`, a leader releases the lease first.
  void Stop(bool release);
  bool is_leader() const;

  // The fence every write that leaves the process outside the store asks first (see
  // apimachinery/lease_validity.h): OK while this process leads and its last renewal started
  // less than renew_deadline ago on the steady clock. Otherwise kFailedPrecondition, and a
  // leader that had not noticed yet (it was paused) stops leading here, calling
  // on_stopped_leading, as its watchdog would a moment later. Thread-safe; cheap.
  Status WritePermit();

 private:
  void Run();
  void Watchdog();
  // Calls on_stopped_leading unless it was already called for this leadership.
  void StoppedLeading();

  const Clock& clock_;
  LeaderElection election_;  // touched only by the thread (and by Stop after joining it)
  Callbacks callbacks_;
  mutable std::mutex mu_;  // guards the four below
  std::condition_variable wake_;
  bool stopping_ = false;
  bool leader_ = false;
  Timestamp last_renew_{};  // of the current leadership
  bool stop_reported_ = false;
  LeaseValidity validity_;  // thread-safe itself
  std::thread thread_;
  std::thread watchdog_;
};

}  // namespace meridian::apimachinery
