#include "cli/raw_list.h"

#include <string>

namespace meridian::cli {
namespace {

constexpr int kMaxDepth = 512;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class Scanner {
 public:
  explicit Scanner(std::string_view text) : t_(text) {}

  void SkipSpace() {
    while (i_ < t_.size() && IsSpace(t_[i_])) ++i_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (i_ >= t_.size() || t_[i_] != c) return false;
    ++i_;
    return true;
  }
  bool Peek(char c) {
    SkipSpace();
    return i_ < t_.size() && t_[i_] == c;
  }
  bool AtEnd() {
    SkipSpace();
    return i_ == t_.size();
  }

  // A string starting at the current position: its raw contents (escapes left as written).
  std::optional<std::string_view> String() {
    SkipSpace();
    if (i_ >= t_.size() || t_[i_] != '"') return std::nullopt;
    const size_t begin = ++i_;
    while (i_ < t_.size()) {
      const char c = t_[i_];
      if (c == '\\') {
        i_ += 2;
        continue;
      }
      if (c == '"') return t_.substr(begin, i_++ - begin);
      ++i_;
    }
    return std::nullopt;
  }

  // Any value: its exact text. Scalars run to the next delimiter; the item's consumer checks.
  std::optional<std::string_view> Value(int depth = 0) {
    SkipSpace();
    if (i_ >= t_.size() || depth > kMaxDepth) return std::nullopt;
    const size_t begin = i_;
    const char c = t_[i_];
    if (c == '"') {
      if (!String()) return std::nullopt;
    } else if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++i_;
      if (!Eat(close)) {
        do {
          if (c == '{' && (!String() || !Eat(':'))) return std::nullopt;
          if (!Value(depth + 1)) return std::nullopt;
        } while (Eat(','));
        if (!Eat(close)) return std::nullopt;
      }
    } else {
      while (i_ < t_.size() && !IsSpace(t_[i_]) && t_[i_] != ',' && t_[i_] != '}' &&
             t_[i_] != ']') {
        ++i_;
      }
      if (i_ == begin) return std::nullopt;
    }
    return t_.substr(begin, i_ - begin);
  }

 private:
  std::string_view t_;
  size_t i_ = 0;
};

}  // namespace

std::optional<RawList> SplitListItems(std::string_view body) {
  Scanner s(body);
  RawList out;
  bool items = false, metadata = false;
  if (!s.Eat('{')) return std::nullopt;
  if (!s.Eat('}')) {
    do {
      std::optional<std::string_view> key = s.String();
      if (!key || !s.Eat(':')) return std::nullopt;
      if (*key == "items") {
        if (items || !s.Eat('[')) return std::nullopt;
        items = true;
        if (!s.Eat(']')) {
          do {
            std::optional<std::string_view> item = s.Value(1);
            if (!item) return std::nullopt;
            out.items.push_back(*item);
          } while (s.Eat(','));
          if (!s.Eat(']')) return std::nullopt;
        }
      } else if (*key == "metadata") {
        std::optional<std::string_view> text = s.Value();
        if (metadata || !text) return std::nullopt;
        metadata = true;
        out.metadata = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
        if (!out.metadata.is_object()) return std::nullopt;
      } else if (!s.Value()) {
        return std::nullopt;
      }
    } while (s.Eat(','));
    if (!s.Eat('}')) return std::nullopt;
  }
  if (!items || !s.AtEnd()) return std::nullopt;
  return out;
}

}  // namespace meridian::cli
