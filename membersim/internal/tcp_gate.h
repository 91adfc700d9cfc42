// TcpGate: a loopback TCP forwarder in front of a cluster's dedicated listener, so that a
// "refuse" partition is a real TCP refusal (ECONNREFUSED): cpprestsdk keeps a port's
// acceptor open while any listener in the process lives, so the listener itself cannot be
// closed per cluster. Close() stops listening and resets open connections; Open() listens
// on the same port again.
//
// One thread accepts; each connection gets one thread that pumps both directions with
// poll(). Meant for a handful of dedicated clusters, not for the 1,000-cluster scale runs.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/status.h"

namespace meridian::membersim::internal {

class TcpGate {
 public:
  // Forwards 127.0.0.1:`port` (0: pick one) to 127.0.0.1:`upstream_port`.
  TcpGate(int port, int upstream_port) : port_(port), upstream_port_(upstream_port) {}
  ~TcpGate();
  TcpGate(const TcpGate&) = delete;
  TcpGate& operator=(const TcpGate&) = delete;

  // Starts listening (idempotent). kUnavailable if the port cannot be bound.
  Status Open();
  // Stops listening and resets every forwarded connection (idempotent).
  void Close();
  // The listening port (known after the first Open()).
  int port() const { return port_.load(); }

 private:
  void AcceptLoop(int listen_fd);
  void Pump(int client_fd);

  std::atomic<int> port_;
  const int upstream_port_;
  std::mutex mu_;  // guards listen_fd_, acceptor_, conns_, stopping_
  int listen_fd_ = -1;
  std::thread acceptor_;
  std::set<int> conns_;  // client and upstream fds of live connections
  std::atomic<bool> stop_accept_{false};
  std::atomic<int> live_pumps_{0};
};

}  // namespace meridian::membersim::internal
