// DNS answers sampled during live drills (failover/drill_dns.h): which regions the served
// snapshot sends each client region to, how many answers point at the failed target, lost
// queries, the report's summary and its JSON, abortConditions.dnsAnswersToFailedRegionPercent
// through the drill's phase machine on a FakeClock, and the UDP shell (drill_dns_udp.h)
// against the real DNS server on loopback (its rate-limit exemption, its timeout).
#include "failover/drill_dns.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "api/codec.h"
#include "common/clock.h"
#include "dns/record_source.h"
#include "dns/server.h"
#include "failover/drill.h"
#include "failover/drill_controller.h"
#include "failover/drill_dns_udp.h"

namespace meridian::failover {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

api::MemberCluster Member(const std::string& name, const std::string& region,
                          std::vector<std::string> zones) {
  api::MemberCluster m;
  m.metadata.name = name;
  m.spec.region = region;
  m.spec.zones = std::move(zones);
  return m;
}

std::vector<api::MemberCluster> Members() {
  return {Member("eu-west-1", "eu-west", {"eu-west-1a"}),
          Member("eu-central-1", "eu-central", {"eu-central-1a", "eu-central-1b"}),
          Member("us-east-1", "us-east", {"us-east-1a"})};
}

dns::Endpoint Ep(const std::string& ip, const std::string& cluster, const std::string& region,
                 bool healthy = true) {
  dns::Endpoint e;
  e.target = ip;
  e.cluster = cluster;
  e.region = region;
  e.healthy = healthy;
  return e;
}

// web.global.example.com, geo: one endpoint per member; clients of eu-west, us-east and
// eu-central by subnet; no default region (the "default" client gets every endpoint).
std::shared_ptr<const dns::Snapshot> Served(bool eu_west_healthy) {
  dns::SnapshotSpec s;
  dns::ZoneSpec z;
  z.apex = "global.example.com";
  s.zones.push_back(z);
  s.rtts = {
      {"eu-west", "eu-central", 10}, {"eu-west", "us-east", 80}, {"eu-central", "us-east", 90}};
  s.client_regions = {
      {"10.1.0.0/16", "eu-west"}, {"10.2.0.0/16", "us-east"}, {"10.3.0.0/16", "eu-central"}};
  dns::RecordSetSpec web;
  web.name = "web.global.example.com";
  web.strategy = dns::Strategy::kGeo;
  web.endpoints = {Ep("127.0.1.1", "eu-west-1", "eu-west", eu_west_healthy),
                   Ep("127.0.2.1", "us-east-1", "us-east"),
                   Ep("127.0.3.1", "eu-central-1", "eu-central")};
  s.record_sets.push_back(web);
  auto built = dns::Snapshot::Build(s);
  EXPECT_TRUE(built.ok()) << built.status().ToString();
  return built.ok() ? *built : nullptr;
}

api::DrillTarget Region(const std::string& r) { return {"", r, ""}; }

// `names` asked of `snapshot` in-process, as the unit tests' transport does.
std::shared_ptr<const DnsObservation> Observe(std::shared_ptr<const dns::Snapshot> snapshot,
                                              const std::vector<std::string>& names) {
  SnapshotDnsTransport transport(snapshot);
  return std::make_shared<DnsObservation>(ObserveDns(snapshot, names, transport));
}

DnsAnswerSample Ask(std::shared_ptr<const dns::Snapshot> snapshot,
                    const std::vector<std::string>& names, const api::DrillTarget& target,
                    const std::vector<api::MemberCluster>& members) {
  return SampleDnsAnswers(*Observe(std::move(snapshot), names), names, target, members);
}

TEST(DrillDns, ClientsPerRegionAndAnswersPointingAtTheFailedRegion) {
  auto snapshot = Served(/*eu_west_healthy=*/true);
  ASSERT_NE(snapshot, nullptr);
  DnsAnswerSample s = Ask(snapshot, {"web.global.example.com", "nothing.example.org"},
                          Region("eu-west"), Members());
  // Three client regions and "default"; the name outside our zones is not counted.
  EXPECT_EQ(s.answers, 4);
  EXPECT_EQ(s.sent_to["eu-west"], std::vector<std::string>{"eu-west"});
  EXPECT_EQ(s.sent_to["us-east"], std::vector<std::string>{"us-east"});
  EXPECT_EQ(s.sent_to["eu-central"], std::vector<std::string>{"eu-central"});
  EXPECT_EQ(s.sent_to["default"], (std::vector<std::string>{"eu-central", "eu-west", "us-east"}));
  // eu-west's clients and the default client get an eu-west address.
  EXPECT_EQ(s.to_failed, 2);
  EXPECT_EQ(s.empty, 0);
  EXPECT_EQ(s.PercentToFailed(), 50);

  // The DNS controller marked eu-west unhealthy: its clients go to the nearest other region.
  s = Ask(Served(false), {"web.global.example.com"}, Region("eu-west"), Members());
  EXPECT_EQ(s.to_failed, 0);
  EXPECT_EQ(s.sent_to["eu-west"], std::vector<std::string>{"eu-central"});
  EXPECT_EQ(s.PercentToFailed(), 0);
}

// A transport that answers through the snapshot but loses the queries `lose` says, and
// truncates the ones `truncate` says (as the rate limiter's slip does).
class LossyTransport : public DnsQueryTransport {
 public:
  LossyTransport(std::shared_ptr<const dns::Snapshot> snapshot, std::set<size_t> lose,
                 std::set<size_t> truncate)
      : inner_(std::move(snapshot)), lose_(std::move(lose)), truncate_(std::move(truncate)) {}
  std::vector<StatusOr<dns::Message>> Exchange(const std::vector<dns::Message>& queries) override {
    std::vector<StatusOr<dns::Message>> out = inner_.Exchange(queries);
    for (size_t i : lose_) out[i] = DeadlineExceededError("no answer within 100 ms");
    for (size_t i : truncate_) {
      out[i]->header.tc = true;
      out[i]->answers.clear();
    }
    return out;
  }
  std::string Describe() const override { return "lossy"; }

 private:
  SnapshotDnsTransport inner_;
  std::set<size_t> lose_, truncate_;
};

TEST(DrillDns, LostAndTruncatedQueriesAreCountedNotDropped) {
  auto snapshot = Served(/*eu_west_healthy=*/true);
  ASSERT_NE(snapshot, nullptr);
  const std::vector<std::string> names = {"web.global.example.com"};
  // Four probes (three client regions and "default"); the first is lost, the second truncated.
  LossyTransport transport(snapshot, {0}, {1});
  DnsObservation observed = ObserveDns(snapshot, names, transport);
  ASSERT_EQ(observed.probes.size(), 4u);
  EXPECT_EQ(observed.source, "lossy");
  DnsAnswerSample s = SampleDnsAnswers(observed, names, Region("eu-west"), Members());
  EXPECT_EQ(s.lost, 2);
  EXPECT_EQ(s.answers, 2);
  EXPECT_EQ(s.source, "lossy");
  EXPECT_FALSE(s.sent_to.count(observed.probes[0].client_region));

  // Everything lost: no percentage, but the summary counts what was sent and lost.
  LossyTransport silent(snapshot, {0, 1, 2, 3}, {});
  DnsAnswerSample none =
      SampleDnsAnswers(ObserveDns(snapshot, names, silent), names, Region("eu-west"), Members());
  EXPECT_EQ(none.answers, 0);
  EXPECT_EQ(none.lost, 4);
  DnsAnswerSummary summary;
  AddDnsSample(&summary, s, 1000);
  AddDnsSample(&summary, none, 2000);
  EXPECT_EQ(summary.samples, 1);
  EXPECT_EQ(summary.queries, 8);
  EXPECT_EQ(summary.lost, 6);
  EXPECT_EQ(summary.source, "lossy");
  auto back = DnsSummaryFromJson(DnsSummaryToJson(summary), "");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, summary);
  EXPECT_EQ(DnsSampleToJson(none)["lost"], 4);
}

// The UDP shell against the real DNS server on loopback, rate-limited to one response a
// second per /24 (a FakeClock that never moves: no token comes back): the probes from the
// drill's own exempt address are all answered, exactly as in-process; the same probes from
// 127.0.0.1 lose all but one to the limiter, and the sample says so.
TEST(DrillDnsUdp, RealQueriesMatchTheInProcessAnswersAndTheProbesAreExemptFromRrl) {
  auto snapshot = Served(/*eu_west_healthy=*/true);
  ASSERT_NE(snapshot, nullptr);
  dns::SwappableRecordSource source(snapshot);
  FakeClock clock;
  const dns::IpAddress loopback = *dns::IpAddress::Parse("127.0.0.1");
  dns::ServerOptions options;
  options.rate_limit = {.responses_per_second = 1, .slip = 0};
  options.rate_limit.exempt_clients.push_back(DrillProbeSource(loopback));
  auto server = dns::Server::Start(options, source, clock);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::vector<std::string> names = {"web.global.example.com"};
  const DnsAnswerSample in_process = Ask(snapshot, names, Region("eu-west"), Members());

  auto udp = UdpDnsTransport::Create(loopback, (*server)->port(), DrillProbeSource(loopback),
                                     std::chrono::milliseconds(2000));
  ASSERT_TRUE(udp.ok()) << udp.status().ToString();
  const uint64_t before = (*server)->counters().udp_queries.load();
  for (int round = 0; round < 3; ++round) {
    DnsObservation observed = ObserveDns(snapshot, names, **udp);
    DnsAnswerSample s = SampleDnsAnswers(observed, names, Region("eu-west"), Members());
    EXPECT_EQ(s.lost, 0) << "round " << round;
    EXPECT_NE(s.source.find("UDP queries to the DNS server at 127.0.0.1:"), std::string::npos)
        << s.source;
    s.source = in_process.source;
    EXPECT_EQ(s, in_process) << "round " << round;
  }
  EXPECT_EQ((*server)->counters().udp_queries.load() - before, 12u);
  EXPECT_EQ((*server)->counters().rate_limited_dropped.load(), 0u);

  auto shared = UdpDnsTransport::Create(loopback, (*server)->port(), loopback,
                                        std::chrono::milliseconds(300));
  ASSERT_TRUE(shared.ok());
  DnsAnswerSample limited =
      SampleDnsAnswers(ObserveDns(snapshot, names, **shared), names, Region("eu-west"), Members());
  EXPECT_EQ(limited.answers, 1);
  EXPECT_EQ(limited.lost, 3);
  EXPECT_EQ((*server)->counters().rate_limited_dropped.load(), 3u);
}

// A server that never answers: every probe is lost after the timeout, with the reason.
TEST(DrillDnsUdp, UnansweredQueriesTimeOutAsLost) {
  auto snapshot = Served(/*eu_west_healthy=*/true);
  ASSERT_NE(snapshot, nullptr);
  int silent = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(silent, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const dns::IpAddress loopback = *dns::IpAddress::Parse("127.0.0.1");
  auto udp = UdpDnsTransport::Create(loopback, ntohs(addr.sin_port), DrillProbeSource(loopback),
                                     std::chrono::milliseconds(50));
  ASSERT_TRUE(udp.ok());
  DnsObservation observed = ObserveDns(snapshot, {"web.global.example.com"}, **udp);
  ASSERT_EQ(observed.results.size(), 4u);
  for (const StatusOr<dns::Message>& r : observed.results) {
    EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  }
  DnsAnswerSample s =
      SampleDnsAnswers(observed, {"web.global.example.com"}, Region("eu-west"), Members());
  EXPECT_EQ(s.lost, 4);
  EXPECT_EQ(s.answers, 0);
  close(silent);

  // Bad construction is refused with the reason.
  EXPECT_FALSE(UdpDnsTransport::Create(loopback, 53, *dns::IpAddress::Parse("::1"),
                                       std::chrono::milliseconds(50))
                   .ok());
  EXPECT_FALSE(UdpDnsTransport::Create(loopback, 0, loopback, std::chrono::milliseconds(50)).ok());
}

TEST(DrillDns, AZoneTargetCountsOnlyMembersWhollyInsideIt) {
  auto members = Members();
  EXPECT_TRUE(MemberInsideTarget({"eu-west-1a", "", ""}, members[0]));
  EXPECT_FALSE(MemberInsideTarget({"eu-central-1a", "", ""}, members[1]));  // 1b still serves
  EXPECT_TRUE(MemberInsideTarget({"", "", "us-east-1"}, members[2]));
  DnsAnswerSample s =
      Ask(Served(true), {"web.global.example.com"}, {"eu-central-1a", "", ""}, members);
  EXPECT_EQ(s.to_failed, 0);
  EXPECT_EQ(s.answers, 4);
}

TEST(DrillDns, SummaryPercentilesMaximumAndAbortThreshold) {
  DnsAnswerSummary summary;
  DnsAnswerSample half{4, 2, 0, {{"eu-west", {"eu-west"}}}};
  DnsAnswerSample none{4, 0, 0, {{"eu-west", {"eu-central"}}}};
  DnsAnswerSample one_of_three{3, 1, 0, {}};
  AddDnsSample(&summary, none, 0);
  AddDnsSample(&summary, half, 1000);
  AddDnsSample(&summary, half, 2000);
  AddDnsSample(&summary, one_of_three, 3000);  // 33.3 % rounds up to 34
  for (int i = 0; i < 16; ++i) AddDnsSample(&summary, none, 4000 + i * 1000);
  AddDnsSample(&summary, DnsAnswerSample{}, 30000);  // nothing answered: not a sample
  EXPECT_EQ(summary.samples, 20);
  EXPECT_EQ(summary.max_percent, 50);
  EXPECT_EQ(summary.max_at_ms, 1000);  // first reached
  EXPECT_EQ(summary.last_to_failed_ms, 3000);
  EXPECT_EQ(DnsPercentile(summary, 50), 0);
  EXPECT_EQ(DnsPercentile(summary, 95), 50);  // rank 19 of 20: 0 x17, 34, 50, 50
  EXPECT_EQ(DnsPercentile(summary, 85), 0);
  EXPECT_EQ(DnsPercentile(summary, 90), 34);
  EXPECT_EQ(summary.sent_to["eu-west"]["eu-west"], 2);
  EXPECT_EQ(summary.sent_to["eu-west"]["eu-central"], 17);

  EXPECT_FALSE(DnsAbortFires(half, std::nullopt));
  EXPECT_FALSE(DnsAbortFires(half, 50));  // strictly above
  EXPECT_TRUE(DnsAbortFires(half, 49));
  EXPECT_TRUE(DnsAbortFires(one_of_three, 33));
  EXPECT_FALSE(DnsAbortFires(none, 0));
  EXPECT_FALSE(DnsAbortFires(DnsAnswerSample{}, 0));
}

TEST(DrillDns, JsonRoundTripAndBadValuesNameTheField) {
  DnsAnswerSummary summary;
  summary.names = {"web.global.example.com"};
  AddDnsSample(&summary, DnsAnswerSample{4, 2, 1, {{"eu-west", {"eu-west"}}}}, 1000);
  AddDnsSample(&summary, DnsAnswerSample{4, 0, 0, {{"eu-west", {"eu-central"}}}}, 2000);
  json j = DnsSummaryToJson(summary);
  EXPECT_EQ(j["maxPercentToFailed"], 50);
  EXPECT_EQ(j["p95PercentToFailed"], 50);
  EXPECT_EQ(j["p50PercentToFailed"], 0);
  auto back = DnsSummaryFromJson(j, "");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, summary);

  DnsAnswerSample sample{4, 2, 1, {{"eu-west", {"eu-west"}}, {"default", {"eu-west", "us-east"}}}};
  sample.lost = 3;
  auto sample_back = DnsSampleFromJson(DnsSampleToJson(sample), "");
  ASSERT_TRUE(sample_back.ok());
  EXPECT_EQ(*sample_back, sample);

  j["percentHistogram"]["x"] = 1;
  EXPECT_NE(DnsSummaryFromJson(j, "").status().message().find("percentHistogram.x"),
            std::string::npos);

  // Inside a whole report the field's full path is named.
  DrillRecord record;
  record.timeline.push_back(DrillSample{});
  record.timeline.back().dns = sample;
  record.dns = summary;
  json report = RecordToJson(record);
  auto parsed = RecordFromJson(report);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->dns, record.dns);
  EXPECT_EQ(parsed->timeline.back().dns, sample);
  report["timeline"][0]["dns"]["toFailed"] = "two";
  Status bad = RecordFromJson(report).status();
  EXPECT_NE(bad.message().find("status.report.timeline[0].dns: toFailed"), std::string::npos)
      << bad.ToString();
}

TEST(DrillDns, AbortConditionIsAdmittedOnlyAsAPercentage) {
  json drill = {{"apiVersion", "federation.meridian.io/v1alpha1"},
                {"kind", "FailoverDrill"},
                {"metadata", {{"name", "d"}}},
                {"spec",
                 {{"target", {{"region", "eu-west"}}},
                  {"mode", "live"},
                  {"abortConditions", {{"dnsAnswersToFailedRegionPercent", 5}}}}}};
  FieldErrors errors;
  api::FailoverDrill decoded = api::DecodeFailoverDrill(drill, &errors);
  ASSERT_TRUE(errors.empty()) << errors.front().ToString();
  EXPECT_EQ(decoded.spec.abort_dns_to_failed_percent, 5);
  EXPECT_EQ(api::Encode(decoded)["spec"]["abortConditions"]["dnsAnswersToFailedRegionPercent"], 5);
  for (const json& bad : {json(101), json(-1), json("5%")}) {
    drill["spec"]["abortConditions"]["dnsAnswersToFailedRegionPercent"] = bad;
    FieldErrors refused;
    api::DecodeFailoverDrill(drill, &refused);
    ASSERT_FALSE(refused.empty()) << bad.dump();
    EXPECT_EQ(refused.front().path, "spec.abortConditions.dnsAnswersToFailedRegionPercent")
        << refused.front().ToString();
  }
}

// A declared region drill whose target is seen failed from the first sample: the first
// sample after detection still finds eu-west's clients sent to eu-west, so the drill aborts
// on abortConditions.dnsAnswersToFailedRegionPercent; with DNS already moved it completes,
// and the report carries the DNS timeline and summary.
class DrillDnsStep : public ::testing::Test {
 protected:
  DrillDnsStep() {
    drill_.metadata.name = "d";
    drill_.spec.target = Region("eu-west");
    drill_.spec.mode = "live";
    drill_.spec.duration_seconds = 3;
    drill_.spec.abort_dns_to_failed_percent = 0;
    fleet_.members = Members();
    fleet_.members[0].status.conditions = {{"Reachable", "False", "ProbeFailed", "", "", 0}};
    api::FederatedWorkload w;
    w.metadata.ns = "shop";
    w.metadata.name = "web";
    w.spec.dns = api::DnsSpec{};
    w.spec.dns->name = "web.global.example.com";
    w.status.desired_replicas = 4;
    api::ClusterPlacement eu, us;
    eu.cluster = "eu-west-1";
    eu.replicas = 2;
    us.cluster = "us-east-1";
    us.replicas = 2;
    w.status.placement = {eu, us};
    fleet_.workloads = {w};
  }

  // Runs passes a second apart from t0 until the drill's phase is final or `limit` passes.
  void Run(int limit) {
    for (int i = 0; i < limit && !phase_final(); ++i) {
      DrillStep s = NextDrillStep(drill_, fleet_, clock_.Now(), 1000ms);
      drill_.status = s.status;
      if (drill_.status.phase != "Pending") clock_.Advance(1s);
    }
  }
  bool phase_final() const {
    const std::string& p = drill_.status.phase;
    return p == "Completed" || p == "Aborted" || p == "Failed";
  }

  FakeClock clock_;
  api::FailoverDrill drill_;
  Fleet fleet_;
};

TEST_F(DrillDnsStep, AbortsWhenAnswersStillPointAtTheDetectedFailedRegion) {
  fleet_.dns = Observe(Served(/*eu_west_healthy=*/true), {"web.global.example.com"});
  Run(10);
  EXPECT_EQ(drill_.status.phase, "Aborted") << drill_.status.message;
  const json& r = drill_.status.report;
  EXPECT_EQ(r["abortConditionFired"], true);
  EXPECT_EQ(r["events"]["detectedMs"], 0) << r.dump();
  // Not on the sample that first saw the failure (DNS gets a sample to react), on the next.
  EXPECT_EQ(r["events"]["abortedMs"], 1000) << r.dump();
  EXPECT_NE(r["abortReason"].get<std::string>().find(
                "DNS answers pointing at the failed target 50% (2 of 4) above 0%"),
            std::string::npos)
      << r["abortReason"];
  ASSERT_EQ(r["timeline"].size(), 2u);
  EXPECT_EQ(r["timeline"][1]["dns"]["toFailed"], 2);
  EXPECT_EQ(r["dns"]["maxPercentToFailed"], 50);
  EXPECT_EQ(r["dns"]["samples"], 2);
  EXPECT_EQ(r["dns"]["names"], json::array({"web.global.example.com"}));
}

TEST_F(DrillDnsStep, CompletesWhenDnsMovedAndReportsWhereClientsWent) {
  fleet_.dns = Observe(Served(/*eu_west_healthy=*/false), {"web.global.example.com"});
  Run(10);
  EXPECT_EQ(drill_.status.phase, "Completed") << drill_.status.message;
  const json& r = drill_.status.report;
  EXPECT_EQ(r["abortConditionFired"], false);
  EXPECT_EQ(r["dns"]["maxPercentToFailed"], 0);
  EXPECT_EQ(r["dns"]["p95PercentToFailed"], 0);
  EXPECT_TRUE(r["dns"]["lastToFailedMs"].is_null());
  EXPECT_EQ(r["dns"]["sentTo"]["eu-west"]["eu-central"], r["dns"]["samples"]) << r.dump();
}

TEST_F(DrillDnsStep, NoDnsServedMeansNoDnsInTheReport) {
  Run(10);
  EXPECT_EQ(drill_.status.phase, "Completed") << drill_.status.message;
  EXPECT_FALSE(drill_.status.report.contains("dns"));
  EXPECT_FALSE(drill_.status.report["timeline"][0].contains("dns"));
}

}  // namespace
}  // namespace meridian::failover
