// FakeMemberClient: the semantics controllers rely on (CAS, status split, patches, watch
// ordering and resync) and the scripting hooks (failures, latency, call log).
#include "sync/testing/fake_member_client.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

namespace meridian::sync::testing {
namespace {

using nlohmann::json;

const GroupVersionResource kDeployments{"apps", "v1", "deployments"};
const GroupVersionResource kConfigMaps{"", "v1", "configmaps"};
const GroupVersionResource kNamespaces{"", "v1", "namespaces"};

json Deployment(const std::string& name, int replicas, json labels = json::object()) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"labels", labels}}},
          {"spec", {{"replicas", replicas}}}};
}

// Collects events (thread-safe).
struct Recorder {
  std::mutex mu;
  std::vector<MemberWatchEvent> events;
  MemberWatchCallback Callback() {
    return [this](const MemberWatchEvent& e) {
      std::lock_guard lock(mu);
      events.push_back(e);
    };
  }
  std::vector<std::string> Summary() {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (const auto& e : events) {
      out.push_back(std::string(MemberEventTypeName(e.type)) + " " +
                    e.object["metadata"]["name"].get<std::string>() + (e.synthetic ? " *" : ""));
    }
    return out;
  }
};

TEST(FakeMemberClientTest, CrudCasAndStatusSplit) {
  FakeMemberClient fake;
  StatusOr<json> created = fake.Create(kDeployments, "shop", Deployment("web", 3));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["namespace"], "shop");
  EXPECT_EQ((*created)["metadata"]["generation"], 1);
  EXPECT_FALSE((*created)["metadata"]["uid"].get<std::string>().empty());
  const std::string rv1 = (*created)["metadata"]["resourceVersion"];

  EXPECT_EQ(fake.Create(kDeployments, "shop", Deployment("web", 3)).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(fake.Get(kDeployments, "shop", "nope").status().code(), StatusCode::kNotFound);

  json update = *created;
  update["spec"]["replicas"] = 5;
  update["status"] = {{"readyReplicas", 99}};  // ignored: status is split
  StatusOr<json> updated = fake.Update(kDeployments, "shop", update);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ((*updated)["metadata"]["generation"], 2);
  EXPECT_FALSE(updated->contains("status"));
  EXPECT_NE((*updated)["metadata"]["resourceVersion"], rv1);

  // A stale resourceVersion loses the compare-and-swap.
  StatusOr<json> stale = fake.Update(kDeployments, "shop", update);
  EXPECT_EQ(stale.status().code(), StatusCode::kAborted);
  EXPECT_NE(stale.status().message().find("the object has been modified"), std::string::npos);

  json status = *updated;
  status["status"] = {{"readyReplicas", 5}};
  StatusOr<json> with_status = fake.UpdateStatus(kDeployments, "shop", status);
  ASSERT_TRUE(with_status.ok()) << with_status.status();
  EXPECT_EQ((*with_status)["status"]["readyReplicas"], 5);
  EXPECT_EQ((*with_status)["metadata"]["generation"], 2);

  StatusOr<json> merged = fake.MergePatch(kDeployments, "shop", "web",
                                          {{"metadata", {{"labels", {{"app", "web"}}}}}});
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ((*merged)["metadata"]["labels"]["app"], "web");
  EXPECT_EQ((*merged)["status"]["readyReplicas"], 5);

  StatusOr<json> patched = fake.JsonPatch(
      kDeployments, "shop", "web", json::array({{{"op", "replace"}, {"path", "/spec/replicas"}, {"value", 7}}}));
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["spec"]["replicas"], 7);
  EXPECT_EQ(fake.JsonPatch(kDeployments, "shop", "web",
                           json::array({{{"op", "test"}, {"path", "/spec/replicas"}, {"value", 1}}}))
                .status()
                .code(),
            StatusCode::kInvalidArgument);

  MemberDeleteOptions wrong;
  wrong.precondition_resource_version = rv1;
  EXPECT_EQ(fake.Delete(kDeployments, "shop", "web", wrong).code(), StatusCode::kAborted);
  EXPECT_TRUE(fake.Delete(kDeployments, "shop", "web").ok());
  EXPECT_EQ(fake.Delete(kDeployments, "shop", "web").code(), StatusCode::kNotFound);
}

TEST(FakeMemberClientTest, ListSelectorsAndPages) {
  FakeMemberClient fake;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(fake.Create(kDeployments, "shop",
                            Deployment("d" + std::to_string(i), 1,
                                       {{"tier", i % 2 == 0 ? "web" : "db"}}))
                    .ok());
  }
  ASSERT_TRUE(fake.Create(kDeployments, "other", Deployment("x", 1)).ok());
  StatusOr<ObjectList> all = fake.List(kDeployments, "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->items.size(), 6u);
  StatusOr<ObjectList> web = fake.List(kDeployments, "shop", {.label_selector = "tier=web"});
  ASSERT_TRUE(web.ok());
  EXPECT_EQ(web->items.size(), 3u);

  MemberListOptions page{.limit = 2};
  std::vector<std::string> names;
  for (int guard = 0; guard < 10; ++guard) {
    StatusOr<ObjectList> p = fake.List(kDeployments, "shop", page);
    ASSERT_TRUE(p.ok());
    for (const json& o : p->items) names.push_back(o["metadata"]["name"]);
    if (p->continue_token.empty()) break;
    page.continue_token = p->continue_token;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"d0", "d1", "d2", "d3", "d4"}));
  EXPECT_EQ(fake.List(kDeployments, "", {.label_selector = "in in in"}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(FakeMemberClientTest, WatchInitialListThenChangesInOrder) {
  FakeMemberClient fake;
  ASSERT_TRUE(fake.Create(kDeployments, "shop", Deployment("a", 1)).ok());
  Recorder rec;
  StatusOr<std::unique_ptr<MemberWatch>> w =
      fake.Watch(kDeployments, "shop", "", "", rec.Callback());
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(rec.Summary(), (std::vector<std::string>{"ADDED a *"}));

  ASSERT_TRUE(fake.Create(kDeployments, "shop", Deployment("b", 1)).ok());
  ASSERT_TRUE(fake.Create(kDeployments, "elsewhere", Deployment("c", 1)).ok());  // out of scope
  ASSERT_TRUE(fake.MergePatch(kDeployments, "shop", "a", {{"spec", {{"replicas", 2}}}}).ok());
  ASSERT_TRUE(fake.Delete(kDeployments, "shop", "b").ok());
  EXPECT_EQ(rec.Summary(),
            (std::vector<std::string>{"ADDED a *", "ADDED b", "MODIFIED a", "DELETED b"}));
  EXPECT_EQ((*w)->LastResourceVersion(), fake.CurrentResourceVersion());

  (*w)->Stop();
  ASSERT_TRUE(fake.Create(kDeployments, "shop", Deployment("z", 1)).ok());
  EXPECT_EQ(rec.Summary().size(), 4u);
}

TEST(FakeMemberClientTest, WatchSelectorTransitionsAndResume) {
  FakeMemberClient fake;
  Recorder rec;
  auto w = fake.Watch(kDeployments, "", "tier=web", "", rec.Callback());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(fake.Create(kDeployments, "shop", Deployment("a", 1, {{"tier", "db"}})).ok());
  const std::string rv = fake.CurrentResourceVersion();
  ASSERT_TRUE(fake.MergePatch(kDeployments, "shop", "a", {{"metadata", {{"labels", {{"tier", "web"}}}}}}).ok());
  ASSERT_TRUE(fake.MergePatch(kDeployments, "shop", "a", {{"metadata", {{"labels", {{"tier", "db"}}}}}}).ok());
  EXPECT_EQ(rec.Summary(), (std::vector<std::string>{"ADDED a", "DELETED a"}));

  // Resuming from an older resourceVersion replays what came after it.
  Recorder resumed;
  auto w2 = fake.Watch(kDeployments, "shop", "", rv, resumed.Callback());
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ(resumed.Summary(), (std::vector<std::string>{"ADDED a", "MODIFIED a"}));
}

TEST(FakeMemberClientTest, ExpireWatchesWithNothingMissedIsQuiet) {
  FakeMemberClient fake;
  ASSERT_TRUE(fake.Create(kConfigMaps, "ns", {{"metadata", {{"name", "keep"}}}}).ok());
  Recorder rec;
  auto live = fake.Watch(kConfigMaps, "ns", "", "", rec.Callback());
  ASSERT_TRUE(live.ok());
  fake.Apply(kConfigMaps, {{"metadata", {{"name", "keep"}, {"namespace", "ns"}}}, {"data", {{"k", "v"}}}});
  fake.Remove(kConfigMaps, "ns", "keep");
  fake.Apply(kConfigMaps, {{"metadata", {{"name", "new"}, {"namespace", "ns"}}}});
  EXPECT_EQ(rec.Summary(),
            (std::vector<std::string>{"ADDED keep *", "MODIFIED keep", "DELETED keep", "ADDED new"}));
  fake.ExpireWatches();  // the watch missed nothing: the relist finds no difference
  EXPECT_EQ(rec.Summary().size(), 4u);
  EXPECT_EQ((*live)->Relists(), 1);
}

TEST(FakeMemberClientTest, ResumeFromExpiredVersionRelists) {
  FakeMemberClient::Options small;
  small.history_limit = 1;
  FakeMemberClient tiny(small);
  ASSERT_TRUE(tiny.Create(kConfigMaps, "ns", {{"metadata", {{"name", "a"}}}}).ok());
  const std::string old_rv = tiny.CurrentResourceVersion();
  ASSERT_TRUE(tiny.Create(kConfigMaps, "ns", {{"metadata", {{"name", "b"}}}}).ok());
  ASSERT_TRUE(tiny.Create(kConfigMaps, "ns", {{"metadata", {{"name", "c"}}}}).ok());
  Recorder resumed;
  auto w = tiny.Watch(kConfigMaps, "ns", "", old_rv, resumed.Callback());
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(resumed.Summary(), (std::vector<std::string>{"ADDED a *", "ADDED b *", "ADDED c *"}));
  EXPECT_EQ((*w)->Relists(), 1);
  // Later relists report deletions and changes against what was delivered.
  tiny.Remove(kConfigMaps, "ns", "a");
  EXPECT_EQ(resumed.Summary().back(), "DELETED a");
}

TEST(FakeMemberClientTest, CallbackMayCallBackIn) {
  FakeMemberClient fake;
  Recorder rec;
  auto w = fake.Watch(kConfigMaps, "ns", "", "", [&](const MemberWatchEvent& e) {
    rec.Callback()(e);
    if (e.type == MemberEventType::kAdded && e.object["metadata"]["name"] == "first") {
      ASSERT_TRUE(fake.Create(kConfigMaps, "ns", {{"metadata", {{"name", "second"}}}}).ok());
    }
  });
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(fake.Create(kConfigMaps, "ns", {{"metadata", {{"name", "first"}}}}).ok());
  EXPECT_EQ(rec.Summary(), (std::vector<std::string>{"ADDED first", "ADDED second"}));
}

TEST(FakeMemberClientTest, ScriptedFailuresLatencyAndCallLog) {
  FakeMemberClient::Options options;
  options.member = "eu-1";
  options.timeout = std::chrono::milliseconds(50);
  FakeMemberClient fake(options);
  fake.FailNext(Verb::kCreate, UnavailableError("connection refused"), 2);
  EXPECT_EQ(fake.Create(kNamespaces, "", {{"metadata", {{"name", "p"}}}}).status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(fake.Create(kNamespaces, "", {{"metadata", {{"name", "p"}}}}).status().code(),
            StatusCode::kUnavailable);
  StatusOr<json> ns = fake.Create(kNamespaces, "", {{"metadata", {{"name", "p"}}}});
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_FALSE((*ns)["metadata"].contains("namespace"));
  EXPECT_EQ(fake.CallCount(Verb::kCreate), 3);

  fake.FailEverything(UnavailableError("down"));
  EXPECT_FALSE(fake.Readyz().ok());
  EXPECT_FALSE(fake.Get(kNamespaces, "", "p").ok());
  fake.ClearFailures();
  EXPECT_TRUE(fake.Readyz().ok());

  fake.SetLatency(std::chrono::milliseconds(50));  // >= timeout: a hung member
  const auto start = std::chrono::steady_clock::now();
  Status hung = fake.Healthz();
  EXPECT_EQ(hung.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(hung.message().find("eu-1"), std::string::npos);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  fake.SetLatency(std::chrono::milliseconds(0));

  StatusOr<DiscoveryInfo> d = fake.Discover();
  ASSERT_TRUE(d.ok());
  ASSERT_NE(d->Find(kDeployments), nullptr);
  EXPECT_TRUE(d->Find(kDeployments)->has_status);
  EXPECT_FALSE(d->Find(kNamespaces)->namespaced);
  EXPECT_TRUE(d->supports_server_side_apply);
  fake.ClearCalls();
  EXPECT_TRUE(fake.Calls().empty());
}

}  // namespace
}  // namespace meridian::sync::testing
