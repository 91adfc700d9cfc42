// The residency audit's per-member copy and its packed form: StringPool counts uses and
// forgets a string with its last one, ObjectPacker gives back exactly what it packed, and
// MemberAuditCache (against a FakeMemberClient) holds each object once, whichever watches
// see it, and reports what changed.
#include "residency/internal/member_audit_cache.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "residency/internal/packed_object.h"
#include "residency/internal/string_pool.h"
#include "sync/testing/fake_member_client.h"

namespace meridian::residency::internal {
namespace {

using nlohmann::json;

const sync::GroupVersionResource kPvcs{"", "v1", "persistentvolumeclaims"};
const sync::GroupVersionResource kDeployments{"apps", "v1", "deployments"};
const sync::GroupVersionResource kDeploymentsBeta{"apps", "v1beta1", "deployments"};

TEST(StringPoolTest, SharesAStringUntilItsLastUseIsReleased) {
  StringPool pool;
  const StringPool::Id a = pool.Acquire("payments");
  const StringPool::Id b = pool.Acquire(std::string("pay") + "ments");
  const StringPool::Id c = pool.Acquire("orders");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(pool.Get(a), "payments");
  EXPECT_EQ(pool.Find("payments"), a);
  EXPECT_EQ(pool.Find("nope"), std::nullopt);

  pool.Release(a);
  EXPECT_EQ(pool.Find("payments"), a);  // one use left
  pool.Release(b);
  EXPECT_EQ(pool.Find("payments"), std::nullopt);
  EXPECT_EQ(pool.size(), 1u);

  // The freed id is reused, and the strings held are untouched by it.
  const StringPool::Id d = pool.Acquire("a string longer than the small-string buffer");
  EXPECT_EQ(d, a);
  EXPECT_EQ(pool.Get(d), "a string longer than the small-string buffer");
  EXPECT_EQ(pool.Get(c), "orders");
  EXPECT_EQ(pool.Find("a string longer than the small-string buffer"), d);
}

TEST(StringPoolTest, EmptyStringIsAStringLikeAnyOther) {
  StringPool pool;
  const StringPool::Id e = pool.Acquire("");
  EXPECT_EQ(pool.Find(""), e);
  EXPECT_EQ(pool.Get(e), "");
  pool.Release(e);
  EXPECT_EQ(pool.Find(""), std::nullopt);
}

TEST(StringPoolDeathTest, ReleasingAnIdNotHeldAborts) {
  StringPool pool;
  const StringPool::Id a = pool.Acquire("x");
  pool.Release(a);
  EXPECT_DEATH(pool.Release(a), "");
  EXPECT_DEATH(pool.Release(42), "");
}

MemberObject Object(const sync::GroupVersionResource& gvr, const std::string& kind,
                    const std::string& ns, const std::string& name) {
  MemberObject o;
  o.resource = gvr;
  o.kind = kind;
  o.ns = ns;
  o.name = name;
  return o;
}

TEST(ObjectPackerTest, UnpacksExactlyWhatItPacked) {
  std::vector<MemberObject> cases;
  cases.push_back(Object(kPvcs, "PersistentVolumeClaim", "payments", "data-1"));
  {
    MemberObject o = Object(kDeployments, "Deployment", "payments", "web");
    o.labels = {{"app", "web-1"}, {"federation.meridian.io/managed-by", "meridian"}};
    o.owned = true;
    o.replicas = 0;  // present and zero, not absent
    o.uid = "0f8fad5b-d9cb-469f-a165-70867728950e";
    o.resource_version = "123456";
    cases.push_back(o);
  }
  {
    MemberObject o = Object(kDeployments, "Deployment", "orders", "api");
    o.replicas = 3;
    o.suspended = true;
    o.uid = "0F8FAD5B-D9CB-469F-A165-70867728950E";  // not canonical: kept as text
    o.resource_version = "not-a-number";
    cases.push_back(o);
  }
  {
    MemberObject o = Object(kPvcs, "", "", "cluster-scoped");  // no kind, no namespace
    o.uid = "uid-7";
    cases.push_back(o);
  }
  {
    MemberObject o = Object(kDeploymentsBeta, "Deployment", "payments", "old");
    o.uid = "0f8fad5b-d9cb-469f-a165-70867728950";  // one short: text
    cases.push_back(o);
  }
  ObjectPacker packer;
  std::vector<std::pair<PackedKey, PackedObject>> packed;
  for (const MemberObject& o : cases) packed.emplace_back(packer.AcquireKey(o), packer.Pack(o));
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    EXPECT_EQ(packer.Unpack(packed[i].first, packed[i].second), cases[i]);
    const std::string text = AuditObjectKey(cases[i].resource, cases[i].ns, cases[i].name);
    EXPECT_EQ(packer.KeyText(packed[i].first), text);
    EXPECT_EQ(packer.FindKey(text), packed[i].first);
    EXPECT_EQ(packer.FindKey(cases[i]), packed[i].first);
  }
  // Each once: the namespaces and kinds (payments, orders, PersistentVolumeClaim, Deployment
  // and "" for both), 2 label keys, 3 uids not in the canonical form.
  EXPECT_EQ(packer.strings(), 10u);
  for (const auto& [key, object] : packed) {
    packer.Release(object);
    packer.ReleaseKey(key);
  }
  EXPECT_EQ(packer.strings(), 0u);
  EXPECT_EQ(packer.FindKey("/persistentvolumeclaims/payments/data-1"), std::nullopt);
}

TEST(ObjectPackerTest, OneKeyForEveryVersionOfAResource) {
  ObjectPacker packer;
  const PackedKey v1 = packer.AcquireKey(Object(kDeployments, "Deployment", "payments", "web"));
  const PackedKey beta =
      packer.AcquireKey(Object(kDeploymentsBeta, "Deployment", "payments", "web"));
  EXPECT_EQ(v1, beta);  // as AuditObjectKey: group/resource/namespace/name
  const PackedObject p = packer.Pack(Object(kDeploymentsBeta, "Deployment", "payments", "web"));
  EXPECT_EQ(packer.Unpack(v1, p).resource, kDeploymentsBeta);  // the version it was listed as
}

TEST(ObjectPackerTest, MalformedOrUnknownKeysFindNothing) {
  ObjectPacker packer;
  const PackedKey k = packer.AcquireKey(Object(kPvcs, "PersistentVolumeClaim", "payments", "a"));
  for (const char* text :
       {"", "/persistentvolumeclaims", "/persistentvolumeclaims/payments",
        "apps/persistentvolumeclaims/payments/a", "/persistentvolumeclaims/orders/a"}) {
    EXPECT_EQ(packer.FindKey(std::string_view(text)), std::nullopt) << text;
  }
  EXPECT_EQ(packer.FindKey("/persistentvolumeclaims/payments/a"), k);
}

json Pvc(const std::string& ns, const std::string& name, const std::string& app) {
  return {{"apiVersion", "v1"},
          {"kind", "PersistentVolumeClaim"},
          {"metadata", {{"namespace", ns}, {"name", name}, {"labels", {{"app", app}}}}},
          {"spec", {{"accessModes", {"ReadWriteOnce"}}}}};
}

json Managed(json object) {
  object["metadata"]["labels"]["federation.meridian.io/managed-by"] = "meridian";
  return object;
}

const AuditWatchSpec kPaymentsPvcs{kPvcs, "payments", ""};
const AuditWatchSpec kManagedPvcs{kPvcs, "", "federation.meridian.io/managed-by=meridian"};

class MemberAuditCacheTest : public ::testing::Test {
 protected:
  std::vector<std::string> Keys() {
    std::vector<std::string> keys;
    cache_.ForEach([&](const std::string& key, const MemberObject&) { keys.push_back(key); });
    return keys;
  }
  sync::testing::FakeMemberClient fake_;
  int notified_ = 0;
  MemberAuditCache cache_{[this] { ++notified_; }};
};

TEST_F(MemberAuditCacheTest, HoldsAnObjectTwoWatchesSeeOnce) {
  fake_.Apply(kPvcs, Managed(Pvc("payments", "shared", "a")));
  fake_.Apply(kPvcs, Pvc("payments", "own", "b"));
  fake_.Apply(kPvcs, Managed(Pvc("orders", "managed", "c")));
  ASSERT_TRUE(cache_.Watch(fake_, {kPaymentsPvcs, kManagedPvcs}, {}).ok());
  EXPECT_TRUE(cache_.Covers({kManagedPvcs, kPaymentsPvcs}));
  EXPECT_FALSE(cache_.Covers({kPaymentsPvcs}));
  EXPECT_EQ(cache_.size(), 3u);
  EXPECT_EQ(Keys(), (std::vector<std::string>{"/persistentvolumeclaims/orders/managed",
                                              "/persistentvolumeclaims/payments/own",
                                              "/persistentvolumeclaims/payments/shared"}));
  std::optional<MemberObject> shared = cache_.Find("/persistentvolumeclaims/payments/shared");
  ASSERT_TRUE(shared.has_value());
  EXPECT_EQ(shared->kind, "PersistentVolumeClaim");
  EXPECT_EQ(shared->labels.at("app"), "a");
  EXPECT_EQ(shared->uid, fake_.Object(kPvcs, "payments", "shared")->at("metadata").at("uid"));

  // The first call reports everything held; later ones only what changed.
  EXPECT_EQ(cache_.TakeChanged().size(), 3u);
  EXPECT_TRUE(cache_.TakeChanged().empty());

  // No longer watched in payments: what only that watch held goes, the managed one stays.
  ASSERT_TRUE(cache_.Watch(fake_, {kManagedPvcs}, {}).ok());
  EXPECT_EQ(Keys(), (std::vector<std::string>{"/persistentvolumeclaims/orders/managed",
                                              "/persistentvolumeclaims/payments/shared"}));
  std::vector<std::string> changed = cache_.TakeChanged();
  std::sort(changed.begin(), changed.end());
  EXPECT_EQ(changed, (std::vector<std::string>{"/persistentvolumeclaims/payments/own",
                                               "/persistentvolumeclaims/payments/shared"}));

  // Deleted in the member: gone from the copy, and its namespace's string with it.
  fake_.Remove(kPvcs, "payments", "shared");
  EXPECT_EQ(Keys(), (std::vector<std::string>{"/persistentvolumeclaims/orders/managed"}));
  EXPECT_EQ(cache_.TakeChanged(),
            (std::vector<std::string>{"/persistentvolumeclaims/payments/shared"}));
  EXPECT_EQ(cache_.Find("/persistentvolumeclaims/payments/shared"), std::nullopt);
}

TEST_F(MemberAuditCacheTest, FollowsChangesAndIgnoresOlderStates) {
  fake_.Apply(kPvcs, Pvc("payments", "data", "v1"));
  ASSERT_TRUE(cache_.Watch(fake_, {kPaymentsPvcs}, {}).ok());
  cache_.TakeChanged();
  const int before = notified_;
  fake_.Apply(kPvcs, Pvc("payments", "data", "v2"));
  EXPECT_GT(notified_, before);
  EXPECT_EQ(cache_.Find("/persistentvolumeclaims/payments/data")->labels.at("app"), "v2");
  EXPECT_EQ(cache_.TakeChanged(),
            (std::vector<std::string>{"/persistentvolumeclaims/payments/data"}));

  // Meridian's own write, newer than what the watch delivered, is taken at once ...
  json written = *fake_.Object(kPvcs, "payments", "data");
  written["metadata"]["labels"]["app"] = "v3";
  written["metadata"]["resourceVersion"] =
      std::to_string(std::stoll(written["metadata"]["resourceVersion"].get<std::string>()) + 100);
  cache_.Observe(kPvcs, written);
  EXPECT_EQ(cache_.Find("/persistentvolumeclaims/payments/data")->labels.at("app"), "v3");
  // ... and an older state delivered afterwards changes nothing.
  json older = *fake_.Object(kPvcs, "payments", "data");
  older["metadata"]["labels"]["app"] = "stale";
  cache_.Observe(kPvcs, older);
  EXPECT_EQ(cache_.Find("/persistentvolumeclaims/payments/data")->labels.at("app"), "v3");
  // Observe never adds an object the watches do not hold.
  cache_.Observe(kPvcs, Pvc("payments", "unknown", "x"));
  EXPECT_EQ(cache_.size(), 1u);
}

}  // namespace
}  // namespace meridian::residency::internal
