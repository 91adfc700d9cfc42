// fedctl drill status / report for a game day (a FailoverDrill with spec.schedule or
// spec.steps, failover/gameday.h): its schedule, steps and runs. Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace meridian::cli {

// Whether `drill` (as the API returns it) is a game day.
bool IsGameDay(const nlohmann::json& drill);

// One line for fedctl drill status: phase and message ("Scheduled  run 1 aborted at step 1:
// availability 50% (5 of 10 ready) below 80%; next run at 2026-12-07T02:00:00Z").
std::string GameDayStatusLine(const nlohmann::json& drill);

// The game day as text: phase and message, schedule (cron, time zone, window), steps, last and
// next run time, then one block per recorded run: when it was due and started, how it ended,
// and for an aborted run the step, the condition that aborted it and when; each step's drill
// (its own report: fedctl drill report NAME).
std::string GameDayReportText(const nlohmann::json& drill);

}  // namespace meridian::cli
