#include "apimachinery/resource_registry.h"

#include <algorithm>
#include <cctype>

namespace meridian::apimachinery {

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "widgets" -> "Widget", "policies" -> "Policy", "statuses" -> "Status".
std::string KindFromPlural(const std::string& plural) {
  std::string s = plural;
  if (s.size() > 3 && s.ends_with("ies")) {
    s = s.substr(0, s.size() - 3) + "y";
  } else if (s.size() > 4 && (s.ends_with("sses") || s.ends_with("ches") || s.ends_with("shes") ||
                              s.ends_with("xes") || s.ends_with("uses"))) {
    s = s.substr(0, s.size() - 2);
  } else if (s.size() > 1 && s.ends_with("s")) {
    s = s.substr(0, s.size() - 1);
  }
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

}  // namespace

ResourceInfo NamespaceResourceInfo() {
  ResourceInfo ns;
  ns.group = "";
  ns.version = "v1";
  ns.kind = "Namespace";
  ns.plural = "namespaces";
  ns.singular = "namespace";
  ns.short_names = {"ns"};
  ns.namespaced = false;
  ns.has_status = true;
  ns.name_validation = NameValidation::kDnsLabel;
  ns.field_labels = {"status.phase"};
  ns.printer_columns = {
      {"Status", "string", ".status.phase", "The phase of the namespace", "", 0},
      {"Age", "date", ".metadata.creationTimestamp", "", "", 0},
  };
  return ns;
}

Status ResourceRegistry::Add(ResourceInfo info) {
  if (info.version.empty() || info.kind.empty() || info.plural.empty()) {
    return InvalidArgumentError("resource " + info.GroupResource() +
                                ": version, kind and plural are required");
  }
  if (Find(info.group, info.version, info.plural) != nullptr) {
    return AlreadyExistsError("resource " + info.GroupResource() + " " + info.version +
                              " is already registered");
  }
  if (info.singular.empty()) info.singular = Lower(info.kind);
  resources_.push_back(std::move(info));
  return Status::Ok();
}

ResourceRegistry& ResourceRegistry::operator=(const ResourceRegistry& other) {
  if (this == &other) return *this;
  std::map<std::string, std::vector<std::unique_ptr<const ResourceInfo>>> dynamic;
  {
    std::shared_lock lock(other.mu_);
    for (const auto& [owner, infos] : other.dynamic_) {
      for (const auto& info : infos)
        dynamic[owner].push_back(std::make_unique<ResourceInfo>(*info));
    }
  }
  std::unique_lock lock(mu_);
  resources_ = other.resources_;
  fallback_ = other.fallback_;
  fallback_cluster_scoped_ = other.fallback_cluster_scoped_;
  for (auto& [owner, infos] : dynamic_) {
    for (auto& info : infos) retired_.push_back(std::move(info));
  }
  dynamic_ = std::move(dynamic);
  return *this;
}

Status ResourceRegistry::SetDynamic(const std::string& owner, std::vector<ResourceInfo> infos) {
  std::vector<std::unique_ptr<const ResourceInfo>> entries;
  for (ResourceInfo& info : infos) {
    if (info.version.empty() || info.kind.empty() || info.plural.empty()) {
      return InvalidArgumentError("resource " + info.GroupResource() +
                                  ": version, kind and plural are required");
    }
    for (const auto& e : entries) {
      if (e->group == info.group && e->version == info.version && e->plural == info.plural) {
        return AlreadyExistsError("resource " + info.GroupResource() + " " + info.version +
                                  " is named twice by " + owner);
      }
    }
    if (info.singular.empty()) info.singular = Lower(info.kind);
    entries.push_back(std::make_unique<ResourceInfo>(std::move(info)));
  }
  std::unique_lock lock(mu_);
  for (const auto& e : entries) {
    const bool builtin =
        std::any_of(resources_.begin(), resources_.end(), [&](const ResourceInfo& r) {
          return r.group == e->group && r.version == e->version && r.plural == e->plural;
        });
    std::string holder = builtin ? "a built-in resource" : "";
    for (const auto& [other, others] : dynamic_) {
      if (other == owner) continue;
      for (const auto& o : others) {
        if (o->group == e->group && o->version == e->version && o->plural == e->plural) {
          holder = other;
        }
      }
    }
    if (!holder.empty()) {
      return AlreadyExistsError("resource " + e->GroupResource() + " " + e->version +
                                " is already registered by " + holder);
    }
  }
  auto& slot = dynamic_[owner];
  for (auto& old : slot) retired_.push_back(std::move(old));
  slot = std::move(entries);
  return Status::Ok();
}

void ResourceRegistry::RemoveDynamic(const std::string& owner) {
  std::unique_lock lock(mu_);
  auto it = dynamic_.find(owner);
  if (it == dynamic_.end()) return;
  for (auto& old : it->second) retired_.push_back(std::move(old));
  dynamic_.erase(it);
}

std::string ResourceRegistry::DynamicOwner(const std::string& group, const std::string& version,
                                           const std::string& plural) const {
  std::shared_lock lock(mu_);
  for (const auto& [owner, infos] : dynamic_) {
    for (const auto& r : infos) {
      if (r->group == group && r->version == version && r->plural == plural) return owner;
    }
  }
  return "";
}

std::vector<const ResourceInfo*> ResourceRegistry::Dynamic() const {
  std::shared_lock lock(mu_);
  std::vector<const ResourceInfo*> out;
  for (const auto& [owner, infos] : dynamic_) {
    for (const auto& r : infos) out.push_back(r.get());
  }
  return out;
}

const ResourceInfo* ResourceRegistry::FindDynamicLocked(const std::string& group,
                                                        const std::string& version,
                                                        const std::string& plural) const {
  for (const auto& [owner, infos] : dynamic_) {
    for (const auto& r : infos) {
      if (r->group == group && r->version == version && r->plural == plural) return r.get();
    }
  }
  return nullptr;
}

const ResourceInfo* ResourceRegistry::Find(const std::string& group, const std::string& version,
                                           const std::string& plural) const {
  for (const ResourceInfo& r : resources_) {
    if (r.group == group && r.version == version && r.plural == plural) return &r;
  }
  std::shared_lock lock(mu_);
  return FindDynamicLocked(group, version, plural);
}

std::optional<ResourceInfo> ResourceRegistry::Resolve(const std::string& group,
                                                      const std::string& version,
                                                      const std::string& plural,
                                                      bool namespaced) const {
  if (const ResourceInfo* r = Find(group, version, plural)) {
    if (r->namespaced != namespaced && !(r->namespaced && !namespaced)) return std::nullopt;
    return *r;
  }
  if (!fallback_ || plural.empty() || version.empty()) return std::nullopt;
  // Without a namespace in the URL a generic resource is cluster-scoped only when the
  // fallback allows that; otherwise it is a namespaced one listed across all namespaces.
  ResourceInfo g;
  g.group = group;
  g.version = version;
  g.plural = plural;
  g.kind = KindFromPlural(plural);
  g.singular = Lower(g.kind);
  g.namespaced = namespaced || !fallback_cluster_scoped_;
  g.generic = true;
  g.strategic_merge_patch = false;  // a custom resource, as far as clients can tell
  return g;
}

const ResourceInfo* ResourceRegistry::FindKind(const std::string& group,
                                               const std::string& kind) const {
  for (const ResourceInfo& r : resources_) {
    if (r.group == group && r.kind == kind) return &r;
  }
  for (const ResourceInfo* r : Dynamic()) {
    if (r->group == group && r->kind == kind) return r;
  }
  return nullptr;
}

std::vector<std::string> ResourceRegistry::Groups() const {
  std::vector<std::string> out;
  for (const ResourceInfo& r : resources_) {
    if (std::find(out.begin(), out.end(), r.group) == out.end()) out.push_back(r.group);
  }
  for (const ResourceInfo* r : Dynamic()) {
    if (std::find(out.begin(), out.end(), r->group) == out.end()) out.push_back(r->group);
  }
  auto core = std::find(out.begin(), out.end(), "");
  if (core != out.end()) std::rotate(out.begin(), core, core + 1);
  return out;
}

std::vector<std::string> ResourceRegistry::Versions(const std::string& group) const {
  std::vector<std::string> out;
  for (const ResourceInfo& r : resources_) {
    if (r.group == group && std::find(out.begin(), out.end(), r.version) == out.end()) {
      out.push_back(r.version);
    }
  }
  for (const ResourceInfo* r : Dynamic()) {
    if (r->group == group && std::find(out.begin(), out.end(), r->version) == out.end()) {
      out.push_back(r->version);
    }
  }
  return out;
}

std::vector<const ResourceInfo*> ResourceRegistry::ResourcesOf(const std::string& group,
                                                               const std::string& version) const {
  std::vector<const ResourceInfo*> out;
  for (const ResourceInfo& r : resources_) {
    if (r.group == group && r.version == version) out.push_back(&r);
  }
  for (const ResourceInfo* r : Dynamic()) {
    if (r->group == group && r->version == version) out.push_back(r);
  }
  return out;
}

}  // namespace meridian::apimachinery
