// fedctl drill run|status|abort|report: failover drills (FailoverDrill, failover/README.md
// "Drills"). The flag parsing, the text report and the SVG chart are library code
// (cli/drill_request.h, cli/drill_report.h, cli/drill_chart.h); this file is the wiring.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/command.h"
#include "cli/drill_chart.h"
#include "cli/drill_compare.h"
#include "cli/drill_report.h"
#include "cli/drill_request.h"
#include "cli/gameday_report.h"
#include "cli/kinds.h"
#include "common/clock.h"

namespace meridian::cli {
namespace {

using nlohmann::json;

const KindInfo& DrillKind() {
  static const KindInfo* kind = ResolveType("failoverdrills");
  return *kind;
}

// status.phase, or "" for a drill the controller has not seen yet (no status at all).
std::string PhaseOf(const json& drill) {
  auto status = drill.find("status");
  if (status == drill.end() || !status->is_object()) return "";
  auto phase = status->find("phase");
  return phase != status->end() && phase->is_string() ? phase->get<std::string>() : "";
}

int PrintError(const ApiError& e) {
  std::cerr << "error: " << e.message << "\n";
  return 1;
}

int RunDrill(const GlobalFlags& g, const DrillRunFlags& flags) {
  StatusOr<json> drill = BuildDrill(flags);
  if (!drill.ok()) {
    std::cerr << "error: " << drill.status().message() << "\n";
    return 2;
  }
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  auto created = client->Create(DrillKind(), "", *drill);
  if (!created.ok()) return PrintError(created.error());
  std::cout << created.value()["metadata"].value("name", "") << "\n";
  return 0;
}

int ShowStatus(const GlobalFlags& g, const std::string& name, bool watch) {
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  std::string last_line;
  while (true) {
    auto drill = client->Get(DrillKind(), "", name);
    if (!drill.ok()) return PrintError(drill.error());
    const std::string line = IsGameDay(drill.value())
                                 ? GameDayStatusLine(drill.value())
                                 : DrillProgressLine(drill.value(), RealClock().Now());
    // -w prints a line when something changed (the elapsed time changes every second).
    if (line != last_line) std::cout << line << std::endl;
    last_line = line;
    const std::string phase = PhaseOf(drill.value());
    if (!watch || (DrillPhaseFinal(phase) && !DrillWatchingReturn(drill.value()))) return 0;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int AbortDrill(const GlobalFlags& g, const std::string& name) {
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  // Compare-and-swap on resourceVersion: the controller writes status meanwhile; retry.
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto drill = client->Get(DrillKind(), "", name);
    if (!drill.ok()) return PrintError(drill.error());
    const std::string phase = PhaseOf(drill.value());
    if (DrillPhaseFinal(phase)) {
      std::cerr << "error: drill " << name << " already ended (" << phase << ")\n";
      return 1;
    }
    auto updated = client->Update(DrillKind(), "", name, WithAbortRequested(drill.value()));
    if (updated.ok()) {
      std::cout << "failoverdrill.federation.meridian.io/" << name
                << " abort requested (the target is restored within a sample interval)\n";
      return 0;
    }
    if (updated.error().code != 409) return PrintError(updated.error());
  }
  std::cerr << "error: drill " << name << " kept changing; try again\n";
  return 1;
}

// Compares the drill's report with the previous drill of the same target (PreviousDrillOf),
// attached as status.report.comparedWithPrevious so every format shows it. A list that fails
// leaves the report as it is: the comparison is an addition, not the report.
void AttachComparison(HttpClient& client, json* drill) {
  if (!drill->contains("status") || !(*drill)["status"].contains("report")) return;
  auto all = client.List(DrillKind(), "", "");
  if (!all.ok() || !all.value().contains("items") || !all.value()["items"].is_array()) return;
  std::vector<json> drills(all.value()["items"].begin(), all.value()["items"].end());
  std::optional<json> previous = PreviousDrillOf(*drill, drills);
  if (!previous) return;
  json& report = (*drill)["status"]["report"];
  report["comparedWithPrevious"] = ComparisonToJson(
      (*previous)["metadata"].value("name", ""),
      CompareDrillReports((*previous)["status"]["report"], report));
}

int ShowReport(const GlobalFlags& g, const std::string& name, const std::string& svg_path,
               const std::string& format) {
  if (format != "text" && format != "json" && format != "html" && format != "svg") {
    std::cerr << "error: -o \"" << format << "\": want text, json, html or svg\n";
    return 2;
  }
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  auto drill = client->Get(DrillKind(), "", name);
  if (!drill.ok()) return PrintError(drill.error());
  if (IsGameDay(drill.value()) && format != "json") {
    if (format != "text" || !svg_path.empty()) {
      std::cerr << "error: " << name
                << " is a game day: its report is text or json; each "
                   "step's drill has its own (fedctl drill report NAME-RUN-STEP -o "
                << format << ")\n";
      return 2;
    }
    std::cout << GameDayReportText(drill.value());
    return 0;
  }
  if (!IsGameDay(drill.value())) AttachComparison(*client, &drill.value());
  if (format == "json") {
    const json& status =
        drill.value().contains("status") ? drill.value()["status"] : json::object();
    std::cout << status.value("report", json::object()).dump(2) << "\n";
  } else if (format == "html") {
    std::cout << DrillReportHtml(drill.value());
  } else if (format == "svg") {
    std::cout << DrillTimelineSvg(drill.value());
  } else {
    std::cout << DrillReportText(drill.value());
  }
  if (!svg_path.empty()) {
    std::ofstream out(svg_path, std::ios::trunc);
    out << DrillTimelineSvg(drill.value());
    out.close();
    if (!out) {
      std::cerr << "error: --svg " << svg_path << ": cannot write the file\n";
      return 1;
    }
    std::cout << "timeline chart written to " << svg_path << "\n";
  }
  return 0;
}

const CommandRegistration kDrill({
    .name = "drill",
    .description = "failover drills: run (simulate or live), status [-w], abort, report [-o "
                   "text|json|html|svg]",
    .define = [](CLI::App& app) -> CommandRun {
      app.require_subcommand(1);
      auto flags = std::make_shared<DrillRunFlags>();
      auto name = std::make_shared<std::string>();
      auto watch = std::make_shared<bool>(false);
      auto svg = std::make_shared<std::string>();
      auto format = std::make_shared<std::string>("text");

      CLI::App* run = app.add_subcommand("run", "create a FailoverDrill and print its name");
      run->add_option("--target", flags->target,
                      "zone=ZONE, region=REGION or cluster=CLUSTER (or --step for a game day)");
      run->add_option("--mode", flags->mode, "simulate (changes nothing) or live")
          ->capture_default_str();
      run->add_option("--duration", flags->duration, "how long a live drill lasts (90s, 5m, 1h)")
          ->capture_default_str();
      run->add_option("--abort-below", flags->abort_below,
                      "abort and restore when ready replicas fall below this share (80%)");
      run->add_option("--slo", flags->slo,
                      "the availability the report judges the drill against (99%): time below "
                      "it, overall and per workload; stops nothing");
      run->add_option("--failure", flags->failure,
                      "live only: declared (placement treats the target as failed; default) or "
                      "injected (the real fault through membersim's admin API, only observed)");
      run->add_flag("--inject-fault", flags->inject_fault, "live only: same as --failure injected");
      run->add_option("--name", flags->name, "the drill's name (default: generated)");
      run->add_option("--observe-return", flags->observe_return,
                      "live only: after the restore, watch the replicas return for up to this "
                      "long (default 10m; 0 = no)");

      run->add_option("--schedule", flags->schedule,
                      "a game day: run when this 5-field cron expression fires (\"0 3 * * 1\")");
      run->add_option("--time-zone", flags->time_zone,
                      "the IANA time zone of --schedule and --window (default UTC)");
      run->add_option("--window", flags->window,
                      "the maintenance window a scheduled run may start in (02:00-05:00, local)");
      run->add_option("--step", flags->steps,
                      "a game day step TARGET:DURATION (zone=eu-west-1a:2m), repeatable, in "
                      "order; instead of --target")
          ->take_all();
      CLI::App* status = app.add_subcommand("status", "a drill's phase and progress");
      status->add_option("NAME", *name, "drill name")->required();
      status->add_flag("-w,--watch", *watch,
                       "follow the progress until the drill ends and its return is observed");

      CLI::App* abort = app.add_subcommand("abort", "stop a running drill and restore its target");
      abort->add_option("NAME", *name, "drill name")->required();

      CLI::App* report = app.add_subcommand("report", "print a drill's report");
      report->add_option("NAME", *name, "drill name")->required();
      report->add_option("--svg", *svg, "also write the timeline chart (SVG) to this file");
      report
          ->add_option("-o,--output", *format,
                       "text, json (status.report), html (one self-contained page with the "
                       "chart) or svg (the chart)")
          ->capture_default_str();

      return [=](const GlobalFlags& g) {
        if (run->parsed()) return RunDrill(g, *flags);
        if (status->parsed()) return ShowStatus(g, *name, *watch);
        if (abort->parsed()) return AbortDrill(g, *name);
        return ShowReport(g, *name, *svg, *format);
      };
    },
});

}  // namespace
}  // namespace meridian::cli
