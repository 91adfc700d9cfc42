// status.explanation of a FederatedWorkload: built from one decision per cluster (the
// placement controller), read back as one decision per cluster (events, drills, fedctl, the
// console), whatever its stored form (api/types.h: PlacementExplanation). Pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/types.h"

namespace meridian::api {

// The stored form of `decisions` (one per cluster, in fleet order): the clusters holding
// replicas each on its own line, in that order, without the sentence when it is already the
// first reason of the cluster's line in `placement` (status.placement says it once); every
// other cluster in the group of its reason and detail (groups in order of their first
// cluster; a sentence that does not begin "<cluster>: 0; " keeps a line of its own); past the
// bounds, counted in `omitted`. `overflow` is left empty.
PlacementExplanation GroupDecisions(std::vector<ClusterDecision> decisions,
                                    const std::vector<ClusterPlacement>& placement = {});

// Every cluster's decision with its whole sentence: `clusters` (an omitted sentence from the
// cluster's status.placement line), then each group's clusters with the sentence their own
// decision would have ("<cluster>: 0; <detail>").
std::vector<ClusterDecision> Decisions(const FederatedWorkloadStatus& status);

// The decision about `cluster`; nullopt when the explanation does not name it.
std::optional<ClusterDecision> DecisionFor(const FederatedWorkloadStatus& status,
                                           std::string_view cluster);

// Decisions() over the stored JSON of a status, for readers of raw objects (fedctl): objects
// {"cluster", "replicas", "reason", "message"}; malformed entries are skipped.
std::vector<nlohmann::json> DecisionsJson(const nlohmann::json& status);

}  // namespace meridian::api
