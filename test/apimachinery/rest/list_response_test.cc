// LIST responses through the watch cache (a Cacher over the memory store, single writer, as the
// federation-apiserver runs it): gzip above the threshold only when the request accepts it,
// never for watch streams; the LIST response cache (list_response_cache.h) answering exactly
// what an uncached handler answers through random writes and LISTs, a write invalidating it,
// authorization still run for every request, and its memory bound.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "apimachinery/cacher.h"
#include "apimachinery/memory_store.h"
#include "apimachinery/rest/content_encoding.h"
#include "apimachinery/rest/list_response_cache.h"
#include "apimachinery/rest/rest_handler.h"
#include "test/apimachinery/rest/test_server.h"

namespace meridian::apimachinery::rest::testing {
namespace {

using nlohmann::json;

// ObjectService over a watch cache, and two handlers on it: `cached` (the defaults but a low
// gzip threshold) and `plain` (no LIST response cache), which must answer alike.
struct Fixture {
  explicit Fixture(RestOptions options = Cached()) {
    CacherOptions c;
    c.single_writer = true;
    cacher = NewCacher(std::make_unique<MemoryStore>(), c);
    (void)registry.Add(NamespaceResourceInfo());
    (void)registry.Add(ConfigMapsInfo());
    (void)registry.Add(CoreInfo("Secret", "secrets", {}, false));
    service = std::make_unique<ObjectService>(*cacher, clock, registry);
    for (const char* ns : {"default", "other"}) {
      (void)service->Create(NamespaceResourceInfo(), "", {{"metadata", {{"name", ns}}}});
    }
    cached = std::make_unique<RestHandler>(*service, clock, options);
    RestOptions no_cache = options;
    no_cache.list_response_cache.max_bytes = 0;
    plain = std::make_unique<RestHandler>(*service, clock, no_cache);
  }
  static RestOptions Cached() {
    RestOptions o;
    o.gzip_min_bytes = 1024;
    return o;
  }
  RestResponse Put(const std::string& ns, const std::string& name, const std::string& app,
                   const std::string& data = "x") {
    json cm = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", {{"name", name}, {"labels", {{"app", app}}}}},
               {"data", {{"v", data}}}};
    RestRequest get = Req("GET", "/api/v1/namespaces/" + ns + "/configmaps/" + name);
    if (cached->Handle(get).code == 404) {
      RestRequest post = Req("POST", "/api/v1/namespaces/" + ns + "/configmaps");
      post.body = cm.dump();
      return cached->Handle(std::move(post));
    }
    RestRequest put = Req("PUT", "/api/v1/namespaces/" + ns + "/configmaps/" + name);
    put.body = cm.dump();
    return cached->Handle(std::move(put));
  }

  FakeClock clock;
  ResourceRegistry registry;
  std::unique_ptr<Cacher> cacher;
  std::unique_ptr<ObjectService> service;
  std::unique_ptr<RestHandler> cached;
  std::unique_ptr<RestHandler> plain;
};

const std::map<std::string, std::string> kGzip = {{"accept-encoding", "gzip"}};

TEST(ListResponseTest, GzipOnlyAboveTheThresholdAndWhenAccepted) {
  Fixture f;
  for (int i = 0; i < 40; ++i)
    ASSERT_EQ(f.Put("default", "cm-" + std::to_string(i), "web").code, 201);
  const std::string list = "/api/v1/namespaces/default/configmaps";
  RestResponse identity = f.cached->Handle(Req("GET", list));
  ASSERT_EQ(identity.code, 200);
  EXPECT_EQ(identity.headers.count("Content-Encoding"), 0u);
  ASSERT_GT(identity.Body().size(), 1024u);
  EXPECT_EQ(json::parse(identity.Body())["items"].size(), 40u);

  RestResponse gz = f.cached->Handle(Req("GET", list, nullptr, {}, kGzip));
  ASSERT_EQ(gz.code, 200);
  EXPECT_EQ(gz.headers["Content-Encoding"], "gzip");
  EXPECT_EQ(gz.headers["Vary"], "Accept-Encoding");
  EXPECT_LT(gz.Body().size(), identity.Body().size());
  EXPECT_EQ(Gunzip(gz.Body()).value(), identity.Body());
  // The uncached handler compresses its own body the same way.
  RestResponse gz_plain = f.plain->Handle(Req("GET", list, nullptr, {}, kGzip));
  EXPECT_EQ(gz_plain.headers["Content-Encoding"], "gzip");
  EXPECT_EQ(Gunzip(gz_plain.Body()).value(), identity.Body());

  RestResponse refused =
      f.cached->Handle(Req("GET", list, nullptr, {}, {{"accept-encoding", "gzip;q=0"}}));
  EXPECT_EQ(refused.headers.count("Content-Encoding"), 0u);
  EXPECT_EQ(refused.Body(), identity.Body());

  // Below the threshold (one object): as it is, even when gzip is accepted.
  RestResponse small = f.cached->Handle(Req("GET", list + "/cm-1", nullptr, {}, kGzip));
  ASSERT_EQ(small.code, 200);
  EXPECT_LT(small.Body().size(), 1024u);
  EXPECT_EQ(small.headers.count("Content-Encoding"), 0u);
  EXPECT_EQ(json::parse(small.Body())["metadata"]["name"], "cm-1");

  // A watch stream is never compressed (its events must reach the client as they happen).
  RestResponse watch = f.cached->Handle(Req("GET", list, nullptr, {{"watch", "true"}}, kGzip));
  ASSERT_TRUE(watch.start_stream);
  EXPECT_EQ(watch.headers.count("Content-Encoding"), 0u);

  // gzip_min_bytes 0: never.
  RestOptions off = Fixture::Cached();
  off.gzip_min_bytes = 0;
  RestHandler never(*f.service, f.clock, off);
  EXPECT_EQ(never.Handle(Req("GET", list, nullptr, {}, kGzip)).headers.count("Content-Encoding"),
            0u);
}

TEST(ListResponseTest, AWriteInvalidatesTheKeptBody) {
  Fixture f;
  for (int i = 0; i < 5; ++i) f.Put("default", "cm-" + std::to_string(i), "web");
  const RestRequest list =
      Req("GET", "/api/v1/namespaces/default/configmaps", nullptr, {{"labelSelector", "app=web"}});
  const std::string first = f.cached->Handle(list).Body();
  EXPECT_EQ(f.cached->list_response_cache().entries(), 1u);
  EXPECT_EQ(f.cached->Handle(list).Body(), first);

  ASSERT_EQ(f.Put("default", "cm-2", "web", "changed").code, 200);
  json after = json::parse(f.cached->Handle(list).Body());
  EXPECT_NE(after.dump(), json::parse(first).dump());
  EXPECT_EQ(after["items"][2]["data"]["v"], "changed");
  EXPECT_EQ(after["metadata"]["resourceVersion"],
            std::to_string(f.cacher->CurrentResourceVersion()));

  ASSERT_EQ(f.Put("default", "cm-3", "db").code, 200);  // leaves the selection
  EXPECT_EQ(json::parse(f.cached->Handle(list).Body())["items"].size(), 4u);
  RestRequest del = Req("DELETE", "/api/v1/namespaces/default/configmaps/cm-0");
  ASSERT_EQ(f.cached->Handle(del).code, 200);
  EXPECT_EQ(json::parse(f.cached->Handle(list).Body())["items"].size(), 3u);
  // A write to another resource moves the list's resourceVersion: a new body too.
  const std::string before_secret = f.cached->Handle(list).Body();
  RestRequest secret = Req("POST", "/api/v1/namespaces/default/secrets");
  secret.body = R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}})";
  ASSERT_EQ(f.cached->Handle(std::move(secret)).code, 201);
  const std::string after_secret = f.cached->Handle(list).Body();
  EXPECT_NE(after_secret, before_secret);
  EXPECT_EQ(json::parse(after_secret)["items"], json::parse(before_secret)["items"]);
}

TEST(ListResponseTest, AnswersExactlyAsWithoutTheCacheThroughRandomWritesAndLists) {
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  RestOptions small = Fixture::Cached();
  small.list_response_cache.max_bytes = 8 * 1024;  // evictions happen too
  Fixture f(small);
  const std::vector<std::string> selectors = {"", "app=a", "app in (a,b)", "app!=a", "app=zzz"};
  const std::vector<std::string> namespaces = {"default", "other"};
  std::string next_continue;
  for (int step = 0; step < 300; ++step) {
    const std::string ns = namespaces[static_cast<size_t>(pick(2))];
    switch (pick(4)) {
      case 0: {
        RestRequest del = Req(
            "DELETE", "/api/v1/namespaces/" + ns + "/configmaps/cm-" + std::to_string(pick(12)));
        (void)f.cached->Handle(std::move(del));
        break;
      }
      case 1:
        (void)f.Put(ns, "cm-" + std::to_string(pick(12)), std::string(1, 'a' + pick(3)),
                    std::to_string(step));
        break;
      default:
        break;  // more LISTs than writes, so that kept bodies are reused
    }
    std::map<std::string, std::string> query;
    if (const std::string& s = selectors[static_cast<size_t>(pick(5))]; !s.empty()) {
      query["labelSelector"] = s;
    }
    if (pick(3) == 0) query["limit"] = std::to_string(1 + pick(4));
    if (!next_continue.empty() && pick(2) == 0) {
      query = {{"continue", next_continue}};
      if (pick(2) == 0) query["limit"] = "2";
    }
    const std::string path =
        pick(4) == 0 ? "/api/v1/configmaps" : "/api/v1/namespaces/" + ns + "/configmaps";
    const std::map<std::string, std::string> headers =
        pick(2) == 0 ? kGzip : std::map<std::string, std::string>{};
    RestResponse a = f.cached->Handle(Req("GET", path, nullptr, query, headers));
    RestResponse b = f.plain->Handle(Req("GET", path, nullptr, query, headers));
    ASSERT_EQ(a.code, b.code) << "seed " << seed << " step " << step;
    ASSERT_EQ(a.headers, b.headers) << "seed " << seed << " step " << step;
    const bool gz = a.headers.count("Content-Encoding") > 0;
    ASSERT_EQ(gz ? Gunzip(a.Body()).value() : a.Body(), gz ? Gunzip(b.Body()).value() : b.Body())
        << "seed " << seed << " step " << step << " " << path;
    if (a.code == 200) {
      json body = json::parse(gz ? Gunzip(a.Body()).value() : a.Body());
      next_continue = body["metadata"].value("continue", "");
    }
  }
  EXPECT_LE(f.cached->list_response_cache().bytes(), 8u * 1024);
}

// A GET is answered with the bytes the watch cache keeps (no decode, no copy, no dump): the
// very bytes the cache holds, the same JSON the object's own encoding would be; as=Table still
// renders from the decoded object.
TEST(ListResponseTest, AGetSendsTheBytesTheCacheKeeps) {
  Fixture f;
  ASSERT_EQ(f.Put("default", "cm-1", "web").code, 201);
  const ResourceType configmaps{"", "configmaps"};
  const int64_t written = f.cacher->CurrentResourceVersion();
  for (int i = 0; i < 100000 && f.cacher->CachedRevision(configmaps) < written; ++i) {
    std::this_thread::yield();
  }
  const std::string path = "/api/v1/namespaces/default/configmaps/cm-1";
  RestResponse got = f.cached->Handle(Req("GET", path));
  ASSERT_EQ(got.code, 200);
  StatusOr<SharedObject> kept = f.cacher->GetShared({configmaps, "default", "cm-1"}, true);
  ASSERT_TRUE(kept.ok() && kept->encoded);
  ASSERT_TRUE(got.shared_body) << "the GET body was built, not the cache's bytes";
  EXPECT_EQ(got.shared_body.get(), kept->encoded.get());
  ApiResult<json> object = f.service->Get(ConfigMapsInfo(), "default", "cm-1");
  ASSERT_TRUE(object.ok());
  EXPECT_EQ(got.Body(), RestResponse::Json(200, *object).Body());

  RestResponse table = f.cached->Handle(
      Req("GET", path, nullptr, {}, {{"accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}}));
  ASSERT_EQ(table.code, 200);
  json rendered = json::parse(table.Body());
  EXPECT_EQ(rendered["kind"], "Table");
  EXPECT_EQ(rendered["rows"].size(), 1u);
}

TEST(ListResponseTest, AuthorizationRunsBeforeAKeptBodyIsUsed) {
  Fixture f;
  // Authentication from a test header, then authorization: eve may not list.
  f.cached->AddFilter([](RestRequest& r) {
    r.user.name = r.Header("x-user");
    return r.user.name == "eve" ? PermissionDeniedError("secrets is forbidden: User \"eve\"")
                                : Status::Ok();
  });
  for (int i = 0; i < 3; ++i) f.Put("default", "cm-" + std::to_string(i), "web");
  const std::string list = "/api/v1/namespaces/default/configmaps";
  RestResponse alice = f.cached->Handle(Req("GET", list, nullptr, {}, {{"x-user", "alice"}}));
  ASSERT_EQ(alice.code, 200);
  ASSERT_EQ(f.cached->list_response_cache().entries(), 1u);
  for (int i = 0; i < 3; ++i) {
    RestResponse eve = f.cached->Handle(Req("GET", list, nullptr, {}, {{"x-user", "eve"}}));
    EXPECT_EQ(eve.code, 403);
    EXPECT_EQ(eve.Body().find("cm-0"), std::string::npos);
  }
  EXPECT_EQ(f.cached->Handle(Req("GET", list, nullptr, {}, {{"x-user", "alice"}})).Body(),
            alice.Body());
}

// The cache alone: bounded by bytes, least recently used out first, nothing kept without
// shared encodings, an entry used only for the list it was built from.
// A kept body refers to the encodings it was built from without holding them: once the cache
// replaces an object, its old encoding is freed (a kept page would otherwise pin as many bytes
// again), and a new encoding, even one at the freed address, is not the kept list's.
TEST(ListResponseCacheTest, AKeptBodyDoesNotHoldItsItemsEncodings) {
  ListResponseCache cache;
  auto list_of = [](std::shared_ptr<const std::string> encoded) {
    SharedList l;
    l.items.push_back(SharedObject{nullptr, std::move(encoded)});
    l.metadata = {{"resourceVersion", "7"}};
    return l;
  };
  auto encoded = std::make_shared<const std::string>(std::string(10000, 'x'));
  std::weak_ptr<const std::string> watched = encoded;
  SharedList kept = list_of(encoded);
  cache.Put("k", kept, "body", false);
  ASSERT_TRUE(cache.Find("k", kept, false));
  kept.items.clear();
  encoded.reset();
  EXPECT_TRUE(watched.expired()) << "the kept body holds its items' encodings";
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(cache.Find(
        "k", list_of(std::make_shared<const std::string>(std::string(10000, 'x'))), false));
  }
}

TEST(ListResponseCacheTest, BoundedAndExact) {
  auto list_of = [](std::vector<std::shared_ptr<const std::string>> items, int rv) {
    SharedList l;
    for (auto& i : items) l.items.push_back(SharedObject{std::make_shared<json>(), i});
    l.metadata = {{"resourceVersion", std::to_string(rv)}};
    return l;
  };
  auto item = [](const std::string& s) { return std::make_shared<const std::string>(s); };
  ListResponseCache cache(ListResponseCacheOptions{.max_bytes = 3000, .max_entry_bytes = 1500});
  auto x = item("x"), y = item("y");
  const SharedList one = list_of({x, y}, 5);
  cache.Put("a", one, std::string(600, 'a'), false);
  ASSERT_TRUE(cache.Find("a", one, false).has_value());
  EXPECT_EQ(*cache.Find("a", one, false)->identity, std::string(600, 'a'));
  // Same content in new strings, another order, another revision: not this entry's list.
  EXPECT_FALSE(cache.Find("a", list_of({item("x"), y}, 5), false));
  EXPECT_FALSE(cache.Find("a", list_of({y, x}, 5), false));
  EXPECT_FALSE(cache.Find("a", list_of({x, y}, 6), false));
  EXPECT_FALSE(cache.Find("a", list_of({x}, 5), false));
  EXPECT_FALSE(cache.Find("b", one, false));
  // gzip asked later is made once and charged.
  const size_t before = cache.bytes();
  std::optional<ListBody> z = cache.Find("a", one, true);
  ASSERT_TRUE(z && z->gzip);
  EXPECT_EQ(Gunzip(*z->gzip).value(), std::string(600, 'a'));
  EXPECT_EQ(cache.bytes(), before + z->gzip->size());
  // Too large for one entry: answered, not kept.
  ListBody big = cache.Put("big", one, std::string(2000, 'b'), false);
  EXPECT_EQ(big.identity->size(), 2000u);
  EXPECT_FALSE(cache.Find("big", one, false));
  // Items without a shared encoding: not kept.
  SharedList unshared = one;
  unshared.items[0].encoded = nullptr;
  cache.Put("u", unshared, "u", false);
  EXPECT_FALSE(cache.Find("u", unshared, false));
  // Filling past max_bytes evicts the least recently used ("b" after "a" was used).
  cache.Put("b", one, std::string(1000, 'b'), false);
  ASSERT_TRUE(cache.Find("a", one, false));
  cache.Put("c", one, std::string(1000, 'c'), false);
  EXPECT_LE(cache.bytes(), 3000u);
  EXPECT_TRUE(cache.Find("c", one, false));
  EXPECT_TRUE(cache.Find("a", one, false));
  EXPECT_FALSE(cache.Find("b", one, false));
}

}  // namespace
}  // namespace meridian::apimachinery::rest::testing
