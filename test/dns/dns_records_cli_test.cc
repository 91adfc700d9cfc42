// fedctl dns records: the rows it prints from DNSRecordSets, the NAME filter, and its errors,
// against a fake ResourceClient.
#include <gtest/gtest.h>

#include <sstream>

#include "api/codec.h"
#include "cli/dns_records.h"

namespace meridian::cli {
namespace {

using nlohmann::json;

api::DnsEndpoint Ep(const std::string& cluster, const std::string& region,
                    const std::string& jurisdiction, std::vector<std::string> targets,
                    int64_t weight, bool healthy, const std::string& reason = "") {
  api::DnsEndpoint e;
  e.dns_name = "web.global.example.com";
  e.record_type = "A";
  e.targets = std::move(targets);
  e.record_ttl = 5;
  e.set_identifier = cluster;
  e.region = region;
  e.jurisdiction = jurisdiction;
  e.weight = weight;
  e.healthy = healthy;
  if (!reason.empty()) e.labels["reason"] = reason;
  return e;
}

api::DnsRecordSet Web() {
  api::DnsRecordSet rs;
  rs.metadata.name = "web";
  rs.metadata.ns = "shop";
  rs.spec.strategy = "failover";
  rs.spec.endpoints = {Ep("us-east-1", "us-east", "us", {"127.20.1.1"}, 3, true),
                       Ep("eu-west-1", "eu-west", "eu", {"127.20.3.1", "127.20.3.2"}, 2, false,
                          "member unreachable (ProbeFailed)")};
  rs.spec.endpoints[0].priority = 1;
  return rs;
}

class FakeClient : public ResourceClient {
 public:
  json list = {{"items", json::array()}};
  std::optional<ApiError> error;
  std::string listed_ns = "unset";
  ApiResult<json> Get(const KindInfo&, const std::string&, const std::string&) override {
    return ApiError{};
  }
  ApiResult<json> List(const KindInfo& kind, const std::string& ns, const std::string&) override {
    EXPECT_EQ(kind.kind, "DNSRecordSet");
    listed_ns = ns;
    if (error) return *error;
    return list;
  }
  ApiResult<json> Create(const KindInfo&, const std::string&, const json&) override {
    return ApiError{};
  }
  ApiResult<json> Update(const KindInfo&, const std::string&, const std::string&,
                         const json&) override {
    return ApiError{};
  }
  ApiResult<json> Delete(const KindInfo&, const std::string&, const std::string&) override {
    return ApiError{};
  }
};

TEST(DnsRecordsCliTest, OneRowPerEndpointWithWhatIsAnsweredAndWhy) {
  auto rows = DnsRecordRows({Web()});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"NAME", "TYPE", "STRATEGY", "TTL", "REGION",
                                               "CLUSTER", "TARGETS", "WEIGHT", "PRIORITY",
                                               "JURISDICTION", "HEALTHY", "REASON", "RECORDSET"}));
  // Sorted by name, type, cluster: eu-west-1 first.
  EXPECT_EQ(rows[1],
            (std::vector<std::string>{"web.global.example.com", "A", "failover", "5", "eu-west",
                                      "eu-west-1", "127.20.3.1,127.20.3.2", "2", "0", "eu", "no",
                                      "member unreachable (ProbeFailed)", "shop/web"}));
  EXPECT_EQ(rows[2][5], "us-east-1");
  EXPECT_EQ(rows[2][8], "1");
  EXPECT_EQ(rows[2][10], "yes");
  EXPECT_EQ(rows[2][11], "-");

  // Residency: an endpoint outside the allowed jurisdictions is shown as never answered.
  api::DnsRecordSet rs = Web();
  rs.spec.strategy = "geo";
  rs.spec.jurisdictions = std::vector<std::string>{"eu"};
  rows = DnsRecordRows({rs});
  EXPECT_EQ(rows[2][8], "-") << "priority only means something for failover";
  EXPECT_EQ(rows[2][10], "no");
  EXPECT_EQ(rows[2][11], "outside residency");
  // Healthy but without targets: not answered either.
  rs.spec.jurisdictions.reset();
  rs.spec.endpoints[0].targets.clear();
  EXPECT_EQ(DnsRecordRows({rs})[2][11], "no targets");
}

TEST(DnsRecordsCliTest, HostnameMembersShowTheirCnameTarget) {
  api::DnsRecordSet rs = Web();
  rs.spec.strategy = "geo";
  rs.spec.endpoints = {
      Ep("us-east-1", "us-east", "us", {"web.shop.us-east-1.lb.example.net"}, 3, true),
      Ep("eu-west-1", "eu-west", "eu", {"web.shop.eu-west-1.lb.example.net"}, 2, true)};
  for (auto& e : rs.spec.endpoints) e.record_type = "CNAME";
  auto rows = DnsRecordRows({rs});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1][1], "CNAME");
  EXPECT_EQ(rows[1][6], "web.shop.eu-west-1.lb.example.net");
  EXPECT_EQ(rows[1][10], "yes");
  // Beside an A endpoint at the same name, a CNAME is never served: shown so, even when the
  // object (hand-written) calls it healthy.
  rs.spec.endpoints.push_back(Ep("ap-south-1", "ap-south", "in", {"127.20.5.1"}, 1, true));
  rows = DnsRecordRows({rs});
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[1][1], "A");
  EXPECT_EQ(rows[1][10], "yes");
  EXPECT_EQ(rows[2][1], "CNAME");
  EXPECT_EQ(rows[2][10], "no");
  EXPECT_EQ(rows[2][11], "a CNAME is not served beside A/AAAA at one name");
}

TEST(DnsRecordsCliTest, FiltersByDnsNameOrObjectName) {
  api::DnsRecordSet rs = Web();
  EXPECT_TRUE(DnsRecordSetMatches(rs, ""));
  EXPECT_TRUE(DnsRecordSetMatches(rs, "web"));
  EXPECT_TRUE(DnsRecordSetMatches(rs, "WEB.Global.Example.com."));
  EXPECT_FALSE(DnsRecordSetMatches(rs, "api.global.example.com"));
}

TEST(DnsRecordsCliTest, RunPrintsTheTableAndReportsErrors) {
  FakeClient client;
  api::DnsRecordSet other = Web();
  other.metadata.name = "api";
  for (auto& e : other.spec.endpoints) e.dns_name = "api.global.example.com";
  client.list["items"] = {api::Encode(Web()),
                          api::Encode(other),
                          {{"apiVersion", "federation.meridian.io/v1alpha1"},
                           {"kind", "DNSRecordSet"},
                           {"metadata", {{"name", "broken"}, {"namespace", "shop"}}},
                           {"spec", {{"strategy", "nearest"}}}}};
  std::ostringstream out, err;
  EXPECT_EQ(RunDnsRecords(client, "", "web.global.example.com", out, err), 0);
  EXPECT_EQ(client.listed_ns, "");
  EXPECT_NE(out.str().find("127.20.3.1,127.20.3.2"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find("api.global.example.com"), std::string::npos) << out.str();
  EXPECT_NE(err.str().find("skipping DNSRecordSet shop/broken: spec.strategy"), std::string::npos)
      << err.str();

  std::ostringstream out2, err2;
  EXPECT_EQ(RunDnsRecords(client, "shop", "nope.global.example.com", out2, err2), 1);
  EXPECT_EQ(client.listed_ns, "shop");
  EXPECT_NE(err2.str().find("No DNS records for \"nope.global.example.com\" in namespace shop"),
            std::string::npos)
      << err2.str();

  client.error = ApiError{0, "", "connection refused: http://127.0.0.1:1"};
  std::ostringstream out3, err3;
  EXPECT_EQ(RunDnsRecords(client, "", "", out3, err3), 1);
  EXPECT_NE(err3.str().find("connection refused"), std::string::npos) << err3.str();
}

}  // namespace
}  // namespace meridian::cli
