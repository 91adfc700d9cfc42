#include "membersim/internal/tcp_gate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace meridian::membersim::internal {

TcpGate::~TcpGate() {
  Close();
  while (live_pumps_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

Status TcpGate::Open() {
  std::lock_guard lock(mu_);
  if (listen_fd_ >= 0) return Status::Ok();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return UnavailableError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port_.load()));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return UnavailableError("listening on 127.0.0.1:" + std::to_string(port_.load()) + ": " + err);
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port_.store(ntohs(addr.sin_port));
  listen_fd_ = fd;
  stop_accept_.store(false);
  if (acceptor_.joinable()) acceptor_.join();
  acceptor_ = std::thread([this, fd] { AcceptLoop(fd); });
  return Status::Ok();
}

void TcpGate::Close() {
  std::thread acceptor;
  {
    std::lock_guard lock(mu_);
    stop_accept_.store(true);
    acceptor = std::move(acceptor_);
    for (int fd : conns_) {
      // RST rather than FIN: the peer sees the connection die, as when a host goes away.
      linger lg{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      ::shutdown(fd, SHUT_RDWR);
    }
  }
  if (acceptor.joinable()) acceptor.join();
  std::lock_guard lock(mu_);
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

void TcpGate::AcceptLoop(int listen_fd) {
  while (!stop_accept_.load()) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int client = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    live_pumps_.fetch_add(1);
    std::thread([this, client] {
      Pump(client);
      live_pumps_.fetch_sub(1);
    }).detach();
  }
}

void TcpGate::Pump(int client) {
  int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
  if (upstream < 0 || ::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (upstream >= 0) ::close(upstream);
    ::close(client);
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (stop_accept_.load()) {
      ::close(upstream);
      ::close(client);
      return;
    }
    conns_.insert(client);
    conns_.insert(upstream);
  }
  int one = 1;
  ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char buf[16384];
  bool open[2] = {true, true};  // client->upstream, upstream->client
  while (open[0] || open[1]) {
    pollfd p[2] = {{client, static_cast<short>(open[0] ? POLLIN : 0), 0},
                   {upstream, static_cast<short>(open[1] ? POLLIN : 0), 0}};
    if (::poll(p, 2, 1000) < 0 && errno != EINTR) break;
    bool failed = false;
    for (int i = 0; i < 2; ++i) {
      if (!open[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int from = i == 0 ? client : upstream;
      int to = i == 0 ? upstream : client;
      ssize_t n = ::recv(from, buf, sizeof buf, 0);
      if (n <= 0) {
        open[i] = false;
        ::shutdown(to, SHUT_WR);
        if (n < 0) failed = true;
        continue;
      }
      ssize_t off = 0;
      while (off < n) {
        ssize_t w = ::send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) {
          failed = true;
          break;
        }
        off += w;
      }
    }
    if (failed) break;
  }
  {
    std::lock_guard lock(mu_);
    conns_.erase(client);
    conns_.erase(upstream);
  }
  ::close(client);
  ::close(upstream);
}

}  // namespace meridian::membersim::internal
