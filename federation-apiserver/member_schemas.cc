#include "federation-apiserver/member_schemas.h"

#include <algorithm>

namespace meridian::apiserver {
namespace {

using nlohmann::json;

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

void MemberSchemas::Set(const std::string& member, Entry entry) {
  std::lock_guard lock(mu_);
  for (const auto& [name, held] : members_) {
    if (held->schemas && entry.schemas && held->schemas != entry.schemas &&
        held->schemas->digest() == entry.schemas->digest()) {
      entry.schemas = held->schemas;  // one copy per distinct document
      break;
    }
  }
  members_[member] = std::make_shared<const Entry>(std::move(entry));
}

void MemberSchemas::Retain(const std::set<std::string>& members) {
  std::lock_guard lock(mu_);
  for (auto it = members_.begin(); it != members_.end();) {
    it = members.count(it->first) ? std::next(it) : members_.erase(it);
  }
}

std::shared_ptr<const MemberSchemas::Entry> MemberSchemas::Get(const std::string& member) const {
  std::lock_guard lock(mu_);
  auto it = members_.find(member);
  return it == members_.end() ? nullptr : it->second;
}

void MemberSchemas::SetRefreshRequester(std::function<void()> requester) {
  std::lock_guard lock(mu_);
  refresh_ = std::move(requester);
}

void MemberSchemas::RequestRefresh() const {
  // Called under the lock: the requester is cheap (a flag and a wake-up), and a fetcher that
  // stops (clearing it) then knows no call into it is still running.
  std::lock_guard lock(mu_);
  if (refresh_) refresh_();
}

MemberSchemas::Verdict MemberSchemas::ValidateTemplate(const json& tmpl, const std::string& path,
                                                       FieldErrors* errors) const {
  std::map<std::string, std::shared_ptr<const Entry>> members;
  {
    std::lock_guard lock(mu_);
    members = members_;
  }
  if (members.empty()) return Verdict::kNoMemberReached;
  if (!tmpl.is_object() || !tmpl.contains("apiVersion") || !tmpl.contains("kind") ||
      !tmpl["apiVersion"].is_string() || !tmpl["kind"].is_string()) {
    return Verdict::kUnchecked;
  }
  const std::string api_version = tmpl["apiVersion"].get<std::string>();
  const std::string kind = tmpl["kind"].get<std::string>();
  // Distinct schema sets serving the kind -> the members holding each.
  std::map<const api::OpenApiSchemas*, std::vector<std::string>> sets;
  bool any_kind = false;
  for (const auto& [name, entry] : members) {
    if (entry->schemas && entry->schemas->Has(api_version, kind)) {
      sets[entry->schemas.get()].push_back(name);
    }
    any_kind = any_kind || entry->any_kind;
  }
  if (sets.empty()) {
    if (any_kind) return Verdict::kUnchecked;
    std::vector<std::string> names;
    for (const auto& [name, entry] : members) names.push_back(name);
    errors->push_back({JoinPath(path, "kind"), "no member serves " + api_version + " " + kind +
                                                   " (members reached: " + JoinNames(names) +
                                                   "; a CRD created since is seen on the next "
                                                   "schema refresh, requested now)"});
    RequestRefresh();
    return Verdict::kUnknownKind;
  }
  // Each distinct problem once; one that not every serving member has names its members.
  std::vector<std::pair<FieldError, std::vector<std::string>>> found;
  size_t serving = 0;
  for (const auto& [set, names] : sets) {
    serving += names.size();
    FieldErrors e;
    set->Validate(tmpl, path, &e);
    for (FieldError& fe : e) {
      auto it =
          std::find_if(found.begin(), found.end(), [&](const auto& f) { return f.first == fe; });
      if (it == found.end()) {
        found.push_back({std::move(fe), names});
      } else {
        it->second.insert(it->second.end(), names.begin(), names.end());
      }
    }
  }
  for (auto& [fe, names] : found) {
    if (names.size() < serving) fe.message += " (in the schema of " + JoinNames(names) + ")";
    errors->push_back(std::move(fe));
  }
  return Verdict::kChecked;
}

bool SchemaFetchDue(const MemberSchemas::Entry* entry, const std::string& version_now,
                    Timestamp now, const SchemaFetchTimes& times, bool forced,
                    Timestamp last_failure) {
  if (last_failure != Timestamp{} && now - last_failure < times.retry_after) return false;
  if (entry == nullptr) return true;
  if (forced && now - entry->fetched >= times.min_interval) return true;
  if (!version_now.empty() && version_now != entry->version) return true;
  return now - entry->fetched >= times.refresh_every;
}

}  // namespace meridian::apiserver
