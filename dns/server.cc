#include "dns/server.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <thread>

#include "dns/answer.h"
#include "dns/query_metrics.h"

namespace meridian::dns {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

namespace {

constexpr size_t kMaxPendingTcpWrites = 64;

IpAddress ToIpAddress(const asio::ip::address& a) {
  IpAddress ip;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), ip.bytes.begin());
  } else {
    auto v6 = a.to_v6();
    if (v6.is_v4_mapped()) return ToIpAddress(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
    ip.v6 = true;
    auto b = v6.to_bytes();
    std::copy(b.begin(), b.end(), ip.bytes.begin());
  }
  return ip;
}

IpAddress FromSockaddr(const sockaddr* sa) {
  IpAddress ip;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(ip.bytes.data(), &in->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::memcmp(&in6->sin6_addr, kMapped, 12) == 0) {
      std::memcpy(ip.bytes.data(), reinterpret_cast<const uint8_t*>(&in6->sin6_addr) + 12, 4);
    } else {
      ip.v6 = true;
      std::memcpy(ip.bytes.data(), &in6->sin6_addr, 16);
    }
  }
  return ip;
}

}  // namespace

class Server::Worker {
 public:
  Worker(const ServerOptions& options, const RateLimitConfig& rate_limit,
         const RecordSource& source, const Clock& clock, ServerCounters& counters)
      : options_(options),
        counters_(counters),
        cache_(source),
        limiter_(rate_limit, clock),
        udp_(ioc_),
        acceptor_(ioc_),
        rx_(kMaxMessageSize) {}

  ~Worker() { Stop(); }

  Status Bind(const asio::ip::address& address, uint16_t port, bool reuse_port) {
    boost::system::error_code ec;
    udp::endpoint uep(address, port);
    udp_.open(uep.protocol(), ec);
    if (!ec && reuse_port) udp_.set_option(ReusePort(true), ec);
    if (!ec) udp_.bind(uep, ec);
    if (!ec) udp_.non_blocking(true, ec);
    if (!ec) {
      // Room for bursts (the kernel caps it at net.core.rmem_max/wmem_max); best effort.
      boost::system::error_code ignored;
      udp_.set_option(asio::socket_base::receive_buffer_size(4 << 20), ignored);
      udp_.set_option(asio::socket_base::send_buffer_size(4 << 20), ignored);
    }
    if (ec)
      return UnavailableError("binding UDP " + address.to_string() + ":" + std::to_string(port) +
                              ": " + ec.message());
    port = udp_.local_endpoint(ec).port();
    tcp::endpoint tep(address, port);
    acceptor_.open(tep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && reuse_port) acceptor_.set_option(ReusePort(true), ec);
    if (!ec) acceptor_.bind(tep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return UnavailableError("binding TCP " + address.to_string() + ":" + std::to_string(port) +
                              ": " + ec.message());
    return Status::Ok();
  }

  uint16_t port() const {
    boost::system::error_code ec;
    return udp_.local_endpoint(ec).port();
  }

  void Run() {
    ReceiveUdp();
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void Stop() {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  class TcpConnection;

  void ReceiveUdp() {
    udp_.async_receive_from(asio::buffer(rx_), peer_,
                            [this](boost::system::error_code ec, size_t n) {
                              if (ec == asio::error::operation_aborted) return;
                              if (!ec) OnUdpPackets(n);
                              // Asio first tries a speculative read, so a busy socket costs no
                              // epoll round trip.
                              ReceiveUdp();
                            });
  }

  // Answers the packet Asio delivered, then drains what else is queued on the socket with
  // recvmmsg and answers the batch with one sendmmsg: two system calls per batch instead of
  // two per packet, which is most of the cost of a UDP DNS server. Draining behind Asio's
  // back is safe: the next async_receive_from tries a read before waiting for readiness.
  void OnUdpPackets(size_t first_size) {
    const int fd = udp_.native_handle();
    size_t out_count = 0;
    AnswerUdp(std::span<const uint8_t>(rx_.data(), first_size), peer_.data(),
              static_cast<socklen_t>(peer_.size()), &out_count);
    for (int round = 0; round < kMaxDrainRounds; ++round) {
      const size_t room = kBatch - out_count;
      for (size_t i = 0; i < room; ++i) {
        in_iov_[i] = {in_buf_[i].data(), in_buf_[i].size()};
        in_msgs_[i] = {};
        in_msgs_[i].msg_hdr.msg_iov = &in_iov_[i];
        in_msgs_[i].msg_hdr.msg_iovlen = 1;
        in_msgs_[i].msg_hdr.msg_name = &in_addr_[i];
        in_msgs_[i].msg_hdr.msg_namelen = sizeof(in_addr_[i]);
      }
      int n = recvmmsg(fd, in_msgs_.data(), static_cast<unsigned>(room), MSG_DONTWAIT, nullptr);
      for (int i = 0; i < n; ++i) {
        AnswerUdp(std::span<const uint8_t>(in_buf_[i].data(), in_msgs_[i].msg_len),
                  reinterpret_cast<const sockaddr*>(&in_addr_[i]), in_msgs_[i].msg_hdr.msg_namelen,
                  &out_count);
      }
      Flush(fd, &out_count);
      if (n < static_cast<int>(room)) break;  // drained (or an error: Asio will report it)
    }
    Flush(fd, &out_count);
  }

  // Accounts, rate-limits and answers one UDP packet into the next output slot.
  void AnswerUdp(std::span<const uint8_t> packet, const sockaddr* from, socklen_t from_len,
                 size_t* out_count) {
    counters_.udp_queries.fetch_add(1, std::memory_order_relaxed);
    IpAddress peer = FromSockaddr(from);
    auto action = limiter_.Check(peer);
    if (action == ResponseRateLimiter::Action::kDrop) {
      counters_.rate_limited_dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    bool slip = action == ResponseRateLimiter::Action::kSlip;
    if (slip) counters_.rate_limited_slipped.fetch_add(1, std::memory_order_relaxed);
    const size_t slot = *out_count;
    PacketResult r = HandlePacket(packet, peer, /*udp=*/true, cache_.Get(), &out_buf_[slot], slip);
    Count(r);
    if (!r.send) return;
    std::memcpy(&out_addr_[slot], from, std::min<size_t>(from_len, sizeof(out_addr_[slot])));
    out_iov_[slot] = {out_buf_[slot].data(), out_buf_[slot].size()};
    out_msgs_[slot] = {};
    out_msgs_[slot].msg_hdr.msg_iov = &out_iov_[slot];
    out_msgs_[slot].msg_hdr.msg_iovlen = 1;
    out_msgs_[slot].msg_hdr.msg_name = &out_addr_[slot];
    out_msgs_[slot].msg_hdr.msg_namelen = from_len;
    ++*out_count;
  }

  void Flush(int fd, size_t* out_count) {
    size_t sent = 0;
    while (sent < *out_count) {
      // Non-blocking: if the socket buffer is full the rest is dropped, as the network would.
      int n = sendmmsg(fd, out_msgs_.data() + sent, static_cast<unsigned>(*out_count - sent),
                       MSG_DONTWAIT);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    *out_count = 0;
  }

  void Count(const PacketResult& r) {
    if (r.send) CountResponse(r.qtype, r.rcode);
    if (!r.send) counters_.dropped_malformed.fetch_add(1, std::memory_order_relaxed);
    if (r.formerr) counters_.formerr.fetch_add(1, std::memory_order_relaxed);
    if (r.truncated) counters_.truncated.fetch_add(1, std::memory_order_relaxed);
  }

  void Accept();

  ServerOptions options_;
  ServerCounters& counters_;
  // Declared before ioc_ so that they outlive the handlers the io_context destroys.
  SnapshotCache cache_;
  ResponseRateLimiter limiter_;
  size_t tcp_connections_ = 0;
  // This worker's open TCP connections, least recently active first (only touched on the
  // worker's loop), and how many each client address holds.
  std::list<TcpConnection*> tcp_by_activity_;
  std::map<std::pair<bool, std::array<uint8_t, 16>>, size_t> tcp_per_client_;
  size_t evicting_ = 0;  // evicted connections whose handlers have not released them yet

  asio::io_context ioc_{1};
  udp::socket udp_;
  tcp::acceptor acceptor_;
  udp::endpoint peer_;
  std::vector<uint8_t> rx_;
  std::thread thread_;

  // recvmmsg/sendmmsg batches. Queries drained in batches are read into 4 KiB slots (a larger
  // UDP query is cut short and answered FORMERR; real queries are far smaller).
  static constexpr size_t kBatch = 32;
  static constexpr int kMaxDrainRounds = 4;
  std::array<mmsghdr, kBatch> in_msgs_{};
  std::array<iovec, kBatch> in_iov_{};
  std::array<sockaddr_storage, kBatch> in_addr_{};
  std::array<std::array<uint8_t, 4096>, kBatch> in_buf_{};
  std::array<mmsghdr, kBatch> out_msgs_{};
  std::array<iovec, kBatch> out_iov_{};
  std::array<sockaddr_storage, kBatch> out_addr_{};
  std::array<std::vector<uint8_t>, kBatch> out_buf_{};
};

// One TCP client. Lives on its worker's loop; owned by the handlers in flight.
class Server::Worker::TcpConnection : public std::enable_shared_from_this<TcpConnection> {
 public:
  TcpConnection(Worker& worker, tcp::socket socket, IpAddress peer)
      : worker_(worker), socket_(std::move(socket)), timer_(worker.ioc_), peer_(peer) {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    ++worker_.tcp_connections_;
    ++worker_.tcp_per_client_[{peer_.v6, peer_.bytes}];
    activity_ = worker_.tcp_by_activity_.insert(worker_.tcp_by_activity_.end(), this);
  }
  ~TcpConnection() {
    --worker_.tcp_connections_;
    auto it = worker_.tcp_per_client_.find({peer_.v6, peer_.bytes});
    if (it != worker_.tcp_per_client_.end() && --it->second == 0) worker_.tcp_per_client_.erase(it);
    worker_.tcp_by_activity_.erase(activity_);
    if (evicted_) --worker_.evicting_;
  }

  void Start() {
    ArmIdleTimer();
    ReadLength();
  }

  // Closes the connection to make room at the worker's cap; false when it was already
  // evicted. Counted in the worker's `evicting_` until its handlers release it.
  bool Evict() {
    if (evicted_) return false;
    evicted_ = true;
    Close();
    return true;
  }

  // Closes the connection (its handlers then end and release it). Safe to call twice.
  void Close() {
    boost::system::error_code ec;
    socket_.close(ec);
    timer_.cancel();
  }

 private:
  void ArmIdleTimer() {
    const ServerOptions& o = worker_.options_;
    const bool pressure = worker_.tcp_connections_ * 2 > o.max_tcp_connections_per_thread;
    timer_.expires_after(pressure ? std::min(o.tcp_idle_timeout, o.tcp_idle_timeout_under_pressure)
                                  : o.tcp_idle_timeout);
    timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (ec) return;  // re-armed or cancelled
      if (auto self = weak.lock()) self->Close();
    });
  }

  void ReadLength() {
    asio::async_read(socket_, asio::buffer(length_, 2),
                     [self = shared_from_this()](boost::system::error_code ec, size_t) {
                       if (ec) return self->Close();
                       size_t len = (size_t{self->length_[0]} << 8) | self->length_[1];
                       if (len == 0) return self->Close();
                       self->body_.resize(len);
                       self->ReadBody();
                     });
  }

  void ReadBody() {
    asio::async_read(socket_, asio::buffer(body_),
                     [self = shared_from_this()](boost::system::error_code ec, size_t) {
                       if (ec) return self->Close();
                       self->OnQuery();
                     });
  }

  void OnQuery() {
    worker_.counters_.tcp_queries.fetch_add(1, std::memory_order_relaxed);
    // Most recently active last: eviction at the cap takes the front.
    worker_.tcp_by_activity_.splice(worker_.tcp_by_activity_.end(), worker_.tcp_by_activity_, activity_);
    ArmIdleTimer();
    std::vector<uint8_t> out;
    PacketResult r = HandlePacket(body_, peer_, /*udp=*/false, worker_.cache_.Get(), &out);
    worker_.Count(r);
    if (r.send) {
      std::vector<uint8_t> frame(out.size() + 2);
      frame[0] = static_cast<uint8_t>(out.size() >> 8);
      frame[1] = static_cast<uint8_t>(out.size());
      std::copy(out.begin(), out.end(), frame.begin() + 2);
      writes_.push_back(std::move(frame));
      if (writes_.size() > kMaxPendingTcpWrites) return Close();  // a client that never reads
      if (writes_.size() == 1) Write();
    }
    ReadLength();  // pipelining: the next query is read while answers are written
  }

  void Write() {
    asio::async_write(socket_, asio::buffer(writes_.front()),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        if (ec) return self->Close();
                        self->writes_.pop_front();
                        if (!self->writes_.empty()) self->Write();
                      });
  }

  Worker& worker_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  IpAddress peer_;
  std::list<TcpConnection*>::iterator activity_;
  bool evicted_ = false;
  uint8_t length_[2] = {0, 0};
  std::vector<uint8_t> body_;
  std::deque<std::vector<uint8_t>> writes_;
};

void Server::Worker::Accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      boost::system::error_code peer_ec;
      const IpAddress peer = ToIpAddress(socket.remote_endpoint(peer_ec).address());
      auto held = tcp_per_client_.find({peer.v6, peer.bytes});
      if (peer_ec || options_.max_tcp_connections_per_thread == 0 ||
          (held != tcp_per_client_.end() && held->second >= options_.max_tcp_connections_per_client)) {
        counters_.tcp_refused_per_client.fetch_add(peer_ec ? 0 : 1, std::memory_order_relaxed);
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        // At the cap, the least recently active connection makes room: a new client (a real
        // query, retried over TCP) is never locked out by connections that only sit there.
        // Closing it ends its pending handlers; its count drops when they release it, so the
        // list is walked past connections already closed.
        for (auto it = tcp_by_activity_.begin();
             tcp_connections_ - evicting_ >= options_.max_tcp_connections_per_thread &&
             it != tcp_by_activity_.end();
             ++it) {
          if ((*it)->Evict()) {
            ++evicting_;
            counters_.tcp_evicted.fetch_add(1, std::memory_order_relaxed);
          }
        }
        counters_.tcp_connections.fetch_add(1, std::memory_order_relaxed);
        std::make_shared<TcpConnection>(*this, std::move(socket), peer)->Start();
      }
    }
    Accept();
  });
}

StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                const RecordSource& source, const Clock& clock) {
  if (options.threads < 1 || options.threads > 64) {
    return InvalidArgumentError("threads must be between 1 and 64, got " +
                                std::to_string(options.threads));
  }
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (ec)
    return InvalidArgumentError("listen address \"" + options.address + "\" is not an IP address");
  // Each thread enforces its share of the per-subnet limit (rounded up).
  RateLimitConfig per_thread = options.rate_limit;
  const uint32_t t = static_cast<uint32_t>(options.threads);
  per_thread.responses_per_second = (per_thread.responses_per_second + t - 1) / t;
  per_thread.burst = (per_thread.burst + t - 1) / t;

  // With port 0 the UDP port the kernel picks may be taken for TCP: try a few.
  const int attempts = options.port == 0 ? 20 : 1;
  const bool reuse_port = options.threads > 1;
  Status last;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    std::unique_ptr<Server> server(new Server());
    uint16_t port = options.port;
    last = Status::Ok();
    if (reuse_port) {
      // SO_REUSEPORT lets any process of the same user join the group silently (a second
      // server on the same port would steal half the packets). Claim the port exclusively
      // first, which fails if anyone holds it and picks a free one for port 0, then release
      // it for the group.
      Worker probe(options, per_thread, source, clock, server->counters_);
      last = probe.Bind(address, port, /*reuse_port=*/false);
      if (!last.ok()) continue;
      port = probe.port();
    }
    for (int i = 0; i < options.threads && last.ok(); ++i) {
      auto worker = std::make_unique<Worker>(options, per_thread, source, clock, server->counters_);
      last = worker->Bind(address, port, reuse_port);
      if (last.ok()) {
        port = worker->port();
        server->workers_.push_back(std::move(worker));
      }
    }
    if (!last.ok()) continue;
    server->port_ = port;
    for (auto& w : server->workers_) w->Run();
    return server;
  }
  return last;
}

Server::~Server() { Stop(); }

void Server::Stop() {
  for (auto& w : workers_) w->Stop();
  workers_.clear();
}

}  // namespace meridian::dns
