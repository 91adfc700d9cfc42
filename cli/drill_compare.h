// A drill report compared with the previous drill of the same target: is failover getting
// better or worse? Pure, over the reports as the API returns them (status.report JSON, see
// failover/drill.h RecordToJson), so fedctl can compare drills it only reads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace meridian::cli {

// One figure of two reports. `previous`/`current` are the figures as printed ("2.5s",
// "89.4%", "not reached"); the verdict is for the current drill.
struct FigureComparison {
  std::string figure;    // e.g. "time to re-place (p95 over workloads)"
  std::string previous;  // "" when the previous report does not have it
  std::string current;
  std::string verdict;   // kBetter | kWorse | kSame | kNotComparable
  friend bool operator==(const FigureComparison&, const FigureComparison&) = default;
};

inline constexpr char kBetter[] = "better";
inline constexpr char kWorse[] = "worse";
inline constexpr char kSame[] = "same";
inline constexpr char kNotComparable[] = "n/a";

// The previous drill of the same kind and target as `current` (FailoverDrill objects as
// JSON): same report.target, same mode and failure kind (injected and declared drills measure
// different things), finished (Completed or Aborted), started before `current`; the latest
// such. nullopt when there is none.
std::optional<nlohmann::json> PreviousDrillOf(const nlohmann::json& current,
                                              const std::vector<nlohmann::json>& drills);

// Figure by figure: times to detect, re-place, be fully ready and return (and their p95 over
// workloads), lowest availability, time below the SLO, residency violations and unplaced
// replicas. Times within 10 % (or 0.2 s) of each other are the same: drills on a live fleet
// are noisy, and a verdict should not flip on noise. A milestone the current drill did not
// reach while the previous one did is worse (and the other way round better).
std::vector<FigureComparison> CompareDrillReports(const nlohmann::json& previous_report,
                                                  const nlohmann::json& current_report);

// {"previous": NAME, "figures": [{figure, previous, current, verdict}...]}.
nlohmann::json ComparisonToJson(const std::string& previous_name,
                                const std::vector<FigureComparison>& figures);

}  // namespace meridian::cli
