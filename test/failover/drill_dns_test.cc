// DNS answers sampled during live drills (failover/drill_dns.h): which regions the served
// snapshot sends each client region to, how many answers point at the failed target, the
// report's summary and its JSON, and abortConditions.dnsAnswersToFailedRegionPercent
// through the drill's phase machine on a FakeClock.
#include "failover/drill_dns.h"

#include <gtest/gtest.h>

#include "api/codec.h"
#include "common/clock.h"
#include "failover/drill.h"
#include "failover/drill_controller.h"

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

TEST(DrillDns, ClientsPerRegionAndAnswersPointingAtTheFailedRegion) {
  auto snapshot = Served(/*eu_west_healthy=*/true);
  ASSERT_NE(snapshot, nullptr);
  DnsAnswerSample s = SampleDnsAnswers(*snapshot, {"web.global.example.com", "nothing.example.org"},
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
  s = SampleDnsAnswers(*Served(false), {"web.global.example.com"}, Region("eu-west"), Members());
  EXPECT_EQ(s.to_failed, 0);
  EXPECT_EQ(s.sent_to["eu-west"], std::vector<std::string>{"eu-central"});
  EXPECT_EQ(s.PercentToFailed(), 0);
}

TEST(DrillDns, AZoneTargetCountsOnlyMembersWhollyInsideIt) {
  auto members = Members();
  EXPECT_TRUE(MemberInsideTarget({"eu-west-1a", "", ""}, members[0]));
  EXPECT_FALSE(MemberInsideTarget({"eu-central-1a", "", ""}, members[1]));  // 1b still serves
  EXPECT_TRUE(MemberInsideTarget({"", "", "us-east-1"}, members[2]));
  DnsAnswerSample s = SampleDnsAnswers(*Served(true), {"web.global.example.com"},
                                       {"eu-central-1a", "", ""}, members);
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
  fleet_.dns = Served(/*eu_west_healthy=*/true);
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
  fleet_.dns = Served(/*eu_west_healthy=*/false);
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
