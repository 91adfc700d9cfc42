#include "placement/residency.h"

namespace meridian::placement {
namespace {

std::string JoinOrNone(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

}  // namespace

AllowedJurisdictions AllowedJurisdictionsFor(const PlacementPolicy& policy,
                                             const std::vector<ResidencyRule>& rules) {
  AllowedJurisdictions a;
  auto restrict_to = [&a](const std::vector<std::string>& jurisdictions) {
    std::set<std::string> these(jurisdictions.begin(), jurisdictions.end());
    these.erase("");  // "no jurisdiction" never satisfies residency
    if (!a.bound) {
      a.bound = true;
      a.allowed = std::move(these);
      return;
    }
    std::set<std::string> both;
    for (const std::string& j : a.allowed) {
      if (these.count(j)) both.insert(j);
    }
    a.allowed = std::move(both);
  };
  if (policy.residency) restrict_to(policy.residency->jurisdictions);
  for (const ResidencyRule& rule : rules) restrict_to(rule.jurisdictions);
  return a;
}

std::string DescribeAllowed(const PlacementPolicy& policy,
                            const std::vector<ResidencyRule>& rules) {
  std::string out = "allowed ";
  bool first = true;
  auto add = [&](const std::string& who, const std::vector<std::string>& jurisdictions) {
    out += (first ? "by " : "; by ") + who + ": " + JoinOrNone(jurisdictions);
    first = false;
  };
  if (policy.residency) add("the workload", policy.residency->jurisdictions);
  for (const ResidencyRule& rule : rules) add(rule.name, rule.jurisdictions);
  if (first) return "not residency-bound";
  AllowedJurisdictions a = AllowedJurisdictionsFor(policy, rules);
  out +=
      "; intersection: " + JoinOrNone(std::vector<std::string>(a.allowed.begin(), a.allowed.end()));
  return out;
}

}  // namespace meridian::placement
