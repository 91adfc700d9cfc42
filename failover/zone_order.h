// Per-zone figures in the order a member declares its zones (spec.zones), shared by the health
// and the capacity cores so both report zones the same way. Pure, header-only.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace meridian::failover {

// `by_name`'s values in `declared` order (a zone declared twice appears once; zones not
// declared are left out), or in name order when nothing is declared.
template <typename Zone>
std::vector<Zone> InDeclaredOrder(std::map<std::string, Zone> by_name,
                                  const std::vector<std::string>& declared) {
  std::vector<Zone> out;
  if (declared.empty()) {
    for (auto& [name, z] : by_name) out.push_back(std::move(z));
    return out;
  }
  for (const std::string& name : declared) {
    if (auto it = by_name.find(name); it != by_name.end()) {
      out.push_back(std::move(it->second));
      by_name.erase(it);
    }
  }
  return out;
}

}  // namespace meridian::failover
