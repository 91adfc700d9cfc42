// federation-apiserver: Meridian's one endpoint. Serves the Kubernetes-style REST API (and,
// with --grpc-listen, the gRPC service) over the embedded SQLite store.
#include <pplx/threadpool.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "common/open_file_limit.h"
#include "apimachinery/informer.h"
#include "apimachinery/rest/http_server.h"
#include "federation-apiserver/controller_manager.h"
#include "federation-apiserver/parked_reads.h"
#include "federation-apiserver/server.h"
#include "federation-apiserver/serving_tls.h"
#ifdef MERIDIAN_HAS_GRPC
#include "federation-apiserver/grpc/grpc_service.h"
#include "observability/flags.h"
#include "observability/logging.h"
#endif

namespace {

using meridian::Status;
using meridian::StatusOr;

struct ListenAddress {
  std::string host;
  int port = 0;
  bool loopback = false;
};

StatusOr<ListenAddress> ParseListen(const std::string& flag, const std::string& value) {
  size_t colon = value.rfind(':');
  if (colon == std::string::npos) {
    return meridian::InvalidArgumentError(flag + ": \"" + value + "\" is not HOST:PORT");
  }
  ListenAddress out;
  out.host = value.substr(0, colon);
  out.port = -1;
  try {
    size_t used = 0;
    out.port = std::stoi(value.substr(colon + 1), &used);
    if (used != value.size() - colon - 1) out.port = -1;
  } catch (...) {
    out.port = -1;
  }
  if (out.port < 0 || out.port > 65535) {
    return meridian::InvalidArgumentError(flag + ": \"" + value + "\" has no valid port");
  }
  out.loopback = out.host == "localhost" || out.host.rfind("127.", 0) == 0 || out.host == "[::1]";
  if (out.host == "localhost") out.host = "127.0.0.1";
  return out;
}

// Plain HTTP, or TLS without authentication, may only listen on loopback (development on one
// host): beyond it every request must arrive encrypted and carry an identity.
meridian::Status CheckExposure(const std::string& flag, const std::string& value, bool loopback,
                               bool tls, bool authenticated) {
  if (loopback || (tls && authenticated)) return meridian::Status::Ok();
  std::string missing;
  if (!tls) missing += "--tls-cert-file and --tls-private-key-file (fedctl admin init writes them)";
  if (!authenticated) {
    if (!missing.empty()) missing += ", and ";
    missing += "an authenticator: --client-ca-file, --token-auth-file or --oidc-issuer-url";
  }
  return meridian::InvalidArgumentError(flag + " " + value +
                                        ": not a loopback address; serving beyond loopback "
                                        "needs TLS and authentication: add " +
                                        missing);
}

// A duration flag given in seconds (fractions allowed), from 0 to `max_seconds`, stored into
// `target` as milliseconds when parsed; `target` holds the default.
void AddSecondsOption(CLI::App& app, const std::string& name, std::chrono::milliseconds* target,
                      double max_seconds, const std::string& help) {
  app.add_option_function<double>(
         name,
         [target](double seconds) {
           *target = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
         },
         help)
      ->check(CLI::Range(0.0, max_seconds))
      ->default_str((std::ostringstream() << std::chrono::duration<double>(*target).count()).str());
}

int Fail(const Status& st) {
  std::cerr << "federation-apiserver: " << st.message() << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Meridian federation-apiserver: the federation's Kubernetes-style API endpoint"};
  std::string listen = "127.0.0.1:8443";
  std::string grpc_listen;
  meridian::apiserver::ServerOptions options;
  std::string controllers = "all";
  size_t http_threads = 8;
  // On etcd: the server's own threads (network, reads from the watch cache); 0: no split.
  size_t http_read_threads = std::max(2u, std::thread::hardware_concurrency());
  app.add_option("--listen", listen,
                 "HOST:PORT for the REST API (loopback unless TLS and an authenticator are set; "
                 "port 0 picks a free loopback port)")
      ->capture_default_str();
  app.add_option("--storage", options.storage,
                 "Storage backend: sqlite:PATH, or etcd:URL[,URL...] (etcd v3 members' client "
                 "URLs, all http:// or all https://)")
      ->capture_default_str();
  app.add_option("--etcd-cafile", options.etcd_ca_file, "CA bundle to verify https etcd members");
  app.add_option("--etcd-certfile", options.etcd_cert_file, "Client certificate for etcd (PEM)");
  app.add_option("--etcd-keyfile", options.etcd_key_file, "Client key for etcd (PEM)");
  app.add_option("--grpc-listen", grpc_listen, "HOST:PORT for the gRPC API (off when empty)");
  app.add_option("--token-auth-file", options.token_auth_file,
                 "Bearer tokens, CSV: token,user,uid[,\"group1,group2\"]");
  meridian::apiserver::TlsFiles tls_files;
  app.add_option("--tls-cert-file", tls_files.cert_file,
                 "PEM serving certificate (then its chain): REST and gRPC speak TLS 1.2+; "
                 "re-read on SIGHUP");
  app.add_option("--tls-private-key-file", tls_files.key_file, "PEM key of --tls-cert-file");
  app.add_option("--client-ca-file", options.client_ca_file,
                 "PEM CA bundle: client certificates signed by it authenticate as CN (user) "
                 "and O (groups)");
  app.add_option("--oidc-issuer-url", options.oidc.issuer_url,
                 "OIDC issuer (https://...): ID tokens with this `iss` are accepted");
  app.add_option("--oidc-client-id", options.oidc.client_id, "OIDC audience (`aud`) to require");
  app.add_option("--oidc-jwks-file", options.oidc_jwks_file,
                 "The issuer's public keys (JWK Set, RSA/EC P-256): tokens are verified offline");
  app.add_option("--oidc-username-claim", options.oidc.username_claim, "Claim naming the user")
      ->capture_default_str();
  app.add_option("--oidc-username-prefix", options.oidc.username_prefix,
                 "Prefix for OIDC user names (default: ISSUER# unless the claim is email; - "
                 "for none)");
  app.add_option("--oidc-groups-claim", options.oidc.groups_claim, "Claim listing the groups");
  app.add_option("--oidc-groups-prefix", options.oidc.groups_prefix, "Prefix for OIDC groups");
  app.add_option("--authorization-mode", options.authorization_mode,
                 "AlwaysAllow, or RBAC (Roles and bindings of rbac.authorization.k8s.io/v1; "
                 "group system:masters may do everything)")
      ->capture_default_str();
  app.add_option("--audit-log-path", options.audit_log_path,
                 "Append audit.k8s.io/v1 Event JSON lines here (off when empty)");
  app.add_option("--audit-policy-file", options.audit_policy_file,
                 "audit.k8s.io/v1 Policy (levels None/Metadata/Request/RequestResponse); "
                 "default: everything at Metadata");
  app.add_option("--audit-log-maxsize", options.audit_log_maxsize_mb,
                 "Rotate the audit log before it passes this many MB (0: never)")
      ->capture_default_str();
  app.add_option("--audit-log-maxbackup", options.audit_log_maxbackup,
                 "Rotated audit logs kept (0: all)")
      ->capture_default_str();
  app.add_option("--audit-log-mode", options.audit_log_mode,
                 "blocking: each event is written before the response; batch: a writer "
                 "thread appends queued events, so a slow disk delays the log, not requests")
      ->capture_default_str();
  app.add_option("--audit-log-batch-buffer-size", options.audit_log_batch_buffer_size,
                 "Batch mode: events queued before requests wait for the writer")
      ->capture_default_str();
  app.add_option("--encryption-provider-config", options.encryption_provider_config,
                 "EncryptionConfiguration (apiserver.config.k8s.io/v1): encrypt Secrets at rest "
                 "with aesgcm keys (the first encrypts; identity reads old data)");
  app.add_option("--max-requests-inflight", options.in_flight.max_requests,
                 "Non-mutating requests served at once before 429 (0: no cap; watches exempt)")
      ->capture_default_str();
  app.add_option("--max-mutating-requests-inflight", options.in_flight.max_mutating_requests,
                 "Mutating requests served at once before 429 (0: no cap)")
      ->capture_default_str();
  app.add_option("--max-requests-inflight-per-user", options.in_flight.max_requests_per_user,
                 "Requests one user may have in flight before 429 (0: no cap)")
      ->capture_default_str();
  app.add_option("--max-watches", options.max_watches, "Open watches before 429 (0: no cap)")
      ->capture_default_str();
  app.add_option("--max-watches-per-user", options.max_watches_per_user,
                 "Open watches one user may have before 429 (0: no cap)")
      ->capture_default_str();
  app.add_option("--watch-cache", options.watch_cache,
                 "Serve GET, LIST and watch from an in-memory watch cache (false: from the store)")
      ->capture_default_str();
  app.add_option("--watch-cache-window-events", options.watch_cache_window_events,
                 "Events the watch cache keeps per resource for watches from an older "
                 "resourceVersion (kube-apiserver's --default-watch-cache-size, but never 0: "
                 "--watch-cache=false turns the cache off)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--watch-cache-window-bytes", options.watch_cache_window_bytes,
                 "Bytes of encoded events the watch cache keeps per resource at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--watch-cache-consistent-reads", options.watch_cache_consistent_reads,
                 "On etcd, answer GET and LIST without a resourceVersion from the watch cache "
                 "once it holds the resource's last write (false: from etcd; for a rolling "
                 "upgrade from a version before etcd write markers, docs/operations.md)")
      ->capture_default_str();
  app.add_option("--watch-cache-consistent-read-rounds",
                 options.watch_cache_consistent_read_rounds,
                 "On etcd, how many reads of a resource's last write (each one linearizable "
                 "etcd read shared by the GET and LIST waiting for it) may be in flight at once: "
                 "1 makes a reader that arrives during one wait for it to return first")
      ->check(CLI::Range(int64_t{1}, int64_t{64}))
      ->capture_default_str();
  int64_t consistent_read_hold_us = options.watch_cache_consistent_read_hold.count();
  app.add_option("--watch-cache-consistent-read-hold-us", consistent_read_hold_us,
                 "On etcd, how long (microseconds) the next round for parked GET/LIST may wait "
                 "for the reads the last round answered to come back, so that one round serves "
                 "a closed-loop client's next read too; ends early once they are back "
                 "(0: sent at once)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}))
      ->capture_default_str();
  AddSecondsOption(app, "--watch-cache-window-max-age", &options.watch_cache_window_max_age,
                   86400, "Seconds an event stays in the watch cache's window (watches resuming "
                   "from an older resourceVersion get 410 and relist, as with kube-apiserver's "
                   "~75 s window); 0: bounded by events and bytes only");
  app.add_option("--list-response-cache-bytes", options.list_response_cache_bytes,
                 "Bytes of encoded LIST responses kept for repeated LISTs of an unchanged "
                 "collection (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--gzip-min-bytes", options.gzip_min_bytes,
                 "gzip-encode responses of at least this many bytes for clients that accept it "
                 "(0: never)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  int64_t event_ttl_seconds = 3600;
  app.add_option("--event-ttl", event_ttl_seconds,
                 "Seconds an Event is kept after its last write (kube-apiserver's --event-ttl); "
                 "0 keeps Events forever")
      ->check(CLI::Range(int64_t{0}, int64_t{86400} * 365))
      ->capture_default_str();
  AddSecondsOption(app, "--heap-trim-interval", &options.heap_trim_interval, 86400,
                   "Seconds between hand-backs of the allocator's free memory to the kernel "
                   "(malloc_trim; keeps resident memory near the live heap); 0 never");
  app.add_option("--evidence-public-key-file", options.evidence_public_key_file,
                 "Ed25519 public key (PEM; a private key gives its public half, so the "
                 "--evidence-signing-key-file itself does) that verifies the residency evidence "
                 "ledger's signed checkpoints: a ComplianceReview then reports on a compacted "
                 "ledger too");
  AddSecondsOption(app, "--storage-compaction-interval", &options.storage_compaction_interval,
                   86400.0 * 365,
                   "Seconds between compactions of the store's revision history (kube-apiserver's "
                   "--etcd-compaction-interval): each compacts to the revision the previous one "
                   "saw, so superseded values (e.g. Secrets from before encryption was turned on) "
                   "are gone within two intervals; watches resume from up to one interval back. "
                   "0 turns it off");
  int64_t max_watch_backlog_bytes = 16 * 1024 * 1024;
  int64_t max_total_watch_backlog_bytes = 256 * 1024 * 1024;
  app.add_option("--max-watch-backlog-bytes", max_watch_backlog_bytes,
                 "Bytes a watch may leave unread before it is closed with an ERROR event")
      ->capture_default_str();
  app.add_option("--max-total-watch-backlog-bytes", max_total_watch_backlog_bytes,
                 "Budget for what all watches together leave unread (0: none)")
      ->capture_default_str();
  app.add_option("--max-body-bytes", options.max_body_bytes, "Largest request body")
      ->capture_default_str();
  // Connection limits of the HTTP server (apimachinery/rest/http_server.h); kube-apiserver
  // has Go's fixed values for most of these, here they can be tuned (tests shorten them).
  namespace rest = meridian::apimachinery::rest;
  rest::HttpServerOptions http_options;
  double header_timeout_s = 10, body_timeout_s = 30, idle_timeout_s = 90;
  app.add_option("--unauthenticated-body-bytes", http_options.unauthenticated_body_bytes,
                 "Largest body read before authentication (401 past it, connection closed)")
      ->capture_default_str();
  app.add_option("--max-request-header-bytes", http_options.max_header_bytes,
                 "Request line and headers (431 past it)")
      ->capture_default_str();
  app.add_option("--request-header-timeout", header_timeout_s,
                 "Seconds for the TLS handshake and a request's headers, then the connection "
                 "is closed")
      ->capture_default_str();
  app.add_option("--request-body-progress-timeout", body_timeout_s,
                 "Seconds a client may stall while sending a body")
      ->capture_default_str();
  app.add_option("--idle-connection-timeout", idle_timeout_s,
                 "Seconds a kept-alive connection may wait for its next request")
      ->capture_default_str();
  app.add_option("--max-connections", http_options.max_connections,
                 "Open HTTP connections; more are closed at once (0: no cap)")
      ->capture_default_str();
  meridian::observability::LogFlags log_flags;
  meridian::observability::AddLogFlags(app, &log_flags);
  std::string known;
  for (const auto* d : meridian::apiserver::RegisteredControllers()) {
    known += "\n  " + d->name + ": " + d->description;
    if (d->add_flags) d->add_flags(app);
  }
  app.add_option("--controllers", controllers,
                 "Controllers to run in this process: all (or *), none (API only), or a comma "
                 "list of names, * and -name. Known:" +
                     known)
      ->capture_default_str();
  app.add_option("--http-threads", http_threads,
                 "Threads serving HTTP (and cpprestsdk's client pool). On etcd, those that "
                 "serve what may wait on etcd (writes, reads that go to etcd) and send the "
                 "consistent-read rounds, while the network and the reads answered from the "
                 "watch cache run on --http-read-threads (docs/operations.md)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--http-read-threads", http_read_threads,
                 "On etcd, the threads of the network and of reads answered from the watch cache "
                 "(default: one per core); requests that may wait on etcd (writes, reads that go "
                 "to etcd) then run on --http-threads threads of their own, so a slow write "
                 "never stalls a read and a read costs no context switches among idle threads. "
                 "0: every request on --http-threads threads, as on SQLite")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Many members mean many descriptors (common/open_file_limit.h).
  if (const meridian::OpenFileLimit fds = meridian::RaiseOpenFileLimit(); !fds.ok) {
    spdlog::warn("could not raise the open-file limit (soft {}): with many members, "
                 "connections may fail with \"Too many open files\"", fds.before);
  }
  options.event_ttl = std::chrono::seconds(event_ttl_seconds);
  options.watch_cache_consistent_read_hold = std::chrono::microseconds(consistent_read_hold_us);
  // Block the stop signals before any thread starts (cpprestsdk's pool below included), so
  // only sigwait below receives them: a pool thread taking SIGTERM would end the process
  // with 143 and skip the shutdown, and one taking SIGHUP would end it instead of reloading.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);  // reloads the serving certificate
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // Must precede any use of cpprestsdk (its pool is created on first use).
  crossplat::threadpool::initialize_with_threads(http_threads);
  if (meridian::Status logging = meridian::observability::ConfigureLogging(
          "federation-apiserver", log_flags.format, log_flags.level, log_flags.verbosity);
      !logging.ok()) {
    return Fail(logging);
  }

  auto selected = meridian::apiserver::SelectControllers(controllers);
  if (!selected.ok()) return Fail(selected.status());
  for (const auto* d : *selected) {
    if (d->name == "propagation") options.workload_finalizer_at_create = true;
  }
  auto endpoint = ParseListen("--listen", listen);
  if (!endpoint.ok()) return Fail(endpoint.status());
  tls_files.client_ca_file = options.client_ca_file;
  const bool tls = !tls_files.cert_file.empty() || !tls_files.key_file.empty();
  const bool authenticated = !options.client_ca_file.empty() || !options.token_auth_file.empty() ||
                             !options.oidc.issuer_url.empty();
  if (meridian::Status st =
          CheckExposure("--listen", listen, endpoint->loopback, tls, authenticated);
      !st.ok()) {
    return Fail(st);
  }
  if (!endpoint->loopback && endpoint->port == 0) {
    return Fail(meridian::InvalidArgumentError("--listen " + listen +
                                               ": port 0 is only for loopback; name a port"));
  }
  std::unique_ptr<meridian::apiserver::ServingTls> serving_tls;
  if (tls) {
    auto loaded = meridian::apiserver::ServingTls::Load(tls_files);
    if (!loaded.ok()) return Fail(loaded.status());
    serving_tls = std::move(loaded).value();
  }

  auto server = meridian::apiserver::FederationApiServer::Create(options, meridian::RealClock());
  if (!server.ok()) return Fail(server.status());

  http_options.max_body_bytes = options.max_body_bytes;
  http_options.threads = static_cast<int>(http_threads);
  auto ms = [](double seconds) {
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  };
  http_options.header_timeout = ms(header_timeout_s);
  http_options.body_progress_timeout = ms(body_timeout_s);
  http_options.idle_timeout = ms(idle_timeout_s);
  if (const rest::RestFilter& authenticate = (*server)->authentication()) {
    // Only a request that authenticates may send more than the pre-authentication allowance.
    http_options.pre_authenticate = [authenticate](const rest::RestRequest& request) {
      rest::RestRequest probe = request;
      if (Status st = authenticate(probe); !st.ok()) return st;
      if (probe.user.name.empty()) return meridian::UnauthenticatedError("Unauthorized");
      return Status::Ok();
    };
  }
  http_options.max_watch_backlog_bytes = max_watch_backlog_bytes;
  http_options.max_total_watch_backlog_bytes = max_total_watch_backlog_bytes;
  if (serving_tls) {
    // Called for every accepted connection: a reload applies to the next handshake.
    http_options.tls_context = serving_tls->ContextCallback();
  }
  // On etcd a consistent GET/LIST waits for its round parked, not on a server thread
  // (parked_reads.h); on SQLite every request is served at once, as before.
  // There, with --http-read-threads, what may wait on etcd runs on --http-threads threads of
  // its own and the server's threads are as few as the cores (parked_reads.h).
  meridian::apiserver::ParkedReads parked_reads((*server)->handler(), (*server)->cacher(),
                                                http_read_threads > 0 ? http_threads : 0);
  if (parked_reads.Parks() && http_read_threads > 0) {
    http_options.threads = static_cast<int>(http_read_threads);
  }
  StatusOr<std::unique_ptr<rest::HttpServer>> http =
      endpoint->port == 0
          ? rest::HttpServer::StartAsyncOnFreeLoopbackPort(parked_reads.Handler(), http_options)
          : rest::HttpServer::StartAsync(std::string(tls ? "https://" : "http://") +
                                             endpoint->host + ":" + std::to_string(endpoint->port),
                                         parked_reads.Handler(), http_options);
  if (!http.ok()) return Fail(http.status().WithContext("--listen " + listen));
  parked_reads.SetPoster((*http)->Poster());

#ifdef MERIDIAN_HAS_GRPC
  std::unique_ptr<meridian::apiserver::GrpcServer> grpc;
  if (!grpc_listen.empty()) {
    // The same authentication and authorization as REST: a token file protects both ports.
    meridian::apiserver::GrpcServerOptions grpc_options;
    auto grpc_endpoint = ParseListen("--grpc-listen", grpc_listen);
    if (!grpc_endpoint.ok() && grpc_listen.rfind("unix:", 0) != 0) {
      return Fail(grpc_endpoint.status());
    }
    if (grpc_endpoint.ok()) {
      if (meridian::Status st = CheckExposure("--grpc-listen", grpc_listen, grpc_endpoint->loopback,
                                              tls, authenticated);
          !st.ok()) {
        return Fail(st);
      }
      grpc_options.allow_non_loopback = tls && authenticated;
    }
    grpc_options.tls_cert_file = tls_files.cert_file;
    grpc_options.tls_key_file = tls_files.key_file;
    grpc_options.tls_client_ca_file = tls_files.client_ca_file;
    grpc_options.service.filters = (*server)->filters();
    grpc_options.service.observer = (*server)->audit_observer();
    grpc_options.service.max_object_bytes = options.max_body_bytes;
    auto g =
        meridian::apiserver::GrpcServer::Start((*server)->objects(), grpc_listen, grpc_options);
    if (!g.ok()) return Fail(g.status().WithContext("--grpc-listen " + grpc_listen));
    grpc = std::move(g).value();
    std::cout << "federation-apiserver gRPC listening on " << grpc->address() << std::endl;
  }
#else
  if (!grpc_listen.empty()) {
    return Fail(meridian::UnimplementedError("--grpc-listen: this build has no gRPC service"));
  }
#endif

  // Controllers talk to the API through the same ObjectService every request goes through:
  // the health monitor keeps MemberCluster status current, placement turns it into
  // status.placement, propagation makes the members match and reports back.
  // One informer per kind for all controllers (declared first: it outlives them).
  meridian::apimachinery::SharedInformerFactory informers((*server)->objects());
  meridian::apiserver::ControllerManager controller_manager;
  meridian::apiserver::ControllerContext controller_context{
      (*server)->objects(), meridian::RealClock(), &(*server)->member_schemas()};
  controller_context.informers = &informers;
  if (Status st = controller_manager.StartAll(*selected, controller_context); !st.ok()) {
    return Fail(st);
  }

  // The readiness line tests and scripts wait for.
  std::cout << "federation-apiserver listening on " << (*http)->url() << std::endl;
  spdlog::info("serving {} with storage {}", (*http)->url(), options.storage);
  std::string running;
  for (const std::string& name : controller_manager.running()) running += " " + name;
  spdlog::info("controllers:{}", running.empty() ? " none" : running);

  if (serving_tls) spdlog::info("serving certificate: {}", serving_tls->Describe());
  int sig = 0;
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) {
    if (!serving_tls) continue;
    // A bad file keeps the old certificate serving: a botched renewal must not take the
    // endpoint down. (gRPC re-reads the same files itself.)
    if (meridian::Status st = serving_tls->Reload(); !st.ok()) {
      spdlog::error("SIGHUP: keeping the current certificate: {}", st.message());
    } else {
      spdlog::info("SIGHUP: serving certificate reloaded: {}", serving_tls->Describe());
    }
  }
  spdlog::info("signal {}: shutting down", sig);
  controller_manager.StopAll();
#ifdef MERIDIAN_HAS_GRPC
  if (grpc) grpc->Shutdown();
#endif
  (*http)->Stop();
  return 0;
}
