// MemberInventory against a real membersim process over HTTP (issue 17: capacity and zone
// health from watches): the Node and Pod watches list once, then follow changes; a
// partition breaks them (the inventory says stale instead of serving old data as current);
// writes made meanwhile push the member's short watch history (--watch-history 10, the least it
// takes) past the last resourceVersion seen, so the resume gets 410 Gone and the watch relists;
// after that the inventory shows the zone's nodes NotReady. membersim's apiReads counters show that
// reading the inventory sends no request. Waits on real time only with generous, polled deadlines.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "failover/member_inventory.h"
#include "failover/node_capacity.h"
#include "sync/http_member_client.h"
#include "test/common/eventually.h"
#include "test/membersim/process.h"

// After gtest: cpprestsdk defines a U() macro that clashes with gtest's template parameters.
#include <cpprest/http_client.h>
#undef U

namespace meridian::failover {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

constexpr char kConfig[] = R"(defaults: {node: {cpu: "4", memory: 8Gi, pods: 10}}
clusters:
  - name: w-1
    region: r-1
    port: 0
    zones: [{name: w-1a, nodes: 12}, {name: w-1b, nodes: 1}]
)";

using test_env::Eventually;

// POST to membersim's admin API; returns the HTTP status (0 when there was no answer).
int Admin(const std::string& base, const std::string& path, const std::string& body = "") {
  try {
    web::http::client::http_client client(base);
    web::http::http_request req(web::http::methods::POST);
    req.set_request_uri(path);
    if (!body.empty()) req.set_body(body, "application/json");
    return client.request(req).get().status_code();
  } catch (const std::exception&) {
    return 0;
  }
}

// The cluster's entry in membersim's admin status (apiReads, apiWrites, ...).
json ClusterStatus(const std::string& base, const std::string& cluster) {
  try {
    web::http::client::http_client client(base);
    auto resp = client.request(web::http::methods::GET, "/admin/status").get();
    json all = json::parse(resp.extract_utf8string(true).get(), nullptr, false);
    if (!all.is_object() || !all["clusters"].is_array()) return json();
    for (const json& c : all["clusters"]) {
      if (c.value("name", "") == cluster) return c;
    }
  } catch (const std::exception&) {
  }
  return json();
}

TEST(MemberInventoryMembersimTest, WatchesFollowNodesRelistAfterGoneAndReadsSendNothing) {
  membersim::testing::MembersimProcess sim;
  std::string error;
  ASSERT_TRUE(sim.Start(kConfig, {"--watch-history", "10"}, &error)) << error;
  const std::string dedicated = sim.Dedicated("w-1");
  ASSERT_FALSE(dedicated.empty());

  sync::MemberEndpoint endpoint;
  endpoint.name = "w-1";
  endpoint.server = dedicated;
  endpoint.timeout = milliseconds(3000);
  auto client = sync::HttpMemberClient::Create(endpoint);
  ASSERT_TRUE(client.ok()) << client.status();
  sync::WatchOptions watch;
  watch.initial_backoff = milliseconds(50);
  watch.max_backoff = milliseconds(200);
  MemberInventory inventory(std::shared_ptr<sync::MemberClient>(std::move(client).value()), watch);
  ASSERT_TRUE(inventory.Start().ok());

  auto zones = [&inventory]() -> std::vector<ZoneCapacity> {
    StatusOr<MemberInventory::Snapshot> s = inventory.Read();
    if (!s.ok()) return {};
    return EstimateZoneCapacity(s->nodes, s->pods, ReferencePod(), {"w-1a", "w-1b"});
  };
  ASSERT_TRUE(Eventually([&] {
    std::vector<ZoneCapacity> z = zones();
    return z.size() == 2 && z[0].ready_nodes == 12 && z[1].ready_nodes == 1;
  }));
  const StatusOr<MemberInventory::Snapshot> first = inventory.Read();
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->stale);
  EXPECT_EQ(first->nodes.size(), 13u);
  // Trimmed: what capacity needs, not the whole node.
  EXPECT_TRUE(first->nodes[0]["status"].contains("allocatable"));
  EXPECT_FALSE(first->nodes[0]["status"].contains("nodeInfo"));

  // Reading sends nothing: membersim counts no read while the inventory is read 50 times.
  const json before = ClusterStatus(sim.url(), "w-1")["apiReads"];
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(inventory.Read().ok());
  const json after = ClusterStatus(sim.url(), "w-1")["apiReads"];
  ASSERT_TRUE(before.is_object()) << "membersim reports apiReads";
  EXPECT_EQ(after["list"], before["list"]);
  EXPECT_EQ(after["get"], before["get"]);
  EXPECT_EQ(before["list"].get<int64_t>(), 2) << "one list per watch: " << before.dump();

  // A refused partition ends the streams and refuses the reconnects: stale, not current.
  ASSERT_EQ(Admin(sim.url(), "/admin/clusters/w-1/partition", R"({"mode":"refuse"})"), 200);
  ASSERT_TRUE(Eventually([&] {
    StatusOr<MemberInventory::Snapshot> s = inventory.Read();
    return s.ok() && s->stale && !s->stale_reason.empty();
  }));
  const int64_t relists_before = inventory.GetStats().relists;

  // Meanwhile zone a fails: membersim's node lifecycle marks its 12 nodes NotReady, 12 writes
  // past a history of 10, so resuming from the last version seen is 410 Gone.
  ASSERT_EQ(Admin(sim.url(), "/admin/clusters/w-1/zones/w-1a/fail"), 200);
  // The simulation's controllers run on their own thread; give them a moment to write (the
  // assertions below hold either way, the relist count needs the writes first).
  std::this_thread::sleep_for(milliseconds(500));
  ASSERT_EQ(Admin(sim.url(), "/admin/clusters/w-1/heal"), 200);

  ASSERT_TRUE(Eventually([&] {
    StatusOr<MemberInventory::Snapshot> s = inventory.Read();
    if (!s.ok() || s->stale) return false;
    std::vector<ZoneCapacity> z = zones();
    return z.size() == 2 && z[0].ready_nodes == 0 && !z[0].healthy && z[1].healthy;
  })) << "zone a failed, seen after the partition";
  EXPECT_GT(inventory.GetStats().relists, relists_before) << "the resume was 410 Gone";
}

}  // namespace
}  // namespace meridian::failover
