// Seed objects: what a cluster's `seed:` entries (config.h SeedSpec) create at start-up, so a
// fleet of 100 members × 10,000 objects is ready in seconds instead of the ~20 min its
// million HTTP creates would take.
//
// SeedObject is pure: object number `index` of a seed, as a client would POST it. SeedCluster
// is the shell: it resolves each seed's kind against the cluster's registry, creates the
// namespaces the seeds name that do not exist yet, then every object through the cluster's
// ObjectService::Create — the path an API POST takes after the HTTP layer (validation,
// defaulting, the storage round trip, the store's watches), so a seeded object is stored and
// announced exactly as one created over HTTP; only the round trip is skipped. It is the same
// path bench/membersim/scale_bench.cc times (~20,000 creates/s).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "apimachinery/object_service.h"
#include "common/status.h"
#include "membersim/config.h"

namespace meridian::membersim {

// Object number `index` of `seed` in namespace `ns` ("" for a cluster-scoped kind): apiVersion
// and kind, metadata.name and labels, and `seed.fields` as the rest, with "{i}" expanded in
// the name, label values and every string of the fields (a Deployment's selector of its own).
nlohmann::json SeedObject(const SeedSpec& seed, const std::string& ns, int64_t index);

// Creates every object `seeds` describe in the cluster behind `service`, in order. Returns how
// many objects were created (namespaces not counted). Errors, kInvalidArgument naming the seed
// as "sim.yaml:14:9: clusters[2].seed[0].kind: ..." (and the object for API refusals): a
// kind membersim does not serve in that apiVersion, a namespace on a cluster-scoped kind,
// an object the API refuses (with its message; an existing name too, as two seeds making the
// same name is a config mistake). Objects created before an error stay (start-up stops).
// Thread-safe for distinct services (ObjectService is thread-safe).
StatusOr<int64_t> SeedCluster(const std::vector<SeedSpec>& seeds,
                              apimachinery::ObjectService& service);

}  // namespace meridian::membersim
