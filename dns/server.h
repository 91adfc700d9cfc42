// The authoritative DNS server: a thin Boost.Asio shell around the answer builder.
//
// UDP and TCP on one port. Each of `threads` workers owns an io_context, a UDP socket and a
// TCP acceptor (several workers share the port with SO_REUSEPORT, so the kernel spreads
// packets and connections); everything a worker touches lives on its own loop, so there is no
// shared mutable state on the query path except atomic counters and the record source's
// generation counter.
//
// Per packet: parse (malformed with a readable header -> FORMERR, else dropped; responses are
// never answered), build the answer from the current snapshot, serialize. UDP answers larger
// than the client's EDNS payload size (512 without EDNS; capped at 1232) are sent truncated
// with TC=1 so the client retries over TCP. TCP uses the 2-octet length prefix (RFC 1035
// §4.2.2), answers pipelined queries in order, and closes connections idle for
// `tcp_idle_timeout` (RFC 7766). UDP responses pass the response rate limiter first.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "dns/packet.h"
#include "dns/rate_limiter.h"
#include "dns/record_source.h"

namespace meridian::dns {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (the same one for UDP and TCP); see Server::port()
  int threads = 1;
  // Per-subnet response limit over all threads (each thread enforces its share).
  RateLimitConfig rate_limit;
  std::chrono::milliseconds tcp_idle_timeout{10000};
  // TCP budgets (RFC 7766 §6.2.3: a server may close idle connections under pressure), so that
  // clients holding many idle connections cannot keep a real TCP query (the retry after a
  // truncated UDP answer) from being answered:
  //  - a worker holds at most max_tcp_connections_per_thread; at the cap a new connection
  //    evicts the connection whose last query (or accept) is oldest, rather than being refused;
  //  - one client address holds at most max_tcp_connections_per_client per worker; more are
  //    closed at accept (a client's connections land on workers by the kernel's hash, so it may
  //    hold up to this times `threads`);
  //  - once a worker holds more than half its cap, connections that go idle are closed after
  //    tcp_idle_timeout_under_pressure instead of tcp_idle_timeout.
  size_t max_tcp_connections_per_thread = 512;
  size_t max_tcp_connections_per_client = 32;
  std::chrono::milliseconds tcp_idle_timeout_under_pressure{500};
};

// Counters, updated with relaxed atomics by the workers; read at any time.
struct ServerCounters {
  std::atomic<uint64_t> udp_queries{0};
  std::atomic<uint64_t> tcp_queries{0};
  std::atomic<uint64_t> formerr{0};
  std::atomic<uint64_t> dropped_malformed{0};
  std::atomic<uint64_t> truncated{0};
  std::atomic<uint64_t> rate_limited_dropped{0};
  std::atomic<uint64_t> rate_limited_slipped{0};
  std::atomic<uint64_t> tcp_connections{0};
  // Connections closed at accept because their client held its share, and connections evicted
  // (oldest activity first) to admit a new one at the worker's cap.
  std::atomic<uint64_t> tcp_refused_per_client{0};
  std::atomic<uint64_t> tcp_evicted{0};
};

class Server {
 public:
  // Binds UDP and TCP on options.address:options.port and starts the worker threads.
  // `source` and `clock` must outlive the server. Unavailable if the address cannot be bound
  // (with the OS reason); InvalidArgument for a bad address or thread count.
  static StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                                 const RecordSource& source, const Clock& clock);

  // Stops the workers and closes every socket; idempotent. Blocks until threads have exited.
  ~Server();
  void Stop();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the chosen one when options.port was 0).
  uint16_t port() const { return port_; }
  const ServerCounters& counters() const { return counters_; }

 private:
  class Worker;
  Server() = default;

  uint16_t port_ = 0;
  ServerCounters counters_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace meridian::dns
