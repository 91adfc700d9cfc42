// The schemas the members serve, for FederatedWorkload admission (issue 16): each member's
// /openapi/v2 document, fetched at join and refreshed, compiled (api/openapi_schema.h) and kept
// in memory in the federation-apiserver process.
//
// Why in memory and not in the store: the schemas are derived data that can be fetched again
// at any time, a compiled set is a few hundred KB per Kubernetes version (too big for an object
// users list, and rewriting it would churn the revision log and every watch), and admission
// reads it on every FederatedWorkload write, so a lookup must not be a store read. Members of
// one version share one compiled copy (by digest), so memory grows with the number of distinct
// versions, not members. The cost: an API-only replica (--controllers none) has no member
// schemas and validates with the built-in set, as a fresh process does until its first fetch.
//
// Admission (MemberSchemas::ValidateTemplate):
//   - no member reached yet: kNoMemberReached, the caller falls back to the built-in set;
//   - some reached member serves the kind: the template is checked against every distinct
//     schema of the members that serve it (a field an older member does not know is refused:
//     the template goes to every member); an error only some members give names them;
//   - no reached member serves it: refused on spec.template.kind ("no member serves
//     widgets.example.com/v1 Widget"), and a refresh is requested, so a CRD created a moment
//     ago is seen within one fetch. A member whose document carries "x-meridian-any-kind"
//     (membersim, which stores any kind) makes such a kind accepted unchecked instead.
//
// The fetcher (federation-apiserver/member_schema_fetcher.h, controller `member-schemas`)
// fetches a member's document
// when it has none (a join), when the member's version (discovery, cached by the client)
// differs from the one fetched, when `refresh_every` has passed, or on a requested refresh;
// a failed fetch is retried after `retry_after`. No hot polling: between those, nothing is
// sent to the member. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "api/openapi_schema.h"
#include "common/clock.h"
#include "common/field_error.h"

namespace meridian::apiserver {

class MemberSchemas {
 public:
  struct Entry {
    std::string version;  // the member's gitVersion when fetched
    Timestamp fetched{};
    std::shared_ptr<const api::OpenApiSchemas> schemas;
    bool any_kind = false;  // the document says the member also stores kinds without schema
  };
  enum class Verdict { kNoMemberReached, kChecked, kUnchecked, kUnknownKind };

  // Records `member`'s schemas (replacing earlier ones); an equal compiled set already held
  // for another member is shared.
  void Set(const std::string& member, Entry entry);
  // Drops every member not in `members` (they left the federation).
  void Retain(const std::set<std::string>& members);
  // The member's entry, or null.
  std::shared_ptr<const Entry> Get(const std::string& member) const;

  // Checks `tmpl` (a FederatedWorkload's spec.template; paths under `path`) as the header
  // says, appending problems to `errors`. A template without a string apiVersion and kind is
  // left to the codec: kUnchecked.
  Verdict ValidateTemplate(const nlohmann::json& tmpl, const std::string& path,
                           FieldErrors* errors) const;

  // Asks the fetcher for a pass soon (set by the fetcher; a no-op without one). Any thread.
  void RequestRefresh() const;
  void SetRefreshRequester(std::function<void()> requester);

 private:
  mutable std::mutex mu_;  // guards members_, refresh_
  std::map<std::string, std::shared_ptr<const Entry>> members_;
  std::function<void()> refresh_;
};

struct SchemaFetchTimes {
  Duration refresh_every = std::chrono::minutes(10);  // periodic refetch (new CRDs)
  Duration min_interval = std::chrono::seconds(10);   // a requested refresh, at most this often
  Duration retry_after = std::chrono::seconds(30);    // after a failed fetch
};

// Whether a member's document is due: none yet, the version changed, `refresh_every` passed
// since the last fetch, or a refresh was requested (`forced`) at least `min_interval` after the
// last fetch (a stream of refused templates must not turn into polling) — but never sooner
// than `retry_after` after a failed attempt at `last_failure` (zero: none). Pure.
bool SchemaFetchDue(const MemberSchemas::Entry* entry, const std::string& version_now,
                    Timestamp now, const SchemaFetchTimes& times, bool forced,
                    Timestamp last_failure);

}  // namespace meridian::apiserver
