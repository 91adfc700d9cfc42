#include "membersim/quantity.h"

#include <cctype>

namespace meridian::membersim {
namespace {

using i128 = __int128;
constexpr i128 kLimit = static_cast<i128>(INT64_MAX);

Status Bad(std::string_view text, const std::string& why) {
  return InvalidArgumentError("quantity \"" + std::string(text) + "\": " + why);
}

}  // namespace

StatusOr<int64_t> ParseQuantityMilli(std::string_view text) {
  if (text.empty()) return Bad(text, "must not be empty");
  size_t pos = 0;
  if (text[pos] == '+') ++pos;
  if (pos < text.size() && text[pos] == '-') return Bad(text, "must not be negative");
  // Mantissa: digits, optional point, digits.
  i128 mantissa = 0;
  int digits = 0;
  int frac_digits = 0;
  bool seen_point = false;
  for (; pos < text.size(); ++pos) {
    char c = text[pos];
    if (c == '.') {
      if (seen_point) return Bad(text, "more than one decimal point");
      seen_point = true;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    if (digits >= 30) return Bad(text, "too many digits");
    mantissa = mantissa * 10 + (c - '0');
    ++digits;
    if (seen_point) ++frac_digits;
  }
  if (digits == 0) return Bad(text, "expected a number");
  std::string_view suffix = text.substr(pos);
  int exp10 = -frac_digits + 3;  // +3: the result is in thousandths
  int exp2 = 0;
  if (suffix.empty()) {
  } else if (suffix == "Ki") {
    exp2 = 10;
  } else if (suffix == "Mi") {
    exp2 = 20;
  } else if (suffix == "Gi") {
    exp2 = 30;
  } else if (suffix == "Ti") {
    exp2 = 40;
  } else if (suffix == "Pi") {
    exp2 = 50;
  } else if (suffix == "Ei") {
    exp2 = 60;
  } else if (suffix == "n") {
    exp10 -= 9;
  } else if (suffix == "u") {
    exp10 -= 6;
  } else if (suffix == "m") {
    exp10 -= 3;
  } else if (suffix == "k") {
    exp10 += 3;
  } else if (suffix == "M") {
    exp10 += 6;
  } else if (suffix == "G") {
    exp10 += 9;
  } else if (suffix == "T") {
    exp10 += 12;
  } else if (suffix == "P") {
    exp10 += 15;
  } else if (suffix == "E") {
    exp10 += 18;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::string_view e = suffix.substr(1);
    bool neg = false;
    if (!e.empty() && (e[0] == '+' || e[0] == '-')) {
      neg = e[0] == '-';
      e.remove_prefix(1);
    }
    if (e.empty() || e.size() > 3) return Bad(text, "malformed exponent");
    int v = 0;
    for (char c : e) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return Bad(text, "malformed exponent");
      v = v * 10 + (c - '0');
    }
    exp10 += neg ? -v : v;
  } else {
    return Bad(text, "unknown suffix \"" + std::string(suffix) +
                         "\" (want one of Ki Mi Gi Ti Pi Ei n u m k M G T P E or an exponent)");
  }
  i128 value = mantissa;
  for (int i = 0; i < exp2; ++i) {
    value *= 2;
    if (value > kLimit) return Bad(text, "too large");
  }
  for (int i = 0; i < exp10; ++i) {
    value *= 10;
    if (value > kLimit) return Bad(text, "too large");
  }
  if (exp10 < 0) {
    i128 div = 1;
    for (int i = 0; i < -exp10; ++i) {
      div *= 10;
      if (div > kLimit * 1000) {  // everything rounds to 0 or 1 from here
        return static_cast<int64_t>(value == 0 ? 0 : 1);
      }
    }
    value = (value + div - 1) / div;  // round up, as Kubernetes does
  }
  if (value > kLimit) return Bad(text, "too large");
  return static_cast<int64_t>(value);
}

StatusOr<int64_t> ParseQuantity(std::string_view text) {
  MERIDIAN_ASSIGN_OR_RETURN(int64_t milli, ParseQuantityMilli(text));
  return (milli + 999) / 1000;
}

std::string FormatMilli(int64_t milli) {
  if (milli % 1000 == 0) return std::to_string(milli / 1000);
  return std::to_string(milli) + "m";
}

std::string FormatBytes(int64_t bytes) {
  static const char* kSuffixes[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  if (bytes == 0) return "0";
  int idx = -1;
  int64_t v = bytes;
  while (idx < 5 && v % 1024 == 0) {
    v /= 1024;
    ++idx;
  }
  if (idx < 0) return std::to_string(bytes);
  return std::to_string(v) + kSuffixes[idx];
}

}  // namespace meridian::membersim
