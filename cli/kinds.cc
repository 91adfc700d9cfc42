#include "cli/kinds.h"

#include <algorithm>
#include <cctype>

#include "api/types.h"

namespace meridian::cli {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::vector<KindInfo> BuildKinds() {
  std::vector<KindInfo> kinds;
  for (const api::ResourceDescriptor& r : api::FederationResources()) {
    KindInfo k;
    k.group = api::kGroup;
    k.version = api::kVersion;
    k.kind = r.kind;
    k.plural = r.plural;
    k.singular = r.singular;
    k.short_names = r.short_names;
    k.namespaced = r.namespaced;
    k.columns = r.columns;
    kinds.push_back(std::move(k));
  }
  KindInfo ns;
  ns.version = "v1";
  ns.kind = "Namespace";
  ns.plural = "namespaces";
  ns.singular = "namespace";
  ns.short_names = {"ns"};
  ns.namespaced = false;
  ns.columns = {{"STATUS", "string", ".status.phase", "Phase"},
                {"AGE", "date", ".metadata.creationTimestamp", "Age"}};
  kinds.push_back(std::move(ns));
  KindInfo secret;
  secret.version = "v1";
  secret.kind = "Secret";
  secret.plural = "secrets";
  secret.singular = "secret";
  secret.namespaced = true;
  secret.columns = {{"TYPE", "string", ".type", "Secret type"},
                    {"DATA", "count", ".data", "Number of data entries"},
                    {"AGE", "date", ".metadata.creationTimestamp", "Age"}};
  kinds.push_back(std::move(secret));
  // What controllers did to an object and why (`fedctl describe` shows an object's last ones).
  KindInfo event;
  event.version = "v1";
  event.kind = "Event";
  event.plural = "events";
  event.singular = "event";
  event.short_names = {"ev"};
  event.namespaced = true;
  event.columns = {{"LAST SEEN", "date", ".lastTimestamp", "When it last happened"},
                   {"TYPE", "string", ".type", "Normal or Warning"},
                   {"REASON", "string", ".reason", "Why"},
                   {"OBJECT", "string", ".involvedObject.name", "What it is about"},
                   {"MESSAGE", "string", ".message", "What happened"}};
  kinds.push_back(std::move(event));
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
