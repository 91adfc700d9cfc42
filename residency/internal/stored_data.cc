#include "residency/internal/stored_data.h"

#include <string_view>

namespace meridian::residency::internal {
namespace {

constexpr int kMaxDepth = 256;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Follows the object's structure outside data without validating it (the caller parses that
// part), and checks data's bytes strictly.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : t_(text) {}

  size_t pos() const { return p_; }
  bool AtEnd() const { return p_ >= t_.size(); }
  void SkipSpace() {
    while (p_ < t_.size() && IsSpace(t_[p_])) ++p_;
  }

  // An object at the cursor: for each member, `member(key, escaped)` with the cursor at its
  // value, which it must consume. False when the text cannot be followed.
  template <typename Member>
  bool Members(Member&& member) {
    SkipSpace();
    if (!Consume('{')) return false;
    SkipSpace();
    if (Consume('}')) return true;
    while (true) {
      SkipSpace();
      std::string_view key;
      bool escaped = false;
      if (!LooseString(&key, &escaped)) return false;
      SkipSpace();
      if (!Consume(':')) return false;
      SkipSpace();
      if (!member(key, escaped)) return false;
      SkipSpace();
      if (Consume(',')) continue;
      return Consume('}');
    }
  }

  // Any value, skipped by its brackets and strings.
  bool SkipValue() {
    if (AtEnd()) return false;
    const char c = t_[p_];
    std::string_view ignored;
    bool escaped = false;
    if (c == '"') return LooseString(&ignored, &escaped);
    if (c == '{' || c == '[') {
      int depth = 0;
      while (p_ < t_.size()) {
        const char d = t_[p_];
        if (d == '"') {
          if (!LooseString(&ignored, &escaped)) return false;
          continue;
        }
        if (d == '{' || d == '[') {
          ++depth;
        } else if ((d == '}' || d == ']') && --depth == 0) {
          ++p_;
          return true;
        }
        ++p_;
      }
      return false;
    }
    const size_t start = p_;
    while (p_ < t_.size() && !IsSpace(t_[p_]) && t_[p_] != ',' && t_[p_] != '}' && t_[p_] != ']') {
      ++p_;
    }
    return p_ > start;
  }

  // A value in canonical form (see the header); the cursor after it.
  bool CanonicalValue(int depth) {
    if (AtEnd()) return false;
    switch (t_[p_]) {
      case '{':
        return depth < kMaxDepth && CanonicalObject(depth + 1);
      case '[':
        return depth < kMaxDepth && CanonicalArray(depth + 1);
      case '"': {
        std::string_view ignored;
        bool escaped = false;
        return CanonicalString(&ignored, &escaped);
      }
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return CanonicalInteger();
    }
  }

 private:
  bool Consume(char c) {
    if (p_ < t_.size() && t_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }

  // A string's raw contents, escapes not checked.
  bool LooseString(std::string_view* raw, bool* escaped) {
    if (!Consume('"')) return false;
    const size_t start = p_;
    *escaped = false;
    // Most strings have no escape: find the closing quote at once.
    const size_t quote = t_.find('"', p_);
    if (quote == std::string_view::npos) return false;
    if (t_.substr(p_, quote - p_).find('\\') == std::string_view::npos) {
      *raw = t_.substr(start, quote - start);
      p_ = quote + 1;
      return true;
    }
    while (p_ < t_.size()) {
      const char c = t_[p_];
      if (c == '"') {
        *raw = t_.substr(start, p_ - start);
        ++p_;
        return true;
      }
      if (c == '\\') {
        *escaped = true;
        p_ += 2;
        continue;
      }
      ++p_;
    }
    return false;
  }

  // A string as nlohmann's dump writes it (ensure_ascii off), ASCII only.
  bool CanonicalString(std::string_view* raw, bool* escaped) {
    if (!Consume('"')) return false;
    const size_t start = p_;
    *escaped = false;
    while (p_ < t_.size()) {
      const auto c = static_cast<unsigned char>(t_[p_]);
      if (c == '"') {
        *raw = t_.substr(start, p_ - start);
        ++p_;
        return true;
      }
      if (c < 0x20 || c >= 0x80) return false;
      if (c != '\\') {
        ++p_;
        continue;
      }
      *escaped = true;
      if (p_ + 1 >= t_.size()) return false;
      const char e = t_[p_ + 1];
      if (e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
        p_ += 2;
        continue;
      }
      // \u00xx (lowercase): a control character that has no short escape.
      if (e != 'u' || p_ + 6 > t_.size() || t_[p_ + 2] != '0' || t_[p_ + 3] != '0') return false;
      const char high = t_[p_ + 4], low = t_[p_ + 5];
      int low_value = -1;
      if (low >= '0' && low <= '9') low_value = low - '0';
      if (low >= 'a' && low <= 'f') low_value = low - 'a' + 10;
      if ((high != '0' && high != '1') || low_value < 0) return false;
      const int code = (high - '0') * 16 + low_value;
      if (code == 0x08 || code == 0x09 || code == 0x0a || code == 0x0c || code == 0x0d) {
        return false;
      }
      p_ += 6;
    }
    return false;
  }

  bool CanonicalObject(int depth) {
    ++p_;  // '{'
    if (Consume('}')) return true;
    std::string_view previous;
    bool first = true;
    while (true) {
      std::string_view key;
      bool escaped = false;
      // Keys are compared as written, so one with escapes falls back.
      if (!CanonicalString(&key, &escaped) || escaped) return false;
      if (!first && !(previous < key)) return false;  // unsorted or repeated
      previous = key;
      first = false;
      if (!Consume(':') || !CanonicalValue(depth)) return false;
      if (Consume(',')) continue;
      return Consume('}');
    }
  }

  bool CanonicalArray(int depth) {
    ++p_;  // '['
    if (Consume(']')) return true;
    while (true) {
      if (!CanonicalValue(depth)) return false;
      if (Consume(',')) continue;
      return Consume(']');
    }
  }

  bool Literal(std::string_view word) {
    if (t_.substr(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  // -?(0|[1-9][0-9]{0,17}), not "-0", followed by the end of the value (no fraction or
  // exponent): 18 digits always fit nlohmann's int64/uint64, so dump writes them back as is.
  bool CanonicalInteger() {
    const size_t start = p_;
    const bool negative = Consume('-');
    if (AtEnd()) return false;
    if (t_[p_] == '0') {
      if (negative) return false;
      ++p_;
    } else if (t_[p_] >= '1' && t_[p_] <= '9') {
      while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') ++p_;
      if (p_ - start - (negative ? 1 : 0) > 18) return false;
    } else {
      return false;
    }
    return p_ < t_.size() && (t_[p_] == ',' || t_[p_] == '}' || t_[p_] == ']');
  }

  std::string_view t_;
  size_t p_ = 0;
};

}  // namespace

std::optional<DataSpan> FindCanonicalData(std::string_view object_text) {
  Scanner s(object_text);
  int specs = 0, datas = 0;
  DataSpan span;
  const bool followed = s.Members([&](std::string_view key, bool escaped) {
    // A key written with escapes could be "spec" once unescaped: not followed.
    if (escaped) return false;
    if (key != "spec") return s.SkipValue();
    if (++specs > 1) return false;
    return s.Members([&](std::string_view spec_key, bool spec_escaped) {
      if (spec_escaped) return false;
      if (spec_key != "data") return s.SkipValue();
      if (++datas > 1) return false;
      span.begin = s.pos();
      if (s.AtEnd() || object_text[span.begin] != '{' || !s.CanonicalValue(0)) return false;
      span.end = s.pos();
      return true;
    });
  });
  if (!followed || datas != 1) return std::nullopt;
  s.SkipSpace();
  if (!s.AtEnd()) return std::nullopt;
  return span;
}

}  // namespace meridian::residency::internal
