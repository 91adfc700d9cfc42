// Durability: every write the federation-apiserver acknowledged with a 2xx survives kill -9,
// and no object is torn. A storm of concurrent creates and compare-and-swap updates runs
// against the real binary; it is killed mid-storm and restarted on the same SQLite file.
#include <gtest/gtest.h>

#include <cpprest/http_client.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "common/base64.h"
#include "test/federation-apiserver/apiserver_process.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
namespace http = web::http;

struct Outcome {
  int code = 0;  // 0: no answer (connection died)
  json body;
};

Outcome Send(http::client::http_client& client, const http::method& method,
             const std::string& path, const json& body) {
  try {
    http::http_request req(method);
    req.set_request_uri(path);
    if (!body.is_null()) req.set_body(body.dump(), "application/json");
    http::http_response resp = client.request(req).get();
    Outcome o;
    o.code = resp.status_code();
    o.body = json::parse(resp.extract_utf8string(true).get(), nullptr, false);
    return o;
  } catch (const std::exception&) {
    return Outcome{};
  }
}

json Secret(const std::string& name, const std::string& value) {
  return {{"apiVersion", "v1"}, {"kind", "Secret"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"stringData", {{"value", value}}}};
}

TEST(DurabilityTest, AcknowledgedWritesSurviveKillDashNine) {
  testing::ApiserverProcess server;
  ASSERT_EQ(server.Start(), "");

  // What each object must hold after the crash: the value of its last acknowledged write,
  // or the value of a write that was in flight (sent, not answered) when the server died.
  std::mutex mu;
  std::map<std::string, std::string> acked;               // name -> value
  std::map<std::string, std::string> in_flight;           // name -> value
  std::atomic<int> acks{0};
  std::atomic<bool> dead{false};

  auto writer = [&](int id) {
    http::client::http_client_config config;
    config.set_timeout(std::chrono::seconds(5));
    http::client::http_client client(utility::conversions::to_string_t(server.url()), config);
    const std::string base = "/api/v1/namespaces/default/secrets";
    for (int i = 0; !dead; ++i) {
      std::string name = "w" + std::to_string(id) + "-" + std::to_string(i);
      std::string value = name + "-v1";
      {
        std::lock_guard lock(mu);
        in_flight[name] = value;
      }
      Outcome created = Send(client, http::methods::POST, base, Secret(name, value));
      if (created.code == 0) return;
      ASSERT_EQ(created.code, 201) << created.body.dump();
      {
        std::lock_guard lock(mu);
        acked[name] = value;
        in_flight.erase(name);
      }
      ++acks;
      // A compare-and-swap update of the object just made.
      json updated = Secret(name, name + "-v2");
      updated["metadata"]["resourceVersion"] = created.body["metadata"]["resourceVersion"];
      {
        std::lock_guard lock(mu);
        in_flight[name] = name + "-v2";
      }
      Outcome u = Send(client, http::methods::PUT, base + "/" + name, updated);
      if (u.code == 0) return;
      ASSERT_EQ(u.code, 200) << u.body.dump();
      {
        std::lock_guard lock(mu);
        acked[name] = name + "-v2";
        in_flight.erase(name);
      }
      ++acks;
    }
  };
  std::vector<std::thread> writers;
  for (int i = 0; i < 4; ++i) writers.emplace_back(writer, i);
  // Kill once the storm is well under way (bounded: at most 30 s of waiting).
  for (int i = 0; i < 3000 && acks < 400; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server.process().Kill(SIGKILL);
  dead = true;
  for (auto& t : writers) t.join();
  ASSERT_GE(acks.load(), 400) << "the storm never got going";

  ASSERT_EQ(server.Start(), "") << "restart on the same file";
  http::client::http_client client(utility::conversions::to_string_t(server.url()));
  Outcome list = Send(client, http::methods::GET, "/api/v1/namespaces/default/secrets", nullptr);
  ASSERT_EQ(list.code, 200);
  std::map<std::string, std::string> stored;
  for (const json& item : list.body["items"]) {
    ASSERT_TRUE(item.contains("metadata") && item["metadata"].contains("name")) << "torn object: " << item.dump();
    // The server folds stringData into base64 data, as kube-apiserver does.
    ASSERT_TRUE(item.contains("data") && item["data"].contains("value")) << "torn object: " << item.dump();
    std::string value;
    ASSERT_TRUE(Base64UrlDecode(item["data"]["value"].get<std::string>(), &value))
        << "torn object: " << item.dump();
    stored[item["metadata"]["name"]] = value;
  }
  for (const auto& [name, value] : acked) {
    auto it = stored.find(name);
    ASSERT_NE(it, stored.end()) << "acknowledged object " << name << " was lost";
    bool matches = it->second == value || (in_flight.count(name) && it->second == in_flight[name]);
    EXPECT_TRUE(matches) << name << ": stored " << it->second << ", acknowledged " << value;
  }
  for (const auto& [name, value] : stored) {
    EXPECT_TRUE(acked.count(name) || in_flight.count(name)) << name << " appeared from nowhere";
  }
  std::cout << "durability: " << acks.load() << " acknowledged writes, " << stored.size()
            << " objects after kill -9 and restart\n";
}

}  // namespace
}  // namespace meridian::apiserver
