// The DNS controller (dns/): DNSRecordSets from each FederatedWorkload's spec.dns, placement,
// member health and the members' Service addresses; with --dns-listen, also the authoritative
// DNS server answering from those record sets (UDP and TCP on one loopback port).
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "dns/dns_controller.h"
#include "dns/record_publisher.h"
#include "dns/server.h"
#include "dns/static_zone.h"
#include "failover/drill_dns_udp.h"
#include "federation-apiserver/controller_manager.h"
#include "sync/member_client_factory.h"

namespace meridian::apiserver {
namespace {

struct DnsFlags {
  std::string listen;  // "" = no server
  std::vector<std::string> zones;
  std::string client_regions_file;
  int threads = 1;
  uint32_t rrl_rate = 500;
};

DnsFlags& Flags() {
  static DnsFlags flags;
  return flags;
}

void AddFlags(CLI::App& app) {
  DnsFlags& f = Flags();
  app.add_option("--dns-listen", f.listen,
                 "ADDRESS:PORT (loopback) where the dns controller answers DNS over UDP and TCP "
                 "from the DNSRecordSets; port 0 picks one. Off when empty");
  app.add_option("--dns-zone", f.zones,
                 "Zone apex the DNS server is authoritative for (repeatable; required with "
                 "--dns-listen), e.g. global.example.com")
      ->delimiter(',');
  app.add_option("--dns-client-regions", f.client_regions_file,
                 "YAML file mapping client CIDRs to regions for the geo strategy "
                 "(clientRegions: [{cidr, region}], defaultRegion); see dns/README.md");
  app.add_option("--dns-threads", f.threads, "DNS server threads (each with its own socket)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--dns-rrl-rate", f.rrl_rate,
                 "DNS UDP responses per second per client /24 (/56); 0 disables rate limiting")
      ->capture_default_str();
}

// "127.0.0.1:53" or "[::1]:53", loopback only.
StatusOr<std::pair<std::string, uint16_t>> ParseListen(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("--dns-listen \"" + text + "\": " + why);
  };
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return bad("must be ADDRESS:PORT");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::string port_text = text.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos) {
    return bad("the port must be a number from 0 to 65535");
  }
  unsigned long port = std::stoul(port_text);
  if (port > 65535) return bad("the port must be a number from 0 to 65535");
  if (host == "localhost") host = "127.0.0.1";
  auto ip = dns::IpAddress::Parse(host);
  if (!ip) return bad("\"" + host + "\" is not an IP address");
  bool loopback = ip->v6 ? *ip == *dns::IpAddress::Parse("::1") : ip->bytes[0] == 127;
  if (!loopback) return bad("only loopback addresses (127.0.0.0/8, ::1) are served");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

StatusOr<dns::ServingConfig> ServingConfigFromFlags(const DnsFlags& f) {
  dns::ServingConfig config;
  for (const std::string& apex : f.zones) {
    dns::ZoneSpec zone;
    zone.apex = apex;
    config.zones.push_back(zone);
  }
  if (config.zones.empty()) {
    return InvalidArgumentError(
        "--dns-zone is required with --dns-listen (the zone apex to serve)");
  }
  if (!f.client_regions_file.empty()) {
    auto table = dns::LoadClientRegionsFile(f.client_regions_file);
    if (!table.ok()) return table.status().WithContext("--dns-client-regions");
    config.client_regions = table->client_regions;
    config.default_region = table->default_region;
  }
  if (Status st = dns::ValidateServingConfig(config); !st.ok()) {
    return st.WithContext("--dns-zone / --dns-client-regions");
  }
  return config;
}

// The controller, and with --dns-listen the publisher and the server; stopped in reverse.
class RunningDns : public RunningController {
 public:
  std::unique_ptr<dns::DnsController> controller;
  std::unique_ptr<dns::SwappableRecordSource> source;
  std::unique_ptr<dns::RecordSetPublisher> publisher;
  std::unique_ptr<dns::Server> server;

  ~RunningDns() override { Stop(); }
  void Stop() override {
    if (server) server->Stop();
    if (publisher) publisher->Stop();
    if (controller) controller->Stop();
  }
};

StatusOr<std::unique_ptr<RunningController>> StartDns(ControllerContext& c) {
  const DnsFlags& f = Flags();
  auto running = std::make_unique<RunningDns>();
  running->controller = std::make_unique<dns::DnsController>(
      c.objects,
      sync::FencedMemberClientFactory(
          sync::HttpMemberClientFactory(c.objects, std::chrono::seconds(5)), c.member_write_permit),
      dns::DnsControllerOptions{}, c.informers);
  MERIDIAN_RETURN_IF_ERROR(running->controller->Start());
  if (f.listen.empty()) {
    if (!f.zones.empty()) {
      std::cerr << "federation-apiserver: --dns-zone has no effect without --dns-listen\n";
    }
    return std::unique_ptr<RunningController>(std::move(running));
  }

  MERIDIAN_ASSIGN_OR_RETURN(auto endpoint, ParseListen(f.listen));
  MERIDIAN_ASSIGN_OR_RETURN(dns::ServingConfig config, ServingConfigFromFlags(f));
  std::vector<std::string> ignored;
  MERIDIAN_ASSIGN_OR_RETURN(auto empty, dns::BuildServedSnapshot({}, {}, config, 0, &ignored));
  running->source = std::make_unique<dns::SwappableRecordSource>(std::move(empty));
  running->publisher = std::make_unique<dns::RecordSetPublisher>(c.objects, std::move(config),
                                                                 *running->source, c.informers);
  MERIDIAN_RETURN_IF_ERROR(running->publisher->Start());

  dns::ServerOptions options;
  options.address = endpoint.first;
  options.port = endpoint.second;
  options.threads = f.threads;
  options.rate_limit.responses_per_second = f.rrl_rate;
  // The drill controller's DNS probes come from an address of their own, exempt from the
  // rate limit (failover/drill_dns_udp.h says why); on ::1 they cannot be told apart.
  if (const auto server_ip = dns::IpAddress::Parse(options.address); server_ip && !server_ip->v6) {
    options.rate_limit.exempt_clients.push_back(failover::DrillProbeSource(*server_ip));
  }
  auto server = dns::Server::Start(options, *running->source, c.clock);
  if (!server.ok()) return server.status().WithContext("--dns-listen " + f.listen);
  running->server = std::move(server).value();
  c.served_dns = running->source.get();
  c.served_dns_address = options.address;
  c.served_dns_port = running->server->port();
  const std::string shown = options.address.find(':') == std::string::npos
                                ? options.address
                                : "[" + options.address + "]";
  // The readiness line tests and scripts wait for.
  std::cout << "federation-apiserver dns listening on " << shown << ":" << running->server->port()
            << " (udp+tcp)" << std::endl;
  return std::unique_ptr<RunningController>(std::move(running));
}

// The DNS flags mean nothing unless the dns controller runs; given without it they would be
// silently ignored (a DNS server the user asked for would simply not be there), so the
// process refuses to start and names both flags.
Status CheckNotSelected() {
  const DnsFlags& f = Flags();
  std::vector<std::string> given;
  if (!f.listen.empty()) given.push_back("--dns-listen " + f.listen);
  if (!f.zones.empty()) given.push_back("--dns-zone");
  if (!f.client_regions_file.empty()) given.push_back("--dns-client-regions");
  return FlagsWithoutController("dns", given);
}

const ControllerRegistration kDns({
    .name = "dns",
    .description = "writes DNSRecordSets from spec.dns, placement, health and member Services; "
                   "serves them with --dns-listen",
    .start_order = 40,
    .add_flags = AddFlags,
    .start = StartDns,
    .check_not_selected = CheckNotSelected,
});

}  // namespace
}  // namespace meridian::apiserver
