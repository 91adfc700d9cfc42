#include "failover/gameday.h"

#include <algorithm>

#include "failover/drill.h"
#include "failover/drill_admission.h"
#include "failover/drill_controller.h"

namespace meridian::failover {
namespace {

using nlohmann::json;

bool Final(const std::string& phase) {
  return phase == "Completed" || phase == "Aborted" || phase == "Failed";
}

bool AbortRequested(const api::FailoverDrill& drill) {
  auto it = drill.metadata.annotations.find(kAbortAnnotation);
  return it != drill.metadata.annotations.end() && it->second == "true";
}

std::string StepName(const std::string& game_day, int64_t run, size_t step) {
  return game_day + "-" + std::to_string(run) + "-" + std::to_string(step);
}

std::string Describe(const api::DrillStepSpec& step) {
  return DescribeTarget(step.target) + " for " + std::to_string(step.duration_seconds) + "s";
}

const api::FailoverDrill* Find(const std::vector<api::FailoverDrill>& drills,
                               const std::string& name) {
  for (const api::FailoverDrill& d : drills) {
    if (d.metadata.name == name) return &d;
  }
  return nullptr;
}

json StepRecord(const api::FailoverDrill& game_day, int64_t run, size_t i) {
  const api::DrillStepSpec step = StepsOf(game_day.spec)[i];
  return {{"step", i},
          {"drill", StepName(game_day.metadata.name, run, i)},
          {"target", DescribeTarget(step.target)},
          {"durationSeconds", step.duration_seconds},
          {"phase", "Pending"}};
}

std::optional<Timestamp> NextRun(const std::optional<ResolvedSchedule>& schedule, Timestamp after) {
  if (!schedule) return std::nullopt;
  return NextFireTime(schedule->cron, schedule->zone, after, schedule->window);
}

void SetNextRun(json* report, const std::optional<ResolvedSchedule>& schedule, Timestamp after) {
  std::optional<Timestamp> next = NextRun(schedule, after);
  if (next) {
    (*report)["nextRunTime"] = FormatRfc3339(*next);
  } else {
    report->erase("nextRunTime");
  }
}

std::string RunMessage(const json& run) {
  const std::string phase = run.value("phase", "");
  std::string m = "run " + std::to_string(run.value("run", int64_t{0})) + " " +
                  (phase == "Completed" ? "completed"
                   : phase == "Aborted" ? "aborted"
                   : phase == "Failed"  ? "failed"
                                        : phase);
  if (run.contains("abortedAtStep")) {
    m += " at step " + std::to_string(run["abortedAtStep"].get<int64_t>());
    const std::string reason = run.value("abortReason", "");
    if (!reason.empty()) m += ": " + reason;
  } else if (phase == "Completed") {
    m += ": " + std::to_string(run["steps"].size()) + " steps";
  }
  return m;
}

// Ends the run in progress.
void EndRun(json* run, const std::string& phase, const std::string& completion) {
  (*run)["phase"] = phase;
  (*run)["completionTime"] = completion;
  (*run)["message"] = RunMessage(*run);
}

}  // namespace

std::vector<api::DrillStepSpec> StepsOf(const api::FailoverDrillSpec& spec) {
  if (!spec.steps.empty()) return spec.steps;
  return {api::DrillStepSpec{spec.target, spec.duration_seconds}};
}

std::optional<ResolvedSchedule> ResolveSchedule(const api::DrillSchedule& schedule,
                                                const std::string& zoneinfo_root,
                                                FieldErrors* errors) {
  const size_t before = errors->size();
  ResolvedSchedule out;
  if (StatusOr<CronSchedule> cron = ParseCron(schedule.cron); cron.ok()) {
    out.cron = std::move(cron).value();
  } else {
    errors->push_back({"spec.schedule.cron", cron.status().message()});
  }
  if (StatusOr<TimeZone> zone = TimeZone::Load(schedule.time_zone, zoneinfo_root); zone.ok()) {
    out.zone = std::move(zone).value();
  } else {
    errors->push_back({"spec.schedule.timeZone", zone.status().message()});
  }
  if (!schedule.window_start.empty() || !schedule.window_end.empty()) {
    StatusOr<int> start = ParseTimeOfDay(schedule.window_start);
    StatusOr<int> end = ParseTimeOfDay(schedule.window_end);
    if (!start.ok()) errors->push_back({"spec.schedule.window.start", start.status().message()});
    if (!end.ok()) errors->push_back({"spec.schedule.window.end", end.status().message()});
    if (start.ok() && end.ok() && *start == *end) {
      errors->push_back({"spec.schedule.window.end", "the window is empty (end equals start)"});
    } else if (start.ok() && end.ok()) {
      out.window = MaintenanceWindow{*start, *end};
    }
  }
  if (errors->size() != before) return std::nullopt;
  return out;
}

api::FailoverDrill StepDrill(const api::FailoverDrill& game_day, int64_t run, size_t step) {
  const api::DrillStepSpec s = StepsOf(game_day.spec)[step];
  api::FailoverDrill d;
  d.metadata.name = StepName(game_day.metadata.name, run, step);
  d.metadata.labels[kGameDayLabel] = game_day.metadata.name;
  for (const char* acknowledgement :
       {kAllowResidencyOutageAnnotation, kAllowRolloutOverlapAnnotation}) {
    if (auto it = game_day.metadata.annotations.find(acknowledgement);
        it != game_day.metadata.annotations.end()) {
      d.metadata.annotations[it->first] = it->second;
    }
  }
  d.spec.target = s.target;
  d.spec.duration_seconds = s.duration_seconds;
  d.spec.mode = game_day.spec.mode;
  d.spec.inject_fault = game_day.spec.inject_fault;
  d.spec.abort_below_percent = game_day.spec.abort_below_percent;
  d.spec.abort_on_residency_violation = game_day.spec.abort_on_residency_violation;
  d.spec.abort_dns_to_failed_percent = game_day.spec.abort_dns_to_failed_percent;
  d.spec.slo_min_availability_percent = game_day.spec.slo_min_availability_percent;
  d.spec.observe_return_seconds = game_day.spec.observe_return_seconds;
  return d;
}

GameDayAction NextGameDayStep(const api::FailoverDrill& game_day,
                              const std::vector<api::FailoverDrill>& drills,
                              const std::optional<ResolvedSchedule>& schedule, Timestamp now,
                              const Status* create_error) {
  GameDayAction action{game_day.status, std::nullopt, ""};
  api::FailoverDrillStatus& status = action.status;
  if (Final(status.phase)) return action;
  json report = status.report.is_object() ? status.report : json::object();
  if (!report.contains("runs") || !report["runs"].is_array()) report["runs"] = json::array();
  report["gameDay"] = true;
  json steps_text = json::array();
  for (const api::DrillStepSpec& s : StepsOf(game_day.spec)) steps_text.push_back(Describe(s));
  report["steps"] = std::move(steps_text);
  json& runs = report["runs"];
  const std::string now_text = FormatRfc3339(now);
  const size_t step_count = StepsOf(game_day.spec).size();

  if (status.phase.empty()) {
    status.start_time = now_text;
    if (game_day.spec.schedule) {
      status.phase = "Scheduled";
      SetNextRun(&report, schedule, now);
      status.message = report.contains("nextRunTime")
                           ? "next run at " + report["nextRunTime"].get<std::string>()
                           : "the schedule never fires";
      status.report = std::move(report);
      return action;
    }
    if (AbortRequested(game_day)) {
      status.phase = "Aborted";
      status.completion_time = now_text;
      status.message = "aborted before it started; nothing was changed";
      status.report = std::move(report);
      return action;
    }
  }

  const bool in_progress = !runs.empty() && runs.back().value("phase", "") == "Running";
  if (in_progress) {
    json& run = runs.back();
    const int64_t n = run.value("run", int64_t{1});
    const size_t i = run.value("step", size_t{0});
    json& step = run["steps"][i];
    const std::string name = step.value("drill", "");
    const api::FailoverDrill* child = Find(drills, name);
    if (create_error != nullptr) {
      step["phase"] = "Failed";
      step["message"] = "creating drill " + name + ": " + create_error->message();
      run["abortedAtStep"] = i;
      run["abortReason"] = step["message"];
      run["abortedAt"] = now_text;
      EndRun(&run, "Failed", now_text);
    } else if (child == nullptr) {
      action.create = StepDrill(game_day, n, i);  // not created yet, or the write was lost
    } else {
      const api::FailoverDrillStatus& cs = child->status;
      if (!cs.phase.empty()) step["phase"] = cs.phase;
      if (!cs.start_time.empty()) step["startTime"] = cs.start_time;
      if (!cs.completion_time.empty()) step["completionTime"] = cs.completion_time;
      if (!cs.message.empty()) step["message"] = cs.message;
      if (AbortRequested(game_day) && !Final(cs.phase) && !AbortRequested(*child)) {
        action.abort = name;
      }
      if (cs.phase == "Completed" && i + 1 < step_count) {
        run["step"] = i + 1;
        run["steps"].push_back(StepRecord(game_day, n, i + 1));
        action.create = StepDrill(game_day, n, i + 1);
        status.message = "run " + std::to_string(n) + ": step " + std::to_string(i + 1) + " of " +
                         std::to_string(step_count) + " (" +
                         Describe(StepsOf(game_day.spec)[i + 1]) + ")";
      } else if (cs.phase == "Completed") {
        EndRun(&run, "Completed", cs.completion_time.empty() ? now_text : cs.completion_time);
      } else if (cs.phase == "Aborted" || cs.phase == "Failed") {
        const json& cr = cs.report;
        std::string reason = cr.is_object() ? cr.value("abortReason", "") : "";
        if (reason == "requested") reason = "abort requested";
        if (reason.empty()) reason = cs.message;
        run["abortedAtStep"] = i;
        run["abortReason"] = reason;
        run["abortedAt"] = cs.completion_time.empty() ? now_text : cs.completion_time;
        EndRun(&run, cs.phase, run["abortedAt"].get<std::string>());
      }
    }
    if (run.value("phase", "") != "Running") {
      status.message = run["message"].get<std::string>();
      if (game_day.spec.schedule) {
        status.phase = "Scheduled";
        SetNextRun(&report, schedule, now);
        if (report.contains("nextRunTime")) {
          status.message += "; next run at " + report["nextRunTime"].get<std::string>();
        }
      } else {
        status.phase = run["phase"].get<std::string>();
        status.completion_time = run["completionTime"].get<std::string>();
      }
    }
    status.report = std::move(report);
    return action;
  }

  // No run in progress: start one when due.
  std::string scheduled_for = now_text;
  if (game_day.spec.schedule) {
    Timestamp next;
    if (!report.contains("nextRunTime") || !ParseRfc3339(report.value("nextRunTime", ""), &next) ||
        now < next) {
      status.report = std::move(report);
      return action;
    }
    scheduled_for = FormatRfc3339(next);
    // A run starts only inside its window (the controller may have been down at the fire
    // time), and never more than a day late.
    const int64_t now_s =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    const bool in_window = schedule && (!schedule->window ||
                                        InWindow(*schedule->window, schedule->zone.ToLocal(now_s)));
    if (!schedule || !in_window || now - next > std::chrono::hours(24)) {
      const int64_t n = runs.empty() ? 1 : runs.back().value("run", int64_t{0}) + 1;
      runs.push_back(
          {{"run", n},
           {"scheduledFor", scheduled_for},
           {"phase", "Skipped"},
           {"message", "not started: at " + now_text + " the maintenance window had passed"}});
      SetNextRun(&report, schedule, now);
      status.message = "run " + std::to_string(n) + " skipped (outside its window)";
      if (runs.size() > kMaxRuns) runs.erase(runs.begin());
      status.report = std::move(report);
      return action;
    }
  } else if (!runs.empty()) {
    status.report = std::move(report);  // an unscheduled game day runs once
    return action;
  }
  const int64_t n = runs.empty() ? 1 : runs.back().value("run", int64_t{0}) + 1;
  runs.push_back({{"run", n},
                  {"scheduledFor", scheduled_for},
                  {"startTime", now_text},
                  {"phase", "Running"},
                  {"step", 0},
                  {"steps", json::array({StepRecord(game_day, n, 0)})}});
  if (runs.size() > kMaxRuns) runs.erase(runs.begin());
  report["lastRunTime"] = now_text;
  report.erase("nextRunTime");
  action.create = StepDrill(game_day, n, 0);
  status.phase = "Running";
  status.message = "run " + std::to_string(n) + ": step 0 of " + std::to_string(step_count) + " (" +
                   Describe(StepsOf(game_day.spec)[0]) + ")";
  status.report = std::move(report);
  return action;
}

std::vector<Timestamp> RunStarts(const ResolvedSchedule& schedule, Timestamp from, Timestamp until,
                                 size_t limit) {
  std::vector<Timestamp> out;
  Timestamp after = from - std::chrono::seconds(1);
  while (out.size() < limit) {
    std::optional<Timestamp> next =
        NextFireTime(schedule.cron, schedule.zone, after, schedule.window);
    if (!next || *next >= until) break;
    out.push_back(*next);
    after = *next;
  }
  return out;
}

}  // namespace meridian::failover
