// `fedctl residency violations`: the residency violations the residency-audit controller
// (residency/audit_controller.h) has reported and not seen resolved, read from its
// Events on ResidencyPolicies. Pure: an EventList in, lines out.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace meridian::cli {

struct OpenResidencyViolation {
  std::string policy;
  std::string message;  // "member us-east-1 (us) holds Deployment payments/rogue (...)"
  std::string since;    // the Event's firstTimestamp
  friend bool operator==(const OpenResidencyViolation&, const OpenResidencyViolation&) = default;
};

struct ResidencyViolationsAnswer {
  std::vector<OpenResidencyViolation> open;        // by policy, then message
  std::vector<OpenResidencyViolation> unverified;  // members that could not be audited lately
};

// From the Events of namespace "default" (where Events of cluster-scoped objects live): a
// ResidencyViolation is open unless a ResidencyViolationResolved "gone: <message>" about the
// same policy is at least as recent (lastTimestamp); a ResidencyUnverified is listed when no
// later scan resolved or re-reported anything for that policy (best effort: Events are the
// record, and an aggregated Event keeps only its latest time).
ResidencyViolationsAnswer OpenResidencyViolations(const nlohmann::json& event_list);

// A table: POLICY SINCE VIOLATION, then the unverified members; "No residency violations."
// when there are none. Returns the exit code: 1 when anything is open or unverified, else 0.
int PrintResidencyViolations(const ResidencyViolationsAnswer& answer, std::ostream& out);

}  // namespace meridian::cli
