// JsonDecoder: strict, exhaustive decoding of JSON documents into typed structs.
//
// Every problem is appended to a FieldErrors list with its path (wrong type, out of range,
// unknown field, duplicate), and decoding continues so the user sees all problems at once.
// A null member counts as absent. Thread-compatible; cheap to construct.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/field_error.h"

namespace meridian {

class JsonDecoder {
 public:
  explicit JsonDecoder(FieldErrors* errors) : errors_(errors) {}

  void Error(const std::string& path, std::string message) {
    errors_->push_back({path, std::move(message)});
  }
  size_t error_count() const { return errors_->size(); }

  // True when `j` is an object; otherwise reports it (null counts as absent: false, silent).
  bool ExpectObject(const nlohmann::json& j, const std::string& path) {
    if (j.is_null()) return false;
    if (!j.is_object()) {
      Error(path, "must be an object");
      return false;
    }
    return true;
  }

  // Reports every member of object `j` whose name is not in `known`.
  void RejectUnknown(const nlohmann::json& j, const std::string& path,
                     std::initializer_list<const char*> known) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      bool found = false;
      for (const char* k : known) found = found || it.key() == k;
      if (!found) Error(JoinPath(path, it.key()), "unknown field");
    }
  }

  // The member `name` of object `j` if present and not null, else nullptr.
  static const nlohmann::json* Member(const nlohmann::json& j, const char* name) {
    if (!j.is_object()) return nullptr;
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::optional<int64_t> Int(const nlohmann::json& j, const std::string& path, int64_t lo,
                             int64_t hi = std::numeric_limits<int64_t>::max()) {
    if (!j.is_number_integer()) {
      Error(path, "must be an integer");
      return std::nullopt;
    }
    int64_t v = 0;
    if (j.is_number_unsigned()) {
      uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        Error(path, "must be <= " + std::to_string(hi));
        return std::nullopt;
      }
      v = static_cast<int64_t>(u);
    } else {
      v = j.get<int64_t>();
    }
    if (v < lo) {
      Error(path, "must be >= " + std::to_string(lo));
      return std::nullopt;
    }
    if (v > hi) {
      Error(path, "must be <= " + std::to_string(hi));
      return std::nullopt;
    }
    return v;
  }

  std::optional<int32_t> Int32(const nlohmann::json& j, const std::string& path, int32_t lo,
                               int32_t hi = std::numeric_limits<int32_t>::max()) {
    auto v = Int(j, path, lo, hi);
    if (!v) return std::nullopt;
    return static_cast<int32_t>(*v);
  }

  std::optional<std::string> String(const nlohmann::json& j, const std::string& path,
                                    bool non_empty) {
    if (!j.is_string()) {
      Error(path, "must be a string");
      return std::nullopt;
    }
    std::string s = j.get<std::string>();
    if (non_empty && s.empty()) {
      Error(path, "must not be empty");
      return std::nullopt;
    }
    return s;
  }

  // One of `allowed`; otherwise "must be one of a, b, c".
  std::optional<std::string> Enum(const nlohmann::json& j, const std::string& path,
                                  std::initializer_list<const char*> allowed) {
    auto s = String(j, path, false);
    if (!s) return std::nullopt;
    std::string list;
    for (const char* a : allowed) {
      if (*s == a) return s;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    Error(path, "must be one of " + list);
    return std::nullopt;
  }

  std::optional<bool> Bool(const nlohmann::json& j, const std::string& path) {
    if (!j.is_boolean()) {
      Error(path, "must be a boolean");
      return std::nullopt;
    }
    return j.get<bool>();
  }

  // A list of distinct non-empty strings.
  std::vector<std::string> StringList(const nlohmann::json& j, const std::string& path) {
    std::vector<std::string> out;
    if (!j.is_array()) {
      Error(path, "must be a list of strings");
      return out;
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < j.size(); ++i) {
      std::string p = path + "[" + std::to_string(i) + "]";
      auto s = String(j[i], p, true);
      if (!s) continue;
      if (!seen.insert(*s).second) {
        Error(p, "duplicate value \"" + *s + "\"");
        continue;
      }
      out.push_back(*s);
    }
    return out;
  }

  // An object of string values.
  std::map<std::string, std::string> StringMap(const nlohmann::json& j, const std::string& path) {
    std::map<std::string, std::string> out;
    if (!j.is_object()) {
      Error(path, "must be an object of strings");
      return out;
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (auto s = String(it.value(), JoinPath(path, it.key()), false)) out[it.key()] = *s;
    }
    return out;
  }

 private:
  FieldErrors* errors_;
};

}  // namespace meridian
