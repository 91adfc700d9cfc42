// membersim: simulated member Kubernetes clusters in one process.
//
//   membersim --config FILE [--listen 127.0.0.1:PORT]     serve (PORT 0 picks one; the first
//                                                         stdout line says where)
//   membersim ctl --server URL status|log|fail-zone C Z|heal-zone C Z|partition C [--mode M]
//                 |heal C|latency C MS|fail-region R [--mode M]|heal-region R
//
// Logs go to stderr (stdout carries only the parsable lines), as text or JSON lines
// (--log-format text|json, --log-level or -v N; observability/logging.h).
#include <pplx/threadpool.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <semaphore>

#include "common/log_fields.h"
#include "common/open_file_limit.h"
#include "membersim/config.h"
#include "membersim/ctl.h"
#include "membersim/server.h"
#include "membersim/simulator.h"
#include "observability/flags.h"
#include "observability/logging.h"

namespace {

std::binary_semaphore g_stop{0};
extern "C" void OnSignal(int) { g_stop.release(); }

int Serve(const std::string& config_path, const std::string& listen, int history, int http_threads,
          const std::string& tls_cert, const std::string& tls_key) {
  using namespace meridian::membersim;
  auto config = LoadConfigFile(config_path);
  if (!config.ok()) {
    std::cerr << "membersim: " << config.status().message() << std::endl;
    return 2;
  }
  // Held (partitioned) and delayed requests are timers, not threads (server.h), so a small
  // pool serves every cluster; more threads only add context switches on few cores.
  crossplat::threadpool::initialize_with_threads(http_threads);
  Simulator::Options so;
  so.history_limit = static_cast<size_t>(history);
  Simulator sim(std::move(config).value(), meridian::RealClock(), so);
  const auto started = std::chrono::steady_clock::now();
  meridian::Status st = sim.StartClusters();
  if (!st.ok()) {
    std::cerr << "membersim: " << st.message() << std::endl;
    return st.code() == meridian::StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (sim.seeded_objects() > 0) {
    spdlog::info(meridian::LogFields(
        "seeded objects",
        {{"objects", std::to_string(sim.seeded_objects())},
         {"seconds", std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count())}}));
  }
  // Nodes and namespaces exist before anyone is told where to connect: `kubectl get nodes`
  // right after the "listening" line lists them all.
  sim.RunUntilIdle(1000);
  sim.Start();
  MembersimServer::Options opts;
  opts.listen = listen;
  opts.tls_cert_file = tls_cert;
  opts.tls_key_file = tls_key;
  MembersimServer server(sim, meridian::RealClock(), opts);
  st = server.Start();
  if (!st.ok()) {
    std::cerr << "membersim: " << st.message() << std::endl;
    return st.code() == meridian::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::cout << "membersim listening on " << server.url() << std::endl;
  for (const auto& c : sim.clusters()) {
    std::string dedicated = server.DedicatedUrl(c->spec().name);
    spdlog::info(meridian::LogFields("serving cluster",
                                     {{"member", c->spec().name},
                                      {"region", c->spec().region},
                                      {"url", server.url() + "/clusters/" + c->spec().name},
                                      {"dedicated_url", dedicated}}));
    if (!dedicated.empty()) std::cout << "membersim cluster " << c->spec().name << " on " << dedicated << std::endl;
  }
  std::cout.flush();
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  g_stop.acquire();
  spdlog::info("shutting down");
  server.Stop();
  sim.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"membersim: simulated member Kubernetes clusters"};
  app.require_subcommand(0, 1);
  std::string config_path, listen = "127.0.0.1:0";
  int history = 1000;
  int http_threads = 16;
  app.add_option("--config", config_path, "cluster topology (YAML)");
  app.add_option("--listen", listen, "loopback HOST:PORT to serve on (port 0: pick one)");
  std::string tls_cert, tls_key;
  app.add_option("--tls-cert-file", tls_cert,
                 "PEM certificate: the shared listener serves HTTPS (with --tls-private-key-file)");
  app.add_option("--tls-private-key-file", tls_key, "PEM key of --tls-cert-file");
  app.add_option("--watch-history", history, "writes kept per cluster for watch resume (older: 410 Gone)")
      ->check(CLI::Range(10, 1000000));
  app.add_option("--http-threads", http_threads, "HTTP worker threads shared by all clusters (default 16)")
      ->check(CLI::Range(2, 1024));

  meridian::observability::LogFlags log_flags;
  meridian::observability::AddLogFlags(app, &log_flags);

  meridian::membersim::CtlCommand cmd;
  CLI::App* ctl = app.add_subcommand("ctl", "failure injection and status via the admin API");
  ctl->add_option("--server", cmd.server, "membersim URL, e.g. http://127.0.0.1:8080")->required();
  ctl->add_option("--certificate-authority", cmd.certificate_authority,
                  "PEM CA file to verify an https:// membersim with");
  ctl->add_option("--mode", cmd.mode, "partition mode: hang (no answer) or refuse");
  ctl->add_option("verb", cmd.verb,
                  "status | log | fail-zone CLUSTER ZONE | heal-zone CLUSTER ZONE | partition CLUSTER | "
                  "heal CLUSTER | latency CLUSTER MS | fail-region REGION | heal-region REGION")
      ->required();
  ctl->add_option("args", cmd.args, "arguments of the command");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  // A simulated fleet serves many watches and connections (common/open_file_limit.h).
  if (const meridian::OpenFileLimit fds = meridian::RaiseOpenFileLimit(); !fds.ok) {
    spdlog::warn("could not raise the open-file limit (soft {})", fds.before);
  }
  // Checked before anything starts: a bad value is refused naming its flag.
  if (meridian::Status logging = meridian::observability::ConfigureLogging(
          "membersim", log_flags.format, log_flags.level, log_flags.verbosity,
          meridian::observability::LogDestination::kStderr);
      !logging.ok()) {
    std::cerr << "membersim: " << logging.message() << std::endl;
    return 2;
  }
  if (ctl->parsed()) {
    auto out = meridian::membersim::RunCtl(cmd);
    if (!out.ok()) {
      std::cerr << "membersim ctl: " << out.status().message() << std::endl;
      return out.status().code() == meridian::StatusCode::kInvalidArgument ? 2 : 1;
    }
    std::cout << *out << std::endl;
    return 0;
  }
  if (config_path.empty()) {
    std::cerr << "membersim: --config FILE is required (see --help)" << std::endl;
    return 2;
  }
  return Serve(config_path, listen, history, http_threads, tls_cert, tls_key);
}
