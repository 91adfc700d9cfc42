#include "residency/internal/member_audit_cache.h"

#include <cerrno>
#include <cstdlib>
#include <set>

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

MemberAuditCache::MemberAuditCache(Notify notify) : notify_(std::move(notify)) {}

MemberAuditCache::~MemberAuditCache() {
  std::vector<sync::MemberWatch*> watches;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, s] : specs_) {
      if (s.watch) watches.push_back(s.watch.get());
    }
  }
  for (sync::MemberWatch* w : watches) w->Stop();  // not under mu_: Stop waits for callbacks
}

Status MemberAuditCache::Watch(sync::MemberClient& client, const std::vector<AuditWatchSpec>& specs,
                               const sync::WatchOptions& options) {
  std::lock_guard serial(watch_mu_);
  const std::set<AuditWatchSpec> wanted(specs.begin(), specs.end());
  std::vector<AuditWatchSpec> unwanted, unlisted;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, s] : specs_) {
      if (!wanted.count(key)) unwanted.push_back(key);
    }
  }
  for (const AuditWatchSpec& spec : unwanted) Drop(spec);
  for (const AuditWatchSpec& wanted_spec : wanted) {
    Spec* s = nullptr;
    {
      std::lock_guard lock(mu_);
      auto [it, added] = specs_.try_emplace(wanted_spec);
      if (!added && it->second.listed) continue;
      s = &it->second;
      s->spec = wanted_spec;
    }
    sync::WatchOptions o = options;
    o.on_error = [this, s](const Status& st) { OnError(*s, st); };
    o.on_connected = [this, s] { OnConnected(*s); };
    auto watch = client.Watch(
        s->spec.gvr, s->spec.ns, s->spec.label_selector, /*from_resource_version=*/"",
        [this, s](const sync::MemberWatchEvent& e) { OnEvent(*s, e); }, o);
    if (!watch.ok() && watch.status().code() != StatusCode::kNotFound) {
      Drop(wanted_spec);  // what a partial list delivered goes with it
      return watch.status();
    }
    {
      std::lock_guard lock(mu_);
      s->listed = true;  // a resource the member does not serve holds nothing
      if (watch.ok()) s->watch = std::move(watch).value();
    }
    if (notify_) notify_();
  }
  return Status::Ok();
}

void MemberAuditCache::Drop(const AuditWatchSpec& spec) {
  std::unique_ptr<sync::MemberWatch> watch;
  {
    std::lock_guard lock(mu_);
    auto it = specs_.find(spec);
    if (it == specs_.end()) return;
    watch = std::move(it->second.watch);
  }
  if (watch) watch->Stop();  // no callback of it runs after this
  {
    std::lock_guard lock(mu_);
    auto it = specs_.find(spec);
    for (const PackedKey* key : it->second.keys) {
      auto held = objects_.find(*key);
      Changed(packer_.KeyText(*key));
      if (held != objects_.end() && --held->second.specs <= 0) Erase(held);
    }
    specs_.erase(it);
  }
  if (notify_) notify_();
}

bool MemberAuditCache::Covers(const std::vector<AuditWatchSpec>& specs) const {
  const std::set<AuditWatchSpec> wanted(specs.begin(), specs.end());
  std::lock_guard lock(mu_);
  if (specs_.size() != wanted.size()) return false;
  for (const AuditWatchSpec& spec : wanted) {
    auto it = specs_.find(spec);
    if (it == specs_.end() || !it->second.listed) return false;
  }
  return true;
}

std::string MemberAuditCache::Down() const {
  std::lock_guard lock(mu_);
  for (const auto& [key, s] : specs_) {
    if (!s.down.empty()) return s.down;
  }
  return "";
}

void MemberAuditCache::OnEvent(Spec& spec, const sync::MemberWatchEvent& e) {
  MemberObject o = MemberObjectFrom(spec.spec.gvr, e.object);
  {
    std::lock_guard lock(mu_);
    const std::optional<PackedKey> key = packer_.FindKey(o);
    auto it = key ? objects_.find(*key) : objects_.end();
    if (e.type == sync::MemberEventType::kDeleted) {
      if (it == objects_.end() || spec.keys.erase(&it->first) == 0) return;
      Changed(packer_.KeyText(it->first));
      if (--it->second.specs <= 0) Erase(it);
    } else {
      const bool added = it == objects_.end();
      if (added) it = objects_.try_emplace(packer_.AcquireKey(o)).first;
      Held& held = it->second;
      if (spec.keys.insert(&it->first).second) ++held.specs;
      // An older state than one held (Observe'd from Meridian's own write) changes nothing.
      if (!added && OlderThan(o.resource_version, held.object.resource_version)) return;
      if (!added) packer_.Release(held.object);
      held.object = packer_.Pack(o);
      Changed(packer_.KeyText(it->first));
    }
  }
  if (notify_) notify_();
}

void MemberAuditCache::Erase(Objects::iterator it) {
  packer_.Release(it->second.object);
  packer_.ReleaseKey(it->first);
  objects_.erase(it);
}

void MemberAuditCache::Changed(std::string key) {
  if (!none_taken_) changed_.insert(std::move(key));
}

void MemberAuditCache::OnError(Spec& spec, const Status& status) {
  {
    std::lock_guard lock(mu_);
    if (!spec.down.empty()) return;
    spec.down = "watch " + spec.spec.gvr.GroupResource() +
                (spec.spec.ns.empty() ? "" : " in " + spec.spec.ns) +
                " down (unverified until it resumes): " + status.ToString();
  }
  if (notify_) notify_();
}

void MemberAuditCache::OnConnected(Spec& spec) {
  {
    std::lock_guard lock(mu_);
    if (spec.down.empty()) return;
    spec.down.clear();
  }
  if (notify_) notify_();
}

void MemberAuditCache::Observe(const sync::GroupVersionResource& gvr,
                               const nlohmann::json& object) {
  MemberObject o = MemberObjectFrom(gvr, object);
  std::lock_guard lock(mu_);
  const std::optional<PackedKey> key = packer_.FindKey(o);
  auto it = key ? objects_.find(*key) : objects_.end();
  if (it == objects_.end() || OlderThan(o.resource_version, it->second.object.resource_version)) {
    return;
  }
  packer_.Release(it->second.object);
  it->second.object = packer_.Pack(o);
  Changed(packer_.KeyText(it->first));
}

std::vector<std::string> MemberAuditCache::TakeChanged() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  if (none_taken_) {
    none_taken_ = false;
    out.reserve(objects_.size());
    for (const auto& [key, held] : objects_) out.push_back(packer_.KeyText(key));
    return out;
  }
  out.assign(changed_.begin(), changed_.end());
  changed_.clear();
  return out;
}

std::optional<MemberObject> MemberAuditCache::Find(const std::string& key) const {
  std::lock_guard lock(mu_);
  const std::optional<PackedKey> packed = packer_.FindKey(key);
  if (!packed) return std::nullopt;
  auto it = objects_.find(*packed);
  if (it == objects_.end()) return std::nullopt;
  return packer_.Unpack(it->first, it->second.object);
}

void MemberAuditCache::ForEach(
    const std::function<void(const std::string&, const MemberObject&)>& f) const {
  std::lock_guard lock(mu_);
  for (const auto& [key, held] : objects_)
    f(packer_.KeyText(key), packer_.Unpack(key, held.object));
}

size_t MemberAuditCache::size() const {
  std::lock_guard lock(mu_);
  return objects_.size();
}

}  // namespace meridian::residency::internal
