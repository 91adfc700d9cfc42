#include "residency/internal/member_audit_cache.h"

#include <cerrno>
#include <cstdlib>

namespace meridian::residency::internal {
namespace {

// Whether resourceVersion `a` is older than `b`. Kubernetes calls them opaque; every server
// Meridian talks to uses integers, and anything else is never called older.
bool OlderThan(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  char* end_a = nullptr;
  char* end_b = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(a.c_str(), &end_a, 10);
  const unsigned long long y = std::strtoull(b.c_str(), &end_b, 10);
  if (errno != 0 || *end_a != '\0' || *end_b != '\0') return false;
  return x < y;
}

}  // namespace

std::string AuditObjectKey(const sync::GroupVersionResource& gvr, const std::string& ns,
                           const std::string& name) {
  return gvr.group + "/" + gvr.resource + "/" + ns + "/" + name;
}

MemberAuditCache::MemberAuditCache(std::vector<AuditWatchSpec> specs, Notify notify)
    : specs_(std::move(specs)), notify_(std::move(notify)), in_spec_(specs_.size()) {}

MemberAuditCache::~MemberAuditCache() {
  for (auto& w : watches_) {
    if (w) w->Stop();
  }
}

StatusOr<std::shared_ptr<MemberAuditCache>> MemberAuditCache::Open(
    sync::MemberClient& client, std::vector<AuditWatchSpec> specs,
    const sync::WatchOptions& options, Notify notify) {
  std::shared_ptr<MemberAuditCache> cache(
      new MemberAuditCache(std::move(specs), std::move(notify)));
  MemberAuditCache* c = cache.get();  // the watches die in its destructor, before it
  sync::WatchOptions o = options;
  o.on_error = [c](const Status& s) { c->OnError(s); };
  for (size_t i = 0; i < c->specs_.size(); ++i) {
    const AuditWatchSpec& spec = c->specs_[i];
    auto watch = client.Watch(
        spec.gvr, spec.ns, spec.label_selector, /*from_resource_version=*/"",
        [c, i](const sync::MemberWatchEvent& e) { c->OnEvent(i, e); }, o);
    if (!watch.ok()) {
      if (watch.status().code() == StatusCode::kNotFound) continue;  // not served: holds none
      return watch.status();
    }
    c->watches_.push_back(std::move(watch).value());
  }
  return cache;
}

void MemberAuditCache::OnEvent(size_t spec, const sync::MemberWatchEvent& e) {
  MemberObject o = MemberObjectFrom(specs_[spec].gvr, e.object);
  const std::string key = AuditObjectKey(o.resource, o.ns, o.name);
  {
    std::lock_guard lock(mu_);
    std::set<std::string>& mine = in_spec_[spec];
    if (e.type == sync::MemberEventType::kDeleted) {
      if (mine.erase(key) == 0) return;
      auto it = objects_.find(key);
      if (it != objects_.end() && --it->second.specs <= 0) objects_.erase(it);
    } else {
      auto [it, added] = objects_.try_emplace(key);
      Held& held = it->second;
      if (mine.insert(key).second) ++held.specs;
      // An older state than one held (Observe'd from Meridian's own write) changes nothing.
      if (!added && OlderThan(o.resource_version, held.object.resource_version)) return;
      held.object = std::move(o);
    }
    changed_.insert(key);
  }
  if (notify_) notify_();
}

void MemberAuditCache::OnError(const Status& status) {
  {
    std::lock_guard lock(mu_);
    if (!broken_.empty()) return;
    broken_ = "watch broken (unverified until relisted): " + status.ToString();
  }
  if (notify_) notify_();
}

void MemberAuditCache::Observe(const sync::GroupVersionResource& gvr,
                               const nlohmann::json& object) {
  MemberObject o = MemberObjectFrom(gvr, object);
  const std::string key = AuditObjectKey(o.resource, o.ns, o.name);
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end() || OlderThan(o.resource_version, it->second.object.resource_version)) {
    return;
  }
  it->second.object = std::move(o);
  changed_.insert(key);
}

std::vector<std::string> MemberAuditCache::TakeChanged() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out(changed_.begin(), changed_.end());
  changed_.clear();
  return out;
}

std::optional<MemberObject> MemberAuditCache::Find(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return std::nullopt;
  return it->second.object;
}

void MemberAuditCache::ForEach(
    const std::function<void(const std::string&, const MemberObject&)>& f) const {
  std::lock_guard lock(mu_);
  for (const auto& [key, held] : objects_) f(key, held.object);
}

size_t MemberAuditCache::size() const {
  std::lock_guard lock(mu_);
  return objects_.size();
}

std::string MemberAuditCache::broken() const {
  std::lock_guard lock(mu_);
  return broken_;
}

}  // namespace meridian::residency::internal
