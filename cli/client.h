// The thin HTTP side of fedctl: Kubernetes-style REST calls to the federation-apiserver.
//
// Every call returns the object (or list) the server answered, or an ApiError: for an HTTP
// error, the server's Kubernetes Status body parsed (code, reason, message, causes); for a
// transport failure (connection refused, timeout, malformed URL), code 0 and a one-line
// message naming the server URL. No exception escapes.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "apimachinery/api_error.h"
#include "cli/kinds.h"
#include "common/status.h"
#include "sync/member_client.h"

namespace meridian::cli {

using apimachinery::ApiError;
using apimachinery::ApiResult;

// True for errors that never reached the server (code 0).
inline bool IsTransportError(const ApiError& e) { return e.code == 0; }

// Parses a non-2xx answer: a Kubernetes Status body when it is one, else the raw text.
ApiError ApiErrorFromResponse(int http_code, const std::string& body);

// Object-level API calls, the seam apply/delete use (tests substitute a fake). `ns` is
// ignored for cluster-scoped kinds. Implementations need not be thread-safe.
class ResourceClient {
 public:
  virtual ~ResourceClient() = default;
  // The object, or 404 NotFound and the like.
  virtual ApiResult<nlohmann::json> Get(const KindInfo& kind, const std::string& ns,
                                        const std::string& name) = 0;
  // A `<Kind>List`; `ns` "" lists every namespace. `label_selector` may be "".
  virtual ApiResult<nlohmann::json> List(const KindInfo& kind, const std::string& ns,
                                         const std::string& label_selector) = 0;
  // POST; the object as stored (409 AlreadyExists, 422 Invalid, 413 ...).
  virtual ApiResult<nlohmann::json> Create(const KindInfo& kind, const std::string& ns,
                                           const nlohmann::json& body) = 0;
  // PUT; compare-and-swap when the body carries metadata.resourceVersion (409 Conflict).
  virtual ApiResult<nlohmann::json> Update(const KindInfo& kind, const std::string& ns,
                                           const std::string& name, const nlohmann::json& body) = 0;
  // DELETE; the object's last state or a Status.
  virtual ApiResult<nlohmann::json> Delete(const KindInfo& kind, const std::string& ns,
                                           const std::string& name) = 0;
};

struct ClientOptions {
  std::string server = "http://127.0.0.1:8443";  // base URL, may carry a base path
  // What a kubeconfig user and cluster carry: a bearer token (sent on every request), a
  // client certificate and key, the CA to trust, insecure-skip-tls-verify. Checked in Create.
  sync::MemberCredentials credentials;
  std::chrono::milliseconds timeout{30000};      // per request (not for watch streams)
};

// One watch event: "ADDED" | "MODIFIED" | "DELETED" and the object.
struct WatchEvent {
  std::string type;
  nlohmann::json object;
};
// Return false to stop watching.
using WatchCallback = std::function<bool(const WatchEvent&)>;

// ResourceClient over HTTP (cpprestsdk). Not thread-safe; one per command.
class HttpClient final : public ResourceClient {
 public:
  // kInvalidArgument when the server URL is not an http(s) URL.
  static StatusOr<std::unique_ptr<HttpClient>> Create(const ClientOptions& options);
  ~HttpClient() override;

  ApiResult<nlohmann::json> Get(const KindInfo& kind, const std::string& ns,
                                const std::string& name) override;
  ApiResult<nlohmann::json> List(const KindInfo& kind, const std::string& ns,
                                 const std::string& label_selector) override;
  ApiResult<nlohmann::json> Create(const KindInfo& kind, const std::string& ns,
                                   const nlohmann::json& body) override;
  // One page of a list: at most `limit` (> 0) items after `continue_token` ("" for the first
  // page; then the previous page's metadata.continue, until that is empty). 410 when the
  // token expired.
  ApiResult<nlohmann::json> ListPage(const KindInfo& kind, const std::string& ns, int64_t limit,
                                     const std::string& continue_token);
  // The same page as the server's response text, unparsed (a 2xx answer; not checked to be
  // JSON): for callers that need each item's exact bytes (cli/raw_list.h).
  ApiResult<std::string> ListPageText(const KindInfo& kind, const std::string& ns, int64_t limit,
                                      const std::string& continue_token);
  ApiResult<nlohmann::json> Update(const KindInfo& kind, const std::string& ns,
                                   const std::string& name, const nlohmann::json& body) override;
  ApiResult<nlohmann::json> Delete(const KindInfo& kind, const std::string& ns,
                                   const std::string& name) override;

  // Streams changes after `resource_version` (Kubernetes watch) until the callback returns
  // false, the server ends the stream, or an ERROR event arrives (returned as the error,
  // e.g. 410 Expired). Bookmarks are consumed silently. Returns true when the stream ended
  // normally or the callback stopped it.
  ApiResult<bool> Watch(const KindInfo& kind, const std::string& ns,
                        const std::string& label_selector, const std::string& resource_version,
                        const WatchCallback& callback);

  // GET of a non-resource path relative to the server's base path (e.g. "/version"); the
  // body must be JSON.
  ApiResult<nlohmann::json> GetPath(const std::string& path);

  const std::string& server() const { return options_.server; }

 private:
  explicit HttpClient(const ClientOptions& options);
  struct Impl;
  // "/apis/G/V[/namespaces/NS]/PLURAL[/NAME]" relative to the server's base path.
  static std::string ResourcePath(const KindInfo& kind, const std::string& ns,
                                  const std::string& name);
  ApiResult<nlohmann::json> Call(const std::string& method, const std::string& path_and_query,
                                 const nlohmann::json* body);
  // Call without the parse: a 2xx answer's body text.
  ApiResult<std::string> CallText(const std::string& method, const std::string& path_and_query,
                                  const nlohmann::json* body);
  ApiError NotJson(const std::string& method, const std::string& path_and_query) const;
  static std::string PagePath(const KindInfo& kind, const std::string& ns, int64_t limit,
                              const std::string& continue_token);

  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meridian::cli
