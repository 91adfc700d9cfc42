#include "common/clock.h"

#include <cstdint>
#include <cstdio>
#include <ctime>

namespace meridian {

Clock& RealClock() {
  static SystemClock clock;
  return clock;
}

std::string FormatRfc3339(Timestamp t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool ParseRfc3339(const std::string& text, Timestamp* out) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return false;
  }
  size_t pos = static_cast<size_t>(consumed);
  // The fraction is kept to the nanosecond (a Timestamp's precision); digits beyond the ninth
  // are read and dropped. A '.' must be followed by at least one digit.
  int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const size_t first = pos;
    int64_t scale = 100'000'000;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
      nanos += (text[pos] - '0') * scale;
      scale /= 10;
    }
    if (pos == first) return false;
  }
  if (pos + 1 != text.size() || text[pos] != 'Z') return false;
  // Years a Timestamp (int64 nanoseconds since 1970) can hold: 1678-2261. Outside, the
  // conversion below would overflow (undefined behaviour; found by fuzz_decode).
  if (tm.tm_year < 1678 || tm.tm_year > 2261 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
      tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
      tm.tm_sec < 0 || tm.tm_sec > 60) {
    return false;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  *out = std::chrono::system_clock::from_time_t(timegm(&tm)) +
         std::chrono::duration_cast<Timestamp::duration>(std::chrono::nanoseconds(nanos));
  return true;
}

}  // namespace meridian
