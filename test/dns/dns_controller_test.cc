// The DNS controller and the record publisher against a real (in-process) federation-apiserver
// on SQLite, with FakeMemberClients as the members: record sets written from workloads,
// health and Services; watch-driven updates; the publisher feeding answers.
#include "dns/dns_controller.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "api/codec.h"
#include "dns/answer.h"
#include "dns/record_publisher.h"
#include "sync/testing/fake_member_client.h"
#include "test/common/eventually.h"
#include "test/common/in_process_federation.h"

namespace meridian::dns {
namespace {

using nlohmann::json;
using sync::testing::FakeMemberClient;

const sync::GroupVersionResource kServices{"", "v1", "services"};

// Waits (real time, bounded) for a condition other threads make true.
using test_env::Eventually;

class DnsControllerTest : public ::testing::Test {
 protected:
  // The zone the publisher tests serve: clients in 81/8 (Paris) are in eu-west, the rest in
  // us-east.
  static ServingConfig EuUsZone() {
    ServingConfig config;
    ZoneSpec zone;
    zone.apex = "global.example.com";
    config.zones = {zone};
    config.client_regions = {{"81.0.0.0/8", "eu-west"}};
    config.default_region = "us-east";
    return config;
  }
  // What a client in Paris (81/8) is answered for web.global.example.com A: "CNAME target.",
  // "A address", or "N answers" when not exactly one.
  static std::string AnswerInParis(const SwappableRecordSource& source) {
    Message q;
    q.header.id = 1;
    q.questions.push_back({*Name::FromText("web.global.example.com"), RRType::kA, kClassIN});
    Message r = BuildResponse(q, IpAddress::V4(81, 1, 2, 3), *source.Current());
    if (r.answers.size() != 1) return std::to_string(r.answers.size()) + " answers";
    if (const auto* n = std::get_if<NameData>(&r.answers[0].rdata)) {
      return "CNAME " + n->name.ToText();
    }
    const auto& a = std::get<AData>(r.answers[0].rdata).address;
    return "A " + IpAddress::V4(a[0], a[1], a[2], a[3]).ToString();
  }

  void SetUp() override {
    federation_.Apply(
        {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}});
    int i = 1;
    for (auto [name, region, jurisdiction] :
         {std::tuple{"us-east-1", "us-east", "us"}, std::tuple{"eu-west-1", "eu-west", "eu"}}) {
      federation_.Apply({{"apiVersion", api::kApiVersion},
                         {"kind", "MemberCluster"},
                         {"metadata", {{"name", name}}},
                         {"spec",
                          {{"server", std::string("http://127.0.0.1:1/clusters/") + name},
                           {"region", region},
                           {"jurisdiction", jurisdiction},
                           {"zones", {std::string(region) + "-1a"}}}}});
      SetHealth(name, "True");
      FakeMemberClient::Options o;
      o.member = name;
      auto fake = std::make_shared<FakeMemberClient>(o);
      fake->Apply(kServices, Service("web", "127.20." + std::to_string(i++) + ".1"));
      fakes_[name] = fake;
    }
    api::Topology topology;
    topology.metadata.name = "default";
    topology.spec.regions = {{"us-east", "us", {"us-east-1a"}, {{"eu-west", 76}}},
                             {"eu-west", "eu", {"eu-west-1a"}, {}}};
    federation_.Apply(api::Encode(topology));
  }

  static json Service(const std::string& name, const std::string& ip) {
    json ingress = ip.empty() ? json::array() : json::array({{{"ip", ip}}});
    return {{"apiVersion", "v1"},
            {"kind", "Service"},
            {"metadata", {{"name", name}, {"namespace", "shop"}}},
            {"spec", {{"type", "LoadBalancer"}}},
            {"status", {{"loadBalancer", {{"ingress", ingress}}}}}};
  }

  // A LoadBalancer Service whose load balancer reports only a hostname (AWS ELB/NLB).
  static json HostnameService(const std::string& name, const std::string& hostname) {
    json svc = Service(name, "");
    svc["status"]["loadBalancer"]["ingress"] = json::array({{{"hostname", hostname}}});
    return svc;
  }

  sync::MemberClientFactory Factory() {
    return [this](const api::MemberCluster& m) -> StatusOr<std::shared_ptr<sync::MemberClient>> {
      auto it = fakes_.find(m.metadata.name);
      if (it == fakes_.end()) return NotFoundError("no fake for " + m.metadata.name);
      return std::static_pointer_cast<sync::MemberClient>(it->second);
    };
  }

  const apimachinery::ResourceInfo& Info(const std::string& kind) {
    return federation_.Info(api::kApiVersion, kind);
  }

  void SetHealth(const std::string& member, const std::string& status) {
    auto got = objects().Get(Info("MemberCluster"), "", member);
    ASSERT_TRUE(got.ok());
    json m = *got;
    m["status"]["conditions"] = json::array({{{"type", "Reachable"},
                                              {"status", status},
                                              {"reason", "Probe"},
                                              {"lastTransitionTime", "2026-01-01T00:00:00Z"}},
                                             {{"type", "Ready"},
                                              {"status", status},
                                              {"reason", "Probe"},
                                              {"lastTransitionTime", "2026-01-01T00:00:00Z"}}});
    auto r = objects().Update(Info("MemberCluster"), "", member, m, "status");
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  // Creates shop/web with spec.dns and status saying `ready` replicas per member.
  void CreateWorkload(const std::string& strategy, std::map<std::string, int> ready) {
    json w = {
        {"apiVersion", api::kApiVersion},
        {"kind", "FederatedWorkload"},
        {"metadata", {{"name", "web"}, {"namespace", "shop"}}},
        {"spec",
         {{"template",
           {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"spec", {{"replicas", 4}}}}},
          {"dns", {{"name", "web.global.example.com"}, {"strategy", strategy}, {"ttl", 5}}}}}};
    auto created = objects().Create(Info("FederatedWorkload"), "shop", w);
    ASSERT_TRUE(created.ok()) << created.error().message;
    SetReady(ready);
  }

  void SetReady(std::map<std::string, int> ready) {
    json w = *objects().Get(Info("FederatedWorkload"), "shop", "web");
    w["status"]["placement"] = json::array();
    w["status"]["clusters"] = json::array();
    for (const auto& [cluster, n] : ready) {
      w["status"]["placement"].push_back({{"cluster", cluster}, {"replicas", n == 0 ? 1 : n}});
      w["status"]["clusters"].push_back(
          {{"cluster", cluster}, {"readyReplicas", n}, {"synced", true}});
    }
    auto r = objects().Update(Info("FederatedWorkload"), "shop", "web", w, "status");
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  std::optional<api::DnsRecordSet> RecordSet(const std::string& name = "web") {
    auto got = objects().Get(Info("DNSRecordSet"), "shop", name);
    if (!got.ok()) return std::nullopt;
    FieldErrors errors;
    return api::DecodeDnsRecordSet(*got, &errors);
  }

  // "cluster:healthy" per endpoint of shop/web, e.g. {"eu-west-1:1", "us-east-1:0"}.
  std::vector<std::string> Health() {
    std::vector<std::string> out;
    auto rs = RecordSet();
    if (!rs) return out;
    for (const auto& e : rs->spec.endpoints)
      out.push_back(e.set_identifier + ":" + (e.healthy ? "1" : "0"));
    return out;
  }

  void WaitSynced(DnsController& c) {
    ASSERT_TRUE(Eventually([&] {
      auto s = c.Services();
      return s.size() == fakes_.size() &&
             std::all_of(s.begin(), s.end(), [](const auto& kv) { return kv.second.synced; });
    }));
  }

  apimachinery::ObjectService& objects() { return federation_.objects(); }

  test_env::InProcessFederation federation_{"dns-controller"};
  std::map<std::string, std::shared_ptr<FakeMemberClient>> fakes_;
};

TEST_F(DnsControllerTest, WritesUpdatesAndDeletesRecordSets) {
  CreateWorkload("geo", {{"us-east-1", 2}, {"eu-west-1", 2}});
  DnsController controller(objects(), Factory());
  ASSERT_TRUE(controller.RefreshMembers().ok());
  WaitSynced(controller);
  auto written = controller.ReconcileAll();
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 1);
  auto rs = RecordSet();
  ASSERT_TRUE(rs.has_value());
  ASSERT_EQ(rs->spec.endpoints.size(), 2u);
  EXPECT_EQ(rs->spec.endpoints[0].targets, std::vector<std::string>{"127.20.2.1"});  // eu-west-1
  EXPECT_EQ(rs->metadata.labels["federation.meridian.io/managed-by"], "meridian");
  EXPECT_EQ(controller.ReconcileAll().value(), 0) << "nothing changed, nothing written";

  // An unreachable member is written unhealthy.
  SetHealth("eu-west-1", "False");
  EXPECT_EQ(controller.ReconcileAll().value(), 1);
  EXPECT_EQ(Health(), (std::vector<std::string>{"eu-west-1:0", "us-east-1:1"}));

  // A hand edit is repaired; spec.dns removed deletes the record set.
  json edited = *objects().Get(Info("DNSRecordSet"), "shop", "web");
  edited["spec"]["endpoints"][0]["healthy"] = true;
  ASSERT_TRUE(objects().Update(Info("DNSRecordSet"), "shop", "web", edited).ok());
  EXPECT_EQ(controller.ReconcileAll().value(), 1);
  EXPECT_EQ(Health(), (std::vector<std::string>{"eu-west-1:0", "us-east-1:1"}));
  json w = *objects().Get(Info("FederatedWorkload"), "shop", "web");
  w["spec"].erase("dns");
  ASSERT_TRUE(objects().Update(Info("FederatedWorkload"), "shop", "web", w).ok());
  EXPECT_EQ(controller.ReconcileAll().value(), 1);
  EXPECT_FALSE(RecordSet().has_value());
}

TEST_F(DnsControllerTest, NeverOverwritesARecordSetItDoesNotManage) {
  api::DnsRecordSet mine;
  mine.metadata.name = "web";
  mine.metadata.ns = "shop";
  mine.spec.strategy = "static";
  ASSERT_TRUE(objects().Create(Info("DNSRecordSet"), "shop", api::Encode(mine)).ok());
  CreateWorkload("geo", {{"us-east-1", 2}});
  DnsController controller(objects(), Factory());
  ASSERT_TRUE(controller.RefreshMembers().ok());
  WaitSynced(controller);
  EXPECT_EQ(controller.ReconcileAll().value(), 0);
  EXPECT_EQ(RecordSet()->spec.strategy, "static");
  // Nor deletes it when no workload wants the name.
  json w = *objects().Get(Info("FederatedWorkload"), "shop", "web");
  w["spec"].erase("dns");
  ASSERT_TRUE(objects().Update(Info("FederatedWorkload"), "shop", "web", w).ok());
  EXPECT_EQ(controller.ReconcileAll().value(), 0);
  EXPECT_TRUE(RecordSet().has_value());
}

TEST_F(DnsControllerTest, AMemberWhoseWatchCannotStartIsRetriedAndDelaysNoOne) {
  fakes_["eu-west-1"]->FailAlways(sync::testing::Verb::kWatch,
                                  UnavailableError("connection refused"));
  CreateWorkload("geo", {{"us-east-1", 2}, {"eu-west-1", 2}});
  DnsControllerOptions options;
  options.member_retry = std::chrono::milliseconds(20);
  DnsController controller(objects(), Factory(), options);
  ASSERT_TRUE(controller.Start().ok());
  ASSERT_TRUE(Eventually([&] {
    return Health() == std::vector<std::string>{"eu-west-1:0", "us-east-1:1"};
  })) << ::testing::PrintToString(Health());
  EXPECT_EQ(RecordSet()->spec.endpoints[0].labels["reason"],
            "Services not read from the member yet");
  fakes_["eu-west-1"]->ClearFailures();
  EXPECT_TRUE(Eventually([&] {
    return Health() == std::vector<std::string>{"eu-west-1:1", "us-east-1:1"};
  })) << ::testing::PrintToString(Health());
  controller.Stop();
}

TEST_F(DnsControllerTest, AMemberWhoseServerChangesIsWatchedAgainAndALeavingMemberIsDropped) {
  std::map<std::string, int> made;
  std::mutex made_mu;
  sync::MemberClientFactory counting = [&, inner = Factory()](const api::MemberCluster& m) {
    std::lock_guard lock(made_mu);
    ++made[m.metadata.name + " " + m.spec.server];
    return inner(m);
  };
  DnsController controller(objects(), counting);
  ASSERT_TRUE(controller.RefreshMembers().ok());
  WaitSynced(controller);
  ASSERT_TRUE(controller.RefreshMembers().ok());  // nothing changed: no new client
  json m = *objects().Get(Info("MemberCluster"), "", "eu-west-1");
  m["spec"]["server"] = "http://127.0.0.1:2/clusters/eu-west-1";
  ASSERT_TRUE(objects().Update(Info("MemberCluster"), "", "eu-west-1", m).ok());
  ASSERT_TRUE(controller.RefreshMembers().ok());
  WaitSynced(controller);
  {
    std::lock_guard lock(made_mu);
    EXPECT_EQ(made,
              (std::map<std::string, int>{{"eu-west-1 http://127.0.0.1:1/clusters/eu-west-1", 1},
                                          {"eu-west-1 http://127.0.0.1:2/clusters/eu-west-1", 1},
                                          {"us-east-1 http://127.0.0.1:1/clusters/us-east-1", 1}}));
  }
  ASSERT_TRUE(objects().Delete(Info("MemberCluster"), "", "eu-west-1").ok());
  ASSERT_TRUE(controller.RefreshMembers().ok());
  EXPECT_EQ(controller.Services().count("eu-west-1"), 0u);
  EXPECT_EQ(controller.Services().count("us-east-1"), 1u);
  controller.Stop();
  EXPECT_EQ(fakes_["eu-west-1"]->ActiveWatches(), 0u);
  EXPECT_EQ(fakes_["us-east-1"]->ActiveWatches(), 0u);
}

TEST_F(DnsControllerTest, WatchesDriveHealthReadinessAndAddressChangesIntoAnswers) {
  CreateWorkload("geo", {{"us-east-1", 2}, {"eu-west-1", 2}});
  DnsController controller(objects(), Factory());
  ASSERT_TRUE(controller.Start().ok());

  const ServingConfig config = EuUsZone();
  std::vector<std::string> ignored;
  SwappableRecordSource source(*BuildServedSnapshot({}, {}, config, 0, &ignored));
  RecordSetPublisher publisher(objects(), config, source);
  ASSERT_TRUE(publisher.Start().ok());

  // What a client in Paris (81/8) is answered (the address).
  auto paris = [&]() -> std::string {
    std::string a = AnswerInParis(source);
    return a.rfind("A ", 0) == 0 ? a.substr(2) : a;
  };
  ASSERT_TRUE(Eventually([&] { return paris() == "127.20.2.1"; })) << paris();

  // The member fails: its health reaches the answer (watch-driven, no polling).
  SetHealth("eu-west-1", "False");
  EXPECT_TRUE(Eventually([&] { return paris() == "127.20.1.1"; })) << paris();
  SetHealth("eu-west-1", "True");
  EXPECT_TRUE(Eventually([&] { return paris() == "127.20.2.1"; })) << paris();

  // No ready replicas there: not answered.
  SetReady({{"us-east-1", 2}, {"eu-west-1", 0}});
  EXPECT_TRUE(Eventually([&] { return paris() == "127.20.1.1"; })) << paris();
  SetReady({{"us-east-1", 2}, {"eu-west-1", 2}});
  EXPECT_TRUE(Eventually([&] { return paris() == "127.20.2.1"; })) << paris();

  // The member's load balancer gets a new address (the Service watch in the member).
  fakes_["eu-west-1"]->Apply(kServices, Service("web", "127.20.2.9"));
  EXPECT_TRUE(Eventually([&] { return paris() == "127.20.2.9"; })) << paris();
  // ... and loses it.
  fakes_["eu-west-1"]->Apply(kServices, Service("web", ""));
  EXPECT_TRUE(Eventually([&] { return paris() == "127.20.1.1"; })) << paris();
  fakes_["eu-west-1"]->Remove(kServices, "shop", "web");
  fakes_["eu-west-1"]->Apply(kServices, Service("web", "127.20.2.1"));
  EXPECT_TRUE(Eventually([&] { return paris() == "127.20.2.1"; })) << paris();

  // The Topology goes away: the publisher rebuilds (no RTTs: eu-west is still the client's
  // own region, so the answer stays), and the serial moves with the store.
  uint64_t before = publisher.publishes();
  ASSERT_TRUE(objects().Delete(Info("Topology"), "", "default").ok());
  EXPECT_TRUE(Eventually([&] { return publisher.publishes() > before; }));
  EXPECT_EQ(paris(), "127.20.2.1");

  publisher.Stop();
  controller.Stop();
}

// The Service watch keeps hostnames as it keeps addresses: a member switching between an IP
// and a hostname load balancer, or losing it, reaches the record set and the answer.
TEST_F(DnsControllerTest, HostnameLoadBalancersReachTheAnswersAsACname) {
  CreateWorkload("geo", {{"us-east-1", 2}, {"eu-west-1", 2}});
  fakes_["us-east-1"]->Apply(kServices, HostnameService("web", "web.us.lb.example.net"));
  fakes_["eu-west-1"]->Apply(kServices, HostnameService("web", "web.eu.lb.example.net"));
  DnsController controller(objects(), Factory());
  ASSERT_TRUE(controller.Start().ok());
  const ServingConfig config = EuUsZone();
  std::vector<std::string> ignored;
  SwappableRecordSource source(*BuildServedSnapshot({}, {}, config, 0, &ignored));
  RecordSetPublisher publisher(objects(), config, source);
  ASSERT_TRUE(publisher.Start().ok());

  // What a client in Paris (81/8) is answered: "CNAME target." or "A address".
  auto paris = [&]() -> std::string { return AnswerInParis(source); };
  ASSERT_TRUE(Eventually([&] { return paris() == "CNAME web.eu.lb.example.net."; })) << paris();
  EXPECT_EQ(controller.Services()["eu-west-1"].hostnames.at("shop/web"),
            std::vector<std::string>{"web.eu.lb.example.net"});

  // eu-west-1's load balancer gets an address: addresses win, us-east-1's CNAME is written
  // unhealthy and not answered beside it (every client gets eu-west-1's A).
  fakes_["eu-west-1"]->Apply(kServices, Service("web", "127.20.2.7"));
  EXPECT_TRUE(Eventually([&] { return paris() == "A 127.20.2.7"; })) << paris();
  EXPECT_TRUE(Eventually([&] {
    auto rs = RecordSet();
    return rs && rs->spec.endpoints.size() == 2 && rs->spec.endpoints[1].record_type == "CNAME" &&
           !rs->spec.endpoints[1].healthy;
  }));
  EXPECT_EQ(controller.Services()["eu-west-1"].hostnames.count("shop/web"), 0u);

  // eu-west-1 loses its load balancer altogether: us-east-1's hostname is answered again.
  fakes_["eu-west-1"]->Apply(kServices, Service("web", ""));
  EXPECT_TRUE(Eventually([&] { return paris() == "CNAME web.us.lb.example.net."; })) << paris();

  publisher.Stop();
  controller.Stop();
}

}  // namespace
}  // namespace meridian::dns
