#include "failover/cron.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>

namespace meridian::failover {
namespace {

constexpr int64_t kDay = 86400;

int64_t BigEndian(const std::string& data, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(data[at + i]);
  if (bytes == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
  return static_cast<int64_t>(v);
}

bool ValidZoneName(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.find("..") != std::string::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
           c == '+';
  });
}

struct Field {
  const char* name;
  int lo, hi;
  const char* const* names;  // names[i] is value lo + i (null: numbers only)
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",  "JUL",
                                       "AUG", "SEP", "OCT", "NOV", "DEC", nullptr};
constexpr const char* kWeekdayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", nullptr};

StatusOr<int> FieldValue(const Field& f, const std::string& token, int hi) {
  if (token.empty())
    return InvalidArgumentError(std::string("the ") + f.name + " field: empty value");
  if (f.names != nullptr && std::isalpha(static_cast<unsigned char>(token[0]))) {
    std::string upper = token;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (int i = 0; f.names[i] != nullptr; ++i) {
      if (upper == f.names[i]) return f.lo + i;
    }
    return InvalidArgumentError(std::string("the ") + f.name + " field: unknown name \"" + token +
                                "\"");
  }
  if (!std::all_of(token.begin(), token.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
      token.size() > 4) {
    return InvalidArgumentError(std::string("the ") + f.name + " field: \"" + token +
                                "\" is not a number");
  }
  int v = std::stoi(token);
  if (v < f.lo || v > hi) {
    return InvalidArgumentError(std::string("the ") + f.name + " field: " + token +
                                " is out of range " + std::to_string(f.lo) + "-" +
                                std::to_string(f.hi));
  }
  return v;
}

// Parses one field into `bits` (bit v set for each value v). `wrap7`: weekday 7 means 0.
template <size_t N>
Status ParseField(const Field& f, const std::string& text, std::bitset<N>* bits, bool* any,
                  bool wrap7 = false) {
  *any = text == "*";
  const int hi = wrap7 ? 7 : f.hi;
  std::stringstream parts(text);
  std::string part;
  int count = 0;
  while (std::getline(parts, part, ',')) {
    ++count;
    int step = 1;
    const bool stepped = part.find('/') != std::string::npos;
    if (size_t slash = part.find('/'); slash != std::string::npos) {
      std::string s = part.substr(slash + 1);
      if (s.empty() || s.size() > 4 ||
          !std::all_of(s.begin(), s.end(),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
          std::stoi(s) == 0) {
        return InvalidArgumentError(std::string("the ") + f.name + " field: bad step \"" + s +
                                    "\" (a positive number)");
      }
      step = std::stoi(s);
      part = part.substr(0, slash);
    }
    int lo, top;
    if (part == "*") {
      lo = f.lo;
      top = f.hi;
    } else if (size_t dash = part.find('-'); dash != std::string::npos) {
      MERIDIAN_ASSIGN_OR_RETURN(lo, FieldValue(f, part.substr(0, dash), hi));
      MERIDIAN_ASSIGN_OR_RETURN(top, FieldValue(f, part.substr(dash + 1), hi));
      if (top < lo) {
        return InvalidArgumentError(std::string("the ") + f.name + " field: range \"" + part +
                                    "\" ends before it starts");
      }
    } else {
      MERIDIAN_ASSIGN_OR_RETURN(lo, FieldValue(f, part, hi));
      // "a/n" runs from a to the end of the field, as in Vixie cron.
      top = stepped ? f.hi : lo;
    }
    for (int v = lo; v <= top; v += step) bits->set(wrap7 && v == 7 ? 0 : static_cast<size_t>(v));
  }
  if (count == 0 || text.back() == ',') {
    return InvalidArgumentError(std::string("the ") + f.name + " field: empty list item");
  }
  return Status::Ok();
}

}  // namespace

TimeZone TimeZone::Utc() {
  TimeZone z;
  z.name_ = "UTC";
  return z;
}

StatusOr<TimeZone> TimeZone::Load(const std::string& name, const std::string& root) {
  if (!ValidZoneName(name)) {
    return InvalidArgumentError("\"" + name +
                                "\" is not an IANA time zone name (e.g. Europe/Berlin)");
  }
  std::ifstream in(root + "/" + name, std::ios::binary);
  if (!in)
    return NotFoundError("unknown time zone \"" + name + "\" (no " + root + "/" + name + ")");
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("time zone \"" + name + "\": " + root + "/" + name +
                                " is not a TZif file (" + why + ")");
  };
  if (data.size() < 44 || data.compare(0, 4, "TZif") != 0) return bad("no TZif header");
  // Header: magic, version, 15 reserved, then isutcnt isstdcnt leapcnt timecnt typecnt charcnt.
  auto counts = [&](size_t at, int64_t c[6]) {
    for (int i = 0; i < 6; ++i) c[i] = BigEndian(data, at + 20 + 4 * i, 4);
  };
  int64_t c[6];
  counts(0, c);
  size_t at = 44;
  int time_bytes = 4;
  auto block = [&](int tb) {
    return c[3] * tb + c[3] + c[4] * 6 + c[5] + c[2] * (tb + 4) + c[1] + c[0];
  };
  if (data[4] >= '2') {
    // Skip the 32-bit block; the 64-bit one follows with its own header.
    at += static_cast<size_t>(block(4));
    if (data.size() < at + 44 || data.compare(at, 4, "TZif") != 0) return bad("no second header");
    counts(at, c);
    at += 44;
    time_bytes = 8;
  }
  if (c[4] < 1 ||
      static_cast<int64_t>(data.size()) < static_cast<int64_t>(at) + block(time_bytes)) {
    return bad("truncated");
  }
  const size_t times_at = at, index_at = at + c[3] * time_bytes, types_at = index_at + c[3];
  TimeZone z;
  z.name_ = name;
  auto type_offset = [&](int64_t type) -> std::optional<int32_t> {
    if (type < 0 || type >= c[4]) return std::nullopt;
    return static_cast<int32_t>(BigEndian(data, types_at + 6 * type, 4));
  };
  z.initial_offset_ = *type_offset(0);
  for (int64_t i = 0; i < c[3]; ++i) {
    std::optional<int32_t> off = type_offset(static_cast<unsigned char>(data[index_at + i]));
    if (!off) return bad("transition type out of range");
    z.transitions_.push_back(BigEndian(data, times_at + i * time_bytes, time_bytes));
    z.offsets_.push_back(*off);
  }
  if (!std::is_sorted(z.transitions_.begin(), z.transitions_.end())) return bad("unsorted");
  return z;
}

int32_t TimeZone::OffsetAt(int64_t unix_seconds) const {
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), unix_seconds);
  if (it == transitions_.begin()) return initial_offset_;
  return offsets_[static_cast<size_t>(it - transitions_.begin() - 1)];
}

int64_t TimeZone::FromLocal(int64_t local) const {
  // Offsets a day either side bracket any transition near `local` (none is 24 h wide).
  const int64_t a = local - OffsetAt(local - kDay), b = local - OffsetAt(local + kDay);
  const bool a_ok = ToLocal(a) == local, b_ok = ToLocal(b) == local;
  if (a_ok && b_ok) return std::min(a, b);
  if (a_ok) return a;
  if (b_ok) return b;
  // A gap: the first transition after the earlier candidate is where local time resumes.
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), std::min(a, b));
  return it == transitions_.end() ? std::max(a, b) : *it;
}

StatusOr<CronSchedule> ParseCron(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> fields((std::istream_iterator<std::string>(in)),
                                  std::istream_iterator<std::string>());
  if (fields.size() != 5) {
    return InvalidArgumentError("\"" + text + "\" has " + std::to_string(fields.size()) +
                                " fields; a cron expression has 5: minute hour day-of-month "
                                "month day-of-week");
  }
  static const Field kFields[] = {{"minute", 0, 59, nullptr},
                                  {"hour", 0, 23, nullptr},
                                  {"day-of-month", 1, 31, nullptr},
                                  {"month", 1, 12, kMonthNames},
                                  {"day-of-week", 0, 6, kWeekdayNames}};
  CronSchedule s;
  s.text = text;
  bool unused;
  MERIDIAN_RETURN_IF_ERROR(ParseField(kFields[0], fields[0], &s.minutes, &unused));
  MERIDIAN_RETURN_IF_ERROR(ParseField(kFields[1], fields[1], &s.hours, &unused));
  MERIDIAN_RETURN_IF_ERROR(ParseField(kFields[2], fields[2], &s.days, &s.any_day));
  MERIDIAN_RETURN_IF_ERROR(ParseField(kFields[3], fields[3], &s.months, &unused));
  MERIDIAN_RETURN_IF_ERROR(ParseField(kFields[4], fields[4], &s.weekdays, &s.any_weekday, true));
  // Vixie cron: "*/n" in a day field restricts it.
  if (fields[2] != "*" && fields[2].front() == '*') s.any_day = false;
  if (fields[4] != "*" && fields[4].front() == '*') s.any_weekday = false;
  return s;
}

StatusOr<int> ParseTimeOfDay(const std::string& text) {
  if (text.size() != 5 || text[2] != ':' || !std::isdigit(static_cast<unsigned char>(text[0])) ||
      !std::isdigit(static_cast<unsigned char>(text[1])) ||
      !std::isdigit(static_cast<unsigned char>(text[3])) ||
      !std::isdigit(static_cast<unsigned char>(text[4]))) {
    return InvalidArgumentError("\"" + text + "\" is not a time of day HH:MM");
  }
  const int h = std::stoi(text.substr(0, 2)), m = std::stoi(text.substr(3, 2));
  if (h > 23 || m > 59) return InvalidArgumentError("\"" + text + "\" is not a time of day HH:MM");
  return h * 60 + m;
}

bool InWindow(const MaintenanceWindow& w, int64_t local_seconds) {
  const int minute = static_cast<int>(((local_seconds % kDay + kDay) % kDay) / 60);
  if (w.start_minute <= w.end_minute) return minute >= w.start_minute && minute < w.end_minute;
  return minute >= w.start_minute || minute < w.end_minute;
}

std::optional<Timestamp> NextFireTime(const CronSchedule& s, const TimeZone& zone, Timestamp after,
                                      const std::optional<MaintenanceWindow>& window) {
  using namespace std::chrono;
  const int64_t after_s = duration_cast<seconds>(after.time_since_epoch()).count() -
                          (after.time_since_epoch() < Duration::zero() ? 1 : 0);
  const int64_t start_local = zone.ToLocal(after_s);
  int64_t day = start_local >= 0 ? start_local / kDay : (start_local - kDay + 1) / kDay;
  for (int64_t d = day; d < day + 8 * 366; ++d) {
    const year_month_day ymd{sys_days{days{d}}};
    const unsigned mday = static_cast<unsigned>(ymd.day());
    const unsigned month = static_cast<unsigned>(ymd.month());
    const unsigned wday = weekday{sys_days{days{d}}}.c_encoding();
    if (!s.months.test(month)) continue;
    const bool dom = s.days.test(mday), dow = s.weekdays.test(wday);
    const bool day_ok = s.any_day && s.any_weekday ? true
                        : s.any_day                ? dow
                        : s.any_weekday            ? dom
                                                   : (dom || dow);
    if (!day_ok) continue;
    for (int h = 0; h < 24; ++h) {
      if (!s.hours.test(static_cast<size_t>(h))) continue;
      for (int m = 0; m < 60; ++m) {
        if (!s.minutes.test(static_cast<size_t>(m))) continue;
        const int64_t local = d * kDay + h * 3600 + m * 60;
        if (local + 3 * 3600 <= start_local)
          continue;  // long before: no fold reaches back that far
        if (window && !InWindow(*window, local)) continue;
        const int64_t at = zone.FromLocal(local);
        if (at > after_s) return Timestamp(seconds(at));
      }
    }
  }
  return std::nullopt;
}

}  // namespace meridian::failover
