#include "apimachinery/patch.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "common/json_parse.h"

namespace meridian::apimachinery {

using nlohmann::json;

namespace {

constexpr const char* kDeleteFromPrimitiveList = "$deleteFromPrimitiveList/";
constexpr const char* kSetElementOrder = "$setElementOrder/";

// Removes every "$..." directive key, recursively (values inserted verbatim must not carry
// them into storage).
json Clean(const json& v) {
  if (v.is_object()) {
    json out = json::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!it.key().empty() && it.key()[0] == '$') continue;
      out[it.key()] = Clean(it.value());
    }
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const json& item : v) {
      if (item.is_object() && item.contains("$patch")) continue;  // directive-only entries
      out.push_back(Clean(item));
    }
    return out;
  }
  return v;
}

bool AnyItemHas(const json& list, const char* key) {
  if (!list.is_array()) return false;
  return std::any_of(list.begin(), list.end(),
                     [&](const json& i) { return i.is_object() && i.contains(key); });
}

// The merge key of a list field, or "" when the list is replaced wholesale.
std::string MergeKeyFor(const std::string& field, const json& original, const json& patch) {
  static const std::map<std::string, std::string> kKeys = {
      {"containers", "name"},       {"initContainers", "name"},  {"ephemeralContainers", "name"},
      {"volumes", "name"},          {"env", "name"},             {"imagePullSecrets", "name"},
      {"volumeDevices", "devicePath"}, {"resourceClaims", "name"}, {"volumeMounts", "mountPath"},
      {"conditions", "type"},       {"ownerReferences", "uid"},  {"hostAliases", "ip"},
      {"topologySpreadConstraints", "topologyKey"},
  };
  if (field == "ports") {
    return AnyItemHas(patch, "containerPort") || AnyItemHas(original, "containerPort")
               ? "containerPort"
               : "port";
  }
  auto it = kKeys.find(field);
  return it == kKeys.end() ? "" : it->second;
}

json MergeMap(const json& original, const json& patch, bool* deleted);

json MergeList(const std::string& field, const json& original, const json& patch) {
  if (field == "finalizers") {  // a set of strings
    json out = original.is_array() ? original : json::array();
    for (const json& v : patch) {
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
    }
    return out;
  }
  const std::string key = MergeKeyFor(field, original, patch);
  for (const json& item : patch) {
    if (item.is_object() && item.value("$patch", "") == "replace") {
      return Clean(patch);  // the list is replaced by the rest of the patch
    }
  }
  if (key.empty()) return Clean(patch);
  json out = original.is_array() ? original : json::array();
  for (const json& item : patch) {
    if (!item.is_object() || !item.contains(key)) {
      out.push_back(Clean(item));
      continue;
    }
    const json& id = item[key];
    auto existing = std::find_if(out.begin(), out.end(), [&](const json& o) {
      return o.is_object() && o.contains(key) && o[key] == id;
    });
    if (item.value("$patch", "") == "delete") {
      if (existing != out.end()) out.erase(existing);
      continue;
    }
    if (existing == out.end()) {
      out.push_back(Clean(item));
    } else {
      bool gone = false;
      json merged = MergeMap(*existing, item, &gone);
      if (gone) {
        out.erase(existing);
      } else {
        *existing = std::move(merged);
      }
    }
  }
  return out;
}

json MergeMap(const json& original, const json& patch, bool* deleted) {
  *deleted = false;
  const std::string directive = patch.value("$patch", "");
  if (directive == "delete") {
    *deleted = true;
    return json();
  }
  if (directive == "replace") return Clean(patch);

  json out = original.is_object() ? original : json::object();
  std::vector<std::pair<std::string, json>> delete_from_lists;
  std::vector<std::pair<std::string, json>> orders;
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (!k.empty() && k[0] == '$') {
      if (k.rfind(kDeleteFromPrimitiveList, 0) == 0) {
        delete_from_lists.emplace_back(k.substr(std::string(kDeleteFromPrimitiveList).size()), v);
      } else if (k.rfind(kSetElementOrder, 0) == 0) {
        orders.emplace_back(k.substr(std::string(kSetElementOrder).size()), v);
      }
      continue;  // $patch, $retainKeys are handled around the loop
    }
    if (v.is_null()) {
      out.erase(k);
    } else if (v.is_object()) {
      bool gone = false;
      json merged = MergeMap(out.contains(k) ? out[k] : json(), v, &gone);
      if (gone) {
        out.erase(k);
      } else {
        out[k] = std::move(merged);
      }
    } else if (v.is_array()) {
      out[k] = MergeList(k, out.contains(k) ? out[k] : json(), v);
    } else {
      out[k] = v;
    }
  }
  for (const auto& [field, values] : delete_from_lists) {
    if (!out.contains(field) || !out[field].is_array() || !values.is_array()) continue;
    json kept = json::array();
    for (const json& v : out[field]) {
      if (std::find(values.begin(), values.end(), v) == values.end()) kept.push_back(v);
    }
    out[field] = std::move(kept);
  }
  for (const auto& [field, order] : orders) {
    if (!out.contains(field) || !out[field].is_array() || !order.is_array()) continue;
    json& list = out[field];
    const std::string key = MergeKeyFor(field, list, order);
    if (key.empty()) continue;
    json sorted = json::array();
    std::set<size_t> used;
    for (const json& o : order) {
      if (!o.is_object() || !o.contains(key)) continue;
      for (size_t i = 0; i < list.size(); ++i) {
        if (!used.count(i) && list[i].is_object() && list[i].contains(key) &&
            list[i][key] == o[key]) {
          sorted.push_back(list[i]);
          used.insert(i);
          break;
        }
      }
    }
    for (size_t i = 0; i < list.size(); ++i) {
      if (!used.count(i)) sorted.push_back(list[i]);
    }
    list = std::move(sorted);
  }
  if (patch.contains("$retainKeys") && patch["$retainKeys"].is_array()) {
    const json& keep = patch["$retainKeys"];
    for (auto it = out.begin(); it != out.end();) {
      if (std::find(keep.begin(), keep.end(), json(it.key())) == keep.end()) {
        it = out.erase(it);
      } else {
        ++it;
      }
    }
  }
  return out;
}

// ---- JSON patch (RFC 6902) ----------------------------------------------------------------
//
// Our own instead of nlohmann's json::patch so that failures read as kube-apiserver's do: it
// applies JSON patches with gopkg.in/evanphx/json-patch.v4, whose messages ("replace operation
// does not apply: doc is missing key: /spec/x: missing value") users search for, and answers
// 422 "the server rejected our request due to an error in our request". nlohmann's wording
// ("[json.exception.out_of_range.403] key 'x' not found") was leaking through.

// kube-apiserver's maxJSONPatchOperations.
constexpr size_t kMaxJsonPatchOperations = 10000;

// Copies may not add more than this many JSON nodes in one patch: `copy /a -> /a/b` doubles
// /a each time, so 30 operations would otherwise ask for a billion nodes; 256 Ki nodes is more than
// a 3 MiB object holds (json-patch's AccumulatedCopySizeLimit guards the same).
constexpr size_t kMaxCopiedNodes = 256 * 1024;

struct PatchFailure {
  std::string message;  // json-patch's words
  std::string pointer;  // the JSON pointer of the operation ("" when it has none)
  int code = 422;       // 400 for a result past the depth limit
};

// State across the operations of one patch.
struct PatchBudget {
  size_t copied_nodes = 0;
};

std::string DecodeToken(const std::string& token) {
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
      out += token[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      out += token[i];
    }
  }
  return out;
}

// "/spec/containers/0/image" -> "spec.containers.0.image" (the field of a StatusCause).
std::string PointerToField(const std::string& pointer) {
  std::string out;
  size_t start = 1;
  while (start <= pointer.size()) {
    size_t slash = pointer.find('/', start);
    std::string token = DecodeToken(
        pointer.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    out += (out.empty() ? "" : ".") + token;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

// The tokens in a pointer ("/a/b" -> 2): how deep a value placed there sits.
size_t PointerDepth(const std::string& pointer) {
  return static_cast<size_t>(std::count(pointer.begin(), pointer.end(), '/'));
}

// JSON nodes in `v`, iteratively (values a patch copies can be as deep as the document).
size_t CountNodes(const json& v) {
  size_t n = 0;
  std::vector<const json*> stack = {&v};
  while (!stack.empty()) {
    const json* cur = stack.back();
    stack.pop_back();
    ++n;
    if (cur->is_structured()) {
      for (const json& child : *cur) stack.push_back(&child);
    }
  }
  return n;
}

// An array index token: decimal digits only (no sign, no "-").
bool ArrayIndex(const std::string& token, size_t* out) {
  if (token.empty() || token.size() > 9) return false;
  size_t v = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  *out = v;
  return true;
}

// json-patch's findObject: the container holding the pointer's last token, and that token;
// null when the pointer has no token or a parent is missing. Iterative.
json* FindParent(json& doc, const std::string& pointer, std::string* key) {
  if (pointer.empty() || pointer[0] != '/') return nullptr;
  std::vector<std::string> tokens;
  size_t start = 1;
  while (true) {
    size_t slash = pointer.find('/', start);
    tokens.push_back(DecodeToken(
        pointer.substr(start, slash == std::string::npos ? std::string::npos : slash - start)));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  json* cur = &doc;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    if (cur->is_object()) {
      auto it = cur->find(tokens[i]);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      size_t idx = 0;
      if (!ArrayIndex(tokens[i], &idx) || idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    } else {
      return nullptr;
    }
    if (!cur->is_object() && !cur->is_array()) return nullptr;
  }
  if (!cur->is_object() && !cur->is_array()) return nullptr;
  *key = tokens.back();
  return cur;
}

// The value at `key` in a container, or null when absent.
json* Child(json& container, const std::string& key) {
  if (container.is_object()) {
    auto it = container.find(key);
    return it == container.end() ? nullptr : &*it;
  }
  size_t idx = 0;
  if (!ArrayIndex(key, &idx) || idx >= container.size()) return nullptr;
  return &container[idx];
}

std::optional<std::string> AddTo(json& container, const std::string& key, json value) {
  if (container.is_object()) {
    container[key] = std::move(value);
    return std::nullopt;
  }
  if (key == "-") {
    container.push_back(std::move(value));
    return std::nullopt;
  }
  size_t idx = 0;
  if (!ArrayIndex(key, &idx)) return "value was not a proper array index: '" + key + "'";
  if (idx > container.size()) {
    return "Unable to access invalid index: " + key + ": invalid index referenced";
  }
  container.insert(container.begin() + static_cast<std::ptrdiff_t>(idx), std::move(value));
  return std::nullopt;
}

std::optional<std::string> RemoveFrom(json& container, const std::string& key) {
  if (container.is_object()) {
    if (container.erase(key) == 0) {
      return "Unable to remove nonexistent key: " + key + ": missing value";
    }
    return std::nullopt;
  }
  size_t idx = 0;
  if (!ArrayIndex(key, &idx) || idx >= container.size()) {
    return "Unable to access invalid index: " + key + ": invalid index referenced";
  }
  container.erase(idx);
  return std::nullopt;
}

std::optional<PatchFailure> ApplyOperation(json& doc, const json& op, PatchBudget* budget) {
  auto field = [&](const char* name, std::string* out) {
    auto it = op.find(name);
    if (it == op.end() || !it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  std::string kind = "unknown";
  field("op", &kind);
  std::string path;
  const bool has_path = field("path", &path);
  const auto value = op.find("value");
  auto fail = [&](std::string message) { return PatchFailure{std::move(message), path}; };
  // A value placed at `at` must keep the document within the depth limit: each input is, but
  // a deep value at a deep path would not be.
  auto too_deep = [&](const std::string& at, const json& v) -> std::optional<PatchFailure> {
    const size_t above = PointerDepth(at);
    std::string where;
    if (above < static_cast<size_t>(kMaxJsonDepth) &&
        CheckJsonDepth(v, kMaxJsonDepth - static_cast<int>(above), &where)) {
      return std::nullopt;
    }
    return PatchFailure{"the patched object: " +
                            JsonDepthMessage(kMaxJsonDepth, JoinPath(PointerToField(at), where)),
                        at, 400};
  };
  auto missing_value = [&]() -> std::optional<PatchFailure> {
    return fail(kind + " operation does not apply: value is missing: missing value");
  };
  if (kind != "add" && kind != "remove" && kind != "replace" && kind != "move" && kind != "copy" &&
      kind != "test") {
    return fail("Unexpected kind: " + kind);
  }
  if (!has_path) return fail(kind + " operation failed to decode path: missing value");
  std::string key;
  if (kind == "add") {
    if (value == op.end()) return missing_value();
    if (auto e = too_deep(path, *value)) return e;
    json* parent = FindParent(doc, path, &key);
    if (parent == nullptr) {
      return fail("add operation does not apply: doc is missing path: \"" + path +
                  "\": missing value");
    }
    if (auto e = AddTo(*parent, key, *value))
      return fail("error in add for path: '" + path + "': " + *e);
    return std::nullopt;
  }
  if (kind == "remove") {
    json* parent = FindParent(doc, path, &key);
    if (parent == nullptr) {
      return fail("remove operation does not apply: doc is missing path: \"" + path +
                  "\": missing value");
    }
    if (auto e = RemoveFrom(*parent, key))
      return fail("error in remove for path: '" + path + "': " + *e);
    return std::nullopt;
  }
  if (kind == "replace") {
    if (value == op.end()) return missing_value();
    if (auto e = too_deep(path, *value)) return e;
    if (path.empty()) {
      if (!value->is_object() && !value->is_array()) {
        return fail("replace operation value must be object or array");
      }
      doc = *value;
      return std::nullopt;
    }
    json* parent = FindParent(doc, path, &key);
    if (parent == nullptr) {
      return fail("replace operation does not apply: doc is missing path: " + path +
                  ": missing value");
    }
    json* slot = Child(*parent, key);
    if (slot == nullptr) {
      return fail("replace operation does not apply: doc is missing key: " + path +
                  ": missing value");
    }
    *slot = *value;
    return std::nullopt;
  }
  if (kind == "test") {
    if (path.empty()) {
      if (value != op.end() && doc == *value) return std::nullopt;
      return fail("testing value " + path + " failed: test failed");
    }
    json* parent = FindParent(doc, path, &key);
    if (parent == nullptr) {
      return fail("test operation does not apply: is missing path: " + path + ": missing value");
    }
    json* current = Child(*parent, key);
    if (current == nullptr && value == op.end()) return std::nullopt;
    if (current == nullptr || value == op.end() || *current != *value) {
      return fail("testing value " + path + " failed: test failed");
    }
    return std::nullopt;
  }
  // move and copy
  std::string from;
  if (!field("from", &from)) return fail(kind + " operation failed to decode from: missing value");
  std::string from_key;
  json* from_parent = FindParent(doc, from, &from_key);
  json* source = from_parent == nullptr ? nullptr : Child(*from_parent, from_key);
  if (source == nullptr) {
    return fail(kind + " operation does not apply: doc is missing from path: " + from +
                ": missing value");
  }
  if (auto e = too_deep(path, *source)) return e;
  if (kind == "copy") {
    budget->copied_nodes += CountNodes(*source);
    if (budget->copied_nodes > kMaxCopiedNodes) {
      return fail("Unable to complete the copy, the accumulated size increase of copy is " +
                  std::to_string(budget->copied_nodes) + ", exceeding the limit " +
                  std::to_string(kMaxCopiedNodes));
    }
  }
  json moved = *source;
  if (kind == "move") {
    if (path.rfind(from + "/", 0) == 0) {
      return fail("move operation does not apply: cannot move " + from + " into its own child " +
                  path);
    }
    if (auto e = RemoveFrom(*from_parent, from_key)) {
      return fail("error in move for path: '" + from_key + "': " + *e);
    }
  }
  json* parent = FindParent(doc, path, &key);
  if (parent == nullptr) {
    return fail(kind + " operation does not apply: doc is missing destination path: " + path +
                ": missing value");
  }
  if (auto e = AddTo(*parent, key, std::move(moved))) {
    return fail(kind == "move" ? "error in move for path: '" + path + "': " + *e
                               : "error while adding value during copy: " + *e);
  }
  return std::nullopt;
}

ApiResult<json> ApplyJsonPatch(const json& original, const json& ops) {
  if (!ops.is_array()) {
    return ApiError::BadRequest("json: cannot unmarshal " +
                                std::string(ops.is_object() ? "object" : ops.type_name()) +
                                " into Go value of type jsonpatch.Patch");
  }
  if (ops.size() > kMaxJsonPatchOperations) {
    ApiError e = ApiError::RequestEntityTooLarge(0);
    e.message = "The allowed maximum operations in a JSON patch is " +
                std::to_string(kMaxJsonPatchOperations) + ", got " + std::to_string(ops.size());
    return e;
  }
  for (const json& op : ops) {
    if (!op.is_object()) {
      return ApiError::BadRequest("json: cannot unmarshal " + std::string(op.type_name()) +
                                  " into Go value of type jsonpatch.Operation");
    }
  }
  json doc = original;
  PatchBudget budget;
  for (const json& op : ops) {
    if (std::optional<PatchFailure> f = ApplyOperation(doc, op, &budget)) {
      if (f->code == 400) return ApiError::BadRequest(f->message);
      ApiError e = ApiError::Invalid("", "", "", {});
      // kube-apiserver's NewGenericServerResponse(422) message, then the library's reason.
      e.message = "the server rejected our request due to an error in our request: " + f->message;
      e.causes.push_back({"FieldValueInvalid", f->message, PointerToField(f->pointer)});
      return e;
    }
  }
  return doc;
}

std::string LowerMediaType(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  t.erase(std::remove_if(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c); }),
          t.end());
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

}  // namespace

bool ParsePatchType(const std::string& content_type, PatchType* out) {
  const std::string t = LowerMediaType(content_type);
  if (t == "application/json-patch+json") {
    *out = PatchType::kJsonPatch;
  } else if (t == "application/merge-patch+json") {
    *out = PatchType::kMergePatch;
  } else if (t == "application/strategic-merge-patch+json") {
    *out = PatchType::kStrategicMergePatch;
  } else if (t == "application/apply-patch+yaml" || t == "application/apply-patch+cbor") {
    *out = PatchType::kApplyPatch;
  } else {
    return false;
  }
  return true;
}

json StrategicMerge(const json& original, const json& patch) {
  bool deleted = false;
  json out = MergeMap(original, patch, &deleted);
  return deleted ? json::object() : out;
}

ApiResult<json> ApplyPatch(const json& original, PatchType type, const std::string& patch) {
  if (type == PatchType::kApplyPatch) {
    return ApiError::UnsupportedMediaType("application/apply-patch+yaml (server-side apply is "
                                          "not supported; use client-side kubectl apply)");
  }
  JsonParseError error;
  json p = ParseJson(patch, &error);
  if (p.is_discarded()) {
    return ApiError::BadRequest("error decoding patch: " + error.ToString());
  }
  // Each input is within the depth limit, but a JSON patch can put a deep value at a deep
  // path: the result is checked too, before anything recursive (a copy, dump) runs on it.
  auto within_depth = [](json out) -> ApiResult<json> {
    std::string path;
    if (!CheckJsonDepth(out, kMaxJsonDepth, &path)) {
      return ApiError::BadRequest("the patched object: " + JsonDepthMessage(kMaxJsonDepth, path));
    }
    return out;
  };
  try {
    switch (type) {
      case PatchType::kJsonPatch: {
        ApiResult<json> out = ApplyJsonPatch(original, p);
        if (!out.ok()) return out.error();
        return within_depth(std::move(out).value());
      }
      case PatchType::kMergePatch: {
        json out = original;
        out.merge_patch(p);
        return within_depth(std::move(out));
      }
      case PatchType::kStrategicMergePatch: {
        if (!p.is_object()) {
          return ApiError::BadRequest("strategic merge patch must be a JSON object");
        }
        return within_depth(StrategicMerge(original, p));
      }
      case PatchType::kApplyPatch: break;
    }
  } catch (const json::out_of_range& e) {
    ApiError err = ApiError::Invalid("", "", "", {});
    err.message = std::string("the server rejected our request due to an error in our request: ") + e.what();
    return err;
  } catch (const json::exception& e) {
    ApiError err = ApiError::Invalid("", "", "", {});
    err.message = std::string("the server rejected our request due to an error in our request: ") + e.what();
    return err;
  }
  return ApiError::BadRequest("unsupported patch type");
}

}  // namespace meridian::apimachinery
