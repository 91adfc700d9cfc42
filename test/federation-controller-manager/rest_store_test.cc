// RestStore (federation-controller-manager/rest_store.h) against a real REST API on loopback:
// the generic REST shell federation-apiserver serves (RestHandler over an ObjectService over a
// MemoryStore, behind cpprestsdk's HttpServer), reached through HttpMemberClient.
//
//   - The Store conformance suite, unchanged (test/apimachinery/store_conformance.h).
//   - What the API does differently from a storage backend (rest_store.h): /status, the
//     deletionTimestamp only a DELETE sets, server-owned metadata; exercised through an
//     ObjectService over the RestStore, as the controller manager uses it.
//   - The write permit (a fenced leader's writes never leave the process).
//   - Leader election (apimachinery/leader_election.h) with two candidates, each over its own
//     RestStore: one Lease served by the API, one leader, release and takeover.
#include "federation-controller-manager/rest_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "apimachinery/core_admission.h"
#include "apimachinery/leader_election.h"
#include "apimachinery/memory_store.h"
#include "apimachinery/object_service.h"
#include "apimachinery/rest/http_server.h"
#include "apimachinery/rest/rest_handler.h"
#include "common/clock.h"
#include "sync/http_member_client.h"
#include "test/apimachinery/store_conformance.h"

namespace meridian::apimachinery::testing {
namespace {

using controllermanager::NewRestStore;
using controllermanager::RestStoreOptions;
using nlohmann::json;

ResourceInfo Widgets(const std::string& plural, bool has_status) {
  ResourceInfo r;
  r.group = "example.io";
  r.version = "v1";
  r.kind = plural == "widgets" ? "Widget" : "Gadget";
  r.plural = plural;
  r.has_status = has_status;
  return r;
}

// A REST API on a free loopback port, and the client side: a registry the same kinds, an
// HttpMemberClient to it. Members are destroyed in reverse order (server before service
// before store).
class ServedApi {
 public:
  ServedApi(int64_t history, bool with_status, bool with_leases) {
    MemoryStoreOptions memory;
    memory.history_limit = static_cast<size_t>(history);
    store_ = std::make_unique<MemoryStore>(memory);
    for (ResourceRegistry* r : {&server_registry_, &client_registry_}) {
      EXPECT_TRUE(r->Add(Widgets("widgets", with_status)).ok());
      EXPECT_TRUE(r->Add(Widgets("gadgets", false)).ok());
      if (with_leases) {
        EXPECT_TRUE(r->Add(NamespaceResourceInfo()).ok());
        EXPECT_TRUE(r->Add(LeaseResourceInfo()).ok());
      }
    }
    objects_ = std::make_unique<ObjectService>(*store_, RealClock(), server_registry_);
    if (with_leases) {
      InstallCoreAdmission(*objects_);
      InstallLeaseValidation(*objects_);
    }
    handler_ = std::make_unique<rest::RestHandler>(*objects_, RealClock());
    http_ = rest::HttpServer::StartOnFreeLoopbackPort([this](rest::RestRequest r) {
              if (r.method != "GET") {
                std::lock_guard lock(writes_mu_);
                writes_.push_back(r.method + " " + r.path);
              }
              return handler_->Handle(std::move(r));
            }).value();
    sync::MemberEndpoint endpoint;
    endpoint.name = "federation-apiserver";
    endpoint.server = http_->url();
    endpoint.timeout = std::chrono::seconds(10);
    client_ = std::shared_ptr<sync::MemberClient>(
        sync::HttpMemberClient::Create(endpoint).value().release());
  }
  ~ServedApi() { http_->Stop(); }

  std::unique_ptr<Store> NewStore(RestStoreOptions options = {}) {
    return NewRestStore(client_, client_registry_, std::move(options)).value();
  }
  ObjectService& server_objects() { return *objects_; }
  // The writes the server was sent ("PUT /apis/..."), oldest first; cleared by the call.
  std::vector<std::string> TakeWrites() {
    std::lock_guard lock(writes_mu_);
    return std::exchange(writes_, {});
  }
  const ResourceRegistry& client_registry() const { return client_registry_; }

 private:
  ResourceRegistry server_registry_;
  ResourceRegistry client_registry_;
  std::unique_ptr<MemoryStore> store_;
  std::unique_ptr<ObjectService> objects_;
  std::unique_ptr<rest::RestHandler> handler_;
  std::unique_ptr<rest::HttpServer> http_;
  std::shared_ptr<sync::MemberClient> client_;
  std::mutex writes_mu_;
  std::vector<std::string> writes_;  // guarded by writes_mu_
};

// The conformance suite wants a Store that owns what it needs: the served API with it.
class ServedRestStore final : public Store {
 public:
  explicit ServedRestStore(int64_t history) : api_(history, false, false) {
    RestStoreOptions options;
    options.revision_probe = {"example.io", "widgets"};  // the suite's kinds only
    store_ = api_.NewStore(options);
  }
  StatusOr<json> Get(const ObjectKey& key) override { return store_->Get(key); }
  StatusOr<ListResult> List(const ResourceType& type, const ListOptions& options) override {
    return store_->List(type, options);
  }
  StatusOr<json> Create(const ObjectKey& key, json object) override {
    return store_->Create(key, std::move(object));
  }
  StatusOr<json> Update(const ObjectKey& key, json object, int64_t expected) override {
    return store_->Update(key, std::move(object), expected);
  }
  StatusOr<json> Delete(const ObjectKey& key, int64_t expected) override {
    return store_->Delete(key, expected);
  }
  StatusOr<std::unique_ptr<Watch>> WatchFrom(const ResourceType& type, const std::string& ns,
                                             const LabelSelector& selector, int64_t from,
                                             WatchCallback callback) override {
    return store_->WatchFrom(type, ns, selector, from, std::move(callback));
  }
  int64_t CurrentResourceVersion() override { return store_->CurrentResourceVersion(); }

 private:
  ServedApi api_;
  std::unique_ptr<Store> store_;  // destroyed before api_
};

INSTANTIATE_TEST_SUITE_P(Rest, StoreConformanceTest,
                         ::testing::Values(StoreFactory{"rest",
                                                        [](int64_t history) {
                                                          return std::unique_ptr<Store>(
                                                              new ServedRestStore(history));
                                                        },
                                                        /*honours_write_preconditions=*/false}),
                         [](const auto& info) { return info.param.name; });

json Widget(const std::string& name, int n) {
  return {{"apiVersion", "example.io/v1"},
          {"kind", "Widget"},
          {"metadata", {{"name", name}, {"namespace", "x"}}},
          {"spec", {{"n", n}}}};
}

// Where the server splits spec and status, the RestStore writes status through /status and
// the main write never drops it: checked on the server's own copy.
TEST(RestStoreTest, StatusGoesThroughTheStatusSubresource) {
  ServedApi api(1000, /*with_status=*/true, false);
  auto store = api.NewStore({.revision_probe = {"example.io", "widgets"}});
  ObjectService objects(*store, RealClock(), api.client_registry());
  const ResourceInfo& widgets = *api.client_registry().Find("example.io", "v1", "widgets");

  ASSERT_TRUE(objects.Create(widgets, "x", Widget("a", 1)).ok());
  json with_status = objects.Get(widgets, "x", "a").value();
  with_status["status"] = {{"ready", 3}};
  // A spec change in a status write is ignored, on the client's ObjectService and the server.
  with_status["spec"]["n"] = 7;
  api.TakeWrites();
  auto written = objects.Update(widgets, "x", "a", with_status, "status");
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ((*written)["status"]["ready"], 3);
  EXPECT_EQ((*written)["spec"]["n"], 1);
  EXPECT_EQ(api.server_objects().Get(widgets, "x", "a").value()["status"]["ready"], 3);
  EXPECT_EQ(api.server_objects().Get(widgets, "x", "a").value()["spec"]["n"], 1);
  // One PUT of /status and nothing else: a status write needs no `update` on the object.
  EXPECT_EQ(api.TakeWrites(),
            std::vector<std::string>{"PUT /apis/example.io/v1/namespaces/x/widgets/a/status"});

  // A spec write keeps the status (the server's rule, kept by the client's ObjectService).
  json spec = objects.Get(widgets, "x", "a").value();
  spec["spec"]["n"] = 2;
  ASSERT_TRUE(objects.Update(widgets, "x", "a", spec).ok());
  EXPECT_EQ(api.TakeWrites(),
            std::vector<std::string>{"PUT /apis/example.io/v1/namespaces/x/widgets/a"});
  json server = api.server_objects().Get(widgets, "x", "a").value();
  EXPECT_EQ(server["spec"]["n"], 2);
  EXPECT_EQ(server["status"]["ready"], 3);
  EXPECT_EQ(server["metadata"]["generation"], 2);

  // A stale status write is a conflict, as on the server.
  with_status["status"]["ready"] = 9;
  auto stale = objects.Update(widgets, "x", "a", with_status, "status");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, 409);
  EXPECT_EQ(api.server_objects().Get(widgets, "x", "a").value()["status"]["ready"], 3);
}

// ObjectService marks an object with finalizers by writing deletionTimestamp, which a PUT
// cannot set: the RestStore turns it into the server's DELETE; emptying the finalizers then
// removes the object on the server.
TEST(RestStoreTest, FinalizersMarkThenRemoveOnTheServer) {
  ServedApi api(1000, false, false);
  auto store = api.NewStore({.revision_probe = {"example.io", "widgets"}});
  ObjectService objects(*store, RealClock(), api.client_registry());
  const ResourceInfo& widgets = *api.client_registry().Find("example.io", "v1", "widgets");

  json w = Widget("a", 1);
  w["metadata"]["finalizers"] = {"example.io/cleanup"};
  ASSERT_TRUE(objects.Create(widgets, "x", w).ok());
  auto marked = objects.Delete(widgets, "x", "a");
  ASSERT_TRUE(marked.ok()) << marked.error().message;
  json server = api.server_objects().Get(widgets, "x", "a").value();
  EXPECT_TRUE(server["metadata"].contains("deletionTimestamp")) << server.dump();

  json done = objects.Get(widgets, "x", "a").value();
  done["metadata"].erase("finalizers");
  ASSERT_TRUE(objects.Update(widgets, "x", "a", done).ok());
  EXPECT_EQ(api.server_objects().Get(widgets, "x", "a").error().code, 404);
}

TEST(RestStoreTest, ARefusedWritePermitSendsNothing) {
  ServedApi api(1000, false, false);
  bool allowed = true;
  auto store = api.NewStore({.revision_probe = {"example.io", "widgets"},
                             .write_permit = [&allowed]() -> Status {
                               return allowed ? Status::Ok()
                                              : FailedPreconditionError("lease expired");
                             }});
  const ObjectKey key{{"example.io", "widgets"}, "x", "a"};
  json v1 = store->Create(key, Widget("a", 1)).value();
  allowed = false;
  for (auto code : {store->Update(key, Widget("a", 2), 0).status().code(),
                    store->Delete(key, 0).status().code(),
                    store->Create({key.type, "x", "b"}, Widget("b", 1)).status().code()}) {
    EXPECT_EQ(code, StatusCode::kFailedPrecondition);
  }
  const ResourceInfo& widgets = *api.client_registry().Find("example.io", "v1", "widgets");
  EXPECT_EQ(api.server_objects().Get(widgets, "x", "a").value(), v1);
  EXPECT_EQ(api.server_objects().Get(widgets, "x", "b").error().code, 404);
  EXPECT_TRUE(store->Get(key).ok()) << "reads are not fenced";
}

TEST(RestStoreTest, UnknownKindsAndAnUnreachableServerAreClearErrors) {
  ServedApi api(1000, false, false);
  auto store = api.NewStore({.revision_probe = {"example.io", "widgets"}});
  StatusOr<json> unknown = store->Get({{"example.io", "sprockets"}, "x", "a"});
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("sprockets.example.io"), std::string::npos);

  sync::MemberEndpoint nowhere;
  nowhere.name = "federation-apiserver";
  nowhere.server = "http://127.0.0.1:1";  // nothing listens on port 1
  nowhere.timeout = std::chrono::seconds(5);
  auto offline = NewRestStore(std::shared_ptr<sync::MemberClient>(
                                  sync::HttpMemberClient::Create(nowhere).value().release()),
                              api.client_registry(),
                              {.revision_probe = {"example.io", "widgets"}})
                     .value();
  EXPECT_EQ(offline->Get({{"example.io", "widgets"}, "x", "a"}).status().code(),
            StatusCode::kUnavailable);
  auto watch = offline->WatchFrom({"example.io", "widgets"}, "", {}, 5, [](const WatchEvent&) {});
  EXPECT_EQ(watch.status().code(), StatusCode::kUnavailable) << watch.status();
}

// The elector needs nothing but the Store seam: two candidates, each with its own RestStore,
// share one Lease the API serves.
TEST(RestStoreTest, LeaderElectionOverTheApi) {
  ServedApi api(1000, false, /*with_leases=*/true);
  json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "meridian-system"}}}};
  ASSERT_TRUE(api.server_objects()
                  .Create(*api.client_registry().Find("", "v1", "namespaces"), "", ns)
                  .ok());
  FakeClock clock;
  auto store_a = api.NewStore();
  auto store_b = api.NewStore();
  ObjectService objects_a(*store_a, clock, api.client_registry());
  ObjectService objects_b(*store_b, clock, api.client_registry());
  LeaderElectionConfig config;
  config.lease_duration = std::chrono::seconds(4);
  config.renew_deadline = std::chrono::seconds(3);
  config.retry_period = std::chrono::seconds(1);
  config.identity = "a";
  LeaderElection a(objects_a, clock, config);
  config.identity = "b";
  LeaderElection b(objects_b, clock, config);
  using Transition = LeaderElection::Transition;

  ASSERT_EQ(a.Tick(), Transition::kStartedLeading);
  ASSERT_EQ(b.Tick(), Transition::kNone);
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(a.Tick(), Transition::kNone);  // renewed
  EXPECT_EQ(b.Tick(), Transition::kNone);
  const ResourceInfo& leases = *api.client_registry().Find("coordination.k8s.io", "v1", "leases");
  json lease =
      api.server_objects().Get(leases, "meridian-system", "federation-controller-manager").value();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "a");

  // a dies without releasing: b takes over only once the lease has run out on its clock.
  clock.Advance(std::chrono::seconds(3));
  EXPECT_EQ(b.Tick(), Transition::kNone);
  clock.Advance(std::chrono::seconds(2));
  EXPECT_EQ(b.Tick(), Transition::kStartedLeading);
  lease =
      api.server_objects().Get(leases, "meridian-system", "federation-controller-manager").value();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "b");
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
  // The old leader, back, sees it lost.
  EXPECT_EQ(a.Tick(), Transition::kStoppedLeading);
}

}  // namespace
}  // namespace meridian::apimachinery::testing
