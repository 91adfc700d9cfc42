#include "apimachinery/api_error.h"

namespace meridian::apimachinery {

namespace {

std::string GroupResource(const std::string& group, const std::string& resource) {
  return group.empty() ? resource : resource + "." + group;
}

ApiError Make(int code, std::string reason, std::string message) {
  ApiError e;
  e.code = code;
  e.reason = std::move(reason);
  e.message = std::move(message);
  return e;
}

}  // namespace

Status ApiError::ToStatus() const {
  StatusCode c = StatusCode::kUnknown;
  switch (code) {
    case 400: c = StatusCode::kInvalidArgument; break;
    case 401: c = StatusCode::kUnauthenticated; break;
    case 403: c = StatusCode::kPermissionDenied; break;
    case 404: c = StatusCode::kNotFound; break;
    case 405: c = StatusCode::kUnimplemented; break;
    case 409: c = reason == "AlreadyExists" ? StatusCode::kAlreadyExists : StatusCode::kAborted; break;
    case 410: c = StatusCode::kOutOfRange; break;
    case 413: c = StatusCode::kInvalidArgument; break;
    case 415: c = StatusCode::kInvalidArgument; break;
    case 422: c = StatusCode::kFailedPrecondition; break;
    case 429: c = StatusCode::kResourceExhausted; break;
    case 500: c = StatusCode::kInternal; break;
    case 503: c = StatusCode::kUnavailable; break;
    case 504: c = StatusCode::kDeadlineExceeded; break;
    default: c = code < 500 ? StatusCode::kInvalidArgument : StatusCode::kInternal;
  }
  return Status(c, message);
}

ApiError ApiError::NotFound(const std::string& group, const std::string& resource,
                            const std::string& name) {
  ApiError e = Make(404, "NotFound", GroupResource(group, resource) + " \"" + name + "\" not found");
  e.name = name;
  e.group = group;
  e.kind = resource;
  return e;
}

ApiError ApiError::AlreadyExists(const std::string& group, const std::string& resource,
                                 const std::string& name) {
  ApiError e =
      Make(409, "AlreadyExists", GroupResource(group, resource) + " \"" + name + "\" already exists");
  e.name = name;
  e.group = group;
  e.kind = resource;
  return e;
}

ApiError ApiError::Conflict(const std::string& group, const std::string& resource,
                            const std::string& name, const std::string& detail) {
  const std::string why =
      detail.empty() ? "the object has been modified; please apply your changes to the latest "
                       "version and try again"
                     : detail;
  ApiError e = Make(409, "Conflict",
                    "Operation cannot be fulfilled on " + GroupResource(group, resource) + " \"" +
                        name + "\": " + why);
  e.name = name;
  e.group = group;
  e.kind = resource;
  return e;
}

ApiError ApiError::Invalid(const std::string& group, const std::string& kind,
                           const std::string& name, const FieldErrors& errors) {
  std::string qualified = group.empty() ? kind : kind + "." + group;
  std::string list;
  for (size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) list += ", ";
    list += errors[i].ToString();
  }
  if (errors.size() > 1) list = "[" + list + "]";
  ApiError e = Make(422, "Invalid", qualified + " \"" + name + "\" is invalid: " + list);
  e.name = name;
  e.group = group;
  e.kind = kind;
  for (const FieldError& fe : errors) {
    std::string reason = "FieldValueInvalid";
    if (fe.message.rfind("Required value", 0) == 0) reason = "FieldValueRequired";
    if (fe.message.rfind("Forbidden", 0) == 0) reason = "FieldValueForbidden";
    if (fe.message.rfind("Unsupported value", 0) == 0) reason = "FieldValueNotSupported";
    if (fe.message.rfind("Duplicate value", 0) == 0) reason = "FieldValueDuplicate";
    e.causes.push_back({reason, fe.message, fe.path});
  }
  return e;
}

ApiError ApiError::BadRequest(const std::string& message) {
  return Make(400, "BadRequest", message);
}

ApiError ApiError::Gone(const std::string& message) { return Make(410, "Expired", message); }

ApiError ApiError::MethodNotAllowed(const std::string& message) {
  return Make(405, "MethodNotAllowed",
              message.empty() ? "the server does not allow this method on the requested resource"
                              : message);
}

ApiError ApiError::RequestEntityTooLarge(int64_t limit_bytes) {
  return Make(413, "RequestEntityTooLarge",
              "Request entity too large: limit is " + std::to_string(limit_bytes));
}

ApiError ApiError::UnsupportedMediaType(const std::string& content_type) {
  return Make(415, "UnsupportedMediaType",
              "the body of the request was in an unknown format - accepted media types include: "
              "application/json-patch+json, application/merge-patch+json, "
              "application/strategic-merge-patch+json" +
                  std::string(content_type.empty() ? "" : " (got " + content_type + ")"));
}

ApiError ApiError::UnsupportedMediaType(const std::string& content_type,
                                        const std::vector<std::string>& accepted) {
  std::string list;
  for (const std::string& a : accepted) list += (list.empty() ? "" : ", ") + a;
  ApiError e = Make(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    "include: " +
                        list);
  e.causes.push_back({"FieldValueNotSupported",
                      content_type.empty() ? "no Content-Type" : "got " + content_type,
                      "Content-Type"});
  return e;
}

ApiError ApiError::TooManyRequests(const std::string& message, int retry_after_seconds) {
  ApiError e = Make(429, "TooManyRequests", message);
  e.retry_after_seconds = retry_after_seconds;
  return e;
}

ApiError ApiError::NotAcceptable(const std::string& message) {
  return Make(406, "NotAcceptable", message);
}

ApiError ApiError::Unauthorized(const std::string& message) {
  return Make(401, "Unauthorized", message);
}

ApiError ApiError::Forbidden(const std::string& message) {
  return Make(403, "Forbidden", message);
}

ApiError ApiError::Internal(const std::string& message) {
  return Make(500, "InternalError", "Internal error occurred: " + message);
}

ApiError ApiError::FromStatus(const Status& status) {
  const std::string& m = status.message();
  switch (status.code()) {
    case StatusCode::kInvalidArgument: return BadRequest(m);
    case StatusCode::kUnauthenticated: return Unauthorized(m.empty() ? "Unauthorized" : m);
    case StatusCode::kPermissionDenied: return Forbidden(m);
    case StatusCode::kNotFound: return Make(404, "NotFound", m);
    case StatusCode::kAlreadyExists: return Make(409, "AlreadyExists", m);
    case StatusCode::kAborted: return Make(409, "Conflict", m);
    case StatusCode::kOutOfRange: return Gone(m);
    case StatusCode::kFailedPrecondition: return Make(422, "Invalid", m);
    case StatusCode::kResourceExhausted:
      return TooManyRequests(m, 1);
    case StatusCode::kUnavailable: return Make(503, "ServiceUnavailable", m);
    case StatusCode::kDeadlineExceeded: return Make(504, "Timeout", m);
    case StatusCode::kUnimplemented: return MethodNotAllowed(m);
    default: return Internal(m);
  }
}

nlohmann::json StatusBody(const ApiError& error) {
  nlohmann::json body = {{"kind", "Status"},
                         {"apiVersion", "v1"},
                         {"metadata", nlohmann::json::object()},
                         {"status", "Failure"},
                         {"message", error.message},
                         {"reason", error.reason},
                         {"code", error.code}};
  nlohmann::json details = nlohmann::json::object();
  if (!error.name.empty()) details["name"] = error.name;
  if (!error.group.empty()) details["group"] = error.group;
  if (!error.kind.empty()) details["kind"] = error.kind;
  if (!error.causes.empty()) {
    nlohmann::json causes = nlohmann::json::array();
    for (const StatusCause& c : error.causes) {
      causes.push_back({{"reason", c.reason}, {"message", c.message}, {"field", c.field}});
    }
    details["causes"] = std::move(causes);
  }
  if (error.retry_after_seconds > 0) details["retryAfterSeconds"] = error.retry_after_seconds;
  if (!details.empty()) body["details"] = std::move(details);
  if (error.reason.empty()) body.erase("reason");
  return body;
}

nlohmann::json SuccessStatusBody(const std::string& name, const std::string& group,
                                 const std::string& kind, const std::string& uid) {
  nlohmann::json details = {{"name", name}, {"kind", kind}};
  if (!group.empty()) details["group"] = group;
  if (!uid.empty()) details["uid"] = uid;
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", nlohmann::json::object()},
          {"status", "Success"},
          {"details", details}};
}

}  // namespace meridian::apimachinery
