#include "common/quantity.h"

#include <array>
#include <utility>

namespace meridian {
namespace {

using Int = __int128;

constexpr int64_t kNano = 1'000'000'000;
// The largest magnitude Kubernetes keeps in an int64 of units, in nanos.
constexpr Int kMaxNanos = static_cast<Int>(INT64_MAX) * kNano;
// Products are checked against this before multiplying, far below __int128's limit.
constexpr Int kLimit = kMaxNanos * 1000;

Status Bad(std::string_view text, const std::string& why) {
  return InvalidArgumentError("quantity \"" + std::string(text) + "\": " + why);
}

// a * b when the result stays below kLimit.
bool Mul(Int a, Int b, Int* out) {
  if (a != 0 && b > kLimit / a) return false;
  *out = a * b;
  return true;
}

Int Pow(Int base, int e) {
  Int r = 1;
  while (e-- > 0) r *= base;
  return r;
}

// Decimal SI suffixes by exponent of ten.
std::string DecimalSuffix(int exp) {
  switch (exp) {
    case -9:
      return "n";
    case -6:
      return "u";
    case -3:
      return "m";
    case 0:
      return "";
    case 3:
      return "k";
    case 6:
      return "M";
    case 9:
      return "G";
    case 12:
      return "T";
    case 15:
      return "P";
    case 18:
      return "E";
    default:
      return "e" + std::to_string(exp);
  }
}

std::string IntText(Int v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  if (neg) v = -v;
  std::string s;
  while (v > 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return neg ? "-" + s : s;
}

enum class Format { kDecimalSI, kBinarySI, kDecimalExponent };

// Mantissa and exponent of ten (a multiple of 3) for a nano count, as
// int64Amount.AsCanonicalBytes computes them.
std::pair<Int, int> DecimalMantissa(Int nanos) {
  int exp = -9;
  while (nanos % 10 == 0) {
    nanos /= 10;
    ++exp;
  }
  switch (exp % 3) {
    case 1:
    case -2:
      nanos *= 10;
      exp -= 1;
      break;
    case 2:
    case -1:
      nanos *= 100;
      exp -= 2;
      break;
    default:
      break;
  }
  return {nanos, exp};
}

struct Parsed {
  Int nanos = 0;  // magnitude, rounded up to nanos
  bool negative = false;
  Format format = Format::kDecimalSI;
};

// The value of `text` in nanos (see the file comment for the grammar).
StatusOr<Parsed> Parse(std::string_view text) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  Int digits = 0;
  int significant = 0;  // digits after leading zeros, to bound the mantissa
  int fraction = 0;     // digits after the point
  bool any_digit = false;
  bool point = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.' && !point) {
      point = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    any_digit = true;
    if (point) ++fraction;
    if (digits != 0 || c != '0') ++significant;
    if (significant > 30) return Bad(text, "too many digits");
    digits = digits * 10 + (c - '0');
  }
  if (!any_digit) return Bad(text, "want a number, e.g. 500m, 0.5, 1Gi");

  const std::string_view suffix = text.substr(i);
  Format format = Format::kDecimalSI;
  int exp10 = 0;  // the suffix's power of ten
  int exp2 = 0;   // or its power of two
  static constexpr std::array<std::pair<std::string_view, int>, 6> kBinary = {
      {{"Ki", 10}, {"Mi", 20}, {"Gi", 30}, {"Ti", 40}, {"Pi", 50}, {"Ei", 60}}};
  static constexpr std::array<std::pair<std::string_view, int>, 10> kDecimal = {{{"n", -9},
                                                                                 {"u", -6},
                                                                                 {"m", -3},
                                                                                 {"", 0},
                                                                                 {"k", 3},
                                                                                 {"M", 6},
                                                                                 {"G", 9},
                                                                                 {"T", 12},
                                                                                 {"P", 15},
                                                                                 {"E", 18}}};
  bool known = false;
  for (const auto& [s, e] : kBinary) {
    if (suffix == s) {
      format = Format::kBinarySI;
      exp2 = e;
      known = true;
    }
  }
  for (const auto& [s, e] : kDecimal) {
    if (suffix == s) {
      exp10 = e;
      known = true;
    }
  }
  if (!known && suffix.size() > 1 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    size_t j = 1;
    bool neg_exp = false;
    if (suffix[j] == '+' || suffix[j] == '-') neg_exp = suffix[j++] == '-';
    int e = 0;
    bool exp_digit = false;
    for (; j < suffix.size() && suffix[j] >= '0' && suffix[j] <= '9'; ++j) {
      exp_digit = true;
      e = e * 10 + (suffix[j] - '0');
      if (e > 100) return Bad(text, "exponent out of range");
    }
    if (exp_digit && j == suffix.size()) {
      format = Format::kDecimalExponent;
      exp10 = neg_exp ? -e : e;
      known = true;
    }
  }
  if (!known) {
    return Bad(text, "unknown suffix \"" + std::string(suffix) +
                         "\" (want one of n u m k M G T P E Ki Mi Gi Ti Pi Ei or an exponent)");
  }

  // nanos = digits * 2^exp2 * 10^(exp10 + 9 - fraction), rounded up in magnitude.
  Int nanos = digits;
  if (exp2 > 0 && !Mul(nanos, static_cast<Int>(1) << exp2, &nanos)) {
    return Bad(text, "too large");
  }
  const int scale = exp10 + 9 - fraction;
  if (scale >= 0) {
    if (scale > 36 || !Mul(nanos, Pow(10, scale), &nanos)) return Bad(text, "too large");
  } else if (nanos != 0) {
    if (-scale > 36) {
      nanos = 1;  // smaller than a nano: Kubernetes rounds up to the smallest amount
    } else {
      const Int div = Pow(10, -scale);
      nanos = (nanos + div - 1) / div;
    }
  }
  if (nanos > kMaxNanos) return Bad(text, "too large");
  return Parsed{nanos, negative, format};
}

}  // namespace

StatusOr<std::string> CanonicalQuantity(std::string_view text) {
  MERIDIAN_ASSIGN_OR_RETURN(const Parsed parsed, Parse(text));
  const Int nanos = parsed.nanos;
  const bool negative = parsed.negative;
  Format format = parsed.format;
  if (nanos == 0) return std::string("0");

  if (format == Format::kBinarySI) {
    // Small or fractional binary amounts are written in decimal SI, as Quantity.String() does.
    if (nanos < static_cast<Int>(1024) * kNano || nanos % kNano != 0) {
      format = Format::kDecimalSI;
    } else {
      Int units = nanos / kNano;
      int e = 0;
      while (units % 1024 == 0) {
        units /= 1024;
        ++e;
      }
      static constexpr std::array<const char*, 7> kNames = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
      return (negative ? "-" : "") + IntText(units) + kNames[e];
    }
  }
  const auto [mantissa, exp] = DecimalMantissa(nanos);
  std::string out = (negative ? "-" : "") + IntText(mantissa);
  if (format == Format::kDecimalExponent) {
    if (exp != 0) out += "e" + std::to_string(exp);
    return out;
  }
  return out + DecimalSuffix(exp);
}

StatusOr<int64_t> QuantityMilliValue(std::string_view text) {
  MERIDIAN_ASSIGN_OR_RETURN(const Parsed parsed, Parse(text));
  constexpr Int kPerMilli = kNano / 1000;
  const Int milli = (parsed.nanos + kPerMilli - 1) / kPerMilli;
  if (milli > static_cast<Int>(INT64_MAX)) return Bad(text, "too large");
  return static_cast<int64_t>(parsed.negative ? -milli : milli);
}

StatusOr<int64_t> QuantityValue(std::string_view text) {
  MERIDIAN_ASSIGN_OR_RETURN(const Parsed parsed, Parse(text));
  const Int units = (parsed.nanos + kNano - 1) / kNano;
  return static_cast<int64_t>(parsed.negative ? -units : units);
}

}  // namespace meridian
