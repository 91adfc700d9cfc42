#include "failover/drill_controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <string_view>

#include "api/codec.h"
#include "api/informers.h"
#include "api/typed_list.h"
#include "common/log_fields.h"
#include "failover/gameday.h"
#include "sync/propagation.h"

namespace meridian::failover {
namespace {

using apimachinery::ResourceInfo;
using nlohmann::json;

bool Final(const std::string& phase) {
  return phase == "Completed" || phase == "Aborted" || phase == "Failed";
}

int64_t EpochMs(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string Seconds(int64_t ms) { return std::to_string(ms / 1000) + "s"; }

bool AbortRequested(const api::FailoverDrill& drill) {
  auto it = drill.metadata.annotations.find(kAbortAnnotation);
  return it != drill.metadata.annotations.end() && it->second == "true";
}

// The value at `path` in `o`, or null when a step is missing or not an object.
const json* At(const json& o, std::initializer_list<const char*> path) {
  const json* cur = &o;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string StringAt(const json& o, std::initializer_list<const char*> path) {
  const json* v = At(o, path);
  return v != nullptr && v->is_string() ? v->get<std::string>() : "";
}

const MemberReadiness* Observed(const Fleet& fleet) {
  return fleet.observed ? &*fleet.observed : nullptr;
}

// Whether a drill's next step may take a sample: a live drill running or watching the return.
bool SamplesLive(const api::FailoverDrill& drill) {
  if (drill.spec.mode == "simulate" || !drill.metadata.deletion_timestamp.empty()) return false;
  const std::string& phase = drill.status.phase;
  return phase.empty() || phase == "Pending" || phase == "Running" ||
         drill.status.report.value("returnObservation", "") == "watching";
}

// A sample of the followed workloads, with the served DNS answers for their names when the
// process serves DNS (failover/drill_dns.h).
DrillSample Sample(const api::DrillTarget& target, int64_t at_ms,
                   const std::vector<api::FederatedWorkload>& followed, const Fleet& fleet,
                   Timestamp now) {
  DrillSample s = TakeSample(target, at_ms, followed, fleet.members, Observed(fleet));
  if (fleet.read_at && *fleet.read_at < now) {
    s.placement_read_ms = std::max<int64_t>(0, at_ms - (EpochMs(now) - EpochMs(*fleet.read_at)));
  }
  if (fleet.dns) {
    const std::vector<std::string> names = DnsNamesOf(followed);
    if (!names.empty()) s.dns = SampleDnsAnswers(*fleet.dns, names, target, fleet.members);
  }
  return s;
}

std::string Percent(int64_t ready, int64_t desired) {
  return desired > 0 ? std::to_string(ready * 100 / desired) + "%" : "n/a";
}

// Ends a drill: the report and status say how and when, and an injected fault is to be
// healed (the caller performs it; `heal_error` is its failure on a previous attempt).
// A Completed or Aborted drill goes on watching the replicas return for `observe_seconds`.
void Finish(DrillStep* step, DrillRecord* record, const std::string& phase,
            const std::string& message, int64_t elapsed_ms, Timestamp now, const Status* heal_error,
            int64_t observe_seconds) {
  record->restored_ms = elapsed_ms;
  if (phase != "Failed") StartReturnObservation(record, observe_seconds);
  step->status.phase = phase;
  step->status.completion_time = FormatRfc3339(now);
  step->status.message = message + "; target restored for placement";
  if (record->fault_injected) {
    if (heal_error) {
      record->fault_healed = false;
      step->status.message += "; healing the fault failed (retrying): " + heal_error->message();
    } else {
      record->fault_healed = true;
      step->status.message += "; fault healed";
      step->fault = FaultAction::kHeal;
    }
  }
  step->status.report = RecordToJson(*record);
}

DrillStep FailStep(const api::FailoverDrill& drill, const std::string& message, Timestamp now) {
  DrillStep step{drill.status, FaultAction::kNone};
  step.status.phase = "Failed";
  step.status.message = message;
  step.status.completion_time = FormatRfc3339(now);
  return step;
}

std::string SimulationSummary(const json& report) {
  int64_t moved = 0;
  for (const auto& [region, n] : report["replicasMovedPerRegion"].items()) {
    if (n.get<int64_t>() > 0) moved += n.get<int64_t>();
  }
  int64_t unplaced = 0;
  for (const json& u : report["unplaced"]) unplaced += u.value("replicas", int64_t{0});
  return "simulated: " + std::to_string(report["workloads"].size()) + " workloads affected, " +
         std::to_string(report.value("replicasOnTarget", int64_t{0})) +
         " replicas on the target, " + std::to_string(moved) +
         " replicas would move between regions, " +
         std::to_string(report["residencyViolations"].get<int64_t>()) + " residency violations, " +
         std::to_string(unplaced) + " replicas unplaced";
}

DrillStep StartStep(const api::FailoverDrill& drill, const Fleet& fleet, Timestamp now,
                    const Status* fault_error) {
  if (Status st = CheckTargetExists(drill.spec.target, fleet.members); !st.ok()) {
    return FailStep(drill, st.message(), now);
  }
  if (drill.spec.mode == "simulate") {
    StatusOr<json> report = SimulateDrill(drill, fleet, now);
    if (!report.ok()) return FailStep(drill, "simulating: " + report.status().message(), now);
    DrillStep step{drill.status, FaultAction::kNone};
    step.status.phase = "Completed";
    step.status.start_time = step.status.completion_time = FormatRfc3339(now);
    step.status.message = SimulationSummary(*report);
    step.status.report = std::move(report).value();
    return step;
  }
  if (AbortRequested(drill)) {
    DrillStep step = FailStep(drill, "aborted before it started; nothing was changed", now);
    step.status.phase = "Aborted";
    return step;
  }
  DrillRecord record = StartRecord(drill, EpochMs(now), fleet.workloads, fleet.members);
  record.fault_injected = drill.spec.inject_fault;
  if (fault_error) {
    // Part of the fault may be in place: the report asks for a heal, retried until it works.
    DrillStep step = FailStep(drill, "injecting the fault: " + fault_error->message(), now);
    record.restored_ms = 0;
    step.status.report = RecordToJson(record);
    return step;
  }
  auto followed = FollowedWorkloads(record, fleet.workloads);
  AddSample(&record, Sample(drill.spec.target, 0, followed, fleet, now), followed, fleet.members,
            fleet.policies, fleet.topology);
  DrillStep step{drill.status, drill.spec.inject_fault ? FaultAction::kInject : FaultAction::kNone};
  step.status.phase = "Running";
  step.status.start_time = FormatRfc3339(now);
  step.status.message = "running: " + record.failure + " failure of " +
                        DescribeTarget(drill.spec.target) + " for " +
                        std::to_string(drill.spec.duration_seconds) + "s";
  step.status.report = RecordToJson(record);
  return step;
}

DrillStep RunningStep(const api::FailoverDrill& drill, const Fleet& fleet, Timestamp now,
                      std::chrono::milliseconds interval, const Status* fault_error) {
  StatusOr<DrillRecord> parsed = RecordFromJson(drill.status.report);
  if (!parsed.ok()) {
    // Without the report nothing says what was injected: heal what the spec asked for.
    DrillRecord record;
    record.target = DescribeTarget(drill.spec.target);
    record.mode = drill.spec.mode;
    record.failure = drill.spec.inject_fault ? kFailureInjected : kFailureDeclared;
    record.fault_injected = drill.spec.inject_fault;
    DrillStep step{drill.status, FaultAction::kNone};
    Finish(&step, &record, "Failed", "unreadable report: " + parsed.status().message(), 0, now,
           fault_error, 0);
    return step;
  }
  DrillRecord record = std::move(parsed).value();
  DrillStep step{drill.status, FaultAction::kNone};
  const int64_t elapsed = EpochMs(now) - record.started_at_ms;
  const int64_t last = record.timeline.empty() ? INT64_MIN / 2 : record.timeline.back().at_ms;
  bool sampled = false;
  // DNS needs a moment after detection (health -> record set -> served snapshot): its abort
  // condition is judged on samples after the one that first saw the target failed.
  const bool detected_before = record.detected_ms.has_value();
  if (elapsed - last >= interval.count()) {
    auto followed = FollowedWorkloads(record, fleet.workloads);
    AddSample(&record, Sample(drill.spec.target, elapsed, followed, fleet, now), followed,
              fleet.members, fleet.policies, fleet.topology);
    sampled = true;
  }
  const DrillSample* latest = record.timeline.empty() ? nullptr : &record.timeline.back();
  if (AbortRequested(drill)) {
    record.aborted_ms = elapsed;
    record.abort_reason = "requested";
    Finish(&step, &record, "Aborted", "aborted on request after " + Seconds(elapsed), elapsed, now,
           fault_error, drill.spec.observe_return_seconds);
    return step;
  }
  if (sampled && AbortConditionFires(*latest, drill.spec.abort_below_percent)) {
    record.aborted_ms = elapsed;
    record.abort_condition_fired = true;
    record.abort_reason = "availability " + Percent(latest->ready, latest->desired) + " (" +
                          std::to_string(latest->ready) + " of " + std::to_string(latest->desired) +
                          " ready) below " + std::to_string(*drill.spec.abort_below_percent) + "%";
    Finish(&step, &record, "Aborted",
           "aborted after " + Seconds(elapsed) + ": " + record.abort_reason, elapsed, now,
           fault_error, drill.spec.observe_return_seconds);
    return step;
  }
  if (sampled && drill.spec.abort_on_residency_violation && !record.residency_violations.empty()) {
    const ResidencyViolation& v = record.residency_violations.front();
    record.aborted_ms = elapsed;
    record.abort_condition_fired = true;
    record.abort_reason = "residency violation: " + v.workload + " placed on " + v.cluster + " (" +
                          v.jurisdiction + ")";
    Finish(&step, &record, "Aborted",
           "aborted after " + Seconds(elapsed) + ": " + record.abort_reason, elapsed, now,
           fault_error, drill.spec.observe_return_seconds);
    return step;
  }
  if (sampled && detected_before && latest->dns &&
      DnsAbortFires(*latest->dns, drill.spec.abort_dns_to_failed_percent)) {
    record.aborted_ms = elapsed;
    record.abort_condition_fired = true;
    record.abort_reason = "DNS answers pointing at the failed target " +
                          std::to_string(latest->dns->PercentToFailed()) + "% (" +
                          std::to_string(latest->dns->to_failed) + " of " +
                          std::to_string(latest->dns->answers) + ") above " +
                          std::to_string(*drill.spec.abort_dns_to_failed_percent) + "% after " +
                          "detection";
    Finish(&step, &record, "Aborted",
           "aborted after " + Seconds(elapsed) + ": " + record.abort_reason, elapsed, now,
           fault_error, drill.spec.observe_return_seconds);
    return step;
  }
  if (elapsed >= drill.spec.duration_seconds * 1000) {
    Finish(&step, &record, "Completed", "completed after " + Seconds(elapsed), elapsed, now,
           fault_error, drill.spec.observe_return_seconds);
    return step;
  }
  if (sampled) {
    step.status.message =
        "running: " + Seconds(elapsed) + " of " + std::to_string(drill.spec.duration_seconds) +
        "s, " + std::to_string(latest->ready) + "/" + std::to_string(latest->desired) + " ready";
    step.status.report = RecordToJson(record);
  }
  return step;
}

// A finished drill whose injected fault is not healed yet.
DrillStep HealStep(const api::FailoverDrill& drill, const Status* fault_error) {
  DrillStep step{drill.status, FaultAction::kNone};
  StatusOr<DrillRecord> parsed = RecordFromJson(drill.status.report);
  DrillRecord record = parsed.ok() ? std::move(parsed).value() : DrillRecord{};
  const std::string base = drill.status.message.substr(0, drill.status.message.find("; healing"));
  if (fault_error) {
    step.status.message = base + "; healing the fault failed (retrying): " + fault_error->message();
    return step;
  }
  record.fault_healed = true;
  record.fault_injected = true;
  step.status.message = base + "; fault healed";
  step.status.report = RecordToJson(record);
  step.fault = FaultAction::kHeal;
  return step;
}

// After the restore: a return sample into `status->report` when one is due (an interval
// after the previous sample) and the drill is watching the return. The phase stays.
void ObserveReturn(const api::DrillTarget& target, const Fleet& fleet, Timestamp now,
                   std::chrono::milliseconds interval, api::FailoverDrillStatus* status) {
  StatusOr<DrillRecord> parsed = RecordFromJson(status->report);
  if (!parsed.ok() || !WatchingReturn(*parsed)) return;
  DrillRecord record = std::move(parsed).value();
  const int64_t elapsed = EpochMs(now) - record.started_at_ms;
  const int64_t last = record.timeline.empty() ? INT64_MIN / 2 : record.timeline.back().at_ms;
  if (elapsed - last < interval.count()) return;
  auto followed = FollowedWorkloads(record, fleet.workloads);
  AddReturnSample(&record, Sample(target, elapsed, followed, fleet, now),
                  ReturnProgressOf(target, record.before, followed, fleet.members), followed,
                  fleet.members, fleet.policies, fleet.topology);
  status->report = RecordToJson(record);
}

bool WatchingReturnOf(const api::FailoverDrill& drill) {
  const json& r = drill.status.report;
  return r.is_object() && r.value("returnObservation", "") == kReturnWatching;
}

constexpr char kWho[] = "drill controller";

// What a drill or game day did, at the default level with its fields (the controller records
// no Event, so this line is the only record of it in the log).
void LogDrillEvent(const std::string& drill, std::string_view reason, const std::string& message) {
  spdlog::info(LogFields(message, {{"controller", "drill-controller"},
                                   {"kind", "FailoverDrill"},
                                   {"object", drill},
                                   {"reason", reason}}));
}

}  // namespace

StatusOr<Fleet> DrillController::LoadFleet() {
  if (!started_) {
    // No watch keeps the caches current: read the API now (tests drive passes by hand).
    for (apimachinery::InformerBase* informer : std::initializer_list<apimachinery::InformerBase*>{
             &fleet_.members, &fleet_.topologies, &fleet_.policies, &fleet_.workloads}) {
      MERIDIAN_RETURN_IF_ERROR(informer->Relist());
    }
  }
  Fleet fleet;
  fleet.members = fleet_.members.cache().Values();
  fleet.topologies = fleet_.topologies.cache().Values();
  fleet.topology = scheduling::MergedTopology(fleet.topologies);
  fleet.policies = fleet_.policies.cache().Values();
  fleet.workloads = fleet_.workloads.cache().Values();
  fleet.drills = fleet_.drills.cache().Values();
  return fleet;
}

apimachinery::ApiResult<json> DrillController::Wrote(apimachinery::ApiResult<json> result) {
  if (result.ok()) fleet_.drills.Assume(result.value());  // the next pass reads what was written
  return result;
}

namespace {

bool HasFinalizer(const api::FailoverDrill& drill) {
  const auto& f = drill.metadata.finalizers;
  return std::find(f.begin(), f.end(), kHealFinalizer) != f.end();
}

bool FaultUnhealed(const api::FailoverDrill& drill) {
  const json& r = drill.status.report;
  return r.is_object() && r.value("faultInjected", false) && !r.value("faultHealed", false);
}

}  // namespace

bool DrillNeedsWork(const api::FailoverDrill& drill) {
  if (!drill.metadata.deletion_timestamp.empty()) return HasFinalizer(drill);
  if (drill.spec.IsGameDay()) return !Final(drill.status.phase);
  if (!Final(drill.status.phase)) return true;
  return FaultUnhealed(drill) || WatchingReturnOf(drill);
}

DrillStep NextDrillStep(const api::FailoverDrill& drill, const Fleet& fleet, Timestamp now,
                        std::chrono::milliseconds sample_interval, const Status* fault_error,
                        bool heal_due) {
  const std::string& phase = drill.status.phase;
  if (phase.empty()) {
    DrillStep step{drill.status, FaultAction::kNone};
    step.status.phase = "Pending";
    step.status.message = "starting";
    return step;
  }
  if (phase == "Pending") return StartStep(drill, fleet, now, fault_error);
  if (phase == "Running") return RunningStep(drill, fleet, now, sample_interval, fault_error);
  if (!DrillNeedsWork(drill)) return DrillStep{drill.status, FaultAction::kNone};
  DrillStep step = FaultUnhealed(drill) && heal_due ? HealStep(drill, fault_error)
                                                    : DrillStep{drill.status, FaultAction::kNone};
  ObserveReturn(drill.spec.target, fleet, now, sample_interval, &step.status);
  return step;
}

DrillController::DrillController(apimachinery::ObjectService& objects, const Clock& clock,
                                 std::shared_ptr<FaultInjector> injector,
                                 DrillControllerOptions options,
                                 apimachinery::SharedInformerFactory* informers)
    : objects_(objects),
      clock_(clock),
      injector_(std::move(injector)),
      options_(options),
      own_informers_(informers ? nullptr
                               : std::make_unique<apimachinery::SharedInformerFactory>(objects)),
      informers_(informers ? *informers : *own_informers_),
      fleet_(informers_, kWho),
      member_clients_(options_.member_clients
                          ? std::make_unique<sync::MemberClientCache>(options_.member_clients)
                          : nullptr),
      loop_([this] { return Pass(); }) {}

DrillController::~DrillController() { Stop(); }

Status DrillController::Start() {
  // Only a change to a drill wakes the worker; the fleet's informers are read by passes.
  handlers_.emplace_back(
      fleet_.drills.cache(),
      apimachinery::InformerHandlers<api::FailoverDrill>{
          .on_key = [this](const apimachinery::InformerKey&) { loop_.MarkDirty(); }});
  for (apimachinery::InformerBase* informer : std::initializer_list<apimachinery::InformerBase*>{
           &fleet_.drills, &fleet_.members, &fleet_.topologies, &fleet_.policies,
           &fleet_.workloads}) {
    if (Status st = informer->Start(); !st.ok()) {
      handlers_.clear();
      return UnavailableError(std::string(kWho) + ": " + st.message());
    }
  }
  started_ = true;
  loop_.Start();
  return Status::Ok();
}

void DrillController::Stop() {
  handlers_.clear();
  loop_.Stop();
  if (own_informers_) own_informers_->Stop();
}

std::optional<std::chrono::milliseconds> DrillController::Pass() {
  // A running drill needs a pass every interval (samples, the end, heal retries) even when
  // nothing is written to it; otherwise only a change to a drill wakes the worker.
  bool active = false;
  StatusOr<int> written = ReconcileAll(&active);
  if (!written.ok()) {
    spdlog::warn("drill controller: {}", written.status().ToString());
    active = true;  // retry shortly
  }
  if (!active) return std::nullopt;
  return options_.sample_interval;
}

std::shared_ptr<const DnsObservation> DrillController::ObserveServedDns(
    const std::vector<api::FederatedWorkload>& workloads) {
  std::shared_ptr<const dns::Snapshot> snapshot = options_.dns_answers();
  if (snapshot == nullptr) return nullptr;
  // Every drill picks its followed workloads' names out of one observation per pass.
  const std::vector<std::string> names = DnsNamesOf(workloads);
  if (options_.dns_transport) {
    return std::make_shared<DnsObservation>(ObserveDns(snapshot, names, *options_.dns_transport));
  }
  SnapshotDnsTransport in_process(snapshot);
  return std::make_shared<DnsObservation>(ObserveDns(snapshot, names, in_process));
}

StatusOr<int> DrillController::ReconcileAll(bool* active) {
  const ResourceInfo& info = api::MeridianResource(objects_, "failoverdrills", kWho);
  if (!started_) MERIDIAN_RETURN_IF_ERROR(fleet_.drills.Relist());
  const std::vector<api::FailoverDrill> drills = fleet_.drills.cache().Values();
  bool any_active = false;
  int written = 0;
  std::optional<Fleet> fleet;
  for (const api::FailoverDrill& drill : drills) {
    if (!DrillNeedsWork(drill)) continue;
    if (drill.spec.IsGameDay()) {
      if (drill.metadata.deletion_timestamp.empty()) {
        written += ReconcileGameDay(drill, drills, clock_.Now()) ? 1 : 0;
        any_active = true;  // due runs and step ends are found by passes
      }
      continue;
    }
    AbortOrphanedStep(drill, drills);
    if (!fleet) {
      MERIDIAN_ASSIGN_OR_RETURN(fleet, LoadFleet());
      fleet->read_at = clock_.Now();
    }
    if (member_clients_ && !fleet->observed && SamplesLive(drill)) {
      fleet->observed = ObserveMembers(fleet->members);
    }
    if (options_.dns_answers && !fleet->dns && SamplesLive(drill)) {
      fleet->dns = ObserveServedDns(fleet->workloads);
    }
    const Timestamp now = clock_.Now();
    if (!drill.metadata.deletion_timestamp.empty()) {
      any_active = !ReleaseDeleted(drill, *fleet, now) || any_active;
      continue;
    }
    api::FailoverDrill current = drill;
    if (drill.status.phase.empty() && drill.spec.inject_fault && !HasFinalizer(drill)) {
      // Before anything is injected: from here on, a delete waits for the heal.
      current.metadata.finalizers.push_back(kHealFinalizer);
      auto added = Wrote(objects_.Update(info, "", drill.metadata.name, api::Encode(current)));
      if (!added.ok()) {
        spdlog::log(added.error().code == 409 ? spdlog::level::debug : spdlog::level::warn,
                    "drill controller: adding the heal finalizer to {}: {}", drill.metadata.name,
                    added.error().message);
        any_active = true;
        continue;
      }
      current.metadata.resource_version = added.value()["metadata"].value("resourceVersion", "");
    }
    bool heal_due = true;
    if (Final(drill.status.phase) && FaultUnhealed(drill)) {
      // Heal retries of finished drills wait an interval; their status writes wake us too.
      auto& last = last_heal_attempt_[drill.metadata.name];
      heal_due = last.time_since_epoch().count() == 0 || now - last >= options_.sample_interval;
      if (heal_due) last = now;
      if (!heal_due && !WatchingReturnOf(drill)) {
        any_active = true;
        continue;
      }
    }
    DrillStep step = NextDrillStep(drill, *fleet, now, options_.sample_interval, nullptr, heal_due);
    if (step.fault != FaultAction::kNone) {
      Status st = !injector_ ? FailedPreconditionError("no fault injector is configured")
                  : step.fault == FaultAction::kInject
                      ? injector_->Inject(drill.spec.target, fleet->members)
                      : injector_->Heal(drill.spec.target, fleet->members);
      if (!st.ok()) {
        spdlog::warn(
            "drill controller: {} {}: {}", drill.metadata.name,
            step.fault == FaultAction::kInject ? "injecting the fault" : "healing the fault",
            st.ToString());
        step = NextDrillStep(drill, *fleet, now, options_.sample_interval, &st, heal_due);
      } else {
        const bool injected = step.fault == FaultAction::kInject;
        LogDrillEvent(drill.metadata.name, injected ? "FaultInjected" : "FaultHealed",
                      (injected ? "injected fault for " : "healed fault for ") +
                          DescribeTarget(drill.spec.target));
      }
    }
    api::FailoverDrill next = current;
    next.status = std::move(step.status);
    any_active = any_active || DrillNeedsWork(next);
    if (next.status == drill.status) continue;
    if (next.status.phase != drill.status.phase) {
      LogDrillEvent(drill.metadata.name, next.status.phase,
                    (drill.status.phase.empty() ? "new" : drill.status.phase) + " -> " +
                        next.status.phase + ": " + next.status.message);
    }
    auto result =
        Wrote(objects_.Update(info, "", drill.metadata.name, api::Encode(next), "status"));
    if (result.ok()) {
      ++written;
    } else {
      // 409: changed meanwhile (an abort, say); the next pass sees the new state.
      spdlog::log(result.error().code == 409 ? spdlog::level::debug : spdlog::level::warn,
                  "drill controller: writing status of {}: {}", drill.metadata.name,
                  result.error().message);
      any_active = true;
    }
  }
  if (active) *active = any_active;
  return written;
}

bool DrillController::ReconcileGameDay(const api::FailoverDrill& game_day,
                                       const std::vector<api::FailoverDrill>& drills,
                                       Timestamp now) {
  const ResourceInfo& info = api::MeridianResource(objects_, "failoverdrills", kWho);
  GameDayAction action;
  std::optional<ResolvedSchedule> schedule;
  FieldErrors problems;
  if (game_day.spec.schedule) {
    schedule = ResolveSchedule(*game_day.spec.schedule, options_.zoneinfo_root, &problems);
  }
  if (!problems.empty()) {
    // Admitted, but no longer readable (a time zone file removed, say): nothing runs.
    action.status = game_day.status;
    action.status.phase = "Failed";
    action.status.completion_time = FormatRfc3339(now);
    action.status.message = "schedule: " + problems.front().ToString();
  } else {
    action = NextGameDayStep(game_day, drills, schedule, now);
  }
  if (action.create) {
    auto created = Wrote(objects_.Create(info, "", api::Encode(*action.create)));
    if (!created.ok() && created.error().code != 409) {
      Status st = FailedPreconditionError(created.error().message);
      spdlog::warn("drill controller: game day {}: creating {}: {}", game_day.metadata.name,
                   action.create->metadata.name, st.message());
      action = NextGameDayStep(game_day, drills, schedule, now, &st);
    } else if (created.ok()) {
      LogDrillEvent(game_day.metadata.name, "StepStarted",
                    "game day started step drill " + action.create->metadata.name + " (" +
                        DescribeTarget(action.create->spec.target) + ")");
    }
  }
  if (!action.abort.empty()) {
    for (const api::FailoverDrill& d : drills) {
      if (d.metadata.name != action.abort) continue;
      api::FailoverDrill aborted = d;
      aborted.metadata.annotations[kAbortAnnotation] = "true";
      auto result = Wrote(objects_.Update(info, "", d.metadata.name, api::Encode(aborted)));
      if (!result.ok()) {
        spdlog::log(result.error().code == 409 ? spdlog::level::debug : spdlog::level::warn,
                    "drill controller: aborting {}: {}", d.metadata.name, result.error().message);
      }
    }
  }
  if (action.status == game_day.status) return false;
  if (action.status.phase != game_day.status.phase) {
    LogDrillEvent(game_day.metadata.name, action.status.phase,
                  "game day " + (game_day.status.phase.empty() ? "new" : game_day.status.phase) +
                      " -> " + action.status.phase + ": " + action.status.message);
  }
  api::FailoverDrill next = game_day;
  next.status = std::move(action.status);
  auto result =
      Wrote(objects_.Update(info, "", game_day.metadata.name, api::Encode(next), "status"));
  if (!result.ok()) {
    spdlog::log(result.error().code == 409 ? spdlog::level::debug : spdlog::level::warn,
                "drill controller: writing status of game day {}: {}", game_day.metadata.name,
                result.error().message);
    return false;
  }
  return true;
}

void DrillController::AbortOrphanedStep(const api::FailoverDrill& drill,
                                        const std::vector<api::FailoverDrill>& drills) {
  auto label = drill.metadata.labels.find(kGameDayLabel);
  if (label == drill.metadata.labels.end() || Final(drill.status.phase) || AbortRequested(drill)) {
    return;
  }
  const bool parent_alive = std::any_of(drills.begin(), drills.end(), [&](const auto& d) {
    return d.metadata.name == label->second && d.metadata.deletion_timestamp.empty();
  });
  if (parent_alive) return;
  api::FailoverDrill aborted = drill;
  aborted.metadata.annotations[kAbortAnnotation] = "true";
  auto result = Wrote(objects_.Update(api::MeridianResource(objects_, "failoverdrills", kWho), "",
                                      drill.metadata.name, api::Encode(aborted)));
  LogDrillEvent(drill.metadata.name, "Aborted",
                "aborted: its game day " + label->second + " is gone" +
                    (result.ok() ? "" : " (retrying: " + result.error().message + ")"));
}

MemberReadiness DrillController::ObserveMembers(const std::vector<api::MemberCluster>& members) {
  static const sync::GroupVersionResource kReplicated[] = {{"apps", "v1", "deployments"},
                                                           {"apps", "v1", "statefulsets"}};
  sync::MemberListOptions managed;
  managed.label_selector = std::string(sync::kManagedByLabel) + "=" + sync::kManagedByValue;
  MemberReadiness observed;
  for (const api::MemberCluster& m : members) {
    const std::string& name = m.metadata.name;
    std::string error;
    std::shared_ptr<sync::MemberClient> client = member_clients_->Get(m, &error);
    std::map<std::string, int64_t> ready;
    for (const sync::GroupVersionResource& gvr : kReplicated) {
      if (!client) break;
      StatusOr<sync::ObjectList> list = client->List(gvr, "", managed);
      if (!list.ok()) {
        error = list.status().ToString();
        client = nullptr;
        break;
      }
      for (const json& o : list->items) {
        // A member's answer is not trusted to be well-formed: json::value() throws on a
        // non-object, and an exception here would end the drill controller's pass.
        const std::string workload = StringAt(o, {"metadata", "labels", sync::kWorkloadLabel});
        const json* replicas = At(o, {"status", "readyReplicas"});
        if (!workload.empty() && replicas != nullptr && replicas->is_number_integer()) {
          ready[workload] += replicas->get<int64_t>();
        }
      }
    }
    if (!client) {
      spdlog::debug("drill controller: sampling member {}: {}", name, error);
      observed.unverified.insert(name);
      continue;
    }
    observed.ready[name] = std::move(ready);
  }
  return observed;
}

bool DrillController::ReleaseDeleted(const api::FailoverDrill& drill, const Fleet& fleet,
                                     Timestamp now) {
  if (FaultUnhealed(drill)) {
    auto& last = last_heal_attempt_[drill.metadata.name];
    if (last.time_since_epoch().count() != 0 && now - last < options_.sample_interval) return false;
    last = now;
    Status st = injector_ ? injector_->Heal(drill.spec.target, fleet.members)
                          : FailedPreconditionError("no fault injector is configured");
    if (!st.ok()) {
      spdlog::warn("drill controller: {} is being deleted; healing the fault: {}",
                   drill.metadata.name, st.ToString());
      return false;
    }
    LogDrillEvent(drill.metadata.name, "FaultHealed",
                  "healed fault for " + DescribeTarget(drill.spec.target) + " (drill deleted)");
  }
  api::FailoverDrill released = drill;
  std::erase(released.metadata.finalizers, std::string(kHealFinalizer));
  auto result = Wrote(objects_.Update(api::MeridianResource(objects_, "failoverdrills", kWho), "",
                                      drill.metadata.name, api::Encode(released)));
  if (!result.ok() && result.error().code != 404) {
    spdlog::log(result.error().code == 409 ? spdlog::level::debug : spdlog::level::warn,
                "drill controller: releasing {}: {}", drill.metadata.name, result.error().message);
    return false;
  }
  last_heal_attempt_.erase(drill.metadata.name);
  return true;
}

}  // namespace meridian::failover
