// The Asio server in-process, over real loopback sockets.
#include "dns/server.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <set>
#include <thread>

#include "dns/answer.h"
#include "dns/static_zone.h"

namespace meridian::dns {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using Bytes = std::vector<uint8_t>;

std::string ZoneYaml(const std::string& web_address) {
  std::string big;
  for (int i = 1; i <= 100; ++i) big += "      - {target: 198.18.0." + std::to_string(i) + "}\n";
  return "zones:\n  - apex: test.example\nrecords:\n"
         "  - name: web.test.example\n    endpoints:\n      - {target: " +
         web_address +
         "}\n"
         "  - name: big.test.example\n    endpoints:\n" +
         big;
}

std::shared_ptr<const Snapshot> Zone(const std::string& web_address) {
  auto s = ParseStaticZone(ZoneYaml(web_address), "test.yaml");
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

Bytes QueryBytes(uint16_t id, const std::string& name, bool edns = false) {
  Message q;
  q.header.id = id;
  q.header.rd = true;
  q.questions.push_back({*Name::FromText(name), RRType::kA, kClassIN});
  if (edns) q.edns = Edns{};
  return SerializeMessage(q);
}

std::string FirstA(const Message& m) {
  for (const ResourceRecord& rr : m.answers) {
    if (auto* a = std::get_if<AData>(&rr.rdata)) {
      IpAddress ip;
      std::copy(a->address.begin(), a->address.end(), ip.bytes.begin());
      return ip.ToString();
    }
  }
  return "";
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(RateLimitConfig rrl = {}, int threads = 2,
                   std::chrono::milliseconds idle = std::chrono::milliseconds(10000)) {
    ServerOptions options;
    options.threads = threads;
    options.tcp_idle_timeout = idle;
    options.rate_limit = rrl;
    StartServerWith(options);
  }
  void StartServerWith(const ServerOptions& options) {
    auto s = Server::Start(options, source_, clock_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    ASSERT_NE(server_->port(), 0);
    udp_.open(udp::v4());
    // Only a safety net so a broken server fails the test instead of hanging it.
    struct timeval tv = {5, 0};
    setsockopt(udp_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    server_ep_ = udp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port());
  }

  Message Udp(const Bytes& query) {
    udp_.send_to(asio::buffer(query), server_ep_);
    return ReceiveUdp();
  }
  Message ReceiveUdp() {
    Bytes buf(65535);
    udp::endpoint from;
    size_t n = udp_.receive_from(asio::buffer(buf), from);
    buf.resize(n);
    auto m = ParseMessage(buf);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : Message{};
  }

  FakeClock clock_;
  SwappableRecordSource source_{Zone("192.0.2.1")};
  std::unique_ptr<Server> server_;
  asio::io_context ioc_;
  udp::socket udp_{ioc_};
  udp::endpoint server_ep_;
};

TEST_F(ServerTest, AnswersOverUdp) {
  StartServer();
  Message r = Udp(QueryBytes(1, "web.test.example"));
  EXPECT_EQ(r.header.id, 1);
  EXPECT_TRUE(r.header.aa);
  EXPECT_EQ(FirstA(r), "192.0.2.1");
  EXPECT_EQ(Udp(QueryBytes(2, "elsewhere.example")).header.rcode, RCode::kRefused);
}

TEST_F(ServerTest, MalformedPacketsGetFormErrOrAreDropped) {
  StartServer();
  // Too short for a header, and a response packet: both dropped, so the first answer that
  // comes back is the one to the valid query sent after them.
  udp_.send_to(asio::buffer(Bytes{1, 2, 3}), server_ep_);
  Bytes response_packet = QueryBytes(5, "web.test.example");
  response_packet[2] |= 0x80;
  udp_.send_to(asio::buffer(response_packet), server_ep_);
  EXPECT_EQ(Udp(QueryBytes(6, "web.test.example")).header.id, 6);
  // A readable header with a broken body: FORMERR with the same id.
  Bytes broken = QueryBytes(7, "web.test.example");
  broken.resize(broken.size() - 3);
  Message r = Udp(broken);
  EXPECT_EQ(r.header.id, 7);
  EXPECT_EQ(r.header.rcode, RCode::kFormErr);
  EXPECT_GE(server_->counters().formerr.load(), 1u);
  EXPECT_GE(server_->counters().dropped_malformed.load(), 2u);
}

TEST_F(ServerTest, LargeAnswerTruncatesOverUdpAndSucceedsOverTcp) {
  StartServer();
  for (bool edns : {false, true}) {
    Message r = Udp(QueryBytes(10, "big.test.example", edns));
    EXPECT_TRUE(r.header.tc) << "edns=" << edns;
    EXPECT_TRUE(r.answers.empty());
  }
  tcp::socket sock(ioc_);
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  // Three pipelined queries in one write; answers come back in order on the same connection.
  Bytes out;
  for (uint16_t id : {21, 22, 23}) {
    Bytes q = QueryBytes(id, id == 22 ? "web.test.example" : "big.test.example");
    out.push_back(static_cast<uint8_t>(q.size() >> 8));
    out.push_back(static_cast<uint8_t>(q.size()));
    out.insert(out.end(), q.begin(), q.end());
  }
  asio::write(sock, asio::buffer(out));
  for (uint16_t id : {21, 22, 23}) {
    uint8_t len[2];
    asio::read(sock, asio::buffer(len, 2));
    Bytes body((len[0] << 8) | len[1]);
    asio::read(sock, asio::buffer(body));
    auto m = ParseMessage(body);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->header.id, id);
    EXPECT_FALSE(m->header.tc);
    EXPECT_EQ(m->answers.size(), id == 22 ? 1u : 100u);
  }
}

TEST_F(ServerTest, PublishedSnapshotReachesTheNextAnswer) {
  StartServer();
  EXPECT_EQ(FirstA(Udp(QueryBytes(1, "web.test.example"))), "192.0.2.1");
  for (int i = 2; i < 12; ++i) {
    std::string addr = "192.0.2." + std::to_string(i);
    source_.Publish(Zone(addr));
    EXPECT_EQ(FirstA(Udp(QueryBytes(static_cast<uint16_t>(i), "web.test.example"))), addr);
  }
}

TEST_F(ServerTest, RateLimitSlipsTruncatedAnswers) {
  StartServer({.responses_per_second = 1, .burst = 1, .slip = 1}, /*threads=*/1);
  Message first = Udp(QueryBytes(1, "web.test.example"));
  EXPECT_FALSE(first.header.tc);
  EXPECT_EQ(first.answers.size(), 1u);
  Message limited = Udp(QueryBytes(2, "web.test.example"));
  EXPECT_TRUE(limited.header.tc);
  EXPECT_TRUE(limited.answers.empty());
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_FALSE(Udp(QueryBytes(3, "web.test.example")).header.tc);
  EXPECT_EQ(server_->counters().rate_limited_slipped.load(), 1u);
}

TEST_F(ServerTest, IdleTcpConnectionsAreClosedByTheServer) {
  StartServer({}, 1, std::chrono::milliseconds(20));
  tcp::socket sock(ioc_);
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  // A query is answered, then silence: the server closes the connection (EOF on our side).
  Bytes q = QueryBytes(31, "web.test.example");
  Bytes frame = {static_cast<uint8_t>(q.size() >> 8), static_cast<uint8_t>(q.size())};
  frame.insert(frame.end(), q.begin(), q.end());
  asio::write(sock, asio::buffer(frame));
  uint8_t len[2];
  asio::read(sock, asio::buffer(len, 2));
  Bytes body((len[0] << 8) | len[1]);
  asio::read(sock, asio::buffer(body));
  boost::system::error_code ec;
  uint8_t more[1];
  asio::read(sock, asio::buffer(more), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

// A TCP connection to the server from `source` (any 127.0.0.0/8 address is local on Linux).
std::unique_ptr<tcp::socket> ConnectFrom(asio::io_context& ioc, const std::string& source, uint16_t port) {
  auto sock = std::make_unique<tcp::socket>(ioc);
  sock->open(tcp::v4());
  sock->bind(tcp::endpoint(asio::ip::make_address(source), 0));
  sock->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return sock;
}

// One query over `sock`; the answer, or an empty Message with `ec` set when the server closed.
Message TcpQuery(tcp::socket& sock, uint16_t id, boost::system::error_code* ec) {
  Bytes q = QueryBytes(id, "web.test.example");
  Bytes frame = {static_cast<uint8_t>(q.size() >> 8), static_cast<uint8_t>(q.size())};
  frame.insert(frame.end(), q.begin(), q.end());
  asio::write(sock, asio::buffer(frame), *ec);
  if (*ec) return {};
  uint8_t len[2];
  asio::read(sock, asio::buffer(len, 2), *ec);
  if (*ec) return {};
  Bytes body((len[0] << 8) | len[1]);
  asio::read(sock, asio::buffer(body), *ec);
  if (*ec) return {};
  auto m = ParseMessage(body);
  return m.ok() ? *m : Message{};
}

// Whether the server has closed `sock` within `within` (EOF or reset on a read).
bool ClosedByServer(tcp::socket& sock, std::chrono::milliseconds within) {
  struct timeval tv = {static_cast<time_t>(within.count() / 1000),
                       static_cast<suseconds_t>((within.count() % 1000) * 1000)};
  setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  uint8_t byte;
  ssize_t n = recv(sock.native_handle(), &byte, 1, 0);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// 2,000 idle connections from 100 client addresses (20 each, under the per-client share) are
// far over the two workers' cap of 2 x 512: the least recently active are evicted, and a real
// query over a new connection is answered at once.
TEST_F(ServerTest, TcpQueriesAreAnsweredWhile2000IdleConnectionsAreHeld) {
  ServerOptions options;
  options.threads = 2;
  StartServerWith(options);
  std::vector<std::unique_ptr<tcp::socket>> idle;
  for (int client = 0; client < 100; ++client) {
    const std::string source = "127.0.1." + std::to_string(client + 1);
    for (int i = 0; i < 20; ++i) idle.push_back(ConnectFrom(ioc_, source, server_->port()));
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto sock = ConnectFrom(ioc_, "127.0.0.1", server_->port());
    boost::system::error_code ec;
    Message r = TcpQuery(*sock, static_cast<uint16_t>(40 + attempt), &ec);
    ASSERT_FALSE(ec) << "attempt " << attempt << ": " << ec.message();
    EXPECT_EQ(FirstA(r), "192.0.2.1");
  }
  // Each worker evicts once it is at its cap; wait (bounded) until the workers have accepted
  // every connection, some of which may still sit in an accept queue.
  for (int i = 0; i < 500 && server_->counters().tcp_connections.load() < 2003; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server_->counters().tcp_connections.load(), 2003u);
  // The 2,000 idle ones cannot all stay (the three real queries closed their own connections).
  EXPECT_GE(server_->counters().tcp_evicted.load(), 2000u - 2 * 512);
  EXPECT_EQ(server_->counters().tcp_refused_per_client.load(), 0u);
}

TEST_F(ServerTest, OneClientHoldsAtMostItsShareOfTcpConnections) {
  ServerOptions options;
  options.threads = 1;
  options.max_tcp_connections_per_client = 2;
  StartServerWith(options);
  auto a = ConnectFrom(ioc_, "127.0.2.1", server_->port());
  auto b = ConnectFrom(ioc_, "127.0.2.1", server_->port());
  boost::system::error_code ec;
  EXPECT_EQ(FirstA(TcpQuery(*b, 50, &ec)), "192.0.2.1") << ec.message();
  auto c = ConnectFrom(ioc_, "127.0.2.1", server_->port());  // its third: closed at accept
  EXPECT_TRUE(ClosedByServer(*c, std::chrono::milliseconds(2000)));
  EXPECT_EQ(server_->counters().tcp_refused_per_client.load(), 1u);
  // Another client is not affected, and the first two still work.
  auto other = ConnectFrom(ioc_, "127.0.2.2", server_->port());
  EXPECT_EQ(FirstA(TcpQuery(*other, 51, &ec)), "192.0.2.1") << ec.message();
  EXPECT_EQ(FirstA(TcpQuery(*a, 52, &ec)), "192.0.2.1") << ec.message();
}

TEST_F(ServerTest, UnderPressureIdleTcpConnectionsAreClosedSooner) {
  ServerOptions options;
  options.threads = 1;
  options.max_tcp_connections_per_thread = 4;
  options.tcp_idle_timeout = std::chrono::milliseconds(60000);
  options.tcp_idle_timeout_under_pressure = std::chrono::milliseconds(50);
  StartServerWith(options);
  auto first = ConnectFrom(ioc_, "127.0.3.1", server_->port());
  auto second = ConnectFrom(ioc_, "127.0.3.2", server_->port());
  boost::system::error_code ec;
  ASSERT_EQ(FirstA(TcpQuery(*second, 60, &ec)), "192.0.2.1") << ec.message();  // both accepted
  // The third takes the worker past half its cap: it gets the short idle timeout.
  auto third = ConnectFrom(ioc_, "127.0.3.3", server_->port());
  EXPECT_TRUE(ClosedByServer(*third, std::chrono::milliseconds(3000)));
  // The first (accepted without pressure, its 60 s timer not yet due) still answers.
  EXPECT_EQ(FirstA(TcpQuery(*first, 61, &ec)), "192.0.2.1") << ec.message();
}

TEST_F(ServerTest, ZeroLengthTcpFrameClosesTheConnection) {
  StartServer();
  tcp::socket sock(ioc_);
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
  Bytes frame = {0, 0};
  asio::write(sock, asio::buffer(frame));
  boost::system::error_code ec;
  uint8_t more[1];
  asio::read(sock, asio::buffer(more), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(ServerTest, ManyQueriesInOneBurstAreAllAnswered) {
  // More than one recvmmsg batch queued at once: every query gets its own answer.
  StartServer({}, 1);
  const int kQueries = 200;
  for (int i = 0; i < kQueries; ++i)
    udp_.send_to(asio::buffer(QueryBytes(static_cast<uint16_t>(1000 + i), "web.test.example")),
                 server_ep_);
  std::set<uint16_t> ids;
  for (int i = 0; i < kQueries; ++i) ids.insert(ReceiveUdp().header.id);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kQueries));
  EXPECT_EQ(*ids.begin(), 1000);
}

TEST(ServerStartTest, ASecondServerCannotJoinTheReusePortGroup) {
  FakeClock clock;
  SwappableRecordSource source(Zone("192.0.2.1"));
  ServerOptions options;
  options.threads = 2;
  auto first = Server::Start(options, source, clock);
  ASSERT_TRUE(first.ok()) << first.status();
  options.port = (*first)->port();
  auto second = Server::Start(options, source, clock);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  options.threads = 1;
  EXPECT_EQ(Server::Start(options, source, clock).status().code(), StatusCode::kUnavailable);
}

TEST(ServerStartTest, RejectsBadOptions) {
  FakeClock clock;
  SwappableRecordSource source(Zone("192.0.2.1"));
  ServerOptions bad_threads;
  bad_threads.threads = 0;
  EXPECT_EQ(Server::Start(bad_threads, source, clock).status().code(),
            StatusCode::kInvalidArgument);
  ServerOptions bad_address;
  bad_address.address = "localhost.invalid";
  EXPECT_EQ(Server::Start(bad_address, source, clock).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace meridian::dns
