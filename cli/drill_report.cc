#include "cli/drill_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "cli/drill_request.h"
#include "cli/report_json.h"

namespace meridian::cli {
namespace {

using nlohmann::json;
using report_json::Field;
using report_json::Int;
using report_json::Str;


std::map<std::string, int64_t> IntMap(const json& j) {
  std::map<std::string, int64_t> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_number_integer()) out[it.key()] = it->get<int64_t>();
  }
  return out;
}

std::string Secs(double s) { return fmt::format("{:.1f}s", s); }

std::string Percent(int64_t ready, int64_t desired) {
  if (desired <= 0) return "n/a";
  return fmt::format("{:.0f}%", 100.0 * static_cast<double>(ready) / static_cast<double>(desired));
}

std::string Signed(int64_t n) { return n > 0 ? "+" + std::to_string(n) : std::to_string(n); }

// A milestone: "1.2s", or why there is none.
std::string Milestone(const json& report, const char* key, const std::string& missing) {
  const json& v = Field(report, key);
  return v.is_number() ? Secs(v.get<double>()) : missing;
}

// "  time to re-place:   1.0s / 2.0s  (4 workloads)" per milestone the report has
// percentiles for; "" when it has none (an older report, a simulation).
std::string PercentileLines(const json& report) {
  const json& p = Field(report, "percentiles");
  if (!p.is_object()) return "";
  std::string out;
  const std::pair<const char*, const char*> rows[] = {
      {"timeToReplaceSeconds", "time to re-place:          "},
      {"timeToFullReadySeconds", "until full replicas ready: "},
      {"timeToReturnSeconds", "return after restore:      "}};
  for (const auto& [key, label] : rows) {
    const json& m = Field(p, key);
    const int64_t of = Int(m, "of"), missing = Int(m, "missing");
    if (of == 0 && missing == 0) continue;
    out += fmt::format("  {}{} / {}  ({} workload{}", label, Milestone(m, "p50", "-"),
                       Milestone(m, "p95", "-"), of, of == 1 ? "" : "s");
    if (missing > 0) out += fmt::format("; {} not reached", missing);
    out += ")\n";
  }
  return out;
}

}  // namespace

// The DNS answers sampled while the target was failed (report.dns, failover/drill_dns.h):
// where they came from, queries sent and lost, the share pointing at the failed target (max with
// when, p50 / p95 over the samples, the latest such sample) and where each client region was sent,
// samples per region.
std::string DnsAnswersText(const json& report) {
  const json& dns = Field(report, "dns");
  if (!dns.is_object()) {
    return "DNS answers: not sampled (this federation-apiserver serves no DNS, or no followed "
           "workload has spec.dns)\n";
  }
  std::ostringstream out;
  std::string names;
  if (const json& n = Field(dns, "names"); n.is_array()) {
    for (const json& x : n)
      names += (names.empty() ? "" : ", ") + (x.is_string() ? x.get<std::string>() : "");
  }
  out << "DNS answers for " << (names.empty() ? "-" : names) << " (" << Int(dns, "samples")
      << " samples while failed, asked as each client region)\n";
  if (const std::string source = Str(dns, "source"); !source.empty()) {
    out << "  from: " << source << "\n";
  }
  // A lost query is a finding (the server did not answer in time), never dropped silently.
  // (Reports written before lost queries were counted have no `queries`.)
  if (Field(dns, "queries").is_number_integer()) {
    out << "  queries: " << Int(dns, "queries") << " sent, " << Int(dns, "lost") << " lost\n";
  }
  auto pct = [&](const char* key) {
    const json& v = Field(dns, key);
    return v.is_number_integer() ? std::to_string(v.get<int64_t>()) + "%" : std::string("n/a");
  };
  out << "  pointing at the failed target: max " << pct("maxPercentToFailed");
  if (const json& at = Field(dns, "maxAtMs"); at.is_number_integer()) {
    out << " at " << Secs(static_cast<double>(at.get<int64_t>()) / 1000);
  }
  out << ", p50 " << pct("p50PercentToFailed") << ", p95 " << pct("p95PercentToFailed");
  if (const json& last = Field(dns, "lastToFailedMs"); last.is_number_integer()) {
    out << "; last seen at " << Secs(static_cast<double>(last.get<int64_t>()) / 1000);
  } else {
    out << "; never";
  }
  out << "\n";
  if (const json& sent = Field(dns, "sentTo"); sent.is_object()) {
    for (auto c = sent.begin(); c != sent.end(); ++c) {
      out << "  clients of " << c.key() << " sent to:";
      bool first = true;
      for (const auto& [region, n] : IntMap(*c)) {
        out << (first ? " " : ", ") << region << " " << n;
        first = false;
      }
      out << (first ? " nowhere" : "") << "\n";
    }
  }
  return out.str();
}

std::string DrillReturnText(const json& report, std::optional<Timestamp> now) {
  const std::string state = Str(report, "returnObservation");
  const json& progress = Field(report, "returnProgress");
  const int64_t want = Int(progress, "want"), placed = Int(progress, "placed"),
                ready = Int(progress, "ready"), before = Int(progress, "before", want);
  const int64_t restored = Int(Field(report, "events"), "restoredMs", 0);
  const int64_t until = Int(report, "returnObservedUntilMs", restored);
  // Placement settled on fewer than the target had before the drill (the fleet changed).
  const std::string fewer =
      before > want ? fmt::format("; placement wants {} there now, {} before the drill", want, before) : "";
  if (state == "returned") {
    return fmt::format("replicas back on the target {} after restore ({} of {} ready{})",
                       Milestone(report, "timeToReturnSeconds", "?"), ready, want, fewer);
  }
  if (state == "watching") {
    const int64_t started = Int(report, "startedAtMs", 0);
    if (now && started > 0) {
      const int64_t now_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(now->time_since_epoch()).count();
      const int64_t since = std::max<int64_t>(0, now_ms - started - restored) / 1000;
      return fmt::format("return still in progress {}s after restore: {} of {} on the target, {} ready{} (watching until {})",
                         since, placed, want, ready, fewer, Secs(static_cast<double>(until - restored) / 1000));
    }
    return fmt::format("return still in progress: {} of {} on the target, {} ready{} (watching until {} after restore)",
                       placed, want, ready, fewer, Secs(static_cast<double>(until - restored) / 1000));
  }
  if (state == "notReturned") {
    return fmt::format("not back within {}: {} of {} on the target, {} ready{}",
                       Secs(static_cast<double>(until - restored) / 1000), placed, want, ready, fewer);
  }
  if (state == "off") return "not observed (spec.observeReturnSeconds is 0)";
  if (state == "none") return "nothing was on the target, nothing to return";
  return "";
}

std::string DrillProgressLine(const json& drill, Timestamp now) {
  const json& spec = Field(drill, "spec");
  const json& status = Field(drill, "status");
  const json& report = Field(status, "report");
  std::string phase = Str(status, "phase");
  if (phase.empty()) phase = "Pending";
  std::string line = phase;
  const int64_t duration = Int(spec, "durationSeconds", 0);
  const json& timeline = Field(report, "timeline");
  if (Str(report, "mode") == "live" || Str(spec, "mode") == "live") {
    const int64_t started = Int(report, "startedAtMs", 0);
    int64_t elapsed_ms = 0;
    if (phase == "Running" && started > 0) {
      elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() - started;
    } else if (const json& restored = Field(Field(report, "events"), "restoredMs"); restored.is_number_integer()) {
      elapsed_ms = restored.get<int64_t>();
    }
    line += fmt::format("  elapsed {}s/{}s", std::max<int64_t>(0, elapsed_ms / 1000), duration);
  }
  if (timeline.is_array() && !timeline.empty()) {
    const json& last = timeline.back();
    const int64_t ready = Int(last, "ready"), desired = Int(last, "desired");
    line += fmt::format("  ready {}/{} ({})", ready, desired, Percent(ready, desired));
    auto ready_by = IntMap(Field(last, "readyByRegion"));
    auto desired_by = IntMap(Field(last, "desiredByRegion"));
    std::set<std::string> regions;
    for (const auto& [r, n] : ready_by) regions.insert(r);
    for (const auto& [r, n] : desired_by) regions.insert(r);
    for (const std::string& r : regions) line += fmt::format("  {} {}/{}", r, ready_by[r], desired_by[r]);
  }
  const std::string message = Str(status, "message");
  if (DrillPhaseFinal(phase) && !message.empty()) line += "  (" + message + ")";
  if (std::string back = DrillReturnText(report, now); !back.empty()) line += "  " + back;
  return line;
}

std::string DrillReportText(const json& drill) {
  const json& spec = Field(drill, "spec");
  const json& status = Field(drill, "status");
  const json& report = Field(status, "report");
  std::ostringstream out;
  const std::string name = Str(Field(drill, "metadata"), "name");
  const std::string mode = Str(spec, "mode");
  std::string target;
  for (const char* k : {"zone", "region", "cluster"}) {
    if (std::string v = Str(Field(spec, "target"), k); !v.empty()) target = std::string(k) + "=" + v;
  }
  std::string phase = Str(status, "phase");
  // A live drill is declared (placement treats the target as failed) or injected (a real
  // fault, only observed); the older spec spells injected as injectFault: true.
  std::string failure = Str(spec, "failure");
  if (mode == "live" && failure.empty()) {
    failure = Field(spec, "injectFault") == true ? "injected" : "declared";
  }
  out << "Drill " << name << ": " << mode << ", target " << target << ", "
      << (phase.empty() ? "Pending" : phase) << "\n";
  if (failure == "injected") {
    out << "  injected: the real fault was injected; the drill only observed the reaction\n";
  } else if (!failure.empty()) {
    out << "  declared: placement treated the target as failed (planned evacuation)\n";
  }
  if (std::string m = Str(status, "message"); !m.empty()) out << "  " << m << "\n";
  if (std::string s = Str(status, "startTime"); !s.empty()) {
    out << "  started " << s;
    if (std::string e = Str(status, "completionTime"); !e.empty()) out << ", ended " << e;
    out << "\n";
  }
  if (!report.is_object() || report.empty()) {
    out << "No report yet.\n";
    return out.str();
  }
  const bool live = Str(report, "mode") == "live";
  out << "\n";
  if (live) {
    const bool ended = DrillPhaseFinal(phase);
    const std::string not_yet = ended ? "not reached before the drill ended" : "not yet";
    out << "Timings (from fault start)\n";
    out << "  time to detect:             " << Milestone(report, "timeToDetectSeconds", not_yet) << "\n";
    out << "  time to re-place:           " << Milestone(report, "timeToReplaceSeconds", not_yet) << "\n";
    out << "  until full replicas ready:  " << Milestone(report, "timeToFullReadySeconds", not_yet) << "\n";
    const json& events = Field(report, "events");
    if (const json& r = Field(events, "restoredMs"); r.is_number_integer()) {
      out << "  target restored at:         " << Secs(static_cast<double>(r.get<int64_t>()) / 1000) << "\n";
    }
    if (std::string back = DrillReturnText(report); !back.empty()) {
      out << "  return to the target:       " << back << "\n";
    }
    if (std::string spread = PercentileLines(report); !spread.empty()) {
      out << "\nOver the workloads the target hurt (p50 / p95)\n" << spread;
    }
    if (const json& slo = Field(report, "slo"); slo.is_object()) {
      const json& below = Field(slo, "secondsBelow");
      out << "\nSLO (availability >= " << Int(slo, "minAvailabilityPercent") << "%): "
          << (below.is_number() && below.get<double>() > 0
                  ? "below it for " + Secs(below.get<double>())
                  : std::string("met at every sample"))
          << "\n";
      for (const json& w : Field(report, "perWorkload").is_array() ? Field(report, "perWorkload") : json::array()) {
        const json& b = Field(w, "secondsBelowSlo");
        if (b.is_number() && b.get<double>() > 0) {
          out << "  " << Str(w, "workload") << ": below for " << Secs(b.get<double>()) << "\n";
        }
      }
    }
    out << "\nAbort condition: ";
    const json& min = Field(report, "minAvailabilityPercent");
    if (Field(report, "abortConditionFired") == true) {
      out << "FIRED (" << Str(report, "abortReason") << ")\n";
    } else if (min.is_number_integer()) {
      out << "did not fire (minimum availability " << min.get<int64_t>() << "%)\n";
    } else if (const json& d = Field(Field(Field(drill, "spec"), "abortConditions"),
                                     "dnsAnswersToFailedRegionPercent");
               d.is_number_integer()) {
      out << "did not fire (DNS answers to the failed target at most " << d.get<int64_t>()
          << "%)\n";
    } else {
      out << "none set\n";
    }
    if (Str(report, "abortReason") == "requested") out << "Aborted on request (fedctl drill abort).\n";
    if (Int(report, "lowestReady", -1) >= 0) {
      const int64_t low = Int(report, "lowestReady"), of = Int(report, "lowestReadyDesired");
      out << "Lowest availability: " << low << " of " << of << " ready (" << Percent(low, of) << ")\n";
    }
    out << DnsAnswersText(report);
    // Where the figures come from: the members' own objects, or Meridian's status (which keeps
    // an unreachable member's last figures). Members that did not answer count nothing ready.
    const json& timeline = Field(report, "timeline");
    if (timeline.is_array() && !timeline.empty()) {
      bool from_members = false;
      std::set<std::string> unverified;
      for (const json& sample : timeline) {
        if (Field(sample, "fromMembers") == true) from_members = true;
        const json& names = Field(sample, "unverifiedMembers");
        if (!names.is_array()) continue;
        for (const json& n : names) {
          if (n.is_string()) unverified.insert(n.get<std::string>());
        }
      }
      out << "Availability sampled from: "
          << (from_members ? "the members' own objects" : "Meridian's status (members not read)");
      if (!unverified.empty()) {
        std::string names;
        for (const std::string& n : unverified) names += (names.empty() ? "" : ", ") + n;
        out << "; unverified at times (counted as not ready): " << names;
      }
      out << "\n";
    }
  } else {
    out << "Simulated: nothing was changed; this is what losing " << target << " would do now.\n";
  }

  auto before = IntMap(Field(report, "placedBeforePerRegion"));
  auto during = IntMap(Field(report, "placedWhileFailedPerRegion"));
  auto moved = IntMap(Field(report, "replicasMovedPerRegion"));
  std::set<std::string> regions;
  for (const auto* m : {&before, &during, &moved}) {
    for (const auto& [r, n] : *m) regions.insert(r);
  }
  out << "\nReplicas per region (placement before -> while " << target << " failed)\n";
  if (regions.empty()) {
    out << "  no workload had replicas on the target\n";
  } else {
    size_t width = 6;
    for (const std::string& r : regions) width = std::max(width, r.size());
    out << fmt::format("  {:<{}}  {:>6}  {:>6}  {:>6}\n", "REGION", width, "BEFORE", "DURING", "MOVED");
    for (const std::string& r : regions) {
      out << fmt::format("  {:<{}}  {:>6}  {:>6}  {:>6}\n", r, width, before[r], during[r],
                         moved[r] == 0 ? "0" : Signed(moved[r]));
    }
  }

  const int64_t violations = Int(report, "residencyViolations");
  out << "\nResidency violations: " << violations << (violations == 0 ? "" : "  <-- MUST BE 0") << "\n";
  for (const json& v : Field(report, "residencyViolationDetails").is_array() ? Field(report, "residencyViolationDetails") : json::array()) {
    out << "  " << Str(v, "workload") << ": " << Int(v, "replicas") << " on " << Str(v, "cluster")
        << " (jurisdiction " << (Str(v, "jurisdiction").empty() ? "none" : Str(v, "jurisdiction")) << ")\n";
  }
  const json& unplaced = Field(report, "unplaced");
  out << "Unplaced replicas: " << (unplaced.is_array() && !unplaced.empty() ? "" : "none") << "\n";
  if (unplaced.is_array()) {
    for (const json& u : unplaced) {
      out << "  " << Str(u, "workload") << ": " << Int(u, "replicas") << " — " << Str(u, "why") << "\n";
    }
  }

  const json& workloads = Field(report, "workloads");
  if (workloads.is_array() && !workloads.empty()) {
    out << "\nWorkloads " << (live ? "followed (placement at the start)" : "affected (placement before -> after)") << "\n";
    for (const json& w : workloads) {
      out << "  " << Str(w, "workload") << ": ";
      auto b = IntMap(Field(w, live ? "placement" : "before"));
      auto a = IntMap(Field(w, "after"));
      std::set<std::string> clusters;
      for (const auto& [c, n] : b) clusters.insert(c);
      for (const auto& [c, n] : a) clusters.insert(c);
      bool first = true;
      for (const std::string& c : clusters) {
        out << (first ? "" : ", ") << c << " " << b[c];
        if (!live) out << "->" << a[c];
        first = false;
      }
      out << "  (" << Int(w, "onTarget") << " on the target)\n";
    }
  }
  if (live) {
    out << "\nFault injection: ";
    if (Field(report, "faultInjected") == true) {
      out << "injected; " << (Field(report, "faultHealed") == true ? "healed" : "NOT healed yet")
          << " (the drill only observed: detection is the health monitor's)\n";
    } else {
      out << "none, declared (placement treated the target as failed)\n";
    }
    const json& timeline = Field(report, "timeline");
    const size_t n = timeline.is_array() ? timeline.size() : 0;
    out << "Timeline: " << n << " samples";
    if (n > 0) out << " over " << Secs(static_cast<double>(Int(timeline.back(), "atMs")) / 1000);
    out << " (fedctl drill report " << name << " --svg FILE draws it)\n";
  }
  if (const json& cmp = Field(report, "comparedWithPrevious"); cmp.is_object()) {
    out << "\nCompared with the previous drill of " << target << " (" << Str(cmp, "previous") << ")\n";
    size_t width = 6;
    const json& figures = Field(cmp, "figures");
    if (figures.is_array()) {
      for (const json& f : figures) width = std::max(width, Str(f, "figure").size());
      out << fmt::format("  {:<{}}  {:>12}  {:>12}  {}\n", "FIGURE", width, "PREVIOUS", "THIS DRILL", "VERDICT");
      for (const json& f : figures) {
        out << fmt::format("  {:<{}}  {:>12}  {:>12}  {}\n", Str(f, "figure"), width,
                           Str(f, "previous").empty() ? "-" : Str(f, "previous"),
                           Str(f, "current").empty() ? "-" : Str(f, "current"), Str(f, "verdict"));
      }
    }
  }
  return out.str();
}

}  // namespace meridian::cli
