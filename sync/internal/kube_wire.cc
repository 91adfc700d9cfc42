#include "sync/internal/kube_wire.h"

#include <algorithm>
#include <cctype>

#include "common/json_parse.h"

namespace meridian::sync::internal {

using nlohmann::json;

namespace {

const json* Field(const json& j, const char* name) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(name);
  return it == j.end() ? nullptr : &*it;
}

std::string StringField(const json& j, const char* name) {
  const json* f = Field(j, name);
  return f && f->is_string() ? f->get<std::string>() : std::string();
}

Status CheckSegment(const std::string& what, const std::string& value) {
  if (value.empty() || value == "." || value == ".." ||
      value.find('/') != std::string::npos) {
    return InvalidArgumentError(what + " \"" + value + "\" is not a valid path segment");
  }
  return Status::Ok();
}

int LeadingInt(const std::string& s) {
  int v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    v = v * 10 + (c - '0');
    if (v > 1'000'000) break;
  }
  return v;
}

}  // namespace

StatusOr<ServerUrl> ParseServerUrl(const std::string& server) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("server URL \"" + server + "\": " + why);
  };
  ServerUrl out;
  std::string rest;
  if (server.rfind("https://", 0) == 0) {
    out.tls = true;
    rest = server.substr(8);
  } else if (server.rfind("http://", 0) == 0) {
    rest = server.substr(7);
  } else {
    return bad("scheme must be http:// or https://");
  }
  if (rest.find_first_of("?#") != std::string::npos) return bad("must not have a query or fragment");
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  if (authority.empty() || authority[0] == ':') return bad("missing host");
  if (authority.find('@') != std::string::npos) return bad("user info is not supported");
  std::string port;
  if (authority[0] == '[') {  // [IPv6]:port
    const size_t close = authority.find(']');
    if (close == std::string::npos || close == 1) return bad("unclosed or empty [IPv6] host");
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("unexpected text after the [IPv6] host");
      port = authority.substr(close + 2);
    }
  } else if (const size_t colon = authority.find(':'); colon != std::string::npos) {
    out.host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  } else {
    out.host = authority;
  }
  if (port.empty()) port = out.tls ? "443" : "80";
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) < 1 || std::stoi(port) > 65535) {
    return bad("port \"" + port + "\" is not a number from 1 to 65535");
  }
  out.port = port;
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.find("//") != std::string::npos) return bad("base path has an empty segment");
  out.origin = (out.tls ? "https://" : "http://") + authority;
  out.base_path = path;
  return out;
}

std::string PercentEncode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string GroupVersionPath(const GroupVersionResource& gvr) {
  if (gvr.group.empty()) return "/api/" + PercentEncode(gvr.version);
  return "/apis/" + PercentEncode(gvr.group) + "/" + PercentEncode(gvr.version);
}

StatusOr<std::string> ResourcePath(const std::string& base_path, const GroupVersionResource& gvr,
                                   const std::string& ns, const std::string& name,
                                   const std::string& subresource) {
  MERIDIAN_RETURN_IF_ERROR(CheckSegment("version", gvr.version));
  MERIDIAN_RETURN_IF_ERROR(CheckSegment("resource", gvr.resource));
  if (!gvr.group.empty()) MERIDIAN_RETURN_IF_ERROR(CheckSegment("group", gvr.group));
  if (!ns.empty()) MERIDIAN_RETURN_IF_ERROR(CheckSegment("namespace", ns));
  if (!name.empty()) MERIDIAN_RETURN_IF_ERROR(CheckSegment("name", name));
  if (!subresource.empty()) {
    if (name.empty()) return InvalidArgumentError("subresource \"" + subresource + "\" needs a name");
    MERIDIAN_RETURN_IF_ERROR(CheckSegment("subresource", subresource));
  }
  std::string path = base_path + GroupVersionPath(gvr);
  if (!ns.empty()) path += "/namespaces/" + PercentEncode(ns);
  path += "/" + PercentEncode(gvr.resource);
  if (!name.empty()) path += "/" + PercentEncode(name);
  if (!subresource.empty()) path += "/" + PercentEncode(subresource);
  return path;
}

std::string QueryString(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    out += out.empty() ? "?" : "&";
    out += PercentEncode(k) + "=" + PercentEncode(v);
  }
  return out;
}

std::string DescribeObject(const GroupVersionResource& gvr, const std::string& ns,
                           const std::string& name) {
  const std::string gr = gvr.GroupResource();
  if (!name.empty()) return gr + " \"" + (ns.empty() ? name : ns + "/" + name) + "\"";
  if (!ns.empty()) return gr + " in \"" + ns + "\"";
  return gr;
}

StatusCode CodeForHttp(int http_code, const std::string& reason) {
  switch (http_code) {
    case 400:
      return StatusCode::kInvalidArgument;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 405:
      return StatusCode::kUnimplemented;
    case 406:
    case 413:
    case 415:
    case 422:
      return StatusCode::kInvalidArgument;
    case 408:
      return StatusCode::kDeadlineExceeded;
    case 409:
      return reason == "AlreadyExists" ? StatusCode::kAlreadyExists : StatusCode::kAborted;
    case 410:
      return StatusCode::kOutOfRange;
    case 429:
      return StatusCode::kResourceExhausted;
    case 500:
      return StatusCode::kInternal;
    case 501:
      return StatusCode::kUnimplemented;
    case 502:
    case 503:
      return StatusCode::kUnavailable;
    case 504:
      return StatusCode::kDeadlineExceeded;
    default:
      break;
  }
  if (http_code >= 500) return StatusCode::kUnavailable;
  return StatusCode::kUnknown;
}

MemberErrorClass ClassifyMemberError(int http_code, const std::string& reason,
                                     const std::string& message, const json* details) {
  MemberErrorClass c;
  c.code = CodeForHttp(http_code, reason);
  bool namespace_terminating = message.find("because it is being terminated") != std::string::npos;
  if (details != nullptr) {
    if (const json* causes = Field(*details, "causes"); causes && causes->is_array()) {
      for (const json& cause : *causes) {
        if (StringField(cause, "reason") == "NamespaceTerminating") namespace_terminating = true;
      }
    }
    if (const json* r = Field(*details, "retryAfterSeconds"); r && r->is_number_integer()) {
      c.retry_after_seconds = r->get<int64_t>();
    }
  }
  // Admission webhooks answer with the code they choose (400, 403, 422, ...).
  if (message.find("admission webhook") != std::string::npos &&
      message.find("denied the request") != std::string::npos) {
    c.code = StatusCode::kFailedPrecondition;
    c.tag = "WebhookDenied";
    return c;
  }
  if (http_code == 403) {
    if (namespace_terminating) {
      c.code = StatusCode::kFailedPrecondition;
      c.tag = "NamespaceTerminating";
    } else if (message.find("exceeded quota") != std::string::npos) {
      c.code = StatusCode::kResourceExhausted;
      c.tag = "QuotaExceeded";
    } else if (message.find(" cannot ") != std::string::npos &&
               (message.find("User \"") != std::string::npos ||
                message.find("system:") != std::string::npos)) {
      // The RBAC authorizer's message: `User "x" cannot create resource "deployments" ...`.
      c.code = StatusCode::kPermissionDenied;
      c.tag = "RBAC";
    } else {
      // Forbidden by an admission plugin (PodSecurity, LimitRanger, ...): the request, not
      // the credentials.
      c.code = StatusCode::kFailedPrecondition;
      c.tag = "AdmissionDenied";
    }
  } else if (http_code == 429) {
    c.tag = "Throttled";
  }
  return c;
}

Status MemberErrorStatus(const std::string& member, const std::string& what, int http_code,
                         const std::string& body, int64_t retry_after_header) {
  std::string reason;
  std::string message;
  const json* details = nullptr;
  const json j = ParseJson(body);
  if (j.is_object() && StringField(j, "kind") == "Status") {
    reason = StringField(j, "reason");
    message = StringField(j, "message");
    details = Field(j, "details");
    if (details != nullptr) {
      if (const json* causes = Field(*details, "causes"); causes && causes->is_array()) {
        // The message of a 422 usually lists the causes already; add those it does not.
        for (const json& c : *causes) {
          const std::string field = StringField(c, "field");
          const std::string m = StringField(c, "message");
          const std::string item = field.empty() ? m : field + ": " + m;
          if (!item.empty() && message.find(m) == std::string::npos) message += "; " + item;
        }
      }
    }
  }
  MemberErrorClass c = ClassifyMemberError(http_code, reason, message, details);
  if (retry_after_header > 0) c.retry_after_seconds = retry_after_header;
  if (message.empty()) {
    std::string snippet = body.substr(0, 200);
    while (!snippet.empty() && std::isspace(static_cast<unsigned char>(snippet.back()))) {
      snippet.pop_back();
    }
    message = "HTTP " + std::to_string(http_code) + (snippet.empty() ? "" : ": " + snippet);
  }
  // "(Forbidden: NamespaceTerminating)", "(TooManyRequests: Throttled; retry after 2s)".
  std::string note = reason;
  if (!c.tag.empty()) note += (note.empty() ? "" : ": ") + c.tag;
  if (c.retry_after_seconds > 0) {
    note += (note.empty() ? "" : "; ") + std::string(kRetryAfterPrefix) +
            std::to_string(c.retry_after_seconds) + "s";
  }
  if (!note.empty() && !(reason.empty() && message.rfind("HTTP ", 0) == 0 && c.tag.empty() &&
                         c.retry_after_seconds == 0)) {
    message += " (" + note + ")";
  }
  return Status(c.code, "member \"" + member + "\": " + what + ": " + message);
}

int64_t RetryAfterSeconds(const Status& status) {
  const std::string& m = status.message();
  const size_t at = m.rfind(kRetryAfterPrefix);
  if (at == std::string::npos) return 0;
  int64_t n = 0;
  for (size_t i = at + std::string_view(kRetryAfterPrefix).size();
       i < m.size() && std::isdigit(static_cast<unsigned char>(m[i])); ++i) {
    n = n * 10 + (m[i] - '0');
    if (n > 3600) return 3600;
  }
  return n;
}

StatusOr<ServerVersion> ParseServerVersion(const json& body) {
  if (!body.is_object() || !Field(body, "major")) {
    return InvalidArgumentError("not a version document");
  }
  ServerVersion v;
  v.major = LeadingInt(StringField(body, "major"));
  v.minor = LeadingInt(StringField(body, "minor"));
  v.git_version = StringField(body, "gitVersion");
  if (v.major == 0 && v.git_version.size() > 1 && v.git_version[0] == 'v') {
    // Some distributions leave major/minor empty; read them from "v1.27.3".
    v.major = LeadingInt(v.git_version.substr(1));
    const size_t dot = v.git_version.find('.');
    if (dot != std::string::npos) v.minor = LeadingInt(v.git_version.substr(dot + 1));
  }
  return v;
}

std::vector<DiscoveredResource> ParseApiResourceList(const json& body, const std::string& group,
                                                     const std::string& version) {
  std::vector<DiscoveredResource> out;
  const json* list = Field(body, "resources");
  if (!list || !list->is_array()) return out;
  std::vector<std::string> with_status;
  for (const json& r : *list) {
    const std::string name = StringField(r, "name");
    if (name.empty()) continue;
    const size_t slash = name.find('/');
    if (slash != std::string::npos) {
      if (name.substr(slash + 1) == "status") with_status.push_back(name.substr(0, slash));
      continue;
    }
    DiscoveredResource d;
    d.gvr = {group, version, name};
    d.kind = StringField(r, "kind");
    const json* ns = Field(r, "namespaced");
    d.namespaced = ns && ns->is_boolean() ? ns->get<bool>() : true;
    if (const json* verbs = Field(r, "verbs"); verbs && verbs->is_array()) {
      for (const json& v : *verbs) {
        if (v.is_string()) d.verbs.push_back(v.get<std::string>());
      }
    }
    out.push_back(std::move(d));
  }
  for (DiscoveredResource& d : out) {
    d.has_status = std::find(with_status.begin(), with_status.end(), d.gvr.resource) !=
                   with_status.end();
  }
  return out;
}

std::vector<std::string> ParseApiGroupList(const json& body) {
  std::vector<std::string> out;
  const json* groups = Field(body, "groups");
  if (!groups || !groups->is_array()) return out;
  for (const json& g : *groups) {
    std::vector<std::string> versions;
    if (const json* vs = Field(g, "versions"); vs && vs->is_array()) {
      for (const json& v : *vs) {
        const std::string gv = StringField(v, "groupVersion");
        if (!gv.empty()) versions.push_back(gv);
      }
    }
    const std::string preferred =
        Field(g, "preferredVersion") ? StringField(*Field(g, "preferredVersion"), "groupVersion")
                                     : std::string();
    if (!preferred.empty()) {
      out.push_back(preferred);
    }
    for (const std::string& gv : versions) {
      if (gv != preferred) out.push_back(gv);
    }
  }
  return out;
}

std::vector<std::string> ParseApiVersions(const json& body) {
  std::vector<std::string> out;
  const json* vs = Field(body, "versions");
  if (!vs || !vs->is_array()) return out;
  for (const json& v : *vs) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

StatusOr<ObjectList> ParseObjectList(const json& body) {
  const json* items = Field(body, "items");
  if (!items || !(items->is_array() || items->is_null())) {
    return InvalidArgumentError("the list has no items array");
  }
  ObjectList out;
  if (items->is_array()) out.items.assign(items->begin(), items->end());
  if (const json* meta = Field(body, "metadata")) {
    out.resource_version = StringField(*meta, "resourceVersion");
    out.continue_token = StringField(*meta, "continue");
    if (const json* rem = Field(*meta, "remainingItemCount"); rem && rem->is_number_integer()) {
      out.remaining_item_count = rem->get<int64_t>();
    }
  }
  return out;
}

StatusOr<WireWatchEvent> ParseWatchEventLine(std::string_view line) {
  JsonParseError error;
  json j = ParseJson(line, &error);
  if (j.is_discarded()) return InvalidArgumentError("watch event: " + error.ToString());
  if (!j.is_object()) {
    return InvalidArgumentError("watch event is not a JSON object: " +
                                std::string(line.substr(0, 120)));
  }
  const std::string type = StringField(j, "type");
  json* object = j.contains("object") ? &j["object"] : nullptr;
  if (!object || !object->is_object()) {
    return InvalidArgumentError("watch event \"" + type + "\" has no object");
  }
  WireWatchEvent e;
  if (type == "ADDED") {
    e.type = WireWatchEvent::Type::kAdded;
  } else if (type == "MODIFIED") {
    e.type = WireWatchEvent::Type::kModified;
  } else if (type == "DELETED") {
    e.type = WireWatchEvent::Type::kDeleted;
  } else if (type == "BOOKMARK") {
    e.type = WireWatchEvent::Type::kBookmark;
  } else if (type == "ERROR") {
    e.type = WireWatchEvent::Type::kError;
    if (const json* code = Field(*object, "code"); code && code->is_number_integer()) {
      e.error_code = code->get<int>();
    }
    e.error_reason = StringField(*object, "reason");
    e.error_message = StringField(*object, "message");
  } else {
    return InvalidArgumentError("unknown watch event type \"" + type + "\"");
  }
  e.resource_version = ResourceVersionOf(*object);
  e.object = std::move(*object);
  return e;
}

Status LineSplitter::Append(std::string_view bytes, std::vector<std::string>* lines) {
  while (!bytes.empty()) {
    const size_t nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      pending_.append(bytes);
      break;
    }
    pending_.append(bytes.substr(0, nl));
    bytes.remove_prefix(nl + 1);
    if (!pending_.empty() && pending_.back() == '\r') pending_.pop_back();
    if (!pending_.empty()) lines->push_back(std::move(pending_));
    pending_.clear();
  }
  if (pending_.size() > max_) {
    return ResourceExhaustedError("watch event longer than " + std::to_string(max_) + " bytes");
  }
  return Status::Ok();
}


std::string ResourceVersionOf(const json& object) {
  const json* meta = Field(object, "metadata");
  return meta ? StringField(*meta, "resourceVersion") : std::string();
}

bool NewerVersion(const std::string& a, const std::string& b) {
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 19 &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
  };
  if (!digits(a) || !digits(b)) return false;
  return std::stoull(a) > std::stoull(b);
}

std::string ObjectCacheKey(const json& object) {
  const json* meta = Field(object, "metadata");
  if (!meta) return "";
  const std::string ns = StringField(*meta, "namespace");
  const std::string name = StringField(*meta, "name");
  return ns.empty() ? name : ns + "/" + name;
}

}  // namespace meridian::sync::internal
