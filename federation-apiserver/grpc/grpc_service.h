// The federation-apiserver's gRPC API (federation-apiserver/grpc/federation.proto): the same
// verbs as the REST shell, mapped onto the same apimachinery::ObjectService, with objects
// carried as JSON text and Watch as a server stream.
//
//   GrpcService  the service implementation (register it with any grpc::ServerBuilder);
//   GrpcServer   a small owner of a grpc::Server serving one GrpcService on one address.
//
// Resources are resolved through the ObjectService's ResourceRegistry exactly as the REST
// shell resolves URL paths: ResourceRegistry::Resolve(group, version, resource,
// /*namespaced=*/!namespace.empty()); no match, a namespace on a cluster-scoped resource, a
// named object of a namespaced resource without a namespace, or a name segment containing
// '/' (or being "." or "..") answer NOT_FOUND. Authentication/authorization reuse the REST
// filter chain (GrpcServiceOptions::filters).
//
// Errors: an ApiError becomes a grpc::Status with the code of GrpcCodeFor(), the Kubernetes
// message, and the full Kubernetes `Status` JSON body (details.causes included) as the binary
// trailing metadata entry kStatusTrailerKey. StatusBodyFromTrailers() reads it back on the
// client side.
//
// Watch: one store watch per stream. Events are serialized on the store's dispatcher thread
// and queued; the queue is bounded (GrpcServiceOptions::max_watch_backlog_bytes) so that a
// slow client never blocks the dispatcher: past the bound the stream ends with
// RESOURCE_EXHAUSTED and the client re-watches from the last resource_version it saw.
// A stream ends when the client cancels (the store watch is released), when the service is
// stopped (UNAVAILABLE), or on overflow. Errors at the start (410 Expired for a compacted
// resourceVersion, 400 for a bad selector) end it at once with the usual Status trailer.
//
// Without filters requests run with an empty UserInfo (anonymous). There is no TLS yet, so
// GrpcServer listens on loopback only unless told otherwise.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "apimachinery/api_error.h"
#include "apimachinery/object_service.h"
#include "apimachinery/rest/rest_handler.h"
#include "common/clock.h"
#include "common/status.h"
#include "federation-apiserver/grpc/federation.grpc.pb.h"

namespace meridian::apiserver {

namespace fedpb = ::meridian::federation::v1alpha1;

// Binary trailing-metadata key carrying the Kubernetes Status JSON body of a failed RPC.
inline constexpr char kStatusTrailerKey[] = "meridian-k8s-status-bin";

// The gRPC code for a Kubernetes API error: 400/422 INVALID_ARGUMENT, 401 UNAUTHENTICATED,
// 403 PERMISSION_DENIED, 404 NOT_FOUND, 405 UNIMPLEMENTED, 409 ALREADY_EXISTS (reason
// AlreadyExists) or ABORTED (Conflict), 410 OUT_OF_RANGE, 413/429 RESOURCE_EXHAUSTED,
// 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED, other 4xx INVALID_ARGUMENT, other 5xx INTERNAL.
// Pure, thread-safe.
::grpc::StatusCode GrpcCodeFor(const apimachinery::ApiError& error);

// The grpc::Status for `error` (code by GrpcCodeFor, message unchanged). The Status body goes
// separately into trailing metadata (see GrpcService). Pure, thread-safe.
::grpc::Status GrpcStatusFor(const apimachinery::ApiError& error);

// Client side: the Kubernetes Status body a failed call left in `context`'s trailing metadata,
// or nullopt when there is none (or it is not JSON). Call after the RPC finished.
std::optional<nlohmann::json> StatusBodyFromTrailers(const ::grpc::ClientContext& context);

struct GrpcServiceOptions {
  // object_json / patch larger than this answer RESOURCE_EXHAUSTED (HTTP 413), as REST does.
  int64_t max_object_bytes = 3 * 1024 * 1024;
  // Serialized events queued for one watch stream beyond what the initial listing queued;
  // past it the stream ends with RESOURCE_EXHAUSTED.
  int64_t max_watch_backlog_bytes = 16 * 1024 * 1024;
  // Authentication and authorization: the same filter chain the REST handler runs
  // (RestHandler::AddFilter, e.g. BearerTokenFilter), run before anything else for every RPC
  // on the REST request the RPC is equivalent to:
  //   method  Create POST, Get/List/Watch GET, Update PUT, Patch PATCH, Delete DELETE;
  //   path    /api/v1 or /apis/G/V, then [/namespaces/NS]/RESOURCE[/NAME[/SUBRESOURCE]];
  //   query   watch=true for Watch;
  //   headers the call's metadata (gRPC keys are lower-case): "authorization: Bearer <token>".
  // The user a filter sets is the one admission sees. A non-OK Status fails the RPC as
  // ApiError::FromStatus maps it (kUnauthenticated -> 401 -> UNAUTHENTICATED,
  // kPermissionDenied -> 403 -> PERMISSION_DENIED). No filters: every caller is anonymous.
  std::vector<apimachinery::rest::RestFilter> filters;
  // The audit stage (the REST handler's observer, audit::Observer): called once per RPC that
  // reached the filters, with the equivalent REST request (user, peer address, metadata as
  // headers, the object or patch as body) and a response holding the HTTP code REST would
  // answer (201 for a Create, the Status body on failure) and the object returned. A started
  // Watch is observed like a REST watch (start_stream set: RequestReceived now, the wrapped
  // sink released when the stream is done). Unset: no audit.
  apimachinery::rest::RestObserver observer;
  const Clock* clock = &RealClock();  // requestReceivedTimestamp for `observer`
};

// The Federation service over an ObjectService. Unary RPCs are synchronous (they run on the
// gRPC server's handler threads, where blocking on the store is fine); Watch uses the callback
// API so an idle stream holds no thread.
//
// Thread-safety: every RPC may run concurrently; Stop, WaitUntilIdle, ActiveWatches,
// WaitForActiveWatchesAtMost and SlowWatchesClosed are thread-safe. The ObjectService must
// outlive this service, and this service must outlive every grpc::Server it is registered with
// (the server must be shut down first).
class GrpcService final
    : public fedpb::Federation::WithCallbackMethod_Watch<fedpb::Federation::Service> {
 public:
  explicit GrpcService(apimachinery::ObjectService& objects, GrpcServiceOptions options = {});
  // Requires that no RPC is in flight (shut the server down first).
  ~GrpcService() override;
  GrpcService(const GrpcService&) = delete;
  GrpcService& operator=(const GrpcService&) = delete;

  ::grpc::Status Create(::grpc::ServerContext* context, const fedpb::CreateRequest* request,
                        fedpb::ObjectResponse* response) override;
  ::grpc::Status Get(::grpc::ServerContext* context, const fedpb::GetRequest* request,
                     fedpb::ObjectResponse* response) override;
  ::grpc::Status List(::grpc::ServerContext* context, const fedpb::ListRequest* request,
                      fedpb::ListResponse* response) override;
  ::grpc::Status Update(::grpc::ServerContext* context, const fedpb::UpdateRequest* request,
                        fedpb::ObjectResponse* response) override;
  ::grpc::Status Patch(::grpc::ServerContext* context, const fedpb::PatchRequest* request,
                       fedpb::ObjectResponse* response) override;
  ::grpc::Status Delete(::grpc::ServerContext* context, const fedpb::DeleteRequest* request,
                        fedpb::ObjectResponse* response) override;
  ::grpc::ServerWriteReactor<fedpb::WatchEvent>* Watch(::grpc::CallbackServerContext* context,
                                                       const fedpb::WatchRequest* request) override;

  // Starts draining: new RPCs are refused with UNAVAILABLE ("the server is shutting down"),
  // open watch streams end with UNAVAILABLE once their in-flight write completes, unary RPCs
  // already running finish normally. Idempotent.
  void Stop();
  // Blocks until no unary RPC is running and no watch stream is open, or `timeout` passes;
  // true on the former. With NewCallTracker() installed, also until every call's status was
  // sent (a sync handler returns before its response goes out).
  bool WaitUntilIdle(std::chrono::milliseconds timeout) const;
  // A server interceptor factory that counts calls from arrival until gRPC destroys them
  // (after their status was sent). Install it in the grpc::ServerBuilder serving this service
  // (GrpcServer does) so that WaitUntilIdle is exact.
  std::unique_ptr<::grpc::experimental::ServerInterceptorFactoryInterface> NewCallTracker();
  // Watch streams not yet done (each holds one store watch until it is done).
  size_t ActiveWatches() const;
  // Blocks until at most `n` watch streams are open or `timeout` passes; true on the former.
  bool WaitForActiveWatchesAtMost(size_t n, std::chrono::milliseconds timeout) const;
  // Streams ended because their client read too slowly (since construction).
  int64_t SlowWatchesClosed() const;

  class WatchReactor;  // internal
  class CallTracker;   // internal

 private:
  friend class WatchReactor;
  // What an RPC is about, once its caller passed the filters.
  struct Target {
    apimachinery::ResourceInfo resource;
    std::string ns;
    apimachinery::UserInfo user;
  };
  // Checks the names, runs the filters on the equivalent REST request, then resolves the
  // resource as the REST shell does (404 when it does not exist in that scope).
  apimachinery::ApiResult<Target> Prepare(::grpc::ServerContextBase* context,
                                          const fedpb::ResourceRef& ref, const char* method,
                                          const std::string& name, const std::string& subresource,
                                          bool watch) const;
  // Runs a unary RPC's body: refused while stopping, counted while running, exceptions
  // turned into 500 as the REST handler does.
  template <typename F>
  ::grpc::Status Serve(::grpc::ServerContext* context, F&& body);
  void Forget(WatchReactor* reactor);
  void CountSlowWatch();

  apimachinery::ObjectService& objects_;
  const GrpcServiceOptions options_;

  void CallStarted();
  void CallEnded();

  mutable std::mutex mu_;  // guards watches_, stopping_, unary_running_, calls_, slow_closed_
  mutable std::condition_variable watches_changed_;  // watches_, unary_running_ or calls_ changed
  std::set<WatchReactor*> watches_;
  bool stopping_ = false;
  int64_t unary_running_ = 0;
  int64_t calls_ = 0;  // counted by CallTracker interceptors
  int64_t slow_closed_ = 0;
};

struct GrpcServerOptions {
  // Without TLS and authentication the server must not be reachable from other hosts:
  // Start rejects addresses other than loopback (127.0.0.0/8, ::1, localhost) and unix
  // sockets unless this is set.
  bool allow_non_loopback = false;
  // TLS (all PEM files; off when cert_file is empty): the serving certificate and key, and
  // optionally a client CA — then a client certificate is asked for and, when sent, verified
  // against it in the handshake and handed to the filters as
  // RestRequest::peer_certificate_pem (x509 authentication). gRPC negotiates TLS 1.2+ only.
  // The files are re-read every `tls_refresh_seconds`, so a renewed certificate is served
  // without a restart (gRPC's FileWatcherCertificateProvider).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  unsigned int tls_refresh_seconds = 10;
  GrpcServiceOptions service;
  // How long Shutdown lets in-flight RPCs finish before cancelling them.
  std::chrono::milliseconds shutdown_grace{2000};
};

// Checks a gRPC listen address ("127.0.0.1:0", "[::1]:8443", "localhost:9000",
// "unix:/path"): kInvalidArgument when malformed (no or a non-numeric port) or, unless
// `allow_non_loopback`, not loopback. Pure, thread-safe.
Status CheckListenAddress(const std::string& listen_address, bool allow_non_loopback);

// A gRPC server serving one GrpcService. Thread-safe; Shutdown may be called from any thread
// (not from inside an RPC).
class GrpcServer {
 public:
  // Listens on `listen_address` (port 0 picks a free port; see port()). Errors:
  // kInvalidArgument for a rejected address (see CheckListenAddress), kUnavailable when the
  // address cannot be bound (e.g. the port is taken: ports are not shared via SO_REUSEPORT).
  // `objects` must outlive the server.
  static StatusOr<std::unique_ptr<GrpcServer>> Start(apimachinery::ObjectService& objects,
                                                     const std::string& listen_address,
                                                     GrpcServerOptions options = {});
  // Shuts down.
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The bound port.
  int port() const { return port_; }
  // "host:port" with the bound port, for clients ("127.0.0.1:43121").
  const std::string& address() const { return address_; }
  GrpcService& service() { return *service_; }

  // Refuses new RPCs and ends watch streams (UNAVAILABLE), lets running unary RPCs finish
  // and ended streams deliver their status within the grace period, then cancels whatever
  // is left and closes every connection (idle client connections do not delay it).
  // Idempotent.
  void Shutdown();

 private:
  GrpcServer() = default;

  std::unique_ptr<GrpcService> service_;  // outlives server_
  std::unique_ptr<::grpc::Server> server_;
  std::chrono::milliseconds shutdown_grace_{2000};
  int port_ = 0;
  std::string address_;
  std::once_flag shutdown_once_;
};

}  // namespace meridian::apiserver
