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
//   - its Service has at least one load-balancer IP, or only hostnames (see below);
//   - a staged rollout does not drain it (status.rollout.drained: a stage with `drain` is
//     changing it, rollout/stage_machine.h); a drained member is written with weight 0.
//
// Hostname-only load balancers (AWS ELB/NLB report status.loadBalancer.ingress[].hostname and
// no ip). As external-dns does for such a Service, the member is written as one CNAME endpoint
// whose target is the first hostname; the server then answers A, AAAA and CNAME queries with
// a CNAME to the member the strategy picks (geo / weighted / failover, one CNAME per answer:
// a CNAME must be alone at its name, RFC 1034 §3.6.2). When some members of the workload have
// IPs and others only hostnames, one name cannot be both A and CNAME; as external-dns' planner
// does ("conflicting record type candidates; discarding CNAME record") and as Route 53 requires
// (every record of a latency/weighted group has the same type), the address members win: the
// hostname-only members are written unhealthy, with a reason saying so. The decision counts
// every written member that has an address, healthy or not, so that the record type of a name
// does not flip with health (resolvers would cache the other type for the TTL).
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
  // "namespace/name" -> status.loadBalancer.ingress[].hostname (only Services that have one
  // and no IP: a Service with an IP is answered with its addresses).
  std::map<std::string, std::vector<std::string>> hostnames;
  friend bool operator==(const MemberServices&, const MemberServices&) = default;
};
// Member cluster name -> its Services.
using ServiceDirectory = std::map<std::string, MemberServices>;

// The IPv4/IPv6 addresses in a v1 Service's status.loadBalancer.ingress[].ip, in order.
// Entries with only a hostname, and anything that is not an IP address, are skipped.
std::vector<std::string> LoadBalancerAddresses(const nlohmann::json& service);

// The host names in a v1 Service's status.loadBalancer.ingress[].hostname, in order, of the
// entries without an IP. Anything that is not a valid domain name is skipped.
std::vector<std::string> LoadBalancerHostnames(const nlohmann::json& service);

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
// Service has IPv6 addresses; or one CNAME endpoint when it has only a hostname, see the file
// comment) per member holding the workload, ordered by member name:
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
