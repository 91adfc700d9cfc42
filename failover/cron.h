// Game-day schedules, pure core: 5-field cron expressions, IANA time zones read from the
// TZif files under /usr/share/zoneinfo (libstdc++ 12 has no std::chrono::tzdb), maintenance
// windows, and the next fire time. No clock reads: callers pass `after` (the Clock's now).
//
// DST: cron fields are local wall-clock times, iterated in local time, and each local time
// fires at most once:
//   - a local time that does not exist (the hour skipped when clocks go forward) fires at the
//     instant the gap ends (as cronie does), so a 02:30 game day still runs that night;
//   - a local time that happens twice (the hour repeated when clocks go back) fires at its
//     first occurrence only, so a game day is never run twice in one night.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace meridian::failover {

// A time zone: its UTC offsets and the instants they change.
class TimeZone {
 public:
  // UTC (no file needed).
  static TimeZone Utc();
  // The IANA zone `name` ("Europe/Berlin", "UTC") from `<root>/<name>` (a TZif file, v1 or
  // v2+). Errors: InvalidArgument for a malformed name (empty, "..", absolute, odd
  // characters), NotFound when no such zone file exists, InvalidArgument when it is not TZif.
  // Beyond the file's last transition the last offset holds (Debian's tzdata files are "fat":
  // their transitions run to 2037).
  static StatusOr<TimeZone> Load(const std::string& name,
                                 const std::string& root = "/usr/share/zoneinfo");

  const std::string& name() const { return name_; }
  // The offset from UTC (seconds, east positive) in force at `unix_seconds`.
  int32_t OffsetAt(int64_t unix_seconds) const;
  // The local wall-clock time (seconds since 1970-01-01 00:00 local) at `unix_seconds`.
  int64_t ToLocal(int64_t unix_seconds) const { return unix_seconds + OffsetAt(unix_seconds); }
  // The first instant whose local time is `local_seconds`; for a local time that does not exist
  // (a gap), the instant the gap ends.
  int64_t FromLocal(int64_t local_seconds) const;

 private:
  std::string name_;
  std::vector<int64_t> transitions_;  // ascending instants
  std::vector<int32_t> offsets_;      // offsets_[i] holds from transitions_[i]
  int32_t initial_offset_ = 0;        // before the first transition
};

// A parsed cron expression: minute hour day-of-month month day-of-week.
struct CronSchedule {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;     // 1..31
  std::bitset<13> months;   // 1..12
  std::bitset<7> weekdays;  // 0 = Sunday
  // Whether day-of-month / day-of-week were "*" (Vixie cron: when both are restricted, a day
  // matching either fires).
  bool any_day = true, any_weekday = true;
  std::string text;
};

// Parses "m h dom mon dow": each field "*", a number, a range "a-b", a list "a,b-c", a step
// "*/n" or "a-b/n" or "a/n" (from a to the end); months JAN-DEC and weekdays SUN-SAT by name
// (case-insensitive); weekday 7 is Sunday. Errors: InvalidArgument naming the field ("the
// hour field: 24 is out of range 0-23").
StatusOr<CronSchedule> ParseCron(const std::string& text);

// A maintenance window: the local times of day [start, end) a run may start in; end before
// start spans midnight ("22:00"-"04:00").
struct MaintenanceWindow {
  int start_minute = 0, end_minute = 0;  // minutes since local midnight
};
// Parses "HH:MM". Errors: InvalidArgument.
StatusOr<int> ParseTimeOfDay(const std::string& text);
// Whether local time `local_seconds` falls in the window.
bool InWindow(const MaintenanceWindow& window, int64_t local_seconds);

// The first instant strictly after `after` at which `schedule` fires in `zone` (inside
// `window` when given). nullopt when it never fires within 8 years (e.g. "0 0 30 2 *").
std::optional<Timestamp> NextFireTime(
    const CronSchedule& schedule, const TimeZone& zone, Timestamp after,
    const std::optional<MaintenanceWindow>& window = std::nullopt);

}  // namespace meridian::failover
