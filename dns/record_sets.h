// The DNS controller's pure core: what DNSRecordSet a FederatedWorkload with spec.dns should
// have, from its placement and sync status, the member clusters' health, the ResidencyPolicies
// that govern it, and the load-balancer addresses of its Service in each member.
// No I/O, no clock, no logging; every function is pure and thread-safe.
//
// How a workload's Service is found. As in k8gb (a Gslb names the Ingress it publishes, in
// its own namespace) and external-dns (the targets of a Service's records are its
// status.loadBalancer.ingress), the targets for a workload are the load-balancer addresses of
// the Service in each member with the SAME namespace and name as the workload's member objects
// (the template's metadata.name, else the workload's name). The user federates that Service
// like anything else, usually with a second FederatedWorkload whose template is a
// `type: LoadBalancer` Service; Meridian never invents one.
//
// Which members are answered (`healthy: true` in the record set):
//   - the member holds replicas of the workload: it is in status.clusters or status.placement;
//   - its MemberCluster is healthy: neither Ready nor Reachable is False (a member whose
//     health was never probed counts as healthy, as placement treats it);
//   - status.clusters says it has ready replicas (readyReplicas > 0);
//   - its Service has at least one load-balancer IP.
// Unhealthy members are still written (healthy: false, labels.reason says why) so that
// `fedctl dns records` shows why a member is not answered; the server never answers them.
// Members outside the workload's allowed jurisdictions are not written at all.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/types.h"

namespace meridian::dns {

// The load-balancer addresses one member's Services have, as its Service watch saw them.
struct MemberServices {
  bool synced = false;  // the member's Services have been listed at least once
  // "namespace/name" -> status.loadBalancer.ingress[].ip (only Services that have one).
  std::map<std::string, std::vector<std::string>> addresses;
  friend bool operator==(const MemberServices&, const MemberServices&) = default;
};
// Member cluster name -> its Services.
using ServiceDirectory = std::map<std::string, MemberServices>;

// The IPv4/IPv6 addresses in a v1 Service's status.loadBalancer.ingress[].ip, in order.
// Entries with only a hostname, and anything that is not an IP address, are skipped.
std::vector<std::string> LoadBalancerAddresses(const nlohmann::json& service);

// "namespace/name" of the Service whose addresses answer `workload`'s DNS name.
std::string ServiceKeyFor(const api::FederatedWorkload& workload);

// The jurisdictions `workload` may be answered from: its own spec.placement.residency
// intersected with every ResidencyPolicy that governs it (same matching as placement:
// namespace list and workload selector). std::nullopt when nothing restricts it; an empty
// list when the restrictions leave nothing.
std::optional<std::vector<std::string>> AllowedJurisdictions(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies);

// Why `member` must not be answered ("" when it may): its Reachable or Ready condition is
// False.
std::string MemberUnhealthyReason(const api::MemberCluster& member);

// The record set for `workload`, which must have spec.dns: metadata (name and namespace of
// the workload, the managed-by and workload labels, an ownerReference to the workload), the
// strategy, the allowed jurisdictions, and one A endpoint (plus one AAAA endpoint when the
// Service has IPv6 addresses) per member holding the workload, ordered by member name:
// dnsName, targets, recordTTL = spec.dns.ttl, setIdentifier = member, labels region /
// cluster / jurisdiction (and reason when unhealthy), weight = ready replicas, priority =
// position in spec.dns.failoverOrder (a cluster name or a region; members listed nowhere
// come after every listed one), healthy (see the file comment).
api::DnsRecordSet DesiredRecordSet(const api::FederatedWorkload& workload,
                                   const std::vector<api::MemberCluster>& members,
                                   const std::vector<api::ResidencyPolicy>& policies,
                                   const ServiceDirectory& services);

// DesiredRecordSet for every workload with spec.dns that is not being deleted, ordered by
// namespace then name.
std::vector<api::DnsRecordSet> DesiredRecordSets(
    const std::vector<api::FederatedWorkload>& workloads,
    const std::vector<api::MemberCluster>& members,
    const std::vector<api::ResidencyPolicy>& policies, const ServiceDirectory& services);

// Whether a live record set this controller manages must be rewritten to become `desired`:
// the spec differs, or a label or the ownerReference the controller sets is missing or
// different. Other metadata (annotations, labels someone added) is left alone.
bool RecordSetNeedsUpdate(const api::DnsRecordSet& live, const api::DnsRecordSet& desired);

// Whether `record_set` carries the managed-by label this controller puts on what it writes
// (it never touches record sets without it).
bool IsManagedRecordSet(const api::DnsRecordSet& record_set);

}  // namespace meridian::dns
