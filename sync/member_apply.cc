#include "sync/member_apply.h"

#include <set>

#include "api/retained_paths.h"
#include "common/json_parse.h"
#include "common/quantity.h"

namespace meridian::sync {
namespace {

using nlohmann::json;

// Maps whose values are resource quantities in built-in kinds (resources.requests/limits,
// pod overhead, ResourceQuota hard, node capacity/allocatable).
bool IsQuantityMap(const std::string& key) {
  static const std::set<std::string> kMaps = {"requests", "limits",   "overhead",
                                              "hard",     "capacity", "allocatable"};
  return kMaps.count(key) > 0;
}

bool IsBuiltinApiVersion(const json& object) {
  if (!object.is_object()) return false;
  auto it = object.find("apiVersion");
  if (it == object.end() || !it->is_string()) return false;
  const std::string v = it->get<std::string>();
  const size_t slash = v.find('/');
  const std::string group = slash == std::string::npos ? "" : v.substr(0, slash);
  static const std::set<std::string> kGroups = {
      "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "storage.k8s.io"};
  return kGroups.count(group) > 0;
}

// Where a value sits: whether quantities are canonicalised there.
struct Ctx {
  bool builtin = false;
  bool quantity = false;  // the value itself is a quantity position
  Ctx Child(const std::string& key, bool parent_is_quantity_map) const {
    return Ctx{builtin, builtin && (parent_is_quantity_map || key == "sizeLimit")};
  }
};

// The canonical text of a quantity value (string or number), or nullopt.
std::optional<std::string> Canonical(const json& v) {
  std::string text;
  if (v.is_string()) {
    text = v.get<std::string>();
  } else if (v.is_number_integer() || v.is_number_unsigned()) {
    text = v.dump();
  } else if (v.is_number_float()) {
    text = v.dump();  // "0.5", "1.0": the shortest text that round-trips
  } else {
    return std::nullopt;
  }
  StatusOr<std::string> c = CanonicalQuantity(text);
  if (!c.ok()) return std::nullopt;
  return *c;
}

bool IsEmptyValue(const json& v) {
  return v.is_null() || ((v.is_array() || v.is_object()) && v.empty());
}

json Normalize(const json& v, const Ctx& ctx, bool quantity_map) {
  if (v.is_object()) {
    json out = json::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      const json& child = it.value();
      if (child.is_null() || (child.is_array() && child.empty())) continue;
      out[it.key()] = Normalize(child, ctx.Child(it.key(), quantity_map), IsQuantityMap(it.key()));
    }
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const json& e : v) out.push_back(Normalize(e, Ctx{ctx.builtin, false}, false));
    return out;
  }
  if (ctx.quantity) {
    if (std::optional<std::string> c = Canonical(v)) return *c;
  }
  return v;
}

bool ScalarEqual(const json& want, const json& have, const Ctx& ctx) {
  if (want == have) return true;
  if (!ctx.quantity) return false;
  std::optional<std::string> a = Canonical(want);
  std::optional<std::string> b = Canonical(have);
  return a && b && *a == *b;
}

// SemanticallyContains with the differing paths collected (when `out` is given).
bool Diff(const json& want, const json* have, const Ctx& ctx, bool quantity_map,
          const std::string& path, std::vector<std::string>* out, size_t limit) {
  auto differ = [&] {
    if (out != nullptr && out->size() < limit) out->push_back(path.empty() ? "." : path);
    return false;
  };
  if (IsEmptyValue(want) && (have == nullptr || have->is_null())) return true;
  if (have == nullptr) return differ();
  if (want.is_object()) {
    if (!have->is_object()) return differ();
    bool all = true;
    for (auto it = want.begin(); it != want.end(); ++it) {
      auto found = have->find(it.key());
      const json* h = found == have->end() ? nullptr : &*found;
      const std::string p = path.empty() ? it.key() : path + "." + it.key();
      if (!Diff(it.value(), h, ctx.Child(it.key(), quantity_map), IsQuantityMap(it.key()), p, out,
                limit)) {
        all = false;
        if (out == nullptr) return false;
      }
    }
    return all;
  }
  if (want.is_array()) {
    if (!have->is_array() || have->size() != want.size()) return differ();
    bool all = true;
    for (size_t i = 0; i < want.size(); ++i) {
      if (!Diff(want[i], &(*have)[i], Ctx{ctx.builtin, false}, false,
                path + "[" + std::to_string(i) + "]", out, limit)) {
        all = false;
        if (out == nullptr) return false;
      }
    }
    return all;
  }
  return ScalarEqual(want, *have, ctx) ? true : differ();
}

json ThreeWay(const json& original, const json& desired, const json& live, const Ctx& ctx,
              bool quantity_map, bool top) {
  json patch = json::object();
  if (original.is_object()) {
    for (auto it = original.begin(); it != original.end(); ++it) {
      if (top && it.key() == "status") continue;
      if (it.value().is_null()) continue;
      auto d = desired.find(it.key());
      if (d != desired.end() && !d->is_null()) continue;
      auto l = live.find(it.key());
      if (l != live.end() && !l->is_null()) patch[it.key()] = nullptr;
    }
  }
  for (auto it = desired.begin(); it != desired.end(); ++it) {
    const std::string& key = it.key();
    const json& want = it.value();
    if ((top && key == "status") || want.is_null()) continue;
    const Ctx child = ctx.Child(key, quantity_map);
    auto l = live.find(key);
    if (l == live.end() || l->is_null()) {
      if (!IsEmptyValue(want)) patch[key] = want;
      continue;
    }
    if (want.is_object() && l->is_object()) {
      static const json kEmpty = json::object();
      auto o = original.is_object() ? original.find(key) : original.end();
      const json& orig = original.is_object() && o != original.end() ? *o : kEmpty;
      json sub = ThreeWay(orig, want, *l, child, IsQuantityMap(key), false);
      if (!sub.empty()) patch[key] = std::move(sub);
      continue;
    }
    if (!Diff(want, &*l, child, IsQuantityMap(key), "", nullptr, 0)) patch[key] = want;
  }
  return patch;
}

}  // namespace

json NormalizeForMember(const json& object) {
  return Normalize(object, Ctx{IsBuiltinApiVersion(object), false}, false);
}

bool SemanticallyContains(const json& want, const json& have) {
  return Diff(want, &have, Ctx{IsBuiltinApiVersion(want), false}, false, "", nullptr, 0);
}

std::vector<std::string> DifferingFields(const json& want, const json& have, size_t limit) {
  std::vector<std::string> out;
  Diff(want, &have, Ctx{IsBuiltinApiVersion(want), false}, false, "", &out, limit);
  return out;
}

json ThreeWayMergePatch(const json& last_applied, const json& desired, const json& live) {
  if (!desired.is_object()) return json::object();
  static const json kEmpty = json::object();
  return ThreeWay(last_applied.is_object() ? last_applied : kEmpty, desired,
                  live.is_object() ? live : kEmpty, Ctx{IsBuiltinApiVersion(desired), false}, false,
                  true);
}

std::optional<json> LastApplied(const json& live) {
  if (!live.is_object()) return std::nullopt;
  auto m = live.find("metadata");
  if (m == live.end() || !m->is_object()) return std::nullopt;
  auto a = m->find("annotations");
  if (a == m->end() || !a->is_object()) return std::nullopt;
  auto r = a->find(kLastAppliedAnnotation);
  if (r == a->end() || !r->is_string()) return std::nullopt;
  // A member's bytes (common/json_parse.h): the three-way merge recurses over this record.
  json parsed = ParseJson(r->get<std::string>());
  if (!parsed.is_object()) return std::nullopt;
  return parsed;
}

json WithLastApplied(const json& rendered) {
  json out = rendered;
  if (!out.is_object()) return out;
  json& meta = out["metadata"];
  if (!meta.is_object()) meta = json::object();
  if (meta.contains("annotations") && meta["annotations"].is_object()) {
    meta["annotations"].erase(kLastAppliedAnnotation);
    // An empty map is no annotation: the record must not depend on whether one was there.
    if (meta["annotations"].empty()) meta.erase("annotations");
  }
  const std::string record = out.dump();
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) {
    meta["annotations"] = json::object();
  }
  meta["annotations"][kLastAppliedAnnotation] = record;
  return out;
}

std::vector<std::string> BuiltinRetainedPaths(const std::string& api_version,
                                              const std::string& kind) {
  if (api_version != "v1") return {};
  if (kind == "Service") {
    return {"/spec/clusterIP", "/spec/clusterIPs", "/spec/healthCheckNodePort"};
  }
  if (kind == "ServiceAccount") return {"/secrets"};
  return {};
}

namespace {

std::string PortProtocol(const json& port) {
  auto p = port.find("protocol");
  return p != port.end() && p->is_string() ? p->get<std::string>() : "TCP";
}

std::string GroupOf(const std::string& api_version) {
  const size_t slash = api_version.find('/');
  return slash == std::string::npos ? "" : api_version.substr(0, slash);
}

}  // namespace

void RetainServiceNodePorts(json& want, const json& live) {
  if (want.value("kind", "") != "Service" || want.value("apiVersion", "") != "v1") return;
  auto want_spec = want.find("spec");
  auto live_spec = live.find("spec");
  if (want_spec == want.end() || live_spec == live.end() || !live_spec->is_object()) return;
  auto want_ports = want_spec->find("ports");
  auto live_ports = live_spec->find("ports");
  if (want_ports == want_spec->end() || !want_ports->is_array() || live_ports == live_spec->end() ||
      !live_ports->is_array()) {
    return;
  }
  for (json& port : *want_ports) {
    if (!port.is_object() || (port.contains("nodePort") && !port["nodePort"].is_null())) continue;
    auto number = port.find("port");
    if (number == port.end() || !number->is_number_integer()) continue;
    for (const json& have : *live_ports) {
      if (!have.is_object() || have.value("port", json()) != *number ||
          PortProtocol(have) != PortProtocol(port)) {
        continue;
      }
      if (auto np = have.find("nodePort"); np != have.end() && np->is_number_integer()) {
        port["nodePort"] = *np;
      }
      break;
    }
  }
}

bool ScaledByAutoscaler(const json& object, const std::vector<json>& autoscalers) {
  const std::string kind = object.value("kind", "");
  const std::string group = GroupOf(object.value("apiVersion", ""));
  const json* meta = object.contains("metadata") ? &object["metadata"] : nullptr;
  if (kind.empty() || !meta || !meta->is_object()) return false;
  const std::string name = meta->value("name", "");
  for (const json& hpa : autoscalers) {
    auto spec = hpa.find("spec");
    if (spec == hpa.end() || !spec->is_object()) continue;
    auto ref = spec->find("scaleTargetRef");
    if (ref == spec->end() || !ref->is_object()) continue;
    if (ref->value("kind", "") == kind && ref->value("name", "") == name &&
        GroupOf(ref->value("apiVersion", "")) == group) {
      return true;
    }
  }
  return false;
}

namespace {

// Walks `tokens` from `i` in `want` (the object being built) and `have` (the member's copy)
// together. `keep_member`: the member's value wins (absent in the member: removed from want);
// otherwise it only fills a value `want` lacks.
void Retain(json& want, const json& have, const std::vector<std::string>& tokens, size_t i,
            bool keep_member) {
  const std::string& token = tokens[i];
  const bool last = i + 1 == tokens.size();
  if (token == "*") {
    if (!want.is_array()) return;
    static const json kNone;
    for (size_t k = 0; k < want.size(); ++k) {
      const bool in_member = have.is_array() && k < have.size();
      if (last) {
        // An element the member lacks stays: a list keeps its length.
        if (in_member && (keep_member || want[k].is_null())) want[k] = have[k];
      } else if (in_member || keep_member) {
        Retain(want[k], in_member ? have[k] : kNone, tokens, i + 1, keep_member);
      }
    }
    return;
  }
  if (want.is_array()) {
    // A numeric token addresses a list element (RFC 6901).
    if (token.empty() || token.size() > 9 ||
        token.find_first_not_of("0123456789") != std::string::npos) {
      return;
    }
    const size_t k = std::stoul(token);
    if (!have.is_array() || k >= want.size() || k >= have.size()) return;
    if (last) {
      if (keep_member || want[k].is_null()) want[k] = have[k];
    } else {
      Retain(want[k], have[k], tokens, i + 1, keep_member);
    }
    return;
  }
  if (!want.is_object()) return;
  const bool has = have.is_object() && have.contains(token);
  if (last) {
    if (has) {
      if (keep_member || !want.is_object() || !want.contains(token) || want[token].is_null()) {
        want[token] = have[token];
      }
    } else if (keep_member) {
      want.erase(token);
    }
    return;
  }
  if (!has) {
    // Nothing of the member's below here: with keep_member, what the template sets there
    // must not be written either.
    static const json kNone;
    if (keep_member && want.contains(token)) Retain(want[token], kNone, tokens, i + 1, true);
    return;
  }
  if (!want.contains(token)) {
    if (!keep_member) return;  // fill: nothing of the template's to complete here
    want[token] = json::object();
    Retain(want[token], have[token], tokens, i + 1, keep_member);
    if (want[token].empty()) want.erase(token);
    return;
  }
  Retain(want[token], have[token], tokens, i + 1, keep_member);
}

}  // namespace

json RetainMemberValues(const json& desired, const json& live,
                        const std::vector<std::string>& paths,
                        const std::vector<std::string>& fill_paths) {
  json out = desired;
  std::vector<std::string> tokens;
  for (const auto* list : {&fill_paths, &paths}) {
    const bool keep_member = list == &paths;
    for (const std::string& p : *list) {
      if (!api::ParseRetainedPath(p, &tokens).empty()) continue;
      Retain(out, live, tokens, 0, keep_member);
    }
  }
  return out;
}

}  // namespace meridian::sync
