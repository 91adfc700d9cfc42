#include "api/conditions.h"

namespace meridian::api {

const Condition* FindCondition(const std::vector<Condition>& conditions, const std::string& type) {
  for (const Condition& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

void SetCondition(std::vector<Condition>* conditions, Condition c, Timestamp now) {
  for (Condition& existing : *conditions) {
    if (existing.type != c.type) continue;
    c.last_transition_time =
        existing.status == c.status ? existing.last_transition_time : FormatRfc3339(now);
    existing = std::move(c);
    return;
  }
  c.last_transition_time = FormatRfc3339(now);
  conditions->push_back(std::move(c));
}

}  // namespace meridian::api
