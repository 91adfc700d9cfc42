// fedctl drill status / report: a FailoverDrill (as the API returns it, JSON) rendered for
// people. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace meridian::cli {

// One line of live progress: phase, elapsed time, ready/desired in total and per region
// (from the latest timeline sample), e.g.
// "Running  elapsed 12s/60s  ready 27/30 (90%)  eu-central 9/9  eu-west 0/0  us-east 9/9".
// `now` is used for the elapsed time of a running drill. A finished drill adds its return
// (DrillReturnText) when the report says anything about it.
std::string DrillProgressLine(const nlohmann::json& drill, Timestamp now);

// The report as text: mode, target, phase and message; time to detect, to re-place, until
// the full replica count was ready again; whether an abort condition fired; lowest
// availability; placement per region before and while failed, with the replicas moved;
// residency violations; unplaced replicas and why; per-workload placement (before -> after
// for a simulation); fault injection; the timeline's extent; the return to the target after
// the restore (DrillReturnText). A drill without a report yet says so.
std::string DrillReportText(const nlohmann::json& drill);

// The replicas' return to the target after the restore, from status.report, e.g.
// "replicas back on the target 62.3s after restore (9 of 9 ready)", "return still in
// progress: 3 of 9 on the target, 0 ready (watching until 600.0s after restore)", "not back
// within 600.0s: 3 of 9 on the target, 1 ready"; "" for a report that says nothing about it
// (a simulation, a running or failed drill).
// With `now`, a return still watched also says how long ago the restore was ("return still
// in progress 42s after restore: ...").
std::string DrillReturnText(const nlohmann::json& report, std::optional<Timestamp> now = std::nullopt);

}  // namespace meridian::cli
