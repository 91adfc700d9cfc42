#include "membersim/server.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ssl/context.hpp>
#include <cstdio>

#include "api/template_schema.h"
#include "common/log_fields.h"
#include "membersim/field_validation.h"
#include "membersim/internal/tcp_gate.h"
#include "membersim/kube_resources.h"
#include "observability/metrics_server.h"
#include "observability/request_metrics.h"

namespace meridian::membersim {

using apimachinery::ApiError;
using apimachinery::rest::HttpResponder;
using apimachinery::rest::HttpServer;
using apimachinery::rest::RestHandler;
using apimachinery::rest::RestRequest;
using apimachinery::rest::RestResponse;

struct MembersimServer::ClusterHttp {
  SimulatedCluster* cluster = nullptr;
  // apiserver_request_* of each handler below (declared first: the handlers' hooks use them).
  std::vector<std::unique_ptr<observability::RequestMetrics>> metrics;
  std::unique_ptr<RestHandler> shared;     // base path /clusters/NAME
  std::unique_ptr<RestHandler> dedicated;  // base path "" (only with a port)
  std::unique_ptr<HttpServer> server;      // dedicated handler on an internal port
  std::unique_ptr<internal::TcpGate> gate;  // the cluster's port, forwarding to `server`
  int port = 0;
};

Status ParseListenAddress(const std::string& text, std::string* host, int* port) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return InvalidArgumentError("--listen \"" + text + "\": want HOST:PORT");
  *host = text.substr(0, colon);
  std::string p = text.substr(colon + 1);
  char* end = nullptr;
  long v = std::strtol(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || v < 0 || v > 65535) {
    return InvalidArgumentError("--listen \"" + text + "\": port must be 0..65535");
  }
  if (*host == "localhost") *host = "127.0.0.1";
  unsigned a, b, c, d;
  char tail;
  if (std::sscanf(host->c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a != 127 || b > 255 ||
      c > 255 || d > 255) {
    return InvalidArgumentError("--listen \"" + text + "\": only loopback addresses (127.x.y.z) are allowed");
  }
  *port = static_cast<int>(v);
  return Status::Ok();
}

MembersimServer::MembersimServer(Simulator& sim, const Clock& clock, Options options)
    : sim_(sim), clock_(clock), options_(std::move(options)) {}

MembersimServer::~MembersimServer() { Stop(); }

namespace {

RestResponse AdminResponseToRest(const AdminResponse& r) { return RestResponse::Json(r.code, r.body); }

RestResponse Partitioned(const std::string& cluster, bool refused) {
  return RestResponse::Error(ApiError::FromStatus(UnavailableError(
      (refused ? "connection refused: cluster " : "cluster ") + cluster + " is partitioned (simulated)")));
}

using TlsSetup = std::function<void(boost::asio::ssl::context&)>;

// The dedicated port's TLS: server certificate and key; with a client CA, a client
// certificate chaining to it is required in the handshake (see server.h for why there).
// Throws boost::system::system_error on unusable files.
TlsSetup TlsFor(const ClusterSpec& spec) {
  if (spec.tls_cert_file.empty()) return nullptr;
  return [cert = spec.tls_cert_file, key = spec.tls_key_file, ca = spec.client_ca_file](
             boost::asio::ssl::context& ctx) {
    namespace ssl = boost::asio::ssl;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain_file(cert);
    ctx.use_private_key_file(key, ssl::context::pem);  // also checks that it matches the cert
    if (ca.empty()) return;
    ctx.load_verify_file(ca);
    ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    // Tell clients which CA to pick a certificate for (kubectl and curl send none otherwise
    // when they hold several), and allow session resumption with client verification on.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str())) {
      SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
    }
    static const unsigned char kSessionContext[] = "membersim";
    SSL_CTX_set_session_id_context(ctx.native_handle(), kSessionContext, sizeof kSessionContext - 1);
  };
}

// Applies `setup` to a scratch context so bad files fail Start() with a clear message
// instead of every handshake.
Status CheckTls(const ClusterSpec& spec, const TlsSetup& setup) {
  if (!setup) return Status::Ok();
  try {
    boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_server);
    setup(ctx);
  } catch (const std::exception& e) {
    return InvalidArgumentError("cluster " + spec.name + ": tls (cert " + spec.tls_cert_file + ", key " +
                                spec.tls_key_file +
                                (spec.client_ca_file.empty() ? "" : ", clientCA " + spec.client_ca_file) +
                                "): " + e.what());
  }
  return Status::Ok();
}

// /openapi/v2 as kube-apiserver serves it (JSON; protobuf is not spoken, as with the
// federation-apiserver an empty body answers it): the schemas of the kinds membersim knows
// (api/template_schema.h, the table admission falls back on), marked "x-meridian-any-kind"
// because membersim also stores any other kind, without a schema (the generic fallback).
RestResponse ServeOpenApiV2(const RestRequest& req) {
  static const std::string* document = [] {
    nlohmann::json doc = api::BuiltinOpenApiV2Document();
    doc["x-meridian-any-kind"] = true;
    return new std::string(doc.dump());
  }();
  RestResponse r;
  if (req.Header("accept").find("protobuf") != std::string::npos) {
    r.content_type = "application/octet-stream";
    return r;
  }
  r.body = *document;
  return r;
}

// What a create, update or patch writes: apiVersion, kind and version of the object its URL
// names (/api/v1/[namespaces/NS/]PLURAL[/NAME[/status]], /apis/G/V/...; `rel` is the path
// after the base path). False for other requests and other subresources (scale, binding).
struct WriteTarget {
  std::string api_version, version, kind;
  bool json_patch = false;
};
bool TargetOfWrite(const RestRequest& r, const std::string& rel, WriteTarget* t) {
  if (r.method != "POST" && r.method != "PUT" && r.method != "PATCH") return false;
  std::vector<std::string> segs;
  for (size_t i = 0; i < rel.size();) {
    size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    if (j > i) segs.push_back(rel.substr(i, j - i));
    i = j + 1;
  }
  size_t at = 0;
  std::string group;
  if (segs.size() >= 2 && segs[0] == "api") {
    t->version = segs[1];
    at = 2;
  } else if (segs.size() >= 3 && segs[0] == "apis") {
    group = segs[1];
    t->version = segs[2];
    at = 3;
  } else {
    return false;
  }
  if (segs.size() >= at + 3 && segs[at] == "namespaces") at += 2;  // a namespaced resource
  if (segs.size() <= at) return false;
  const std::string plural = segs[at];
  if (segs.size() > at + 3 || (segs.size() == at + 3 && segs[at + 2] != "status")) return false;
  t->api_version = group.empty() ? t->version : group + "/" + t->version;
  const apimachinery::ResourceInfo* info = MemberClusterRegistry().Find(group, t->version, plural);
  t->kind = info ? info->kind : "";
  t->json_patch =
      r.method == "PATCH" && r.Header("content-type").find("json-patch") != std::string::npos;
  return true;
}

// The request's fieldValidation and its problems (none for Ignore, and for non-writes).
std::pair<FieldValidation, std::vector<std::string>> FieldCheck(const RestRequest& r,
                                                                const std::string& base_path,
                                                                Status* bad_parameter) {
  WriteTarget t;
  const std::string rel = r.path.substr(std::min(r.path.size(), base_path.size()));
  if (!TargetOfWrite(r, rel, &t)) return {FieldValidation::kIgnore, {}};
  StatusOr<FieldValidation> mode = ParseFieldValidation(r.Query("fieldValidation"));
  if (!mode.ok()) {
    *bad_parameter = mode.status();
    return {FieldValidation::kIgnore, {}};
  }
  if (*mode == FieldValidation::kIgnore) return {*mode, {}};
  return {*mode, FieldProblems(r.body, t.api_version, t.kind, t.json_patch)};
}

bool AnonymousAllowed(const std::string& path) {
  for (const char* p : {"/healthz", "/livez", "/readyz", "/version"}) {
    std::string s(p);
    if (path == s || path.rfind(s + "/", 0) == 0) return true;
  }
  return false;
}

}  // namespace

Status MembersimServer::Start() {
  std::string host;
  int port = 0;
  MERIDIAN_RETURN_IF_ERROR(ParseListenAddress(options_.listen, &host, &port));
  sim_.SetPartitionListener([this](SimulatedCluster& c) { OnPartitionChange(c); });
  for (const auto& c : sim_.clusters()) {
    auto ch = std::make_unique<ClusterHttp>();
    ch->cluster = c.get();
    const std::string name = c->spec().name;
    auto make = [&](const std::string& base) {
      apimachinery::rest::RestOptions ro;
      ro.base_path = base;
      ro.version["gitVersion"] = "v1.32.0-membersim";  // same version the nodes' kubelets report
      auto h = std::make_unique<RestHandler>(c->service(), clock_, ro);
      // Kubernetes' request metrics, labelled with the cluster (observability/).
      auto& metrics = ch->metrics.emplace_back(std::make_unique<observability::RequestMetrics>(
          c->service().registry(), clock_, base,
          std::map<std::string, std::string>{{"cluster", name}}));
      h->AddFilter(metrics->Filter());
      h->SetObserver(metrics->Observer());
      h->AddRoute("GET", "/openapi/v2", ServeOpenApiV2);
      const std::string token = c->spec().token;
      const std::string base_path = base;
      if (!base.empty() && !c->spec().client_ca_file.empty()) {
        // The shared listener is plain HTTP, so no request on it carries a client
        // certificate: only what anonymous may see is served, the rest is 401.
        h->AddFilter([base_path](RestRequest& r) -> Status {
          std::string rel = r.path.substr(std::min(r.path.size(), base_path.size()));
          if (AnonymousAllowed(rel)) return Status::Ok();
          return UnauthenticatedError("Unauthorized");
        });
      }
      if (!token.empty()) {
        h->AddFilter([token, base_path](RestRequest& r) -> Status {
          std::string auth = r.Header("authorization");
          if (auth.empty()) {
            std::string rel = r.path.substr(std::min(r.path.size(), base_path.size()));
            if (AnonymousAllowed(rel)) {
              r.user.name = "system:anonymous";
              return Status::Ok();
            }
            return UnauthenticatedError("Unauthorized");
          }
          if (auth != "Bearer " + token) return UnauthenticatedError("Unauthorized");
          r.user.name = "membersim-admin";
          r.user.groups = {"system:masters", "system:authenticated"};
          return Status::Ok();
        });
      }
      // fieldValidation=Strict refuses before anything is written (after authentication, as
      // kube-apiserver decodes only an authorised request); Warn is answered in Admit.
      h->AddFilter([base_path](RestRequest& r) -> Status {
        Status bad;
        auto [mode, problems] = FieldCheck(r, base_path, &bad);
        if (!bad.ok()) return bad;
        if (mode != FieldValidation::kStrict || problems.empty()) return Status::Ok();
        WriteTarget t;
        TargetOfWrite(r, r.path.substr(std::min(r.path.size(), base_path.size())), &t);
        return StrictDecodingError(t.kind.empty() ? "object" : t.kind, t.version, problems);
      });
      return h;
    };
    ch->shared = make("/clusters/" + name);
    if (c->spec().port >= 0) {
      ch->dedicated = make("");
      ch->port = c->spec().port;
    }
    clusters_[name] = std::move(ch);
  }
  for (auto& [name, ch] : clusters_) {
    MERIDIAN_RETURN_IF_ERROR(CheckTls(ch->cluster->spec(), TlsFor(ch->cluster->spec())));
  }
  cluster_metrics_ = observability::RegisterCollector([this] { return ClusterFamilies(); });
  apimachinery::rest::HttpServerOptions shared_options;
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    ClusterSpec shared_tls;  // the shared listener's TLS, checked like a cluster's
    shared_tls.name = "(shared listener)";
    shared_tls.tls_cert_file = options_.tls_cert_file;
    shared_tls.tls_key_file = options_.tls_key_file;
    shared_options.tls_context = TlsFor(shared_tls);
    MERIDIAN_RETURN_IF_ERROR(CheckTls(shared_tls, shared_options.tls_context));
  }
  auto handler = [this](RestRequest r, HttpResponder respond) { Route(std::move(r), std::move(respond)); };
  StatusOr<std::unique_ptr<HttpServer>> s =
      port == 0 ? HttpServer::StartAsyncOnFreeLoopbackPort(handler, shared_options)
                : HttpServer::StartAsync((shared_options.tls_context ? "https://" : "http://") +
                                             host + ":" + std::to_string(port),
                                         handler, shared_options);
  if (!s.ok()) return s.status();
  server_ = std::move(s).value();
  for (auto& [name, ch] : clusters_) {
    if (ch->dedicated) MERIDIAN_RETURN_IF_ERROR(OpenDedicated(*ch).WithContext("cluster " + name));
  }
  return Status::Ok();
}

Status MembersimServer::OpenDedicated(ClusterHttp& ch) {
  apimachinery::rest::HttpServerOptions options;
  options.tls_context = TlsFor(ch.cluster->spec());
  auto s = HttpServer::StartAsyncOnFreeLoopbackPort(
      [this, &ch](RestRequest r, HttpResponder respond) {
        Admit(ch, *ch.dedicated, std::move(r), std::move(respond), /*delayed=*/false);
      },
      options);
  if (!s.ok()) return s.status();
  ch.server = std::move(s).value();
  ch.gate = std::make_unique<internal::TcpGate>(ch.port, ch.server->port());
  MERIDIAN_RETURN_IF_ERROR(ch.gate->Open());
  ch.port = ch.gate->port();  // keep a picked port across refuse/heal
  return Status::Ok();
}

void MembersimServer::OnPartitionChange(SimulatedCluster& c) {
  auto it = clusters_.find(c.spec().name);
  if (it == clusters_.end()) return;
  ClusterHttp& ch = *it->second;
  PartitionMode mode = c.partition();
  // Held requests wake up and look again: served after a heal, refused after a switch to
  // "refuse".
  if (mode != PartitionMode::kHang) parked_.Release("hang/" + c.spec().name);
  if (mode != PartitionMode::kNone) {
    // A dead network ends streams; clients re-watch and then hang or are refused.
    ch.shared->StopWatches();
    if (ch.dedicated) ch.dedicated->StopWatches();
  }
  if (!ch.gate) return;
  if (mode == PartitionMode::kRefuse) {
    ch.gate->Close();
  } else {
    Status st = ch.gate->Open();
    if (!st.ok()) {
      spdlog::error(LogFields("reopening the listener failed",
                              {{"member", c.spec().name}, {"error", st.ToString()}}));
    }
  }
}

void MembersimServer::Stop() {
  if (stopping_.exchange(true)) return;
  sim_.SetPartitionListener(nullptr);
  parked_.Stop();  // answers every held or delayed request before the listeners close
  for (auto& [name, ch] : clusters_) {
    if (ch->gate) ch->gate->Close();
    if (ch->server) ch->server->Stop();
  }
  if (server_) server_->Stop();
}

std::vector<prometheus::MetricFamily> MembersimServer::ClusterFamilies() const {
  prometheus::MetricFamily reachable = observability::GaugeFamily(
      "membersim_cluster_reachable",
      "1 when the simulated cluster's API answers, 0 while it is partitioned (hang or refuse).");
  prometheus::MetricFamily failed = observability::GaugeFamily(
      "membersim_cluster_failed_zones", "Zones of the simulated cluster that are failed.");
  prometheus::MetricFamily latency = observability::GaugeFamily(
      "membersim_cluster_injected_latency_seconds", "Latency injected into every API request.");
  for (const auto& [name, ch] : clusters_) {
    const SimulatedCluster& c = *ch->cluster;
    const std::map<std::string, std::string> labels = {{"cluster", name},
                                                       {"region", c.spec().region}};
    observability::AddSample(reachable, labels, c.partition() == PartitionMode::kNone ? 1 : 0);
    observability::AddSample(failed, labels, static_cast<double>(c.faults().failed_zones.size()));
    observability::AddSample(latency, labels, std::chrono::duration<double>(c.latency()).count());
  }
  return {std::move(reachable), std::move(failed), std::move(latency)};
}

std::string MembersimServer::url() const { return server_ ? server_->url() : ""; }

std::string MembersimServer::DedicatedUrl(const std::string& cluster) const {
  auto it = clusters_.find(cluster);
  if (it == clusters_.end() || !it->second->dedicated) return "";
  const char* scheme = it->second->cluster->spec().tls_cert_file.empty() ? "http" : "https";
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(it->second->port);
}

void MembersimServer::Admit(ClusterHttp& ch, RestHandler& handler, RestRequest request,
                            HttpResponder respond, bool delayed) {
  using Wake = internal::ParkedRequests::Wake;
  SimulatedCluster& c = *ch.cluster;
  const std::string& name = c.spec().name;
  if (stopping_.load()) {
    respond(Partitioned(name, false));
    return;
  }
  PartitionMode mode = c.partition();
  if (mode == PartitionMode::kRefuse) {  // dedicated listeners are closed instead
    respond(Partitioned(name, true));
    return;
  }
  if (mode == PartitionMode::kHang) {
    auto held = std::make_shared<RestRequest>(std::move(request));
    parked_.Park("hang/" + name, options_.max_hang,
                 [this, &ch, &handler, held, respond, delayed](Wake wake) {
                   if (wake == Wake::kReleased) {
                     Admit(ch, handler, std::move(*held), respond, delayed);
                   } else {  // max_hang passed, or shutting down
                     respond(Partitioned(ch.cluster->spec().name, false));
                   }
                 });
    // A heal between reading the mode and parking released nothing; look again.
    if (c.partition() != PartitionMode::kHang) parked_.Release("hang/" + name);
    return;
  }
  Duration latency = c.latency();
  if (!delayed && latency.count() > 0) {
    auto held = std::make_shared<RestRequest>(std::move(request));
    parked_.Park("", latency, [this, &ch, &handler, held, respond](Wake wake) {
      if (wake == Wake::kStopped) {
        respond(Partitioned(ch.cluster->spec().name, false));
      } else {  // the partition may have begun meanwhile
        Admit(ch, handler, std::move(*held), respond, /*delayed=*/true);
      }
    });
    return;
  }
  c.CountApiWrite(request.method);
  if (request.method == "GET") c.CountApiRead(request.path, request.Query("watch") == "true");
  // fieldValidation=Warn (the default): the write goes ahead, each problem a warning.
  Status ignored;
  auto [validation, problems] =
      FieldCheck(request, &handler == ch.shared.get() ? "/clusters/" + name : "", &ignored);
  RestResponse response = handler.Handle(std::move(request));
  if (validation == FieldValidation::kWarn && !problems.empty() && response.code >= 200 &&
      response.code <= 299) {
    response.headers["Warning"] = WarningHeader(problems);
  }
  respond(std::move(response));
}

void MembersimServer::Route(RestRequest request, HttpResponder respond) {
  const std::string& path = request.path;
  static const std::string kPrefix = "/clusters/";
  if (path.rfind(kPrefix, 0) == 0) {
    size_t end = path.find('/', kPrefix.size());
    std::string name = path.substr(kPrefix.size(), end == std::string::npos ? std::string::npos : end - kPrefix.size());
    auto it = clusters_.find(name);
    if (it == clusters_.end()) {
      respond(RestResponse::Error(ApiError::NotFound("", "clusters", name)));
      return;
    }
    Admit(*it->second, *it->second->shared, std::move(request), std::move(respond), /*delayed=*/false);
    return;
  }
  respond(RouteLocal(request));
}

RestResponse MembersimServer::RouteLocal(const RestRequest& request) {
  const std::string& path = request.path;
  if (path == "/admin" || path.rfind("/admin/", 0) == 0) {
    return AdminResponseToRest(HandleAdmin(sim_, request.method, path, request.body));
  }
  if (path == "/healthz" || path == "/readyz" || path == "/livez") return RestResponse::Text(200, "ok");
  if (path == "/metrics") return observability::MetricsResponse(request);
  if (path == "/" || path.empty()) {
    nlohmann::json clusters = nlohmann::json::array();
    for (const auto& [name, ch] : clusters_) {
      nlohmann::json c = {{"name", name},
                          {"region", ch->cluster->spec().region},
                          {"server", url() + "/clusters/" + name}};
      std::string d = DedicatedUrl(name);
      if (!d.empty()) c["dedicatedServer"] = d;
      clusters.push_back(std::move(c));
    }
    return RestResponse::Json(200, {{"kind", "MembersimIndex"}, {"clusters", clusters}});
  }
  ApiError e;
  e.code = 404;
  e.reason = "NotFound";
  e.message = "the server could not find the requested resource (clusters are served under /clusters/NAME)";
  return RestResponse::Error(e);
}

}  // namespace meridian::membersim
