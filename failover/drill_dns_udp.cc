#include "failover/drill_dns_udp.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

namespace meridian::failover {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A socket address for `ip`:`port`.
socklen_t ToSockaddr(const dns::IpAddress& ip, uint16_t port, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  if (ip.v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(out);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    std::memcpy(&a->sin6_addr, ip.bytes.data(), 16);
    return sizeof(sockaddr_in6);
  }
  auto* a = reinterpret_cast<sockaddr_in*>(out);
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  std::memcpy(&a->sin_addr, ip.bytes.data(), 4);
  return sizeof(sockaddr_in);
}

// Closes the socket when the exchange ends, however it ends.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

dns::IpAddress DrillProbeSource(const dns::IpAddress& server) {
  if (server.v6) return *dns::IpAddress::Parse("::1");
  return *dns::IpAddress::Parse(kDrillProbeSourceV4);
}

StatusOr<std::unique_ptr<UdpDnsTransport>> UdpDnsTransport::Create(
    dns::IpAddress server, uint16_t port, dns::IpAddress source,
    std::chrono::milliseconds timeout) {
  if (server.v6 != source.v6) {
    return InvalidArgumentError("DNS probes: the source " + source.ToString() + " and the server " +
                                server.ToString() + " are of different address families");
  }
  if (port == 0) return InvalidArgumentError("DNS probes: the server's port is 0");
  if (timeout <= std::chrono::milliseconds::zero()) {
    return InvalidArgumentError("DNS probes: the timeout must be positive");
  }
  return std::unique_ptr<UdpDnsTransport>(new UdpDnsTransport(server, port, source, timeout));
}

std::string UdpDnsTransport::Describe() const {
  const std::string server = server_.v6 ? "[" + server_.ToString() + "]" : server_.ToString();
  return "UDP queries to the DNS server at " + server + ":" + std::to_string(port_) + " from " +
         source_.ToString() + " (EDNS client subnet per client region, " +
         std::to_string(timeout_.count()) + " ms timeout)";
}

std::vector<StatusOr<dns::Message>> UdpDnsTransport::Exchange(
    const std::vector<dns::Message>& queries) {
  const size_t n = queries.size();
  std::vector<StatusOr<dns::Message>> out(
      n, StatusOr<dns::Message>(DeadlineExceededError("no answer within " +
                                                      std::to_string(timeout_.count()) + " ms")));
  if (n == 0) return out;
  if (n > 65535) {
    for (StatusOr<dns::Message>& r : out) {
      r = InvalidArgumentError("more than 65535 DNS probes in one exchange");
    }
    return out;
  }
  auto fail_all = [&](const std::string& why) {
    for (StatusOr<dns::Message>& r : out) r = UnavailableError(why);
    return out;
  };
  Socket sock(socket(source_.v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.fd() < 0) return fail_all(Errno("DNS probes: socket"));
  sockaddr_storage local, remote;
  socklen_t local_len = ToSockaddr(source_, 0, &local);
  if (bind(sock.fd(), reinterpret_cast<sockaddr*>(&local), local_len) != 0) {
    return fail_all(Errno("DNS probes: binding " + source_.ToString()));
  }
  const socklen_t remote_len = ToSockaddr(server_, port_, &remote);

  // Sent queries awaiting an answer: index -> when it times out.
  std::map<size_t, SteadyClock::time_point> waiting;
  size_t next = 0;
  std::vector<uint8_t> packet(65535);
  while (next < n || !waiting.empty()) {
    while (next < n && waiting.size() < kWindow) {
      dns::Message query = queries[next];
      query.header.id = static_cast<uint16_t>(next + 1);
      query.header.qr = false;
      const std::vector<uint8_t> bytes = dns::SerializeMessage(query);
      if (sendto(sock.fd(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&remote),
                 remote_len) < 0) {
        out[next] = UnavailableError(Errno("DNS probes: sending"));
      } else {
        waiting[next] = SteadyClock::now() + timeout_;
      }
      ++next;
    }
    if (waiting.empty()) continue;
    // Expire what is due; wait for the earliest remaining deadline.
    const SteadyClock::time_point now = SteadyClock::now();
    SteadyClock::time_point earliest = SteadyClock::time_point::max();
    for (auto it = waiting.begin(); it != waiting.end();) {
      if (it->second <= now) {
        it = waiting.erase(it);  // out[i] stays DeadlineExceeded
      } else {
        earliest = std::min(earliest, it->second);
        ++it;
      }
    }
    if (waiting.empty()) continue;
    const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(earliest - now).count();
    pollfd p{sock.fd(), POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::max<int64_t>(1, wait_ms)));
    if (ready < 0 && errno != EINTR) {
      const std::string why = Errno("DNS probes: poll");
      for (const auto& [i, deadline] : waiting) out[i] = UnavailableError(why);
      waiting.clear();
      continue;
    }
    if (ready <= 0) continue;
    for (;;) {
      sockaddr_storage from;
      socklen_t from_len = sizeof(from);
      const ssize_t got = recvfrom(sock.fd(), packet.data(), packet.size(), MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &from_len);
      if (got < 0) break;  // EAGAIN: nothing more for now (ICMP errors are left to the timeout)
      // Only the server's own answers count.
      if (from_len != remote_len || std::memcmp(&from, &remote, remote_len) != 0) continue;
      StatusOr<dns::Message> response =
          dns::ParseMessage(std::span<const uint8_t>(packet.data(), static_cast<size_t>(got)));
      if (!response.ok() || !response->header.qr) continue;
      const size_t i = static_cast<size_t>(response->header.id) - 1;
      auto it = waiting.find(i);
      if (it == waiting.end()) continue;  // a duplicate, or an answer to a timed-out query
      // The answer must be to the question asked (case-insensitively: a server may echo
      // another case).
      if (!queries[i].questions.empty()) {
        const dns::Question& asked = queries[i].questions.front();
        if (response->questions.size() != 1 ||
            !response->questions[0].name.EqualsIgnoreCase(asked.name) ||
            response->questions[0].type != asked.type) {
          continue;
        }
      }
      out[i] = std::move(response).value();
      waiting.erase(it);
    }
  }
  return out;
}

}  // namespace meridian::failover
