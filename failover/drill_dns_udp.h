// The drill's DNS probes as real queries (failover/drill_dns.h): the thin socket shell of
// DnsQueryTransport, UDP datagrams to the DNS server's listen address, as a client sends them.
//
// Each Exchange opens one UDP socket bound to `source_address` (an ephemeral port, so an
// answer to an earlier exchange can never be taken for one of these), sends the queries with
// ids 1..n, at most kWindow in flight (the socket's receive buffer never overflows), and
// matches answers by id and question. A query unanswered `timeout` after it was sent is lost
// (DeadlineExceeded); there is no retry: a lost probe is a finding, reported as such.
//
// The rate limiter: the federation-apiserver's DNS server limits responses per client /24
// (--dns-rrl-rate). It only listens on loopback, so whatever forwards real clients to it and
// every local tool share 127.0.0.0/24 with anything else on 127.0.0.1; a drill's probes
// (names x client regions per sample, a handful a second) must not be dropped because that
// bucket is busy, or the report would blame the failure for the limiter. So the probes come
// from kDrillProbeSourceV4, an address of their own in another /24, which the server exempts
// from rate limiting (dns::RateLimitConfig::exempt_clients; BIND's exempt-clients): exact, so
// nothing else is exempted. On an IPv6 listen address (::1, the only IPv6 loopback address)
// the probes come from ::1 and are not exempt; a limited one shows up as lost.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "dns/records.h"
#include "failover/drill_dns.h"

namespace meridian::failover {

// Where the drill's probes come from on an IPv4 loopback listen address.
inline constexpr char kDrillProbeSourceV4[] = "127.0.53.1";

// The source address the drill's probes use towards a server on `server` (loopback).
dns::IpAddress DrillProbeSource(const dns::IpAddress& server);

class UdpDnsTransport final : public DnsQueryTransport {
 public:
  // At most this many queries in flight at once.
  static constexpr size_t kWindow = 32;

  // `server` and `source` of the same family; `timeout` > 0. InvalidArgument otherwise.
  static StatusOr<std::unique_ptr<UdpDnsTransport>> Create(dns::IpAddress server, uint16_t port,
                                                           dns::IpAddress source,
                                                           std::chrono::milliseconds timeout);

  // Never throws; a socket that cannot be opened or bound makes every query Unavailable.
  // At most 65535 queries (ids are 16 bits); more are InvalidArgument.
  std::vector<StatusOr<dns::Message>> Exchange(const std::vector<dns::Message>& queries) override;
  std::string Describe() const override;

 private:
  UdpDnsTransport(dns::IpAddress server, uint16_t port, dns::IpAddress source,
                  std::chrono::milliseconds timeout)
      : server_(server), port_(port), source_(source), timeout_(timeout) {}

  dns::IpAddress server_;
  uint16_t port_;
  dns::IpAddress source_;
  std::chrono::milliseconds timeout_;
};

}  // namespace meridian::failover
