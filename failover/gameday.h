// Game days, pure core: a FailoverDrill with `spec.schedule` and/or `spec.steps` (api/types.h)
// is not a drill of its own but runs single-target drills in turn. Each run (one per fire of
// the schedule, inside its maintenance window; or one at once without a schedule) creates
// the drill of step 0 (`<game day>-<run>-<step>`, labelled kGameDayLabel), waits until it
// ends, then creates the next step's; the run ends Completed after the last step, or as soon
// as a step's drill ends Aborted or Failed (the steps after it never start). A step's drill is
// an ordinary drill (failover/drill_controller.h): it injects or declares its target's failure,
// samples, evaluates spec.abortConditions at every sample (availability, residency violation),
// and on abort restores and heals at once; the game day only sequences and records.
//
// The game day's status.report:
//   {"gameDay": true, "steps": ["zone=eu-west-1a for 120s", ...],
//    "nextRunTime": RFC 3339 (scheduled only), "lastRunTime": RFC 3339,
//    "runs": [{"run": N, "scheduledFor", "startTime", "completionTime",
//              "phase": Running|Completed|Aborted|Failed|Skipped, "step": index now,
//              "steps": [{"drill", "target", "durationSeconds", "phase", "startTime",
//                         "completionTime", "message"}],
//              "abortedAtStep", "abortReason", "abortedAt", "message"}]}  (the last kMaxRuns)
// Phases of the game day: scheduled ones are Scheduled between runs and Running during one,
// and never end (delete to stop them); unscheduled ones run once: Running, then the run's
// final phase. No I/O, no clock reads: the shell passes the resolved schedule and `now`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/types.h"
#include "common/clock.h"
#include "common/field_error.h"
#include "common/status.h"
#include "failover/cron.h"

namespace meridian::failover {

// Carried by a step's drill: the game day it belongs to.
inline constexpr char kGameDayLabel[] = "drills.meridian.io/game-day";
// Runs kept in the report (older ones are dropped; run numbers keep counting).
inline constexpr size_t kMaxRuns = 20;

// The steps of a game day: spec.steps, or the single spec.target for spec.durationSeconds.
std::vector<api::DrillStepSpec> StepsOf(const api::FailoverDrillSpec& spec);

// A schedule ready to evaluate.
struct ResolvedSchedule {
  CronSchedule cron;
  TimeZone zone = TimeZone::Utc();
  std::optional<MaintenanceWindow> window;
};
// Parses and loads `schedule` (time zone files under `zoneinfo_root`). On a problem appends
// it to `errors` with its field (spec.schedule.cron / .timeZone / .window.start / .window.end)
// and returns nullopt.
std::optional<ResolvedSchedule> ResolveSchedule(const api::DrillSchedule& schedule,
                                                const std::string& zoneinfo_root,
                                                FieldErrors* errors);

// The drill of step `step` in run `run` of `game_day`: the step's target and duration, the game
// day's mode, failure kind, abort conditions, SLO and return observation.
api::FailoverDrill StepDrill(const api::FailoverDrill& game_day, int64_t run, size_t step);

// What the shell does next for a game day.
struct GameDayAction {
  api::FailoverDrillStatus status;           // the game day's next status
  std::optional<api::FailoverDrill> create;  // a step's drill to create (409: already there)
  std::string abort;                         // a step's drill to abort (kAbortAnnotation)
};

// The game day machine at `now`. `drills`: every stored drill (the steps' drills are found by
// name). `schedule`: the resolved spec.schedule (nullopt: unscheduled). `create_error`: the
// error creating `create` gave on the previous attempt of this same step (the run fails,
// saying so). A game day carrying kAbortAnnotation aborts the step in progress; the run then
// ends Aborted at that step.
GameDayAction NextGameDayStep(const api::FailoverDrill& game_day,
                              const std::vector<api::FailoverDrill>& drills,
                              const std::optional<ResolvedSchedule>& schedule, Timestamp now,
                              const Status* create_error = nullptr);

// The start times of a schedule's runs in [from, until), at most `limit` of them.
std::vector<Timestamp> RunStarts(const ResolvedSchedule& schedule, Timestamp from, Timestamp until,
                                 size_t limit);

}  // namespace meridian::failover
