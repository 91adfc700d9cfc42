// meridian-dns: the authoritative DNS server serving a static zone file.
//
//   meridian-dns --config zones.yaml --listen 127.0.0.1:5353 [--threads 2] [--rrl-rate 0]
//   meridian-dns --config zones.yaml --check      # validate only; errors as FILE:LINE:COL: field:
//   why
//   --metrics-listen 127.0.0.1:9153 serves Prometheus /metrics (observability/; HTTPS with client
//   certificates via --metrics-listen-tls-cert-file/-tls-private-key-file/-client-ca-file); off
//   unless given. Prints "meridian-dns metrics on http://HOST:PORT/metrics" once serving.
//
// Prints "meridian-dns listening on ADDRESS:PORT (udp+tcp)" once serving (with the chosen port
// when PORT is 0). SIGHUP reloads the file: a good file is published atomically and
// "meridian-dns reloaded generation N" is printed; a bad one is reported on stderr and the
// previous data keeps being served. SIGINT/SIGTERM stop the server.
//
// Logs (a reload, a failed reload, the counters at exit) go to stderr as text or JSON lines:
// --log-format text|json, --log-level or -v N (observability/logging.h). stdout keeps only
// the lines above, which scripts and tests read.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <functional>
#include <iostream>

#include "common/clock.h"
#include "common/log_fields.h"
#include "dns/query_metrics.h"
#include "dns/server.h"
#include "dns/static_zone.h"
#include "observability/flags.h"
#include "observability/logging.h"
#include "observability/metrics_server.h"

namespace {

// "127.0.0.1:53", "[::1]:53".
bool SplitHostPort(const std::string& text, std::string* host, uint16_t* port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  *host = text.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  try {
    size_t used = 0;
    unsigned long p = std::stoul(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || p > 65535) return false;
    *port = static_cast<uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return !host->empty();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace meridian;
  CLI::App app{"Meridian authoritative DNS server (static zone file)"};
  std::string config;
  std::string listen = "127.0.0.1:53";
  dns::ServerOptions options;
  int idle_ms = 10000;
  app.add_option("--config", config, "zone file (YAML, see dns/static_zone.h)")->required();
  app.add_option("--listen", listen, "ADDRESS:PORT for UDP and TCP; port 0 picks a free one");
  app.add_option("--threads", options.threads, "worker threads (each with its own socket)")
      ->check(CLI::Range(1, 64));
  app.add_option("--rrl-rate", options.rate_limit.responses_per_second,
                 "UDP responses per second per client /24 (/56); 0 disables rate limiting");
  app.add_option("--rrl-burst", options.rate_limit.burst,
                 "rate limiter bucket size (default: the rate)");
  app.add_option("--rrl-slip", options.rate_limit.slip,
                 "send every Nth limited response truncated (0: never)");
  app.add_option("--tcp-idle-ms", idle_ms, "close TCP connections idle this long")
      ->check(CLI::Range(1, 3600000));
  app.add_option("--tcp-max-connections", options.max_tcp_connections_per_thread,
                 "TCP connections per worker thread; at the cap the least recently active one "
                 "is closed to admit a new one")
      ->check(CLI::Range(1, 65536));
  app.add_option("--tcp-max-per-client", options.max_tcp_connections_per_client,
                 "TCP connections one client address may hold per worker thread")
      ->check(CLI::Range(1, 65536));
  int64_t pressure_idle_ms = options.tcp_idle_timeout_under_pressure.count();
  app.add_option("--tcp-idle-under-pressure-ms", pressure_idle_ms,
                 "idle timeout once a worker holds more than half its TCP connections")
      ->check(CLI::Range(1, 3600000));
  // Off unless given (a fixed default port would collide between instances on one host);
  // plain HTTP only on loopback, elsewhere HTTPS with client certificates.
  meridian::observability::MetricsServerOptions metrics;
  meridian::observability::AddMetricsListenFlags(app, &metrics, "127.0.0.1:9153");
  observability::LogFlags log_flags;
  observability::AddLogFlags(app, &log_flags);
  bool check_only = false;
  app.add_flag("--check", check_only, "only load and validate the config, then exit (0 if valid)");
  // Per client /24 (/56) over all names: high enough for a busy resolver, low enough that a
  // spoofed victim gets at most ~0.6 MB/s of answers from us (half of the excess slips as TC).
  options.rate_limit.responses_per_second = 500;
  CLI11_PARSE(app, argc, argv);
  options.tcp_idle_timeout = std::chrono::milliseconds(idle_ms);
  options.tcp_idle_timeout_under_pressure = std::chrono::milliseconds(pressure_idle_ms);
  if (Status logging = observability::ConfigureLogging("meridian-dns", log_flags.format,
                                                       log_flags.level, log_flags.verbosity,
                                                       observability::LogDestination::kStderr);
      !logging.ok()) {
    std::cerr << "meridian-dns: " << logging.message() << "\n";
    return 2;
  }

  if (!SplitHostPort(listen, &options.address, &options.port)) {
    std::cerr << "meridian-dns: --listen must be ADDRESS:PORT, got \"" << listen << "\"\n";
    return 2;
  }
  auto snapshot = dns::LoadStaticZoneFile(config);
  if (!snapshot.ok()) {
    std::cerr << "meridian-dns: " << snapshot.status().message() << "\n";
    return 1;
  }
  if (check_only) {
    std::cout << "meridian-dns: " << config << " is valid (" << (*snapshot)->zones().size()
              << " zones, " << (*snapshot)->regions().size() << " regions)" << std::endl;
    return 0;
  }
  // Signal handlers first, so that a SIGHUP right after "listening" never kills the process.
  boost::asio::io_context signals_loop;
  boost::asio::signal_set stop(signals_loop, SIGINT, SIGTERM);
  boost::asio::signal_set hup(signals_loop, SIGHUP);
  dns::SwappableRecordSource source(*snapshot);
  auto server = dns::Server::Start(options, source, RealClock());
  if (!server.ok()) {
    std::cerr << "meridian-dns: " << server.status().ToString() << "\n";
    return 1;
  }
  const std::string shown = options.address.find(':') == std::string::npos
                                ? options.address
                                : "[" + options.address + "]";
  std::unique_ptr<observability::CollectorRegistration> server_metrics =
      dns::CollectServerCounters(**server);
  std::unique_ptr<apimachinery::rest::HttpServer> metrics_server;
  if (!metrics.listen.empty()) {
    auto started = observability::StartMetricsServer(metrics, "--metrics-listen");
    if (!started.ok()) {
      std::cerr << "meridian-dns: " << started.status().message() << "\n";
      return started.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
    }
    metrics_server = std::move(started).value();
  }
  std::cout << "meridian-dns listening on " << shown << ":" << (*server)->port() << " (udp+tcp)"
            << std::endl;
  if (metrics_server) {
    std::cout << "meridian-dns metrics on " << metrics_server->url() << "/metrics" << std::endl;
  }

  stop.async_wait([&](const boost::system::error_code&, int) { signals_loop.stop(); });
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      auto next = dns::LoadStaticZoneFile(config);
      if (next.ok()) {
        source.Publish(*next);
        std::cout << "meridian-dns reloaded generation " << source.Generation() << std::endl;
        spdlog::info(LogFields("reloaded", {{"config", config},
                                            {"generation", std::to_string(source.Generation())},
                                            {"zones", std::to_string((*next)->zones().size())}}));
      } else {
        spdlog::error(LogFields("reload failed, still serving the previous data",
                                {{"config", config},
                                 {"generation", std::to_string(source.Generation())},
                                 {"error", next.status().message()}}));
      }
      wait_hup();
    });
  };
  wait_hup();
  signals_loop.run();
  if (metrics_server) metrics_server->Stop();
  (*server)->Stop();
  const auto& c = (*server)->counters();
  auto n = [](uint64_t v) { return std::to_string(v); };
  spdlog::info(LogFields("stopped", {{"udp", n(c.udp_queries)},
                                     {"tcp", n(c.tcp_queries)},
                                     {"formerr", n(c.formerr)},
                                     {"truncated", n(c.truncated)},
                                     {"rrl_dropped", n(c.rate_limited_dropped)},
                                     {"rrl_slipped", n(c.rate_limited_slipped)},
                                     {"tcp_evicted", n(c.tcp_evicted)},
                                     {"tcp_refused_per_client", n(c.tcp_refused_per_client)}}));
  return 0;
}
