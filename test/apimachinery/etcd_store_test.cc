#include "apimachinery/etcd_store.h"
#include "apimachinery/write_fence.h"
#include "apimachinery/write_precondition.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "apimachinery/internal/etcd/rpc.grpc.pb.h"
#include "apimachinery/store_compaction.h"
#include "test/apimachinery/store_conformance.h"
#include "test/common/etcd_cluster.h"

namespace meridian::apimachinery {
namespace {

using nlohmann::json;
using test_env::EtcdCluster;
using test_env::RunCommand;

const ResourceType kWidgets{"example.io", "widgets"};

// One etcd member for the whole binary: the conformance suite and most tests run against it,
// each store under its own key prefix (etcd's revision is shared, which the suite allows).
class SharedEtcd : public ::testing::Environment {
 public:
  void SetUp() override {
    cluster_ = std::make_unique<EtcdCluster>();
    std::string error;
    ASSERT_TRUE(cluster_->Start(1, &error)) << error;
  }
  void TearDown() override { cluster_.reset(); }
  static EtcdCluster& cluster() { return *cluster_; }

 private:
  static inline std::unique_ptr<EtcdCluster> cluster_;
};
const auto* const kSharedEtcd = ::testing::AddGlobalTestEnvironment(new SharedEtcd);

std::string FreshPrefix() {
  static std::atomic<int> counter{0};
  return "/test-" + std::to_string(getpid()) + "-" + std::to_string(++counter) + "/meridian";
}

EtcdStoreOptions Options(std::vector<std::string> endpoints) {
  EtcdStoreOptions options;
  options.endpoints = std::move(endpoints);
  options.prefix = FreshPrefix();
  return options;
}

std::unique_ptr<Store> MakeEtcd(int64_t history) {
  EtcdStoreOptions options = Options(SharedEtcd::cluster().ClientUrls());
  options.history_revisions = history;
  auto store = OpenEtcdStore(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return std::move(store).value();
}

// etcdctl (Debian's etcd-client) against the shared member: how an operator writes by hand.
test_env::CommandResult Etcdctl(const std::string& args) {
  return RunCommand("ETCDCTL_API=3 /usr/bin/etcdctl --endpoints=" +
                    SharedEtcd::cluster().ClientUrl(0) + " " + args);
}

class EventLog {
 public:
  WatchCallback Callback() {
    return [this](const WatchEvent& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  std::vector<WatchEvent> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return events_.size() >= n; });
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchEvent> events_;
};

json Widget(const std::string& ns, const std::string& name, int n = 0) {
  json meta = {{"name", name}};
  if (!ns.empty()) meta["namespace"] = ns;
  return {{"apiVersion", "example.io/v1"},
          {"kind", "Widget"},
          {"metadata", meta},
          {"spec", {{"n", n}}}};
}

}  // namespace
namespace testing {
INSTANTIATE_TEST_SUITE_P(Etcd, StoreConformanceTest,
                         ::testing::Values(StoreFactory{"etcd", MakeEtcd}),
                         [](const auto& info) { return info.param.name; });
}  // namespace testing
namespace {

TEST(EtcdStoreTest, KeysAreLaidOutLikeKubeApiserverAndValuesHoldNoResourceVersion) {
  EtcdStoreOptions options = Options(SharedEtcd::cluster().ClientUrls());
  auto store = OpenEtcdStore(options).value();
  ASSERT_TRUE(store->Create({{"", "secrets"}, "team-a", "s1"}, Widget("team-a", "s1")).ok());
  ASSERT_TRUE(store->Create({{"example.io", "clusters"}, "", "c1"}, Widget("", "c1")).ok());
  test_env::CommandResult keys = Etcdctl("get --prefix --keys-only " + options.prefix + "/");
  ASSERT_EQ(keys.exit_code, 0) << keys.output;
  EXPECT_NE(keys.output.find(options.prefix + "/core/secrets/team-a/s1"), std::string::npos)
      << keys.output;
  EXPECT_NE(keys.output.find(options.prefix + "/example.io/clusters/c1"), std::string::npos)
      << keys.output;
  test_env::CommandResult value =
      Etcdctl("get --print-value-only " + options.prefix + "/core/secrets/team-a/s1");
  EXPECT_EQ(value.output.find("resourceVersion"), std::string::npos) << value.output;
  EXPECT_TRUE(store->Get({{"example.io", "clusters"}, "", "c1"}).ok());
}

// Every write moves its type's write marker in the same Txn, so LastWriteRevision (what the
// watch cache waits for before it answers a consistent read, cacher.h) is the revision of the
// type's newest write, seen by another store (replica) at once; a write that failed its
// compare and a write of another type do not move it, and no list or watch sees the marker.
TEST(EtcdStoreTest, LastWriteRevisionIsTheTypesNewestWriteOnEveryReplica) {
  EtcdStoreOptions options = Options(SharedEtcd::cluster().ClientUrls());
  auto a = OpenEtcdStore(options).value();
  auto b = OpenEtcdStore(options).value();
  const ResourceType gadgets{"example.io", "gadgets"};
  EXPECT_EQ(b->LastWriteRevision(kWidgets).value(), 0);  // never written
  EventLog events;
  auto watch = b->WatchFrom(kWidgets, "", {}, 0, events.Callback());
  ASSERT_TRUE(watch.ok());
  StatusOr<json> created = a->Create({kWidgets, "ns", "w1"}, Widget("ns", "w1"));
  ASSERT_TRUE(created.ok());
  const int64_t rv1 = ResourceVersionOf(*created).value();
  EXPECT_EQ(b->LastWriteRevision(kWidgets).value(), rv1);
  ASSERT_TRUE(a->Create({gadgets, "ns", "g1"}, Widget("ns", "g1")).ok());
  EXPECT_EQ(b->LastWriteRevision(kWidgets).value(), rv1);  // another type's write
  EXPECT_EQ(a->Create({kWidgets, "ns", "w1"}, Widget("ns", "w1")).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(a->Update({kWidgets, "ns", "w1"}, Widget("ns", "w1", 2), rv1 + 100).status().code(),
            StatusCode::kAborted);
  EXPECT_EQ(b->LastWriteRevision(kWidgets).value(), rv1);  // failed compares wrote nothing
  StatusOr<json> updated = b->Update({kWidgets, "ns", "w1"}, Widget("ns", "w1", 3), rv1);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(a->LastWriteRevision(kWidgets).value(), ResourceVersionOf(*updated).value());
  StatusOr<json> deleted = a->Delete({kWidgets, "ns", "w1"}, 0);
  ASSERT_TRUE(deleted.ok());
  const int64_t rv_deleted = ResourceVersionOf(*deleted).value();
  EXPECT_EQ(b->LastWriteRevision(kWidgets).value(), rv_deleted);
  // The watch delivered exactly the three writes, the last at the marker's revision.
  std::vector<WatchEvent> got = events.WaitFor(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.back().resource_version, rv_deleted);
  EXPECT_TRUE(b->List(kWidgets, {})->items.empty());
  EXPECT_EQ(b->List(gadgets, {})->items.size(), 1u);
  EXPECT_EQ(b->LastWriteRevision({"example.io", "bad/type"}).status().code(),
            StatusCode::kInvalidArgument);
}

// Two controller managers' stores on one etcd: once the new leader raises the fence, every
// write of the old one (create, update, delete) is refused with kFailedPrecondition naming
// the new holder and changes nothing; the new leader's writes go through. A store that never
// raised a fence (an apiserver) is not affected.
TEST(EtcdStoreTest, WritesOfAFencedOutLeaderAreRefusedAndChangeNothing) {
  EtcdStoreOptions options = Options(SharedEtcd::cluster().ClientUrls());
  auto old_leader = OpenEtcdStore(options).value();
  auto new_leader = OpenEtcdStore(options).value();
  auto apiserver = OpenEtcdStore(options).value();
  auto* old_fence = dynamic_cast<WriteFencedStore*>(old_leader.get());
  auto* new_fence = dynamic_cast<WriteFencedStore*>(new_leader.get());
  ASSERT_NE(old_fence, nullptr);
  ASSERT_NE(new_fence, nullptr);
  const ObjectKey kept{kWidgets, "ns", "kept"};
  const ObjectKey gone{kWidgets, "ns", "gone"};

  StatusOr<int64_t> first = old_fence->RaiseFence("meridian-system/manager", "old");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(old_leader->Create(kept, Widget("ns", "kept")).ok());
  ASSERT_TRUE(old_leader->Create(gone, Widget("ns", "gone")).ok());
  const int64_t kept_rv = ResourceVersionOf(old_leader->Get(kept).value()).value();

  StatusOr<int64_t> second = new_fence->RaiseFence("meridian-system/manager", "new");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GT(*second, *first);

  json changed = Widget("ns", "kept");
  changed["spec"]["n"] = 99;
  StatusOr<json> update = old_leader->Update(kept, changed, kept_rv);
  ASSERT_EQ(update.status().code(), StatusCode::kFailedPrecondition) << update.status();
  EXPECT_NE(update.status().message().find("raised again by new"), std::string::npos)
      << update.status();
  EXPECT_EQ(old_leader->Update(kept, changed, 0).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(old_leader->Create({kWidgets, "ns", "late"}, Widget("ns", "late")).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(old_leader->Delete(gone, 0).status().code(), StatusCode::kFailedPrecondition);
  // Nothing changed.
  EXPECT_EQ(ResourceVersionOf(apiserver->Get(kept).value()).value(), kept_rv);
  EXPECT_EQ(apiserver->Get(kept).value()["spec"]["n"], 0);
  EXPECT_TRUE(apiserver->Get(gone).ok());
  EXPECT_EQ(apiserver->Get({kWidgets, "ns", "late"}).status().code(), StatusCode::kNotFound);
  // A conflict is still a conflict (the fence holds): kAborted, not the fence's error.
  EXPECT_EQ(new_leader->Update(kept, changed, kept_rv + 1000).status().code(),
            StatusCode::kAborted);
  EXPECT_EQ(new_leader->Create(gone, Widget("ns", "gone")).status().code(),
            StatusCode::kAlreadyExists);
  // The new leader and a store without a fence write as before.
  ASSERT_TRUE(new_leader->Update(kept, changed, kept_rv).ok());
  ASSERT_TRUE(new_leader->Delete(gone, 0).ok());
  ASSERT_TRUE(apiserver->Create({kWidgets, "ns", "by-apiserver"}, Widget("ns", "x")).ok());
  // The fence key is outside every resource's key range.
  ListResult all = apiserver->List(kWidgets, {}).value();
  EXPECT_EQ(all.items.size(), 2u);
}

// The window etcd's write precondition closes: the Lease moves after the store read it and
// before its Txn. The Txn's compare on the Lease's mod_revision fails, the store reads the
// Lease again and checks again: a renewal (same holder) lets the write through, a takeover
// refuses it with nothing written, and a Lease that moves on every attempt gives up (kAborted)
// instead of looping. The Lease is changed from another thread (the check runs inside the
// store's write; a write from the same thread would be under the same precondition).
TEST(EtcdStoreTest, ALeaseThatMovesBetweenThePreconditionsReadAndTheTxnIsReadAgain) {
  auto store = MakeEtcd(1000);
  const ObjectKey lease_key{{"coordination.k8s.io", "leases"}, "system", "leader"};
  auto write_lease = [&](const std::string& holder, int renewals) {
    json lease = {{"metadata", {{"name", "leader"}, {"namespace", "system"}}},
                  {"spec", {{"holderIdentity", holder}, {"renewals", renewals}}}};
    std::thread other([&] { ASSERT_TRUE(store->Update(lease_key, lease, 0).ok()); });
    other.join();
  };
  ASSERT_TRUE(store->Create(lease_key, {{"metadata", {{"name", "leader"}}},
                                        {"spec", {{"holderIdentity", "a"}}}})
                  .ok());
  // What the check does on its first call, i.e. right after the store's read of the Lease.
  std::function<void(int call)> in_the_window;
  int calls = 0;
  auto held_by_a = std::make_shared<WritePrecondition>();
  held_by_a->key = lease_key;
  held_by_a->check = [&](const json* lease) -> Status {
    const std::string holder = lease ? (*lease)["spec"].value("holderIdentity", "") : "";
    if (holder != "a") return AbortedError("the lease is held by " + holder);
    in_the_window(++calls);
    return Status::Ok();
  };
  WritePreconditionScope scope(held_by_a);

  // A renewal in the window: read again, still held, written.
  in_the_window = [&](int call) {
    if (call == 1) write_lease("a", 1);
  };
  StatusOr<json> renewed = store->Create({kWidgets, "ns", "after-renewal"}, Widget("ns", "x"));
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(calls, 2);

  // A takeover in the window: read again, held by b, refused; nothing written.
  calls = 0;
  in_the_window = [&](int call) {
    if (call == 1) write_lease("b", 0);
  };
  const int64_t before = store->CurrentResourceVersion();
  StatusOr<json> taken = store->Create({kWidgets, "ns", "after-takeover"}, Widget("ns", "y"));
  EXPECT_EQ(taken.status().code(), StatusCode::kAborted);
  EXPECT_NE(taken.status().message().find("held by b"), std::string::npos) << taken.status();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(store->Get({kWidgets, "ns", "after-takeover"}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->CurrentResourceVersion(), before + 1) << "the takeover only";

  // A Lease that moves on every attempt: a bounded number of reads, then kAborted.
  write_lease("a", 2);
  calls = 0;
  in_the_window = [&](int call) { write_lease("a", 10 + call); };
  StatusOr<json> busy = store->Update({kWidgets, "ns", "after-renewal"}, Widget("ns", "z"), 0);
  EXPECT_EQ(busy.status().code(), StatusCode::kAborted);
  EXPECT_NE(busy.status().message().find("changed under each of"), std::string::npos)
      << busy.status();
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(store->Get({kWidgets, "ns", "after-renewal"}).value()["metadata"]["name"], "x");
}

TEST(EtcdStoreTest, ANonJsonValueWrittenByHandIsSkippedInListAndWatchAndDataLossOnGet) {
  EtcdStoreOptions options = Options(SharedEtcd::cluster().ClientUrls());
  auto store = OpenEtcdStore(options).value();
  ASSERT_TRUE(store->Create({kWidgets, "x", "a"}, Widget("x", "a")).ok());
  EventLog log;
  auto watch = store->WatchFrom(kWidgets, "", {}, 0, log.Callback());
  ASSERT_TRUE(watch.ok()) << watch.status();

  const std::string bad = options.prefix + "/example.io/widgets/x/b";
  ASSERT_EQ(Etcdctl("put " + bad + " 'not json {'").exit_code, 0);
  ASSERT_EQ(Etcdctl("put " + options.prefix + "/example.io/widgets/x/n '[1,2]'").exit_code, 0);
  ASSERT_TRUE(store->Create({kWidgets, "x", "c"}, Widget("x", "c")).ok());

  StatusOr<ListResult> list = store->List(kWidgets, {});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->items[0]["metadata"]["name"], "a");
  EXPECT_EQ(list->items[1]["metadata"]["name"], "c");

  StatusOr<json> got = store->Get({kWidgets, "x", "b"});
  EXPECT_EQ(got.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(got.status().message().find(bad), std::string::npos) << got.status();

  std::vector<WatchEvent> events = log.WaitFor(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].key.name, "c") << "the bad values were skipped, the watch goes on";

  // The broken object can still be deleted (that is how an operator cleans it up).
  StatusOr<json> gone = store->Delete({kWidgets, "x", "b"}, 0);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ(store->Get({kWidgets, "x", "b"}).status().code(), StatusCode::kNotFound);
}

TEST(EtcdStoreTest, ListPagesReadTheFirstPagesRevision) {
  auto store = MakeEtcd(0);
  for (int i = 0; i < 4; ++i) {
    std::string name = "w" + std::to_string(i);
    ASSERT_TRUE(store->Create({kWidgets, "x", name}, Widget("x", name)).ok());
  }
  ListOptions opts;
  opts.limit = 2;
  ListResult first = store->List(kWidgets, opts).value();
  ASSERT_EQ(first.items.size(), 2u);
  EXPECT_EQ(first.remaining_item_count, 2);
  // Changes after the first page are not in the second: it is the same snapshot.
  ASSERT_TRUE(store->Delete({kWidgets, "x", "w3"}, 0).ok());
  ASSERT_TRUE(store->Create({kWidgets, "x", "w2a"}, Widget("x", "w2a")).ok());
  opts.continue_token = first.continue_token;
  ListResult second = store->List(kWidgets, opts).value();
  ASSERT_EQ(second.items.size(), 2u);
  EXPECT_EQ(second.items[0]["metadata"]["name"], "w2");
  EXPECT_EQ(second.items[1]["metadata"]["name"], "w3");
  EXPECT_EQ(second.resource_version, first.resource_version);
  EXPECT_TRUE(second.continue_token.empty());
}

TEST(EtcdStoreTest, AContinueTokenFromACompactedRevisionIsOutOfRange) {
  auto store = MakeEtcd(3);
  for (int i = 0; i < 3; ++i) {
    std::string name = "w" + std::to_string(i);
    ASSERT_TRUE(store->Create({kWidgets, "x", name}, Widget("x", name)).ok());
  }
  ListOptions opts;
  opts.limit = 1;
  ListResult first = store->List(kWidgets, opts).value();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store->Update({kWidgets, "x", "w0"}, Widget("x", "w0", i), 0).ok());
  }
  opts.continue_token = first.continue_token;
  EXPECT_EQ(store->List(kWidgets, opts).status().code(), StatusCode::kOutOfRange);
}

TEST(EtcdStoreTest, InvalidKeysAreRejectedBeforeAnythingIsWritten) {
  auto store = MakeEtcd(0);
  EXPECT_EQ(store->Create({kWidgets, "x", "a/b"}, Widget("x", "a")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Create({kWidgets, "x/y", "a"}, Widget("x", "a")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Create({kWidgets, "x", "a"}, json::array()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(store->List(kWidgets, {}).value().items.empty());
}

TEST(EtcdStoreTest, ParsesTheStorageFlag) {
  struct Case {
    std::string flag;
    bool ok;
    size_t endpoints;
  };
  const std::vector<Case> cases = {
      {"etcd:http://127.0.0.1:2379", true, 1},
      {"etcd:https://h1:2379,https://h2:2379,https://h3:2379", true, 3},
      {"etcd:", false, 0},
      {"etcd:127.0.0.1:2379", false, 0},
      {"etcd:http://127.0.0.1", false, 0},
      {"etcd:http://h1:2379,https://h2:2379", false, 0},
      {"etcd:http://h1:23x9", false, 0},
      {"sqlite:/tmp/x.db", false, 0},
  };
  for (const Case& c : cases) {
    StatusOr<std::vector<std::string>> got = ParseEtcdEndpoints(c.flag);
    EXPECT_EQ(got.ok(), c.ok) << c.flag << ": " << got.status();
    if (got.ok()) {
      EXPECT_EQ(got->size(), c.endpoints) << c.flag;
    } else {
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(got.status().message().find("--storage"), std::string::npos) << got.status();
    }
  }
}

TEST(EtcdStoreTest, AnUnreachableEndpointIsAClearStartupErrorWithinTheTimeout) {
  const std::string url = "http://127.0.0.1:" + std::to_string(test_env::PickFreeLoopbackPort());
  EtcdStoreOptions options = Options({url});
  options.request_timeout = std::chrono::milliseconds(1500);
  options.dial_timeout = std::chrono::milliseconds(500);
  auto start = std::chrono::steady_clock::now();
  StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(store.status().message().find(url), std::string::npos) << store.status();
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST(EtcdStoreTest, AGrpcServerThatIsNotEtcdIsRefusedAtStartup) {
  // A gRPC server without etcd's KV service (only an unimplemented Watch service).
  etcdserverpb::Watch::Service not_kv;
  grpc::ServerBuilder builder;
  builder.RegisterService(&not_kv);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_TRUE(server);
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(Options({url}));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status();
  EXPECT_NE(store.status().message().find("not an etcd v3 server"), std::string::npos)
      << store.status();
  server->Shutdown();
}

TEST(EtcdStoreTest, AnHttpServerThatIsNotEtcdIsRefusedAtStartup) {
  // A plain HTTP/1.1 server (what a mistyped URL usually points at): answers 400 and closes.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ASSERT_EQ(listen(fd, 16), 0);
  std::atomic<bool> stop{false};
  std::thread http([&] {
    while (!stop.load()) {
      int c = accept(fd, nullptr, nullptr);
      if (c < 0) return;
      char buf[1024];
      (void)!read(c, buf, sizeof buf);
      const char reply[] =
          "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      (void)!write(c, reply, sizeof reply - 1);
      close(c);
    }
  });
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  EtcdStoreOptions options = Options({url});
  options.request_timeout = std::chrono::milliseconds(2000);
  options.dial_timeout = std::chrono::milliseconds(500);
  StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options);
  stop.store(true);
  shutdown(fd, SHUT_RDWR);
  close(fd);
  http.join();
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(url), std::string::npos) << store.status();
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status();
}

TEST(EtcdStoreTest, AHangingMemberIsADeadlineNotAHang) {
  EtcdStoreOptions options = Options(SharedEtcd::cluster().ClientUrls());
  options.request_timeout = std::chrono::milliseconds(500);
  auto store = OpenEtcdStore(options).value();
  ASSERT_TRUE(store->Create({kWidgets, "x", "a"}, Widget("x", "a")).ok());
  SharedEtcd::cluster().Suspend(0);
  auto start = std::chrono::steady_clock::now();
  StatusOr<json> got = store->Get({kWidgets, "x", "a"});
  StatusOr<json> created = store->Create({kWidgets, "x", "b"}, Widget("x", "b"));
  auto took = std::chrono::steady_clock::now() - start;
  SharedEtcd::cluster().Resume(0);
  EXPECT_EQ(got.status().code(), StatusCode::kDeadlineExceeded) << got.status();
  EXPECT_EQ(created.status().code(), StatusCode::kDeadlineExceeded) << created.status();
  EXPECT_LT(took, std::chrono::milliseconds(2500));
  // Back to normal once the member answers again (the create may or may not have landed).
  EXPECT_TRUE(store->Get({kWidgets, "x", "a"}).ok());
}

TEST(EtcdStoreTest, CallsAndWatchesMoveToAnotherMemberWhenOneDies) {
  EtcdCluster cluster;
  std::string error;
  ASSERT_TRUE(cluster.Start(3, &error)) << error;
  EtcdStoreOptions options = Options(cluster.ClientUrls());
  options.dial_timeout = std::chrono::milliseconds(300);
  options.request_timeout = std::chrono::milliseconds(2000);
  auto store = OpenEtcdStore(options).value();
  json a = store->Create({kWidgets, "x", "a"}, Widget("x", "a")).value();
  EventLog log;
  auto watch = store->WatchFrom(kWidgets, "", {}, ResourceVersionOf(a).value(), log.Callback());
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(store->Create({kWidgets, "x", "b"}, Widget("x", "b")).ok());
  ASSERT_EQ(log.WaitFor(1).size(), 1u);

  cluster.Kill(0);  // the member every call and the watch went to first
  // A write in flight when its member (or the raft leader) dies is refused or times out
  // rather than being retried blindly (it may have been applied); the next one goes to a
  // live member once the survivors have elected a leader.
  StatusOr<json> c = Status(StatusCode::kUnavailable, "not tried");
  for (int attempt = 0; attempt < 5 && !c.ok(); ++attempt) {
    c = store->Create({kWidgets, "x", "c"}, Widget("x", "c"));
    if (c.status().code() == StatusCode::kAlreadyExists) c = store->Get({kWidgets, "x", "c"});
    if (!c.ok()) {
      EXPECT_TRUE(c.status().code() == StatusCode::kUnavailable ||
                  c.status().code() == StatusCode::kDeadlineExceeded)
          << c.status();
    }
  }
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(store->Get({kWidgets, "x", "b"}).ok());
  std::vector<WatchEvent> events = log.WaitFor(2);
  ASSERT_EQ(events.size(), 2u) << "the watch resumed on another member";
  EXPECT_EQ(events[1].key.name, "c");
  EXPECT_EQ(events[1].resource_version, ResourceVersionOf(*c).value());

  ASSERT_TRUE(cluster.Restart(0, &error)) << error;
  EXPECT_EQ(store->List(kWidgets, {}).value().items.size(), 3u);
}

// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
struct TestPki {
  std::filesystem::path dir;
  bool Make(std::string* error) {
    dir =
        std::filesystem::temp_directory_path() / ("meridian-etcd-pki-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string d = dir.string();
    const std::string script =
        "set -e; cd " + d +
        "; "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout ca.key "
        "-out ca.crt; "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other-ca -keyout other.key "
        "-out other.crt; "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=etcd -keyout server.key -out server.csr; "
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth,"
        "clientAuth\\n' > server.ext; "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
        "-extfile server.ext -out server.crt; "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=meridian -keyout client.key -out "
        "client.csr; "
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext; "
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
        "-extfile client.ext -out client.crt";
    test_env::CommandResult r = RunCommand("{ " + script + "; }");
    if (r.exit_code != 0) *error = r.output;
    return r.exit_code == 0;
  }
  std::string File(const std::string& name) const { return (dir / name).string(); }
  ~TestPki() {
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
};

TEST(EtcdStoreTest, TlsWithClientCertificatesAndClearErrorsForWrongOnes) {
  TestPki pki;
  std::string error;
  ASSERT_TRUE(pki.Make(&error)) << error;
  test_env::EtcdTls tls{pki.File("ca.crt"), pki.File("server.crt"), pki.File("server.key")};
  EtcdCluster cluster;
  ASSERT_TRUE(cluster.Start(1, &error, &tls)) << error;

  EtcdStoreOptions options = Options(cluster.ClientUrls());
  options.ca_file = pki.File("ca.crt");
  options.cert_file = pki.File("client.crt");
  options.key_file = pki.File("client.key");
  auto store = OpenEtcdStore(options);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Create({kWidgets, "x", "a"}, Widget("x", "a")).ok());

  EtcdStoreOptions quick = options;
  quick.request_timeout = std::chrono::milliseconds(1500);
  quick.dial_timeout = std::chrono::milliseconds(500);
  {
    EtcdStoreOptions wrong_ca = quick;
    wrong_ca.ca_file = pki.File("other.crt");
    StatusOr<std::unique_ptr<Store>> s = OpenEtcdStore(wrong_ca);
    EXPECT_EQ(s.status().code(), StatusCode::kUnavailable) << s.status();
    EXPECT_NE(s.status().message().find("--etcd-cafile"), std::string::npos) << s.status();
  }
  {
    EtcdStoreOptions no_client_cert = quick;
    no_client_cert.cert_file.clear();
    no_client_cert.key_file.clear();
    StatusOr<std::unique_ptr<Store>> s = OpenEtcdStore(no_client_cert);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.status().message().find("--etcd-certfile"), std::string::npos) << s.status();
  }
  {
    EtcdStoreOptions cert_only = quick;
    cert_only.key_file.clear();
    StatusOr<std::unique_ptr<Store>> s = OpenEtcdStore(cert_only);
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("--etcd-keyfile"), std::string::npos) << s.status();
  }
  {
    EtcdStoreOptions missing = quick;
    missing.ca_file = pki.File("nope.crt");
    StatusOr<std::unique_ptr<Store>> s = OpenEtcdStore(missing);
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("--etcd-cafile"), std::string::npos) << s.status();
  }
  {
    EtcdStoreOptions not_pem = quick;
    not_pem.ca_file = pki.File("server.ext");
    StatusOr<std::unique_ptr<Store>> s = OpenEtcdStore(not_pem);
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << s.status();
  }
}

// The storage compactor's call (apimachinery/store_compaction.h): etcd's Compact. Last in the
// file: compaction is global to the shared etcd (earlier revisions of other tests go too).
TEST(EtcdStoreTest, CompactBeforeMakesOlderWatchesOutOfRange) {
  auto store = MakeEtcd(0);  // no count-based compaction
  auto* compactable = dynamic_cast<CompactableStore*>(store.get());
  ASSERT_NE(compactable, nullptr);
  json a = store->Create({kWidgets, "x", "c0"}, Widget("x", "c0")).value();
  const int64_t created = ResourceVersionOf(a).value();
  ASSERT_TRUE(store->Update({kWidgets, "x", "c0"}, Widget("x", "c0", 1), 0).ok());
  const int64_t now = store->CurrentResourceVersion();
  ASSERT_TRUE(compactable->CompactBefore(now).ok());
  EXPECT_TRUE(compactable->CompactBefore(now).ok()) << "again: a no-op";
  auto old = store->WatchFrom(kWidgets, "x", {}, created - 1, [](const WatchEvent&) {});
  EXPECT_EQ(old.status().code(), StatusCode::kOutOfRange) << old.status();
  auto current = store->WatchFrom(kWidgets, "x", {}, now, [](const WatchEvent&) {});
  EXPECT_TRUE(current.ok()) << current.status();
}

}  // namespace
}  // namespace meridian::apimachinery
