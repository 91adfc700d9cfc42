// Encryption at rest: the AES-GCM and identity providers, their chain (rotation), and the
// TransformingStore over SQLite (what the backend holds, watch redaction, rewrite on rotation),
// plus the Store conformance suite through the wrapper.
#include "apimachinery/transforming_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "apimachinery/sqlite_store.h"
#include "apimachinery/value_transformer.h"
#include "common/base64.h"
#include "test/apimachinery/store_conformance.h"

namespace meridian::apimachinery {
namespace {

using nlohmann::json;

const std::string kKey1(32, '\x01');
const std::string kKey2(32, '\x02');

std::shared_ptr<const ValueTransformer> Aes(const std::string& name, const std::string& key) {
  return NewAesGcmTransformer(name, key).value();
}
std::shared_ptr<const ValueTransformer> Identity() { return NewIdentityTransformer(); }

ProviderChain Chain(std::vector<std::shared_ptr<const ValueTransformer>> providers) {
  return ProviderChain::Create(std::move(providers)).value();
}

TEST(AesGcmTransformerTest, RoundTripsForEveryKeyLength) {
  for (size_t bytes : {16u, 24u, 32u}) {
    auto t = Aes("k", std::string(bytes, 'x'));
    StatusOr<std::string> sealed = t->ToStorage("top secret token", "ctx");
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    EXPECT_TRUE(sealed->starts_with("k8s:enc:aesgcm:v1:k:")) << *sealed;
    EXPECT_EQ(sealed->find("top secret"), std::string::npos);
    StatusOr<std::string> opened = t->FromStorage(*sealed, "ctx");
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, "top secret token");
  }
}

TEST(AesGcmTransformerTest, EveryWriteUsesAFreshNonce) {
  auto t = Aes("k", kKey1);
  EXPECT_NE(t->ToStorage("same", "ctx").value(), t->ToStorage("same", "ctx").value());
}

TEST(AesGcmTransformerTest, WrongKeyTamperingOrAnotherObjectDoNotDecrypt) {
  auto t = Aes("k", kKey1);
  const std::string sealed = t->ToStorage("token", "secrets/ns/a").value();
  // The same key name with other key bytes (a botched key file).
  EXPECT_EQ(Aes("k", kKey2)->FromStorage(sealed, "secrets/ns/a").status().code(),
            StatusCode::kDataLoss);
  // A value copied onto another object.
  EXPECT_EQ(t->FromStorage(sealed, "secrets/ns/b").status().code(), StatusCode::kDataLoss);
  // Every byte of nonce, ciphertext and tag is authenticated.
  std::string raw = *Base64Decode(sealed.substr(t->prefix().size()));
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string bad = raw;
    bad[i] ^= 0x40;
    Status st = t->FromStorage(t->prefix() + Base64StdEncode(bad), "secrets/ns/a").status();
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << "byte " << i;
  }
  EXPECT_EQ(t->FromStorage(t->prefix() + "not base64!", "secrets/ns/a").status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(t->FromStorage(t->prefix() + "AAAA", "secrets/ns/a").status().code(),
            StatusCode::kDataLoss);
}

TEST(AesGcmTransformerTest, BadKeysAreRefusedNamingTheField) {
  struct Case {
    std::string name, key, message;
  } cases[] = {
      {"k", std::string(20, 'x'), "secret: key is 20 bytes; AES-GCM needs 16, 24 or 32"},
      {"k", "", "secret: key is 0 bytes"},
      {"", kKey1, "name: must not be empty"},
      {"a:b", kKey1, "must not contain ':'"},
  };
  for (const Case& c : cases) {
    StatusOr<std::unique_ptr<ValueTransformer>> t = NewAesGcmTransformer(c.name, c.key);
    ASSERT_FALSE(t.ok()) << c.name;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(c.message), std::string::npos) << t.status();
  }
}

TEST(ProviderChainTest, FirstProviderWritesEveryProviderReadsAndOldKeysAreStale) {
  ProviderChain old_chain = Chain({Aes("key1", kKey1), Identity()});
  ProviderChain rotated = Chain({Aes("key2", kKey2), Aes("key1", kKey1), Identity()});
  const std::string by_key1 = old_chain.ToStorage("v1", "c").value();
  const std::string by_key2 = rotated.ToStorage("v2", "c").value();
  EXPECT_TRUE(by_key2.starts_with("k8s:enc:aesgcm:v1:key2:"));

  StatusOr<ReadValue> r1 = rotated.FromStorage(by_key1, "c");
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->plaintext, "v1");
  EXPECT_TRUE(r1->stale);
  EXPECT_TRUE(rotated.IsStale(by_key1));
  StatusOr<ReadValue> r2 = rotated.FromStorage(by_key2, "c");
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->stale);
  EXPECT_FALSE(rotated.IsStale(by_key2));

  // Identity reads what was stored before encryption was turned on (stale: rewrite it).
  StatusOr<ReadValue> plain = rotated.FromStorage("{\"plain\":1}", "c");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->plaintext, "{\"plain\":1}");
  EXPECT_TRUE(plain->stale);

  // Once key1 is dropped, its values are unreadable, and the error names the key.
  ProviderChain key2_only = Chain({Aes("key2", kKey2)});
  Status gone = key2_only.FromStorage(by_key1, "c").status();
  EXPECT_EQ(gone.code(), StatusCode::kDataLoss);
  EXPECT_NE(gone.message().find("k8s:enc:aesgcm:v1:key1:"), std::string::npos) << gone;
  // Without identity, plaintext is not silently accepted.
  EXPECT_EQ(key2_only.FromStorage("{}", "c").status().code(), StatusCode::kDataLoss);
  // Identity never takes an encrypted value for plaintext.
  EXPECT_EQ(Chain({Identity()}).FromStorage(by_key1, "c").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(ProviderChain::Create({}).status().code(), StatusCode::kInvalidArgument);
}

// ---- TransformingStore over SQLite ----

const ResourceType kSecrets{"", "secrets"};
const ResourceType kConfigMaps{"", "configmaps"};

std::filesystem::path TestDir() {
  return std::filesystem::temp_directory_path() /
         ("meridian-transforming-test-" + std::to_string(getpid()));
}
class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override { std::filesystem::remove_all(TestDir()); }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

std::string FreshPath() {
  static int counter = 0;
  std::filesystem::create_directories(TestDir());
  return (TestDir() / ("store-" + std::to_string(++counter) + ".db")).string();
}

std::unique_ptr<Store> OpenRaw(const std::string& path, int64_t history = 1000) {
  SqliteStoreOptions options;
  options.path = path;
  options.history_events = history;
  return OpenSqliteStore(options).value();
}

std::unique_ptr<Store> Wrap(std::unique_ptr<Store> raw, ProviderChain chain,
                            std::vector<ResourceType> types = {kSecrets}) {
  std::map<ResourceType, ProviderChain> chains;
  for (const ResourceType& t : types) chains.emplace(t, chain);
  return NewTransformingStore(std::move(raw), std::move(chains));
}

json SecretObject(const std::string& name, const std::string& token) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", name},
            {"namespace", "ns"},
            {"labels", {{"app", "web"}}},
            {"annotations", {{"note", "annotation-" + token}}}}},
          {"data", {{"token", Base64StdEncode(token)}}}};
}

// Collects watch events until told to stop waiting.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<WatchEvent> events;
  WatchCallback Callback() {
    return [this](const WatchEvent& e) {
      std::lock_guard lock(mu);
      events.push_back(e);
      cv.notify_all();
    };
  }
  std::vector<WatchEvent> WaitFor(size_t n) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return events.size() >= n; });
    return events;
  }
};

TEST(TransformingStoreTest, TheBackendHoldsOnlyCiphertextAndReadsArePlaintext) {
  auto raw = OpenRaw(FreshPath());
  Store* backend = raw.get();
  auto store = Wrap(std::move(raw), Chain({Aes("key1", kKey1)}), {kSecrets});

  json created = store->Create({kSecrets, "ns", "a"}, SecretObject("a", "s3cr3t")).value();
  EXPECT_EQ(created["data"]["token"], Base64StdEncode("s3cr3t"));
  const std::string rv = created["metadata"]["resourceVersion"];

  json stored = backend->Get({kSecrets, "ns", "a"}).value();
  const std::string text = stored.dump();
  EXPECT_EQ(text.find("s3cr3t"), std::string::npos) << text;
  EXPECT_EQ(text.find(Base64StdEncode("s3cr3t")), std::string::npos) << text;
  EXPECT_EQ(text.find("annotation-"), std::string::npos) << "annotations are encrypted too";
  EXPECT_TRUE(
      stored[kEncryptedEnvelopeField].get<std::string>().starts_with("k8s:enc:aesgcm:v1:key1:"));
  EXPECT_EQ(stored["metadata"]["labels"]["app"], "web") << "labels stay selectable";

  json got = store->Get({kSecrets, "ns", "a"}).value();
  EXPECT_EQ(got["data"]["token"], Base64StdEncode("s3cr3t"));
  EXPECT_EQ(got["metadata"]["annotations"]["note"], "annotation-s3cr3t");
  EXPECT_EQ(got["metadata"]["resourceVersion"], rv);

  ListOptions selected;
  selected.selector = ParseLabelSelector("app=web").value();
  ListResult listed = store->List(kSecrets, selected).value();
  ASSERT_EQ(listed.items.size(), 1u);
  EXPECT_EQ(listed.items[0]["data"]["token"], Base64StdEncode("s3cr3t"));

  // Other resources pass through untouched.
  json cm = {{"metadata", {{"name", "c"}}}, {"data", {{"k", "visible"}}}};
  ASSERT_TRUE(store->Create({kConfigMaps, "ns", "c"}, cm).ok());
  EXPECT_EQ(backend->Get({kConfigMaps, "ns", "c"}).value()["data"]["k"], "visible");

  // The reserved envelope field cannot be smuggled in.
  json forged = SecretObject("f", "x");
  forged[kEncryptedEnvelopeField] = "k8s:enc:aesgcm:v1:key1:AAAA";
  EXPECT_EQ(store->Create({kSecrets, "ns", "f"}, forged).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(TransformingStoreTest, RotationReadsOldKeysAndRewriteMovesToTheNewest) {
  const std::string path = FreshPath();
  {
    auto store = Wrap(OpenRaw(path), Chain({Identity()}));
    ASSERT_TRUE(store->Create({kSecrets, "ns", "plain"}, SecretObject("plain", "p")).ok());
  }
  {
    auto store = Wrap(OpenRaw(path), Chain({Aes("key1", kKey1), Identity()}));
    ASSERT_TRUE(store->Create({kSecrets, "ns", "one"}, SecretObject("one", "o")).ok());
  }
  auto raw = OpenRaw(path);
  Store* backend = raw.get();
  auto store = Wrap(std::move(raw), Chain({Aes("key2", kKey2), Aes("key1", kKey1), Identity()}));
  for (const char* name : {"plain", "one"}) {
    json got = store->Get({kSecrets, "ns", name}).value();
    EXPECT_TRUE(got.contains("data")) << name;
    EXPECT_TRUE(store->NeedsRewrite({kSecrets, "ns", name}, got)) << name;
    // What a GET+PUT does (ObjectService writes an unchanged object when it needs rewriting).
    ASSERT_TRUE(store->Update({kSecrets, "ns", name}, got, ResourceVersionOf(got).value()).ok());
    json again = store->Get({kSecrets, "ns", name}).value();
    EXPECT_FALSE(store->NeedsRewrite({kSecrets, "ns", name}, again)) << name;
    EXPECT_EQ(again["data"], got["data"]);
    EXPECT_TRUE(backend->Get({kSecrets, "ns", name})
                    .value()[kEncryptedEnvelopeField]
                    .get<std::string>()
                    .starts_with("k8s:enc:aesgcm:v1:key2:"));
  }
  // A stale read answers false once someone else rewrote the object (its revision moved).
  json current = store->Get({kSecrets, "ns", "one"}).value();
  json older = current;
  older["metadata"]["resourceVersion"] = "1";
  EXPECT_FALSE(store->NeedsRewrite({kSecrets, "ns", "one"}, older));
}

TEST(TransformingStoreTest, ADroppedKeyMakesReadsFailNamingTheObjectAndKey) {
  const std::string path = FreshPath();
  {
    auto store = Wrap(OpenRaw(path), Chain({Aes("key1", kKey1)}));
    ASSERT_TRUE(store->Create({kSecrets, "ns", "a"}, SecretObject("a", "t")).ok());
  }
  auto store = Wrap(OpenRaw(path), Chain({Aes("key2", kKey2)}));
  Status st = store->Get({kSecrets, "ns", "a"}).status();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("ns/a"), std::string::npos) << st;
  EXPECT_NE(st.message().find("key1"), std::string::npos) << st;
  EXPECT_EQ(store->List(kSecrets, {}).status().code(), StatusCode::kDataLoss);
  // A wrong key under the same name: the same refusal.
  auto wrong = Wrap(OpenRaw(path), Chain({Aes("key1", kKey2)}));
  EXPECT_EQ(wrong->Get({kSecrets, "ns", "a"}).status().code(), StatusCode::kDataLoss);
}

// A watch from an old revision replays history, but never a credential that was deleted or
// replaced since; live events carry data except DELETED ones.
TEST(TransformingStoreTest, WatchesNeverReplayDeletedOrReplacedCredentials) {
  for (bool encrypt : {true, false}) {
    SCOPED_TRACE(encrypt ? "aesgcm" : "identity");
    auto store =
        Wrap(OpenRaw(FreshPath()), encrypt ? Chain({Aes("key1", kKey1)}) : Chain({Identity()}));
    // Revision 0 means "from now": start after one unrelated write.
    ASSERT_TRUE(store->Create({kConfigMaps, "ns", "c"}, {{"metadata", {{"name", "c"}}}}).ok());
    const int64_t start = store->CurrentResourceVersion();
    json gone = SecretObject("gone", "deleted-token");
    gone["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        "{\"data\":{\"token\":\"" + Base64StdEncode("deleted-token") + "\"}}";
    json g = store->Create({kSecrets, "ns", "gone"}, gone).value();
    ASSERT_TRUE(store->Delete({kSecrets, "ns", "gone"}, 0).ok());
    json r =
        store->Create({kSecrets, "ns", "rotated"}, SecretObject("rotated", "old-token")).value();
    r["data"]["token"] = Base64StdEncode("new-token");
    ASSERT_TRUE(store->Update({kSecrets, "ns", "rotated"}, r, 0).ok());
    ASSERT_TRUE(store->Create({kSecrets, "ns", "kept"}, SecretObject("kept", "kept-token")).ok());

    Recorder rec;
    auto watch = store->WatchFrom(kSecrets, "", LabelSelector{}, start, rec.Callback()).value();
    std::vector<WatchEvent> events = rec.WaitFor(5);
    ASSERT_EQ(events.size(), 5u);
    std::string all;
    for (const WatchEvent& e : events) all += e.object->dump() + "\n";
    EXPECT_EQ(all.find(Base64StdEncode("deleted-token")), std::string::npos) << all;
    EXPECT_EQ(all.find(Base64StdEncode("old-token")), std::string::npos) << all;
    EXPECT_EQ(events[0].type, WatchEventType::kAdded);
    EXPECT_EQ((*events[0].object)["metadata"]["name"], "gone");
    EXPECT_EQ((*events[0].object)["metadata"]["labels"]["app"], "web");
    EXPECT_FALSE(events[0].object->contains("data"));
    EXPECT_EQ(events[3].type, WatchEventType::kModified);
    EXPECT_EQ((*events[3].object)["data"]["token"], Base64StdEncode("new-token"));
    EXPECT_EQ((*events[4].object)["data"]["token"], Base64StdEncode("kept-token"));

    // Live: a modification carries its data, a deletion does not.
    json k = store->Get({kSecrets, "ns", "kept"}).value();
    k["data"]["token"] = Base64StdEncode("kept-2");
    ASSERT_TRUE(store->Update({kSecrets, "ns", "kept"}, k, 0).ok());
    ASSERT_TRUE(store->Delete({kSecrets, "ns", "kept"}, 0).ok());
    events = rec.WaitFor(7);
    ASSERT_EQ(events.size(), 7u);
    EXPECT_EQ((*events[5].object)["data"]["token"], Base64StdEncode("kept-2"));
    EXPECT_EQ(events[6].type, WatchEventType::kDeleted);
    EXPECT_FALSE(events[6].object->contains("data"));
    EXPECT_EQ((*events[6].object)["metadata"]["name"], "kept");
    (void)g;
  }
}

// One event watched by many is decoded (decrypted, parsed, redacted) once: every watch gets
// the same object, so the REST layer can serialize it once too. A deletion's redacted
// object is shared the same way, and still carries no data.
TEST(TransformingStoreTest, OneEventIsDecodedOnceForAllItsWatches) {
  auto store = Wrap(OpenRaw(FreshPath()), Chain({Aes("key1", kKey1)}));
  ASSERT_TRUE(store->Create({kSecrets, "ns", "s"}, SecretObject("s", "t1")).ok());
  const int64_t start = store->CurrentResourceVersion();
  std::vector<std::unique_ptr<Recorder>> recs;
  std::vector<std::unique_ptr<Watch>> watches;
  for (int i = 0; i < 4; ++i) {
    recs.push_back(std::make_unique<Recorder>());
    watches.push_back(
        store->WatchFrom(kSecrets, "", LabelSelector{}, start, recs.back()->Callback()).value());
  }
  json s = store->Get({kSecrets, "ns", "s"}).value();
  s["data"]["token"] = Base64StdEncode("t2");
  ASSERT_TRUE(store->Update({kSecrets, "ns", "s"}, s, 0).ok());
  ASSERT_TRUE(store->Delete({kSecrets, "ns", "s"}, 0).ok());
  std::vector<std::vector<WatchEvent>> got;
  for (auto& r : recs) {
    got.push_back(r->WaitFor(2));
    ASSERT_EQ(got.back().size(), 2u);
  }
  for (size_t i = 1; i < got.size(); ++i) {
    EXPECT_EQ(got[i][0].object, got[0][0].object) << "watch " << i << " decoded its own copy";
    EXPECT_EQ(got[i][1].object, got[0][1].object);
  }
  EXPECT_EQ((*got[0][0].object)["data"]["token"], Base64StdEncode("t2"));
  EXPECT_EQ(got[0][1].type, WatchEventType::kDeleted);
  EXPECT_FALSE(got[0][1].object->contains("data"));
  for (auto& w : watches) w->Cancel();
}

std::unique_ptr<Store> MakeEncryptedSqlite(int64_t history) {
  return Wrap(OpenRaw(FreshPath(), history), Chain({Aes("key1", kKey1), Identity()}),
              {{"example.io", "widgets"}, {"example.io", "gadgets"}});
}

}  // namespace
namespace testing {
// Every Store guarantee holds through the wrapper with everything encrypted.
INSTANTIATE_TEST_SUITE_P(EncryptedSqlite, StoreConformanceTest,
                         ::testing::Values(StoreFactory{"encrypted_sqlite", MakeEncryptedSqlite}),
                         [](const auto& info) { return info.param.name; });
}  // namespace testing
}  // namespace meridian::apimachinery
