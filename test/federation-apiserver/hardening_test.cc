// Hostile input against the real federation-apiserver binary on loopback (issue 22): bodies
// that used to crash it or get stored are refused with a Kubernetes Status, and the process
// keeps serving.
#include <gtest/gtest.h>
// clang-format off: gtest before cpprestsdk, whose U() macro breaks gtest's templates
#include <cpprest/http_client.h>
#include <nlohmann/json.hpp>
// clang-format on

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test/federation-apiserver/apiserver_process.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;
namespace http = web::http;

struct Answer {
  int code = 0;  // 0: no answer (the connection died)
  json body;
};

Answer Send(http::client::http_client& client, const http::method& method, const std::string& path,
            const std::string& body, const std::string& content_type = "application/json") {
  try {
    http::http_request req(method);
    req.set_request_uri(path);
    if (!body.empty()) req.set_body(body, content_type);
    http::http_response resp = client.request(req).get();
    return {resp.status_code(), json::parse(resp.extract_utf8string(true).get(), nullptr, false)};
  } catch (const std::exception&) {
    return {};
  }
}

// A FederatedWorkload whose spec.template is `depth` objects deep.
std::string DeepWorkload(const std::string& name, int depth) {
  std::string s = R"({"apiVersion":"federation.meridian.io/v1alpha1","kind":"FederatedWorkload",)"
                  R"("metadata":{"name":")" +
                  name + R"(","namespace":"default"},"spec":{"template":)";
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  s.append(depth, '}');
  return s + "}}";
}

TEST(HardeningTest, DeepTemplatesAreRefusedAndTheServerStaysUp) {
  testing::ApiserverProcess server;
  ASSERT_EQ(server.Start(), "");
  http::client::http_client client(server.url());
  const std::string coll =
      "/apis/federation.meridian.io/v1alpha1/namespaces/default/federatedworkloads";
  // 70,000 and 100,000 levels overflowed the stack before; 50,000 was stored and propagated.
  for (int depth : {50'000, 70'000, 100'000}) {
    SCOPED_TRACE(depth);
    Answer a = Send(client, http::methods::POST, coll, DeepWorkload("deep", depth));
    ASSERT_EQ(a.code, 400) << a.body.dump().substr(0, 300);
    EXPECT_EQ(a.body["kind"], "Status");
    EXPECT_EQ(a.body["reason"], "BadRequest");
    const std::string message = a.body["message"];
    EXPECT_NE(message.find("spec.template.a.a.a.a ... (992 more) ... .a.a: nesting depth "
                           "exceeds the limit of 1000"),
              std::string::npos)
        << message;
    ASSERT_EQ(Send(client, http::methods::GET, "/healthz", "").code, 200);  // still up
  }
  Answer listed = Send(client, http::methods::GET, coll, "");
  ASSERT_EQ(listed.code, 200);
  EXPECT_TRUE(listed.body["items"].empty());
  EXPECT_EQ(Send(client, http::methods::GET, "/healthz", "").code, 200);
}

// The review endpoints (answered, never stored: SelfSubjectAccessReview, WhatIfReview,
// ComplianceReview) and the audit log, which copies a request's body into its event, read
// bodies with the same depth limit. A 1,400,000-level body (within the 3 MiB limit) used to
// crash the server at the SelfSubjectAccessReview, which copied the spec recursively.
TEST(HardeningTest, DeepReviewBodiesAreRefusedAndTheServerStaysUp) {
  testing::ApiserverProcess server;
  ASSERT_EQ(server.Start({"--audit-log-path", (server.dir() / "audit.log").string()}), "");
  http::client::http_client client(server.url());
  const int depth = 1'400'000;
  std::string spec(depth, '[');
  spec.append(depth, ']');
  for (const auto& [path, kind] : std::vector<std::pair<std::string, std::string>>{
           {"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "SelfSubjectAccessReview"},
           {"/apis/federation.meridian.io/v1alpha1/whatifreviews", "WhatIfReview"},
           {"/apis/federation.meridian.io/v1alpha1/compliancereviews", "ComplianceReview"}}) {
    SCOPED_TRACE(path);
    Answer a = Send(client, http::methods::POST, path,
                    R"({"kind":")" + kind + R"(","spec":{"x":)" + spec + "}}");
    ASSERT_EQ(a.code, 400) << a.body.dump().substr(0, 300);
    const std::string message = a.body.value("message", "");
    EXPECT_NE(message.find("invalid " + kind + ": spec.x[0][0][0][0] ... (992 more) ... [0][0]: "
                           "nesting depth exceeds the limit of 1000"),
              std::string::npos)
        << message;
    ASSERT_EQ(Send(client, http::methods::GET, "/healthz", "").code, 200);  // still up
  }
}

// Max in flight against the real binary: alice floods with 8 connections while her cap is 1
// request in flight; she gets 429 TooManyRequests with Retry-After and a Status body, and bob,
// asking one request at a time, is never refused.
TEST(HardeningTest, MaxInFlightRefusesAFloodingUserButNotTheOthers) {
  testing::ApiserverProcess server;
  std::ofstream(server.dir() / "tokens.csv") << "alice-token,alice,1\nbob-token,bob,2\n";
  ASSERT_EQ(server.Start({"--token-auth-file", (server.dir() / "tokens.csv").string(),
                          "--max-requests-inflight-per-user", "1", "--http-threads", "16"}),
            "");
  auto client = [&](const std::string& token) {
    http::client::http_client_config config;
    config.set_timeout(std::chrono::seconds(30));
    auto c = std::make_unique<http::client::http_client>(server.url(), config);
    c->add_handler(
        [token](http::http_request req, std::shared_ptr<http::http_pipeline_stage> next) {
          req.headers().add("Authorization", "Bearer " + token);
          return next->propagate(req);
        });
    return c;
  };
  // Lists big enough to take a while to render.
  auto bob = client("bob-token");
  const std::string secrets = "/api/v1/namespaces/default/secrets";
  for (int i = 0; i < 100; ++i) {
    json s = {{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", "s" + std::to_string(i)}}},
              {"stringData", {{"blob", std::string(4000, 'x')}}}};
    ASSERT_EQ(Send(*bob, http::methods::POST, secrets, s.dump()).code, 201);
  }

  std::atomic<bool> flooding{true};
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::mutex mu;
  json refusal;
  std::string retry_after;
  std::vector<std::thread> flood;
  for (int t = 0; t < 8; ++t) {
    flood.emplace_back([&] {
      auto alice = client("alice-token");
      for (int i = 0; i < 40 && flooding; ++i) {
        try {
          http::http_response resp = alice->request(http::methods::GET, secrets).get();
          std::string body = resp.extract_utf8string(true).get();
          if (resp.status_code() == 200) {
            ++ok;
          } else if (resp.status_code() == 429) {
            ++refused;
            std::lock_guard lock(mu);
            refusal = json::parse(body, nullptr, false);
            retry_after = resp.headers().has("Retry-After") ? resp.headers()["Retry-After"] : "";
          } else {
            ++other;
          }
        } catch (const std::exception&) {
          ++other;
        }
      }
    });
  }
  int bob_ok = 0;
  for (int i = 0; i < 50; ++i) {
    Answer a = Send(*bob, http::methods::GET, secrets + "/s1", "");
    EXPECT_EQ(a.code, 200) << a.body.dump().substr(0, 300);
    bob_ok += a.code == 200;
  }
  flooding = false;
  for (std::thread& t : flood) t.join();
  EXPECT_EQ(bob_ok, 50);
  EXPECT_GT(refused.load(), 0) << ok << " answered, none refused";
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(other.load(), 0);
  std::lock_guard lock(mu);
  EXPECT_EQ(retry_after, "1");
  EXPECT_EQ(refusal["kind"], "Status");
  EXPECT_EQ(refusal["code"], 429);
  EXPECT_EQ(refusal["reason"], "TooManyRequests");
  EXPECT_EQ(refusal["details"]["retryAfterSeconds"], 1);
  EXPECT_EQ(refusal["message"],
            "Too many requests, please try again later: user alice has 1 requests in flight");
}

// The process's resident set, in KiB (0 if unreadable).
long RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// A raw HTTP/1.1 request on a new loopback connection; the caller owns the fd.
int OpenRaw(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  // Small receive buffer: the server's backlog builds up in its own memory soon.
  int small = 64 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  (void)!::write(fd, request.data(), request.size());
  return fd;
}

// Reads what arrives on `fd` for up to `ms` milliseconds (or until the peer closes).
std::string ReadFor(int fd, int ms) {
  timeval tv{0, 50 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string out;
  char buf[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// The body of a chunked HTTP response (headers included in `raw`); stops at a truncated chunk.
std::string Dechunk(const std::string& raw) {
  size_t pos = raw.find("\r\n\r\n");
  if (pos == std::string::npos) return "";
  pos += 4;
  std::string body;
  while (pos < raw.size()) {
    size_t eol = raw.find("\r\n", pos);
    if (eol == std::string::npos) break;
    size_t size = 0;
    try {
      size = std::stoul(raw.substr(pos, eol - pos), nullptr, 16);
    } catch (const std::exception&) {
      break;
    }
    if (size == 0 || eol + 2 + size > raw.size()) break;
    body.append(raw, eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return body;
}

// Watch budgets against the real binary: watches past the per-user cap are refused 429;
// watches that never read get a big stream of events, yet the server's memory stays near its
// backlog budget (slow ones are cut with an ERROR event) and GETs keep being answered.
TEST(HardeningTest, WatchBudgetsBoundMemoryAndCutSlowConsumers) {
  testing::ApiserverProcess server;
  ASSERT_EQ(server.Start({"--max-watches-per-user", "30", "--max-watch-backlog-bytes",
                          std::to_string(1 << 20), "--max-total-watch-backlog-bytes",
                          std::to_string(16 << 20)}),
            "");
  const int port = std::stoi(server.url().substr(server.url().rfind(':') + 1));
  http::client::http_client client(server.url());
  const std::string secrets = "/api/v1/namespaces/default/secrets";
  auto secret = [](const std::string& name, size_t bytes, int version) {
    return json{
        {"apiVersion", "v1"},
        {"kind", "Secret"},
        {"metadata", {{"name", name}}},
        {"stringData", {{"blob", std::string(bytes, static_cast<char>('a' + version % 26))}}}}
        .dump();
  };
  ASSERT_EQ(Send(client, http::methods::POST, secrets, secret("small", 10, 0)).code, 201);
  ASSERT_EQ(Send(client, http::methods::POST, secrets, secret("big", 200'000, 0)).code, 201);

  const std::string watch_request =
      "GET " + secrets + "?watch=true&resourceVersion=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  std::vector<int> fds;
  std::vector<std::string> heads;
  int accepted = 0, refused = 0;
  std::string refusal;
  for (int i = 0; i < 40; ++i) {
    int fd = OpenRaw(port, watch_request);
    ASSERT_GE(fd, 0);
    std::string head = ReadFor(fd, 300);  // the status line, then the watch never reads again
    if (head.rfind("HTTP/1.1 200", 0) == 0) {
      ++accepted;
      fds.push_back(fd);
      heads.push_back(head);
    } else {
      ++refused;
      refusal = head;
      ::close(fd);
    }
  }
  EXPECT_EQ(accepted, 30);
  EXPECT_EQ(refused, 10);
  EXPECT_NE(refusal.find("HTTP/1.1 429"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("Retry-After: 1"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("user system:anonymous has 30 watches open"), std::string::npos)
      << refusal;

  const long rss_before = RssKb(server.process().pid());
  std::atomic<bool> storm{true};
  std::vector<double> get_ms;
  int get_failures = 0;
  std::thread getter([&] {
    http::client::http_client c(server.url());
    while (storm) {
      auto start = std::chrono::steady_clock::now();
      Answer a = Send(c, http::methods::GET, secrets + "/small", "");
      get_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      get_failures += a.code != 200;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  long rss_peak = rss_before;
  // 80 updates of a 200 KB secret: ≈ 21 MB of events for each of the 30 watches (≈ 640 MB
  // if every watch kept its backlog).
  for (int v = 1; v <= 80; ++v) {
    Answer a = Send(client, http::methods::PUT, secrets + "/big", secret("big", 200'000, v));
    ASSERT_EQ(a.code, 200) << a.body.dump().substr(0, 300);
    rss_peak = std::max(rss_peak, RssKb(server.process().pid()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  rss_peak = std::max(rss_peak, RssKb(server.process().pid()));
  storm = false;
  getter.join();
  std::sort(get_ms.begin(), get_ms.end());
  const double p99 = get_ms.empty() ? 0 : get_ms[get_ms.size() * 99 / 100];
  std::printf(
      "watch storm: RSS %ld -> peak %ld KiB (+%ld KiB); %zu GETs, p99 %.1f ms, max %.1f ms\n",
      rss_before, rss_peak, rss_peak - rss_before, get_ms.size(), p99,
      get_ms.empty() ? 0 : get_ms.back());
  EXPECT_EQ(get_failures, 0);
  EXPECT_GT(get_ms.size(), 5u);
  // The budget is 16 MiB of backlog; allow as much again for events in flight and the
  // allocator's slack. Without the budget this was ≈ 30 x 16 MiB.
  EXPECT_LT(rss_peak - rss_before, 64 * 1024) << "KiB";

  // A slow consumer's stream ends with an ERROR event carrying a 410 Expired Status.
  int with_error = 0;
  for (size_t w = 0; w < fds.size(); ++w) {
    const int fd = fds[w];
    std::string raw = heads[w] + ReadFor(fd, 200);
    for (int i = 0; i < 400 && raw.find("\r\n0\r\n\r\n") == std::string::npos; ++i) {
      std::string more = ReadFor(fd, 50);
      if (more.empty()) break;
      raw += more;
    }
    const std::string rest = Dechunk(raw);
    // The event is one line (nlohmann sorts keys: "object" comes before "type").
    size_t at = rest.find("\"type\":\"ERROR\"}");
    if (at != std::string::npos) at = rest.rfind('\n', at) + 1;
    if (at != std::string::npos) {
      ++with_error;
      json event = json::parse(rest.substr(at, rest.find('\n', at) - at), nullptr, false);
      EXPECT_EQ(event["type"], "ERROR");
      EXPECT_EQ(event["object"]["kind"], "Status");
      EXPECT_EQ(event["object"]["code"], 410);
      EXPECT_EQ(event["object"]["reason"], "Expired");
      EXPECT_NE(event["object"]["message"].get<std::string>().find("events were dropped"),
                std::string::npos);
    }
    ::close(fd);
  }
  EXPECT_GT(with_error, 0);
  EXPECT_EQ(Send(client, http::methods::GET, "/healthz", "").code, 200);
}

}  // namespace
}  // namespace meridian::apiserver
