// Custom resource definitions on members, pure core: before a custom object (a kind a
// CustomResourceDefinition serves in the federation, federation-apiserver/crd/) is written to
// a member, that member must serve its kind — hold the CRD, Established. This says what the
// member's CRD should be, and what to do given the member's copy. No I/O; thread-safe.
//
// Decisions (docs/design.md, "Custom resources on members"):
//   - the member's CRD is the federation's spec, labelled managed-by=meridian, with the
//     rendered-hash annotation; it is created when absent and replaced when Meridian's copy
//     differs from it (hash), never rewritten when unchanged;
//   - a CRD of that name the member already has and Meridian did not create is used as it is
//     when it serves the same thing (group, kind, plural, scope, and for every version the
//     federation serves: served, and the same schema); otherwise it is refused, never
//     overwritten (other teams' objects on that member depend on it): a per-member error
//     naming the first difference;
//   - objects are written only once the member reports the CRD Established (its condition);
//   - Meridian never deletes a member's CRD (deleting it deletes every object of its kind
//     there, Meridian's or not): removing placed objects removes the objects only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace meridian::sync {

// The CRD `federation_crd` (as the federation stores it) as a member should hold it:
// apiVersion, kind, metadata.name, the managed-by label, the rendered-hash annotation, spec.
nlohmann::json MemberDefinition(const nlohmann::json& federation_crd);

// What to do with the member's copy `live` (null: the member has none) of `desired`
// (MemberDefinition).
struct DefinitionStep {
  enum Action {
    kCreate,   // absent
    kReplace,  // Meridian's, out of date: update to `desired` (CAS on live's resourceVersion)
    kWait,     // as wanted, not Established yet
    kReady,    // as wanted and Established: objects may be written
    kRefuse,   // the member's own CRD, serving something else: `why`
  } action = kCreate;
  std::string why;
};
DefinitionStep DecideDefinition(const nlohmann::json& live, const nlohmann::json& desired);

// Whether the CRD's status has condition Established=True.
bool DefinitionEstablished(const nlohmann::json& crd);

// "" when `live`'s spec serves what `desired`'s does (see the file comment), else the first
// difference ("spec.versions[v1].schema differs").
std::string DefinitionDifference(const nlohmann::json& live, const nlohmann::json& desired);

}  // namespace meridian::sync
