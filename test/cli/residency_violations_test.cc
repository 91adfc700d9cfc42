// fedctl residency violations, pure part: open violations from the residency-audit
// controller's Events (cli/residency_violations.h).
#include "cli/residency_violations.h"

#include <gtest/gtest.h>

#include <sstream>

namespace meridian::cli {
namespace {

using nlohmann::json;

json Event(const std::string& kind, const std::string& policy, const std::string& reason,
           const std::string& message, const std::string& first, const std::string& last) {
  return {{"reason", reason},
          {"message", message},
          {"involvedObject", {{"kind", kind}, {"name", policy}}},
          {"firstTimestamp", first},
          {"lastTimestamp", last}};
}

TEST(ResidencyViolationsTest, OpenUnlessResolvedLaterAndUnverifiedUntilTheNextScanNews) {
  const std::string rogue = "member us-east-1 (us) holds Deployment payments/rogue (...)";
  const std::string gone = "member us-east-1 (us) holds Deployment payments/gone (...)";
  const std::string back = "member us-east-1 (us) holds Deployment payments/back (...)";
  const std::string down = "member ap-south-1: connection refused (cannot be audited: ...)";
  json list = {
      {"items", json::array({
                    Event("ResidencyPolicy", "eu-only", "ResidencyViolation", rogue, "T10", "T10"),
                    Event("ResidencyPolicy", "eu-only", "ResidencyViolation", gone, "T11", "T11"),
                    Event("ResidencyPolicy", "eu-only", "ResidencyViolationResolved",
                          "gone: " + gone, "T12", "T12"),
                    // Resolved once, then found again: open.
                    Event("ResidencyPolicy", "eu-only", "ResidencyViolation", back, "T01", "T13"),
                    Event("ResidencyPolicy", "eu-only", "ResidencyViolationResolved",
                          "gone: " + back, "T05", "T05"),
                    Event("ResidencyPolicy", "eu-only", "ResidencyUnverified", down, "T09", "T14"),
                    // Not about a ResidencyPolicy: ignored.
                    Event("FederatedWorkload", "eu-only", "ResidencyViolation", "x", "T10", "T10"),
                })}};
  ResidencyViolationsAnswer a = OpenResidencyViolations(list);
  EXPECT_EQ(a.open, (std::vector<OpenResidencyViolation>{{"eu-only", back, "T01"},
                                                         {"eu-only", rogue, "T10"}}));
  EXPECT_EQ(a.unverified, (std::vector<OpenResidencyViolation>{{"eu-only", down, "T09"}}));
  std::ostringstream out;
  EXPECT_EQ(PrintResidencyViolations(a, out), 1);
  EXPECT_NE(out.str().find(rogue), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("UNVERIFIED eu-only: " + down), std::string::npos) << out.str();

  // Malformed or empty input: nothing open, exit 0.
  for (const json& bad : {json(), json::object(), json{{"items", 3}}, json{{"items", {1, "x"}}}}) {
    ResidencyViolationsAnswer none = OpenResidencyViolations(bad);
    std::ostringstream text;
    EXPECT_EQ(PrintResidencyViolations(none, text), 0);
    EXPECT_EQ(text.str(), "No residency violations.\n");
  }
}

}  // namespace
}  // namespace meridian::cli
