#include "apimachinery/object_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "apimachinery/change_watch.h"
#include "apimachinery/memory_store.h"
#include "apimachinery/table.h"
#include "test/common/counting_store.h"
#include "test/common/interrupting_store.h"

namespace meridian::apimachinery {
namespace {

using nlohmann::json;

ResourceInfo Deployments() {
  ResourceInfo r;
  r.group = "apps";
  r.version = "v1";
  r.kind = "Deployment";
  r.plural = "deployments";
  r.short_names = {"deploy"};
  r.has_status = true;
  r.printer_columns = {{"Replicas", "integer", ".spec.replicas"},
                       {"Age", "date", ".metadata.creationTimestamp"}};
  return r;
}

ResourceInfo ConfigMaps() {
  ResourceInfo r;
  r.version = "v1";
  r.kind = "ConfigMap";
  r.plural = "configmaps";
  return r;
}

json Deploy(const std::string& name, int replicas = 1) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
          {"spec", {{"replicas", replicas}}}};
}

class ObjectServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.Add(NamespaceResourceInfo()).ok());
    ASSERT_TRUE(registry_.Add(Deployments()).ok());
    ASSERT_TRUE(registry_.Add(ConfigMaps()).ok());
    service_ = std::make_unique<ObjectService>(store_, clock_, registry_);
    ASSERT_TRUE(service_->Create(NamespaceResourceInfo(), "", {{"metadata", {{"name", "default"}}}}).ok());
  }
  const ResourceInfo& deploys() { return *registry_.Find("apps", "v1", "deployments"); }
  // Deployment default/web created with one finalizer, then deleted: kept, being deleted.
  json MarkedForDeletionWithAFinalizer(ObjectService& service) {
    json body = Deploy("web");
    body["metadata"]["finalizers"] = {"example.io/cleanup"};
    EXPECT_TRUE(service.Create(deploys(), "default", body).ok());
    ApiResult<json> marked = service.Delete(deploys(), "default", "web");
    EXPECT_TRUE(marked.ok());
    return marked.ok() ? *marked : json();
  }
  const ResourceInfo& cms() { return *registry_.Find("", "v1", "configmaps"); }
  const ResourceInfo& nss() { return *registry_.Find("", "v1", "namespaces"); }

  std::shared_ptr<WatchDispatcher> dispatcher_ = std::make_shared<WatchDispatcher>();
  MemoryStore store_{MemoryStoreOptions{.dispatcher = dispatcher_}};
  FakeClock clock_;
  ResourceRegistry registry_;
  std::unique_ptr<ObjectService> service_;
};

TEST_F(ObjectServiceTest, CreateFillsServerMetadataAndRejectsBadInputLikeKubernetes) {
  ApiResult<json> created = service_->Create(deploys(), "default", Deploy("web"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  const json& meta = (*created)["metadata"];
  EXPECT_EQ(meta["namespace"], "default");
  EXPECT_EQ(meta["generation"], 1);
  EXPECT_EQ(meta["creationTimestamp"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(meta["uid"].get<std::string>().size(), 36u);
  EXPECT_FALSE(meta["resourceVersion"].get<std::string>().empty());

  struct Case {
    std::string what;
    std::string ns;
    json body;
    int code;
    std::string reason;
    std::string message;
  };
  json wrong_ns = Deploy("x");
  wrong_ns["metadata"]["namespace"] = "other";
  json bad_name = Deploy("Bad_Name");
  json no_name = Deploy("");
  no_name["metadata"].erase("name");
  json wrong_kind = Deploy("y");
  wrong_kind["kind"] = "StatefulSet";
  json wrong_version = Deploy("y");
  wrong_version["apiVersion"] = "apps/v1beta1";
  for (const Case& c : std::vector<Case>{
           {"duplicate", "default", Deploy("web"), 409, "AlreadyExists",
            "deployments.apps \"web\" already exists"},
           {"missing namespace", "nope", Deploy("x"), 404, "NotFound",
            "namespaces \"nope\" not found"},
           {"namespace mismatch", "default", wrong_ns, 400, "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the "
            "request"},
           {"bad name", "default", bad_name, 422, "Invalid",
            "Deployment.apps \"Bad_Name\" is invalid: metadata.name: Invalid value: "
            "\"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case "
            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
            "character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"},
           {"no name", "default", no_name, 422, "Invalid",
            "Deployment.apps \"\" is invalid: metadata.name: Required value: name or "
            "generateName is required"},
           {"wrong kind", "default", wrong_kind, 400, "BadRequest",
            "the kind in the data (StatefulSet) does not match the expected kind (Deployment)"},
           {"wrong version", "default", wrong_version, 400, "BadRequest",
            "the API version in the data (apps/v1beta1) does not match the expected API "
            "version (apps/v1)"},
           {"not an object", "default", json::array(), 400, "BadRequest",
            "the body of the request must be a JSON object"},
       }) {
    ApiResult<json> r = service_->Create(deploys(), c.ns, c.body);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.error().code, c.code) << c.what;
    EXPECT_EQ(r.error().reason, c.reason) << c.what;
    EXPECT_EQ(r.error().message, c.message) << c.what;
    json body = StatusBody(r.error());
    EXPECT_EQ(body["kind"], "Status") << c.what;
    EXPECT_EQ(body["status"], "Failure") << c.what;
    EXPECT_EQ(body["code"], c.code) << c.what;
  }
  ApiResult<json> bad = service_->Create(deploys(), "default", bad_name);
  json status = StatusBody(bad.error());
  EXPECT_EQ(status["details"]["name"], "Bad_Name");
  EXPECT_EQ(status["details"]["kind"], "Deployment");
  EXPECT_EQ(status["details"]["causes"][0]["field"], "metadata.name");
  EXPECT_EQ(status["details"]["causes"][0]["reason"], "FieldValueInvalid");
}

TEST_F(ObjectServiceTest, GenerateNameAndNamespaceDefaults) {
  json body = Deploy("");
  body["metadata"].erase("name");
  body["metadata"]["generateName"] = "web-";
  ApiResult<json> a = service_->Create(deploys(), "default", body);
  ApiResult<json> b = service_->Create(deploys(), "default", body);
  ASSERT_TRUE(a.ok() && b.ok());
  std::string na = (*a)["metadata"]["name"], nb = (*b)["metadata"]["name"];
  EXPECT_EQ(na.rfind("web-", 0), 0u);
  EXPECT_EQ(na.size(), 9u);
  EXPECT_NE(na, nb);
  ApiResult<json> ns = service_->Get(nss(), "", "default");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ((*ns)["status"]["phase"], "Active");
  EXPECT_EQ((*ns)["metadata"]["labels"]["kubernetes.io/metadata.name"], "default");
  ApiResult<json> bad_ns = service_->Create(nss(), "", {{"metadata", {{"name", "a.b"}}}});
  ASSERT_FALSE(bad_ns.ok());
  EXPECT_EQ(bad_ns.error().code, 422);  // namespaces are DNS labels
}

TEST_F(ObjectServiceTest, UpdateSemanticsGenerationStatusSplitAndCas) {
  json v1 = *service_->Create(deploys(), "default", Deploy("web", 1));
  const std::string rv1 = v1["metadata"]["resourceVersion"];

  struct Step {
    std::string what;
    std::string subresource;
    std::function<json(json)> edit;  // applied to the latest stored object
    bool keep_rv;                    // false: clear resourceVersion (unconditional)
    int code;                        // 200 = ok
    int64_t generation;
    json replicas;
    json status;
  };
  std::vector<Step> steps = {
      {"spec change bumps generation", "", [](json o) { o["spec"]["replicas"] = 3; return o; },
       true, 200, 2, 3, nullptr},
      {"label change keeps generation", "",
       [](json o) { o["metadata"]["labels"]["x"] = "y"; return o; }, true, 200, 2, 3, nullptr},
      {"status in main write is ignored", "",
       [](json o) { o["status"] = {{"ready", 1}}; return o; }, true, 200, 2, 3, nullptr},
      {"status write changes only status", "status",
       [](json o) { o["status"] = {{"ready", 2}}; o["spec"]["replicas"] = 9; return o; }, true,
       200, 2, 3, json{{"ready", 2}}},
      {"main write keeps stored status", "",
       [](json o) { o.erase("status"); o["spec"]["replicas"] = 4; return o; }, false, 200, 3, 4,
       json{{"ready", 2}}},
      {"server fields cannot be overwritten", "",
       [](json o) { o["metadata"]["uid"] = ""; o["metadata"]["generation"] = 99; return o; }, true,
       200, 3, 4, json{{"ready", 2}}},
  };
  for (const Step& s : steps) {
    json latest = *service_->Get(deploys(), "default", "web");
    json body = s.edit(latest);
    if (!s.keep_rv) body["metadata"].erase("resourceVersion");
    ApiResult<json> r = service_->Update(deploys(), "default", "web", body, s.subresource);
    ASSERT_TRUE(r.ok()) << s.what << ": " << r.error().message;
    EXPECT_EQ((*r)["metadata"]["generation"], s.generation) << s.what;
    EXPECT_EQ((*r)["spec"]["replicas"], s.replicas) << s.what;
    EXPECT_EQ(r->value("status", json()), s.status) << s.what;
    EXPECT_EQ((*r)["metadata"]["uid"], v1["metadata"]["uid"]) << s.what;
  }
  // A stale resourceVersion loses with the real message.
  json stale = Deploy("web", 7);
  stale["metadata"]["resourceVersion"] = rv1;
  ApiResult<json> conflict = service_->Update(deploys(), "default", "web", stale);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, 409);
  EXPECT_EQ(conflict.error().reason, "Conflict");
  EXPECT_EQ(conflict.error().message,
            "Operation cannot be fulfilled on deployments.apps \"web\": the object has been "
            "modified; please apply your changes to the latest version and try again");
  // No-op writes keep the resourceVersion.
  json latest = *service_->Get(deploys(), "default", "web");
  ApiResult<json> same = service_->Update(deploys(), "default", "web", latest);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ((*same)["metadata"]["resourceVersion"], latest["metadata"]["resourceVersion"]);

  struct Bad {
    std::string what;
    std::string name;
    json body;
    std::string subresource;
    int code;
  };
  json other_ns = Deploy("web");
  other_ns["metadata"]["namespace"] = "kube-system";
  for (const Bad& b : std::vector<Bad>{
           {"name mismatch", "web", Deploy("other"), "", 400},
           {"namespace mismatch", "web", other_ns, "", 400},
           {"absent", "nope", Deploy("nope"), "", 404},
           {"unknown subresource", "web", Deploy("web"), "scale", 404},
       }) {
    ApiResult<json> r = service_->Update(deploys(), "default", b.name, b.body, b.subresource);
    ASSERT_FALSE(r.ok()) << b.what;
    EXPECT_EQ(r.error().code, b.code) << b.what << ": " << r.error().message;
  }
  json cm = {{"metadata", {{"name", "c"}}}, {"data", {{"a", "1"}}}};
  ASSERT_TRUE(service_->Create(cms(), "default", cm).ok());
  ApiResult<json> no_status = service_->Update(cms(), "default", "c", cm, "status");
  EXPECT_EQ(no_status.error().code, 404);  // configmaps have no /status
}

// UpdateWithStatus (a controller's annotation and status together): what a main write then a
// /status write would leave, stored as one write (one revision); each part admitted as its own
// write would be; refused as Update refuses, nothing stored.
TEST_F(ObjectServiceTest, UpdateWithStatusIsAMainAndAStatusWriteInOneRevision) {
  std::vector<std::string> admitted;  // subresource of each validating call on an update
  service_->AddValidatingAdmission(
      [&](const AdmissionAttributes& a, const json& o, FieldErrors* errs) {
        if (a.operation != Operation::kUpdate) return Status::Ok();
        admitted.push_back(a.subresource.empty() ? "main" : a.subresource);
        if (a.subresource == "status" && o["status"].value("ready", 0) < 0) {
          errs->push_back({"status.ready", "Invalid value: must be greater than or equal to 0"});
        }
        return Status::Ok();
      });
  json v1 = *service_->Create(deploys(), "default", Deploy("web", 1));
  const int64_t rv1 = std::stoll(v1["metadata"]["resourceVersion"].get<std::string>());

  json body = v1;
  body["metadata"]["annotations"]["note"] = "placed";
  body["spec"]["replicas"] = 2;
  body["status"] = {{"ready", 1}};
  ApiResult<json> both = service_->UpdateWithStatus(deploys(), "default", "web", body);
  ASSERT_TRUE(both.ok()) << both.error().message;
  EXPECT_EQ(std::stoll((*both)["metadata"]["resourceVersion"].get<std::string>()), rv1 + 1);
  EXPECT_EQ((*both)["metadata"]["annotations"]["note"], "placed");
  EXPECT_EQ((*both)["spec"]["replicas"], 2);
  EXPECT_EQ((*both)["metadata"]["generation"], 2);  // the main part's spec change
  EXPECT_EQ((*both)["status"], json({{"ready", 1}}));
  EXPECT_EQ(admitted, (std::vector<std::string>{"main", "status"}));
  EXPECT_EQ(*service_->Get(deploys(), "default", "web"), *both);

  struct Bad {
    std::string what;
    const ResourceInfo* resource;
    std::string name;
    std::function<void(json*)> edit;  // of the stored object
    int code;
  };
  json cm = {{"metadata", {{"name", "c"}}}, {"data", {{"a", "1"}}}};
  ASSERT_TRUE(service_->Create(cms(), "default", cm).ok());
  for (const Bad& b : std::vector<Bad>{
           {"status refused by admission", &deploys(), "web",
            [](json* o) {
              (*o)["metadata"]["annotations"]["note"] = "x";
              (*o)["status"]["ready"] = -1;
            },
            422},
           {"stale resourceVersion", &deploys(), "web",
            [&](json* o) {
              (*o)["metadata"]["resourceVersion"] = std::to_string(rv1);
              (*o)["status"]["ready"] = 5;
            },
            409},
           {"absent", &deploys(), "nope", [](json* o) { (*o)["metadata"]["name"] = "nope"; }, 404},
           {"no status subresource", &cms(), "c",
            [](json* o) {
              (*o)["status"] = {{"x", 1}};
            },
            404},
       }) {
    json stored = *service_->Get(*b.resource, "default", b.resource == &cms() ? "c" : "web");
    json edited = stored;
    b.edit(&edited);
    ApiResult<json> r = service_->UpdateWithStatus(*b.resource, "default", b.name, edited);
    ASSERT_FALSE(r.ok()) << b.what;
    EXPECT_EQ(r.error().code, b.code) << b.what << ": " << r.error().message;
    EXPECT_EQ(*service_->Get(*b.resource, "default", b.resource == &cms() ? "c" : "web"), stored)
        << b.what << ": nothing stored changed";
  }
}

TEST_F(ObjectServiceTest, FinalizersDelayDeletionUntilEmptied) {
  json body = Deploy("web");
  body["metadata"]["finalizers"] = {"example.io/cleanup"};
  json v1 = *service_->Create(deploys(), "default", body);
  clock_.Advance(std::chrono::seconds(30));
  ApiResult<json> marked = service_->Delete(deploys(), "default", "web");
  ASSERT_TRUE(marked.ok());
  EXPECT_EQ((*marked)["metadata"]["deletionTimestamp"], "2023-11-14T22:13:50Z");
  EXPECT_EQ((*marked)["metadata"]["generation"], 2);
  ASSERT_TRUE(service_->Get(deploys(), "default", "web").ok());
  // Deleting again is a no-op; adding finalizers now is forbidden.
  ASSERT_TRUE(service_->Delete(deploys(), "default", "web").ok());
  json more = *marked;
  more["metadata"]["finalizers"].push_back("another");
  ApiResult<json> add = service_->Update(deploys(), "default", "web", more);
  ASSERT_FALSE(add.ok());
  EXPECT_EQ(add.error().code, 422);
  // Emptying the finalizers removes the object.
  ApiResult<json> patched = service_->Patch(deploys(), "default", "web", PatchType::kMergePatch,
                                            R"({"metadata":{"finalizers":null}})");
  ASSERT_TRUE(patched.ok()) << patched.error().message;
  EXPECT_EQ(service_->Get(deploys(), "default", "web").error().code, 404);
}

// The write that empties the finalizers of an object being deleted is its deletion: one
// compare-and-swap delete of the object it read, nothing else (kube-apiserver's
// deleteWithoutFinalizers). It used to store the emptied object and then delete it, so a
// delete that never followed (the writer killed in between, here a delete that fails before
// it reaches the store) left the object stored, being deleted and without a finalizer anyone
// would remove: stuck for good (e2e_ha_chaos_test saw a workload so). Now it is deleted whole
// or not at all, and a watcher sees one DELETED.
TEST_F(ObjectServiceTest, EmptyingTheFinalizersOfADeletingObjectDeletesItWholeOrNotAtAll) {
  test_env::InterruptingStore store(store_);
  ObjectService service(store, clock_, registry_);
  json marked = MarkedForDeletionWithAFinalizer(service);
  const ObjectKey key{deploys().StorageType(), "default", "web"};
  std::vector<std::string> events;
  std::mutex events_mu;
  auto watch = store_.WatchFrom(
      key.type, "default", {}, std::stoll(marked["metadata"]["resourceVersion"].get<std::string>()),
      [&](const WatchEvent& e) {
        std::lock_guard lock(events_mu);
        events.push_back(e.type == WatchEventType::kDeleted ? "DELETED" : "MODIFIED");
      });
  ASSERT_TRUE(watch.ok());
  const int updates = store.Writes("update", "deployments");  // the delete's marking

  store.FailDeletes("deployments", 1);
  ApiResult<json> cut = service.Patch(deploys(), "default", "web", PatchType::kMergePatch,
                                      R"({"metadata":{"finalizers":null}})");
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().code, 503) << cut.error().message;
  // Nothing happened: the finalizer is still there for its controller to remove again.
  StatusOr<json> stored = store_.Get(key);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->value("metadata", json::object()).value("finalizers", json()),
            json({"example.io/cleanup"}))
      << stored->dump();
  EXPECT_EQ(store.Writes("update", "deployments"), updates);

  ApiResult<json> done = service.Patch(deploys(), "default", "web", PatchType::kMergePatch,
                                       R"({"metadata":{"finalizers":null}})");
  ASSERT_TRUE(done.ok()) << done.error().message;
  // Answered with the object as the write left it, at the deletion's revision.
  EXPECT_FALSE((*done)["metadata"].contains("finalizers") &&
               !(*done)["metadata"]["finalizers"].empty());
  EXPECT_TRUE((*done)["metadata"].contains("deletionTimestamp"));
  EXPECT_GT(std::stoll((*done)["metadata"]["resourceVersion"].get<std::string>()),
            std::stoll(marked["metadata"]["resourceVersion"].get<std::string>()));
  EXPECT_EQ(store_.Get(key).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store.Writes("update", "deployments"), updates);
  EXPECT_EQ(store.Writes("delete", "deployments"), 1);
  dispatcher_->Drain();
  std::lock_guard lock(events_mu);
  EXPECT_EQ(events, std::vector<std::string>{"DELETED"});
}

// The same through a status write (any update path): emptied finalizers are not stored, and
// another writer landing right after an update cannot leave the object behind. With the two
// writes, its write made the delete's compare-and-swap fail, which was taken as "someone
// else is deleting it" and ignored: the object stayed, stuck.
TEST_F(ObjectServiceTest, AWriteLandingRightAfterTheFinalizersAreEmptiedLeavesNothingBehind) {
  test_env::InterruptingStore store(store_);
  ObjectService service(store, clock_, registry_);
  json marked = MarkedForDeletionWithAFinalizer(service);
  const ObjectKey key{deploys().StorageType(), "default", "web"};
  // "A controller" writes the object's status right after any update of it lands.
  store.AfterNextUpdate("deployments", [&](const json& stored) {
    json o = stored;
    o["status"]["observedGeneration"] = 7;
    EXPECT_TRUE(
        store_.Update(key, o, std::stoll(o["metadata"]["resourceVersion"].get<std::string>()))
            .ok());
  });
  json emptied = marked;
  emptied["metadata"].erase("finalizers");
  ApiResult<json> done = service.Update(deploys(), "default", "web", emptied);
  ASSERT_TRUE(done.ok()) << done.error().message;
  StatusOr<json> left = store_.Get(key);
  EXPECT_EQ(left.status().code(), StatusCode::kNotFound) << (left.ok() ? left->dump() : "");

  // A status write that finds an object already stranded so (written by an older version)
  // finishes its deletion instead of writing it again.
  store.AfterNextUpdate("deployments", nullptr);
  json stranded = MarkedForDeletionWithAFinalizer(service);
  stranded["metadata"].erase("finalizers");
  ASSERT_TRUE(store_
                  .Update(key, stranded,
                          std::stoll(stranded["metadata"]["resourceVersion"].get<std::string>()))
                  .ok());
  json status = *store_.Get(key);
  status["status"]["observedGeneration"] = 3;
  ASSERT_TRUE(service.Update(deploys(), "default", "web", status, "status").ok());
  EXPECT_EQ(store_.Get(key).status().code(), StatusCode::kNotFound);
}

// An unconditional delete or patch of an object that controllers keep writing (a workload's
// status, several times a second) retries on the newer object, as kube-apiserver does: it
// does not fail with 409 because it lost a few races in a row (here 20: it once gave up after
// 8). With a precondition, a changed object is still a 409 at once (DeletePreconditions).
TEST_F(ObjectServiceTest, UnconditionalWritesRetryThroughAStormOfOtherWriters) {
  json body = Deploy("web");
  body["metadata"]["finalizers"] = {"example.io/cleanup"};
  ASSERT_TRUE(service_->Create(deploys(), "default", body).ok());
  // Between each read and write of the service, "a controller" writes the object first.
  int races_to_lose = 0;
  service_->AddValidatingAdmission([&](const AdmissionAttributes& a, const json&, FieldErrors*) {
    if (races_to_lose > 0) {
      --races_to_lose;
      const ObjectKey key{deploys().StorageType(), "default", a.name};
      json o = store_.Get(key).value();
      o["status"]["observedGeneration"] = races_to_lose;
      EXPECT_TRUE(store_.Update(key, o, std::stoll(o["metadata"]["resourceVersion"].get<std::string>())).ok());
    }
    return Status::Ok();
  });
  races_to_lose = 20;
  ApiResult<json> patched = service_->Patch(deploys(), "default", "web", PatchType::kMergePatch,
                                            R"({"spec":{"replicas":3}})");
  ASSERT_TRUE(patched.ok()) << patched.error().message;
  EXPECT_EQ(races_to_lose, 0);
  EXPECT_EQ((*patched)["spec"]["replicas"], 3);
  races_to_lose = 20;
  ApiResult<json> marked = service_->Delete(deploys(), "default", "web");
  ASSERT_TRUE(marked.ok()) << marked.error().message;
  EXPECT_EQ(races_to_lose, 0);
  EXPECT_TRUE((*marked)["metadata"].contains("deletionTimestamp"));
}

TEST_F(ObjectServiceTest, DeletePreconditions) {
  json v1 = *service_->Create(deploys(), "default", Deploy("web"));
  struct Case {
    DeleteOptions opts;
    int code;
  };
  for (const Case& c : std::vector<Case>{
           {{.precondition_uid = "nope"}, 409},
           {{.precondition_resource_version = "1"}, 409},
           {{.precondition_uid = v1["metadata"]["uid"],
             .precondition_resource_version = v1["metadata"]["resourceVersion"]},
            200},
           {{}, 404},
       }) {
    ApiResult<json> r = service_->Delete(deploys(), "default", "web", c.opts);
    EXPECT_EQ(r.ok() ? 200 : r.error().code, c.code);
  }
}

TEST_F(ObjectServiceTest, PatchTypes) {
  json base = Deploy("web", 2);
  base["spec"]["template"]["spec"]["containers"] = {
      {{"name", "app"}, {"image", "nginx:1"}, {"ports", {{{"containerPort", 80}}}}},
      {{"name", "sidecar"}, {"image", "envoy:1"}}};
  ASSERT_TRUE(service_->Create(deploys(), "default", base).ok());
  struct Case {
    std::string what;
    PatchType type;
    std::string patch;
    int code;
    std::function<void(const json&)> check;
  };
  std::vector<Case> cases = {
      {"merge", PatchType::kMergePatch, R"({"spec":{"replicas":5}})", 200,
       [](const json& o) { EXPECT_EQ(o["spec"]["replicas"], 5); }},
      {"json patch", PatchType::kJsonPatch,
       R"([{"op":"replace","path":"/spec/replicas","value":6}])", 200,
       [](const json& o) { EXPECT_EQ(o["spec"]["replicas"], 6); }},
      {"json patch test fails", PatchType::kJsonPatch,
       R"([{"op":"test","path":"/spec/replicas","value":1}])", 422, nullptr},
      {"json patch missing path", PatchType::kJsonPatch,
       R"([{"op":"replace","path":"/spec/nope/x","value":1}])", 422, nullptr},
      {"strategic merges containers by name", PatchType::kStrategicMergePatch,
       R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"app"},{"name":"sidecar"}],"containers":[{"name":"sidecar","image":"envoy:2"}]}}}})",
       200,
       [](const json& o) {
         const json& cs = o["spec"]["template"]["spec"]["containers"];
         ASSERT_EQ(cs.size(), 2u);
         EXPECT_EQ(cs[0]["image"], "nginx:1");
         EXPECT_EQ(cs[1]["image"], "envoy:2");
       }},
      {"strategic delete directive", PatchType::kStrategicMergePatch,
       R"({"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}})",
       200,
       [](const json& o) {
         EXPECT_EQ(o["spec"]["template"]["spec"]["containers"].size(), 1u);
       }},
      {"merge replaces lists", PatchType::kMergePatch,
       R"({"spec":{"template":{"spec":{"containers":[{"name":"only","image":"x"}]}}}})", 200,
       [](const json& o) {
         EXPECT_EQ(o["spec"]["template"]["spec"]["containers"][0]["name"], "only");
       }},
      {"pinned stale resourceVersion", PatchType::kMergePatch,
       R"({"metadata":{"resourceVersion":"1"},"spec":{"replicas":1}})", 409, nullptr},
      {"invalid json", PatchType::kMergePatch, "{", 400, nullptr},
      {"server-side apply", PatchType::kApplyPatch, "{}", 415, nullptr},
  };
  for (const Case& c : cases) {
    ApiResult<json> r = service_->Patch(deploys(), "default", "web", c.type, c.patch);
    ASSERT_EQ(r.ok() ? 200 : r.error().code, c.code) << c.what << (r.ok() ? "" : ": " + r.error().message);
    if (r.ok() && c.check) c.check(*r);
  }
  EXPECT_EQ(service_->Patch(deploys(), "default", "nope", PatchType::kMergePatch, "{}").error().code,
            404);
  // Patching status through /status only changes status.
  ApiResult<json> st = service_->Patch(deploys(), "default", "web", PatchType::kMergePatch,
                                       R"({"status":{"ready":1},"spec":{"replicas":42}})", "status");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)["status"]["ready"], 1);
  EXPECT_NE((*st)["spec"]["replicas"], 42);
}

TEST_F(ObjectServiceTest, AdmissionMutatesThenValidates) {
  std::vector<std::string> calls;
  service_->AddMutatingAdmission([&](const AdmissionAttributes& a, json* o) {
    calls.push_back(std::string("mutate ") + OperationName(a.operation));
    if (!o->contains("spec") || !(*o)["spec"].contains("paused")) (*o)["spec"]["paused"] = false;
    return Status::Ok();
  });
  service_->AddValidatingAdmission([&](const AdmissionAttributes& a, const json& o, FieldErrors* errs) {
    calls.push_back(std::string("validate ") + OperationName(a.operation));
    if (a.operation == Operation::kDelete && o["metadata"].value("labels", json::object()).contains("protected")) {
      return PermissionDeniedError("deployments.apps \"" + a.name + "\" is protected");
    }
    if (a.operation != Operation::kDelete && o["spec"].value("replicas", 0) < 0) {
      errs->push_back({"spec.replicas", "Invalid value: " + o["spec"]["replicas"].dump() +
                                            ": must be greater than or equal to 0"});
    }
    return Status::Ok();
  });
  ApiResult<json> ok = service_->Create(deploys(), "default", Deploy("web"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)["spec"]["paused"], false);
  ApiResult<json> bad = service_->Create(deploys(), "default", Deploy("neg", -1));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, 422);
  EXPECT_EQ(bad.error().message,
            "Deployment.apps \"neg\" is invalid: spec.replicas: Invalid value: -1: must be "
            "greater than or equal to 0");
  ASSERT_EQ(bad.error().causes.size(), 1u);
  EXPECT_EQ(bad.error().causes[0].field, "spec.replicas");
  json prot = Deploy("prot");
  prot["metadata"]["labels"]["protected"] = "yes";
  ASSERT_TRUE(service_->Create(deploys(), "default", prot).ok());
  ApiResult<json> del = service_->Delete(deploys(), "default", "prot");
  ASSERT_FALSE(del.ok());
  EXPECT_EQ(del.error().code, 403);
  EXPECT_EQ(del.error().reason, "Forbidden");
  EXPECT_EQ(calls.front(), "mutate CREATE");
  EXPECT_EQ(calls[1], "validate CREATE");
}

TEST_F(ObjectServiceTest, DeletingANamespaceDeletesItsObjects) {
  ASSERT_TRUE(service_->Create(nss(), "", {{"metadata", {{"name", "team"}}}}).ok());
  ASSERT_TRUE(service_->Create(deploys(), "team", Deploy("a")).ok());
  ASSERT_TRUE(service_->Create(cms(), "team", {{"metadata", {{"name", "c"}}}}).ok());
  ASSERT_TRUE(service_->Create(deploys(), "default", Deploy("keep")).ok());
  ASSERT_TRUE(service_->Delete(nss(), "", "team").ok());
  EXPECT_EQ(service_->Get(deploys(), "team", "a").error().code, 404);
  EXPECT_EQ(service_->Get(cms(), "team", "c").error().code, 404);
  EXPECT_TRUE(service_->Get(deploys(), "default", "keep").ok());
  EXPECT_EQ(service_->Create(deploys(), "team", Deploy("b")).error().message,
            "namespaces \"team\" not found");

  // An object with a finalizer keeps its namespace Terminating until it is gone.
  ASSERT_TRUE(service_->Create(nss(), "", {{"metadata", {{"name", "slow"}}}}).ok());
  json held = Deploy("held");
  held["metadata"]["finalizers"] = {"example.io/cleanup"};
  ASSERT_TRUE(service_->Create(deploys(), "slow", held).ok());
  ApiResult<json> terminating = service_->Delete(nss(), "", "slow");
  ASSERT_TRUE(terminating.ok());
  EXPECT_EQ((*terminating)["status"]["phase"], "Terminating");
  ApiResult<json> blocked = service_->Create(cms(), "slow", {{"metadata", {{"name", "c"}}}});
  EXPECT_EQ(blocked.error().code, 403);
  EXPECT_EQ(blocked.error().message,
            "configmaps \"c\" is forbidden: unable to create new content in namespace slow "
            "because it is being terminated");
  ASSERT_TRUE(service_->Get(deploys(), "slow", "held").ok());
  ASSERT_TRUE(service_->Patch(deploys(), "slow", "held", PatchType::kMergePatch,
                              R"({"metadata":{"finalizers":[]}})").ok());
  EXPECT_EQ(service_->Get(deploys(), "slow", "held").error().code, 404);
  EXPECT_EQ(service_->Get(nss(), "", "slow").error().code, 404);
}

// Namespace deletion is several writes (mark, delete the contents, remove the namespace);
// each test cuts it between two of them, or lets another writer in, and checks that no
// empty namespace is left Terminating for good and none goes while something is still in it.
class NamespaceDeletionTest : public ObjectServiceTest {
 protected:
  void SetUp() override {
    ObjectServiceTest::SetUp();
    service_ = std::make_unique<ObjectService>(store_wrapper_, clock_, registry_);
  }
  void TearDown() override { service_.reset(); }  // before store_wrapper_
  // Namespace `ns` holding Deployment `held`, which has a finalizer.
  void NamespaceWithAHeldObject(const std::string& ns, json ns_metadata = json::object()) {
    ns_metadata["name"] = ns;
    ASSERT_TRUE(service_->Create(nss(), "", {{"metadata", ns_metadata}}).ok());
    json held = Deploy("held");
    held["metadata"]["finalizers"] = {"example.io/cleanup"};
    ASSERT_TRUE(service_->Create(deploys(), ns, held).ok());
  }
  void ReleaseHeld(const std::string& ns) {
    ApiResult<json> released = service_->Patch(deploys(), ns, "held", PatchType::kMergePatch,
                                               R"({"metadata":{"finalizers":null}})");
    ASSERT_TRUE(released.ok()) << released.error().message;
  }
  bool Stored(const ResourceInfo& r, const std::string& ns, const std::string& name) {
    return store_.Get(ObjectKey{r.StorageType(), ns, name}).ok();
  }
  // Another writer's update of namespace `ns` (a label), straight to the store.
  void LabelNamespace(const std::string& ns) {
    const ObjectKey key{nss().StorageType(), "", ns};
    json o = store_.Get(key).value();
    o["metadata"]["labels"]["touched"] = "yes";
    EXPECT_TRUE(
        store_.Update(key, o, std::stoll(o["metadata"]["resourceVersion"].get<std::string>()))
            .ok());
  }

  test_env::InterruptingStore store_wrapper_{store_};
};

// The last object's removal removes its Terminating namespace even when another write of the
// namespace lands between reading and removing it: the lost compare-and-swap was ignored and
// the empty namespace stayed Terminating for good.
TEST_F(NamespaceDeletionTest, TheLastObjectsRemovalEndsItsNamespaceDespiteAnotherWriteOfIt) {
  NamespaceWithAHeldObject("slow");
  ASSERT_TRUE(service_->Delete(nss(), "", "slow").ok());
  ASSERT_TRUE(Stored(nss(), "", "slow"));
  store_wrapper_.BeforeNextWrite("delete", "namespaces", [&] { LabelNamespace("slow"); });
  ReleaseHeld("slow");
  EXPECT_FALSE(Stored(deploys(), "slow", "held"));
  EXPECT_FALSE(Stored(nss(), "", "slow")) << store_.Get({nss().StorageType(), "", "slow"})->dump();
}

// The process that was to remove the namespace after its last object was cut short (killed,
// the store call lost): the namespace stays Terminating, whole, and ResumeNamespaceDeletion
// (the API server's NamespaceTerminator) ends it. It also ends a deletion cut short right
// after the mark, contents and all, and leaves a namespace not being deleted alone.
TEST_F(NamespaceDeletionTest, ADeletionCutShortIsResumed) {
  NamespaceWithAHeldObject("slow");
  ASSERT_TRUE(service_->Delete(nss(), "", "slow").ok());
  store_wrapper_.FailDeletes("namespaces", 1);
  ReleaseHeld("slow");
  EXPECT_FALSE(Stored(deploys(), "slow", "held"));
  StatusOr<json> left = store_.Get({nss().StorageType(), "", "slow"});
  ASSERT_TRUE(left.ok());
  EXPECT_EQ((*left)["status"]["phase"], "Terminating");
  StatusOr<bool> resumed = service_->ResumeNamespaceDeletion("slow");
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  EXPECT_TRUE(*resumed);
  EXPECT_FALSE(Stored(nss(), "", "slow"));
  EXPECT_TRUE(*service_->ResumeNamespaceDeletion("slow")) << "gone is done";

  // Marked, then the process died before deleting anything in it.
  ASSERT_TRUE(service_->Create(nss(), "", {{"metadata", {{"name", "team"}}}}).ok());
  ASSERT_TRUE(service_->Create(cms(), "team", {{"metadata", {{"name", "c"}}}}).ok());
  const ObjectKey team{nss().StorageType(), "", "team"};
  json marked = store_.Get(team).value();
  marked["metadata"]["deletionTimestamp"] = "2026-12-07T10:00:00Z";
  marked["status"]["phase"] = "Terminating";
  ASSERT_TRUE(store_
                  .Update(team, marked,
                          std::stoll(marked["metadata"]["resourceVersion"].get<std::string>()))
                  .ok());
  EXPECT_TRUE(*service_->ResumeNamespaceDeletion("team"));
  EXPECT_FALSE(Stored(cms(), "team", "c"));
  EXPECT_FALSE(Stored(nss(), "", "team"));

  ASSERT_TRUE(service_->Create(cms(), "default", {{"metadata", {{"name", "keep"}}}}).ok());
  EXPECT_FALSE(*service_->ResumeNamespaceDeletion("default"));
  EXPECT_TRUE(Stored(cms(), "default", "keep"));
}

// The last finalizer of the last object goes while the namespace's DELETE runs, between its
// look at the contents and its mark: with the mark written last, it landed on an empty
// namespace that nothing would remove. The mark comes first now, and the contents after it.
TEST_F(NamespaceDeletionTest, AnObjectGoingDuringTheDeleteLeavesNoEmptyTerminatingNamespace) {
  NamespaceWithAHeldObject("slow");
  store_wrapper_.BeforeNextWrite("update", "namespaces", [&] { ReleaseHeld("slow"); });
  ASSERT_TRUE(service_->Delete(nss(), "", "slow").ok());
  EXPECT_FALSE(Stored(deploys(), "slow", "held"));
  EXPECT_FALSE(Stored(nss(), "", "slow")) << store_.Get({nss().StorageType(), "", "slow"})->dump();
}

// A create that passed its namespace check just before the namespace was marked lands after
// the deletion listed the contents: it deletes what it wrote and answers as if it had come
// after the mark, so nothing outlives the namespace (to turn up in the next one of that
// name), and nothing keeps it Terminating.
TEST_F(NamespaceDeletionTest, ACreateRacingTheDeletionDoesNotOutliveTheNamespace) {
  ASSERT_TRUE(service_->Create(nss(), "", {{"metadata", {{"name", "team"}}}}).ok());
  store_wrapper_.BeforeNextWrite("create", "configmaps",
                                 [&] { ASSERT_TRUE(service_->Delete(nss(), "", "team").ok()); });
  ApiResult<json> created = service_->Create(cms(), "team", {{"metadata", {{"name", "late"}}}});
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, 404);
  EXPECT_EQ(created.error().message, "namespaces \"team\" not found");
  EXPECT_FALSE(Stored(nss(), "", "team"));
  EXPECT_FALSE(Stored(cms(), "team", "late"));

  // The same while an object with a finalizer keeps the namespace Terminating.
  NamespaceWithAHeldObject("slow");
  store_wrapper_.BeforeNextWrite("create", "configmaps",
                                 [&] { ASSERT_TRUE(service_->Delete(nss(), "", "slow").ok()); });
  ApiResult<json> refused = service_->Create(cms(), "slow", {{"metadata", {{"name", "late"}}}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 403);
  EXPECT_EQ(refused.error().causes.at(0).reason, "NamespaceTerminating");
  EXPECT_FALSE(Stored(cms(), "slow", "late"));
  ASSERT_TRUE(Stored(nss(), "", "slow"));
  ReleaseHeld("slow");
  EXPECT_FALSE(Stored(nss(), "", "slow"));
}

// Emptying the metadata.finalizers of a Terminating namespace removes it only once nothing is
// left in it (it was removed at once, its objects left behind); else it is stored so and the
// last object's removal ends it.
TEST_F(NamespaceDeletionTest, EmptyingItsFinalizersWaitsForItsObjects) {
  NamespaceWithAHeldObject("slow", {{"finalizers", {"example.io/ns"}}});
  ASSERT_TRUE(service_->Delete(nss(), "", "slow").ok());
  ApiResult<json> emptied = service_->Patch(nss(), "", "slow", PatchType::kMergePatch,
                                            R"({"metadata":{"finalizers":null}})");
  ASSERT_TRUE(emptied.ok()) << emptied.error().message;
  EXPECT_TRUE(Stored(nss(), "", "slow"));
  EXPECT_TRUE(Stored(deploys(), "slow", "held"));
  ReleaseHeld("slow");
  EXPECT_FALSE(Stored(nss(), "", "slow"));

  // Nothing left in it: the emptying write is its removal.
  ASSERT_TRUE(
      service_
          ->Create(nss(), "", {{"metadata", {{"name", "bare"}, {"finalizers", {"example.io/ns"}}}}})
          .ok());
  ASSERT_TRUE(service_->Delete(nss(), "", "bare").ok());
  ASSERT_TRUE(Stored(nss(), "", "bare"));
  ASSERT_TRUE(
      service_
          ->Patch(nss(), "", "bare", PatchType::kMergePatch, R"({"metadata":{"finalizers":null}})")
          .ok());
  EXPECT_FALSE(Stored(nss(), "", "bare"));
}

// The namespace is marked before its contents are deleted, and the deletion judges it once
// at the end: not after each object (every namespaced type listed per object, 40,000 lists
// on etcd for 1,000 objects of 40 kinds).
TEST_F(NamespaceDeletionTest, DeletingANamespaceListsItsKindsAFewTimesNotPerObject) {
  test_env::CountingStore counting(store_);
  ObjectService service(counting, clock_, registry_);
  ASSERT_TRUE(service.Create(nss(), "", {{"metadata", {{"name", "big"}}}}).ok());
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(
        service.Create(cms(), "big", {{"metadata", {{"name", "c" + std::to_string(i)}}}}).ok());
  }
  const int before = counting.total("list");
  ASSERT_TRUE(service.Delete(nss(), "", "big").ok());
  EXPECT_FALSE(Stored(nss(), "", "big"));
  EXPECT_FALSE(Stored(cms(), "big", "c0"));
  // Two namespaced kinds, each listed to delete what is in it, then twice with limit 1 (is
  // anything left; may the namespace go).
  EXPECT_LE(counting.total("list") - before, 6);
}

// DeferNamespaceDeletion: the two-step deletion of kube-apiserver 1.20 (checked against
// it): the first DELETE only marks the namespace (200, Terminating, no grace period), a
// second one answers it unchanged, creates inside get the NamespaceLifecycle 403 while
// updates still work, and only the namespace controller's Purge + Finalize remove it.
TEST_F(ObjectServiceTest, DeferredNamespaceDeletionWaitsForTheNamespaceController) {
  service_->DeferNamespaceDeletion();
  ASSERT_TRUE(
      service_
          ->Create(nss(), "",
                   {{"metadata", {{"name", "team"}}}, {"spec", {{"finalizers", {"kubernetes"}}}}})
          .ok());
  ASSERT_TRUE(service_->Create(deploys(), "team", Deploy("a")).ok());
  ASSERT_TRUE(service_->Create(cms(), "team", {{"metadata", {{"name", "c"}}}}).ok());
  EXPECT_EQ(service_->FinalizeNamespace("team", "kubernetes").error().code, 409);  // not deleting

  ApiResult<json> marked = service_->Delete(nss(), "", "team");
  ASSERT_TRUE(marked.ok()) << marked.error().message;
  EXPECT_EQ((*marked)["status"]["phase"], "Terminating");
  EXPECT_TRUE((*marked)["metadata"].contains("deletionTimestamp"));
  EXPECT_FALSE((*marked)["metadata"].contains("deletionGracePeriodSeconds"));
  ApiResult<json> again = service_->Delete(nss(), "", "team");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)["metadata"]["resourceVersion"], (*marked)["metadata"]["resourceVersion"]);
  EXPECT_TRUE(service_->Get(deploys(), "team", "a").ok()) << "contents wait for the controller";

  ApiResult<json> refused = service_->Create(deploys(), "team", Deploy("b"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 403);
  EXPECT_EQ(refused.error().reason, "Forbidden");
  EXPECT_EQ(refused.error().message,
            "deployments.apps \"b\" is forbidden: unable to create new content in namespace "
            "team because it is being terminated");
  EXPECT_EQ(refused.error().group, "apps");
  EXPECT_EQ(refused.error().kind, "deployments");
  EXPECT_EQ(refused.error().name, "b");
  ASSERT_EQ(refused.error().causes.size(), 1u);
  EXPECT_EQ(refused.error().causes[0].reason, "NamespaceTerminating");
  EXPECT_EQ(refused.error().causes[0].field, "metadata.namespace");
  EXPECT_TRUE(
      service_->Patch(cms(), "team", "c", PatchType::kMergePatch, R"({"data":{"k":"v"}})").ok());

  // An object with a finalizer holds the purge; the namespace stays until it is finalized.
  ASSERT_TRUE(service_
                  ->Patch(cms(), "team", "c", PatchType::kMergePatch,
                          R"({"metadata":{"finalizers":["example.io/x"]}})")
                  .ok());
  EXPECT_FALSE(service_->PurgeNamespace("team"));
  EXPECT_EQ(service_->Get(deploys(), "team", "a").error().code, 404);
  ASSERT_TRUE(
      service_
          ->Patch(cms(), "team", "c", PatchType::kMergePatch, R"({"metadata":{"finalizers":null}})")
          .ok());
  EXPECT_TRUE(service_->PurgeNamespace("team"));
  EXPECT_TRUE(service_->Get(nss(), "", "team").ok()) << "the last object does not remove it";
  ApiResult<bool> gone = service_->FinalizeNamespace("team", "kubernetes");
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(*gone);
  EXPECT_EQ(service_->Get(nss(), "", "team").error().code, 404);
  EXPECT_EQ(service_->FinalizeNamespace("team", "kubernetes").error().code, 404);

  // Without spec.finalizers the second delete removes it.
  ASSERT_TRUE(service_->Create(nss(), "", {{"metadata", {{"name", "bare"}}}}).ok());
  ASSERT_TRUE(service_->Delete(nss(), "", "bare").ok());
  EXPECT_TRUE(service_->Get(nss(), "", "bare").ok());
  ASSERT_TRUE(service_->Delete(nss(), "", "bare").ok());
  EXPECT_EQ(service_->Get(nss(), "", "bare").error().code, 404);
}

TEST_F(ObjectServiceTest, ListWithLabelAndFieldSelectorsAndPages) {
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(service_->Create(deploys(), "default", Deploy(n)).ok());
  struct Case {
    ListRequest req;
    std::vector<std::string> names;
    int code;
  };
  for (const Case& c : std::vector<Case>{
           {{}, {"a", "b", "c"}, 200},
           {{.label_selector = "app=b"}, {"b"}, 200},
           {{.label_selector = "app in (a,c)"}, {"a", "c"}, 200},
           {{.field_selector = "metadata.name=c"}, {"c"}, 200},
           {{.field_selector = "metadata.name!=c"}, {"a", "b"}, 200},
           {{.field_selector = "metadata.namespace=default"}, {"a", "b", "c"}, 200},
           {{.limit = 2}, {"a", "b"}, 200},
           {{.label_selector = "app in (a"}, {}, 400},
           {{.field_selector = "nonsense"}, {}, 400},
           {{.continue_token = "garbage!"}, {}, 400},
       }) {
    ApiResult<json> r = service_->List(deploys(), "default", c.req);
    ASSERT_EQ(r.ok() ? 200 : r.error().code, c.code) << c.req.label_selector << c.req.field_selector;
    if (!r.ok()) continue;
    EXPECT_EQ((*r)["kind"], "DeploymentList");
    std::vector<std::string> names;
    for (const json& o : (*r)["items"]) names.push_back(o["metadata"]["name"]);
    EXPECT_EQ(names, c.names);
    if (c.req.limit == 2) {
      EXPECT_EQ((*r)["metadata"]["remainingItemCount"], 1);
      ListRequest next{.limit = 2, .continue_token = (*r)["metadata"]["continue"]};
      ApiResult<json> page2 = service_->List(deploys(), "default", next);
      ASSERT_TRUE(page2.ok());
      EXPECT_EQ((*page2)["items"].size(), 1u);
      EXPECT_FALSE((*page2)["metadata"].contains("continue"));
    }
  }
}

TEST_F(ObjectServiceTest, WatchSendsInitialObjectsThenChangesFilteredByField) {
  ASSERT_TRUE(service_->Create(deploys(), "default", Deploy("a")).ok());
  ASSERT_TRUE(service_->Create(deploys(), "default", Deploy("b")).ok());
  std::mutex mu;
  std::vector<std::string> seen;
  auto record = [&](const ObjectEvent& e) {
    std::lock_guard lock(mu);
    seen.push_back(e.type + " " + (*e.object)["metadata"]["name"].get<std::string>());
  };
  ApiResult<std::unique_ptr<Watch>> w =
      service_->StartWatch(deploys(), "default", {.field_selector = "metadata.name=a"}, record);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(service_->Patch(deploys(), "default", "b", PatchType::kMergePatch, R"({"spec":{"replicas":2}})").ok());
  ASSERT_TRUE(service_->Patch(deploys(), "default", "a", PatchType::kMergePatch, R"({"spec":{"replicas":2}})").ok());
  ASSERT_TRUE(service_->Delete(deploys(), "default", "a").ok());
  dispatcher_->Drain();
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(seen, (std::vector<std::string>{"ADDED a", "MODIFIED a", "DELETED a"}));
  }
  ApiResult<std::unique_ptr<Watch>> bad = service_->StartWatch(deploys(), "default", {.resource_version = "x"}, record);
  EXPECT_EQ(bad.error().code, 400);
}

TEST_F(ObjectServiceTest, ExpiredWatchIsGone) {
  MemoryStore small(MemoryStoreOptions{.history_limit = 2, .dispatcher = dispatcher_});
  ObjectService svc(small, clock_, registry_);
  ASSERT_TRUE(svc.Create(nss(), "", {{"metadata", {{"name", "default"}}}}).ok());
  for (const char* n : {"a", "b", "c", "d"}) ASSERT_TRUE(svc.Create(deploys(), "default", Deploy(n)).ok());
  ApiResult<std::unique_ptr<Watch>> w =
      svc.StartWatch(deploys(), "default", {.resource_version = "1"}, [](const ObjectEvent&) {});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, 410);
  EXPECT_EQ(w.error().reason, "Expired");
}

TEST_F(ObjectServiceTest, FallbackServesUnknownNamespacedResourcesGenerically) {
  ResourceRegistry reg;
  ASSERT_TRUE(reg.Add(NamespaceResourceInfo()).ok());
  EXPECT_FALSE(reg.Resolve("example.io", "v1", "widgets", true).has_value());
  reg.EnableFallback();
  std::optional<ResourceInfo> widgets = reg.Resolve("example.io", "v1", "widgets", true);
  ASSERT_TRUE(widgets.has_value());
  EXPECT_EQ(widgets->kind, "Widget");
  std::optional<ResourceInfo> across = reg.Resolve("example.io", "v1", "widgets", false);
  ASSERT_TRUE(across.has_value());
  EXPECT_TRUE(across->namespaced);  // listed across namespaces, not cluster-scoped
  ObjectService svc(store_, clock_, reg);
  ApiResult<json> w = svc.Create(*widgets, "default",
                                 {{"apiVersion", "example.io/v1"}, {"kind", "Widget"},
                                  {"metadata", {{"name", "w"}}}, {"spec", {{"x", 1}}}});
  ASSERT_TRUE(w.ok()) << w.error().message;
  ASSERT_TRUE(svc.Delete(nss(), "", "default").ok());
  EXPECT_EQ(svc.Get(*widgets, "default", "w").error().code, 404);
}

TEST(TableTest, RendersPrinterColumnsAndAges) {
  ResourceInfo r = Deployments();
  r.printer_columns.push_back({"Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status"});
  json o = Deploy("web", 3);
  o["metadata"]["creationTimestamp"] = "2023-11-14T22:00:00Z";
  o["status"]["conditions"] = {{{"type", "Other"}, {"status", "False"}}, {{"type", "Ready"}, {"status", "True"}}};
  json t = RenderTable(r, {o}, {{"resourceVersion", "5"}},
                       Timestamp(std::chrono::seconds(1'700'000'000)));
  EXPECT_EQ(t["kind"], "Table");
  EXPECT_EQ(t["columnDefinitions"].size(), 4u);
  EXPECT_EQ(t["rows"][0]["cells"], json::parse(R"(["web", 3, "13m", "True"])"));
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(t["metadata"]["resourceVersion"], "5");
  struct Case {
    int64_t seconds;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{{5, "5s"}, {119, "119s"}, {200, "3m20s"}, {600, "10m"},
                                         {3 * 3600 + 60, "3h1m"}, {30 * 3600, "30h"},
                                         {3 * 86400 + 7200, "3d2h"}, {40 * 86400, "40d"},
                                         {800 * 86400, "2y70d"}}) {
    EXPECT_EQ(HumanDuration(std::chrono::seconds(c.seconds)), c.want) << c.seconds;
  }
}

TEST(TableTest, RowPrinterFillsTheCellsAfterName) {
  ResourceInfo r = Deployments();
  r.printer_columns = {{"Ready", "string", ""}, {"Age", "date", ""}, {"Extra", "string", ""}};
  // A printer returning one cell too few (the last renders null) and computing "ready/desired".
  r.row_cells = [](const json& o, Timestamp now) {
    Timestamp created;
    EXPECT_TRUE(ParseRfc3339(o["metadata"]["creationTimestamp"].get<std::string>(), &created));
    return json::array({std::to_string(o["status"].value("readyReplicas", 0)) + "/" +
                            std::to_string(o["spec"].value("replicas", 0)),
                        HumanDuration(std::chrono::duration_cast<Duration>(now - created))});
  };
  json o = Deploy("web", 3);
  o["metadata"]["creationTimestamp"] = "2023-11-14T22:00:00Z";
  o["status"]["readyReplicas"] = 2;
  json t = RenderTable(r, {o}, json::object(), Timestamp(std::chrono::seconds(1'700'000'000)));
  EXPECT_EQ(t["columnDefinitions"].size(), 4u);
  EXPECT_EQ(t["rows"][0]["cells"], json::parse(R"(["web", "2/3", "13m", null])"));
}

// WatchForChanges: every event of a watched kind (matching the selector) calls back; an
// unknown kind is an error naming it, and nothing stays watched.
TEST_F(ObjectServiceTest, WatchForChangesCallsBackPerEventAndNamesAnUnknownKind) {
  std::atomic<int> changes{0};
  const std::string from = std::to_string(store_.CurrentResourceVersion());
  auto watches = WatchForChanges(*service_,
                                 {{"apps", "v1", "deployments", ""}, {"", "v1", "configmaps", "team=a"}},
                                 from, [&] { ++changes; }, "test controller");
  ASSERT_TRUE(watches.ok()) << watches.status().message();
  EXPECT_EQ(watches->size(), 2u);
  ASSERT_TRUE(service_->Create(deploys(), "default", {{"metadata", {{"name", "web"}}}}).ok());
  ASSERT_TRUE(service_->Create(cms(), "default",
                               {{"metadata", {{"name", "a"}, {"labels", {{"team", "a"}}}}}}).ok());
  ASSERT_TRUE(service_->Create(cms(), "default",
                               {{"metadata", {{"name", "b"}, {"labels", {{"team", "b"}}}}}}).ok());
  dispatcher_->Drain();
  EXPECT_EQ(changes.load(), 2) << "the deployment and the team=a configmap, not team=b";

  auto bad = WatchForChanges(*service_, {{"apps", "v1", "deployments", ""}, {"", "v1", "gizmos", ""}},
                             from, [] {}, "test controller");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
  EXPECT_EQ(bad.status().message(), "test controller: resource gizmos is not registered");
}

}  // namespace
}  // namespace meridian::apimachinery
