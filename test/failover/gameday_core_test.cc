// Game days, pure core: the cron parser and next fire time (fields, ranges, lists, steps,
// names, DST in real zone files, maintenance windows) and the game day's step machine
// (NextGameDayStep) driven by hand-made step drills. No clock, no API server.
#include <gtest/gtest.h>

#include "api/codec.h"
#include "failover/drill_admission.h"
#include "failover/drill_controller.h"
#include "failover/gameday.h"

namespace meridian::failover {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

Timestamp At(const std::string& rfc3339) {
  Timestamp t;
  EXPECT_TRUE(ParseRfc3339(rfc3339, &t)) << rfc3339;
  return t;
}

std::string Next(const std::string& cron, const std::string& zone, const std::string& after,
                 std::optional<MaintenanceWindow> window = std::nullopt) {
  StatusOr<CronSchedule> s = ParseCron(cron);
  EXPECT_TRUE(s.ok()) << s.status();
  StatusOr<TimeZone> z = TimeZone::Load(zone);
  EXPECT_TRUE(z.ok()) << z.status();
  if (!s.ok() || !z.ok()) return "";
  std::optional<Timestamp> t = NextFireTime(*s, *z, At(after), window);
  return t ? FormatRfc3339(*t) : "never";
}

TEST(Cron, ParsesFieldsRangesListsStepsAndNames) {
  StatusOr<CronSchedule> s = ParseCron("*/15 9-17/4 * jan,Jul mon-fri");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->minutes.count(), 4u);
  EXPECT_TRUE(s->minutes.test(45));
  EXPECT_EQ(s->hours.count(), 3u);  // 9, 13, 17
  EXPECT_TRUE(s->hours.test(13) && s->hours.test(17) && !s->hours.test(10));
  EXPECT_EQ(s->months.count(), 2u);
  EXPECT_TRUE(s->months.test(1) && s->months.test(7));
  EXPECT_EQ(s->weekdays.count(), 5u);
  EXPECT_FALSE(s->weekdays.test(0));
  EXPECT_TRUE(s->any_day);
  EXPECT_FALSE(s->any_weekday);

  s = ParseCron("0,30 0 1,15 * 7");  // 7 is Sunday
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->weekdays.test(0));
  EXPECT_EQ(s->minutes.count(), 2u);
  s = ParseCron("5/20 * * * *");  // from 5 to the end of the field
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->minutes.count(), 3u);  // 5, 25, 45
}

TEST(Cron, RefusesBadExpressionsNamingTheField) {
  struct Case {
    std::string cron, message;
  } cases[] = {
      {"* * *", "has 3 fields"},
      {"60 * * * *", "the minute field: 60 is out of range 0-59"},
      {"* 24 * * *", "the hour field: 24 is out of range 0-23"},
      {"* * 0 * *", "the day-of-month field: 0 is out of range 1-31"},
      {"* * * FOO *", "the month field: unknown name \"FOO\""},
      {"*/0 * * * *", "the minute field: bad step"},
      {"5-1 * * * *", "ends before it starts"},
      {"1,,2 * * * *", "the minute field: empty value"},
      {"a * * * *", "\"a\" is not a number"},
  };
  for (const Case& c : cases) {
    StatusOr<CronSchedule> s = ParseCron(c.cron);
    ASSERT_FALSE(s.ok()) << c.cron;
    EXPECT_NE(s.status().message().find(c.message), std::string::npos)
        << c.cron << ": " << s.status().message();
  }
}

TEST(Cron, NextFireTimeInUtc) {
  EXPECT_EQ(Next("*/5 * * * *", "UTC", "2026-12-05T10:17:17Z"), "2026-12-05T10:20:00Z");
  EXPECT_EQ(Next("*/5 * * * *", "UTC", "2026-12-05T10:20:00Z"),
            "2026-12-05T10:25:00Z");  // strictly after
  EXPECT_EQ(Next("0 3 * * sat", "UTC", "2026-12-05T10:00:00Z"), "2026-12-12T03:00:00Z");
  EXPECT_EQ(Next("59 23 31 12 *", "UTC", "2026-12-05T10:00:00Z"), "2026-12-31T23:59:00Z");
  // Both day fields restricted: either matches (the 13th, or a Friday).
  EXPECT_EQ(Next("0 0 13 * 5", "UTC", "2026-12-05T10:00:00Z"), "2026-12-11T00:00:00Z");
  EXPECT_EQ(Next("0 0 29 2 *", "UTC", "2026-12-05T10:00:00Z"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(Next("0 0 30 2 *", "UTC", "2026-12-05T10:00:00Z"), "never");
}

TEST(Cron, TimeZonesAndDaylightSavingTime) {
  EXPECT_EQ(Next("0 3 * * *", "Europe/Berlin", "2026-12-05T10:00:00Z"), "2026-12-06T02:00:00Z");
  EXPECT_EQ(Next("0 3 * * *", "Europe/Berlin", "2026-07-05T10:00:00Z"), "2026-07-06T01:00:00Z");
  EXPECT_EQ(Next("0 3 * * *", "America/New_York", "2026-07-05T10:00:00Z"), "2026-07-06T07:00:00Z");
  // Spring forward (2026-03-29, 02:00 CET -> 03:00 CEST): 02:30 does not exist and fires when
  // the gap ends, once; the next day is 02:30 CEST again.
  EXPECT_EQ(Next("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z"), "2026-03-29T01:00:00Z");
  EXPECT_EQ(Next("30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z"), "2026-03-30T00:30:00Z");
  // Fall back (2026-10-25, 03:00 CEST -> 02:00 CET): 02:30 happens twice and fires once, at
  // its first occurrence.
  EXPECT_EQ(Next("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z"), "2026-10-25T00:30:00Z");
  EXPECT_EQ(Next("30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z"), "2026-10-26T01:30:00Z");
  // Hourly across the fall back: every instant fires at most once, in order.
  EXPECT_EQ(Next("0 * * * *", "Europe/Berlin", "2026-10-25T00:00:00Z"), "2026-10-25T02:00:00Z");
}

TEST(Cron, MaintenanceWindowBoundsTheStart) {
  const MaintenanceWindow overnight{22 * 60, 2 * 60};
  EXPECT_EQ(Next("*/30 * * * *", "UTC", "2026-12-05T12:00:00Z", overnight), "2026-12-05T22:00:00Z");
  EXPECT_EQ(Next("*/30 * * * *", "UTC", "2026-12-06T01:30:00Z", overnight), "2026-12-06T22:00:00Z");
  EXPECT_EQ(Next("0 12 * * *", "UTC", "2026-12-05T00:00:00Z", overnight), "never");
  EXPECT_FALSE(ParseTimeOfDay("24:00").ok());
  EXPECT_FALSE(ParseTimeOfDay("3:00").ok());
  EXPECT_EQ(*ParseTimeOfDay("03:15"), 195);
}

TEST(TimeZone, UnknownAndMalformedNamesAreRefused) {
  EXPECT_EQ(TimeZone::Load("Mars/Olympus_Mons").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(TimeZone::Load("../../etc/passwd").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TimeZone::Load("").status().code(), StatusCode::kInvalidArgument);
  // A file that is not TZif.
  EXPECT_EQ(TimeZone::Load("leapseconds").status().code(), StatusCode::kInvalidArgument);
  StatusOr<TimeZone> utc = TimeZone::Load("UTC");
  ASSERT_TRUE(utc.ok()) << utc.status();
  EXPECT_EQ(utc->OffsetAt(1'800'000'000), 0);
}

// ---- the step machine ----

api::FailoverDrill GameDay(bool scheduled) {
  FieldErrors errors;
  json spec = {{"mode", "live"},
               {"failure", "injected"},
               {"abortConditions", {{"minAvailabilityPercent", 80}}},
               {"steps",
                {{{"target", {{"zone", "eu-west-1a"}}}, {"durationSeconds", 120}},
                 {{"target", {{"region", "eu-west"}}}, {"durationSeconds", 300}}}}};
  if (scheduled) {
    spec["schedule"] = {{"cron", "0 3 * * *"},
                        {"timeZone", "Europe/Berlin"},
                        {"window", {{"start", "02:30"}, {"end", "04:00"}}}};
  }
  api::FailoverDrill d =
      api::DecodeFailoverDrill({{"apiVersion", "federation.meridian.io/v1alpha1"},
                                {"kind", "FailoverDrill"},
                                {"metadata", {{"name", "gd"}}},
                                {"spec", spec}},
                               &errors);
  EXPECT_TRUE(errors.empty()) << errors.front().ToString();
  return d;
}

std::optional<ResolvedSchedule> Resolved(const api::FailoverDrill& d) {
  FieldErrors errors;
  auto s = ResolveSchedule(*d.spec.schedule, "/usr/share/zoneinfo", &errors);
  EXPECT_TRUE(errors.empty());
  return s;
}

// A step drill as the drill controller would have left it.
api::FailoverDrill Child(const api::FailoverDrill& created, const std::string& phase,
                         const std::string& abort_reason = "", const std::string& end = "") {
  api::FailoverDrill c = created;
  c.status.phase = phase;
  c.status.start_time = "2026-12-06T02:00:00Z";
  c.status.completion_time = end;
  c.status.message = phase;
  if (!abort_reason.empty()) c.status.report = {{"abortReason", abort_reason}};
  return c;
}

TEST(GameDayStep, ScheduledRunsStepInOrderAbortAndComplete) {
  api::FailoverDrill gd = GameDay(true);
  const auto schedule = Resolved(gd);
  Timestamp now = At("2026-12-05T10:00:00Z");
  GameDayAction a = NextGameDayStep(gd, {}, schedule, now);
  EXPECT_EQ(a.status.phase, "Scheduled");
  EXPECT_EQ(a.status.report["nextRunTime"], "2026-12-06T02:00:00Z");  // 03:00 CET
  EXPECT_FALSE(a.create);
  gd.status = a.status;

  // Not due: nothing changes.
  a = NextGameDayStep(gd, {}, schedule, At("2026-12-06T01:59:59Z"));
  EXPECT_EQ(a.status, gd.status);
  EXPECT_FALSE(a.create);

  // Due: run 1 starts with step 0's drill.
  now = At("2026-12-06T02:00:00Z");
  a = NextGameDayStep(gd, {}, schedule, now);
  EXPECT_EQ(a.status.phase, "Running");
  ASSERT_TRUE(a.create);
  EXPECT_EQ(a.create->metadata.name, "gd-1-0");
  EXPECT_EQ(a.create->metadata.labels.at(kGameDayLabel), "gd");
  EXPECT_EQ(a.create->spec.target.zone, "eu-west-1a");
  EXPECT_EQ(a.create->spec.duration_seconds, 120);
  EXPECT_TRUE(a.create->spec.inject_fault);
  EXPECT_EQ(a.create->spec.abort_below_percent, 80);
  EXPECT_FALSE(a.create->spec.IsGameDay());
  EXPECT_EQ(a.status.report["lastRunTime"], "2026-12-06T02:00:00Z");
  EXPECT_FALSE(a.status.report.contains("nextRunTime"));
  gd.status = a.status;
  const api::FailoverDrill step0 = *a.create;

  // The step's drill was not stored (a lost write): created again, same name.
  a = NextGameDayStep(gd, {}, schedule, now + 1s);
  ASSERT_TRUE(a.create);
  EXPECT_EQ(a.create->metadata.name, "gd-1-0");

  // Running: recorded, nothing to create.
  a = NextGameDayStep(gd, {Child(step0, "Running")}, schedule, now + 60s);
  EXPECT_FALSE(a.create);
  EXPECT_EQ(a.status.report["runs"][0]["steps"][0]["phase"], "Running");
  gd.status = a.status;

  // Step 0 completed: step 1's drill (the region) is created.
  a = NextGameDayStep(gd, {Child(step0, "Completed", "", "2026-12-06T02:02:00Z")}, schedule,
                      now + 121s);
  ASSERT_TRUE(a.create);
  EXPECT_EQ(a.create->metadata.name, "gd-1-1");
  EXPECT_EQ(a.create->spec.target.region, "eu-west");
  EXPECT_EQ(a.create->spec.duration_seconds, 300);
  EXPECT_EQ(a.status.report["runs"][0]["step"], 1);
  gd.status = a.status;
  const api::FailoverDrill step1 = *a.create;

  // Step 1 aborted on availability: the run is Aborted at step 1, why and when are kept, and
  // the next run is tomorrow.
  a = NextGameDayStep(gd,
                      {Child(step0, "Completed", "", "2026-12-06T02:02:00Z"),
                       Child(step1, "Aborted", "availability 50% (5 of 10 ready) below 80%",
                             "2026-12-06T02:02:31Z")},
                      schedule, now + 152s);
  EXPECT_FALSE(a.create);
  EXPECT_EQ(a.status.phase, "Scheduled");
  const json& run1 = a.status.report["runs"][0];
  EXPECT_EQ(run1["phase"], "Aborted");
  EXPECT_EQ(run1["abortedAtStep"], 1);
  EXPECT_EQ(run1["abortReason"], "availability 50% (5 of 10 ready) below 80%");
  EXPECT_EQ(run1["abortedAt"], "2026-12-06T02:02:31Z");
  EXPECT_EQ(a.status.report["nextRunTime"], "2026-12-07T02:00:00Z");
  EXPECT_NE(a.status.message.find("run 1 aborted at step 1: availability 50%"), std::string::npos)
      << a.status.message;
  gd.status = a.status;

  // Run 2 completes both steps.
  now = At("2026-12-07T02:00:00Z");
  a = NextGameDayStep(gd, {}, schedule, now);
  ASSERT_TRUE(a.create);
  EXPECT_EQ(a.create->metadata.name, "gd-2-0");
  gd.status = a.status;
  const api::FailoverDrill r2s0 = *a.create;
  a = NextGameDayStep(gd, {Child(r2s0, "Completed", "", "2026-12-07T02:02:00Z")}, schedule,
                      now + 120s);
  ASSERT_TRUE(a.create);
  gd.status = a.status;
  const api::FailoverDrill r2s1 = *a.create;
  a = NextGameDayStep(gd,
                      {Child(r2s0, "Completed", "", "2026-12-07T02:02:00Z"),
                       Child(r2s1, "Completed", "", "2026-12-07T02:07:00Z")},
                      schedule, now + 421s);
  EXPECT_EQ(a.status.phase, "Scheduled");
  const json& runs = a.status.report["runs"];
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1]["phase"], "Completed");
  EXPECT_EQ(runs[1]["completionTime"], "2026-12-07T02:07:00Z");
  EXPECT_FALSE(runs[1].contains("abortedAtStep"));
  EXPECT_EQ(a.status.report["lastRunTime"], "2026-12-07T02:00:00Z");
  EXPECT_EQ(a.status.report["nextRunTime"], "2026-12-08T02:00:00Z");
}

TEST(GameDayStep, AMissedWindowIsSkippedAndRecorded) {
  api::FailoverDrill gd = GameDay(true);
  const auto schedule = Resolved(gd);
  GameDayAction a = NextGameDayStep(gd, {}, schedule, At("2026-12-05T10:00:00Z"));
  gd.status = a.status;
  // The controller was down from before 03:00 to 05:00 local (04:00Z): the window has passed.
  a = NextGameDayStep(gd, {}, schedule, At("2026-12-06T04:00:00Z"));
  EXPECT_FALSE(a.create);
  EXPECT_EQ(a.status.phase, "Scheduled");
  EXPECT_EQ(a.status.report["runs"][0]["phase"], "Skipped");
  EXPECT_EQ(a.status.report["runs"][0]["scheduledFor"], "2026-12-06T02:00:00Z");
  EXPECT_EQ(a.status.report["nextRunTime"], "2026-12-07T02:00:00Z");
}

TEST(GameDayStep, AbortOnRequestReachesTheStepAndCreateErrorsFailTheRun) {
  api::FailoverDrill gd = GameDay(false);
  const Timestamp now = At("2026-12-05T10:00:00Z");
  GameDayAction a = NextGameDayStep(gd, {}, std::nullopt, now);  // unscheduled: starts at once
  EXPECT_EQ(a.status.phase, "Running");
  ASSERT_TRUE(a.create);
  gd.status = a.status;
  const api::FailoverDrill step0 = *a.create;

  gd.metadata.annotations[kAbortAnnotation] = "true";
  a = NextGameDayStep(gd, {Child(step0, "Running")}, std::nullopt, now + 5s);
  EXPECT_EQ(a.abort, "gd-1-0");
  a = NextGameDayStep(gd, {Child(step0, "Aborted", "requested", "2026-12-05T10:00:06Z")},
                      std::nullopt, now + 6s);
  EXPECT_EQ(a.abort, "");
  EXPECT_EQ(a.status.phase, "Aborted");  // unscheduled: the run's end is the game day's
  EXPECT_EQ(a.status.report["runs"][0]["abortReason"], "abort requested");
  EXPECT_EQ(a.status.report["runs"][0]["abortedAtStep"], 0);
  // Final: nothing more.
  gd.status = a.status;
  EXPECT_EQ(NextGameDayStep(gd, {}, std::nullopt, now + 60s).status, gd.status);

  api::FailoverDrill other = GameDay(false);
  a = NextGameDayStep(other, {}, std::nullopt, now);
  other.status = a.status;
  const Status refused =
      FailedPreconditionError("spec.target: zone=eu-west-1a overlaps live drill x");
  a = NextGameDayStep(other, {}, std::nullopt, now, &refused);
  EXPECT_EQ(a.status.phase, "Failed");
  EXPECT_NE(
      a.status.report["runs"][0]["abortReason"].get<std::string>().find("overlaps live drill x"),
      std::string::npos);
}

// A game day's acknowledgements reach its steps' drills, which admission judges again.
TEST(GameDayStep, StepDrillsCarryTheGameDaysAcknowledgements) {
  api::FailoverDrill gd = GameDay(false);
  EXPECT_TRUE(StepDrill(gd, 1, 0).metadata.annotations.empty());
  gd.metadata.annotations = {{kAllowResidencyOutageAnnotation, "true"},
                             {kAllowRolloutOverlapAnnotation, "true"},
                             {"unrelated", "x"}};
  const std::map<std::string, std::string> want = {{kAllowResidencyOutageAnnotation, "true"},
                                                   {kAllowRolloutOverlapAnnotation, "true"}};
  EXPECT_EQ(StepDrill(gd, 1, 0).metadata.annotations, want);
}

TEST(GameDaySchema, StepsAndScheduleAreDecodedAndBadFieldsNamed) {
  FieldErrors errors;
  api::FailoverDrill d = api::DecodeFailoverDrill(
      {{"apiVersion", "federation.meridian.io/v1alpha1"},
       {"kind", "FailoverDrill"},
       {"metadata", {{"name", "gd"}}},
       {"spec",
        {{"mode", "live"},
         {"steps",
          {{{"target", {{"zone", "eu-west-1a"}}}, {"durationSeconds", 120}},
           {{"target", {{"region", "eu-west"}}}, {"durationSeconds", -5}}}}}}},
      &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec.steps[1].durationSeconds");
  errors.clear();
  api::DecodeFailoverDrill({{"apiVersion", "federation.meridian.io/v1alpha1"},
                            {"kind", "FailoverDrill"},
                            {"metadata", {{"name", "gd"}}},
                            {"spec",
                             {{"target", {{"zone", "a"}}},
                              {"steps", {{{"target", {{"zone", "b"}}}, {"durationSeconds", 0}}}}}}},
                           &errors);
  ASSERT_GE(errors.size(), 2u);
  EXPECT_EQ(errors[0].path, "spec.target");
  EXPECT_EQ(errors[1].path, "spec.steps[0].durationSeconds");
  // Round trip.
  api::FailoverDrill gd = GameDay(true);
  errors.clear();
  EXPECT_EQ(api::DecodeFailoverDrill(api::Encode(gd), &errors), gd);
  EXPECT_TRUE(errors.empty());
}

}  // namespace
}  // namespace meridian::failover
