#include "membersim/seed.h"

#include <cctype>
#include <optional>
#include <set>
#include <string>

namespace meridian::membersim {
namespace {

using nlohmann::json;

// "sim.yaml:14:9: clusters[2].seed[0].kind: message"
Status SeedError(const SeedSpec& seed, const std::string& field, const std::string& message) {
  return InvalidArgumentError(seed.location + ": " + seed.path +
                              (field.empty() ? "" : "." + field) + ": " + message);
}

struct Resolved {
  apimachinery::ResourceInfo info;
  std::string ns;  // where its objects go ("" for cluster-scoped)
};

// The resource an API client would name for `kind`, as Kubernetes guesses it
// (meta.UnsafeGuessKindToResource): lower case, plural by the English rule.
std::string GuessResource(const std::string& kind) {
  std::string r;
  for (char c : kind) r += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (r.empty()) return r;
  if (r.back() == 's') return r + "es";
  if (r.back() == 'y' && r.size() > 1 && std::string("aeiou").find(r[r.size() - 2]) == std::string::npos) {
    return r.substr(0, r.size() - 1) + "ies";
  }
  return r + "s";
}

// A registered kind, else (membersim stores unregistered namespaced resources generically,
// PersistentVolumeClaims among them) the generic resource its guessed plural names — the
// one a POST to .../namespaces/NS/<plural> is stored under.
StatusOr<Resolved> Resolve(const SeedSpec& seed, const apimachinery::ResourceRegistry& registry) {
  const size_t slash = seed.api_version.find('/');
  const std::string group = slash == std::string::npos ? "" : seed.api_version.substr(0, slash);
  const std::string version =
      slash == std::string::npos ? seed.api_version : seed.api_version.substr(slash + 1);
  std::optional<apimachinery::ResourceInfo> info;
  if (const apimachinery::ResourceInfo* known = registry.FindKind(group, seed.kind)) {
    if (known->version != version) {
      return SeedError(seed, "apiVersion",
                       seed.kind + " is served as " + (group.empty() ? "" : group + "/") +
                           known->version + ", not " + seed.api_version);
    }
    info = *known;
  } else {
    info = registry.Resolve(group, version, GuessResource(seed.kind), /*namespaced=*/true);
    if (!info) {
      return SeedError(seed, "kind",
                       "membersim serves no kind \"" + seed.kind + "\" in " + seed.api_version);
    }
  }
  if (!info->namespaced && !seed.ns.empty()) {
    return SeedError(seed, "namespace", seed.kind + " is cluster-scoped: it has no namespace");
  }
  Resolved r{*info, seed.ns};
  if (info->namespaced && r.ns.empty()) r.ns = "default";
  return r;
}

// Expands "{i}" in every string of `value` (not in keys).
void ExpandStrings(json& value, int64_t index) {
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text.find("{i}") != std::string::npos) value = ExpandSeedPattern(text, index);
  } else if (value.is_structured()) {
    for (auto& item : value) ExpandStrings(item, index);
  }
}

}  // namespace

json SeedObject(const SeedSpec& seed, const std::string& ns, int64_t index) {
  json object = seed.fields;
  ExpandStrings(object, index);
  object["apiVersion"] = seed.api_version;
  object["kind"] = seed.kind;
  json metadata = {{"name", ExpandSeedPattern(seed.name, index)}};
  if (!ns.empty()) metadata["namespace"] = ns;
  if (!seed.labels.empty()) {
    json labels = json::object();
    for (const auto& [key, value] : seed.labels) labels[key] = ExpandSeedPattern(value, index);
    metadata["labels"] = std::move(labels);
  }
  object["metadata"] = std::move(metadata);
  return object;
}

StatusOr<int64_t> SeedCluster(const std::vector<SeedSpec>& seeds,
                              apimachinery::ObjectService& service) {
  const auto& registry = service.registry();
  // Resolve everything first: a mistake in the last seed is reported before anything is made.
  std::vector<Resolved> resolved;
  std::set<std::string> namespaces;
  for (const SeedSpec& seed : seeds) {
    MERIDIAN_ASSIGN_OR_RETURN(Resolved r, Resolve(seed, registry));
    if (!r.ns.empty()) namespaces.insert(r.ns);
    resolved.push_back(r);
  }
  const apimachinery::ResourceInfo* ns_info = registry.Find("", "v1", "namespaces");
  for (const std::string& ns : namespaces) {
    if (ns_info == nullptr || service.Get(*ns_info, "", ns).ok()) continue;
    json body = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
    auto created = service.Create(*ns_info, "", std::move(body));
    if (!created.ok() && created.error().code != 409) {
      return InvalidArgumentError("seed namespace \"" + ns + "\": " + created.error().message);
    }
  }
  int64_t made = 0;
  for (size_t s = 0; s < seeds.size(); ++s) {
    const SeedSpec& seed = seeds[s];
    for (int64_t i = 0; i < seed.count; ++i) {
      auto created =
          service.Create(resolved[s].info, resolved[s].ns, SeedObject(seed, resolved[s].ns, i));
      if (!created.ok()) {
        return SeedError(seed, "",
                         "object " + std::to_string(i) + " (" + ExpandSeedPattern(seed.name, i) +
                             "): " + created.error().message);
      }
      ++made;
    }
  }
  return made;
}

}  // namespace meridian::membersim
