#include "api/json_path.h"

#include <cctype>

namespace meridian::api {
namespace {

using nlohmann::json;

bool PlainKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
}

Status ErrorAt(size_t pos, const std::string& what) {
  return InvalidArgumentError("at position " + std::to_string(pos) + ": " + what);
}

// Why a character is refused, naming the JSONPath feature a user probably meant.
std::string Unsupported(char c) {
  switch (c) {
    case '*':
      return "'*' is not supported (wildcards select many values; name one field)";
    case '?':
      return "'?' is not supported (filters select many values; name one field)";
    case '@':
      return "'@' is not supported (filters are not)";
    case '{':
    case '}':
      return "'" + std::string(1, c) +
             "' is not supported (write the path without kubectl's braces)";
    default:
      return "unexpected '" + std::string(1, c) + "'";
  }
}

std::string StepText(const JsonPath::Step& s) {
  if (s.index) return "[" + std::to_string(*s.index) + "]";
  bool plain = !s.key.empty();
  for (char c : s.key) plain = plain && PlainKeyChar(c);
  if (plain) return "." + s.key;
  std::string escaped;
  for (char c : s.key) {
    if (c == '\'' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return "['" + escaped + "']";
}

}  // namespace

StatusOr<JsonPath> JsonPath::Parse(std::string_view text) {
  JsonPath out;
  size_t i = 0;
  if (i < text.size() && text[i] == '$') ++i;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '.') {
      if (i + 1 < text.size() && text[i + 1] == '.') {
        return ErrorAt(i, "'..' is not supported (recursive descent selects many values)");
      }
      size_t end = i + 1;
      while (end < text.size() && PlainKeyChar(text[end])) ++end;
      if (end == i + 1) {
        if (end == text.size()) return ErrorAt(end, "a field name must follow '.'");
        return ErrorAt(end, Unsupported(text[end]));
      }
      out.steps_.push_back({std::string(text.substr(i + 1, end - i - 1)), std::nullopt});
      i = end;
      continue;
    }
    if (c != '[') return ErrorAt(i, Unsupported(c) + "; a step starts with '.' or '['");
    const size_t open = i;
    ++i;
    if (i < text.size() && (text[i] == '\'' || text[i] == '"')) {
      const char quote = text[i++];
      std::string key;
      bool closed = false;
      while (i < text.size()) {
        if (text[i] == '\\' && i + 1 < text.size()) {
          key += text[i + 1];
          i += 2;
          continue;
        }
        if (text[i] == quote) {
          closed = true;
          ++i;
          break;
        }
        key += text[i++];
      }
      if (!closed) return ErrorAt(open, "unterminated quoted key");
      if (i >= text.size() || text[i] != ']') {
        return ErrorAt(i, "expected ']' after the quoted key (unions are not supported)");
      }
      ++i;
      out.steps_.push_back({std::move(key), std::nullopt});
      continue;
    }
    const size_t digits = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) ++i;
    if (i == digits) {
      if (i >= text.size()) return ErrorAt(i, "unterminated '['");
      if (text[i] == '-') return ErrorAt(i, "negative indices are not supported");
      return ErrorAt(i, Unsupported(text[i]) + " inside '[': write an index [n] or a key ['key']");
    }
    if (i - digits > 9) return ErrorAt(digits, "index too large");
    if (i >= text.size() || text[i] != ']') {
      if (i < text.size() && text[i] == ':') return ErrorAt(i, "slices are not supported");
      if (i < text.size() && text[i] == ',') return ErrorAt(i, "unions are not supported");
      return ErrorAt(i, "expected ']' after the index");
    }
    out.steps_.push_back(
        {"", static_cast<size_t>(std::stoul(std::string(text.substr(digits, i - digits))))});
    ++i;
  }
  if (out.steps_.empty()) return ErrorAt(0, "the path names no field (write e.g. .spec.replicas)");
  return out;
}

const json* JsonPath::Find(const json& document) const {
  const json* at = &document;
  for (const Step& s : steps_) {
    if (s.index) {
      if (!at->is_array() || *s.index >= at->size()) return nullptr;
      at = &(*at)[*s.index];
    } else {
      if (!at->is_object()) return nullptr;
      auto it = at->find(s.key);
      if (it == at->end()) return nullptr;
      at = &*it;
    }
  }
  return at;
}

Status JsonPath::Set(json* document, json value) const {
  // Judged before anything changes, so a refused Set leaves the document as it was: a missing
  // key is created as an object, so what follows it must be keys too.
  const json* at = document;
  std::string walked;
  for (const Step& s : steps_) {
    const std::string here = walked.empty() ? "the document" : walked;
    if (at == nullptr) {
      if (s.index)
        return InvalidArgumentError(here + " has no element " + std::to_string(*s.index));
    } else if (s.index) {
      if (!at->is_array()) return InvalidArgumentError(here + " is not a list");
      if (*s.index >= at->size()) {
        return InvalidArgumentError(here + " has no element " + std::to_string(*s.index));
      }
      at = &(*at)[*s.index];
    } else {
      if (!at->is_object() && !at->is_null())
        return InvalidArgumentError(here + " is not an object");
      auto it = at->is_object() ? at->find(s.key) : at->end();
      at = at->is_object() && it != at->end() ? &*it : nullptr;
    }
    walked += StepText(s);
  }
  json* target = document;
  for (const Step& s : steps_) {
    target = s.index ? &(*target)[*s.index] : &(*target)[s.key];
  }
  *target = std::move(value);
  return Status::Ok();
}

std::string JsonPath::ToString() const {
  std::string out;
  for (const Step& s : steps_) out += StepText(s);
  return out;
}

}  // namespace meridian::api
