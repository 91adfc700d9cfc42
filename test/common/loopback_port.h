// Loopback TCP ports for the processes a test starts (they bind them after the test picked
// them, so each port is only "free a moment ago").
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <set>

namespace meridian::test_env {

// A loopback port that was free a moment ago (bound to port 0, then released) and that this
// process has not handed out before: the kernel may give the same port to two binds in a row
// once the first is closed, and two processes of one test (an etcd member's client and peer
// URLs, once) must not get the same one. -1 when no port could be bound.
inline int NewLoopbackPort() {
  static std::mutex mu;
  static std::set<int> handed_out;  // guarded by mu
  std::lock_guard lock(mu);
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    int port = -1;
    if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      socklen_t len = sizeof addr;
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
      }
    }
    if (fd >= 0) close(fd);
    if (port > 0 && handed_out.insert(port).second) return port;
  }
  return -1;
}

}  // namespace meridian::test_env
