#include "apimachinery/patch.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

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
        if (!p.is_array()) {
          return ApiError::BadRequest(
              "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
        }
        return within_depth(original.patch(p));
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
