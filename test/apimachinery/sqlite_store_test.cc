#include "apimachinery/sqlite_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "apimachinery/store_compaction.h"
#include "test/apimachinery/store_conformance.h"

namespace meridian::apimachinery {
namespace {

using nlohmann::json;

std::filesystem::path TestDir() {
  return std::filesystem::temp_directory_path() /
         ("meridian-sqlite-test-" + std::to_string(getpid()));
}

// Removes every database this binary made when the binary exits.
class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override { std::filesystem::remove_all(TestDir()); }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

// A fresh database path per store.
std::string FreshPath() {
  static int counter = 0;
  std::filesystem::create_directories(TestDir());
  return (TestDir() / ("store-" + std::to_string(++counter) + ".db")).string();
}

std::unique_ptr<Store> MakeSqlite(int64_t history) {
  SqliteStoreOptions options;
  options.path = FreshPath();
  options.history_events = history;
  return OpenSqliteStore(options).value();
}

}  // namespace
namespace testing {
INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
                         ::testing::Values(StoreFactory{"sqlite", MakeSqlite}),
                         [](const auto& info) { return info.param.name; });
}  // namespace testing
namespace {

const ResourceType kWidgets{"example.io", "widgets"};

TEST(SqliteStoreTest, ObjectsRevisionsAndWatchHistorySurviveReopen) {
  SqliteStoreOptions options;
  options.path = FreshPath();
  int64_t after_first = 0, last = 0;
  {
    auto store = OpenSqliteStore(options).value();
    json a = store->Create({kWidgets, "x", "a"}, {{"metadata", {{"name", "a"}}}}).value();
    after_first = ResourceVersionOf(a).value();
    ASSERT_TRUE(store->Create({kWidgets, "x", "b"}, {{"metadata", {{"name", "b"}}}}).ok());
    last = store->CurrentResourceVersion();
  }
  auto store = OpenSqliteStore(options).value();
  EXPECT_EQ(store->CurrentResourceVersion(), last);
  EXPECT_TRUE(store->Get({kWidgets, "x", "a"}).ok());
  json c = store->Create({kWidgets, "x", "c"}, {{"metadata", {{"name", "c"}}}}).value();
  EXPECT_EQ(ResourceVersionOf(c).value(), last + 1) << "revisions continue after a restart";

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> names;
  auto watch = store->WatchFrom(kWidgets, "", {}, after_first, [&](const WatchEvent& e) {
    std::lock_guard lock(mu);
    names.push_back(e.key.name);
    cv.notify_all();
  });
  ASSERT_TRUE(watch.ok()) << watch.status();
  std::unique_lock lock(mu);
  cv.wait_for(lock, std::chrono::seconds(10), [&] { return names.size() >= 2; });
  EXPECT_EQ(names, (std::vector<std::string>{"b", "c"}));
}

TEST(SqliteStoreTest, NotAStoreFileIsDataLossNotACrash) {
  std::string path = FreshPath();
  {
    FILE* f = fopen(path.c_str(), "w");
    fputs("this is not a database, just some text that is long enough to look like a header",
          f);
    fclose(f);
  }
  SqliteStoreOptions options;
  options.path = path;
  StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  EXPECT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kDataLoss) << store.status();
}

TEST(SqliteStoreTest, UnopenablePathIsUnavailable) {
  SqliteStoreOptions options;
  options.path = "/nonexistent-dir-for-meridian/x.db";
  EXPECT_EQ(OpenSqliteStore(options).status().code(), StatusCode::kUnavailable);
}

// The store holds member credentials: the database and its WAL and shared-memory files are
// the owner's alone, whatever the umask, and an older world-readable file is tightened.
TEST(SqliteStoreTest, FilesAreOwnerOnly) {
  const mode_t old_umask = ::umask(0022);
  SqliteStoreOptions options;
  options.path = FreshPath();
  {
    auto store = OpenSqliteStore(options).value();
    ASSERT_TRUE(store->Create({kWidgets, "x", "a"}, {{"metadata", {{"name", "a"}}}}).ok());
    for (const std::string& p : {options.path, options.path + "-wal", options.path + "-shm"}) {
      struct stat st;
      ASSERT_EQ(::stat(p.c_str(), &st), 0) << p;
      EXPECT_EQ(st.st_mode & 0777, 0600u) << p;
    }
  }
  ASSERT_EQ(::chmod(options.path.c_str(), 0644), 0);
  auto reopened = OpenSqliteStore(options).value();
  struct stat st;
  ASSERT_EQ(::stat(options.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ::umask(old_umask);
}

// The raw bytes of the database and its WAL, as `grep -c` would see them.
int OccurrencesInFiles(const std::string& path, const std::string& needle) {
  int n = 0;
  for (const std::string& p : {path, path + "-wal"}) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    for (size_t at = bytes.find(needle); at != std::string::npos; at = bytes.find(needle, at + 1))
      ++n;
  }
  return n;
}

TEST(SqliteStoreTest, CompactionDropsTheHistoryAndItsBytes) {
  SqliteStoreOptions options;
  options.path = FreshPath();
  auto store = OpenSqliteStore(options).value();
  auto* compactable = dynamic_cast<CompactableStore*>(store.get());
  ASSERT_NE(compactable, nullptr);
  // Not revision 1: a watch from revision 0 means "from now".
  ASSERT_TRUE(store->Create({kWidgets, "x", "filler"}, {{"metadata", {{"name", "filler"}}}}).ok());
  const ObjectKey key{kWidgets, "x", "w"};
  json first =
      store->Create(key, {{"metadata", {{"name", "w"}}}, {"v", "old-value-7f3a9c"}}).value();
  const int64_t created = ResourceVersionOf(first).value();
  json second = store->Get(key).value();
  second["v"] = "new-value";
  ASSERT_TRUE(store->Update(key, second, created).ok());
  const int64_t now = store->CurrentResourceVersion();
  // The superseded value is still in the revision log (and so in the files).
  ASSERT_GT(OccurrencesInFiles(options.path, "old-value-7f3a9c"), 0);

  ASSERT_TRUE(compactable->CompactBefore(now).ok());
  EXPECT_EQ(OccurrencesInFiles(options.path, "old-value-7f3a9c"), 0)
      << "deleted rows are zeroed and the WAL is checkpointed";
  EXPECT_EQ(store->Get(key).value()["v"], "new-value");
  {
    // A watch from before the compaction is 410 Gone; from just before `now`, it still works.
    auto old_watch = store->WatchFrom(kWidgets, "", {}, created - 1, [](const WatchEvent&) {});
    EXPECT_EQ(old_watch.status().code(), StatusCode::kOutOfRange) << old_watch.status();
    auto watch = store->WatchFrom(kWidgets, "", {}, now - 1, [](const WatchEvent&) {});
    EXPECT_TRUE(watch.ok()) << watch.status();
  }
  // Idempotent, and never past the current revision.
  EXPECT_TRUE(compactable->CompactBefore(now).ok());
  EXPECT_TRUE(compactable->CompactBefore(now + 100).ok());
  EXPECT_TRUE(store->WatchFrom(kWidgets, "", {}, now, [](const WatchEvent&) {}).ok());

  // The compaction point survives a restart.
  store.reset();
  store = OpenSqliteStore(options).value();
  EXPECT_EQ(
      store->WatchFrom(kWidgets, "", {}, created - 1, [](const WatchEvent&) {}).status().code(),
      StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace meridian::apimachinery
