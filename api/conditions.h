// Kubernetes-style conditions on Meridian objects: one shared rule for every controller.
#pragma once

#include <string>
#include <vector>

#include "api/types.h"
#include "common/clock.h"

namespace meridian::api {

// The condition of `type`, or nullptr.
const Condition* FindCondition(const std::vector<Condition>& conditions, const std::string& type);

// Sets (adds or replaces) the condition of c.type. lastTransitionTime stays as it was when the
// status did not change, and becomes `now` when it did (or the condition is new).
void SetCondition(std::vector<Condition>* conditions, Condition c, Timestamp now);

}  // namespace meridian::api
