// Compiling a member's /openapi/v2 document and validating against it (api/openapi_schema.h).
#include "api/openapi_schema.h"

#include "api/template_schema.h"

#include <deque>
#include <functional>
#include <regex>
#include <set>

namespace meridian::api {
namespace {

using nlohmann::json;

constexpr char kRefPrefix[] = "#/definitions/";
constexpr char kQuantity[] = "io.k8s.apimachinery.pkg.api.resource.Quantity";
constexpr char kMetaPrefix[] = "io.k8s.apimachinery.pkg.apis.meta.";
// A $ref chain longer than this without descending into the value is a cycle (A -> B -> A).
constexpr int kMaxRefHops = 32;

// The keywords validation reads; everything else (descriptions, patch strategies, list
// types) is dropped.
json Trim(const json& schema) {
  if (!schema.is_object()) return json::object();
  json out = json::object();
  for (const char* k :
       {"type", "format", "required", "enum", "minimum", "$ref", "x-kubernetes-int-or-string",
        "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource"}) {
    auto it = schema.find(k);
    if (it != schema.end()) out[k] = *it;
  }
  if (auto it = schema.find("properties"); it != schema.end() && it->is_object()) {
    json props = json::object();
    for (auto p = it->begin(); p != it->end(); ++p) props[p.key()] = Trim(p.value());
    out["properties"] = std::move(props);
  }
  if (auto it = schema.find("items"); it != schema.end() && it->is_object()) {
    out["items"] = Trim(*it);
  }
  if (auto it = schema.find("additionalProperties"); it != schema.end()) {
    out["additionalProperties"] = it->is_object() ? Trim(*it) : *it;
  }
  return out;
}

void CollectRefs(const json& schema, std::vector<std::string>* refs) {
  if (schema.is_object()) {
    auto it = schema.find("$ref");
    if (it != schema.end() && it->is_string()) {
      const std::string& r = it->get_ref<const std::string&>();
      if (r.rfind(kRefPrefix, 0) == 0) refs->push_back(r.substr(sizeof(kRefPrefix) - 1));
    }
    for (const auto& [k, v] : schema.items()) CollectRefs(v, refs);
  } else if (schema.is_array()) {
    for (const json& v : schema) CollectRefs(v, refs);
  }
}


bool Flag(const json& schema, const char* name) {
  auto it = schema.find(name);
  return it != schema.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

StatusOr<std::shared_ptr<const OpenApiSchemas>> OpenApiSchemas::FromDocument(const json& document) {
  if (!document.is_object()) {
    return InvalidArgumentError("OpenAPI v2 document: not a JSON object");
  }
  auto defs = document.find("definitions");
  if (defs == document.end() || !defs->is_object()) {
    return InvalidArgumentError("OpenAPI v2 document: no \"definitions\" object");
  }
  if (defs->size() > kMaxDefinitions) {
    return InvalidArgumentError("OpenAPI v2 document: " + std::to_string(defs->size()) +
                                " definitions (at most " + std::to_string(kMaxDefinitions) + ")");
  }
  std::shared_ptr<OpenApiSchemas> out(new OpenApiSchemas());
  std::deque<std::string> todo;
  for (auto d = defs->begin(); d != defs->end(); ++d) {
    if (d.key().rfind(kMetaPrefix, 0) == 0 || !d->is_object()) continue;
    auto gvks = d->find("x-kubernetes-group-version-kind");
    if (gvks == d->end() || !gvks->is_array()) continue;
    for (const json& gvk : *gvks) {
      if (!gvk.is_object()) continue;
      const std::string group = gvk.value("group", "");
      const std::string version = gvk.value("version", "");
      const std::string kind = gvk.value("kind", "");
      if (version.empty() || kind.empty()) continue;
      if (kind.size() > 4 && kind.compare(kind.size() - 4, 4, "List") == 0) continue;
      out->kinds_[(group.empty() ? version : group + "/" + version) + " " + kind] = d.key();
      todo.push_back(d.key());
    }
  }
  while (!todo.empty()) {
    std::string name = std::move(todo.front());
    todo.pop_front();
    if (out->definitions_.count(name)) continue;
    auto d = defs->find(name);
    if (d == defs->end()) continue;  // a dangling $ref validates as anything
    json trimmed = Trim(*d);
    std::vector<std::string> refs;
    CollectRefs(trimmed, &refs);
    out->definitions_.emplace(name, std::move(trimmed));
    for (std::string& r : refs) todo.push_back(std::move(r));
  }
  json compact = json::object();
  for (const auto& [name, schema] : out->definitions_) compact[name] = schema;
  compact["$kinds"] = out->kinds_;
  const std::string text = compact.dump();
  out->compact_bytes_ = text.size();
  out->digest_ = std::to_string(std::hash<std::string>{}(text)) + "-" + std::to_string(text.size());
  return std::shared_ptr<const OpenApiSchemas>(std::move(out));
}

bool OpenApiSchemas::Has(const std::string& api_version, const std::string& kind) const {
  return kinds_.count(api_version + " " + kind) > 0;
}

std::vector<std::string> OpenApiSchemas::Kinds() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : kinds_) out.push_back(k);
  return out;
}

bool OpenApiSchemas::Validate(const json& object, const std::string& path,
                              FieldErrors* errors) const {
  if (!object.is_object()) return false;
  auto av = object.find("apiVersion");
  auto k = object.find("kind");
  if (av == object.end() || k == object.end() || !av->is_string() || !k->is_string()) return false;
  auto it = kinds_.find(av->get<std::string>() + " " + k->get<std::string>());
  if (it == kinds_.end()) return false;
  auto def = definitions_.find(it->second);
  if (def == definitions_.end()) return false;
  Check(def->second, object, path, 0, errors);
  return true;
}

void OpenApiSchemas::Check(const json& schema, const json& v, const std::string& path, int ref_hops,
                           FieldErrors* errors) const {
  if (v.is_null() || !schema.is_object()) return;  // null is absent, as the API server decodes
  if (auto ref = schema.find("$ref"); ref != schema.end() && ref->is_string()) {
    const std::string& r = ref->get_ref<const std::string&>();
    if (r.rfind(kRefPrefix, 0) != 0 || ref_hops >= kMaxRefHops) return;
    const std::string name = r.substr(sizeof(kRefPrefix) - 1);
    if (name == kQuantity) {
      if (v.is_number()) return;
      if (!v.is_string()) {
        errors->push_back(
            {path, "must be a quantity (such as 100m, 128Mi or 2), not " + JsonTypeName(v)});
      } else if (!IsQuantityString(v.get<std::string>())) {
        errors->push_back({path, "\"" + v.get<std::string>() +
                                     "\" is not a quantity (such as 100m, 128Mi or 2)"});
      }
      return;
    }
    auto def = definitions_.find(name);
    if (def != definitions_.end()) Check(def->second, v, path, ref_hops + 1, errors);
    return;
  }
  auto wrong = [&](const std::string& want) {
    errors->push_back({path, "must be " + want + ", not " + JsonTypeName(v)});
  };
  const std::string format = schema.value("format", "");
  if (Flag(schema, "x-kubernetes-int-or-string") || format == "int-or-string") {
    if (!v.is_number_integer() && !v.is_string()) wrong("an integer or a string");
    return;
  }
  std::string type = schema.value("type", "");
  if (type.empty() && (schema.contains("properties") || schema.contains("additionalProperties"))) {
    type = "object";
  }
  if (type == "string") {
    if (!v.is_string()) return wrong("a string");
  } else if (type == "integer" || type == "number") {
    if (type == "integer" && !v.is_number_integer()) return wrong("an integer");
    if (!v.is_number()) return wrong("a number");
    auto min = schema.find("minimum");
    if (min != schema.end() && min->is_number() && v.get<double>() < min->get<double>()) {
      errors->push_back({path, "must be >= " + min->dump()});
    }
  } else if (type == "boolean") {
    if (!v.is_boolean()) return wrong("a boolean");
  } else if (type == "array") {
    if (!v.is_array()) return wrong("a list");
    auto items = schema.find("items");
    if (items == schema.end()) return;
    for (size_t i = 0; i < v.size(); ++i) {
      Check(*items, v[i], path + "[" + std::to_string(i) + "]", 0, errors);
    }
    return;
  } else if (type == "object") {
    if (!v.is_object()) return wrong("an object");
    auto props = schema.find("properties");
    auto extra = schema.find("additionalProperties");
    const bool preserve = Flag(schema, "x-kubernetes-preserve-unknown-fields");
    const bool embedded = Flag(schema, "x-kubernetes-embedded-resource");
    for (auto f = v.begin(); f != v.end(); ++f) {
      const std::string child = JoinPath(path, f.key());
      if (props != schema.end() && props->is_object()) {
        auto p = props->find(f.key());
        if (p != props->end()) {
          Check(*p, f.value(), child, 0, errors);
          continue;
        }
      }
      if (extra != schema.end() && extra->is_object()) {
        Check(*extra, f.value(), child, 0, errors);
        continue;
      }
      const bool closed = props != schema.end() && !preserve &&
                          !(extra != schema.end() && extra->is_boolean() && extra->get<bool>());
      if (embedded && (f.key() == "apiVersion" || f.key() == "kind" || f.key() == "metadata")) {
        continue;
      }
      if (closed) errors->push_back({child, "unknown field \"" + f.key() + "\""});
    }
  }
  if (auto en = schema.find("enum"); en != schema.end() && en->is_array() && !en->empty()) {
    bool found = false;
    std::string list;
    for (const json& a : *en) {
      if (a == v) found = true;
      list += (list.empty() ? "" : ", ") + (a.is_string() ? a.get<std::string>() : a.dump());
    }
    if (!found) {
      errors->push_back({path, "unsupported value " + v.dump() + " (must be one of " + list + ")"});
    }
  }
  if (auto req = schema.find("required"); req != schema.end() && req->is_array() && v.is_object()) {
    for (const json& r : *req) {
      if (!r.is_string()) continue;
      auto it = v.find(r.get<std::string>());
      if (it == v.end() || it->is_null()) {
        errors->push_back({JoinPath(path, r.get<std::string>()), "required"});
      }
    }
  }
}

}  // namespace meridian::api
