// fedctl drill's pure parts: flags -> FailoverDrill, the abort request, the progress line,
// the text report, and the SVG timeline chart (structure, and well-formed XML via expat when
// it is installed).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>

#include "cli/drill_chart.h"
#include "cli/drill_compare.h"
#include "cli/drill_report.h"
#include "cli/drill_request.h"
#include "cli/gameday_report.h"

#ifdef MERIDIAN_HAVE_EXPAT
#include <expat.h>
#endif

namespace meridian::cli {
namespace {

using nlohmann::json;

TEST(DrillRequest, Durations) {
  struct Case {
    std::string text;
    int64_t want;  // -1: error
  };
  const std::vector<Case> cases = {{"5m", 300}, {"90s", 90}, {"1h", 3600}, {"1h30m", 5400}, {"45", 45},
                                   {"24h", 86400}, {"25h", -1}, {"0s", -1}, {"", -1}, {"5 m", -1},
                                   {"-5m", -1}, {"5d", -1}, {"9999999999s", -1}};
  for (const Case& c : cases) {
    StatusOr<int64_t> got = ParseDrillDuration(c.text);
    if (c.want < 0) {
      ASSERT_FALSE(got.ok()) << c.text;
      EXPECT_NE(got.status().message().find("--duration"), std::string::npos);
    } else {
      ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
      EXPECT_EQ(*got, c.want) << c.text;
    }
  }
}

TEST(DrillRequest, AbortBelow) {
  EXPECT_EQ(*ParseAbortBelow("80%"), 80);
  EXPECT_EQ(*ParseAbortBelow("100"), 100);
  for (const char* bad : {"0%", "101%", "eighty", "80%%", "", "-5"}) {
    StatusOr<int32_t> got = ParseAbortBelow(bad);
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_NE(got.status().message().find("--abort-below"), std::string::npos);
  }
  DrillRunFlags flags;
  flags.target = "region=eu-west";
  flags.mode = "live";
  flags.slo = "99%";
  StatusOr<json> drill = BuildDrill(flags);
  ASSERT_TRUE(drill.ok()) << drill.status().message();
  EXPECT_EQ((*drill)["spec"]["slo"], (json{{"minAvailabilityPercent", 99}}));
  flags.slo = "120%";
  ASSERT_FALSE(BuildDrill(flags).ok());
  EXPECT_NE(BuildDrill(flags).status().message().find("--slo \"120%\""), std::string::npos);
}

TEST(DrillRequest, BuildsTheDrill) {
  DrillRunFlags f;
  f.target = "zone=eu-west-1a";
  f.mode = "live";
  f.duration = "2m";
  f.abort_below = "80%";
  f.inject_fault = true;
  StatusOr<json> d = BuildDrill(f);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ((*d)["kind"], "FailoverDrill");
  EXPECT_EQ((*d)["apiVersion"], "federation.meridian.io/v1alpha1");
  EXPECT_EQ((*d)["metadata"]["generateName"], "drill-eu-west-1a-");
  EXPECT_EQ((*d)["spec"], (json{{"target", {{"zone", "eu-west-1a"}}},
                                 {"mode", "live"},
                                 {"durationSeconds", 120},
                                 {"abortConditions", {{"minAvailabilityPercent", 80}}},
                                 {"injectFault", true}}));
  f.name = "my-drill";
  EXPECT_EQ((*BuildDrill(f))["metadata"], (json{{"name", "my-drill"}}));
  // The kinds of live drill by name; --inject-fault is the older spelling of injected.
  f.inject_fault = false;
  f.failure = "declared";
  EXPECT_EQ((*BuildDrill(f))["spec"]["failure"], "declared");
  f.failure = "injected";
  EXPECT_EQ((*BuildDrill(f))["spec"]["failure"], "injected");
  f.inject_fault = true;
  EXPECT_TRUE(BuildDrill(f).ok());

  struct Bad {
    DrillRunFlags flags;
    std::string names;
  };
  const std::vector<Bad> bad = {
      {{.target = ""}, "--target"},
      {{.target = "planet=earth"}, "--target"},
      {{.target = "zone=a", .mode = "chaos"}, "--mode"},
      {{.target = "zone=a", .mode = "simulate", .inject_fault = true}, "--inject-fault"},
      {{.target = "zone=a", .duration = "forever"}, "--duration"},
      {{.target = "zone=a", .abort_below = "200%"}, "--abort-below"},
      {{.target = "zone=a", .mode = "live", .failure = "chaos"}, "--failure \"chaos\""},
      {{.target = "zone=a", .failure = "injected"}, "--failure needs --mode live"},
      {{.target = "zone=a", .mode = "live", .inject_fault = true, .failure = "declared"},
       "--inject-fault contradicts --failure declared"},
  };
  for (const Bad& b : bad) {
    StatusOr<json> got = BuildDrill(b.flags);
    ASSERT_FALSE(got.ok()) << b.names;
    EXPECT_NE(got.status().message().find(b.names), std::string::npos) << got.status().message();
  }
}

// fedctl drill run --schedule/--time-zone/--window/--step: a game day from the command line.
TEST(DrillRequest, GameDayFromFlags) {
  DrillRunFlags f;
  f.mode = "live";
  f.schedule = "0 3 * * 1";
  f.time_zone = "Europe/Berlin";
  f.window = "02:00-05:00";
  f.steps = {"zone=eu-west-1a:2m", "region=eu-west:300"};
  StatusOr<json> d = BuildDrill(f);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ((*d)["metadata"], (json{{"generateName", "gameday-"}}));
  EXPECT_FALSE((*d)["spec"].contains("target"));
  EXPECT_FALSE((*d)["spec"].contains("durationSeconds"));
  EXPECT_EQ((*d)["spec"]["steps"],
            json::parse(R"([{"target":{"zone":"eu-west-1a"},"durationSeconds":120},
                            {"target":{"region":"eu-west"},"durationSeconds":300}])"));
  EXPECT_EQ((*d)["spec"]["schedule"], json::parse(R"({"cron":"0 3 * * 1","timeZone":"Europe/Berlin",
                            "window":{"start":"02:00","end":"05:00"}})"));

  // A scheduled single-target drill: the target for --duration is its one step.
  DrillRunFlags one;
  one.target = "cluster=eu-west-1";
  one.duration = "90s";
  one.schedule = "30 2 * * *";
  d = BuildDrill(one);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)["spec"]["target"], (json{{"cluster", "eu-west-1"}}));
  EXPECT_EQ((*d)["spec"]["durationSeconds"], 90);
  EXPECT_EQ((*d)["spec"]["schedule"], (json{{"cron", "30 2 * * *"}}));

  struct Bad {
    DrillRunFlags flags;
    std::string error;
  };
  auto with = [](std::function<void(DrillRunFlags&)> edit) {
    DrillRunFlags b;
    b.mode = "live";
    b.steps = {"zone=eu-west-1a:2m"};
    edit(b);
    return b;
  };
  const Bad bad[] = {
      {with([](DrillRunFlags& b) { b.target = "region=eu-west"; }), "--target and --step"},
      {with([](DrillRunFlags& b) { b.steps = {"zone=eu-west-1a"}; }),
       "--step \"zone=eu-west-1a\": want TARGET:DURATION"},
      {with([](DrillRunFlags& b) { b.steps = {"zone=eu-west-1a:-5s"}; }),
       "--step \"zone=eu-west-1a:-5s\" duration \"-5s\": want a duration"},
      {with([](DrillRunFlags& b) { b.steps = {"zone=eu-west-1a:0"}; }), "at least 1s"},
      {with([](DrillRunFlags& b) { b.steps = {"moon=x:1m"}; }), "--step \"moon=x:1m\""},
      {with([](DrillRunFlags& b) { b.time_zone = "UTC"; }), "--time-zone needs --schedule"},
      {with([](DrillRunFlags& b) { b.window = "02:00-05:00"; }), "--window needs --schedule"},
      {with([](DrillRunFlags& b) {
         b.schedule = "0 3 * * *";
         b.window = "2am-5am";
       }),
       "--window \"2am-5am\""},
      {DrillRunFlags{}, "--target is required"},
  };
  for (const Bad& b : bad) {
    StatusOr<json> got = BuildDrill(b.flags);
    ASSERT_FALSE(got.ok()) << b.error;
    EXPECT_NE(got.status().message().find(b.error), std::string::npos) << got.status().message();
  }
}

TEST(DrillRequest, ObserveReturn) {
  EXPECT_EQ(*ParseObserveReturn("0"), 0);
  EXPECT_EQ(*ParseObserveReturn("0s"), 0);
  EXPECT_EQ(*ParseObserveReturn("10m"), 600);
  for (const char* bad : {"-1", "soon", "", "25h"}) {
    StatusOr<int64_t> got = ParseObserveReturn(bad);
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_NE(got.status().message().find("--observe-return"), std::string::npos) << got.status().message();
  }
  DrillRunFlags f{.target = "region=eu-west", .mode = "live", .observe_return = "90s"};
  EXPECT_EQ((*BuildDrill(f))["spec"]["observeReturnSeconds"], 90);
  f.observe_return = "0";
  EXPECT_EQ((*BuildDrill(f))["spec"]["observeReturnSeconds"], 0);
  f.observe_return = "";
  EXPECT_FALSE((*BuildDrill(f))["spec"].contains("observeReturnSeconds"));  // the API's default
  f.mode = "simulate";
  f.observe_return = "5m";
  StatusOr<json> sim = BuildDrill(f);
  ASSERT_FALSE(sim.ok());
  EXPECT_NE(sim.status().message().find("--observe-return"), std::string::npos);
}

TEST(DrillRequest, AbortAnnotationKeepsResourceVersion) {
  json d = {{"metadata", {{"name", "x"}, {"resourceVersion", "42"}}}};
  json a = WithAbortRequested(d);
  EXPECT_EQ(a["metadata"]["annotations"]["drills.meridian.io/abort"], "true");
  EXPECT_EQ(a["metadata"]["resourceVersion"], "42");
  EXPECT_TRUE(DrillPhaseFinal("Aborted"));
  EXPECT_FALSE(DrillPhaseFinal("Running"));
}

// A live drill as the controller reports it: eu-west-1a failed, abort condition fired.
json LiveDrill() {
  json timeline = json::array();
  const int ready_west[] = {6, 3, 3, 3, 3};
  const int ready_central[] = {4, 4, 4, 7, 7};
  for (int i = 0; i < 5; ++i) {
    timeline.push_back({{"atMs", i * 1000},
                        {"ready", ready_west[i] + ready_central[i]},
                        {"desired", 10},
                        {"readyByRegion", {{"eu-west", ready_west[i]}, {"eu-central", ready_central[i]}}},
                        {"desiredByRegion", {{"eu-west", i < 2 ? 6 : 3}, {"eu-central", i < 2 ? 4 : 7}}}});
  }
  return {{"metadata", {{"name", "drill-<a&b>"}}},
          {"spec", {{"target", {{"zone", "eu-west-1a"}}}, {"mode", "live"}, {"durationSeconds", 60}}},
          {"status",
           {{"phase", "Aborted"},
            {"message", "aborted after 4s: availability 60%"},
            {"startTime", "2026-11-21T14:00:00Z"},
            {"completionTime", "2026-11-21T14:00:04Z"},
            {"report",
             {{"mode", "live"},
              {"target", "zone=eu-west-1a"},
              {"startedAtMs", 1'700'000'000'000},
              {"minAvailabilityPercent", 70},
              {"timeline", timeline},
              {"events", {{"detectedMs", 1000}, {"replacedMs", 2000}, {"fullyReadyMs", nullptr},
                          {"restoredMs", 4000}, {"abortedMs", 4000}}},
              {"timeToDetectSeconds", 1.0},
              {"timeToReplaceSeconds", 2.0},
              {"timeToFullReadySeconds", nullptr},
              {"abortConditionFired", true},
              {"abortReason", "availability 60% (6 of 10 ready) below 70%"},
              {"faultInjected", true},
              {"faultHealed", true},
              {"replicasMovedPerRegion", {{"eu-central", 3}, {"eu-west", -3}}},
              {"placedBeforePerRegion", {{"eu-central", 4}, {"eu-west", 6}}},
              {"placedWhileFailedPerRegion", {{"eu-central", 7}, {"eu-west", 3}}},
              {"residencyViolations", 0},
              {"residencyViolationDetails", json::array()},
              {"unplaced", json::array({{{"workload", "shop/web"}, {"replicas", 1}, {"why", "1 of 10 unplaced: capacity"}}})},
              {"lowestReady", 6},
              {"lowestReadyDesired", 10},
              {"workloads", json::array({{{"workload", "shop/web"}, {"placement", {{"eu-west-1", 6}}}, {"onTarget", 3}}})}}}}}};
}

TEST(DrillReport, TextSaysEverythingTheIssueAsksFor) {
  const std::string text = DrillReportText(LiveDrill());
  for (const char* want : {"live, target zone=eu-west-1a, Aborted", "time to detect:             1.0s",
                           "time to re-place:           2.0s",
                           "until full replicas ready:  not reached before the drill ended",
                           "Abort condition: FIRED (availability 60% (6 of 10 ready) below 70%)",
                           "Lowest availability: 6 of 10 ready (60%)", "Residency violations: 0",
                           "shop/web: 1 — 1 of 10 unplaced: capacity", "injected; healed",
                           "Timeline: 5 samples over 4.0s"}) {
    EXPECT_NE(text.find(want), std::string::npos) << "missing \"" << want << "\" in\n" << text;
  }
  EXPECT_TRUE(std::regex_search(text, std::regex(R"(eu-central\s+4\s+7\s+\+3)"))) << text;
  EXPECT_TRUE(std::regex_search(text, std::regex(R"(eu-west\s+6\s+3\s+-3)"))) << text;

  json pending = {{"metadata", {{"name", "p"}}}, {"spec", {{"mode", "live"}, {"target", {{"region", "r"}}}}}};
  EXPECT_NE(DrillReportText(pending).find("No report yet"), std::string::npos);
}

// The DNS answers sampled during the drill (report.dns, failover/drill_dns.h), in the text
// and so in the HTML page.
TEST(DrillReport, DnsAnswersPointingAtTheFailedRegion) {
  json d = LiveDrill();
  EXPECT_NE(DrillReportText(d).find("DNS answers: not sampled"), std::string::npos);
  d["status"]["report"]["dns"] = {
      {"names", {"web.global.example.com"}},
      {"samples", 5},
      {"source", "UDP queries to the DNS server at 127.0.0.1:5353 from 127.0.53.1"},
      {"queries", 32},
      {"lost", 2},
      {"maxPercentToFailed", 50},
      {"maxAtMs", 1000},
      {"p50PercentToFailed", 0},
      {"p95PercentToFailed", 50},
      {"lastToFailedMs", 2000},
      {"percentHistogram", {{"0", 3}, {"50", 2}}},
      {"sentTo",
       {{"eu-west", {{"eu-west", 2}, {"eu-central", 3}}}, {"us-east", {{"us-east", 5}}}}}};
  const std::string text = DrillReportText(d);
  for (const char* want :
       {"DNS answers for web.global.example.com (5 samples while failed",
        "from: UDP queries to the DNS server at 127.0.0.1:5353 from 127.0.53.1",
        "queries: 32 sent, 2 lost",
        "pointing at the failed target: max 50% at 1.0s, p50 0%, p95 50%; last seen at 2.0s",
        "clients of eu-west sent to: eu-central 3, eu-west 2",
        "clients of us-east sent to: us-east 5"}) {
    EXPECT_NE(text.find(want), std::string::npos) << "missing \"" << want << "\" in\n" << text;
  }
  EXPECT_NE(DrillReportHtml(d).find("pointing at the failed target: max 50% at 1.0s"),
            std::string::npos);
}

TEST(DrillReport, PercentilesAndTimeBelowTheSlo) {
  json d = LiveDrill();
  json& report = d["status"]["report"];
  report["percentiles"] = {
      {"timeToReplaceSeconds", {{"p50", 2.0}, {"p95", 3.5}, {"of", 4}, {"missing", 0}}},
      {"timeToFullReadySeconds", {{"p50", 6.0}, {"p95", nullptr}, {"of", 3}, {"missing", 1}}},
      {"timeToReturnSeconds", {{"p50", nullptr}, {"p95", nullptr}, {"of", 0}, {"missing", 0}}}};
  report["slo"] = {{"minAvailabilityPercent", 90}, {"belowMs", 3000}, {"belowSinceMs", nullptr}, {"secondsBelow", 3.0}};
  report["perWorkload"] = json::array({{{"workload", "shop/web"}, {"secondsBelowSlo", 3.0}},
                                       {{"workload", "shop/api"}, {"secondsBelowSlo", 0.0}}});
  const std::string text = DrillReportText(d);
  for (const char* want : {"Over the workloads the target hurt (p50 / p95)",
                           "time to re-place:          2.0s / 3.5s  (4 workloads)",
                           "until full replicas ready: 6.0s / -  (3 workloads; 1 not reached)",
                           "SLO (availability >= 90%): below it for 3.0s", "shop/web: below for 3.0s"}) {
    EXPECT_NE(text.find(want), std::string::npos) << "missing \"" << want << "\" in\n" << text;
  }
  EXPECT_EQ(text.find("return after restore:"), std::string::npos) << text;  // no workload to return
  EXPECT_EQ(text.find("shop/api: below"), std::string::npos) << text;
}

// The HTML report opened in a real headless browser (Debian's chromium, installed by
// scripts/setup.sh): it renders with no console message at all (the page has no scripts, so any
// message is an error), the DOM holds the chart and the report, and nothing in it points at
// the network (one self-contained file; host names are made unresolvable as well).
TEST(DrillReport, HtmlRendersInHeadlessChromiumWithoutConsoleMessages) {
  const char* chromium = "/usr/bin/chromium";
  if (access(chromium, X_OK) != 0) GTEST_SKIP() << "no " << chromium << " (scripts/setup.sh installs it)";
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("meridian-drill-html-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  json d = LiveDrill();
  d["status"]["report"]["comparedWithPrevious"] = ComparisonToJson(
      "drill-before", CompareDrillReports({{"timeToDetectSeconds", 3.0}}, d["status"]["report"]));
  std::ofstream(dir / "report.html") << DrillReportHtml(d);
  const std::string cmd = std::string(chromium) +
                          " --headless --no-sandbox --disable-gpu --no-first-run"
                          " --user-data-dir=" + (dir / "profile").string() +
                          " --host-resolver-rules='MAP * ~NOTFOUND' --enable-logging=stderr --v=0"
                          " --dump-dom file://" + (dir / "report.html").string() +
                          " >" + (dir / "dom.html").string() + " 2>" + (dir / "stderr.txt").string();
  const int rc = std::system(cmd.c_str());
  auto read = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string dom = read(dir / "dom.html"), log = read(dir / "stderr.txt");
  std::filesystem::remove_all(dir);
  ASSERT_EQ(rc, 0) << log;
  std::smatch console;
  EXPECT_FALSE(std::regex_search(log, console, std::regex(":CONSOLE[^\n]*"))) << console.str() << "\n" << log;
  EXPECT_NE(dom.find("<svg"), std::string::npos) << dom;
  EXPECT_NE(dom.find("class=\"report\""), std::string::npos) << dom;
  EXPECT_NE(dom.find("Compared with the previous drill"), std::string::npos) << dom;
  EXPECT_NE(dom.find("drill-&lt;a&amp;b&gt;"), std::string::npos) << "the name is escaped\n" << dom;
  std::smatch remote;
  EXPECT_FALSE(std::regex_search(dom, remote, std::regex(R"((src|href)\s*=\s*["']?(https?:)?//)")))
      << remote.str();
}

json Drill(const std::string& name, const std::string& target, const std::string& failure,
           const std::string& phase, int64_t started, json report_fields) {
  json report = {{"target", target}, {"mode", "live"}, {"failure", failure}, {"startedAtMs", started}};
  report.update(report_fields);
  return {{"metadata", {{"name", name}}}, {"status", {{"phase", phase}, {"report", report}}}};
}

TEST(DrillCompare, PreviousIsTheLatestFinishedDrillOfTheSameKindAndTarget) {
  const json current = Drill("now", "region=eu-west", "injected", "Completed", 5000, json::object());
  const std::vector<json> drills = {
      Drill("older", "region=eu-west", "injected", "Completed", 1000, json::object()),
      Drill("previous", "region=eu-west", "injected", "Aborted", 3000, json::object()),
      Drill("declared", "region=eu-west", "declared", "Completed", 4000, json::object()),
      Drill("other-target", "region=us-east", "injected", "Completed", 4100, json::object()),
      Drill("still-running", "region=eu-west", "injected", "Running", 4200, json::object()),
      Drill("later", "region=eu-west", "injected", "Completed", 9000, json::object()),
      current,
  };
  std::optional<json> prev = PreviousDrillOf(current, drills);
  ASSERT_TRUE(prev);
  EXPECT_EQ((*prev)["metadata"]["name"], "previous");
  EXPECT_FALSE(PreviousDrillOf(drills[0], drills));  // the first one has none
  EXPECT_FALSE(PreviousDrillOf(json{{"metadata", {{"name", "x"}}}}, drills));  // no report yet
}

TEST(DrillCompare, FigureByFigureWithNoiseTolerance) {
  const json prev = {{"timeToDetectSeconds", 2.5},
                     {"timeToReplaceSeconds", 3.0},
                     {"timeToFullReadySeconds", 10.0},
                     {"percentiles", {{"timeToReplaceSeconds", {{"p95", 3.0}, {"missing", 0}}}}},
                     {"lowestAvailabilityPercent", 80.0},
                     {"slo", {{"secondsBelow", 4.0}}},
                     {"residencyViolations", 0},
                     {"unplaced", json::array()}};
  const json cur = {{"timeToDetectSeconds", 2.6},       // within 10 %: same
                    {"timeToReplaceSeconds", 2.0},      // better
                    {"timeToFullReadySeconds", nullptr},  // not reached: worse
                    {"percentiles", {{"timeToReplaceSeconds", {{"p95", 5.0}, {"missing", 0}}}}},
                    {"lowestAvailabilityPercent", 90.0},  // higher is better
                    {"slo", {{"secondsBelow", 6.0}}},     // worse
                    {"residencyViolations", 1},           // worse
                    {"unplaced", json::array({{{"replicas", 2}}})}};
  std::map<std::string, FigureComparison> by_name;
  for (const FigureComparison& f : CompareDrillReports(prev, cur)) by_name[f.figure] = f;
  auto verdict = [&](const std::string& figure) {
    auto it = by_name.find(figure);
    return it == by_name.end() ? std::string("(missing)") : it->second.verdict;
  };
  EXPECT_EQ(verdict("time to detect"), kSame);
  EXPECT_EQ(verdict("time to re-place"), kBetter);
  EXPECT_EQ(verdict("time to re-place (p95 over workloads)"), kWorse);
  EXPECT_EQ(verdict("time until fully ready"), kWorse);
  EXPECT_EQ(by_name["time until fully ready"].current, "not reached");
  EXPECT_EQ(by_name["time until fully ready"].previous, "10.0s");
  EXPECT_EQ(verdict("lowest availability"), kBetter);
  EXPECT_EQ(by_name["lowest availability"].current, "90.0%");
  EXPECT_EQ(verdict("time below the SLO"), kWorse);
  EXPECT_EQ(verdict("residency violations"), kWorse);
  EXPECT_EQ(verdict("replicas left unplaced"), kWorse);
  EXPECT_EQ(by_name.count("time to return after restore"), 0u);  // neither report has it

  // Rendered in the text report (and so in the HTML page, which embeds it).
  json d = LiveDrill();
  d["status"]["report"]["comparedWithPrevious"] = ComparisonToJson("drill-before", CompareDrillReports(prev, cur));
  const std::string text = DrillReportText(d);
  EXPECT_NE(text.find("Compared with the previous drill of zone=eu-west-1a (drill-before)"), std::string::npos) << text;
  EXPECT_TRUE(std::regex_search(text, std::regex(R"(time to re-place\s+3\.0s\s+2\.0s\s+better)"))) << text;
  EXPECT_TRUE(std::regex_search(text, std::regex(R"(time until fully ready\s+10\.0s\s+not reached\s+worse)"))) << text;
}

TEST(DrillReport, TextNamesTheKindOfLiveDrill) {
  json d = LiveDrill();
  d["spec"]["failure"] = "injected";
  EXPECT_NE(DrillReportText(d).find("injected: the real fault was injected"), std::string::npos);
  d["spec"]["failure"] = "declared";
  EXPECT_NE(DrillReportText(d).find("declared: placement treated the target as failed"),
            std::string::npos);
}

TEST(DrillReport, HtmlIsOneSelfContainedPageWithTheChart) {
  json d = LiveDrill();
  d["status"]["message"] = "aborted <early> & restored";
  const std::string html = DrillReportHtml(d);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("data-region=\"eu-west\""), std::string::npos);
  EXPECT_EQ(html.find("<?xml"), std::string::npos);  // inline SVG: no XML declaration
  EXPECT_NE(html.find("aborted &lt;early&gt; &amp; restored"), std::string::npos);
  for (const char* loads : {"<script", "src=", "href=", "<link", "@import"}) {
    EXPECT_EQ(html.find(loads), std::string::npos) << loads;
  }
  EXPECT_NE(html.find("</html>"), std::string::npos);
}

TEST(DrillReport, ProgressLine) {
  json d = LiveDrill();
  d["status"]["phase"] = "Running";
  const Timestamp now = Timestamp(std::chrono::milliseconds(1'700'000'012'500));
  EXPECT_EQ(DrillProgressLine(d, now),
            "Running  elapsed 12s/60s  ready 10/10 (100%)  eu-central 7/7  eu-west 3/3");
  d["status"]["phase"] = "Aborted";
  EXPECT_EQ(DrillProgressLine(d, now).rfind("Aborted  elapsed 4s/60s", 0), 0u) << DrillProgressLine(d, now);
}

// LiveDrill, then watched after the restore at 4 s: samples every second; eu-west's 3
// replicas come back and are ready at 66.3 s (62.3 s after the restore).
json ReturnedDrill() {
  json d = LiveDrill();
  json& r = d["status"]["report"];
  for (int64_t at : {5000, 40'000, 60'000, 66'300}) {
    const int64_t west = at < 40'000 ? 3 : at < 66'300 ? 4 : 6;
    r["timeline"].push_back({{"atMs", at},
                             {"ready", west + 10 - west},
                             {"desired", 10},
                             {"readyByRegion", {{"eu-west", west}, {"eu-central", 10 - west}}},
                             {"desiredByRegion", {{"eu-west", at < 40'000 ? 3 : 6}, {"eu-central", at < 40'000 ? 7 : 4}}}});
  }
  r["events"]["returnedMs"] = 66'300;
  r["returnObservation"] = "returned";
  r["returned"] = true;
  r["returnObservedUntilMs"] = 604'000;
  r["timeToReturnSeconds"] = 62.3;
  r["returnProgress"] = {{"want", 3}, {"placed", 3}, {"ready", 3}};
  return d;
}

TEST(DrillReport, TheReturnToTheTarget) {
  json d = ReturnedDrill();
  std::string text = DrillReportText(d);
  EXPECT_NE(text.find("return to the target:       replicas back on the target 62.3s after restore (3 of 3 ready)"),
            std::string::npos) << text;
  EXPECT_NE(text.find("Timeline: 9 samples over 66.3s"), std::string::npos) << text;

  json& r = d["status"]["report"];
  r["returnObservation"] = "watching";
  r["returned"] = false;
  r["events"]["returnedMs"] = nullptr;
  r["timeToReturnSeconds"] = nullptr;
  r["returnProgress"] = {{"want", 9}, {"placed", 3}, {"ready", 1}};
  text = DrillReportText(d);
  EXPECT_NE(text.find("return still in progress: 3 of 9 on the target, 1 ready (watching until 600.0s after restore)"),
            std::string::npos) << text;
  const Timestamp now = Timestamp(std::chrono::milliseconds(1'700'000'070'000));
  // 70 s after the start, the restore at 4 s: 66 s ago.
  EXPECT_NE(DrillProgressLine(d, now).find("  return still in progress 66s after restore: 3 of 9 on the target, 1 ready (watching until 600.0s)"),
            std::string::npos)
      << DrillProgressLine(d, now);
  EXPECT_TRUE(DrillWatchingReturn(d));

  r["returnObservation"] = "notReturned";
  text = DrillReportText(d);
  EXPECT_NE(text.find("not back within 600.0s: 3 of 9 on the target, 1 ready"), std::string::npos) << text;
  EXPECT_FALSE(DrillWatchingReturn(d));

  // Placement settled on fewer than before: the line says both.
  r["returnProgress"] = {{"want", 6}, {"placed", 3}, {"ready", 1}, {"before", 8}};
  text = DrillReportText(d);
  EXPECT_NE(text.find("not back within 600.0s: 3 of 6 on the target, 1 ready; placement wants 6 there now, 8 before the drill"),
            std::string::npos) << text;

  r["returnObservation"] = "off";
  EXPECT_NE(DrillReportText(d).find("not observed (spec.observeReturnSeconds is 0)"), std::string::npos);
  r["returnObservation"] = "none";
  EXPECT_NE(DrillReportText(d).find("nothing was on the target"), std::string::npos);
  // A report from before return watching existed (or a running drill) has no such line.
  EXPECT_EQ(DrillReportText(LiveDrill()).find("return to the target"), std::string::npos);
  EXPECT_FALSE(DrillWatchingReturn(LiveDrill()));
  EXPECT_FALSE(DrillWatchingReturn(json("not a drill")));
}

#ifdef MERIDIAN_HAVE_EXPAT
// Returns "" when `xml` is well-formed, else expat's error with the line.
std::string XmlError(const std::string& xml) {
  XML_Parser p = XML_ParserCreate("UTF-8");
  std::string error;
  if (XML_Parse(p, xml.data(), static_cast<int>(xml.size()), XML_TRUE) == XML_STATUS_ERROR) {
    error = std::string(XML_ErrorString(XML_GetErrorCode(p))) + " at line " +
            std::to_string(XML_GetCurrentLineNumber(p));
  }
  XML_ParserFree(p);
  return error;
}
#endif

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(DrillChart, OneLinePerRegionMarkersAndAxes) {
  const std::string svg = DrillTimelineSvg(LiveDrill());
#ifdef MERIDIAN_HAVE_EXPAT
  EXPECT_EQ(XmlError(svg), "") << svg;
#endif
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(Count(svg, "<polyline class=\"series\""), 2u);
  EXPECT_NE(svg.find("data-region=\"eu-west\""), std::string::npos);
  EXPECT_NE(svg.find("data-region=\"eu-central\""), std::string::npos);
  for (const char* event : {"fault-start", "detected", "replaced", "restored", "aborted"}) {
    EXPECT_NE(svg.find(std::string("data-event=\"") + event + "\""), std::string::npos) << event;
  }
  EXPECT_EQ(svg.find("data-event=\"fully-ready\""), std::string::npos);  // never reached
  EXPECT_NE(svg.find(">0s</text>"), std::string::npos);
  EXPECT_NE(svg.find(">4s</text>"), std::string::npos);
  EXPECT_NE(svg.find(">ready replicas</text>"), std::string::npos);
  EXPECT_NE(svg.find("seconds since the fault started"), std::string::npos);
  // The name is escaped (it came from the API).
  EXPECT_NE(svg.find("drill-&lt;a&amp;b&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("drill-<a&b>"), std::string::npos);
  // eu-west's line goes 6 -> 3 -> back to 6: the y of its 2nd point is below (greater than) the 1st.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex(R"(data-region="eu-west" points="([\d.]+),([\d.]+) ([\d.]+),([\d.]+))")));
  EXPECT_LT(std::stod(m[1]), std::stod(m[3]));
  EXPECT_LT(std::stod(m[2]), std::stod(m[4]));
}

TEST(DrillChart, TheTimelineGoesOnPastTheRestoreToTheReturn) {
  const std::string svg = DrillTimelineSvg(ReturnedDrill());
#ifdef MERIDIAN_HAVE_EXPAT
  EXPECT_EQ(XmlError(svg), "") << svg;
#endif
  auto marker_x = [&](const std::string& event) {
    std::smatch m;
    EXPECT_TRUE(std::regex_search(svg, m, std::regex("data-event=\"" + event + "\" x1=\"([\\d.]+)\""))) << event;
    return m.empty() ? -1.0 : std::stod(m[1]);
  };
  const double restored = marker_x("restored"), returned = marker_x("returned");
  EXPECT_GT(returned, restored);
  EXPECT_NE(svg.find("returned 66.3s"), std::string::npos);
  // eu-west's line ends at the returned marker, with 6 ready.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex(R"re(data-region="eu-west" points="[^"]* ([\d.]+),[\d.]+")re")));
  EXPECT_DOUBLE_EQ(std::stod(m[1]), returned);
  EXPECT_NE(svg.find("eu-west (6 ready at end)"), std::string::npos);
  // The failed span is shaded from the fault start to the restore.
  ASSERT_TRUE(std::regex_search(svg, m, std::regex(R"re(class="failed-span" x="([\d.]+)" y="[\d.]+" width="([\d.]+)")re")));
  EXPECT_NEAR(std::stod(m[1]) + std::stod(m[2]), restored, 0.11);
  EXPECT_NE(svg.find(">70s</text>"), std::string::npos);  // the time axis reaches past the return
}

// A region drill's target has no replicas and no status while failed, so samples leave
// it out: its line drops to 0 and comes back instead of cutting across the gap.
TEST(DrillChart, ARegionMissingFromASampleIsDrawnAtZero) {
  json timeline = json::array();
  const std::vector<json> ready = {{{"eu-west", 6}, {"eu-central", 3}}, {{"eu-central", 9}},
                                   {{"eu-central", 9}}, {{"eu-west", 6}, {"eu-central", 3}}};
  for (size_t i = 0; i < ready.size(); ++i) {
    timeline.push_back({{"atMs", i * 10'000}, {"readyByRegion", ready[i]}, {"desiredByRegion", ready[i]}});
  }
  const json drill = {{"status", {{"phase", "Completed"}, {"report", {{"mode", "live"}, {"timeline", timeline}}}}}};
  const std::string svg = DrillTimelineSvg(drill);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex(R"re(data-region="eu-west" points="([^"]*)")re"))) << svg;
  std::vector<double> ys;
  const std::string points = m[1];
  const std::regex point(R"re([\d.]+,([\d.]+))re");
  for (auto it = std::sregex_iterator(points.begin(), points.end(), point); it != std::sregex_iterator(); ++it) {
    ys.push_back(std::stod((*it)[1]));
  }
  ASSERT_EQ(ys.size(), 4u) << points;
  EXPECT_EQ(ys[1], ys[2]);  // both at 0: the bottom of the plot
  EXPECT_GT(ys[1], ys[0]);
  EXPECT_EQ(ys[3], ys[0]);
}

TEST(DrillChart, SimulationAndEmptyDrillsStillRender) {
  json sim = {{"metadata", {{"name", "s"}}},
              {"status", {{"phase", "Completed"}, {"report", {{"mode", "simulate"}, {"timeline", json::array()}}}}}};
  for (const json& d : {sim, json::object(), json{{"status", {{"report", {{"timeline", "garbage"}}}}}}}) {
    const std::string svg = DrillTimelineSvg(d);
#ifdef MERIDIAN_HAVE_EXPAT
    EXPECT_EQ(XmlError(svg), "") << svg;
#endif
    EXPECT_EQ(Count(svg, "<polyline"), 0u);
    EXPECT_NE(svg.find("class=\"note\""), std::string::npos);
  }
  EXPECT_EQ(XmlEscape("a<b>&\"'\x01"), "a&lt;b&gt;&amp;&quot;&apos; ");
}

// A game day's text report: schedule, steps, next run, and each run with the step and reason
// of an abort.
TEST(GameDayReport, ListsRunsWithTheStepAndReasonOfAnAbort) {
  const json gd = {
      {"metadata", {{"name", "gd"}}},
      {"spec",
       {{"mode", "live"},
        {"failure", "injected"},
        {"schedule", {{"cron", "0 3 * * *"}, {"timeZone", "Europe/Berlin"}}},
        {"abortConditions", {{"minAvailabilityPercent", 80}}},
        {"steps", json::array()}}},
      {"status",
       {{"phase", "Scheduled"},
        {"message", "run 1 aborted at step 1: availability 50% (5 of 10 ready) below 80%"},
        {"report",
         {{"gameDay", true},
          {"steps", {"zone=eu-west-1a for 2s", "region=eu-west for 3s"}},
          {"lastRunTime", "2026-12-06T02:00:00Z"},
          {"nextRunTime", "2026-12-07T02:00:00Z"},
          {"runs",
           {{{"run", 1},
             {"scheduledFor", "2026-12-06T02:00:00Z"},
             {"startTime", "2026-12-06T02:00:00Z"},
             {"completionTime", "2026-12-06T02:00:09Z"},
             {"phase", "Aborted"},
             {"abortedAtStep", 1},
             {"abortedAt", "2026-12-06T02:00:09Z"},
             {"abortReason", "availability 50% (5 of 10 ready) below 80%"},
             {"steps",
              {{{"step", 0},
                {"drill", "gd-1-0"},
                {"target", "zone=eu-west-1a"},
                {"durationSeconds", 2},
                {"phase", "Completed"}},
               {{"step", 1},
                {"drill", "gd-1-1"},
                {"target", "region=eu-west"},
                {"durationSeconds", 3},
                {"phase", "Aborted"}}}}}}}}}}}};
  ASSERT_TRUE(IsGameDay(gd));
  EXPECT_FALSE(IsGameDay(json{{"spec", {{"target", {{"zone", "a"}}}}}}));
  const std::string text = GameDayReportText(gd);
  for (const char* want :
       {"game day gd (live, injected)", "schedule: \"0 3 * * *\" Europe/Berlin",
        "abort when: availability below 80%", "next run: 2026-12-07T02:00:00Z",
        "run 1: Aborted, due 2026-12-06T02:00:00Z",
        "aborted at step 1 at 2026-12-06T02:00:09Z: availability 50% (5 of 10 ready) below 80%",
        "step 1 region=eu-west for 3s: Aborted  (drill gd-1-1)"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
  EXPECT_EQ(GameDayStatusLine(gd),
            "Scheduled  run 1 aborted at step 1: availability 50% (5 of 10 ready) below 80%");
}

}  // namespace
}  // namespace meridian::cli
