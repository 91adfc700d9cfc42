#include "common/json_parse.h"

#include <iterator>
#include <utility>
#include <vector>

namespace meridian {

using nlohmann::json;

namespace {

// One open container on the parse path.
struct Frame {
  bool is_array = false;
  std::string key;     // objects: the key whose value is being parsed
  size_t started = 0;  // arrays: values started so far
};

std::string PathOf(const std::vector<Frame>& frames, bool pending) {
  std::string out;
  for (size_t i = 0; i < frames.size(); ++i) {
    const Frame& f = frames[i];
    if (f.is_array) {
      // A parent's current element is the last one started; at an error the top frame's
      // failing element is the next one (scalars that fail never start).
      const bool top = i + 1 == frames.size();
      size_t index = top && pending ? f.started : (f.started == 0 ? 0 : f.started - 1);
      out += "[" + std::to_string(index) + "]";
    } else if (!f.key.empty() || i + 1 < frames.size()) {
      if (!out.empty()) out += ".";
      out += f.key;
    }
  }
  return out;
}

std::string Printable(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// nlohmann's DOM builder with a depth limit and a field path: the same events, forwarded,
// after counting the nesting. Returning false from an event stops the parse at once.
class DepthLimitedSax {
 public:
  DepthLimitedSax(json* result, int max_depth) : dom_(*result, false), max_depth_(max_depth) {}

  bool null() { return Value() && dom_.null(); }
  bool boolean(bool v) { return Value() && dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return Value() && dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return Value() && dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return Value() && dom_.number_float(v, s);
  }
  bool string(json::string_t& v) { return Value() && dom_.string(v); }
  bool binary(json::binary_t& v) { return Value() && dom_.binary(v); }
  bool start_object(size_t n) { return Open(false) && dom_.start_object(n); }
  bool key(json::string_t& k) {
    frames_.back().key = k;
    return dom_.key(k);
  }
  bool end_object() {
    frames_.pop_back();
    return dom_.end_object();
  }
  bool start_array(size_t n) { return Open(true) && dom_.start_array(n); }
  bool end_array() {
    frames_.pop_back();
    return dom_.end_array();
  }
  bool parse_error(size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& e) {
    if (error_.message.empty()) {
      error_.path = PathOf(frames_, /*pending=*/true);
      error_.offset = position == 0 ? 0 : position - 1;  // `position` counts bytes read
      std::string what = e.what();
      // "[json.exception.parse_error.101] parse error at line 1, column 9: syntax error ..."
      size_t close = what.find("] ");
      if (close != std::string::npos) what = what.substr(close + 2);
      const std::string kPrefix = "parse error";
      if (what.rfind(kPrefix, 0) == 0) {
        size_t colon = what.find(": ");
        if (colon != std::string::npos) what = what.substr(colon + 2);
      }
      error_.message = "invalid JSON: " + Printable(what);
    }
    return false;
  }

  const JsonParseError& error() const { return error_; }
  bool depth_exceeded() const { return depth_exceeded_; }
  bool failed() const { return !error_.message.empty(); }

 private:
  bool Value() {
    if (!frames_.empty() && frames_.back().is_array) ++frames_.back().started;
    return true;
  }
  bool Open(bool is_array) {
    Value();
    if (static_cast<int>(frames_.size()) >= max_depth_) {
      error_.path = PathOf(frames_, /*pending=*/false);
      error_.message = JsonDepthMessage(max_depth_, "");  // ToString() puts the path first
      depth_exceeded_ = true;
      return false;
    }
    frames_.push_back(Frame{is_array, {}, 0});
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  int max_depth_;
  std::vector<Frame> frames_;
  JsonParseError error_;
  bool depth_exceeded_ = false;
};

// The byte offset of the bracket that opens level max_depth + 1 (SAX events carry no
// positions). Only run after a refusal; a byte scan that skips strings.
size_t DepthOffset(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return i;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return 0;
}

}  // namespace

std::string JsonParseError::ToString() const {
  std::string out = path.empty() ? message : AbbreviateJsonPath(path) + ": " + message;
  return out + " (at byte " + std::to_string(offset) + ")";
}

json ParseJson(std::string_view text, JsonParseError* error, int max_depth) {
  json result;
  DepthLimitedSax sax(&result, max_depth);
  const bool ok = json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
  if (ok && !sax.failed()) return result;
  if (error != nullptr) {
    *error = sax.error();
    if (error->message.empty()) error->message = "invalid JSON";
    if (sax.depth_exceeded()) error->offset = DepthOffset(text, max_depth);
  }
  return json(json::value_t::discarded);
}

StatusOr<json> ParseJsonOr(std::string_view text, int max_depth) {
  JsonParseError error;
  json j = ParseJson(text, &error, max_depth);
  if (j.is_discarded()) return InvalidArgumentError(error.ToString());
  return j;
}

bool CheckJsonDepth(const json& value, int max_depth, std::string* path) {
  // Depth-first with an explicit stack of (container, next child); the path is only built
  // when the limit is exceeded, from each open container's current child.
  struct Open {
    const json* node;
    json::const_iterator next;
  };
  if (!value.is_structured()) return true;
  std::vector<Open> stack;
  stack.reserve(64);
  stack.push_back({&value, value.cbegin()});
  auto path_of_current = [&stack] {
    std::string out;
    for (const Open& o : stack) {
      json::const_iterator child = std::prev(o.next);
      if (o.node->is_array()) {
        out += "[" + std::to_string(std::distance(o.node->cbegin(), child)) + "]";
      } else {
        if (!out.empty()) out += ".";
        out += child.key();
      }
    }
    return out;
  };
  if (max_depth < 1) {
    if (path != nullptr) path->clear();
    return false;
  }
  while (!stack.empty()) {
    Open& top = stack.back();
    if (top.next == top.node->cend()) {
      stack.pop_back();
      continue;
    }
    const json& child = *top.next;
    ++top.next;
    if (!child.is_structured()) continue;
    if (static_cast<int>(stack.size()) >= max_depth) {
      if (path != nullptr) *path = path_of_current();
      return false;
    }
    stack.push_back({&child, child.cbegin()});
  }
  return true;
}

std::string AbbreviateJsonPath(const std::string& path) {
  // Split on '.' and '[' boundaries, keeping the separators with the segments.
  std::vector<std::string> segments;
  std::string current;
  for (char c : path) {
    if ((c == '.' || c == '[') && !current.empty()) {
      segments.push_back(current);
      current.clear();
    }
    current += c;
  }
  if (!current.empty()) segments.push_back(current);
  constexpr size_t kHead = 6, kTail = 2;
  if (segments.size() <= kHead + kTail + 1) return path;
  std::string out;
  for (size_t i = 0; i < kHead; ++i) out += segments[i];
  out += " ... (" + std::to_string(segments.size() - kHead - kTail) + " more) ... ";
  for (size_t i = segments.size() - kTail; i < segments.size(); ++i) out += segments[i];
  return out;
}

std::string JsonDepthMessage(int max_depth, const std::string& path) {
  return "nesting depth exceeds the limit of " + std::to_string(max_depth) +
         (path.empty() ? std::string() : " at " + AbbreviateJsonPath(path));
}

}  // namespace meridian
