// What the DNS server embedded in federation-apiserver serves, as a pure function of API
// objects and the process's DNS flags: the DNSRecordSets, the Topology's RTTs and the
// configured zones and client CIDR -> region table become one Snapshot (records.h).
// No I/O; thread-safe.
//
// Mapping (DNSRecordSet is close to external-dns' DNSEndpoint, so one object may carry several
// names and types):
//   - the endpoints of one DNSRecordSet are grouped by (dnsName, recordType); each group is
//     one RecordSetSpec with the object's strategy, TTL = the smallest recordTTL in the group
//     (30 when none is set), and the object's jurisdictions (residency);
//   - every target of an endpoint is one Endpoint with the endpoint's region, setIdentifier
//     as the cluster, jurisdiction, priority and health; weight 0 (unset) counts as 1 (the
//     controller never marks an endpoint without ready replicas healthy);
//   - an object whose jurisdictions list is present but empty answers nothing;
//   - an endpoint whose setIdentifier names a member in `unhealthy_members` is not answered,
//     whatever its record set says: a member failure reaches answers with the next snapshot
//     build, before the controller has rewritten every record set that names the member
//     (which takes one store write per set). Only ever removes answers, never adds any.
//   - RTTs: every Topology region's rttMs (region -> region) and every demand source's rttMs
//     (source -> region), so a CIDR may map to a region or to a population centre such as
//     "mumbai"; the first Topology (by name) wins where two give the same pair.
//   - a CNAME must be alone at its name (RFC 1034 §3.6.2): where one DNSRecordSet gives a name
//     CNAME endpoints and endpoints of other types (members whose load balancers report only a
//     hostname beside members with addresses), the other types are served and the CNAME group
//     is left out, as external-dns' planner does, unless the other types have no target at all
//     (placeholders of members without a load balancer yet: then they are left out); a
//     left-out CNAME group with a healthy endpoint is reported in `problems` (the controller
//     writes its own such endpoints unhealthy).
//   - a CNAME group answers one target per query, chosen by the object's strategy (answer.h).
// A record set the server cannot serve (a name outside every configured zone, a second
// DNSRecordSet claiming the same name and type, a target that is not an address) is left out
// with a problem naming the object; it never stops the others from being served.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/types.h"
#include "common/status.h"
#include "dns/records.h"

namespace meridian::dns {

// The process-level DNS configuration (flags and files), fixed for the process's life.
struct ServingConfig {
  std::vector<ZoneSpec> zones;  // at least one
  std::vector<ClientRegionSpec> client_regions;
  std::string default_region;  // for clients no CIDR matches; "" = unknown
};

// The SnapshotSpec for `record_sets` (in the order given) and `topologies` under `config`.
// `origins` (when not null) receives, per record set of the result, "namespace/name" of the
// DNSRecordSet it came from. `serial` is the SOA serial of every zone.
SnapshotSpec ServedSnapshotSpec(const std::vector<api::DnsRecordSet>& record_sets,
                                const std::vector<api::Topology>& topologies,
                                const ServingConfig& config, uint32_t serial,
                                std::vector<std::string>* origins = nullptr,
                                const std::set<std::string>& unhealthy_members = {},
                                std::vector<std::string>* problems = nullptr);

// Builds the snapshot to serve. Record sets Snapshot::Build rejects are dropped (each with a
// line in `problems`: "DNSRecordSet shop/web: records[..].name: ... is not inside any zone")
// and the rest is built again, so one bad object never takes the others down. Errors: the
// config itself is invalid (zones or client regions), InvalidArgument with every problem.
StatusOr<std::shared_ptr<const Snapshot>> BuildServedSnapshot(
    const std::vector<api::DnsRecordSet>& record_sets, const std::vector<api::Topology>& topologies,
    const ServingConfig& config, uint32_t serial, std::vector<std::string>* problems,
    const std::set<std::string>& unhealthy_members = {});

// Checks `config` alone (zones, client CIDRs): what --dns-zone / --dns-client-regions
// errors are made of. OK or InvalidArgument naming the field.
Status ValidateServingConfig(const ServingConfig& config);

}  // namespace meridian::dns
