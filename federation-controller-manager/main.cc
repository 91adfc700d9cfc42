// federation-controller-manager: the controllers of federation-apiserver (the same
// registrations, federation-apiserver/controllers/*.cc) in a process of their own, for the
// highly available layout: N federation-apiservers with --controllers none (or just
// member-schemas) and M controller managers, of which one — the holder of a
// coordination.k8s.io/v1 Lease — runs the controllers (apimachinery/leader_election.h).
//
// Two ways to reach the federation (exactly one of the flags):
//   --kubeconfig FILE (recommended): through a federation-apiserver's REST API, like
//     kube-controller-manager. The controllers' ObjectService sits on a RestStore
//     (rest_store.h) over the kubeconfig's server and credentials; the API runs admission,
//     RBAC, encryption and its watch cache for them, and the Lease is an ordinary
//     coordination.k8s.io/v1 object of the API. Works with any storage behind the API
//     (SQLite too). Store writes are fenced by the lease check below and, on the server,
//     by the fencing token every controller write carries (apimachinery/fencing_token.h:
//     the Lease's holder and leaseTransitions as this process won it; a stale term's write
//     is 409). Always leader-elected: the server requires the token of the manager's user.
//   --storage etcd:URL,...: directly on the apiservers' shared etcd, through the same
//     ObjectService and admission the apiservers run (FederationApiServer without its
//     transports), with the etcd write fence.
// See docs/design.md ("Controller manager").
//
// Like kube-controller-manager, a leader that cannot renew its lease before the renew
// deadline exits (status 1) instead of stopping its controllers one by one: a controller
// stuck in a write could otherwise keep writing past the moment another leader starts.
// A leader paused past its lease (SIGSTOP, a stall) is fenced twice when it resumes: its store
// writes by the etcd fence the new leader raised (apimachinery/write_fence.h) or, through the
// API, by the server's check of its fencing token (federation-apiserver/leader_fencing.h), its
// member writes by LeaderElector::WritePermit (apimachinery/lease_validity.h), which also makes it
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
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <tuple>

#include "common/open_file_limit.h"
#include "apimachinery/fencing_token.h"
#include "apimachinery/informer.h"
#include "apimachinery/leader_election.h"
#include "federation-apiserver/controller_manager.h"
#include "federation-apiserver/crd/definition.h"
#include "federation-apiserver/server.h"
#include "federation-controller-manager/rest_store.h"
#include "observability/flags.h"
#include "observability/logging.h"
#include "observability/metrics_server.h"
#include "sync/http_member_client.h"
#include "sync/kubeconfig.h"

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

// What the controllers and the elector work on: the etcd store the apiservers share
// (--storage), or a federation-apiserver's API (--kubeconfig).
struct Backend {
  // --storage: the apiservers' object layer without its transports.
  std::unique_ptr<meridian::apiserver::FederationApiServer> server;
  // --kubeconfig: two clients (connection pools) under two RestStores. The controllers'
  // asks the write permit before every write and sends the fencing token with it; the
  // elector's does neither (it must renew, and take over with a term not yet written).
  meridian::apimachinery::ResourceRegistry registry;
  std::unique_ptr<meridian::apimachinery::Store> controller_store, elector_store;
  std::unique_ptr<meridian::apimachinery::ObjectService> controller_objects, elector_objects;
  meridian::apiserver::MemberSchemas member_schemas;
  // --kubeconfig: the custom kinds the API serves, registered in `registry` as the API's
  // CustomResourceDefinitions come and go (followed through the API; writes nothing), so
  // the binding and propagation controllers see them as the embedded ones do.
  std::unique_ptr<meridian::apiserver::crd::CustomResourceRegistrar> custom_kinds;
  // --kubeconfig: the header value of this process's term (apimachinery/fencing_token.h),
  // set when it starts leading, before its controllers start; "" until then (nothing sent).
  std::mutex token_mu;
  std::string fencing_token;  // guarded by token_mu

  meridian::apimachinery::ObjectService& controllers() {
    return server ? server->objects() : *controller_objects;
  }
  meridian::apimachinery::ObjectService& elector() {
    return server ? server->objects() : *elector_objects;
  }
  meridian::apiserver::MemberSchemas& schemas() {
    return server ? server->member_schemas() : member_schemas;
  }
  meridian::apimachinery::WriteFencedStore* fence() {
    return server ? server->write_fence() : nullptr;
  }
};

// The --kubeconfig backend: the kubeconfig's current context, checked by one request (a GET
// of the manager's Lease, which its built-in role allows) so a wrong server or credential is
// a startup error, not a manager that never leads.
Status OpenApiBackend(const std::string& kubeconfig, std::chrono::milliseconds timeout,
                      const meridian::apimachinery::LeaderElectionConfig& election,
                      std::function<Status()> write_permit, Backend* out) {
  const std::string flag = "--kubeconfig " + kubeconfig;
  StatusOr<meridian::sync::KubeconfigSelection> selected =
      meridian::sync::LoadKubeconfig(kubeconfig, "");
  if (!selected.ok()) return selected.status().WithContext(flag);
  meridian::sync::MemberEndpoint endpoint = selected->endpoint;
  endpoint.name = "federation-apiserver";
  endpoint.timeout = timeout;
  auto elector_client = meridian::sync::HttpMemberClient::Create(endpoint);
  if (!elector_client.ok()) return elector_client.status().WithContext(flag);
  meridian::sync::HttpMemberClientOptions controller_client_options;
  controller_client_options.write_headers = [out]() -> meridian::sync::HttpHeaders {
    std::lock_guard lock(out->token_mu);
    return {{"Meridian-Fencing-Token", out->fencing_token}};
  };
  auto controller_client =
      meridian::sync::HttpMemberClient::Create(endpoint, std::move(controller_client_options));
  if (!controller_client.ok()) return controller_client.status().WithContext(flag);
  if (Status st = meridian::apiserver::AddServedResources(&out->registry); !st.ok()) return st;
  if (Status st = out->registry.Add(meridian::apiserver::crd::DefinitionResourceInfo()); !st.ok()) {
    return st;
  }
  meridian::controllermanager::RestStoreOptions options;
  options.watch_start_timeout = timeout;
  auto elector_store = meridian::controllermanager::NewRestStore(
      std::shared_ptr<meridian::sync::MemberClient>(std::move(elector_client).value()),
      out->registry, options);
  if (!elector_store.ok()) return elector_store.status();
  options.write_permit = std::move(write_permit);
  auto controller_store = meridian::controllermanager::NewRestStore(
      std::shared_ptr<meridian::sync::MemberClient>(std::move(controller_client).value()),
      out->registry, options);
  if (!controller_store.ok()) return controller_store.status();
  out->elector_store = std::move(elector_store).value();
  out->controller_store = std::move(controller_store).value();
  // Its Lease: what the manager must be able to read in any case (absent is fine).
  auto probe = out->elector_store->Get(
      {{"coordination.k8s.io", "leases"}, election.lease_namespace, election.lease_name});
  if (!probe.ok() && probe.status().code() != meridian::StatusCode::kNotFound) {
    return probe.status().WithContext(flag + " (server " + endpoint.server + ")");
  }
  // No admission here: the API admits every write (and would see a second copy's reads).
  out->controller_objects = std::make_unique<meridian::apimachinery::ObjectService>(
      *out->controller_store, meridian::RealClock(), out->registry);
  out->elector_objects = std::make_unique<meridian::apimachinery::ObjectService>(
      *out->elector_store, meridian::RealClock(), out->registry);
  // Before any controller starts: the CRDs stored now are registered by Start itself. On the
  // elector's store: it only reads (a standby follows too, ready when it leads).
  out->custom_kinds = std::make_unique<meridian::apiserver::crd::CustomResourceRegistrar>(
      *out->elector_objects, out->registry, meridian::RealClock(),
      meridian::apiserver::crd::CustomResourceRegistrar::Mode::kFollow);
  if (Status st = out->custom_kinds->Start(); !st.ok()) {
    return st.WithContext(flag + ": following the federation's CustomResourceDefinitions");
  }
  return Status::Ok();
}

// Through the API: the term this process just won, read back from the Lease (the elector's
// store, which sends no token), becomes the token of the controllers' writes. A Lease that
// names another holder already is an error: this process is not the leader after all.
Status AdoptFencingToken(const meridian::apimachinery::LeaderElectionConfig& election,
                         Backend* backend) {
  const std::string lease = election.lease_namespace + "/" + election.lease_name;
  StatusOr<nlohmann::json> got = backend->elector_store->Get(
      {{"coordination.k8s.io", "leases"}, election.lease_namespace, election.lease_name});
  if (!got.ok()) return got.status().WithContext("reading lease " + lease + " for its term");
  StatusOr<meridian::apimachinery::FencingToken> token =
      meridian::apimachinery::FencingTokenOf(*got);
  if (!token.ok()) return token.status();
  if (token->holder != election.identity) {
    return meridian::FailedPreconditionError("lease " + lease + " is held by " + token->holder +
                                             " already");
  }
  std::lock_guard lock(backend->token_mu);
  backend->fencing_token = meridian::apimachinery::FormatFencingToken(*token);
  spdlog::info("leading as {}: fencing token for writes through the API: {}", election.identity,
               backend->fencing_token);
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Meridian federation-controller-manager: the federation's controllers, leader-elected, "
      "through a federation-apiserver's API (--kubeconfig, recommended) or on the etcd store "
      "the federation-apiservers share (--storage)"};
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
  std::string kubeconfig;
  std::string api_timeout = "10s";
  auto* kubeconfig_flag = app.add_option(
      "--kubeconfig", kubeconfig,
      "Recommended: reach the federation through a federation-apiserver's API, with this "
      "kubeconfig's current context (server, CA, token or client certificate); the Lease is "
      "a coordination.k8s.io/v1 object of that API. Works whatever the API stores in "
      "(SQLite or etcd)");
  auto* api_timeout_flag =
      app.add_option("--api-timeout", api_timeout,
                     "With --kubeconfig: upper bound of every API call (connect, request, "
                     "response)")
          ->capture_default_str();
  auto* storage_flag =
      app.add_option("--storage", options.storage,
                     "Instead of --kubeconfig: the federation-apiservers' etcd, "
                     "etcd:URL[,URL...] (a sqlite: store belongs to one federation-apiserver: "
                     "use --kubeconfig, or its own --controllers)");
  auto* etcd_ca = app.add_option("--etcd-cafile", options.etcd_ca_file,
                                 "With --storage: CA bundle to verify https etcd members");
  auto* etcd_cert = app.add_option("--etcd-certfile", options.etcd_cert_file,
                                   "With --storage: client certificate for etcd (PEM)");
  auto* etcd_key = app.add_option("--etcd-keyfile", options.etcd_key_file,
                                  "With --storage: client key for etcd (PEM)");
  auto* encryption = app.add_option(
      "--encryption-provider-config", options.encryption_provider_config,
      "With --storage: the apiservers' EncryptionConfiguration (controllers read member "
      "credentials, Secrets; through the API they arrive decrypted)");
  storage_flag->excludes(kubeconfig_flag);
  for (CLI::Option* etcd_only : {etcd_ca, etcd_cert, etcd_key, encryption}) {
    etcd_only->excludes(kubeconfig_flag);
  }
  api_timeout_flag->excludes(storage_flag);
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
  // Many members mean many descriptors (common/open_file_limit.h).
  if (const meridian::OpenFileLimit fds = meridian::RaiseOpenFileLimit(); !fds.ok) {
    spdlog::warn("could not raise the open-file limit (soft {}): with many members, "
                 "connections may fail with \"Too many open files\"", fds.before);
  }
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

  if (kubeconfig.empty() && options.storage.empty()) {
    return Fail(meridian::InvalidArgumentError(
        "--kubeconfig FILE (a federation-apiserver's API, recommended) or --storage "
        "etcd:URL[,URL...] is required"));
  }
  if (kubeconfig.empty() && options.storage.rfind("etcd:", 0) != 0) {
    // SqliteStore tells only its own process's watchers about a write: a second process on
    // the file would never hear of the apiserver's writes.
    return Fail(meridian::InvalidArgumentError(
        "--storage " + options.storage +
        ": the controller manager needs the etcd store the federation-apiservers share "
        "(etcd:URL,...); with SQLite, use --kubeconfig (the API), or run the controllers "
        "inside federation-apiserver (--controllers all)"));
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
  if (!kubeconfig.empty() && !leader_elect) {
    // The API requires this user's writes to carry its term's fencing token (federation-
    // apiserver/leader_fencing.h), and a process that does not elect has no term.
    return Fail(meridian::InvalidArgumentError(
        "--leader-elect=false: with --kubeconfig the controller manager is always leader-elected "
        "(the federation-apiserver fences its writes by the Lease's term); a single manager "
        "simply holds the Lease"));
  }
  if (leader_elect) {
    if (Status st = meridian::apimachinery::ValidateLeaderElectionConfig(election); !st.ok()) {
      return Fail(st);
    }
  }

  // Declared before the backend: the controllers' store asks it before every write.
  std::unique_ptr<meridian::apimachinery::LeaderElector> elector;
  Backend backend;
  if (!kubeconfig.empty()) {
    StatusOr<milliseconds> timeout = ParseDuration("--api-timeout", api_timeout);
    if (!timeout.ok()) return Fail(timeout.status());
    if (timeout->count() <= 0) {
      return Fail(meridian::InvalidArgumentError("--api-timeout: must be positive"));
    }
    // A leader fenced by its lease (LeaderElector::WritePermit) sends no write to the API.
    auto permit = [&elector]() -> Status {
      return elector ? elector->WritePermit() : Status::Ok();
    };
    if (Status st = OpenApiBackend(kubeconfig, *timeout, election, permit, &backend); !st.ok()) {
      return Fail(st);
    }
  } else {
    // The apiservers' object layer without its transports: the same resources, encryption
    // and admission, so controllers' writes are checked as they are in the embedded mode.
    // Compaction is the apiservers' job.
    options.storage_compaction_interval = milliseconds(0);
    auto server = meridian::apiserver::FederationApiServer::Create(options, meridian::RealClock());
    if (!server.ok()) return Fail(server.status());
    backend.server = std::move(server).value();
  }

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
  meridian::apimachinery::SharedInformerFactory informers(backend.controllers());
  meridian::apiserver::ControllerManager controller_manager;
  meridian::apiserver::ControllerContext controller_context{
      backend.controllers(), meridian::RealClock(), &backend.schemas()};
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

  if (leader_elect) {
    meridian::apimachinery::LeaderElector::Callbacks callbacks;
    callbacks.on_started_leading = [&] {
      // Fence out the previous leader before any controller writes (apimachinery/
      // write_fence.h): should it wake up from a pause, its writes are refused.
      // Through the API (no etcd fence), the lease check before every write fences instead.
      if (meridian::apimachinery::WriteFencedStore* fence = backend.fence()) {
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
      } else if (Status st = AdoptFencingToken(election, &backend); !st.ok()) {
        spdlog::error("leading, but {}; exiting", st.message());
        spdlog::default_logger()->flush();
        std::_Exit(1);
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
        backend.elector(), meridian::RealClock(), election, std::move(callbacks));
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
  elector.reset();  // before the backend it works on
  if (backend.custom_kinds) backend.custom_kinds->Stop();
  if (metrics_server) metrics_server->Stop();
  return 0;
}
