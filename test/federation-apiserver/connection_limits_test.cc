// What a client can make the real federation-apiserver hold (issue 22), on loopback with raw
// sockets: bodies are cut at the limit while they arrive (a smaller allowance before
// authentication), a Content-Length over the limit is answered without reading the body,
// oversized headers get 431, and idle, half-open and surplus connections are closed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "test/federation-apiserver/apiserver_process.h"

namespace meridian::apiserver {
namespace {

using Clock = std::chrono::steady_clock;

long RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

int Port(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

struct Read {
  std::string data;
  bool closed = false;  // the server closed (EOF or reset) within the time
  Clock::duration after{};
};

// Reads until the server closes the connection or `ms` pass.
Read ReadUntilClosed(int fd, int ms) {
  timeval tv{0, 50 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  Read r;
  const auto start = Clock::now();
  char buf[65536];
  while (Clock::now() - start < std::chrono::milliseconds(ms)) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      r.data.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      r.closed = true;
      break;
    }
  }
  r.after = Clock::now() - start;
  return r;
}

int StatusCode(const std::string& raw) {
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || raw.size() < 12) return 0;
  return std::stoi(raw.substr(9, 3));
}

constexpr char kSecrets[] = "/api/v1/namespaces/default/secrets";

class ConnectionLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(server_.dir() / "tokens.csv") << "t0ken,alice,1,\"system:masters\"\n";
  }
  std::string Start(std::vector<std::string> flags) {
    flags.insert(flags.end(), {"--token-auth-file", (server_.dir() / "tokens.csv").string()});
    std::string error = server_.Start(flags);
    if (error.empty()) port_ = Port(server_.url());
    return error;
  }
  testing::ApiserverProcess server_;
  int port_ = 0;
};

// A 1 GiB chunked upload, with and without a token: the server reads no more than its limit
// (3 MiB after authentication, 64 KiB before), answers 413 or 401 and closes; its memory
// does not follow the upload.
TEST_F(ConnectionLimitsTest, AHugeChunkedBodyIsCutWhileItArrives) {
  ASSERT_EQ(Start({}), "");
  struct Case {
    std::string auth;
    int want;
  } cases[] = {{"Authorization: Bearer t0ken\r\n", 413}, {"", 401}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.want);
    const long rss_before = RssKb(server_.process().pid());
    int fd = Connect(port_);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, std::string("POST ") + kSecrets +
                                " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                                c.auth + "Transfer-Encoding: chunked\r\n\r\n"));
    std::atomic<int64_t> sent{0};
    std::thread writer([&] {
      const std::string chunk = "100000\r\n" + std::string(1 << 20, 'x') + "\r\n";  // 1 MiB
      for (int i = 0; i < 1024; ++i) {
        if (!SendAll(fd, chunk)) return;
        sent += 1 << 20;
      }
    });
    Read r = ReadUntilClosed(fd, 20000);
    ::shutdown(fd, SHUT_RDWR);
    writer.join();
    ::close(fd);
    const long rss_after = RssKb(server_.process().pid());
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(StatusCode(r.data), c.want) << r.data.substr(0, 300);
    EXPECT_NE(r.data.find("\"kind\":\"Status\""), std::string::npos) << r.data.substr(0, 300);
    EXPECT_LT(sent.load(), int64_t{64} << 20) << "the server kept reading";
    EXPECT_LT(rss_after - rss_before, 10 * 1024) << rss_before << " -> " << rss_after << " KiB";
  }
}

// A Content-Length over the limit is answered from the headers, before any body byte.
TEST_F(ConnectionLimitsTest, AContentLengthOverTheLimitIsAnsweredWithoutTheBody) {
  ASSERT_EQ(Start({}), "");
  for (const std::string auth : {"Authorization: Bearer t0ken\r\n", ""}) {
    int fd = Connect(port_);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, std::string("POST ") + kSecrets +
                                " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                                auth + "Content-Length: 1073741824\r\n\r\n"));
    Read r = ReadUntilClosed(fd, 5000);
    ::close(fd);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(StatusCode(r.data), auth.empty() ? 401 : 413) << r.data.substr(0, 300);
    if (!auth.empty()) {
      EXPECT_NE(r.data.find("Request entity too large: limit is 3145728"), std::string::npos)
          << r.data;
    }
  }
  // A small unauthenticated body is still read and answered 401 by authentication.
  int fd = Connect(port_);
  const std::string body = R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}})";
  ASSERT_TRUE(SendAll(fd, std::string("POST ") + kSecrets +
                              " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Content-Length: " +
                              std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                              body));
  Read r = ReadUntilClosed(fd, 5000);
  ::close(fd);
  EXPECT_EQ(StatusCode(r.data), 401) << r.data;
}

TEST_F(ConnectionLimitsTest, HugeHeadersAre431) {
  ASSERT_EQ(Start({}), "");
  std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 200; ++i) {
    request += "X-Pad-" + std::to_string(i) + ": " + std::string(1024, 'p') + "\r\n";
  }
  request += "\r\n";
  int fd = Connect(port_);
  ASSERT_GE(fd, 0);
  SendAll(fd, request);  // the server may close before taking it all
  Read r = ReadUntilClosed(fd, 5000);
  ::close(fd);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(StatusCode(r.data), 431) << r.data.substr(0, 300);
  // Too many (small) fields are refused the same way.
  request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 300; ++i) request += "X-" + std::to_string(i) + ": 1\r\n";
  fd = Connect(port_);
  SendAll(fd, request + "\r\n");
  r = ReadUntilClosed(fd, 5000);
  ::close(fd);
  EXPECT_EQ(StatusCode(r.data), 431) << r.data.substr(0, 300);
  // The server still serves.
  fd = Connect(port_);
  SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  r = ReadUntilClosed(fd, 5000);
  ::close(fd);
  EXPECT_EQ(StatusCode(r.data), 200) << r.data;
}

// Connections that send nothing, half a header, or stay idle after a request are closed once
// their (here short) deadline passes; one that keeps sending requests is not.
TEST_F(ConnectionLimitsTest, IdleAndHalfOpenConnectionsAreClosed) {
  ASSERT_EQ(Start({"--request-header-timeout", "0.5", "--idle-connection-timeout", "1"}), "");
  int silent = Connect(port_);
  int half = Connect(port_);
  int idle = Connect(port_);
  ASSERT_TRUE(silent >= 0 && half >= 0 && idle >= 0);
  SendAll(half, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  SendAll(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  Read a = ReadUntilClosed(silent, 5000);
  Read b = ReadUntilClosed(half, 5000);
  Read c = ReadUntilClosed(idle, 5000);
  for (int fd : {silent, half, idle}) ::close(fd);
  EXPECT_TRUE(a.closed && b.closed && c.closed);
  EXPECT_EQ(a.data, "");
  EXPECT_EQ(b.data, "");  // no answer to half a request
  EXPECT_EQ(StatusCode(c.data), 200) << c.data;
  // silent and half were read first: they closed after ~0.5 s; idle after its answer + ~1 s.
  EXPECT_LT(a.after, std::chrono::milliseconds(3000));
  EXPECT_LT(b.after, std::chrono::milliseconds(3000));

  // A busy keep-alive connection outlives both deadlines.
  int busy = Connect(port_);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(SendAll(busy, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")) << i;
    timeval tv{2, 0};
    ::setsockopt(busy, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    ssize_t n = ::recv(busy, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0) << i;
    EXPECT_EQ(StatusCode(std::string(buf, static_cast<size_t>(n))), 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ::close(busy);
}

TEST_F(ConnectionLimitsTest, ConnectionsPastTheCapAreClosedAtOnce) {
  ASSERT_EQ(Start({"--max-connections", "4"}), "");
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(Connect(port_));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the server accept them
  int extra = Connect(port_);
  ASSERT_GE(extra, 0);
  Read r = ReadUntilClosed(extra, 3000);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.data, "");
  ::close(extra);
  for (int fd : held) ::close(fd);
  // Once they are gone, new connections are served.
  Read ok;
  for (int attempt = 0; attempt < 20 && StatusCode(ok.data) != 200; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    int fd = Connect(port_);
    SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ok = ReadUntilClosed(fd, 3000);
    ::close(fd);
  }
  EXPECT_EQ(StatusCode(ok.data), 200) << ok.data;
}

}  // namespace
}  // namespace meridian::apiserver
