#include "apimachinery/sqlite_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "apimachinery/store_compaction.h"
#include "apimachinery/write_precondition.h"
#include "test/apimachinery/store_conformance.h"
#include "test/common/eventually.h"

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

// Each connection keeps its statements prepared (StatementCache): closing the store must
// finalize them before closing the connections, or SQLite leaves the connections open
// (sqlite3_close answers SQLITE_BUSY). The sign: the last connection to close removes the WAL.
TEST(SqliteStoreTest, ClosingTheStoreClosesItsConnectionsWithTheirPreparedStatements) {
  SqliteStoreOptions options;
  options.path = FreshPath();
  options.history_events = 2;  // the trim's statements too
  {
    auto store = OpenSqliteStore(options).value();
    json widget = {{"metadata", {{"name", "a"}}}, {"spec", {{"n", 1}}}};
    auto created = store->Create({kWidgets, "x", "a"}, widget);
    ASSERT_TRUE(created.ok());
    int64_t rv = std::stoll((*created)["metadata"]["resourceVersion"].get<std::string>());
    for (int n = 2; n <= 4; ++n) {  // a statement is reused: each use starts clean
      widget["spec"]["n"] = n;
      auto updated = store->Update({kWidgets, "x", "a"}, widget, rv);
      ASSERT_TRUE(updated.ok()) << updated.status().ToString();
      rv = std::stoll((*updated)["metadata"]["resourceVersion"].get<std::string>());
      EXPECT_EQ(store->Get({kWidgets, "x", "a"}).value()["spec"]["n"], n);
    }
    // A failed check between uses leaves the statements usable.
    EXPECT_EQ(store->Update({kWidgets, "x", "a"}, widget, rv - 1).status().code(),
              StatusCode::kAborted);
    EXPECT_EQ(store->Create({kWidgets, "x", "a"}, widget).status().code(),
              StatusCode::kAlreadyExists);
    ASSERT_TRUE(store->Create({kWidgets, "x", "b"}, {{"metadata", {{"name", "b"}}}}).ok());
    EXPECT_EQ(store->List(kWidgets, ListOptions{}).value().items.size(), 2u);
    ASSERT_TRUE(store->Delete({kWidgets, "x", "b"}, 0).ok());
    EXPECT_EQ(store->List(kWidgets, ListOptions{}).value().items.size(), 1u);
    EXPECT_EQ(store->Get({kWidgets, "x", "b"}).status().code(), StatusCode::kNotFound);
    ASSERT_TRUE(std::filesystem::exists(options.path + "-wal"));
  }
  EXPECT_FALSE(std::filesystem::exists(options.path + "-wal"))
      << "a connection was left open when the store closed";
  auto reopened = OpenSqliteStore(options).value();
  EXPECT_EQ(reopened->Get({kWidgets, "x", "a"}).value()["spec"]["n"], 4);
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

// Holds the first write's group in its transaction (its precondition waits for Open) so that
// the writes started meanwhile queue up behind it. Every wait is bounded.
class CommitGate {
 public:
  std::shared_ptr<const WritePrecondition> Precondition() {
    return std::make_shared<WritePrecondition>(WritePrecondition{
        {kWidgets, "x", "gate"}, [this](const json*) {
          std::unique_lock lock(mu_);
          held_ = true;
          cv_.notify_all();
          cv_.wait_for(lock, std::chrono::seconds(10), [this] { return open_; });
          return Status::Ok();
        }});
  }
  bool HeldWithin10s() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [this] { return held_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  bool open_ = false;
};

TEST(SqliteStoreTest, WritesQueuedDuringACommitShareTheNextOne) {
  SqliteStoreOptions options;
  options.path = FreshPath();
  std::mutex commits_mu;
  std::vector<size_t> commits;  // writes per transaction
  options.on_commit = [&](size_t writes) {
    std::lock_guard lock(commits_mu);
    commits.push_back(writes);
  };
  auto store = OpenSqliteStore(options).value();
  std::vector<WatchEvent> events;
  std::mutex events_mu;
  auto watch = store->WatchFrom(kWidgets, "", {}, 0, [&](const WatchEvent& e) {
    std::lock_guard lock(events_mu);
    events.push_back(e);
  });
  ASSERT_TRUE(watch.ok());

  CommitGate gate;
  std::thread first([&] {
    WritePreconditionScope scope(gate.Precondition());
    EXPECT_TRUE(store->Create({kWidgets, "x", "first"}, {{"metadata", {{"name", "first"}}}}).ok());
  });
  ASSERT_TRUE(gate.HeldWithin10s());
  constexpr int kWriters = 8;
  std::atomic<int> started{0};
  std::vector<std::thread> writers;
  std::vector<int64_t> revisions(kWriters);
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      const std::string name = "w-" + std::to_string(i);
      ++started;
      StatusOr<json> created =
          store->Create({kWidgets, "x", name}, {{"metadata", {{"name", name}}}});
      ASSERT_TRUE(created.ok()) << created.status();
      revisions[i] = ResourceVersionOf(*created).value();
    });
  }
  ASSERT_TRUE(test_env::Eventually([&] { return started == kWriters; }));
  gate.Open();
  first.join();
  for (auto& t : writers) t.join();

  // Every write durable and readable, each at its own revision, 1..9 with no gap.
  std::vector<int64_t> sorted = revisions;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < kWriters; ++i) {
    EXPECT_EQ(sorted[i], 2 + i);
    EXPECT_TRUE(store->Get({kWidgets, "x", "w-" + std::to_string(i)}).ok());
  }
  EXPECT_EQ(store->CurrentResourceVersion(), 1 + kWriters);
  // The eight that queued behind the held commit did not take eight more.
  {
    std::lock_guard lock(commits_mu);
    ASSERT_FALSE(commits.empty());
    EXPECT_EQ(commits.front(), 1u) << "the first group was taken before the others queued";
    size_t total = 0, largest = 0;
    for (size_t c : commits) {
      total += c;
      largest = std::max(largest, c);
    }
    EXPECT_EQ(total, 1u + kWriters);
    EXPECT_LT(commits.size(), 1u + kWriters);
    EXPECT_GT(largest, 1u);
  }
  // One event per write, in revision order.
  ASSERT_TRUE(test_env::Eventually([&] {
    std::lock_guard lock(events_mu);
    return events.size() == 1 + kWriters;
  }));
  std::lock_guard lock(events_mu);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].resource_version, 1 + int64_t(i));
}

TEST(SqliteStoreTest, AFailedCheckInAGroupFailsThatWriteAloneAndTakesNoRevision) {
  SqliteStoreOptions options;
  options.path = FreshPath();
  auto store = OpenSqliteStore(options).value();
  const json taken =
      store->Create({kWidgets, "x", "taken"}, {{"metadata", {{"name", "taken"}}}}).value();
  const int64_t taken_rv = ResourceVersionOf(taken).value();

  CommitGate gate;
  std::thread first([&] {
    WritePreconditionScope scope(gate.Precondition());
    EXPECT_TRUE(store->Create({kWidgets, "x", "first"}, {{"metadata", {{"name", "first"}}}}).ok());
  });
  ASSERT_TRUE(gate.HeldWithin10s());
  std::atomic<int> started{0};
  StatusOr<json> duplicate = InternalError("not run"), stale = InternalError("not run"),
                 fresh = InternalError("not run");
  std::vector<std::thread> writers;
  writers.emplace_back([&] {
    ++started;
    duplicate = store->Create({kWidgets, "x", "taken"}, {{"metadata", {{"name", "taken"}}}});
  });
  writers.emplace_back([&] {
    ++started;
    json next = taken;
    next["v"] = 1;
    stale = store->Update({kWidgets, "x", "taken"}, next, taken_rv + 100);
  });
  // Refused by its precondition: recognised as such on the writer's own thread, although
  // the group's leader (possibly another thread) checked it.
  constexpr int kRefused = 6;
  std::atomic<int> recognised{0};
  for (int i = 0; i < kRefused; ++i) {
    writers.emplace_back([&, i] {
      auto refuse = std::make_shared<WritePrecondition>(WritePrecondition{
          {kWidgets, "x", "gate"}, [](const json*) { return AbortedError("not the leader"); }});
      WritePreconditionScope scope(refuse);
      ++started;
      const std::string name = "refused-" + std::to_string(i);
      StatusOr<json> r = store->Create({kWidgets, "x", name}, {{"metadata", {{"name", name}}}});
      if (!r.ok() && WritePreconditionScope::Refused(r.status())) ++recognised;
    });
  }
  writers.emplace_back([&] {
    ++started;
    fresh = store->Create({kWidgets, "x", "fresh"}, {{"metadata", {{"name", "fresh"}}}});
  });
  ASSERT_TRUE(test_env::Eventually([&] { return started == 3 + kRefused; }));
  gate.Open();
  first.join();
  for (auto& t : writers) t.join();

  EXPECT_EQ(duplicate.status().code(), StatusCode::kAlreadyExists) << duplicate.status();
  EXPECT_EQ(stale.status().code(), StatusCode::kAborted) << stale.status();
  EXPECT_EQ(recognised, kRefused);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  // Only "first" and "fresh" took revisions.
  EXPECT_EQ(ResourceVersionOf(*fresh).value(), taken_rv + 2);
  EXPECT_EQ(store->CurrentResourceVersion(), taken_rv + 2);
  EXPECT_FALSE(store->Get({kWidgets, "x", "refused-0"}).ok());
  EXPECT_FALSE(store->Get({kWidgets, "x", "taken"}).value().contains("v"));
}

}  // namespace
}  // namespace meridian::apimachinery
