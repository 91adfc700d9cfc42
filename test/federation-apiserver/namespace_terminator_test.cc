// NamespaceTerminator: a pass finishes every namespace deletion that was cut short between its
// writes (the namespace's removal after its last object failed; a server killed right after
// marking it), leaves one still waiting for an object's finalizer Terminating, and never
// touches a namespace that is not being deleted.
#include "federation-apiserver/namespace_terminator.h"

#include <gtest/gtest.h>

#include "apimachinery/memory_store.h"
#include "common/clock.h"
#include "test/apimachinery/rest/test_server.h"
#include "test/common/interrupting_store.h"

namespace meridian::apiserver {
namespace {

using apimachinery::ObjectKey;
using apimachinery::ResourceInfo;
using nlohmann::json;

class NamespaceTerminatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.Add(apimachinery::NamespaceResourceInfo()).ok());
    ASSERT_TRUE(registry_.Add(apimachinery::rest::testing::ConfigMapsInfo()).ok());
    objects_ = std::make_unique<apimachinery::ObjectService>(store_, clock_, registry_);
    terminator_ = std::make_unique<NamespaceTerminator>(*objects_);
  }
  const ResourceInfo& nss() { return *registry_.Find("", "v1", "namespaces"); }
  const ResourceInfo& cms() { return *registry_.Find("", "v1", "configmaps"); }
  void Namespace(const std::string& name) {
    ASSERT_TRUE(objects_->Create(nss(), "", {{"metadata", {{"name", name}}}}).ok());
  }
  void ConfigMap(const std::string& ns, const std::string& name, json finalizers = nullptr) {
    json body = {{"metadata", {{"name", name}}}};
    if (!finalizers.is_null()) body["metadata"]["finalizers"] = finalizers;
    ASSERT_TRUE(objects_->Create(cms(), ns, body).ok());
  }
  bool Stored(const ResourceInfo& r, const std::string& ns, const std::string& name) {
    return memory_.Get(ObjectKey{r.StorageType(), ns, name}).ok();
  }

  apimachinery::MemoryStore memory_;
  test_env::InterruptingStore store_{memory_};
  FakeClock clock_;
  apimachinery::ResourceRegistry registry_;
  std::unique_ptr<apimachinery::ObjectService> objects_;
  std::unique_ptr<NamespaceTerminator> terminator_;
};

TEST_F(NamespaceTerminatorTest, APassFinishesEveryDeletionCutShort) {
  // "emptied": its last object went, the namespace's removal after it failed.
  Namespace("emptied");
  ConfigMap("emptied", "held", {"example.io/cleanup"});
  ASSERT_TRUE(objects_->Delete(nss(), "", "emptied").ok());
  store_.FailDeletes("namespaces", 1);
  ASSERT_TRUE(objects_
                  ->Patch(cms(), "emptied", "held", apimachinery::PatchType::kMergePatch,
                          R"({"metadata":{"finalizers":null}})")
                  .ok());
  ASSERT_FALSE(Stored(cms(), "emptied", "held"));
  ASSERT_TRUE(Stored(nss(), "", "emptied"));

  // "marked": the server was killed right after marking it, before deleting anything.
  Namespace("marked");
  ConfigMap("marked", "c");
  const ObjectKey marked_key{nss().StorageType(), "", "marked"};
  json marked = memory_.Get(marked_key).value();
  marked["metadata"]["deletionTimestamp"] = FormatRfc3339(clock_.Now());
  marked["status"]["phase"] = "Terminating";
  ASSERT_TRUE(memory_
                  .Update(marked_key, marked,
                          std::stoll(marked["metadata"]["resourceVersion"].get<std::string>()))
                  .ok());

  // "waiting": an object's finalizer still holds it, rightly.
  Namespace("waiting");
  ConfigMap("waiting", "held", {"example.io/cleanup"});
  ASSERT_TRUE(objects_->Delete(nss(), "", "waiting").ok());

  // "active": not being deleted.
  Namespace("active");
  ConfigMap("active", "c");

  StatusOr<int> removed = terminator_->Tick();
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_EQ(*removed, 2);
  EXPECT_FALSE(Stored(nss(), "", "emptied"));
  EXPECT_FALSE(Stored(nss(), "", "marked"));
  EXPECT_FALSE(Stored(cms(), "marked", "c"));
  EXPECT_TRUE(Stored(nss(), "", "waiting"));
  EXPECT_TRUE(Stored(cms(), "waiting", "held"));
  EXPECT_TRUE(Stored(nss(), "", "active"));
  EXPECT_TRUE(Stored(cms(), "active", "c"));

  EXPECT_EQ(terminator_->Tick().value(), 0);
}

}  // namespace
}  // namespace meridian::apiserver
