// A raw DNS client for end-to-end tests: one UDP query for A records, optionally with an EDNS
// client subnet, without spawning dig (about 100 ms a sample on a loaded machine, which would
// blur timings and sampling). Tests check the answers with dig as well.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace meridian::test_env {

// The A records of `name` from the server on 127.0.0.1:`port`, over UDP, optionally with an
// ECS option for an IPv4 /24 (`subnet`, e.g. {81, 1, 2}). Returns the addresses, sorted;
// empty on timeout (1 s), error, NXDOMAIN or NODATA.
inline std::vector<std::string> QueryA(
    int port, const std::string& name,
    std::optional<std::array<uint8_t, 3>> subnet = std::nullopt) {
  std::vector<uint8_t> q = {0x4d, 0x52, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  if (subnet) q[11] = 1;  // ARCOUNT: the OPT record
  std::istringstream labels(name);
  for (std::string label; std::getline(labels, label, '.');) {
    q.push_back(static_cast<uint8_t>(label.size()));
    q.insert(q.end(), label.begin(), label.end());
  }
  q.insert(q.end(), {0, 0, 1, 0, 1});  // root, type A, class IN
  if (subnet) {
    // OPT (RFC 6891), UDP size 1232, one option: ECS (RFC 7871) family 1, /24, scope 0.
    q.insert(q.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 11, 0, 8, 0, 7, 0, 1, 24, 0});
    q.insert(q.end(), subnet->begin(), subnet->end());
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  uint8_t r[1500];
  ssize_t n = recv(fd, r, sizeof r, 0);
  close(fd);
  std::vector<std::string> out;
  if (n < 12 || r[0] != 0x4d || r[1] != 0x52) return out;
  size_t at = 12;
  auto skip_name = [&] {
    while (at < static_cast<size_t>(n)) {
      if ((r[at] & 0xC0) == 0xC0) {
        at += 2;
        return;
      }
      if (r[at] == 0) {
        ++at;
        return;
      }
      at += 1 + r[at];
    }
  };
  skip_name();
  at += 4;  // question type and class
  for (int i = 0, answers = r[6] << 8 | r[7]; i < answers && at + 10 <= static_cast<size_t>(n);
       ++i) {
    skip_name();
    if (at + 10 > static_cast<size_t>(n)) break;
    int type = r[at] << 8 | r[at + 1];
    size_t length = static_cast<size_t>(r[at + 8] << 8 | r[at + 9]);
    at += 10;
    if (type == 1 && length == 4 && at + 4 <= static_cast<size_t>(n)) {
      out.push_back(std::to_string(r[at]) + "." + std::to_string(r[at + 1]) + "." +
                    std::to_string(r[at + 2]) + "." + std::to_string(r[at + 3]));
    }
    at += length;
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace meridian::test_env
