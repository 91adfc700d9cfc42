// StorageCompactor: each tick compacts to the revision the previous tick saw.
#include "federation-apiserver/storage_compactor.h"

#include <gtest/gtest.h>

#include <vector>

#include "apimachinery/memory_store.h"

namespace meridian::apiserver {
namespace {

using apimachinery::ObjectKey;
using apimachinery::ResourceType;

class RecordingCompactable : public apimachinery::CompactableStore {
 public:
  Status CompactBefore(int64_t revision) override {
    calls.push_back(revision);
    return result;
  }
  std::vector<int64_t> calls;
  Status result = Status::Ok();
};

TEST(StorageCompactorTest, EachTickCompactsToWhatThePreviousTickSaw) {
  apimachinery::MemoryStore store;
  RecordingCompactable target;
  StorageCompactor compactor(target, store, std::chrono::hours(1));
  const ResourceType widgets{"example.io", "widgets"};
  auto write = [&](const std::string& name) {
    ASSERT_TRUE(store.Create(ObjectKey{widgets, "", name}, {{"metadata", {{"name", name}}}}).ok());
  };
  write("a");
  const int64_t first = store.CurrentResourceVersion();
  EXPECT_TRUE(compactor.Tick().ok());
  EXPECT_TRUE(target.calls.empty()) << "the first tick only records where the store is";

  write("b");
  write("c");
  const int64_t second = store.CurrentResourceVersion();
  EXPECT_TRUE(compactor.Tick().ok());
  EXPECT_EQ(target.calls, std::vector<int64_t>{first}) << "one interval of history is kept";

  target.result = UnavailableError("etcd compact: no endpoint reachable");
  EXPECT_EQ(compactor.Tick().code(), StatusCode::kUnavailable);
  EXPECT_EQ(target.calls, (std::vector<int64_t>{first, second}));
}

TEST(StorageCompactorTest, StopsPromptlyEvenWithALongInterval) {
  apimachinery::MemoryStore store;
  RecordingCompactable target;
  StorageCompactor compactor(target, store, std::chrono::hours(1));
  compactor.Start();
  compactor.Stop();  // must not wait for the hour
  EXPECT_TRUE(target.calls.empty());
}

}  // namespace
}  // namespace meridian::apiserver
