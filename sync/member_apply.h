// How Meridian writes what it owns in a member, pure core: the form a member API server
// stores an object in, a semantic "does the member still hold what Meridian set" test, the
// fields that differ, the last-applied record, and the three-way JSON merge patch that
// changes only Meridian's fields (kubectl apply's algorithm for merge patches).
//
// Why: a real kube-apiserver stores `cpu: 0.5` as "500m", `1024Mi` as "1Gi", "1.0" as "1",
// drops `args: []`, and its controllers add annotations (deployment.kubernetes.io/revision)
// and fields (Service clusterIP). An exact comparison and a full-object PUT therefore rewrite
// such objects forever and erase what others own. Here a member's answer is compared in
// canonical form, and an update is a merge patch computed from what Meridian applied last
// (kLastAppliedAnnotation) and what it wants now: fields owned by others are never in it,
// and fields Meridian stops setting are removed (null) only if Meridian set them before.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace meridian::sync {

// What Meridian applied last (the rendered object, compact JSON, without this annotation).
inline constexpr char kLastAppliedAnnotation[] = "federation.meridian.io/last-applied";

// `object` as a member API server stores the fields it sets: in built-in kinds (core, apps,
// batch, autoscaling, policy, networking.k8s.io, storage.k8s.io) every resource quantity
// (values of requests, limits, overhead, hard, capacity and allocatable maps, and sizeLimit),
// string or JSON number, in canonical form ("0.5" -> "500m", 1 -> "1", "1024Mi" -> "1Gi"); a
// value that is not a quantity is left for the server to reject. Everywhere: null values and
// empty lists removed (Go's omitempty drops them). Empty objects are kept: `emptyDir: {}` is
// meaningful.
nlohmann::json NormalizeForMember(const nlohmann::json& object);

// Whether `have` (the member's copy) holds every field of `want` with an equal value, where
// equal means: objects recursively (fields only in `have`, e.g. server defaults, ignored);
// arrays of the same length element by element; numbers by value (1 == 1.0); quantities (at
// the places NormalizeForMember knows) in canonical form, string or number; and a null, empty
// list or empty object in `want` matches an absent field.
bool SemanticallyContains(const nlohmann::json& want, const nlohmann::json& have);

// The dotted paths ("spec.template.spec.containers[0].image") where SemanticallyContains
// fails, in document order, at most `limit` of them.
std::vector<std::string> DifferingFields(const nlohmann::json& want, const nlohmann::json& have,
                                         size_t limit = 8);

// The RFC 7386 merge patch that turns `live` into an object semantically containing
// `desired` while touching nothing else:
//   - a field of `desired` absent from `live` or semantically different is set (objects are
//     patched field by field, arrays and scalars replaced whole);
//   - a field of `last_applied` (what Meridian applied before) absent from `desired` and
//     present in `live` is removed (null);
//   - every other field of `live` (set by the member or other controllers) is left alone.
// An empty object when nothing needs writing. `status` is never patched.
nlohmann::json ThreeWayMergePatch(const nlohmann::json& last_applied, const nlohmann::json& desired,
                                  const nlohmann::json& live);

// The kLastAppliedAnnotation record of `live`, parsed; nullopt when absent or not a JSON
// object (an object Meridian did not write, or one written before the record existed).
std::optional<nlohmann::json> LastApplied(const nlohmann::json& live);

// `rendered` with its kLastAppliedAnnotation set to its own compact JSON (without the
// annotation): the object Meridian creates or patches towards.
nlohmann::json WithLastApplied(const nlohmann::json& rendered);

// Member-owned fields Meridian keeps by rule, whatever the template says, for `kind` in
// `api_version` (core/v1 only): Service /spec/clusterIP, /spec/clusterIPs and
// /spec/healthCheckNodePort (allocated by the member; ports' nodePorts: see
// RetainServiceNodePorts); ServiceAccount /secrets (the token
// controller's). Annotations and fields that controllers add (deployment.kubernetes.io/
// revision, defaults) need no rule: ThreeWayMergePatch never touches what Meridian did not set.
std::vector<std::string> BuiltinRetainedPaths(const std::string& api_version,
                                              const std::string& kind);

// Service ports keep the nodePort the member allocated, matched like kube-apiserver's
// strategic merge does (by port number and protocol, TCP when absent), not by position: a
// template that reorders or inserts ports must not hand one port's nodePort to another (the
// member would refuse a nodePort twice, or move clients to another port). A nodePort the
// template sets stays. `want` and `live` are Service objects; anything else is left alone.
void RetainServiceNodePorts(nlohmann::json& want, const nlohmann::json& live);

// Whether one of `autoscalers` (the member's HorizontalPodAutoscalers, autoscaling/v1 or v2)
// scales `object`: its scaleTargetRef names the object's kind and name, with the same API
// group. Then the member's autoscaler owns the object's /spec/replicas, and Meridian writing
// its share there would fight it (KubeFed and Karmada users know the flapping this causes).
bool ScaledByAutoscaler(const nlohmann::json& object,
                        const std::vector<nlohmann::json>& autoscalers);

// `desired` for an update of `live` with member values retained (pointers as in
// api/retained_paths.h; "*" is every element of a list, by index, present in both):
//   - `paths` (the workload's spec.retainedPaths): where `live` has a value, that value; where
//     it has none, nothing (the path is removed from `desired`). Such a path is thus never
//     compared and never written once the object exists: the template's value only reaches
//     the member on create.
//   - `fill_paths` (BuiltinRetainedPaths): the member's value where `desired` has none (so a
//     list replaced whole carries it); a value the template sets is kept.
// Paths that do not parse are skipped (admission refuses them).
nlohmann::json RetainMemberValues(const nlohmann::json& desired, const nlohmann::json& live,
                                  const std::vector<std::string>& paths,
                                  const std::vector<std::string>& fill_paths = {});

}  // namespace meridian::sync
