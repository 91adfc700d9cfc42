#include "apimachinery/leader_election.h"

#include <algorithm>
#include <cstdio>
#include <set>

namespace meridian::apimachinery {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr char kCoordinationGroup[] = "coordination.k8s.io";

// Kubernetes' MicroTime ("2006-01-02T15:04:05.000000Z"): what kubectl shows for a Lease.
std::string FormatMicroTime(Timestamp t) {
  const std::string seconds = FormatRfc3339(t);  // "...:05Z"
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()) %
                      std::chrono::seconds(1);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(micros.count()));
  return seconds.substr(0, seconds.size() - 1) + frac + "Z";
}

// The record's leaseDurationSeconds covers the configured duration (rounded up: a holder
// that says it needs longer is safe, shorter would not be).
int64_t DurationSeconds(milliseconds d) { return (d.count() + 999) / 1000; }

// Readers that tolerate a record of the wrong shape (a Lease written into etcd by hand
// bypasses validation): a wrong type reads as absent.
std::string Str(const json& spec, const char* field) {
  auto it = spec.find(field);
  return it != spec.end() && it->is_string() ? it->get<std::string>() : "";
}
int64_t Int(const json& spec, const char* field) {
  auto it = spec.find(field);
  return it != spec.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}
json SpecOf(const json& lease) {
  auto it = lease.find("spec");
  return it != lease.end() && it->is_object() ? *it : json::object();
}

}  // namespace

ResourceInfo LeaseResourceInfo() {
  ResourceInfo info;
  info.group = kCoordinationGroup;
  info.version = "v1";
  info.kind = "Lease";
  info.plural = "leases";
  info.singular = "lease";
  info.namespaced = true;
  info.printer_columns = {
      {"Holder", "string", ".spec.holderIdentity", "Who holds the lease", "", 0},
      {"Age", "date", ".metadata.creationTimestamp", "Age", "", 0},
  };
  return info;
}

FieldErrors ValidateLease(const json& lease) {
  FieldErrors errors;
  if (!lease.contains("spec")) return errors;  // a Lease without a spec is valid (all optional)
  const json& spec = lease["spec"];
  if (!spec.is_object()) {
    errors.push_back({"spec", "must be an object"});
    return errors;
  }
  static const std::set<std::string> kKnown = {
      "holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions",
      "strategy",       "preferredHolder"};
  for (const auto& [field, value] : spec.items()) {
    const std::string path = "spec." + field;
    if (!kKnown.count(field)) {
      errors.push_back({path, "unknown field"});
      continue;
    }
    if (value.is_null()) continue;
    if (field == "holderIdentity" || field == "strategy" || field == "preferredHolder") {
      if (!value.is_string()) errors.push_back({path, "must be a string"});
    } else if (field == "acquireTime" || field == "renewTime") {
      Timestamp parsed;
      if (!value.is_string() || !ParseRfc3339(value.get<std::string>(), &parsed)) {
        errors.push_back({path, "must be an RFC 3339 time"});
      }
    } else if (!value.is_number_integer()) {
      errors.push_back({path, "must be an integer"});
    } else if (field == "leaseDurationSeconds" && value.get<int64_t>() <= 0) {
      errors.push_back({path, "must be greater than 0"});
    } else if (field == "leaseTransitions" && value.get<int64_t>() < 0) {
      errors.push_back({path, "must be greater than or equal to 0"});
    }
  }
  return errors;
}

void InstallLeaseValidation(ObjectService& objects) {
  objects.AddValidatingAdmission(
      [](const AdmissionAttributes& attrs, const json& object, FieldErrors* errors) {
        if (attrs.operation == Operation::kDelete || attrs.resource->group != kCoordinationGroup ||
            attrs.resource->plural != "leases") {
          return Status::Ok();
        }
        FieldErrors found = ValidateLease(object);
        errors->insert(errors->end(), found.begin(), found.end());
        return Status::Ok();
      });
}

Status ValidateLeaderElectionConfig(const LeaderElectionConfig& c) {
  if (c.identity.empty()) return InvalidArgumentError("leader election: the identity is empty");
  if (c.lease_name.empty() || c.lease_namespace.empty()) {
    return InvalidArgumentError("--leader-elect-resource-name/namespace: must not be empty");
  }
  if (c.lease_duration.count() <= 0 || c.renew_deadline.count() <= 0 ||
      c.retry_period.count() <= 0) {
    return InvalidArgumentError(
        "--leader-elect-lease-duration, --leader-elect-renew-deadline, "
        "--leader-elect-retry-period: must all be greater than 0");
  }
  if (c.lease_duration <= c.renew_deadline) {
    return InvalidArgumentError(
        "--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline (a "
        "leader must give up before another may take over)");
  }
  // client-go's JitterFactor: retries are up to 1.2 × the period apart.
  if (c.renew_deadline.count() * 10 <= c.retry_period.count() * 12) {
    return InvalidArgumentError(
        "--leader-elect-renew-deadline must be greater than 1.2 × --leader-elect-retry-period "
        "(room for at least one retry)");
  }
  return Status::Ok();
}

LeaderElection::LeaderElection(ObjectService& objects, const Clock& clock,
                               LeaderElectionConfig config)
    : objects_(objects),
      clock_(clock),
      config_(std::move(config)),
      lease_info_(objects.registry().Find(kCoordinationGroup, "v1", "leases")) {}

Status LeaderElection::TryAcquireOrRenew(Timestamp now) {
  if (lease_info_ == nullptr) return InternalError("leases.coordination.k8s.io is not registered");
  const std::string stamp = FormatMicroTime(now);
  json spec = {{"holderIdentity", config_.identity},
               {"leaseDurationSeconds", DurationSeconds(config_.lease_duration)},
               {"acquireTime", stamp},
               {"renewTime", stamp},
               {"leaseTransitions", 0}};

  ApiResult<json> got = objects_.Get(*lease_info_, config_.lease_namespace, config_.lease_name);
  if (!got.ok() && got.error().code == 404) {
    json lease = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}},
        {"spec", spec}};
    ApiResult<json> created = objects_.Create(*lease_info_, config_.lease_namespace, lease);
    if (!created.ok()) return created.error().ToStatus();  // 409: another candidate was first
    observed_spec_ = (*created)["spec"];
    observed_holder_ = config_.identity;
    observed_time_ = now;
    return Status::Ok();
  }
  if (!got.ok()) return got.error().ToStatus();

  json lease = std::move(got).value();
  const json old = SpecOf(lease);
  if (old != observed_spec_) {
    // The record changed since the last look: its holder's time starts now, on our clock.
    observed_spec_ = old;
    observed_holder_ = Str(old, "holderIdentity");
    observed_time_ = now;
  }
  const std::string holder = Str(old, "holderIdentity");
  const bool mine = holder == config_.identity;
  const int64_t held_seconds = Int(old, "leaseDurationSeconds");
  if (!holder.empty() && !mine && observed_time_ + std::chrono::seconds(held_seconds) > now) {
    return FailedPreconditionError("the lease is held by " + holder + " and has not expired");
  }
  const int64_t transitions = Int(old, "leaseTransitions");
  if (mine) {
    if (!Str(old, "acquireTime").empty()) spec["acquireTime"] = Str(old, "acquireTime");
    spec["leaseTransitions"] = transitions;
  } else {
    spec["leaseTransitions"] = transitions + 1;
  }
  lease["spec"] = spec;
  // metadata.resourceVersion as read: the write is compare-and-swap (409 if anyone wrote).
  ApiResult<json> updated =
      objects_.Update(*lease_info_, config_.lease_namespace, config_.lease_name, lease);
  if (!updated.ok()) return updated.error().ToStatus();
  observed_spec_ = (*updated)["spec"];
  observed_holder_ = config_.identity;
  observed_time_ = now;
  return Status::Ok();
}

LeaderElection::Transition LeaderElection::Tick() {
  const Timestamp now = clock_.Now();
  last_error_ = TryAcquireOrRenew(now);
  if (last_error_.ok()) {
    last_renew_ = now;
    if (leader_) return Transition::kNone;
    leader_ = true;
    return Transition::kStartedLeading;
  }
  if (!leader_) return Transition::kNone;
  // Someone else holds it (it expired on their clock while we could not write): we are not
  // the leader whatever our deadline says. Otherwise keep trying until the renew deadline.
  const bool taken = !observed_holder_.empty() && observed_holder_ != config_.identity;
  if (!taken && now - last_renew_ < config_.renew_deadline) return Transition::kNone;
  leader_ = false;
  return Transition::kStoppedLeading;
}

Status LeaderElection::Release() {
  if (!leader_) return Status::Ok();
  leader_ = false;
  if (lease_info_ == nullptr) return InternalError("leases.coordination.k8s.io is not registered");
  ApiResult<json> got = objects_.Get(*lease_info_, config_.lease_namespace, config_.lease_name);
  if (!got.ok()) return got.error().ToStatus();
  json lease = std::move(got).value();
  if (Str(SpecOf(lease), "holderIdentity") != config_.identity) {
    return Status::Ok();  // no longer ours: nothing to release
  }
  const std::string stamp = FormatMicroTime(clock_.Now());
  // client-go's release: no holder, a one-second lease, the transition count kept.
  json spec = SpecOf(lease);
  spec["holderIdentity"] = "";
  spec["leaseDurationSeconds"] = 1;
  spec["acquireTime"] = stamp;
  spec["renewTime"] = stamp;
  lease["spec"] = spec;
  ApiResult<json> updated =
      objects_.Update(*lease_info_, config_.lease_namespace, config_.lease_name, lease);
  if (!updated.ok()) return updated.error().ToStatus();
  return Status::Ok();
}

LeaderElector::LeaderElector(ObjectService& objects, const Clock& clock,
                             LeaderElectionConfig config, Callbacks callbacks)
    : clock_(clock),
      election_(objects, clock, std::move(config)),
      callbacks_(std::move(callbacks)),
      validity_(election_.config().renew_deadline) {}

void LeaderElector::Start() {
  thread_ = std::thread([this] { Run(); });
  watchdog_ = std::thread([this] { Watchdog(); });
}

bool LeaderElector::is_leader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leader_;
}

Status LeaderElector::WritePermit() {
  Status valid = validity_.Check(std::chrono::steady_clock::now());
  if (!valid.ok() && is_leader()) StoppedLeading();
  return valid;
}

void LeaderElector::StoppedLeading() {
  validity_.Lost();
  {
    std::lock_guard<std::mutex> lock(mu_);
    leader_ = false;
    if (stop_reported_) return;
    stop_reported_ = true;
  }
  if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
}

void LeaderElector::Run() {
  std::string holder = "\x01";  // differs from every identity and from ""
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    // Before the attempt: what LeaseValidity counts the renew deadline from.
    const auto attempt_started = std::chrono::steady_clock::now();
    const LeaderElection::Transition t = election_.Tick();
    if (election_.observed_holder() != holder) {
      holder = election_.observed_holder();
      if (callbacks_.on_new_leader) callbacks_.on_new_leader(holder);
    }
    bool watchdog_fired = false;
    if (t == LeaderElection::Transition::kNone && election_.is_leader()) {
      std::lock_guard<std::mutex> guard(mu_);
      watchdog_fired = !leader_ && stop_reported_;
    }
    if (watchdog_fired) {
      election_.StepDown();  // on_stopped_leading was called: the core follows
    } else if (t == LeaderElection::Transition::kStartedLeading) {
      {
        std::lock_guard<std::mutex> guard(mu_);
        leader_ = true;
        stop_reported_ = false;
        last_renew_ = clock_.Now();
      }
      validity_.Renewed(attempt_started);
      if (callbacks_.on_started_leading) callbacks_.on_started_leading();
    } else if (t == LeaderElection::Transition::kStoppedLeading) {
      StoppedLeading();
    } else if (election_.is_leader() && election_.last_error().ok()) {
      std::lock_guard<std::mutex> guard(mu_);
      last_renew_ = clock_.Now();
      if (leader_) validity_.Renewed(attempt_started);  // not after the watchdog fired
    }
    lock.lock();
    wake_.wait_for(lock, election_.config().retry_period, [this] { return stopping_; });
  }
}

void LeaderElector::Watchdog() {
  const auto deadline = election_.config().renew_deadline;
  // A tenth of the deadline: the overshoot past it is at most that.
  const auto every = std::max(std::chrono::milliseconds(1), deadline / 10);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, every, [this] { return stopping_; });
    if (stopping_ || !leader_ || clock_.Now() - last_renew_ < deadline) continue;
    lock.unlock();
    StoppedLeading();
    lock.lock();
  }
}

void LeaderElector::Stop(bool release) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (watchdog_.joinable()) watchdog_.join();
  validity_.Lost();
  if (release) (void)election_.Release();
  std::lock_guard<std::mutex> lock(mu_);
  leader_ = false;
}

}  // namespace meridian::apimachinery
