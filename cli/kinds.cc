#include "cli/kinds.h"

#include <algorithm>
#include <cctype>

namespace meridian::cli {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::vector<KindInfo> BuildKinds() {
  std::vector<KindInfo> kinds;
  for (const api::ServedKind& served : api::ServedKinds()) kinds.push_back(KindInfo{served});
  return kinds;
}

}  // namespace

std::string KindInfo::ApiPrefix() const {
  return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
}

std::string KindInfo::GroupResource() const {
  return group.empty() ? plural : plural + "." + group;
}

std::string KindInfo::GroupSingular() const {
  return group.empty() ? singular : singular + "." + group;
}

const std::vector<KindInfo>& KnownKinds() {
  static const std::vector<KindInfo> kKinds = BuildKinds();
  return kKinds;
}

const KindInfo* ResolveType(const std::string& name) {
  std::string n = Lower(name);
  std::string group;
  if (size_t dot = n.find('.'); dot != std::string::npos) {
    group = n.substr(dot + 1);
    n = n.substr(0, dot);
  }
  for (const KindInfo& k : KnownKinds()) {
    if (!group.empty() && group != k.group) continue;
    if (Lower(k.kind) == n || k.plural == n || k.singular == n ||
        std::find(k.short_names.begin(), k.short_names.end(), n) != k.short_names.end()) {
      return &k;
    }
  }
  return nullptr;
}

const KindInfo* ResolveManifestKind(const std::string& api_version, const std::string& kind) {
  for (const KindInfo& k : KnownKinds()) {
    if (k.ApiVersion() == api_version && k.kind == kind) return &k;
  }
  return nullptr;
}

std::string KnownTypesList() {
  std::string out;
  for (const KindInfo& k : KnownKinds()) {
    if (!out.empty()) out += ", ";
    out += k.plural;
    if (!k.short_names.empty()) out += " (" + k.short_names[0] + ")";
  }
  return out;
}

}  // namespace meridian::cli
