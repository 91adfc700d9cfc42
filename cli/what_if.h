// fedctl what-if: "what happens to placement if this zone / region / cluster fails?"
//
// Reads the federation's objects (MemberClusters, Topologies, ResidencyPolicies,
// FederatedWorkloads, FailoverDrills) through a ResourceClient, runs the pure
// scheduling::WhatIf (scheduling/placement_inputs.h: the same engine and inputs the placement
// controller uses, running live drills included), and prints, for every workload whose
// placement would change, the replicas before and after per cluster and per region and what
// would block full placement (residency, capacity, ... with the unplaced count). Only GETs
// and LISTs: it changes nothing.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "cli/client.h"
#include "common/clock.h"
#include "common/status.h"
#include "scheduling/placement_inputs.h"

namespace meridian::cli {

// Lists everything placement reads. Errors: a list failed (message names the kind and the
// server's answer) or an object does not decode (names the object and the field).
StatusOr<scheduling::PlacementInputs> ReadPlacementInputs(ResourceClient& client);

// The report for `answer` (pure; see the file comment for what it holds). `failures` are
// printed in the header line.
std::string FormatWhatIf(const std::vector<api::DrillTarget>& failures,
                         const scheduling::WhatIfAnswer& answer);

// The whole command: parses `fail_args` ("zone=eu-west-1a", ...), reads, computes at `now`,
// prints to `out`. Returns the exit code: 0 answered, 1 the server could not be read,
// 2 bad arguments or a target that matches no member (named on `err`).
int RunWhatIf(ResourceClient& client, const std::vector<std::string>& fail_args, Timestamp now,
              std::ostream& out, std::ostream& err);

}  // namespace meridian::cli
