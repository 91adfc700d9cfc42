#include "federation-apiserver/crd/structural_schema.h"

#include <cmath>
#include <set>

namespace meridian::apiserver::crd {
namespace {

using nlohmann::json;

// Schema levels (properties, items, additionalProperties) a CRD may nest; real ones stay
// under 30. Bounds the recursion of every walk below.
constexpr int kMaxSchemaDepth = 128;

const std::set<std::string> kTypes = {"array", "boolean", "integer", "number", "object", "string"};
const std::set<std::string> kServed = {"type",
                                       "format",
                                       "title",
                                       "description",
                                       "default",
                                       "example",
                                       "externalDocs",
                                       "nullable",
                                       "properties",
                                       "required",
                                       "additionalProperties",
                                       "items",
                                       "enum",
                                       "minimum",
                                       "maximum",
                                       "exclusiveMinimum",
                                       "exclusiveMaximum",
                                       "multipleOf",
                                       "minLength",
                                       "maxLength",
                                       "pattern",
                                       "minItems",
                                       "maxItems",
                                       "uniqueItems",
                                       "minProperties",
                                       "maxProperties",
                                       "x-kubernetes-preserve-unknown-fields",
                                       "x-kubernetes-int-or-string",
                                       "x-kubernetes-embedded-resource",
                                       "x-kubernetes-list-type",
                                       "x-kubernetes-list-map-keys",
                                       "x-kubernetes-map-type"};
// Kubernetes refuses the first five in a CRD; it serves the others, this server not yet.
const std::set<std::string> kRefused = {"$ref", "definitions", "dependencies", "patternProperties",
                                        "additionalItems"};
const std::set<std::string> kNotYet = {
    "allOf", "anyOf", "oneOf", "not", "x-kubernetes-validations", "$schema", "id"};

bool Flag(const json& s, const char* key) {
  auto it = s.find(key);
  return it != s.end() && it->is_boolean() && it->get<bool>();
}

// A value for "Invalid value: X": JSON, cut short so a huge value cannot make a huge message.
std::string Shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

std::string TypeOf(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  return "object";
}

bool HasType(const json& v, const std::string& type) {
  if (type == "integer") {
    return v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                     v.get<double>() == std::floor(v.get<double>()));
  }
  if (type == "number") return v.is_number();
  return TypeOf(v) == type;
}

// "spec.replicas in body", as go-openapi names the field in its messages.
std::string InBody(const std::string& path) { return (path.empty() ? "body" : path) + " in body"; }

// A number as Kubernetes prints a bound: 1 not 1.0.
std::string Number(const json& v) {
  if (v.is_number_float() && v.get<double>() == std::floor(v.get<double>()) &&
      std::fabs(v.get<double>()) < 1e15) {
    return std::to_string(static_cast<int64_t>(v.get<double>()));
  }
  return v.dump();
}

size_t Utf8Length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string PropertyPath(const std::string& path, const std::string& name) {
  return path + ".properties[" + name + "]";
}

void RequireNonNegativeInteger(const json& s, const char* key, const std::string& path,
                               FieldErrors* errors) {
  auto it = s.find(key);
  if (it != s.end() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
    errors->push_back(
        {JoinPath(path, key), "Invalid value: " + Shown(*it) + ": must be a non-negative integer"});
  }
}

void Structural(const json& s, const std::string& path, bool root, int depth, FieldErrors* errors) {
  if (depth > kMaxSchemaDepth) {
    errors->push_back({path, "Forbidden: nested deeper than " + std::to_string(kMaxSchemaDepth) +
                                 " schema levels"});
    return;
  }
  if (!s.is_object()) {
    errors->push_back({path, "Invalid value: " + Shown(s) + ": must be a schema object"});
    return;
  }
  for (const auto& [key, value] : s.items()) {
    if (kRefused.count(key)) {
      errors->push_back({JoinPath(path, key), "Forbidden: " + key + " is not supported"});
    } else if (kNotYet.count(key)) {
      errors->push_back(
          {JoinPath(path, key), "Forbidden: " + key + " is not supported by this server yet"});
    } else if (!kServed.count(key)) {
      errors->push_back({JoinPath(path, key), "Forbidden: unknown field \"" + key + "\""});
    }
  }
  for (const char* key :
       {"nullable", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource", "exclusiveMinimum", "exclusiveMaximum", "uniqueItems"}) {
    if (s.contains(key) && !s[key].is_boolean()) {
      errors->push_back(
          {JoinPath(path, key), "Invalid value: " + Shown(s[key]) + ": must be a boolean"});
    }
  }
  const bool int_or_string = Flag(s, "x-kubernetes-int-or-string");
  const bool preserve = Flag(s, "x-kubernetes-preserve-unknown-fields");
  std::string type;
  if (auto t = s.find("type"); t != s.end()) {
    if (!t->is_string()) {
      errors->push_back({path + ".type", "Invalid value: " + Shown(*t) + ": must be a string"});
    } else if (!kTypes.count(t->get<std::string>())) {
      errors->push_back({path + ".type", "Unsupported value: " + Shown(*t) +
                                             ": supported values: \"array\", \"boolean\", "
                                             "\"integer\", \"number\", \"object\", \"string\""});
    } else {
      type = t->get<std::string>();
    }
    if (int_or_string) {
      errors->push_back(
          {path + ".type", "Forbidden: must be empty if x-kubernetes-int-or-string is true"});
    }
  } else if (!int_or_string && !preserve) {
    errors->push_back({path + ".type", "Required value: must not be empty for specified " +
                                           std::string(root ? "root" : "object") + " fields"});
  }
  if (root && type != "object" && !int_or_string) {
    errors->push_back(
        {path + ".type", "Invalid value: \"" + type + "\": must be object at the root"});
  }
  if (Flag(s, "uniqueItems")) {
    errors->push_back({path + ".uniqueItems",
                       "Forbidden: uniqueItems cannot be set to true since the runtime "
                       "complexity becomes quadratic"});
  }
  for (const char* key : {"minimum", "maximum"}) {
    if (s.contains(key) && !s[key].is_number()) {
      errors->push_back(
          {JoinPath(path, key), "Invalid value: " + Shown(s[key]) + ": must be a number"});
    }
  }
  if (s.contains("multipleOf") &&
      !(s["multipleOf"].is_number() && s["multipleOf"].get<double>() > 0)) {
    errors->push_back({path + ".multipleOf", "Invalid value: " + Shown(s["multipleOf"]) +
                                                 ": must be a number greater than 0"});
  }
  for (const char* key :
       {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"}) {
    RequireNonNegativeInteger(s, key, path, errors);
  }
  if (auto p = s.find("pattern"); p != s.end()) {
    if (!p->is_string()) {
      errors->push_back({path + ".pattern", "Invalid value: " + Shown(*p) + ": must be a string"});
    } else {
      const re2::RE2 compiled(p->get<std::string>(), re2::RE2::Quiet);
      if (!compiled.ok()) {
        errors->push_back({path + ".pattern", "Invalid value: " + Shown(*p) +
                                                  ": must be a valid regular expression: " +
                                                  compiled.error()});
      }
    }
  }
  if (auto e = s.find("enum"); e != s.end() && !(e->is_array() && !e->empty())) {
    errors->push_back(
        {path + ".enum", "Invalid value: " + Shown(*e) + ": must be a non-empty list"});
  }
  if (auto r = s.find("required"); r != s.end()) {
    bool strings = r->is_array();
    if (strings) {
      for (const json& name : *r) strings = strings && name.is_string();
    }
    if (!strings) {
      errors->push_back(
          {path + ".required", "Invalid value: " + Shown(*r) + ": must be a list of field names"});
    }
  }
  const json* properties = nullptr;
  if (auto p = s.find("properties"); p != s.end()) {
    if (!p->is_object()) {
      errors->push_back(
          {path + ".properties", "Invalid value: " + Shown(*p) + ": must be an object"});
    } else {
      properties = &*p;
      if (!type.empty() && type != "object") {
        errors->push_back(
            {path + ".properties", "Forbidden: must be empty for type \"" + type + "\""});
      }
      for (const auto& [name, child] : p->items()) {
        if (root && name == "metadata") {
          // Kubernetes: the root's metadata is ObjectMeta; a schema may only narrow its name.
          bool narrow = child.is_object();
          for (const auto& [k, v] : child.items()) {
            if (k == "type") {
              narrow = narrow && v == "object";
            } else if (k == "properties" && v.is_object()) {
              for (const auto& [field, ignored] : v.items()) {
                narrow = narrow && (field == "name" || field == "generateName");
              }
            } else if (k != "description") {
              narrow = false;
            }
          }
          if (!narrow) {
            errors->push_back({PropertyPath(path, name),
                               "Forbidden: must not specify anything other than name and "
                               "generateName, but metadata is implicitly specified"});
          }
          continue;
        }
        Structural(child, PropertyPath(path, name), false, depth + 1, errors);
      }
    }
  }
  if (auto a = s.find("additionalProperties"); a != s.end()) {
    if (a->is_boolean()) {
      if (!a->get<bool>()) {
        errors->push_back({path + ".additionalProperties",
                           "Forbidden: additionalProperties cannot be set to false"});
      }
    } else {
      Structural(*a, path + ".additionalProperties", false, depth + 1, errors);
    }
    if (properties != nullptr) {
      errors->push_back({path + ".additionalProperties",
                         "Forbidden: additionalProperties and properties are mutual exclusive"});
    }
    if (preserve) {
      errors->push_back(
          {path + ".additionalProperties",
           "Forbidden: must not be used if x-kubernetes-preserve-unknown-fields is true"});
    }
  }
  if (auto i = s.find("items"); i != s.end()) {
    if (i->is_array()) {
      errors->push_back(
          {path + ".items", "Forbidden: items must be a schema object and not an array"});
    } else {
      Structural(*i, path + ".items", false, depth + 1, errors);
    }
  } else if (type == "array") {
    errors->push_back({path + ".items", "Required value: must be specified"});
  }
}

void CollectPatterns(const json& s, int depth,
                     std::map<std::string, std::unique_ptr<const re2::RE2>>* out) {
  if (!s.is_object() || depth > kMaxSchemaDepth) return;
  if (auto p = s.find("pattern");
      p != s.end() && p->is_string() && !out->count(p->get<std::string>())) {
    out->emplace(p->get<std::string>(),
                 std::make_unique<const re2::RE2>(p->get<std::string>(), re2::RE2::Quiet));
  }
  if (auto p = s.find("properties"); p != s.end() && p->is_object()) {
    for (const auto& [name, child] : p->items()) CollectPatterns(child, depth + 1, out);
  }
  for (const char* key : {"items", "additionalProperties"}) {
    if (auto c = s.find(key); c != s.end()) CollectPatterns(*c, depth + 1, out);
  }
}

}  // namespace

void ValidateStructuralSchema(const json& schema, const std::string& path, FieldErrors* errors) {
  Structural(schema, path, /*root=*/true, 0, errors);
}

StatusOr<std::shared_ptr<const CustomResourceSchema>> CustomResourceSchema::Compile(
    const json& schema) {
  FieldErrors problems;
  ValidateStructuralSchema(schema, "openAPIV3Schema", &problems);
  if (!problems.empty()) return InvalidArgumentError(problems[0].ToString());
  std::shared_ptr<CustomResourceSchema> compiled(new CustomResourceSchema());
  compiled->schema_ = schema;
  CollectPatterns(schema, 0, &compiled->patterns_);
  for (const auto& [pattern, re] : compiled->patterns_) {
    if (!re->ok()) {
      return InvalidArgumentError("openAPIV3Schema: pattern '" + pattern +
                                  "' does not compile: " + re->error());
    }
  }
  return std::shared_ptr<const CustomResourceSchema>(std::move(compiled));
}

std::vector<std::string> CustomResourceSchema::PruneUnknownFields(json* object, bool strict) const {
  std::vector<std::string> dropped;
  Prune(schema_, *object, "", /*root=*/true, strict, 0, &dropped);
  return dropped;
}

void CustomResourceSchema::Prune(const json& schema, json& value, const std::string& path,
                                 bool root, bool strict, int depth,
                                 std::vector<std::string>* dropped) const {
  if (depth > kMaxSchemaDepth || !schema.is_object()) return;
  if (value.is_array()) {
    auto items = schema.find("items");
    if (items == schema.end()) return;
    for (size_t i = 0; i < value.size(); ++i) {
      Prune(*items, value[i], path + "[" + std::to_string(i) + "]", false, strict, depth + 1,
            dropped);
    }
    return;
  }
  if (!value.is_object()) return;
  const bool preserve = Flag(schema, "x-kubernetes-preserve-unknown-fields");
  const bool embedded = root || Flag(schema, "x-kubernetes-embedded-resource");
  auto additional = schema.find("additionalProperties");
  if (additional != schema.end() && additional->is_object()) {
    for (auto&& [key, child] : value.items()) {
      Prune(*additional, child, JoinPath(path, key), false, strict, depth + 1, dropped);
    }
    return;
  }
  const bool keep_unknown = preserve || (additional != schema.end() && *additional == true);
  auto properties = schema.find("properties");
  std::vector<std::string> unknown;
  for (auto&& [key, child] : value.items()) {
    if (embedded && (key == "apiVersion" || key == "kind" || key == "metadata")) continue;
    if (properties != schema.end() && properties->is_object() && properties->contains(key)) {
      Prune((*properties)[key], child, JoinPath(path, key), false, strict, depth + 1, dropped);
    } else if (!keep_unknown) {
      unknown.push_back(key);
    }
  }
  for (const std::string& key : unknown) {
    dropped->push_back(JoinPath(path, key));
    if (!strict) value.erase(key);
  }
}

FieldErrors CustomResourceSchema::Validate(const json& object) const {
  FieldErrors errors;
  if (!object.is_object()) {
    errors.push_back(
        {"", "Invalid value: \"" + TypeOf(object) + "\": body must be of type object"});
    return errors;
  }
  json body = object;
  // The server checks these itself (ObjectMeta, the URL's group/version/kind).
  body.erase("apiVersion");
  body.erase("kind");
  body.erase("metadata");
  json schema = schema_;
  if (schema.contains("properties") && schema["properties"].is_object()) {
    for (const char* key : {"apiVersion", "kind", "metadata"}) schema["properties"].erase(key);
  }
  if (schema.contains("required") && schema["required"].is_array()) {
    json required = json::array();
    for (const json& r : schema["required"]) {
      if (r != "apiVersion" && r != "kind" && r != "metadata") required.push_back(r);
    }
    schema["required"] = required;
  }
  Check(schema, body, "", 0, &errors);
  return errors;
}

void CustomResourceSchema::Check(const json& schema, const json& value, const std::string& path,
                                 int depth, FieldErrors* errors) const {
  if (depth > kMaxSchemaDepth || !schema.is_object()) return;
  const std::string type = schema.value("type", "");
  if (value.is_null()) {
    if (Flag(schema, "nullable") || (type.empty() && !Flag(schema, "x-kubernetes-int-or-string"))) {
      return;
    }
    const std::string want = type.empty() ? "integer-or-string" : type;
    errors->push_back({path, "Invalid value: \"null\": " + InBody(path) + " must be of type " +
                                 want + ": \"null\""});
    return;
  }
  if (Flag(schema, "x-kubernetes-int-or-string")) {
    if (!HasType(value, "integer") && !value.is_string()) {
      errors->push_back({path, "Invalid value: \"" + TypeOf(value) + "\": " + InBody(path) +
                                   " must be of type integer-or-string: \"" + TypeOf(value) +
                                   "\""});
      return;
    }
  } else if (!type.empty() && !HasType(value, type)) {
    errors->push_back({path, "Invalid value: \"" + TypeOf(value) + "\": " + InBody(path) +
                                 " must be of type " + type + ": \"" + TypeOf(value) + "\""});
    return;
  }
  if (auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
    bool found = false;
    for (const json& allowed : *e) found = found || allowed == value;
    if (!found) {
      std::string supported;
      for (const json& allowed : *e) supported += (supported.empty() ? "" : ", ") + Shown(allowed);
      errors->push_back(
          {path, "Unsupported value: " + Shown(value) + ": supported values: " + supported});
    }
  }
  if (value.is_number()) {
    const double v = value.get<double>();
    if (auto m = schema.find("minimum"); m != schema.end() && m->is_number()) {
      const bool exclusive = Flag(schema, "exclusiveMinimum");
      if (exclusive ? v <= m->get<double>() : v < m->get<double>()) {
        errors->push_back({path, "Invalid value: " + Shown(value) + ": " + InBody(path) +
                                     " should be greater than " +
                                     (exclusive ? "" : "or equal to ") + Number(*m)});
      }
    }
    if (auto m = schema.find("maximum"); m != schema.end() && m->is_number()) {
      const bool exclusive = Flag(schema, "exclusiveMaximum");
      if (exclusive ? v >= m->get<double>() : v > m->get<double>()) {
        errors->push_back({path, "Invalid value: " + Shown(value) + ": " + InBody(path) +
                                     " should be less than " + (exclusive ? "" : "or equal to ") +
                                     Number(*m)});
      }
    }
    if (auto m = schema.find("multipleOf");
        m != schema.end() && m->is_number() && m->get<double>() > 0) {
      const double q = v / m->get<double>();
      if (!std::isfinite(q) || q != std::floor(q)) {
        errors->push_back({path, "Invalid value: " + Shown(value) + ": " + InBody(path) +
                                     " should be a multiple of " + Number(*m)});
      }
    }
  }
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    const size_t length = Utf8Length(s);
    if (auto m = schema.find("minLength");
        m != schema.end() && m->is_number_integer() && length < m->get<uint64_t>()) {
      errors->push_back({path, "Invalid value: " + Shown(value) + ": " + InBody(path) +
                                   " should be at least " + m->dump() + " chars long"});
    }
    if (auto m = schema.find("maxLength");
        m != schema.end() && m->is_number_integer() && length > m->get<uint64_t>()) {
      errors->push_back({path, "Too long: may not be longer than " + m->dump()});
    }
    if (auto p = schema.find("pattern"); p != schema.end() && p->is_string()) {
      auto re = patterns_.find(p->get<std::string>());
      if (s.size() > kMaxPatternInput) {
        errors->push_back({path, "Invalid value: " + Shown(value) + ": " + InBody(path) +
                                     " is longer than " + std::to_string(kMaxPatternInput) +
                                     " bytes, too long to match against '" + p->get<std::string>() +
                                     "'"});
      } else if (re != patterns_.end() && !re2::RE2::PartialMatch(s, *re->second)) {
        errors->push_back({path, "Invalid value: " + Shown(value) + ": " + InBody(path) +
                                     " should match '" + p->get<std::string>() + "'"});
      }
    }
  }
  if (value.is_array()) {
    if (auto m = schema.find("minItems");
        m != schema.end() && m->is_number_integer() && value.size() < m->get<uint64_t>()) {
      errors->push_back({path, "Invalid value: " + std::to_string(value.size()) + ": " +
                                   InBody(path) + " should have at least " + m->dump() + " items"});
    }
    if (auto m = schema.find("maxItems");
        m != schema.end() && m->is_number_integer() && value.size() > m->get<uint64_t>()) {
      errors->push_back({path, "Too many: " + std::to_string(value.size()) +
                                   ": must have at most " + m->dump() + " items"});
    }
    if (auto items = schema.find("items"); items != schema.end()) {
      for (size_t i = 0; i < value.size(); ++i) {
        Check(*items, value[i], path + "[" + std::to_string(i) + "]", depth + 1, errors);
      }
    }
  }
  if (value.is_object()) {
    if (auto m = schema.find("minProperties");
        m != schema.end() && m->is_number_integer() && value.size() < m->get<uint64_t>()) {
      errors->push_back({path, "Invalid value: " + std::to_string(value.size()) + ": " +
                                   InBody(path) + " should have at least " + m->dump() +
                                   " properties"});
    }
    if (auto m = schema.find("maxProperties");
        m != schema.end() && m->is_number_integer() && value.size() > m->get<uint64_t>()) {
      errors->push_back({path, "Too many: " + std::to_string(value.size()) +
                                   ": must have at most " + m->dump() + " properties"});
    }
    if (auto r = schema.find("required"); r != schema.end() && r->is_array()) {
      for (const json& name : *r) {
        if (name.is_string() && !value.contains(name.get<std::string>())) {
          errors->push_back({JoinPath(path, name.get<std::string>()), "Required value"});
        }
      }
    }
    auto properties = schema.find("properties");
    auto additional = schema.find("additionalProperties");
    for (const auto& [key, child] : value.items()) {
      if (properties != schema.end() && properties->is_object() && properties->contains(key)) {
        Check((*properties)[key], child, JoinPath(path, key), depth + 1, errors);
      } else if (additional != schema.end() && additional->is_object()) {
        Check(*additional, child, JoinPath(path, key), depth + 1, errors);
      }
    }
  }
}

}  // namespace meridian::apiserver::crd
