#include "api/yaml.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <set>
#include <sstream>
#include <string_view>

#include "common/yaml_reader.h"

namespace meridian::api {
namespace {

using nlohmann::json;

// YAML 1.2 core schema numbers, matched by hand in one pass: libstdc++'s std::regex recurses
// per character and copies its state on every alternative, so a long plain scalar (a 1 KB
// run of digits) made it slow, deep and, under fuzzing, exhausted memory.
//   int:   [-+]?(0|[1-9][0-9]*) | 0x[0-9a-fA-F]+ | 0o[0-7]+
//   float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? | [-+]?\.(inf|Inf|INF) |
//          \.(nan|NaN|NAN)
bool AllOf(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsOctalDigit(char c) { return c >= '0' && c <= '7'; }

bool IsYamlInt(std::string_view s) {
  if (s.rfind("0x", 0) == 0) return AllOf(s.substr(2), IsHexDigit);
  if (s.rfind("0o", 0) == 0) return AllOf(s.substr(2), IsOctalDigit);
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  if (s == "0") return true;
  return !s.empty() && s[0] != '0' && AllOf(s, IsDigit);
}

bool IsYamlFloat(std::string_view s) {
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return true;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  if (s == ".inf" || s == ".Inf" || s == ".INF") return true;
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    return i - start;
  };
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  } else {
    if (digits() == 0) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      digits();
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

bool IsNullWord(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}
bool IsTrueWord(const std::string& s) { return s == "true" || s == "True" || s == "TRUE"; }
bool IsFalseWord(const std::string& s) { return s == "false" || s == "False" || s == "FALSE"; }

std::string Where(const std::string& source, const YAML::Mark& mark) {
  return source + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

// The index of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629:
// no overlong forms, no surrogates, nothing past U+10FFFF), or npos. JSON strings must be
// UTF-8: nlohmann's dump() throws on anything else, so such text may not enter a document.
size_t InvalidUtf8At(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return i;
    }
    i += len;
  }
  return std::string::npos;
}

Status CheckUtf8(const std::string& s, const std::string& source, const YAML::Mark& mark) {
  const size_t at = InvalidUtf8At(s);
  if (at == std::string::npos) return Status::Ok();
  return InvalidArgumentError(Where(source, mark) + ": invalid UTF-8 (byte " +
                              std::to_string(at + 1) + " of the scalar)");
}

StatusOr<json> ScalarToJson(const YAML::Node& node, const std::string& source) {
  const std::string& s = node.Scalar();
  MERIDIAN_RETURN_IF_ERROR(CheckUtf8(s, source, node.Mark()));
  // yaml-cpp tags quoted and literal scalars "!": those are always strings.
  if (node.Tag() == "!") return json(s);
  if (node.Tag() != "?" && !node.Tag().empty()) {
    if (node.Tag() == "tag:yaml.org,2002:str" || node.Tag() == "!!str") return json(s);
  }
  if (IsNullWord(s)) return json(nullptr);
  if (IsTrueWord(s)) return json(true);
  if (IsFalseWord(s)) return json(false);
  if (IsYamlInt(s)) {
    try {
      if (s.rfind("0x", 0) == 0) return json(std::stoll(s.substr(2), nullptr, 16));
      if (s.rfind("0o", 0) == 0) return json(std::stoll(s.substr(2), nullptr, 8));
      return json(std::stoll(s));
    } catch (const std::out_of_range&) {
      return InvalidArgumentError(Where(source, node.Mark()) + ": integer out of range: " + s);
    }
  }
  if (IsYamlFloat(s)) {
    // strtod knows "inf" and "nan" but not YAML's ".inf" / ".nan" (it read them as 0).
    const bool special =
        s.find('.') != std::string::npos &&
        (s.find_first_of("iI") != std::string::npos || s.find_first_of("nN") != std::string::npos);
    double d = special ? HUGE_VAL : std::strtod(s.c_str(), nullptr);
    if (!std::isfinite(d)) {
      return InvalidArgumentError(Where(source, node.Mark()) +
                                  ": infinite or NaN numbers cannot be represented in JSON");
    }
    return json(d);
  }
  return json(s);
}

// Recursive: LoadYamlStream has refused nesting deeper than kMaxYamlDepth (aliases expanded),
// alias cycles and alias bombs, so the depth and the work here are bounded.
StatusOr<json> NodeToJson(const YAML::Node& node, const std::string& source) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null: return json(nullptr);
    case YAML::NodeType::Scalar: return ScalarToJson(node, source);
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const YAML::Node& item : node) {
        MERIDIAN_ASSIGN_OR_RETURN(json v, NodeToJson(item, source));
        arr.push_back(std::move(v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return InvalidArgumentError(Where(source, kv.first.Mark()) +
                                      ": mapping keys must be scalars");
        }
        const std::string& key = kv.first.Scalar();
        MERIDIAN_RETURN_IF_ERROR(CheckUtf8(key, source, kv.first.Mark()));
        if (obj.contains(key)) {
          return InvalidArgumentError(Where(source, kv.first.Mark()) + ": duplicate key \"" +
                                      key + "\"");
        }
        MERIDIAN_ASSIGN_OR_RETURN(json v, NodeToJson(kv.second, source));
        obj[key] = std::move(v);
      }
      return obj;
    }
  }
  return json(nullptr);
}

// YAML's bound on an implicit key (1.2, 7.4.2): 1,024 Unicode characters.
constexpr size_t kLongestImplicitKey = 1024;

// An upper bound on the characters (and bytes) `s` takes once written, quoted: a control byte
// becomes an escape of up to 4 ("\x03"); a byte of a non-ASCII character at most 3, as yaml-cpp
// escapes C1 controls and the no-break space (2 bytes -> "\x85") and the byte order mark
// (3 bytes -> "\uFEFF") and writes a byte that is not UTF-8 as U+FFFD (3 bytes); any other byte
// is one; plus the quotes. A Kubernetes annotation key (ASCII, up to 317 characters) stays an
// implicit key; a non-ASCII key goes explicit from ~340 bytes, early but still read back.
size_t WrittenLengthAtMost(const std::string& s) {
  size_t n = 2;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80) {
      n += 3;
    } else {
      n += (c < 0x20 || c == 0x7F || c == '"' || c == '\\') ? 4 : 1;
    }
  }
  return n;
}

// Can a literal block carry every character of `s` as it is? YAML allows printable
// characters only there (no escapes): not C0 controls other than tab and line feed, not DEL,
// not C1 controls (U+0080..U+009F), not a byte order mark (fuzz_yaml: "(\x04\n" lost its
// \x04). Double quotes escape them.
bool BlockPrintable(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) return false;
    const auto next = i + 1 < s.size() ? static_cast<unsigned char>(s[i + 1]) : 0;
    if (c == 0xC2 && next >= 0x80 && next <= 0x9F) return false;
    if (c == 0xEF && next == 0xBB && i + 2 < s.size() &&
        static_cast<unsigned char>(s[i + 2]) == 0xBF) {
      return false;
    }
  }
  return true;
}

// Would this string read back as something other than the same string?
bool NeedsQuotes(const std::string& s) {
  if (IsNullWord(s) || IsTrueWord(s) || IsFalseWord(s)) return true;
  // A document marker ("---" or "...", then a blank or the end): yaml-cpp writes it plain, and
  // at the start of a line (the whole document, or a key) it starts or ends a document
  // (fuzz_yaml: the string "--- x" read back as "x").
  if ((s.rfind("---", 0) == 0 || s.rfind("...", 0) == 0) &&
      (s.size() == 3 || s[3] == ' ' || s[3] == '\t')) {
    return true;
  }
  if (IsYamlInt(s) || IsYamlFloat(s)) return true;
  // YAML 1.1 booleans, which older parsers (and PyYAML) still read as true/false.
  static const std::set<std::string, std::less<>> other_bools = {
      "y",  "Y",  "yes", "Yes", "YES", "n",   "N",   "no",
      "No", "NO", "on",  "On",  "ON",  "off", "Off", "OFF"};
  return other_bools.count(s) > 0;
}

void Emit(YAML::Emitter& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      out << YAML::BeginMap;
      for (auto it = v.begin(); it != v.end(); ++it) {
        // A key written as an implicit ("key: value") one may be at most 1,024 characters
        // once escaped, or the reader refuses it (fuzz_yaml: "illegal map value"); longer
        // ones go explicit ("? key" then ": value").
        if (WrittenLengthAtMost(it.key()) > kLongestImplicitKey) out << YAML::LongKey;
        out << YAML::Key;
        if (NeedsQuotes(it.key())) out << YAML::DoubleQuoted;
        out << it.key() << YAML::Value;
        Emit(out, it.value());
      }
      out << YAML::EndMap;
      break;
    case json::value_t::array:
      out << YAML::BeginSeq;
      for (const json& item : v) Emit(out, item);
      out << YAML::EndSeq;
      break;
    case json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      // A literal block reads back with exactly one trailing newline ("|" clips), so only
      // strings of that shape use it; other multi-line strings are double-quoted.
      // A carriage return is a line break to a YAML reader, but yaml-cpp writes it raw in plain
      // and literal scalars (fuzz_yaml: "\r" read back as an empty document); only double
      // quotes escape it.
      const bool has_cr = s.find('\r') != std::string::npos;
      bool multi_line = s.find('\n') != std::string::npos;
      // Nor a string with nothing before its newline ("\n" reads back as ""), or whose first
      // line is empty or starts with a blank (the block's indentation is read from its first
      // line with text; fuzz_yaml).
      bool literal_safe = multi_line && !has_cr && s.size() >= 2 && s.back() == '\n' &&
                          s[s.size() - 2] != '\n' && s[0] != '\n' && s[0] != ' ' &&
                          s[0] != '\t' && BlockPrintable(s);
      if (NeedsQuotes(s) || has_cr || (multi_line && !literal_safe)) out << YAML::DoubleQuoted;
      if (literal_safe) out << YAML::Literal;
      out << s;
      break;
    }
    case json::value_t::boolean: out << (v.get<bool>() ? "true" : "false"); break;
    case json::value_t::number_integer: out << v.get<int64_t>(); break;
    case json::value_t::number_unsigned: out << v.get<uint64_t>(); break;
    case json::value_t::number_float: out << v.dump(); break;
    case json::value_t::null:
    case json::value_t::discarded:
    case json::value_t::binary: out << YAML::Null; break;
  }
}

}  // namespace

StatusOr<json> YamlNodeToJson(const YAML::Node& node, const std::string& source_name) {
  return NodeToJson(node, source_name);
}

StatusOr<std::vector<YamlDocument>> ParseYamlDocuments(std::string_view text,
                                                       const std::string& source_name) {
  std::vector<YamlDocument> docs;
  std::vector<YAML::Node> nodes;
  try {
    nodes = LoadYamlStream(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(Where(source_name, e.mark) + ": " + e.msg);
  }
  for (const YAML::Node& node : nodes) {
    if (!node || node.IsNull()) continue;
    MERIDIAN_ASSIGN_OR_RETURN(json value, NodeToJson(node, source_name));
    docs.push_back({std::move(value), node.Mark().line + 1});
  }
  return docs;
}

std::string JsonToYaml(const json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Block);
  out.SetMapFormat(YAML::Block);
  // Empty containers read better as {} and [] than as nothing.
  if (value.is_object() && value.empty()) return "{}\n";
  if (value.is_array() && value.empty()) return "[]\n";
  Emit(out, value);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

}  // namespace meridian::api
