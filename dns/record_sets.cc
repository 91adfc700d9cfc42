#include "dns/record_sets.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "api/conditions.h"
#include "dns/records.h"
#include "scheduling/placement_controller.h"
#include "sync/propagation.h"

namespace meridian::dns {
namespace {

using nlohmann::json;

const json* Child(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

// What the workload's sync status says about one member.
struct Holding {
  int64_t ready = 0;
  bool reported = false;  // in status.clusters (else only placed, not yet synced)
};

std::map<std::string, Holding> Holdings(const api::FederatedWorkload& w) {
  std::map<std::string, Holding> out;
  for (const api::ClusterPlacement& p : w.status.placement) {
    if (p.replicas > 0) out[p.cluster];
  }
  // A member that is no longer placed may still be serving while its replicas drain
  // (failover keeps them until replacements are ready), so status.clusters counts too.
  for (const api::ClusterSyncStatus& c : w.status.clusters) {
    Holding& h = out[c.cluster];
    h.ready = std::max<int64_t>(0, c.ready_replicas);
    h.reported = true;
  }
  return out;
}

int32_t FailoverPriority(const api::DnsSpec& dns, const api::MemberCluster& m) {
  const auto& order = dns.failover_order;
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i] == m.metadata.name) return static_cast<int32_t>(i);
  }
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i] == m.spec.region) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(order.size());
}

json OwnerReference(const api::FederatedWorkload& w) {
  return json::array({{{"apiVersion", api::kApiVersion},
                       {"kind", "FederatedWorkload"},
                       {"name", w.metadata.name},
                       {"uid", w.metadata.uid},
                       {"controller", true}}});
}

// status.loadBalancer.ingress of a v1 Service when it is an array, else nullptr.
const json* LoadBalancerIngress(const json& service) {
  const json* status = Child(service, "status");
  const json* lb = status ? Child(*status, "loadBalancer") : nullptr;
  const json* ingress = lb ? Child(*lb, "ingress") : nullptr;
  return ingress && ingress->is_array() ? ingress : nullptr;
}

}  // namespace

std::vector<std::string> LoadBalancerAddresses(const json& service) {
  std::vector<std::string> out;
  const json* ingress = LoadBalancerIngress(service);
  if (!ingress) return out;
  for (const json& entry : *ingress) {
    const json* ip = Child(entry, "ip");
    if (!ip || !ip->is_string()) continue;
    std::string text = ip->get<std::string>();
    if (IpAddress::Parse(text)) out.push_back(std::move(text));
  }
  return out;
}

std::vector<std::string> LoadBalancerHostnames(const json& service) {
  std::vector<std::string> out;
  const json* ingress = LoadBalancerIngress(service);
  if (!ingress) return out;
  for (const json& entry : *ingress) {
    const json* ip = Child(entry, "ip");
    if (ip && ip->is_string() && !ip->get<std::string>().empty()) continue;
    const json* host = Child(entry, "hostname");
    if (!host || !host->is_string()) continue;
    std::string text = host->get<std::string>();
    // A CNAME target must be a host name below the root (letters, digits, '-', '_', '.'; RFC
    // 1123, with the '_' some providers use); an IP written as a hostname is not one.
    bool host_chars = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
    auto name = Name::FromText(text);
    if (!host_chars || !name.ok() || name->IsRoot() || IpAddress::Parse(text)) continue;
    out.push_back(std::move(text));
  }
  return out;
}

std::string ServiceKeyFor(const api::FederatedWorkload& workload) {
  std::string name = workload.metadata.name;
  const json* meta = Child(workload.spec.template_, "metadata");
  if (const json* n = meta ? Child(*meta, "name") : nullptr;
      n && n->is_string() && !n->get<std::string>().empty()) {
    name = n->get<std::string>();
  }
  return workload.metadata.ns + "/" + name;
}

std::optional<std::vector<std::string>> AllowedJurisdictions(
    const api::FederatedWorkload& workload, const std::vector<api::ResidencyPolicy>& policies) {
  std::optional<std::set<std::string>> allowed;
  auto restrict = [&](const std::vector<std::string>& list) {
    std::set<std::string> next(list.begin(), list.end());
    if (allowed) {
      std::set<std::string> both;
      std::set_intersection(allowed->begin(), allowed->end(), next.begin(), next.end(),
                            std::inserter(both, both.end()));
      next = std::move(both);
    }
    allowed = std::move(next);
  };
  if (workload.spec.placement.residency) restrict(workload.spec.placement.residency->jurisdictions);
  for (const placement::ResidencyRule& rule : residency::ResidencyRulesFor(workload, policies)) {
    restrict(rule.jurisdictions);
  }
  if (!allowed) return std::nullopt;
  return std::vector<std::string>(allowed->begin(), allowed->end());
}

std::string MemberUnhealthyReason(const api::MemberCluster& member) {
  const auto& conditions = member.status.conditions;
  if (const api::Condition* c = api::FindCondition(conditions, "Reachable");
      c && c->status == "False") {
    return "member unreachable" + (c->reason.empty() ? "" : " (" + c->reason + ")");
  }
  if (const api::Condition* c = api::FindCondition(conditions, "Ready");
      c && c->status == "False") {
    return "member not ready" + (c->reason.empty() ? "" : " (" + c->reason + ")");
  }
  return "";
}

api::DnsRecordSet DesiredRecordSet(const api::FederatedWorkload& workload,
                                   const std::vector<api::MemberCluster>& members,
                                   const std::vector<api::ResidencyPolicy>& policies,
                                   const ServiceDirectory& services) {
  const api::DnsSpec& dns = *workload.spec.dns;
  api::DnsRecordSet rs;
  rs.metadata.name = workload.metadata.name;
  rs.metadata.ns = workload.metadata.ns;
  rs.metadata.labels[sync::kManagedByLabel] = sync::kManagedByValue;
  rs.metadata.labels[sync::kWorkloadLabel] = sync::WorkloadLabelValue(workload);
  if (!workload.metadata.uid.empty())
    rs.metadata.extra["ownerReferences"] = OwnerReference(workload);
  rs.spec.strategy = dns.strategy;
  rs.spec.jurisdictions = AllowedJurisdictions(workload, policies);

  const std::string service_key = ServiceKeyFor(workload);
  std::map<std::string, const api::MemberCluster*> by_name;
  for (const api::MemberCluster& m : members) by_name[m.metadata.name] = &m;

  // The members that are written (they hold the workload, are still in the federation and
  // are allowed by residency), with what their Service's load balancer reports.
  struct Written {
    const std::string* cluster;
    const Holding* holding;
    const api::MemberCluster* member;
    bool synced = false;
    std::vector<std::string> v4, v6;
    std::string hostname;  // only when the Service has no IP
  };
  const std::map<std::string, Holding> holdings = Holdings(workload);
  // The members a staged rollout leaves out while it changes them (rollout/stage_machine.h).
  std::set<std::string> drained;
  std::string drained_reason;
  if (const auto& rollout = workload.status.rollout; rollout && !rollout->drained.empty()) {
    drained.insert(rollout->drained.begin(), rollout->drained.end());
    drained_reason = "drained by the rollout of revision " + std::to_string(rollout->revision);
  }
  std::vector<Written> written;
  bool any_address = false;
  for (const auto& [cluster, holding] : holdings) {
    auto found = by_name.find(cluster);
    if (found == by_name.end()) continue;  // the member left the federation
    const api::MemberCluster& member = *found->second;
    const auto& allowed = rs.spec.jurisdictions;
    if (allowed &&
        std::find(allowed->begin(), allowed->end(), member.spec.jurisdiction) == allowed->end()) {
      continue;  // residency: never written, so never answered
    }
    Written w{&cluster, &holding, &member};
    auto svc = services.find(cluster);
    if (svc != services.end() && svc->second.synced) {
      w.synced = true;
      if (auto a = svc->second.addresses.find(service_key); a != svc->second.addresses.end()) {
        for (const std::string& ip : a->second) {
          (ip.find(':') == std::string::npos ? w.v4 : w.v6).push_back(ip);
        }
      }
      if (auto h = svc->second.hostnames.find(service_key);
          w.v4.empty() && w.v6.empty() && h != svc->second.hostnames.end() && !h->second.empty()) {
        w.hostname = h->second.front();
      }
    }
    any_address = any_address || !w.v4.empty() || !w.v6.empty();
    written.push_back(std::move(w));
  }

  for (Written& w : written) {
    const std::string& cluster = *w.cluster;
    const Holding& holding = *w.holding;
    const api::MemberCluster& member = *w.member;
    std::vector<std::string>& v4 = w.v4;
    std::vector<std::string>& v6 = w.v6;
    std::string reason = MemberUnhealthyReason(member);
    if (!w.synced && reason.empty()) reason = "Services not read from the member yet";
    if (reason.empty() && holding.ready == 0) {
      reason = holding.reported ? "no ready replicas" : "not synced yet";
    }
    if (reason.empty() && v4.empty() && v6.empty() && w.hostname.empty()) {
      reason = "no load-balancer address on Service " + service_key;
    }
    if (reason.empty() && !w.hostname.empty() && any_address) {
      reason =
          "load balancer has only a hostname while other members have addresses (a CNAME "
          "cannot be answered beside A/AAAA at one name)";
    }
    const bool drain = drained.count(cluster) > 0;
    if (reason.empty() && drain) reason = drained_reason;

    auto endpoint = [&](const char* type, std::vector<std::string> targets) {
      api::DnsEndpoint e;
      e.dns_name = dns.name;
      e.record_type = type;
      e.targets = std::move(targets);
      e.record_ttl = dns.ttl;
      e.set_identifier = cluster;
      e.labels = {{"region", member.spec.region},
                  {"cluster", cluster},
                  {"jurisdiction", member.spec.jurisdiction}};
      if (!reason.empty()) e.labels["reason"] = reason;
      e.region = member.spec.region;
      e.jurisdiction = member.spec.jurisdiction;
      e.weight = drain ? 0 : holding.ready;
      e.priority = dns.strategy == "failover" ? FailoverPriority(dns, member) : 0;
      e.healthy = reason.empty();
      rs.spec.endpoints.push_back(std::move(e));
    };
    if (!w.hostname.empty()) {
      endpoint("CNAME", {w.hostname});
      continue;
    }
    if (!v4.empty() || v6.empty()) endpoint("A", std::move(v4));
    if (!v6.empty()) endpoint("AAAA", std::move(v6));
  }
  return rs;
}

std::vector<api::DnsRecordSet> DesiredRecordSets(
    const std::vector<api::FederatedWorkload>& workloads,
    const std::vector<api::MemberCluster>& members,
    const std::vector<api::ResidencyPolicy>& policies, const ServiceDirectory& services) {
  std::vector<api::DnsRecordSet> out;
  for (const api::FederatedWorkload& w : workloads) {
    if (!w.spec.dns || !w.metadata.deletion_timestamp.empty()) continue;
    out.push_back(DesiredRecordSet(w, members, policies, services));
  }
  std::sort(out.begin(), out.end(), [](const api::DnsRecordSet& a, const api::DnsRecordSet& b) {
    return std::tie(a.metadata.ns, a.metadata.name) < std::tie(b.metadata.ns, b.metadata.name);
  });
  return out;
}

bool RecordSetNeedsUpdate(const api::DnsRecordSet& live, const api::DnsRecordSet& desired) {
  if (live.spec != desired.spec) return true;
  for (const auto& [key, value] : desired.metadata.labels) {
    auto it = live.metadata.labels.find(key);
    if (it == live.metadata.labels.end() || it->second != value) return true;
  }
  const json* want = Child(desired.metadata.extra, "ownerReferences");
  const json* have = Child(live.metadata.extra, "ownerReferences");
  if (want && (!have || *have != *want)) return true;
  return false;
}

bool IsManagedRecordSet(const api::DnsRecordSet& record_set) {
  auto it = record_set.metadata.labels.find(sync::kManagedByLabel);
  return it != record_set.metadata.labels.end() && it->second == sync::kManagedByValue;
}

}  // namespace meridian::dns
