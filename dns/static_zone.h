// Static zone files: a YAML description of zones, record sets, regions, RTTs and client
// CIDR -> region, turned into a SnapshotSpec / Snapshot. Used by `meridian-dns --config`, the
// tests and the benchmark; the DNS controller feeds the same SnapshotSpec from the API instead.
//
// Format (keys are camelCase; unknown keys are errors so that typos do not go unnoticed):
//
//   zones:
//     - apex: global.example.com
//       soa: {mname: ns1.global.example.com, rname: hostmaster.global.example.com,
//             serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 30, ttl: 300}
//       nameservers: [ns1.global.example.com]
//       nsTtl: 3600
//   rtt:                       # ms; one entry serves both directions unless both are given
//     - {from: eu-west, to: us-east, ms: 80}
//   clientRegions:             # longest prefix wins
//     - {cidr: 192.0.2.0/24, region: eu-west}
//   defaultRegion: us-east     # optional
//   records:
//     - name: web.global.example.com
//       type: A                # A, AAAA, CNAME, SRV, TXT
//       ttl: 30
//       strategy: geo          # static (default), geo, weighted, failover
//       jurisdictions: [eu]    # optional residency
//       endpoints:
//         - {target: 198.51.100.10, region: eu-west, cluster: eu-west-1, jurisdiction: eu,
//            weight: 3, healthy: true, priority: 0, port: 80}
//
// Every problem is reported (not just the first), each as "FILE:LINE:COLUMN: field.path:
// message", e.g. "zones.yaml:14:19: records[2].endpoints[0].target: \"10.0.0\" is not an IPv4
// address".
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "dns/records.h"

namespace meridian::dns {

// Parses YAML text; `filename` is only used in error messages. InvalidArgument listing every
// problem (YAML syntax, unknown keys, wrong types, and everything Snapshot::Build rejects).
StatusOr<std::shared_ptr<const Snapshot>> ParseStaticZone(const std::string& yaml_text,
                                                          const std::string& filename);

// Reads and parses a file. NotFound if it cannot be read; otherwise as ParseStaticZone.
StatusOr<std::shared_ptr<const Snapshot>> LoadStaticZoneFile(const std::string& path);

// A client CIDR -> region table on its own (federation-apiserver --dns-client-regions), in the
// same format as the zone file's keys of that name:
//   clientRegions:               # longest prefix wins
//     - {cidr: 81.0.0.0/8, region: eu-west}
//   defaultRegion: us-east       # optional
struct ClientRegionTable {
  std::vector<ClientRegionSpec> client_regions;
  std::string default_region;
};

// Parses such a table; every problem reported as FILE:LINE:COLUMN: field.path: message
// (unknown keys, a CIDR that does not parse, a missing region).
StatusOr<ClientRegionTable> ParseClientRegions(const std::string& yaml_text,
                                               const std::string& filename);
// Reads and parses a file. NotFound if it cannot be read; otherwise as ParseClientRegions.
StatusOr<ClientRegionTable> LoadClientRegionsFile(const std::string& path);

}  // namespace meridian::dns
