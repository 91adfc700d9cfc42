#include "membersim/server.h"

#include <cstdio>
#include <thread>

#include <spdlog/spdlog.h>

#include "membersim/internal/tcp_gate.h"

namespace meridian::membersim {

using apimachinery::ApiError;
using apimachinery::rest::HttpServer;
using apimachinery::rest::RestHandler;
using apimachinery::rest::RestRequest;
using apimachinery::rest::RestResponse;

struct MembersimServer::ClusterHttp {
  SimulatedCluster* cluster = nullptr;
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
      SimulatedCluster* cluster = c.get();
      const std::string token = c->spec().token;
      const std::string base_path = base;
      h->AddFilter([this, cluster](RestRequest&) -> Status {
        auto start = std::chrono::steady_clock::now();
        while (true) {
          PartitionMode mode = cluster->partition();
          if (mode == PartitionMode::kNone) break;
          if (mode == PartitionMode::kRefuse) {  // dedicated listeners are closed instead
            return UnavailableError("connection refused: cluster " + cluster->spec().name +
                                    " is partitioned (simulated)");
          }
          if (stopping_.load() || std::chrono::steady_clock::now() - start > options_.max_hang) {
            return UnavailableError("cluster " + cluster->spec().name + " is partitioned (simulated)");
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        Duration latency = cluster->latency();
        if (latency.count() > 0) std::this_thread::sleep_for(latency);
        return Status::Ok();
      });
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
      return h;
    };
    ch->shared = make("/clusters/" + name);
    if (c->spec().port >= 0) {
      ch->dedicated = make("");
      ch->port = c->spec().port;
    }
    clusters_[name] = std::move(ch);
  }
  auto handler = [this](RestRequest r) { return Route(std::move(r)); };
  StatusOr<std::unique_ptr<HttpServer>> s =
      port == 0 ? HttpServer::StartOnFreeLoopbackPort(handler)
                : HttpServer::Start("http://" + host + ":" + std::to_string(port), handler);
  if (!s.ok()) return s.status();
  server_ = std::move(s).value();
  for (auto& [name, ch] : clusters_) {
    if (ch->dedicated) MERIDIAN_RETURN_IF_ERROR(OpenDedicated(*ch).WithContext("cluster " + name));
  }
  return Status::Ok();
}

Status MembersimServer::OpenDedicated(ClusterHttp& ch) {
  auto s = HttpServer::StartOnFreeLoopbackPort(apimachinery::rest::HandlerFor(*ch.dedicated));
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
    if (!st.ok()) spdlog::error("membersim: reopening {}: {}", c.spec().name, st.ToString());
  }
}

void MembersimServer::Stop() {
  if (stopping_.exchange(true)) return;
  sim_.SetPartitionListener(nullptr);
  for (auto& [name, ch] : clusters_) {
    if (ch->gate) ch->gate->Close();
    if (ch->server) ch->server->Stop();
  }
  if (server_) server_->Stop();
}

std::string MembersimServer::url() const { return server_ ? server_->url() : ""; }

std::string MembersimServer::DedicatedUrl(const std::string& cluster) const {
  auto it = clusters_.find(cluster);
  if (it == clusters_.end() || !it->second->dedicated) return "";
  return "http://127.0.0.1:" + std::to_string(it->second->port);
}

RestResponse MembersimServer::Route(RestRequest request) {
  const std::string& path = request.path;
  static const std::string kPrefix = "/clusters/";
  if (path.rfind(kPrefix, 0) == 0) {
    size_t end = path.find('/', kPrefix.size());
    std::string name = path.substr(kPrefix.size(), end == std::string::npos ? std::string::npos : end - kPrefix.size());
    auto it = clusters_.find(name);
    if (it == clusters_.end()) {
      return RestResponse::Error(ApiError::NotFound("", "clusters", name));
    }
    return it->second->shared->Handle(std::move(request));
  }
  if (path == "/admin" || path.rfind("/admin/", 0) == 0) {
    return AdminResponseToRest(HandleAdmin(sim_, request.method, path, request.body));
  }
  if (path == "/healthz" || path == "/readyz" || path == "/livez") return RestResponse::Text(200, "ok");
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
