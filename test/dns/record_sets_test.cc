// The DNS controller's pure core: which members a workload's name answers with, and how.
#include "dns/record_sets.h"

#include <gtest/gtest.h>

#include "api/codec.h"

namespace meridian::dns {
namespace {

using nlohmann::json;

api::MemberCluster Member(const std::string& name, const std::string& region,
                          const std::string& jurisdiction, const std::string& ready = "True",
                          const std::string& reachable = "True") {
  api::MemberCluster m;
  m.metadata.name = name;
  m.spec.region = region;
  m.spec.jurisdiction = jurisdiction;
  if (!ready.empty()) m.status.conditions.push_back({"Ready", ready, "Probe", "", "", 0});
  if (!reachable.empty())
    m.status.conditions.push_back({"Reachable", reachable, "Probe", "", "", 0});
  return m;
}

std::vector<api::MemberCluster> Fleet() {
  return {Member("us-east-1", "us-east", "us"), Member("eu-west-1", "eu-west", "eu"),
          Member("eu-central-1", "eu-central", "eu"), Member("ap-south-1", "ap-south", "in")};
}

api::FederatedWorkload Workload(const std::string& strategy,
                                std::map<std::string, int64_t> ready_by_cluster) {
  api::FederatedWorkload w;
  w.metadata.name = "web";
  w.metadata.ns = "shop";
  w.metadata.uid = "uid-web";
  w.spec.template_ = {
      {"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"spec", {{"replicas", 10}}}};
  w.spec.dns = api::DnsSpec{"web.global.example.com", strategy, 30, 80, {}};
  for (const auto& [cluster, ready] : ready_by_cluster) {
    w.status.placement.push_back({cluster, ready, {}, {}});
    w.status.clusters.push_back({cluster, ready, true, ""});
  }
  return w;
}

// Every member has Service shop/web with one address 127.20.<i>.1.
ServiceDirectory Services() {
  ServiceDirectory d;
  int i = 1;
  for (const char* m : {"us-east-1", "eu-west-1", "eu-central-1", "ap-south-1"}) {
    d[m].synced = true;
    d[m].addresses["shop/web"] = {"127.20." + std::to_string(i++) + ".1"};
  }
  return d;
}

const api::DnsEndpoint* Find(const api::DnsRecordSet& rs, const std::string& cluster,
                             const std::string& type = "A") {
  for (const auto& e : rs.spec.endpoints) {
    if (e.set_identifier == cluster && e.record_type == type) return &e;
  }
  return nullptr;
}

TEST(RecordSetsTest, OneEndpointPerHoldingMemberWithItsAddressRegionAndReadyReplicas) {
  auto w = Workload("geo", {{"us-east-1", 5}, {"eu-west-1", 3}});
  api::DnsRecordSet rs = DesiredRecordSet(w, Fleet(), {}, Services());
  EXPECT_EQ(rs.metadata.name, "web");
  EXPECT_EQ(rs.metadata.ns, "shop");
  EXPECT_EQ(rs.metadata.labels.at("federation.meridian.io/managed-by"), "meridian");
  EXPECT_EQ(rs.metadata.labels.at("federation.meridian.io/workload"), "shop.web");
  EXPECT_EQ(rs.metadata.extra["ownerReferences"][0]["uid"], "uid-web");
  EXPECT_EQ(rs.spec.strategy, "geo");
  EXPECT_FALSE(rs.spec.jurisdictions.has_value());
  ASSERT_EQ(rs.spec.endpoints.size(), 2u);  // the members holding nothing are not listed
  // Ordered by member name.
  EXPECT_EQ(rs.spec.endpoints[0].set_identifier, "eu-west-1");
  EXPECT_EQ(rs.spec.endpoints[1].set_identifier, "us-east-1");
  const api::DnsEndpoint& eu = rs.spec.endpoints[0];
  EXPECT_EQ(eu.dns_name, "web.global.example.com");
  EXPECT_EQ(eu.record_type, "A");
  EXPECT_EQ(eu.targets, std::vector<std::string>{"127.20.2.1"});
  EXPECT_EQ(eu.record_ttl, 30);
  EXPECT_EQ(eu.region, "eu-west");
  EXPECT_EQ(eu.jurisdiction, "eu");
  EXPECT_EQ(eu.weight, 3);
  EXPECT_TRUE(eu.healthy);
  EXPECT_EQ(eu.labels.count("reason"), 0u);
  EXPECT_EQ(eu.labels.at("region"), "eu-west");
  EXPECT_EQ(Find(rs, "us-east-1")->weight, 5);
  // The result is a valid DNSRecordSet as the API decodes it.
  FieldErrors errors;
  api::DecodeDnsRecordSet(api::Encode(rs), &errors);
  EXPECT_TRUE(errors.empty()) << errors.front().ToString();
}

TEST(RecordSetsTest, WhoIsNotAnsweredAndWhy) {
  struct Case {
    std::string name;
    std::function<void(std::vector<api::MemberCluster>*, api::FederatedWorkload*,
                       ServiceDirectory*)>
        change;
    std::string reason;  // of eu-west-1's endpoint; "" = healthy
  };
  std::vector<Case> cases = {
      {"healthy", [](auto*, auto*, auto*) {}, ""},
      {"unreachable",
       [](auto* m, auto*, auto*) {
         (*m)[1] = Member("eu-west-1", "eu-west", "eu", "False", "False");
       },
       "member unreachable (Probe)"},
      {"not ready",
       [](auto* m, auto*, auto*) {
         (*m)[1] = Member("eu-west-1", "eu-west", "eu", "False", "True");
       },
       "member not ready (Probe)"},
      {"never probed counts as healthy",
       [](auto* m, auto*, auto*) { (*m)[1] = Member("eu-west-1", "eu-west", "eu", "", ""); }, ""},
      {"no ready replicas", [](auto*, auto* w, auto*) { w->status.clusters[0].ready_replicas = 0; },
       "no ready replicas"},
      {"placed but not synced yet",
       [](auto*, auto* w, auto*) { w->status.clusters.erase(w->status.clusters.begin()); },
       "not synced yet"},
      {"service has no address",
       [](auto*, auto*, auto* s) { (*s)["eu-west-1"].addresses.erase("shop/web"); },
       "no load-balancer address on Service shop/web"},
      {"services not listed yet", [](auto*, auto*, auto* s) { (*s)["eu-west-1"].synced = false; },
       "Services not read from the member yet"},
      {"no watch for the member yet", [](auto*, auto*, auto* s) { s->erase("eu-west-1"); },
       "Services not read from the member yet"},
      {"drained while a rollout stage changes it",
       [](auto*, auto* w, auto*) {
         w->status.rollout = api::RolloutStatus{.revision = 4, .drained = {"eu-west-1"}};
       },
       "drained by the rollout of revision 4"},
  };
  for (const Case& c : cases) {
    auto members = Fleet();
    auto w = Workload("geo", {{"eu-west-1", 3}, {"us-east-1", 5}});
    auto services = Services();
    c.change(&members, &w, &services);
    api::DnsRecordSet rs = DesiredRecordSet(w, members, {}, services);
    const api::DnsEndpoint* eu = Find(rs, "eu-west-1");
    ASSERT_NE(eu, nullptr) << c.name;
    EXPECT_EQ(eu->healthy, c.reason.empty()) << c.name;
    EXPECT_EQ(eu->labels.count("reason") ? eu->labels.at("reason") : "", c.reason) << c.name;
    EXPECT_TRUE(Find(rs, "us-east-1")->healthy) << c.name << ": the other member is untouched";
  }
}

TEST(RecordSetsTest, ARolloutsDrainedMemberIsWrittenWithWeightZero) {
  auto w = Workload("geo", {{"eu-west-1", 3}, {"us-east-1", 5}});
  w.status.rollout = api::RolloutStatus{.revision = 2, .drained = {"eu-west-1", "us-east-1"}};
  auto members = Fleet();
  members[0] = Member("us-east-1", "us-east", "us", "False", "True");
  api::DnsRecordSet rs = DesiredRecordSet(w, members, {}, Services());
  EXPECT_EQ(Find(rs, "eu-west-1")->weight, 0);
  EXPECT_FALSE(Find(rs, "eu-west-1")->healthy);
  // Health comes first in the reason: a drained member that is also down says it is down.
  EXPECT_EQ(Find(rs, "us-east-1")->labels.at("reason"), "member not ready (Probe)");
}

TEST(RecordSetsTest, AMemberThatLeftTheFederationIsDropped) {
  auto w = Workload("geo", {{"eu-west-1", 3}, {"gone-1", 2}});
  api::DnsRecordSet rs = DesiredRecordSet(w, Fleet(), {}, Services());
  ASSERT_EQ(rs.spec.endpoints.size(), 1u);
  EXPECT_EQ(rs.spec.endpoints[0].set_identifier, "eu-west-1");
}

TEST(RecordSetsTest, ADrainingMemberStillServingIsAnswered) {
  // Failover moved the replicas off eu-west-1 (placement no longer lists it) but its old
  // replicas are still ready until the replacements are: it keeps serving.
  auto w = Workload("geo", {{"eu-west-1", 3}});
  w.status.placement.clear();
  w.status.placement.push_back({"eu-central-1", 3, {}, {}});
  api::DnsRecordSet rs = DesiredRecordSet(w, Fleet(), {}, Services());
  ASSERT_NE(Find(rs, "eu-west-1"), nullptr);
  EXPECT_TRUE(Find(rs, "eu-west-1")->healthy);
  ASSERT_NE(Find(rs, "eu-central-1"), nullptr);
  EXPECT_EQ(Find(rs, "eu-central-1")->labels.at("reason"), "not synced yet");
}

TEST(RecordSetsTest, IPv6AddressesBecomeAnAAAAEndpoint) {
  auto w = Workload("geo", {{"eu-west-1", 3}});
  auto services = Services();
  services["eu-west-1"].addresses["shop/web"] = {"127.20.2.1", "::1", "127.20.2.2"};
  api::DnsRecordSet rs = DesiredRecordSet(w, Fleet(), {}, services);
  ASSERT_EQ(rs.spec.endpoints.size(), 2u);
  EXPECT_EQ(Find(rs, "eu-west-1", "A")->targets,
            (std::vector<std::string>{"127.20.2.1", "127.20.2.2"}));
  EXPECT_EQ(Find(rs, "eu-west-1", "AAAA")->targets, std::vector<std::string>{"::1"});
}

TEST(RecordSetsTest, TheServiceIsTheOneNamedLikeTheWorkloadsMemberObjects) {
  auto w = Workload("geo", {{"eu-west-1", 3}});
  EXPECT_EQ(ServiceKeyFor(w), "shop/web");
  w.spec.template_["metadata"] = {{"name", "frontend"}};
  EXPECT_EQ(ServiceKeyFor(w), "shop/frontend");
  auto services = Services();
  services["eu-west-1"].addresses["shop/frontend"] = {"127.30.0.9"};
  EXPECT_EQ(Find(DesiredRecordSet(w, Fleet(), {}, services), "eu-west-1")->targets,
            std::vector<std::string>{"127.30.0.9"});
}

TEST(RecordSetsTest, FailoverPriorityFollowsFailoverOrderByClusterThenRegion) {
  auto w = Workload("failover",
                    {{"us-east-1", 1}, {"eu-west-1", 1}, {"eu-central-1", 1}, {"ap-south-1", 1}});
  w.spec.dns->failover_order = {"eu-central", "us-east-1", "eu-west-1"};
  api::DnsRecordSet rs = DesiredRecordSet(w, Fleet(), {}, Services());
  EXPECT_EQ(Find(rs, "eu-central-1")->priority, 0);  // by region
  EXPECT_EQ(Find(rs, "us-east-1")->priority, 1);     // by cluster name
  EXPECT_EQ(Find(rs, "eu-west-1")->priority, 2);
  EXPECT_EQ(Find(rs, "ap-south-1")->priority, 3);  // listed nowhere: after every listed one
  w.spec.dns->strategy = "geo";
  EXPECT_EQ(Find(DesiredRecordSet(w, Fleet(), {}, Services()), "us-east-1")->priority, 0);
}

TEST(RecordSetsTest, ResidencyKeepsOnlyAllowedJurisdictions) {
  auto w = Workload("geo", {{"us-east-1", 1}, {"eu-west-1", 1}, {"eu-central-1", 1}});
  api::ResidencyPolicy eu;
  eu.metadata.name = "eu-only";
  eu.spec.namespaces = {"shop"};
  eu.spec.jurisdictions = {"eu", "ch"};
  api::DnsRecordSet rs = DesiredRecordSet(w, Fleet(), {eu}, Services());
  EXPECT_EQ(rs.spec.jurisdictions, (std::vector<std::string>{"ch", "eu"}));
  ASSERT_EQ(rs.spec.endpoints.size(), 2u);
  EXPECT_EQ(Find(rs, "us-east-1"), nullptr);

  // A policy for another namespace does not apply.
  eu.spec.namespaces = {"bank"};
  EXPECT_FALSE(DesiredRecordSet(w, Fleet(), {eu}, Services()).spec.jurisdictions.has_value());

  // The workload's own residency intersects with the policies; nothing left answers nothing.
  eu.spec.namespaces = {};
  w.spec.placement.residency = placement::ResidencySpec{{"us"}};
  rs = DesiredRecordSet(w, Fleet(), {eu}, Services());
  ASSERT_TRUE(rs.spec.jurisdictions.has_value());
  EXPECT_TRUE(rs.spec.jurisdictions->empty());
  EXPECT_TRUE(rs.spec.endpoints.empty());
}

TEST(RecordSetsTest, DesiredRecordSetsSkipsWorkloadsWithoutDnsOrBeingDeleted) {
  auto a = Workload("geo", {{"eu-west-1", 1}});
  a.metadata.name = "b";
  auto b = Workload("weighted", {{"eu-west-1", 1}});
  b.metadata.name = "a";
  auto no_dns = Workload("geo", {});
  no_dns.metadata.name = "c";
  no_dns.spec.dns.reset();
  auto deleted = Workload("geo", {});
  deleted.metadata.name = "d";
  deleted.metadata.deletion_timestamp = "2026-01-01T00:00:00Z";
  auto out = DesiredRecordSets({a, no_dns, deleted, b}, Fleet(), {}, Services());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].metadata.name, "a");
  EXPECT_EQ(out[1].metadata.name, "b");
}

TEST(RecordSetsTest, LoadBalancerAddressesReadsIngressIps) {
  json svc = {{"status",
               {{"loadBalancer",
                 {{"ingress", json::array({{{"ip", "127.20.1.1"}},
                                           {{"hostname", "lb.example.com"}},
                                           {{"ip", "not-an-ip"}},
                                           {{"ip", "2001:db8::1"}}})}}}}}};
  EXPECT_EQ(LoadBalancerAddresses(svc), (std::vector<std::string>{"127.20.1.1", "2001:db8::1"}));
  EXPECT_TRUE(LoadBalancerAddresses(json::object()).empty());
  EXPECT_TRUE(LoadBalancerAddresses({{"status", {{"loadBalancer", json::object()}}}}).empty());
  EXPECT_TRUE(LoadBalancerAddresses({{"status", "garbage"}}).empty());
}

TEST(RecordSetsTest, LoadBalancerHostnamesReadsHostnameOnlyEntries) {
  json svc = {{"status",
               {{"loadBalancer",
                 {{"ingress", json::array({{{"hostname", "a1b2-123.elb.us-east-1.amazonaws.com"}},
                                           {{"ip", "127.20.1.1"}, {"hostname", "with-ip.example"}},
                                           {{"hostname", "bad name!"}},
                                           {{"hostname", "127.0.0.1"}},
                                           {{"hostname", ""}},
                                           {{"hostname", 7}},
                                           {{"hostname", "second.example.net"}}})}}}}}};
  EXPECT_EQ(
      LoadBalancerHostnames(svc),
      (std::vector<std::string>{"a1b2-123.elb.us-east-1.amazonaws.com", "second.example.net"}));
  EXPECT_TRUE(LoadBalancerHostnames(json::object()).empty());
  EXPECT_TRUE(LoadBalancerHostnames({{"status", "garbage"}}).empty());
}

// Every member's Service shop/web has only a hostname: one CNAME endpoint per member.
ServiceDirectory HostnameServices() {
  ServiceDirectory d;
  for (const char* m : {"us-east-1", "eu-west-1", "eu-central-1", "ap-south-1"}) {
    d[m].synced = true;
    d[m].hostnames["shop/web"] = {std::string("web.shop.") + m + ".lb.example.net",
                                  "ignored.example.net"};
  }
  return d;
}

TEST(RecordSetsTest, AHostnameOnlyLoadBalancerBecomesOneCnameEndpoint) {
  auto w = Workload("geo", {{"us-east-1", 5}, {"eu-west-1", 3}});
  api::DnsRecordSet rs = DesiredRecordSet(w, Fleet(), {}, HostnameServices());
  ASSERT_EQ(rs.spec.endpoints.size(), 2u);
  const api::DnsEndpoint* eu = Find(rs, "eu-west-1", "CNAME");
  ASSERT_NE(eu, nullptr);
  EXPECT_EQ(eu->targets, std::vector<std::string>{"web.shop.eu-west-1.lb.example.net"});
  EXPECT_TRUE(eu->healthy);
  EXPECT_EQ(eu->weight, 3);
  EXPECT_EQ(eu->region, "eu-west");
  EXPECT_EQ(eu->dns_name, "web.global.example.com");
  EXPECT_TRUE(Find(rs, "us-east-1", "CNAME")->healthy);
  FieldErrors errors;
  api::DecodeDnsRecordSet(api::Encode(rs), &errors);
  EXPECT_TRUE(errors.empty()) << errors.front().ToString();

  // A member whose load balancer has nothing yet is written as before (a target-less A
  // placeholder, unhealthy); it does not make the others "address members".
  auto no_lb = HostnameServices();
  no_lb["us-east-1"].hostnames.clear();
  rs = DesiredRecordSet(w, Fleet(), {}, no_lb);
  EXPECT_TRUE(Find(rs, "eu-west-1", "CNAME")->healthy);
  EXPECT_EQ(Find(rs, "us-east-1", "A")->labels.at("reason"),
            "no load-balancer address on Service shop/web");

  // The usual reasons still apply to a hostname member.
  w.status.clusters[0].ready_replicas = 0;  // eu-west-1 (clusters are in map order)
  rs = DesiredRecordSet(w, Fleet(), {}, HostnameServices());
  EXPECT_EQ(Find(rs, "eu-west-1", "CNAME")->labels.at("reason"), "no ready replicas");
}

TEST(RecordSetsTest, BesideMembersWithAddressesAHostnameMemberIsNotAnswered) {
  // us-east-1 has an IP; eu-west-1 only a hostname. One name cannot be A and CNAME: the
  // addresses win (external-dns' planner, Route 53's one type per routing group).
  auto w = Workload("geo", {{"us-east-1", 5}, {"eu-west-1", 3}});
  ServiceDirectory services = Services();
  services["eu-west-1"].addresses.erase("shop/web");
  services["eu-west-1"].hostnames["shop/web"] = {"web.shop.eu-west-1.lb.example.net"};
  api::DnsRecordSet rs = DesiredRecordSet(w, Fleet(), {}, services);
  ASSERT_EQ(rs.spec.endpoints.size(), 2u);
  EXPECT_TRUE(Find(rs, "us-east-1", "A")->healthy);
  const api::DnsEndpoint* eu = Find(rs, "eu-west-1", "CNAME");
  ASSERT_NE(eu, nullptr);  // still written, so fedctl shows the hostname and why
  EXPECT_FALSE(eu->healthy);
  EXPECT_NE(eu->labels.at("reason").find("only a hostname"), std::string::npos);

  // The type does not flip with health: with the address member down, the hostname member
  // is still not answered (resolvers would cache the CNAME for the TTL).
  std::vector<api::MemberCluster> members = Fleet();
  members[0] = Member("us-east-1", "us-east", "us", "False", "False");
  rs = DesiredRecordSet(w, members, {}, services);
  EXPECT_FALSE(Find(rs, "us-east-1", "A")->healthy);
  EXPECT_FALSE(Find(rs, "eu-west-1", "CNAME")->healthy);

  // Once no member has an address, the hostnames are answered.
  services["us-east-1"].addresses.erase("shop/web");
  services["us-east-1"].hostnames["shop/web"] = {"web.shop.us-east-1.lb.example.net"};
  rs = DesiredRecordSet(w, Fleet(), {}, services);
  EXPECT_TRUE(Find(rs, "us-east-1", "CNAME")->healthy);
  EXPECT_TRUE(Find(rs, "eu-west-1", "CNAME")->healthy);
}

TEST(RecordSetsTest, NeedsUpdateComparesSpecAndTheControllersMetadataOnly) {
  auto w = Workload("geo", {{"eu-west-1", 3}});
  api::DnsRecordSet want = DesiredRecordSet(w, Fleet(), {}, Services());
  api::DnsRecordSet live = want;
  live.metadata.resource_version = "42";
  live.metadata.labels["team"] = "web";  // someone else's label
  live.metadata.annotations["note"] = "x";
  EXPECT_FALSE(RecordSetNeedsUpdate(live, want));
  api::DnsRecordSet changed = live;
  changed.spec.endpoints[0].weight = 2;
  EXPECT_TRUE(RecordSetNeedsUpdate(changed, want));
  changed = live;
  changed.metadata.labels.erase("federation.meridian.io/workload");
  EXPECT_TRUE(RecordSetNeedsUpdate(changed, want));
  changed = live;
  changed.metadata.extra.erase("ownerReferences");
  EXPECT_TRUE(RecordSetNeedsUpdate(changed, want));
  EXPECT_TRUE(IsManagedRecordSet(live));
  live.metadata.labels.erase("federation.meridian.io/managed-by");
  EXPECT_FALSE(IsManagedRecordSet(live));
}

}  // namespace
}  // namespace meridian::dns
