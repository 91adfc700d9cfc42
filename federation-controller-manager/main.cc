// federation-controller-manager: the controllers of federation-apiserver (the same
// registrations, federation-apiserver/controllers/*.cc) in a process of their own, for the
// highly available layout: N federation-apiservers with --controllers none (or just
// member-schemas) and M controller managers, of which one — the holder of a
// coordination.k8s.io/v1 Lease — runs the controllers (apimachinery/leader_election.h).
//
// It works on the apiservers' shared store (etcd) through the same ObjectService and
// admission the apiservers run (FederationApiServer without its transports), so a
// controller's write is checked exactly as it is in the embedded mode; see docs/design.md
// ("Controller manager") for why not through the REST API.
//
// Like kube-controller-manager, a leader that cannot renew its lease before the renew
// deadline exits (status 1) instead of stopping its controllers one by one: a controller
// stuck in a write could otherwise keep writing past the moment another leader starts.
// A leader paused past its lease (SIGSTOP, a stall) is fenced twice when it resumes: its store
// writes by the etcd fence the new leader raised (apimachinery/write_fence.h), its member
// writes by LeaderElector::WritePermit (apimachinery/lease_validity.h), which also makes it
// exit as soon as one is refused.
// CLI11 first: Debian's Boost.Asio (through pplx) uses std::exchange without <utility>.
// clang-format off
#include <CLI/CLI.hpp>
#include <pplx/threadpool.h>
// clang-format on
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>
#include <tuple>

#include "apimachinery/informer.h"
#include "apimachinery/leader_election.h"
#include "federation-apiserver/controller_manager.h"
#include "federation-apiserver/server.h"
#include "observability/flags.h"
#include "observability/logging.h"
#include "observability/metrics_server.h"

namespace {

using meridian::Status;
using meridian::StatusOr;
using std::chrono::milliseconds;

int Fail(const Status& st) {
  std::cerr << "federation-controller-manager: " << st.message() << std::endl;
  return 1;
}

// A Go duration as kube-controller-manager's flags take them: "15s", "500ms", "1m30s",
// "1.5s" (units h, m, s, ms). kInvalidArgument naming the flag otherwise.
StatusOr<milliseconds> ParseDuration(const std::string& flag, const std::string& text) {
  auto bad = [&] {
    return meridian::InvalidArgumentError(flag + ": \"" + text +
                                          "\" is not a duration (e.g. 15s, 500ms, 1m30s)");
  };
  if (text.empty()) return bad();
  double total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    // Digits and at most one '.', read by hand: stod would also take signs, spaces, "inf"
    // and hex.
    const size_t begin = i;
    int dots = 0;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      dots += text[i++] == '.';
    }
    if (i == begin || dots > 1 || i - begin > 12 || text.substr(begin, i - begin) == ".") {
      return bad();
    }
    const double number = std::stod(text.substr(begin, i - begin));
    std::string unit;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) unit += text[i++];
    if (unit == "h")
      total_ms += number * 3600'000;
    else if (unit == "m")
      total_ms += number * 60'000;
    else if (unit == "s")
      total_ms += number * 1000;
    else if (unit == "ms")
      total_ms += number;
    else
      return bad();
    if (total_ms > 1e15) return bad();  // ~31,000 years: a typo, and beyond int64 soon after
  }
  return milliseconds(static_cast<int64_t>(total_ms + 0.5));
}

// kube-controller-manager's default identity: the host name and a random suffix, so two
// candidates on one host (or a restarted one) never share an identity.
std::string DefaultIdentity() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  std::random_device rd;
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%08x%08x", rd(), rd());
  return std::string(host) + "_" + suffix;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Meridian federation-controller-manager: the federation's controllers, leader-elected, "
      "on the store the federation-apiservers share"};
  meridian::apiserver::ServerOptions options;
  options.storage = "";
  std::string controllers = "all";
  size_t http_threads = 8;
  bool leader_elect = true;
  meridian::apimachinery::LeaderElectionConfig election;
  // Faster than kube-controller-manager's 15s/10s/2s: a region's failover must not wait 15 s
  // for a new manager (issue 13 asks for a median takeover under 6 s). The cost: a leader
  // that cannot reach etcd for 3 s gives up, so a slow etcd means more handovers.
  std::string lease_duration = "4s", renew_deadline = "3s", retry_period = "1s";
  app.add_option("--storage", options.storage,
                 "The federation-apiservers' storage: etcd:URL[,URL...] (a sqlite: store "
                 "belongs to one federation-apiserver, which runs its controllers itself)")
      ->required();
  app.add_option("--etcd-cafile", options.etcd_ca_file, "CA bundle to verify https etcd members");
  app.add_option("--etcd-certfile", options.etcd_cert_file, "Client certificate for etcd (PEM)");
  app.add_option("--etcd-keyfile", options.etcd_key_file, "Client key for etcd (PEM)");
  app.add_option("--encryption-provider-config", options.encryption_provider_config,
                 "The apiservers' EncryptionConfiguration: controllers read member credentials "
                 "(Secrets)");
  app.add_option("--leader-elect", leader_elect,
                 "Run the controllers only while holding the Lease (one active manager among "
                 "several); false runs them at once")
      ->capture_default_str();
  app.add_option("--leader-elect-lease-duration", lease_duration,
                 "How long a standby waits, after it last saw the leader renew, before taking "
                 "over")
      ->capture_default_str();
  app.add_option("--leader-elect-renew-deadline", renew_deadline,
                 "How long the leader keeps failing to renew before it gives up (exits); must "
                 "be less than the lease duration")
      ->capture_default_str();
  app.add_option("--leader-elect-retry-period", retry_period,
                 "Time between two attempts to acquire or renew")
      ->capture_default_str();
  app.add_option("--leader-elect-resource-namespace", election.lease_namespace,
                 "Namespace of the Lease")
      ->capture_default_str();
  app.add_option("--leader-elect-resource-name", election.lease_name, "Name of the Lease")
      ->capture_default_str();
  app.add_option("--leader-elect-identity", election.identity,
                 "This candidate's holderIdentity (default: host name and a random suffix)");
  meridian::observability::LogFlags log_flags;
  meridian::observability::AddLogFlags(app, &log_flags);
  app.add_option("--http-threads", http_threads, "Threads of cpprestsdk's client pool")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  // Off unless given; kube-controller-manager serves its metrics on 10257.
  meridian::observability::MetricsServerOptions metrics;
  meridian::observability::AddMetricsListenFlags(app, &metrics, "127.0.0.1:10257");
  std::string known;
  for (const auto* d : meridian::apiserver::RegisteredControllers()) {
    known += "\n  " + d->name + ": " + d->description;
    if (d->add_flags) d->add_flags(app);
  }
  app.add_option(
         "--controllers", controllers,
         "Controllers to run: all (or *), or a comma list of names, * and -name. Known:" + known)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Block the stop signals before any thread starts (cpprestsdk's pool starts its threads
  // right away): a thread that does not block them would die of SIGTERM instead of letting
  // sigwait below stop the controllers and release the lease.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  crossplat::threadpool::initialize_with_threads(http_threads);
  if (meridian::Status logging = meridian::observability::ConfigureLogging(
          "federation-controller-manager", log_flags.format, log_flags.level, log_flags.verbosity);
      !logging.ok()) {
    return Fail(logging);
  }

  if (options.storage.rfind("etcd:", 0) != 0) {
    // SqliteStore tells only its own process's watchers about a write: a second process on
    // the file would never hear of the apiserver's writes.
    return Fail(meridian::InvalidArgumentError(
        "--storage " + options.storage +
        ": the controller manager needs the etcd store the federation-apiservers share "
        "(etcd:URL,...); with SQLite, run the controllers inside federation-apiserver "
        "(--controllers all)"));
  }
  auto selected = meridian::apiserver::SelectControllers(controllers);
  if (!selected.ok()) return Fail(selected.status());
  if (selected->empty()) {
    return Fail(
        meridian::InvalidArgumentError("--controllers " + controllers + ": selects no controller"));
  }
  for (auto [flag, text, out] :
       {std::tuple{"--leader-elect-lease-duration", &lease_duration, &election.lease_duration},
        std::tuple{"--leader-elect-renew-deadline", &renew_deadline, &election.renew_deadline},
        std::tuple{"--leader-elect-retry-period", &retry_period, &election.retry_period}}) {
    StatusOr<milliseconds> parsed = ParseDuration(flag, *text);
    if (!parsed.ok()) return Fail(parsed.status());
    *out = *parsed;
  }
  if (election.identity.empty()) election.identity = DefaultIdentity();
  if (leader_elect) {
    if (Status st = meridian::apimachinery::ValidateLeaderElectionConfig(election); !st.ok()) {
      return Fail(st);
    }
  }

  // The apiservers' object layer without its transports: the same resources, encryption
  // and admission, so controllers' writes are checked as they are in the embedded mode.
  // Compaction is the apiservers' job.
  options.storage_compaction_interval = milliseconds(0);
  auto server = meridian::apiserver::FederationApiServer::Create(options, meridian::RealClock());
  if (!server.ok()) return Fail(server.status());

  // Metrics are served by standbys too (leader or not: workqueue_* and the fleet gauges
  // appear once this process leads).
  std::unique_ptr<meridian::apimachinery::rest::HttpServer> metrics_server;
  if (!metrics.listen.empty()) {
    auto started = meridian::observability::StartMetricsServer(metrics, "--metrics-listen");
    if (!started.ok()) return Fail(started.status());
    metrics_server = std::move(started).value();
    std::cout << "federation-controller-manager metrics on " << metrics_server->url() << "/metrics"
              << std::endl;
  }

  // One informer per kind for all controllers (declared first: it outlives them).
  meridian::apimachinery::SharedInformerFactory informers((*server)->objects());
  meridian::apiserver::ControllerManager controller_manager;
  meridian::apiserver::ControllerContext controller_context{
      (*server)->objects(), meridian::RealClock(), &(*server)->member_schemas()};
  controller_context.informers = &informers;

  std::mutex mu;  // guards the two below
  std::condition_variable changed;
  bool leading = !leader_elect;
  bool stopping = false;
  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    spdlog::info("signal {}: shutting down", sig);
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
    changed.notify_all();
  });

  std::unique_ptr<meridian::apimachinery::LeaderElector> elector;
  if (leader_elect) {
    meridian::apimachinery::LeaderElector::Callbacks callbacks;
    callbacks.on_started_leading = [&] {
      // Fence out the previous leader before any controller writes (apimachinery/
      // write_fence.h): should it wake up from a pause, its writes are refused.
      if (meridian::apimachinery::WriteFencedStore* fence = (*server)->write_fence()) {
        StatusOr<int64_t> raised = fence->RaiseFence(
            election.lease_namespace + "/" + election.lease_name, election.identity);
        if (!raised.ok()) {
          spdlog::error("leading, but raising the write fence failed: {}; exiting",
                        raised.status().message());
          spdlog::default_logger()->flush();
          std::_Exit(1);
        }
        spdlog::info("leading as {}: write fence raised at revision {}", election.identity,
                     *raised);
      }
      std::lock_guard<std::mutex> lock(mu);
      leading = true;
      changed.notify_all();
    };
    callbacks.on_stopped_leading = [&] {
      // kube-controller-manager's "leaderelection lost": exit rather than race the next leader.
      spdlog::error("leader election lost: could not renew lease {}/{} within {} ms; exiting",
                    election.lease_namespace, election.lease_name, election.renew_deadline.count());
      spdlog::default_logger()->flush();
      std::cout << std::flush;
      std::_Exit(1);
    };
    callbacks.on_new_leader = [&](const std::string& holder) {
      if (holder != election.identity) {
        spdlog::info("lease {}/{} held by {}", election.lease_namespace, election.lease_name,
                     holder.empty() ? "nobody" : holder);
      }
    };
    elector = std::make_unique<meridian::apimachinery::LeaderElector>(
        (*server)->objects(), meridian::RealClock(), election, std::move(callbacks));
    // The store's writes are fenced in etcd (above); the members' APIs take no fencing token,
    // so each member write first checks that the lease is still valid on this process's
    // monotonic clock: a leader resumed from a pause past its lease writes nothing to them.
    controller_context.member_write_permit = [&elector] { return elector->WritePermit(); };
    elector->Start();
  }
  // The readiness line tests and scripts wait for.
  std::cout << "federation-controller-manager running as " << election.identity << std::endl;

  std::unique_lock<std::mutex> lock(mu);
  changed.wait(lock, [&] { return leading || stopping; });
  if (!stopping) {
    lock.unlock();
    if (Status st = controller_manager.StartAll(*selected, controller_context); !st.ok()) {
      Fail(st);
      std::_Exit(1);  // the elector and signal threads are still running
    }
    std::string running;
    for (const std::string& name : controller_manager.running()) running += " " + name;
    std::cout << "federation-controller-manager leading as " << election.identity
              << "; controllers:" << running << std::endl;
    lock.lock();
    changed.wait(lock, [&] { return stopping; });
  }
  lock.unlock();
  signals.join();
  // Controllers first, then the lease: nobody may take over while they still write.
  controller_manager.StopAll();
  if (elector) elector->Stop(/*release=*/true);
  if (metrics_server) metrics_server->Stop();
  return 0;
}
