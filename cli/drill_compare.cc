#include "cli/drill_compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "cli/report_json.h"

namespace meridian::cli {
namespace {

using nlohmann::json;
using report_json::Field;
using report_json::Int;
using report_json::Str;


std::optional<double> Number(const json& j) {
  if (!j.is_number()) return std::nullopt;
  return j.get<double>();
}

// How a figure reads and which direction is good.
enum class Good { kLower, kHigher };

struct Figure {
  std::string name;
  std::optional<double> previous, current;
  // A milestone that the report names but has no value for was not reached.
  bool previous_missing_means_unreached = false, current_missing_means_unreached = false;
  Good good = Good::kLower;
  bool is_time = true;
  std::string unit = "s";
};

std::string Print(std::optional<double> v, bool unreached, const Figure& f) {
  if (!v) return unreached ? "not reached" : "";
  if (f.is_time) return fmt::format("{:.1f}s", *v);
  if (f.unit == "%") return fmt::format("{:.1f}%", *v);
  return fmt::format("{:.0f}", *v);
}

std::string Verdict(const Figure& f) {
  if (f.previous && f.current) {
    const double a = *f.previous, b = *f.current;
    const double tolerance = f.is_time ? std::max(0.2, 0.1 * std::max(std::abs(a), std::abs(b))) : 1e-9;
    if (std::abs(a - b) <= tolerance) return kSame;
    const bool lower = b < a;
    return (lower == (f.good == Good::kLower)) ? kBetter : kWorse;
  }
  // One side missed a milestone the other reached (only for "lower is better" times).
  if (f.previous && !f.current && f.current_missing_means_unreached) return kWorse;
  if (!f.previous && f.current && f.previous_missing_means_unreached) return kBetter;
  return kNotComparable;
}

// A milestone in seconds: present as a number, or present as null (not reached).
void Milestone(const json& prev, const json& cur, const char* key, Figure* f) {
  f->previous = Number(Field(prev, key));
  f->current = Number(Field(cur, key));
  f->previous_missing_means_unreached = prev.is_object() && prev.contains(key) && Field(prev, key).is_null();
  f->current_missing_means_unreached = cur.is_object() && cur.contains(key) && Field(cur, key).is_null();
}

double UnplacedTotal(const json& report) {
  double total = 0;
  const json& unplaced = Field(report, "unplaced");
  if (!unplaced.is_array()) return 0;
  for (const json& u : unplaced) {
    if (const json& n = Field(u, "replicas"); n.is_number()) total += n.get<double>();
  }
  return total;
}

}  // namespace

std::optional<json> PreviousDrillOf(const json& current, const std::vector<json>& drills) {
  const json& report = Field(Field(current, "status"), "report");
  const std::string target = Str(report, "target");
  const std::string mode = Str(report, "mode");
  const std::string failure = Str(report, "failure");
  const std::string name = Str(Field(current, "metadata"), "name");
  const json& started = Field(report, "startedAtMs");
  if (target.empty() || !started.is_number_integer()) return std::nullopt;
  std::optional<json> best;
  int64_t best_started = 0;
  for (const json& d : drills) {
    if (Str(Field(d, "metadata"), "name") == name) continue;
    const std::string phase = Str(Field(d, "status"), "phase");
    if (phase != "Completed" && phase != "Aborted") continue;
    const json& r = Field(Field(d, "status"), "report");
    if (Str(r, "target") != target || Str(r, "mode") != mode || Str(r, "failure") != failure) continue;
    const json& s = Field(r, "startedAtMs");
    if (!s.is_number_integer() || s.get<int64_t>() >= started.get<int64_t>()) continue;
    if (!best || s.get<int64_t>() > best_started) {
      best = d;
      best_started = s.get<int64_t>();
    }
  }
  return best;
}

std::vector<FigureComparison> CompareDrillReports(const json& prev, const json& cur) {
  std::vector<Figure> figures;
  auto milestone = [&](const std::string& name, const char* key) {
    Figure f{.name = name};
    Milestone(prev, cur, key, &f);
    figures.push_back(f);
  };
  auto p95 = [&](const std::string& name, const char* key) {
    Figure f{.name = name};
    const json& a = Field(Field(Field(prev, "percentiles"), key), "p95");
    const json& b = Field(Field(Field(cur, "percentiles"), key), "p95");
    f.previous = Number(a);
    f.current = Number(b);
    // A p95 that exists but is null: some hurt workload never reached the milestone.
    f.previous_missing_means_unreached = Field(Field(Field(prev, "percentiles"), key), "missing").is_number() && a.is_null();
    f.current_missing_means_unreached = Field(Field(Field(cur, "percentiles"), key), "missing").is_number() && b.is_null();
    if (f.previous || f.current) figures.push_back(f);
  };
  milestone("time to detect", "timeToDetectSeconds");
  milestone("time to re-place", "timeToReplaceSeconds");
  p95("time to re-place (p95 over workloads)", "timeToReplaceSeconds");
  milestone("time until fully ready", "timeToFullReadySeconds");
  p95("time until fully ready (p95 over workloads)", "timeToFullReadySeconds");
  if (Field(prev, "timeToReturnSeconds").is_number() || Field(cur, "timeToReturnSeconds").is_number()) {
    milestone("time to return after restore", "timeToReturnSeconds");
  }
  {
    Figure f{.name = "lowest availability", .good = Good::kHigher, .is_time = false, .unit = "%"};
    f.previous = Number(Field(prev, "lowestAvailabilityPercent"));
    f.current = Number(Field(cur, "lowestAvailabilityPercent"));
    figures.push_back(f);
  }
  if (Field(prev, "slo").is_object() || Field(cur, "slo").is_object()) {
    Figure f{.name = "time below the SLO"};
    f.previous = Number(Field(Field(prev, "slo"), "secondsBelow"));
    f.current = Number(Field(Field(cur, "slo"), "secondsBelow"));
    figures.push_back(f);
  }
  {
    Figure f{.name = "residency violations", .is_time = false, .unit = ""};
    f.previous = Number(Field(prev, "residencyViolations"));
    f.current = Number(Field(cur, "residencyViolations"));
    figures.push_back(f);
  }
  {
    Figure f{.name = "replicas left unplaced", .is_time = false, .unit = ""};
    f.previous = UnplacedTotal(prev);
    f.current = UnplacedTotal(cur);
    figures.push_back(f);
  }
  std::vector<FigureComparison> out;
  for (const Figure& f : figures) {
    out.push_back({f.name, Print(f.previous, f.previous_missing_means_unreached, f),
                   Print(f.current, f.current_missing_means_unreached, f), Verdict(f)});
  }
  return out;
}

json ComparisonToJson(const std::string& previous_name, const std::vector<FigureComparison>& figures) {
  json list = json::array();
  for (const FigureComparison& f : figures) {
    list.push_back({{"figure", f.figure}, {"previous", f.previous}, {"current", f.current}, {"verdict", f.verdict}});
  }
  return {{"previous", previous_name}, {"figures", std::move(list)}};
}

}  // namespace meridian::cli
