#include "apimachinery/event_recorder.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "apimachinery/memory_store.h"
#include "common/log_fields.h"
#include "test/common/log_capture.h"

namespace meridian::apimachinery {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class EventRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.Add(NamespaceResourceInfo()).ok());
    ASSERT_TRUE(registry_.Add(EventResourceInfo()).ok());
    objects_ = std::make_unique<ObjectService>(store_, clock_, registry_);
    for (const char* ns : {"default", "shop"}) {
      ASSERT_TRUE(objects_->Create(NamespaceResourceInfo(), "", {{"metadata", {{"name", ns}}}}).ok());
    }
  }
  const ResourceInfo& events() { return *registry_.Find("", "v1", "events"); }
  json List(const std::string& ns, const std::string& field_selector = "") {
    auto list = objects_->List(events(), ns, ListRequest{.field_selector = field_selector});
    EXPECT_TRUE(list.ok());
    return list.ok() ? list.value()["items"] : json::array();
  }
  ObjectReference Web() {
    return ReferenceTo({{"apiVersion", "federation.meridian.io/v1alpha1"},
                        {"kind", "FederatedWorkload"},
                        {"metadata",
                         {{"name", "web"}, {"namespace", "shop"}, {"uid", "u-1"},
                          {"resourceVersion", "7"}}}});
  }

  std::shared_ptr<WatchDispatcher> dispatcher_ = std::make_shared<WatchDispatcher>();
  MemoryStore store_{MemoryStoreOptions{.dispatcher = dispatcher_}};
  FakeClock clock_;
  ResourceRegistry registry_;
  std::unique_ptr<ObjectService> objects_;
};

TEST_F(EventRecorderTest, WritesAnEventInTheObjectsNamespace) {
  EventRecorder recorder(*objects_, clock_, {.component = "propagation-controller"});
  recorder.Record(Web(), EventType::kWarning, "SyncFailed", "eu-west-1: refused (401)");
  recorder.Flush();

  json items = List("shop", "involvedObject.name=web,involvedObject.kind=FederatedWorkload");
  ASSERT_EQ(items.size(), 1u);
  const json& e = items[0];
  EXPECT_EQ(e["kind"], "Event");
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["reason"], "SyncFailed");
  EXPECT_EQ(e["message"], "eu-west-1: refused (401)");
  EXPECT_EQ(e["count"], 1);
  EXPECT_EQ(e["source"]["component"], "propagation-controller");
  EXPECT_EQ(e["involvedObject"]["uid"], "u-1");
  EXPECT_EQ(e["involvedObject"]["namespace"], "shop");
  EXPECT_EQ(e["involvedObject"]["apiVersion"], "federation.meridian.io/v1alpha1");
  EXPECT_EQ(e["firstTimestamp"], FormatRfc3339(clock_.Now()));
  EXPECT_EQ(e["lastTimestamp"], e["firstTimestamp"]);
  EXPECT_EQ(e["metadata"]["name"].get<std::string>().rfind("web.", 0), 0u);
  EXPECT_TRUE(List("shop", "involvedObject.name=other").empty());
  EXPECT_EQ(recorder.failed(), 0u);
  EXPECT_EQ(recorder.dropped(), 0u);
}

// Controllers rely on the recorder for the log line of each Event (failover/health_monitor.cc
// logs none of its own): exactly one line per recorded Event, with its fields.
TEST_F(EventRecorderTest, EachRecordedEventIsOneLogLineWithItsFields) {
  test_env::LogCapture log;
  EventRecorder recorder(*objects_, clock_, {.component = "placement-controller", .spam_burst = 2});
  recorder.Record(Web(), EventType::kWarning, "FailedPlacement", "3 of 3 unplaced");
  recorder.Record(Web(), EventType::kNormal, "Placed", "3 in eu-west-1");
  recorder.Record(Web(), EventType::kNormal, "Placed", "spam-filtered: no Event, no line");
  recorder.Flush();
  const std::string sep(1, kLogFieldSeparator);
  EXPECT_EQ(log.Count({"3 of 3 unplaced", sep + "controller=placement-controller",
                       sep + "kind=FederatedWorkload", sep + "object=shop/web",
                       sep + "reason=FailedPlacement"}),
            1);
  EXPECT_EQ(log.Count({"3 in eu-west-1", sep + "reason=Placed"}), 1);
  EXPECT_EQ(log.Count({"spam-filtered"}), 0);
  EXPECT_EQ(log.Lines().size(), 2u) << ::testing::PrintToString(log.Lines());
  EXPECT_EQ(recorder.dropped(), 1u);
}

TEST_F(EventRecorderTest, RepeatsBumpCountAndLastTimestamp) {
  EventRecorder recorder(*objects_, clock_, {.component = "c"});
  const std::string first = FormatRfc3339(clock_.Now());
  for (int i = 0; i < 3; ++i) {
    recorder.Record(Web(), EventType::kNormal, "Synced", "all members synced");
    clock_.Advance(10s);
  }
  recorder.Record(Web(), EventType::kNormal, "Synced", "a different message");
  recorder.Flush();

  json items = List("shop");
  ASSERT_EQ(items.size(), 2u);
  const json& repeated = items[0]["message"] == "all members synced" ? items[0] : items[1];
  EXPECT_EQ(repeated["count"], 3);
  EXPECT_EQ(repeated["firstTimestamp"], first);
  EXPECT_EQ(repeated["lastTimestamp"], FormatRfc3339(clock_.Now() - 10s));
}

TEST_F(EventRecorderTest, ClusterScopedObjectsGetEventsInDefault) {
  EventRecorder recorder(*objects_, clock_, {.component = "health-monitor"});
  ObjectReference member{.api_version = "federation.meridian.io/v1alpha1",
                         .kind = "MemberCluster", .name = "eu-west-1"};
  recorder.Record(member, EventType::kWarning, "Unreachable", "3 probes failed");
  recorder.Flush();
  json items = List("default", "involvedObject.name=eu-west-1");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_FALSE(items[0]["involvedObject"].contains("namespace"));
}

TEST_F(EventRecorderTest, SpamFilterAllowsABurstThenRefillsWithTheClock) {
  EventRecorder recorder(*objects_, clock_,
                         {.component = "c", .spam_burst = 3, .spam_refill_every = 1min});
  for (int i = 0; i < 5; ++i) {
    recorder.Record(Web(), EventType::kNormal, "R", "message " + std::to_string(i));
  }
  recorder.Flush();
  EXPECT_EQ(List("shop").size(), 3u);
  EXPECT_EQ(recorder.dropped(), 2u);

  // Another object has its own bucket.
  ObjectReference api = Web();
  api.name = "api";
  recorder.Record(api, EventType::kNormal, "R", "x");
  clock_.Advance(1min);
  recorder.Record(Web(), EventType::kNormal, "R", "after a minute");
  recorder.Record(Web(), EventType::kNormal, "R", "too soon");
  recorder.Flush();
  EXPECT_EQ(List("shop").size(), 5u);
  EXPECT_EQ(recorder.dropped(), 3u);
}

TEST_F(EventRecorderTest, RecordDoesNotWaitForASlowStoreAndDropsWhenTheQueueIsFull) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int admitted = 0;
  // A store write that hangs until released (admission runs on the writer thread).
  objects_->AddMutatingAdmission([&](const AdmissionAttributes&, json*) {
    std::unique_lock lock(mu);
    ++admitted;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return Status::Ok();
  });
  EventRecorder recorder(*objects_, clock_, {.component = "c", .queue_capacity = 2});
  recorder.Record(Web(), EventType::kNormal, "R", "0");
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return admitted == 1; });  // the writer is now stuck on event 0
  }
  for (int i = 1; i <= 4; ++i) recorder.Record(Web(), EventType::kNormal, "R", std::to_string(i));
  EXPECT_EQ(recorder.dropped(), 2u);  // 1 and 2 queued, 3 and 4 dropped
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  recorder.Flush();
  EXPECT_EQ(List("shop").size(), 3u);
}

TEST_F(EventRecorderTest, AFailedWriteIsCountedNotThrown) {
  EventRecorder recorder(*objects_, clock_, {.component = "c"});
  ObjectReference ghost = Web();
  ghost.ns = "no-such-namespace";
  recorder.Record(ghost, EventType::kWarning, "R", "m");
  recorder.Flush();
  EXPECT_EQ(recorder.failed(), 1u);
}

TEST_F(EventRecorderTest, ARepeatOfADeletedEventStartsANewOne) {
  EventRecorder recorder(*objects_, clock_, {.component = "c"});
  recorder.Record(Web(), EventType::kNormal, "R", "m");
  recorder.Flush();
  json items = List("shop");
  ASSERT_EQ(items.size(), 1u);
  ASSERT_TRUE(objects_->Delete(events(), "shop", items[0]["metadata"]["name"]).ok());
  recorder.Record(Web(), EventType::kNormal, "R", "m");
  recorder.Flush();
  items = List("shop");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["count"], 1);
  EXPECT_EQ(recorder.failed(), 0u);
}

TEST_F(EventRecorderTest, LongMessagesAreCutAndNamesStayValid) {
  EventRecorder recorder(*objects_, clock_, {.component = "c", .max_message_bytes = 16});
  ObjectReference longname = Web();
  longname.name = std::string(250, 'a');
  recorder.Record(longname, EventType::kNormal, "R", std::string(100, 'x'));
  recorder.Flush();
  json items = List("shop");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["message"], std::string(13, 'x') + "...");
  EXPECT_LE(items[0]["metadata"]["name"].get<std::string>().size(), 253u);
  EXPECT_EQ(recorder.failed(), 0u);
}

TEST_F(EventRecorderTest, EventsWrittenAtTheSameInstantGetDistinctNames) {
  EventRecorder recorder(*objects_, clock_, {.component = "c"});
  for (int i = 0; i < 10; ++i) recorder.Record(Web(), EventType::kNormal, "R", std::to_string(i));
  recorder.Flush();
  EXPECT_EQ(List("shop").size(), 10u);
  EXPECT_EQ(recorder.failed(), 0u);
}

}  // namespace
}  // namespace meridian::apimachinery
