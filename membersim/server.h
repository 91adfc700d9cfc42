// MembersimServer: the HTTP face of a Simulator. One listener serves every cluster under
// /clusters/NAME through the shared apimachinery REST shell (one RestHandler per cluster),
// the admin API under /admin/, and an index at /. Clusters with a `port` in the config also
// get a dedicated listener serving the cluster at its root, so that a "refuse" partition can
// really refuse TCP connections (the listener is closed until healed).
//
// Per-cluster request filters, in order:
//   partition hang   the request is held without an answer until the partition heals (then
//                    served normally) or `max_hang` passes (then the connection is answered
//                    503 — by then a real client has long given up); open watches are ended.
//   partition refuse dedicated port: connections are refused; on the shared listener, where
//                    TCP cannot be refused per path, an immediate 503 Status is answered.
//   latency          the request is served after the injected latency.
//   client CA        (dedicated TLS port) checked in the TLS handshake, see below.
//   authentication   with a token configured, requests without `Authorization: Bearer TOKEN`
//                    get 401 Unauthorized (a Status body, as a real API server answers);
//                    anonymous requests to /healthz, /livez, /readyz and /version are allowed
//                    (as with --anonymous-auth), a wrong token is always 401.
// Held and delayed requests hold no thread: they are timers on one small thread
// (internal::ParkedRequests) and are served on the pool when they wake, so a hung cluster
// with many waiting clients does not slow the others.
//
// TLS and client certificates: a cluster with `tls` serves HTTPS on its dedicated port
// (the shared listener stays plain HTTP). With `auth.clientCA` the handshake requires a
// client certificate that chains to that CA: a missing, self-signed or foreign certificate
// fails the handshake (alert "certificate required" / "unknown ca"), so the client gets a
// TLS error, not an HTTP status. kube-apiserver instead completes the handshake and answers
// 401 after its x509 authenticator rejects the certificate; we cannot, because cpprestsdk's
// listener does not tell a request handler which certificate its connection presented.
// Either way the request is refused before anything is read or written. With both a token
// and a client CA configured, a client needs both. On the shared plain-HTTP path such a
// cluster answers 401 to everything but the anonymous health and version paths.
//
// Thread-safety: Start/Stop from one thread; everything else is called by the listeners.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "apimachinery/rest/http_server.h"
#include "apimachinery/rest/rest_handler.h"
#include "membersim/internal/parked_requests.h"
#include "membersim/simulator.h"
#include "observability/metrics.h"

namespace meridian::membersim {

class MembersimServer {
 public:
  struct Options {
    std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one
    // PEM files: when set, the shared listener (/clusters/NAME, /admin) speaks HTTPS (TLS
    // 1.2+) with this certificate, so kubectl sends a member's token to it.
    std::string tls_cert_file;
    std::string tls_key_file;
    std::chrono::milliseconds max_hang{std::chrono::minutes(10)};
  };

  // `sim` and `clock` must outlive the server.
  MembersimServer(Simulator& sim, const Clock& clock, Options options);
  ~MembersimServer();  // Stop()s
  MembersimServer(const MembersimServer&) = delete;
  MembersimServer& operator=(const MembersimServer&) = delete;

  // Opens the shared listener and every dedicated one. kInvalidArgument for a non-loopback
  // or malformed address or unusable TLS files (naming the cluster and file), kUnavailable
  // when a port cannot be bound.
  Status Start();
  void Stop();

  // "http://127.0.0.1:PORT" of the shared listener (after Start).
  std::string url() const;
  // The dedicated URL of a cluster with a `port` (https:// with `tls`), else "".
  std::string DedicatedUrl(const std::string& cluster) const;

 private:
  struct ClusterHttp;
  void Route(apimachinery::rest::RestRequest request, apimachinery::rest::HttpResponder respond);
  // The admin API, health and the index (everything but /clusters/...).
  apimachinery::rest::RestResponse RouteLocal(const apimachinery::rest::RestRequest& request);
  // Applies the cluster's partition and latency, then serves the request with `handler`.
  // `delayed` is true once the injected latency has been waited for.
  void Admit(ClusterHttp& ch, apimachinery::rest::RestHandler& handler,
             apimachinery::rest::RestRequest request, apimachinery::rest::HttpResponder respond,
             bool delayed);
  void OnPartitionChange(SimulatedCluster& c);
  Status OpenDedicated(ClusterHttp& ch);
  // membersim_cluster_* (reachable, failed zones, injected latency), read when scraped.
  std::vector<prometheus::MetricFamily> ClusterFamilies() const;

  Simulator& sim_;
  const Clock& clock_;
  Options options_;
  std::map<std::string, std::unique_ptr<ClusterHttp>> clusters_;
  std::unique_ptr<observability::CollectorRegistration> cluster_metrics_;  // reads clusters_
  std::unique_ptr<apimachinery::rest::HttpServer> server_;
  internal::ParkedRequests parked_;
  std::atomic<bool> stopping_{false};
};

// Parses "127.0.0.1:8080" (host must be a 127.x.y.z address or "localhost").
Status ParseListenAddress(const std::string& text, std::string* host, int* port);

}  // namespace meridian::membersim
