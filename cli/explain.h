// fedctl explain fw NAME [--cluster C]: the whole placement decision of a FederatedWorkload,
// read from its status.explanation (written by the placement controller): one line per
// cluster with its primary reason, then the overflow candidates in order, then what is
// unplaced or unmet. `fedctl describe fw` shows the compact form (DescribeWorkload).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "cli/client.h"

namespace meridian::cli {

// The explanation of `workload` as text; with `cluster` not empty, only that cluster's line
// (and the overflow lines naming it). Empty `*error` on success; otherwise why (no status
// yet, no such cluster in the explanation).
std::string PrintExplanation(const nlohmann::json& workload, const std::string& cluster,
                             std::string* error);

// Fetches the workload and prints PrintExplanation to `out`; errors to `err`. Exit code.
int RunExplain(ResourceClient& client, const std::string& type, const std::string& name,
               const std::string& ns, const std::string& cluster, std::ostream& out,
               std::ostream& err);

}  // namespace meridian::cli
