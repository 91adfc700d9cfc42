// The transport-free half of HttpMemberClient: URLs, query strings, mapping a member's error
// answers to Status, and parsing discovery documents, lists and watch-event lines.
// Kept apart from cpprestsdk so it is unit-tested without sockets.
//
// All functions are pure and thread-safe; LineSplitter is a value type (thread-compatible).
#pragma once

#include "common/base64.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "sync/member_client.h"

namespace meridian::sync::internal {

// A member's server URL split into what cpprestsdk connects to and the path prefix every
// request path starts with.
struct ServerUrl {
  std::string origin;     // "https://10.0.0.1:6443" (scheme, host, optional port)
  std::string base_path;  // "" or "/clusters/eu-1" (no trailing slash)
  bool tls = false;
  std::string host;  // "10.0.0.1", "api.example.com", "::1" (an IPv6 address without brackets)
  std::string port;  // "6443"; the scheme's default ("443", "80") when the URL names none
};

// Splits "scheme://host[:port][/base/path][/]" (host may be "[IPv6]"). kInvalidArgument
// (naming `server`) for anything but http/https, a missing host, a port that is not 1-65535,
// user info, a query or a fragment.
StatusOr<ServerUrl> ParseServerUrl(const std::string& server);

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string PercentEncode(std::string_view text);

// "/api/v1" for the core group, "/apis/G/V" otherwise.
std::string GroupVersionPath(const GroupVersionResource& gvr);

// The request path of a collection (name ""), an object, or an object's subresource:
// BASE/api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUB]] or BASE/apis/G/V/... . Segments are
// percent-encoded. kInvalidArgument for an empty version or resource, a subresource without
// a name, or a segment that is "", ".", ".." or contains '/'.
StatusOr<std::string> ResourcePath(const std::string& base_path, const GroupVersionResource& gvr,
                                   const std::string& ns, const std::string& name,
                                   const std::string& subresource = "");

// "?k=v&k2=v2" with encoded keys and values; pairs with an empty value are dropped;
// "" when nothing is left.
std::string QueryString(const std::vector<std::pair<std::string, std::string>>& params);

// `deployments.apps "shop/web"`, `namespaces "prod"`, `deployments.apps in "shop"` (no name),
// `deployments.apps` (neither).
std::string DescribeObject(const GroupVersionResource& gvr, const std::string& ns,
                           const std::string& name);

// What kind of refusal an error answer is, from its HTTP code, Status reason, message and
// details (not the code alone: a real server answers 403 for RBAC denials, terminating
// namespaces, quota and admission plugins alike).
struct MemberErrorClass {
  StatusCode code = StatusCode::kUnknown;
  // "" (the code says it all), "RBAC" (403 by the authorizer: kPermissionDenied, the only
  // 403 that blames credentials), "NamespaceTerminating" (kFailedPrecondition),
  // "QuotaExceeded" (kResourceExhausted), "WebhookDenied" (any code; kFailedPrecondition),
  // "AdmissionDenied" (any other 403: kFailedPrecondition), "Throttled" (429).
  std::string tag;
  int64_t retry_after_seconds = 0;  // details.retryAfterSeconds (429, some 5xx); 0: none
};
MemberErrorClass ClassifyMemberError(int http_code, const std::string& reason,
                                     const std::string& message, const nlohmann::json* details);

// The Status for a non-2xx answer. `body` may be a Kubernetes Status object (its reason,
// message and details are used) or anything else (its first 200 bytes are quoted). The code
// is ClassifyMemberError's. Message: `member "NAME": WHAT: <server message> (<reason>[:
// <tag>][; retry after Ns])`. `retry_after_header` is the Retry-After header (seconds; 0 when
// absent) and wins over details.retryAfterSeconds.
Status MemberErrorStatus(const std::string& member, const std::string& what, int http_code,
                         const std::string& body, int64_t retry_after_header = 0);

inline constexpr char kRetryAfterPrefix[] = "retry after ";
// The "retry after Ns" hint MemberErrorStatus wrote into `status` (seconds, capped at an
// hour), or 0.
int64_t RetryAfterSeconds(const Status& status);

// The code for an HTTP status and Kubernetes reason (see member_client.h for the table).
StatusCode CodeForHttp(int http_code, const std::string& reason);

// /version -> ServerVersion ("minor": "27+" reads as 27). kInvalidArgument when not a
// version document.
StatusOr<ServerVersion> ParseServerVersion(const nlohmann::json& body);
// An APIResourceList for `group`/`version` -> its resources (subresources fold into
// has_status of their parent and are not listed themselves).
std::vector<DiscoveredResource> ParseApiResourceList(const nlohmann::json& body,
                                                     const std::string& group,
                                                     const std::string& version);
// /apis (APIGroupList) -> every "group/version" it lists (all versions, preferred first).
std::vector<std::string> ParseApiGroupList(const nlohmann::json& body);
// /api (APIVersions) -> "v1", ...
std::vector<std::string> ParseApiVersions(const nlohmann::json& body);

// A `<Kind>List` -> ObjectList. kInvalidArgument when `items` is not an array.
StatusOr<ObjectList> ParseObjectList(const nlohmann::json& body);

// One line of a watch stream.
struct WireWatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  nlohmann::json object;
  std::string resource_version;  // object.metadata.resourceVersion ("" for ERROR)
  int error_code = 0;            // ERROR: the Status object's code (410 = expired)
  std::string error_reason;      // ERROR: reason ("Expired", "Gone", ...)
  std::string error_message;     // ERROR: message
};

// Parses `{"type": ..., "object": {...}}`. kInvalidArgument for malformed JSON, an unknown
// type, or a missing object.
StatusOr<WireWatchEvent> ParseWatchEventLine(std::string_view line);

// Splits a byte stream into newline-terminated lines (a trailing '\r' is dropped, empty
// lines are skipped). Lines longer than `max_line_bytes` make Append fail (kResourceExhausted).
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line_bytes = 64 * 1024 * 1024) : max_(max_line_bytes) {}
  // Appends bytes; complete lines go to `lines`.
  Status Append(std::string_view bytes, std::vector<std::string>* lines);
  // Bytes of an unfinished line.
  const std::string& pending() const { return pending_; }

 private:
  size_t max_;
  std::string pending_;
};


// metadata.resourceVersion of an object ("" when absent).
std::string ResourceVersionOf(const nlohmann::json& object);
// Whether resourceVersion `a` is newer than `b`. resourceVersions are opaque, but every server
// Meridian talks to writes decimal integers: false unless both are, as a caller must not
// act on an order it cannot know.
bool NewerVersion(const std::string& a, const std::string& b);
// metadata.namespace + "/" + metadata.name (or just the name) — the key a watch cache uses.
std::string ObjectCacheKey(const nlohmann::json& object);

}  // namespace meridian::sync::internal
