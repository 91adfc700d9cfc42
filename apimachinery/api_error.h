// ApiError: a Kubernetes API failure (HTTP code + reason + message + details), and the
// `Status` JSON body a Kubernetes API server answers with. ApiResult<T> is the StatusOr of the
// API layer: the ObjectService returns it so the REST shell can answer exactly what a real
// server would (405, 413 and 422-with-causes have no canonical Status code).
//
// All types are plain values; functions are pure and thread-safe.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/field_error.h"
#include "common/status.h"

namespace meridian::apimachinery {

// One entry of Status.details.causes.
struct StatusCause {
  std::string reason;   // "FieldValueInvalid", "FieldValueRequired", ...
  std::string message;  // "Invalid value: \"Bad\": a lowercase RFC 1123 ..."
  std::string field;    // "metadata.name"
  friend bool operator==(const StatusCause&, const StatusCause&) = default;
};

struct ApiError {
  int code = 500;                // HTTP status
  std::string reason;            // Kubernetes StatusReason: "NotFound", "Conflict", ...
  std::string message;           // the whole human message
  std::string name;              // details.name (object name), may be empty
  std::string group;             // details.group
  std::string kind;              // details.kind (Kubernetes puts the plural resource here)
  std::vector<StatusCause> causes;
  int retry_after_seconds = 0;   // details.retryAfterSeconds when > 0

  // The canonical Status code closest to this error (404 -> kNotFound, 409 Conflict ->
  // kAborted, 410 -> kOutOfRange, 422 -> kFailedPrecondition, ...), message preserved.
  Status ToStatus() const;

  // `resource` is the plural resource ("deployments"), `group` the API group ("apps").
  static ApiError NotFound(const std::string& group, const std::string& resource,
                           const std::string& name);
  static ApiError AlreadyExists(const std::string& group, const std::string& resource,
                                const std::string& name);
  // "Operation cannot be fulfilled on deployments.apps \"web\": <detail>"; the default detail
  // is the real server's "the object has been modified; please apply your changes to the
  // latest version and try again".
  static ApiError Conflict(const std::string& group, const std::string& resource,
                           const std::string& name, const std::string& detail = "");
  // 422 "Deployment.apps \"web\" is invalid: [spec.replicas: Invalid value: ...]" with one
  // cause per FieldError (reason FieldValueInvalid, or FieldValueRequired when the message
  // starts with "Required value").
  static ApiError Invalid(const std::string& group, const std::string& kind,
                          const std::string& name, const FieldErrors& errors);
  static ApiError BadRequest(const std::string& message);
  static ApiError Gone(const std::string& message);     // 410, reason "Expired"
  static ApiError MethodNotAllowed(const std::string& message = "");
  static ApiError RequestEntityTooLarge(int64_t limit_bytes);
  static ApiError UnsupportedMediaType(const std::string& content_type);
  // kube-apiserver's own 415 (negotiation.NewUnsupportedMediaTypeError): "the body of the
  // request was in an unknown format - accepted media types include: a, b". `content_type`
  // goes into details.causes (field "Content-Type") so the client sees what it sent.
  static ApiError UnsupportedMediaType(const std::string& content_type,
                                       const std::vector<std::string>& accepted);
  // 429 TooManyRequests with details.retryAfterSeconds (and the transport's Retry-After).
  static ApiError TooManyRequests(const std::string& message, int retry_after_seconds);
  static ApiError NotAcceptable(const std::string& message);
  static ApiError Unauthorized(const std::string& message = "Unauthorized");
  static ApiError Forbidden(const std::string& message);
  static ApiError Internal(const std::string& message);
  // Maps a canonical Status (e.g. from a Store or an admission callback) to the Kubernetes
  // reason and code of HttpStatusFor(); kFailedPrecondition becomes 422 Invalid,
  // kOutOfRange 410 Expired and kResourceExhausted 429 TooManyRequests retrying after 1 s.
  static ApiError FromStatus(const Status& status);
};

// The `Status` body: {kind: Status, apiVersion: v1, metadata: {}, status: Failure, message,
// reason, details: {name, group, kind, causes: [{reason, message, field}]}, code}.
nlohmann::json StatusBody(const ApiError& error);
// A `status: Success` body (used by DELETE of collections and a few other endpoints).
nlohmann::json SuccessStatusBody(const std::string& name, const std::string& group,
                                 const std::string& kind, const std::string& uid = "");

// Either a T or an ApiError.
template <typename T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(ApiError error) : v_(std::move(error)) {}  // NOLINT implicit
  ApiResult(T value) : v_(std::move(value)) {}         // NOLINT implicit

  bool ok() const { return std::holds_alternative<T>(v_); }
  const ApiError& error() const {
    assert(!ok());
    return std::get<ApiError>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  std::variant<ApiError, T> v_;
};

}  // namespace meridian::apimachinery
