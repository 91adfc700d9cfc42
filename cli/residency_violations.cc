#include "cli/residency_violations.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace meridian::cli {
namespace {

using nlohmann::json;

struct Seen {
  std::string first, last;
};

}  // namespace

ResidencyViolationsAnswer OpenResidencyViolations(const json& event_list) {
  // (policy, message) -> times, per reason.
  std::map<std::pair<std::string, std::string>, Seen> violations, resolved, unverified;
  std::map<std::string, std::string> latest_scan_news;  // policy -> latest lastTimestamp
  if (event_list.is_object() && event_list.contains("items") && event_list["items"].is_array()) {
    for (const json& e : event_list["items"]) {
      if (!e.is_object()) continue;
      const json involved = e.value("involvedObject", json::object());
      if (!involved.is_object() || involved.value("kind", "") != "ResidencyPolicy") continue;
      const std::string policy = involved.value("name", "");
      const std::string reason = e.value("reason", "");
      const std::string message = e.value("message", "");
      const Seen seen{e.value("firstTimestamp", ""), e.value("lastTimestamp", "")};
      if (reason == "ResidencyViolation") {
        violations[{policy, message}] = seen;
      } else if (reason == "ResidencyViolationResolved" && message.rfind("gone: ", 0) == 0) {
        resolved[{policy, message.substr(6)}] = seen;
      } else if (reason == "ResidencyUnverified") {
        unverified[{policy, message}] = seen;
        continue;
      } else {
        continue;
      }
      std::string& news = latest_scan_news[policy];
      news = std::max(news, seen.last);
    }
  }
  ResidencyViolationsAnswer answer;
  for (const auto& [key, seen] : violations) {
    auto r = resolved.find(key);
    if (r != resolved.end() && r->second.last >= seen.last) continue;
    answer.open.push_back({key.first, key.second, seen.first});
  }
  for (const auto& [key, seen] : unverified) {
    auto news = latest_scan_news.find(key.first);
    if (news != latest_scan_news.end() && news->second > seen.last) continue;
    answer.unverified.push_back({key.first, key.second, seen.first});
  }
  return answer;
}

int PrintResidencyViolations(const ResidencyViolationsAnswer& answer, std::ostream& out) {
  if (answer.open.empty() && answer.unverified.empty()) {
    out << "No residency violations.\n";
    return 0;
  }
  size_t width = 6;
  for (const auto& v : answer.open) width = std::max(width, v.policy.size());
  for (const auto& v : answer.unverified) width = std::max(width, v.policy.size());
  auto pad = [width](const std::string& s) { return s + std::string(width + 2 - s.size(), ' '); };
  if (!answer.open.empty()) {
    out << pad("POLICY") << "SINCE                 VIOLATION\n";
    for (const auto& v : answer.open) {
      out << pad(v.policy) << v.since
          << std::string(v.since.size() < 22 ? 22 - v.since.size() : 1, ' ') << v.message << "\n";
    }
  }
  for (const auto& v : answer.unverified) {
    out << "UNVERIFIED " << v.policy << ": " << v.message << "\n";
  }
  return 1;
}

}  // namespace meridian::cli
