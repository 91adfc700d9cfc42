#include "cli/gameday_report.h"

#include <sstream>

namespace meridian::cli {
namespace {

using nlohmann::json;

const json& Field(const json& o, const char* key) {
  static const json kEmpty = json::object();
  if (!o.is_object()) return kEmpty;
  auto it = o.find(key);
  return it == o.end() ? kEmpty : *it;
}

std::string Str(const json& o, const char* key) {
  const json& v = Field(o, key);
  return v.is_string() ? v.get<std::string>() : "";
}

}  // namespace

bool IsGameDay(const json& drill) {
  const json& spec = Field(drill, "spec");
  return spec.contains("schedule") || spec.contains("steps");
}

std::string GameDayStatusLine(const json& drill) {
  const json& status = Field(drill, "status");
  const std::string phase = Str(status, "phase");
  const std::string message = Str(status, "message");
  return (phase.empty() ? "Pending" : phase) + (message.empty() ? "" : "  " + message);
}

std::string GameDayReportText(const json& drill) {
  const json& spec = Field(drill, "spec");
  const json& status = Field(drill, "status");
  const json& report = Field(status, "report");
  std::ostringstream out;
  out << "game day " << Str(Field(drill, "metadata"), "name") << " (" << Str(spec, "mode");
  if (Str(spec, "mode") == "live")
    out << ", " << (Str(spec, "failure").empty() ? "declared" : Str(spec, "failure"));
  out << ")\n";
  out << "phase:    " << (Str(status, "phase").empty() ? "Pending" : Str(status, "phase"));
  if (!Str(status, "message").empty()) out << "  (" << Str(status, "message") << ")";
  out << "\n";
  if (const json& sc = Field(spec, "schedule"); !sc.empty()) {
    out << "schedule: \"" << Str(sc, "cron") << "\" " << Str(sc, "timeZone");
    if (const json& w = Field(sc, "window"); !w.empty()) {
      out << ", runs start only " << Str(w, "start") << "-" << Str(w, "end");
    }
    out << "\n";
  }
  const json& abort = Field(spec, "abortConditions");
  if (!abort.empty()) {
    out << "abort when:";
    if (abort.contains("minAvailabilityPercent")) {
      out << " availability below " << abort["minAvailabilityPercent"].dump() << "%";
    }
    if (abort.value("residencyViolation", false)) out << " a residency violation is seen";
    out << "\n";
  }
  if (const json& steps = Field(report, "steps"); steps.is_array()) {
    for (size_t i = 0; i < steps.size(); ++i) {
      out << "step " << i << ":   " << (steps[i].is_string() ? steps[i].get<std::string>() : "")
          << "\n";
    }
  }
  if (!Str(report, "lastRunTime").empty())
    out << "last run: " << Str(report, "lastRunTime") << "\n";
  if (!Str(report, "nextRunTime").empty())
    out << "next run: " << Str(report, "nextRunTime") << "\n";
  const json& runs = Field(report, "runs");
  if (!runs.is_array() || runs.empty()) {
    out << "no runs yet\n";
    return out.str();
  }
  for (const json& run : runs) {
    out << "\nrun " << Field(run, "run").dump() << ": " << Str(run, "phase");
    if (!Str(run, "scheduledFor").empty()) out << ", due " << Str(run, "scheduledFor");
    if (!Str(run, "startTime").empty()) out << ", started " << Str(run, "startTime");
    if (!Str(run, "completionTime").empty()) out << ", ended " << Str(run, "completionTime");
    out << "\n";
    if (run.contains("abortedAtStep")) {
      out << "  aborted at step " << Field(run, "abortedAtStep").dump() << " at "
          << Str(run, "abortedAt") << ": " << Str(run, "abortReason") << "\n";
    } else if (Str(run, "phase") == "Skipped") {
      out << "  " << Str(run, "message") << "\n";
    }
    const json& steps = Field(run, "steps");
    if (!steps.is_array()) continue;
    for (const json& s : steps) {
      out << "  step " << Field(s, "step").dump() << " " << Str(s, "target") << " for "
          << Field(s, "durationSeconds").dump() << "s: " << Str(s, "phase") << "  (drill "
          << Str(s, "drill") << ")\n";
    }
  }
  return out.str();
}

}  // namespace meridian::cli
