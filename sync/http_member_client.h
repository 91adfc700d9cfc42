// HttpMemberClient: the MemberClient that speaks HTTP(S) to a member's Kubernetes API server
// with cpprestsdk.
//
//   - One cpprestsdk http_client (one connection pool) per member, so members never share
//     connections; every call is bounded by MemberEndpoint::timeout end to end (connect,
//     request, headers, body): when it passes the call returns kDeadlineExceeded at once and
//     the request is cancelled. A hung member therefore blocks only its own callers, and only
//     for its timeout.
//   - TLS: the CA bundle (PEM, in memory) replaces the system roots when given; client
//     certificate and key for mutual TLS; verification (chain + host name) is on unless
//     credentials.insecure_skip_tls_verify. PEMs are checked in Create().
//   - Bearer token header, `Accept: application/json`, the server URL's base path prefixed to
//     every request path ("http://127.0.0.1:7000/clusters/eu-1" + "/api/v1/...").
//   - Watches run as a chain of cpprestsdk tasks (no thread of their own): the response body
//     is read incrementally, split into newline-delimited JSON events, and delivered in
//     order; after the stream ends (server timeout, disconnect) the watch resumes from the
//     last resourceVersion; on 410 it relists (see MemberClient::Watch). Backoff waits are
//     timers on cpprestsdk's thread-pool io_service.
//
// Thread-safety: all methods are thread-safe. The client must outlive no watch: watches keep
// what they need and may outlive the client.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "sync/member_client.h"

namespace boost::asio::ssl {
class context;
}

namespace meridian::sync {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpMemberClientOptions {
  // Reads time for the discovery cache; null means RealClock(). Must outlive the client.
  const Clock* clock = nullptr;
  // How long Discover() answers from its cache.
  std::chrono::seconds discovery_ttl{300};
  std::string user_agent = "meridian-member-client/0.1";
  // Asked for every write (POST, PUT, PATCH, DELETE) as it is sent, and added to it: for a
  // header whose value changes over the client's life (a leader's fencing token,
  // apimachinery/fencing_token.h). Must be thread-safe; empty values are not sent.
  std::function<HttpHeaders()> write_headers;
};

// Sets up a cpprestsdk client TLS context the way kubectl uses a kubeconfig's credentials:
// only `certificate_authority_pem`'s roots are trusted when given (unless
// insecure_skip_tls_verify), and the client certificate and key are presented when given.
// Host name verification stays cpprestsdk's (http_client_config::set_validate_certificates).
// Throws boost::system::system_error for a PEM that does not parse (cpprestsdk reports it as
// the request's failure); Create()-time validation avoids that for members.
void ConfigureClientTls(const MemberCredentials& creds, boost::asio::ssl::context& ctx);

// Checks credentials without connecting: the CA bundle holds a PEM certificate, a client
// certificate comes with its matching key. kInvalidArgument "<who>: <field>: why".
Status CheckClientCredentials(const std::string& who, const MemberCredentials& creds);

class HttpMemberClient final : public MemberClient {
 public:
  // Validates the endpoint (URL, PEMs, certificate/key pair) without connecting.
  // kInvalidArgument naming the member and the field.
  static StatusOr<std::unique_ptr<HttpMemberClient>> Create(MemberEndpoint endpoint,
                                                            HttpMemberClientOptions options = {});
  ~HttpMemberClient() override;
  HttpMemberClient(const HttpMemberClient&) = delete;
  HttpMemberClient& operator=(const HttpMemberClient&) = delete;

  const std::string& member() const override { return endpoint_.name; }
  const MemberEndpoint& endpoint() const { return endpoint_; }

  StatusOr<DiscoveryInfo> Discover(bool refresh = false) override;
  StatusOr<nlohmann::json> Get(const GroupVersionResource& gvr, const std::string& ns,
                               const std::string& name) override;
  StatusOr<ObjectList> List(const GroupVersionResource& gvr, const std::string& ns,
                            const MemberListOptions& options = {}) override;
  StatusOr<nlohmann::json> Create(const GroupVersionResource& gvr, const std::string& ns,
                                  const nlohmann::json& object) override;
  StatusOr<nlohmann::json> Update(const GroupVersionResource& gvr, const std::string& ns,
                                  const nlohmann::json& object) override;
  StatusOr<nlohmann::json> UpdateStatus(const GroupVersionResource& gvr, const std::string& ns,
                                        const nlohmann::json& object) override;
  StatusOr<nlohmann::json> MergePatch(const GroupVersionResource& gvr, const std::string& ns,
                                      const std::string& name,
                                      const nlohmann::json& patch) override;
  StatusOr<nlohmann::json> JsonPatch(const GroupVersionResource& gvr, const std::string& ns,
                                     const std::string& name, const nlohmann::json& ops) override;
  Status Delete(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                const MemberDeleteOptions& options = {}) override;
  StatusOr<std::unique_ptr<MemberWatch>> Watch(const GroupVersionResource& gvr,
                                               const std::string& ns,
                                               const std::string& label_selector,
                                               const std::string& from_resource_version,
                                               MemberWatchCallback callback,
                                               WatchOptions options = {}) override;
  Status Healthz() override;
  Status Readyz() override;
  StatusOr<nlohmann::json> OpenApiV2() override;

  struct Transport;  // internal (cpprestsdk state), shared with watches

 private:
  HttpMemberClient(MemberEndpoint endpoint, HttpMemberClientOptions options,
                   std::shared_ptr<Transport> transport);
  StatusOr<nlohmann::json> Write(const std::string& method, const GroupVersionResource& gvr,
                                 const std::string& ns, const std::string& name,
                                 const std::string& subresource, const nlohmann::json& body,
                                 const std::string& content_type);
  Status Probe(const std::string& path, bool* not_found);

  const MemberEndpoint endpoint_;
  const HttpMemberClientOptions options_;
  const Clock& clock_;
  std::shared_ptr<Transport> transport_;

  std::mutex discovery_mu_;  // guards discovery_, discovery_time_
  std::optional<DiscoveryInfo> discovery_;
  Timestamp discovery_time_{};
};

}  // namespace meridian::sync
