// Whether a listen address's host is a loopback one: what servers without authentication
// (the gRPC API, a metrics listener without TLS) check before they listen.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

namespace meridian {

// "localhost", 127.0.0.0/8 or ::1 (unbracketed).
inline bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace meridian
