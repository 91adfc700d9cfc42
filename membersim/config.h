// membersim configuration: the simulated member clusters (region, jurisdiction, zones, nodes
// with allocatable resources), their timings, optional dedicated ports and credentials.
//
// The YAML form (every duration is Go-style: "2s", "500ms", "1m30s"):
//
//   defaults:                        # optional; applies to every cluster unless overridden
//     podReadyDelay: 2s              # a bound pod turns Ready this long after it is bound
//     podEvictionDelay: 5s           # pods on NotReady nodes are evicted after this long
//     namespaceDeletionDelay: 500ms  # a deleted Namespace stays Terminating this long
//     node: {cpu: "8", memory: 32Gi, pods: 110}   # allocatable of one node
//     seed: [...]                    # as a cluster's seed, for every cluster without its own
//   clusters:
//     - name: eu-west-1              # DNS-1123 label; served at /clusters/eu-west-1
//       region: eu-west
//       jurisdiction: eu             # optional, exported as a node/cluster label
//       labels: {tier: prod}         # optional extra labels put on every node
//       zones:
//         - name: eu-west-1a
//           nodes: 3
//           allocatable: {cpu: "4", memory: 16Gi}   # optional, else defaults.node
//       podReadyDelay: 1s            # optional per-cluster timing override
//       podEvictionDelay: 5s
//       namespaceDeletionDelay: 2s
//       loadBalancerRange: 127.20.3.0/24   # optional; else 127.<20+i/250>.<i%250+1>.0/24
//       port: 18443                  # optional dedicated port (makes "refuse" partitions real)
//       tls: {cert: server.crt, key: server.key}   # optional: the dedicated port speaks HTTPS
//       auth:                        # optional; each configured credential is required
//         token: s3cret              # bearer token; requests without it get 401
//         clientCA: ca.crt           # client certificates must chain to this CA (needs tls);
//                                    # without one the TLS handshake fails
//       seed:                        # optional: objects created at start-up (membersim/seed.h)
//         - apiVersion: v1           # a built-in kind membersim serves
//           kind: PersistentVolumeClaim
//           namespace: payments      # created if missing; default "default"; none for
//                                    # cluster-scoped kinds
//           count: 7000              # 0..1,000,000 objects
//           name: data-{i}           # {i}: the object's index, 0..count-1 (needed if count > 1)
//           labels: {app: web-{i}}   # optional; {i} as in name
//           fields:                  # optional: the rest of each object (spec, data, ...);
//                                    # {i} is expanded in its strings too
//             spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
// Seed objects are created before the server listens, through the cluster's ObjectService as
// API creates are (so defaulting, validation and watches see them as such); a seed the API
// refuses (an unknown kind, a bad label) stops start-up with an error naming the seed.
// Relative file names are resolved against the config file's folder; files must be readable.
//
// Errors name the file, line and field: "topo.yaml:12:14: clusters[1].zones[0].allocatable.cpu:
// quantity "2x": unknown suffix ...". Unknown fields are errors (a typo must not be silently
// ignored). Every problem found is reported, not just the first.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/status.h"

namespace meridian::membersim {

struct NodeResources {
  int64_t cpu_milli = 8000;
  int64_t memory_bytes = int64_t{32} << 30;
  int64_t pods = 110;
  friend bool operator==(const NodeResources&, const NodeResources&) = default;
};

struct ZoneSpec {
  std::string name;
  int nodes = 0;
  NodeResources allocatable;
};

struct ClusterTimings {
  Duration pod_ready_delay{2000};
  Duration pod_eviction_delay{5000};
  // How long a deleted Namespace stays Terminating (at least) before the namespace controller
  // removes it; its contents are deleted at once. It stands for the pods' grace periods and
  // the controller's passes on a real cluster (seconds there); small so tests stay fast.
  Duration namespace_deletion_delay{500};
  // `crashLoop: {image: PATTERN, every: 2s}`: a pod with a container whose image matches
  // PATTERN (a shell glob: '*', '?', '[...]'; "" matches nothing) never turns ready and its
  // containers restart every `every` of the simulator's time since binding (restartCount,
  // waiting CrashLoopBackOff), as a bad image does.
  std::string crash_loop_image;
  Duration crash_loop_every{2000};
};

// `count` objects of one kind created in a cluster at start-up (the `seed:` entries above).
struct SeedSpec {
  // Where it was written, for errors found when seeding: "sim.yaml:14:9" and
  // "clusters[2].seed[0]" (or "defaults.seed[0]").
  std::string location;
  std::string path;
  std::string api_version;  // "v1", "apps/v1"
  std::string kind;         // "PersistentVolumeClaim"
  std::string ns;           // as written; "" means "default" for a namespaced kind
  int64_t count = 0;
  std::string name;                           // pattern: "{i}" stands for the index
  std::map<std::string, std::string> labels;  // values may hold "{i}" too
  nlohmann::json fields = nlohmann::json::object();  // the rest of each object ("{i}" in strings)
};

struct ClusterSpec {
  std::string name;
  std::string region;
  std::string jurisdiction;
  std::map<std::string, std::string> labels;
  std::vector<ZoneSpec> zones;
  ClusterTimings timings;
  // First address of a /24 (or smaller) in 127.0.0.0/8 and its prefix length.
  uint32_t lb_base = 0;
  int lb_prefix = 24;
  int port = -1;  // -1: served on the shared listener only; 0: a dedicated port picked by the OS
  std::string token;  // empty: no token authentication
  // PEM files (absolute after parsing); empty when unset. TLS only on the dedicated port.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string client_ca_file;  // needs TLS: client certificates must chain to it
  std::vector<SeedSpec> seed;  // its own, else defaults.seed
};

struct SimConfig {
  std::vector<ClusterSpec> clusters;

  // The cluster named `name`, or nullptr.
  const ClusterSpec* Find(const std::string& name) const;
};

// Parses a config document. `source` names it in errors (a file name). kInvalidArgument with
// one line per problem.
StatusOr<SimConfig> ParseConfig(const std::string& yaml_text, const std::string& source);

// Reads and parses a config file (kNotFound if it cannot be read).
StatusOr<SimConfig> LoadConfigFile(const std::string& path);

// A generated config of `count` clusters ("sim-0000"...), each with `zones` zones of
// `nodes_per_zone` nodes, used by the scale bench and tests.
SimConfig GenerateConfig(int count, int zones, int nodes_per_zone);

// A seed pattern (SeedSpec::name, label values) for object number `index`: every "{i}"
// replaced by the decimal index.
std::string ExpandSeedPattern(const std::string& pattern, int64_t index);

// Go-style duration text ("2s", "150ms", "1m30s", "0") to milliseconds.
StatusOr<Duration> ParseDuration(const std::string& text);

// "127.20.1.0/24" -> base address (host order) and prefix; only 127.0.0.0/8 is accepted.
Status ParseLoopbackRange(const std::string& text, uint32_t* base, int* prefix);
std::string FormatIPv4(uint32_t addr);

}  // namespace meridian::membersim
