// federation-apiserver: Meridian's one endpoint. Serves the Kubernetes-style REST API (and,
// with --grpc-listen, the gRPC service) over the embedded SQLite store.
#include <CLI/CLI.hpp>
#include <pplx/threadpool.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "apimachinery/rest/http_server.h"
#include "federation-apiserver/controller_manager.h"
#include "federation-apiserver/server.h"
#ifdef MERIDIAN_HAS_GRPC
#include "federation-apiserver/grpc/grpc_service.h"
#endif

namespace {

using meridian::Status;
using meridian::StatusOr;

// Plain HTTP carries no credentials safely: it may only listen on loopback.
StatusOr<std::pair<std::string, int>> ParseLoopbackListen(const std::string& flag,
                                                          const std::string& value) {
  size_t colon = value.rfind(':');
  if (colon == std::string::npos) {
    return meridian::InvalidArgumentError(flag + ": \"" + value + "\" is not HOST:PORT");
  }
  std::string host = value.substr(0, colon);
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(value.substr(colon + 1), &used);
    if (used != value.size() - colon - 1) port = -1;
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return meridian::InvalidArgumentError(flag + ": \"" + value + "\" has no valid port");
  }
  bool loopback = host == "localhost" || host.rfind("127.", 0) == 0 || host == "[::1]";
  if (!loopback) {
    return meridian::InvalidArgumentError(
        flag + ": \"" + host + "\" is not a loopback address; plain HTTP (the only mode so far) "
        "is served on loopback only");
  }
  return std::make_pair(host == "localhost" ? std::string("127.0.0.1") : host, port);
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
  std::string log_level = "info";
  std::string controllers = "all";
  size_t http_threads = 8;
  app.add_option("--listen", listen, "HOST:PORT for the REST API (loopback; port 0 picks one)")
      ->capture_default_str();
  app.add_option("--storage", options.storage, "Storage backend: sqlite:PATH")
      ->capture_default_str();
  app.add_option("--grpc-listen", grpc_listen, "HOST:PORT for the gRPC API (off when empty)");
  app.add_option("--token-auth-file", options.token_auth_file,
                 "Bearer tokens, CSV: token,user,uid[,\"group1,group2\"]");
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
  app.add_option("--max-body-bytes", options.max_body_bytes, "Largest request body")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")->capture_default_str();
  std::string known;
  for (const auto* d : meridian::apiserver::RegisteredControllers()) {
    known += "\n  " + d->name + ": " + d->description;
    if (d->add_flags) d->add_flags(app);
  }
  app.add_option("--controllers", controllers,
                 "Controllers to run in this process: all (or *), none (API only), or a comma "
                 "list of names, * and -name. Known:" + known)
      ->capture_default_str();
  app.add_option("--http-threads", http_threads,
                 "Threads serving HTTP (cpprestsdk's pool). Requests never block a thread, so a "
                 "few per core is fastest: more only adds context switches")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Must precede any use of cpprestsdk (its pool is created on first use).
  crossplat::threadpool::initialize_with_threads(http_threads);
  spdlog::set_level(spdlog::level::from_str(log_level));

  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto selected = meridian::apiserver::SelectControllers(controllers);
  if (!selected.ok()) return Fail(selected.status());
  auto endpoint = ParseLoopbackListen("--listen", listen);
  if (!endpoint.ok()) return Fail(endpoint.status());

  auto server = meridian::apiserver::FederationApiServer::Create(options, meridian::RealClock());
  if (!server.ok()) return Fail(server.status());

  namespace rest = meridian::apimachinery::rest;
  rest::HttpServerOptions http_options;
  http_options.max_body_bytes = options.max_body_bytes;
  auto handler = rest::HandlerFor((*server)->handler());
  StatusOr<std::unique_ptr<rest::HttpServer>> http =
      endpoint->second == 0
          ? rest::HttpServer::StartOnFreeLoopbackPort(handler, http_options)
          : rest::HttpServer::Start("http://" + endpoint->first + ":" +
                                        std::to_string(endpoint->second),
                                    handler, http_options);
  if (!http.ok()) return Fail(http.status().WithContext("--listen " + listen));

#ifdef MERIDIAN_HAS_GRPC
  std::unique_ptr<meridian::apiserver::GrpcServer> grpc;
  if (!grpc_listen.empty()) {
    // The same authentication and authorization as REST: a token file protects both ports.
    meridian::apiserver::GrpcServerOptions grpc_options;
    grpc_options.service.filters = (*server)->filters();
    grpc_options.service.max_object_bytes = options.max_body_bytes;
    auto g = meridian::apiserver::GrpcServer::Start((*server)->objects(), grpc_listen, grpc_options);
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
  meridian::apiserver::ControllerManager controller_manager;
  meridian::apiserver::ControllerContext controller_context{(*server)->objects(),
                                                            meridian::RealClock()};
  if (Status st = controller_manager.StartAll(*selected, controller_context); !st.ok()) {
    return Fail(st);
  }

  // The readiness line tests and scripts wait for.
  std::cout << "federation-apiserver listening on " << (*http)->url() << std::endl;
  spdlog::info("serving {} with storage {}", (*http)->url(), options.storage);
  std::string running;
  for (const std::string& name : controller_manager.running()) running += " " + name;
  spdlog::info("controllers:{}", running.empty() ? " none" : running);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("signal {}: shutting down", sig);
  controller_manager.StopAll();
#ifdef MERIDIAN_HAS_GRPC
  if (grpc) grpc->Shutdown();
#endif
  (*http)->Stop();
  return 0;
}
