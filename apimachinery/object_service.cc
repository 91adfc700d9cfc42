#include "apimachinery/object_service.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "apimachinery/labels.h"
#include "apimachinery/status_store.h"
#include "apimachinery/write_precondition.h"

namespace meridian::apimachinery {

using nlohmann::json;

namespace {

// A read-modify-write that lost a race to another writer reads again and retries, as
// kube-apiserver's GuaranteedUpdate does (which never gives up on an unconditional write): a
// user's `kubectl delete` or scale must not fail with 409 because controllers write the
// object's status many times a second. After the first few rounds each waits a little longer,
// with jitter so that two losers do not meet again; ~0.7 s in all before 409 Conflict.
constexpr int kMaxRetries = 48;

void BackOffAfterLostRace(int attempt) {
  if (attempt < 4) return;
  const int64_t base_us = int64_t{500} << std::min(attempt - 4, 5);  // 0.5 .. 16 ms
  thread_local std::minstd_rand jitter(std::random_device{}());
  std::this_thread::sleep_for(
      std::chrono::microseconds(base_us / 2 + static_cast<int64_t>(jitter() % base_us)));
}
const ResourceType kNamespaces{"", "namespaces"};

const char* kSubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const char* kDns1035Msg =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const char* kLabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsDnsLabel(const std::string& s) {
  if (s.empty()) return false;  // the regex only: lengths are checked by the caller
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool IsDnsSubdomain(const std::string& s) {
  if (s.empty()) return false;  // the regex only: lengths are checked by the caller
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty() || !IsLowerAlnum(part.front()) || !IsLowerAlnum(part.back())) return false;
    if (!std::all_of(part.begin(), part.end(),
                     [](char c) { return IsLowerAlnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

json& Meta(json& o) {
  json& m = o["metadata"];
  if (!m.is_object()) m = json::object();
  return m;
}

std::string MetaString(const json& o, const char* field) {
  auto m = o.find("metadata");
  if (m == o.end() || !m->is_object()) return "";
  auto f = m->find(field);
  if (f == m->end() || !f->is_string()) return "";
  return f->get<std::string>();
}

// Everything the user owns outside metadata and status (what bumps generation).
json SpecPart(const json& o) {
  json out = o;
  out.erase("metadata");
  out.erase("status");
  out.erase("apiVersion");
  out.erase("kind");
  return out;
}

json Finalizers(const json& o) {
  auto m = o.find("metadata");
  if (m == o.end() || !m->is_object()) return json::array();
  auto f = m->find("finalizers");
  if (f == m->end() || !f->is_array()) return json::array();
  return *f;
}

// A Namespace's spec.finalizers (what its namespace controller still has to do).
json SpecFinalizers(const json& o) {
  auto spec = o.find("spec");
  if (spec == o.end() || !spec->is_object()) return json::array();
  auto f = spec->find("finalizers");
  if (f == spec->end() || !f->is_array()) return json::array();
  return *f;
}

// `old` as a delete that cannot remove it yet stores it: deletionTimestamp now, a new
// generation (as BeforeDelete) for a kind that keeps one; a Namespace gets phase Terminating
// and no grace period (kube-apiserver sets none on it), anything else a grace period of 0.
json MarkedForDeletion(const json& old, bool is_namespace, const Clock& clock) {
  json marked = old;
  json& meta = marked["metadata"];
  meta["deletionTimestamp"] = FormatRfc3339(clock.Now());
  if (!is_namespace) meta["deletionGracePeriodSeconds"] = 0;
  if (meta.contains("generation")) meta["generation"] = meta["generation"].get<int64_t>() + 1;
  if (is_namespace) marked["status"]["phase"] = "Terminating";
  return marked;
}

// Checks apiVersion/kind of a body against the resource and fills them in when absent.
std::optional<ApiError> CheckTypeMeta(const ResourceInfo& r, json& body) {
  const std::string want_version = r.GroupVersion();
  if (body.contains("apiVersion") && !body["apiVersion"].is_null()) {
    if (!body["apiVersion"].is_string()) return ApiError::BadRequest("apiVersion must be a string");
    const std::string got = body["apiVersion"].get<std::string>();
    if (got != want_version) {
      return ApiError::BadRequest("the API version in the data (" + got +
                                  ") does not match the expected API version (" + want_version +
                                  ")");
    }
  }
  body["apiVersion"] = want_version;
  if (body.contains("kind") && body["kind"].is_string() &&
      !body["kind"].get<std::string>().empty()) {
    const std::string got = body["kind"].get<std::string>();
    if (!r.generic && got != r.kind) {
      return ApiError::BadRequest("the kind in the data (" + got +
                                  ") does not match the expected kind (" + r.kind + ")");
    }
  } else {
    body["kind"] = r.kind;
  }
  return std::nullopt;
}

std::optional<ApiError> CheckBodyShape(json& body) {
  if (!body.is_object())
    return ApiError::BadRequest("the body of the request must be a JSON object");
  if (body.contains("metadata") && !body["metadata"].is_object() && !body["metadata"].is_null()) {
    return ApiError::BadRequest("metadata must be an object");
  }
  for (const char* f : {"name", "namespace", "generateName", "resourceVersion", "uid"}) {
    if (body.contains("metadata") && body["metadata"].is_object() && body["metadata"].contains(f) &&
        !body["metadata"][f].is_string() && !body["metadata"][f].is_null()) {
      return ApiError::BadRequest(std::string("metadata.") + f + " must be a string");
    }
  }
  return std::nullopt;
}

struct FieldRequirement {
  std::string path;
  std::string value;
  bool negate = false;
};

const json* Dotted(const json& o, const std::string& dotted) {
  const json* cur = &o;
  size_t start = 0;
  while (true) {
    size_t dot = dotted.find('.', start);
    std::string part =
        dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

bool FieldsMatch(const std::vector<FieldRequirement>& reqs, const json& o) {
  for (const FieldRequirement& r : reqs) {
    const json* v = Dotted(o, r.path);
    std::string s;
    if (v != nullptr && !v->is_null()) s = v->is_string() ? v->get<std::string>() : v->dump();
    if ((s == r.value) == r.negate) return false;
  }
  return true;
}

// What kube-apiserver answers a strategic merge patch on a custom resource: the patch types
// it accepts for one.
ApiError StrategicMergeNotSupported() {
  return ApiError::UnsupportedMediaType(
      "application/strategic-merge-patch+json",
      {"application/json-patch+json", "application/merge-patch+json",
       "application/apply-patch+yaml"});
}

// A value as Go's %q shows it in a field error: "\"web\"".
std::string Quoted(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

// Kubernetes' ObjectMeta checks every write gets (ValidateObjectMetaAccessor and the
// metav1 validation it calls), in its words: labels, annotations (keys and total size) and
// finalizers.
void ValidateMetadata(const json& meta, FieldErrors* errors) {
  if (meta.contains("labels") && !meta["labels"].is_null()) {
    if (!meta["labels"].is_object()) {
      errors->push_back({"metadata.labels", "Invalid value: must be a map of strings"});
    } else {
      for (auto it = meta["labels"].begin(); it != meta["labels"].end(); ++it) {
        for (const std::string& m : LabelKeyErrors(it.key())) {
          errors->push_back({"metadata.labels", "Invalid value: " + Quoted(it.key()) + ": " + m});
        }
        if (!it.value().is_string()) {
          errors->push_back({"metadata.labels." + it.key(), "Invalid value: must be a string"});
          continue;
        }
        const std::string& value = it.value().get_ref<const std::string&>();
        for (const std::string& m : LabelValueErrors(value)) {
          errors->push_back({"metadata.labels", "Invalid value: " + Quoted(value) + ": " + m});
        }
      }
    }
  }
  if (meta.contains("annotations") && !meta["annotations"].is_null()) {
    const json& annotations = meta["annotations"];
    bool ok = annotations.is_object() && std::all_of(annotations.begin(), annotations.end(),
                                                     [](const json& v) { return v.is_string(); });
    if (!ok) errors->push_back({"metadata.annotations", "Invalid value: must be a map of strings"});
    // Kubernetes' TotalAnnotationSizeLimitB: keys and values together, 256 KiB.
    constexpr size_t kMaxAnnotationBytes = 256 * 1024;
    size_t total = 0;
    if (ok) {
      for (auto it = annotations.begin(); it != annotations.end(); ++it) {
        // Annotation keys are qualified names, case-insensitively.
        std::string lower = it.key();
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        for (const std::string& m : LabelKeyErrors(lower)) {
          errors->push_back(
              {"metadata.annotations", "Invalid value: " + Quoted(it.key()) + ": " + m});
        }
        total += it.key().size() + it.value().get_ref<const std::string&>().size();
      }
    }
    if (total > kMaxAnnotationBytes) {
      errors->push_back(
          {"metadata.annotations",
           "Too long: must have at most " + std::to_string(kMaxAnnotationBytes) + " bytes"});
    }
  }
  if (meta.contains("finalizers") && !meta["finalizers"].is_null()) {
    const json& finalizers = meta["finalizers"];
    if (!finalizers.is_array()) {
      errors->push_back({"metadata.finalizers", "Invalid value: must be a list of strings"});
    } else {
      for (size_t i = 0; i < finalizers.size(); ++i) {
        if (!finalizers[i].is_string()) {
          errors->push_back({"metadata.finalizers[" + std::to_string(i) + "]",
                             "Invalid value: must be a string"});
          continue;
        }
        const std::string& f = finalizers[i].get_ref<const std::string&>();
        for (const std::string& m : LabelKeyErrors(f)) {
          errors->push_back({"metadata.finalizers", "Invalid value: " + Quoted(f) + ": " + m});
        }
      }
    }
  }
}

// Whether a store write failed because it lost a compare-and-swap race (kAborted: retry on
// the newer object, or answer the generic Conflict), as opposed to a write precondition
// (write_precondition.h) refusing it, whose error is answered as it is (a stale leader's 409
// names the Lease's current holder) and never retried.
bool LostRace(const Status& status) {
  return status.code() == StatusCode::kAborted && !WritePreconditionScope::Refused(status);
}

// The answer to an update whose store write failed: a lost compare-and-swap is 409 (and
// `lost_race` says so, for unconditional writes to retry), a vanished object 404.
ApiError UpdateFailed(const ResourceInfo& r, const ObjectKey& key, const Status& status,
                      bool* lost_race) {
  if (LostRace(status)) {
    *lost_race = true;
    return ApiError::Conflict(r.group, r.plural, key.name);
  }
  if (status.code() == StatusCode::kNotFound) return ApiError::NotFound(r.group, r.plural, key.name);
  return ApiError::FromStatus(status);
}

}  // namespace

struct ObjectService::Selectors {
  LabelSelector labels;
  std::vector<FieldRequirement> fields;

  // `resource` says which field labels are supported (ResourceInfo::field_labels).
  static ApiResult<Selectors> Parse(const ResourceInfo& resource, const ListRequest& req) {
    Selectors s;
    StatusOr<LabelSelector> l = ParseLabelSelector(req.label_selector);
    if (!l.ok()) {
      return ApiError::BadRequest("unable to parse requirement: " + l.status().message());
    }
    s.labels = std::move(l).value();
    std::string fs = req.field_selector;
    size_t start = 0;
    while (start < fs.size()) {
      size_t comma = fs.find(',', start);
      std::string term =
          fs.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      start = comma == std::string::npos ? fs.size() : comma + 1;
      term.erase(
          std::remove_if(term.begin(), term.end(), [](unsigned char c) { return std::isspace(c); }),
          term.end());
      if (term.empty()) continue;
      FieldRequirement r;
      size_t op = term.find("!=");
      size_t len = 2;
      if (op != std::string::npos) {
        r.negate = true;
      } else if ((op = term.find("==")) == std::string::npos) {
        op = term.find('=');
        len = 1;
      }
      if (op == std::string::npos || op == 0) {
        return ApiError::BadRequest("invalid field selector: '" + term + "': expected key=value");
      }
      r.path = term.substr(0, op);
      r.value = term.substr(op + len);
      if (r.path != "metadata.name" && r.path != "metadata.namespace" &&
          std::find(resource.field_labels.begin(), resource.field_labels.end(), r.path) ==
              resource.field_labels.end()) {
        // kube-apiserver's ConvertFieldLabel error, answered 400 as it does.
        return ApiError::BadRequest("field label not supported: " + r.path);
      }
      s.fields.push_back(std::move(r));
    }
    return s;
  }
};

const char* OperationName(Operation op) {
  switch (op) {
    case Operation::kCreate:
      return "CREATE";
    case Operation::kUpdate:
      return "UPDATE";
    case Operation::kDelete:
      return "DELETE";
  }
  return "UNKNOWN";
}

std::vector<std::string> ValidateObjectName(const std::string& name, NameValidation how,
                                            bool prefix) {
  std::vector<std::string> out;
  std::string checked = name;
  // generateName: the server appends a random suffix, so a trailing '-' is fine (Kubernetes'
  // maskTrailingDash).
  if (prefix && checked.size() > 1 && checked.back() == '-') checked.back() = 'a';
  switch (how) {
    case NameValidation::kDnsSubdomain:
      if (checked.size() > 253) out.push_back("must be no more than 253 characters");
      if (!IsDnsSubdomain(checked)) out.push_back(kSubdomainMsg);
      break;
    case NameValidation::kDnsLabel:
      if (checked.size() > 63) out.push_back("must be no more than 63 characters");
      if (!IsDnsLabel(checked)) {
        out.push_back(IsDnsSubdomain(checked) ? "must not contain dots" : kLabelMsg);
      }
      break;
    case NameValidation::kDns1035Label:
      if (checked.size() > 63) out.push_back("must be no more than 63 characters");
      if (!IsDnsLabel(checked) || !(checked[0] >= 'a' && checked[0] <= 'z')) {
        out.push_back(kDns1035Msg);
      }
      break;
    case NameValidation::kPathSegment:
      if (checked == "." || checked == "..") out.push_back("may not be '" + checked + "'");
      if (checked.find('/') != std::string::npos) out.push_back("may not contain '/'");
      if (checked.find('%') != std::string::npos) out.push_back("may not contain '%'");
      break;
  }
  return out;
}

ObjectService::ObjectService(Store& store, const Clock& clock, const ResourceRegistry& registry)
    : store_(store), clock_(clock), registry_(registry) {
  std::random_device rd;
  rng_state_ = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
               static_cast<uint64_t>(clock.Now().time_since_epoch().count());
}

std::string ObjectService::NewUid() {
  uint64_t a, b;
  {
    std::lock_guard lock(mu_);
    auto next = [this] {  // splitmix64
      uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      return z ^ (z >> 31);
    };
    a = next();
    b = next();
  }
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::optional<ApiError> ObjectService::CheckNamespace(const ResourceInfo& r, const std::string& ns,
                                                      const std::string& name, bool written) {
  if (!registry_.HasNamespaces()) return std::nullopt;
  const ObjectKey key{kNamespaces, "", ns};
  // Before the write, as kube-apiserver's NamespaceLifecycle admission (its namespace
  // informer first, a live lookup when that does not show it Active): the cache as it is (no
  // consistent-read round) when it shows the namespace Active, else a consistent read. That
  // only spares writing into a namespace that is gone or going; the check after the write
  // (Create), a consistent read, is what keeps nothing from outliving its namespace. Two
  // consistent reads per namespaced create cost 14 % of the creates/s on etcd (-O0, 8
  // clients, medians of 3: 354 -> 303/s).
  if (!written) {
    StatusOr<json> cached = store_.GetAny(key);
    if (cached.ok() && MetaString(*cached, "deletionTimestamp").empty()) return std::nullopt;
  }
  StatusOr<json> got = store_.Get(key);
  if (!got.ok()) {
    if (got.status().code() == StatusCode::kNotFound)
      return ApiError::NotFound("", "namespaces", ns);
    return ApiError::FromStatus(got.status());
  }
  if (!MetaString(*got, "deletionTimestamp").empty()) {
    // As kube-apiserver's NamespaceLifecycle admission (admission.NewForbidden): the
    // resource and name first, details naming them, and a cause that clients tell it from
    // an RBAC denial by.
    const std::string what = r.GroupResource() + (name.empty() ? "" : " " + Quoted(name));
    ApiError e =
        ApiError::Forbidden(what + " is forbidden: unable to create new content in namespace " +
                            ns + " because it is being terminated");
    e.group = r.group;
    e.kind = r.plural;
    e.name = name;
    e.causes.push_back(
        {"NamespaceTerminating", "namespace " + ns + " is being terminated", "metadata.namespace"});
    return e;
  }
  return std::nullopt;
}

std::optional<ApiError> ObjectService::Admit(const AdmissionAttributes& attrs, json* object) {
  for (const MutatingAdmission& m : mutating_) {
    Status st = m(attrs, object);
    if (!st.ok()) return ApiError::FromStatus(st);
  }
  FieldErrors errors;
  const ResourceInfo& r = *attrs.resource;
  if (attrs.operation == Operation::kCreate) {
    const std::string name = MetaString(*object, "name");
    for (const std::string& m : ValidateObjectName(name, r.name_validation)) {
      errors.push_back({"metadata.name", "Invalid value: " + Quoted(name) + ": " + m});
    }
    const std::string generate = MetaString(*object, "generateName");
    if (!generate.empty()) {
      for (const std::string& m : ValidateObjectName(generate, r.name_validation, true)) {
        errors.push_back(
            {"metadata.generateName", "Invalid value: " + Quoted(generate) + ": " + m});
      }
    }
  }
  if (attrs.operation != Operation::kDelete) ValidateMetadata((*object)["metadata"], &errors);
  for (const ValidatingAdmission& v : validating_) {
    Status st = v(attrs, *object, &errors);
    if (!st.ok()) return ApiError::FromStatus(st);
  }
  if (!errors.empty()) return ApiError::Invalid(r.group, r.kind, attrs.name, errors);
  return std::nullopt;
}

ApiResult<json> ObjectService::Create(const ResourceInfo& r, const std::string& url_ns, json body,
                                      const RequestContext& ctx) {
  if (auto e = CheckBodyShape(body)) return *e;
  if (auto e = CheckTypeMeta(r, body)) return *e;
  json& meta = Meta(body);
  std::string ns;
  if (r.namespaced) {
    std::string body_ns = MetaString(body, "namespace");
    if (url_ns.empty() && body_ns.empty()) {
      return ApiError::BadRequest(
          "the server could not find the requested resource: a namespace "
          "is required for " +
          r.GroupResource());
    }
    if (!url_ns.empty() && !body_ns.empty() && body_ns != url_ns) {
      return ApiError::BadRequest(
          "the namespace of the provided object does not match the namespace sent on the request");
    }
    ns = url_ns.empty() ? body_ns : url_ns;
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  std::string name = MetaString(body, "name");
  const std::string generate = MetaString(body, "generateName");
  if (name.empty() && generate.empty()) {
    return ApiError::Invalid(
        r.group, r.kind, "",
        {{"metadata.name", "Required value: name or generateName is required"}});
  }
  if (r.namespaced) {
    // kube-apiserver names the generateName prefix when there is no name yet.
    if (auto e = CheckNamespace(r, ns, name.empty() ? generate : name)) return *e;
  }

  // Server-owned metadata.
  for (const char* f : {"resourceVersion", "uid", "creationTimestamp", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "selfLink", "generation"}) {
    meta.erase(f);
  }
  meta["uid"] = NewUid();
  meta["creationTimestamp"] = FormatRfc3339(clock_.Now());
  meta["generation"] = 1;
  if (r.has_status) body.erase("status");
  const bool is_namespace = r.group.empty() && r.plural == "namespaces";
  if (is_namespace) {
    body["status"] = {{"phase", "Active"}};
  }

  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    json obj = body;
    std::string this_name = name;
    if (this_name.empty()) {
      static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
      std::string suffix;
      std::string uid = NewUid();
      for (int i = 0; i < 5; ++i) {
        suffix.push_back(kAlphabet[static_cast<unsigned char>(uid[i * 3 + 1]) % 27]);
      }
      this_name = generate + suffix;
      Meta(obj)["name"] = this_name;
    }
    if (is_namespace) {
      json& labels = Meta(obj)["labels"];
      if (!labels.is_object()) labels = json::object();
      labels["kubernetes.io/metadata.name"] = this_name;
    }
    AdmissionAttributes attrs{Operation::kCreate, &r,      "",        ns,
                              this_name,          nullptr, &ctx.user, ctx.strict_fields};
    if (auto e = Admit(attrs, &obj)) return *e;
    this_name = MetaString(obj, "name");  // admission may not rename, but be safe
    if (ctx.dry_run) return obj;
    StatusOr<json> created =
        store_.Create(ObjectKey{r.StorageType(), ns, this_name}, std::move(obj));
    if (created.ok()) {
      if (r.generic) {
        std::lock_guard lock(mu_);
        generic_types_.emplace(r.StorageType(), r);
      }
      if (r.namespaced) {
        if (std::optional<ApiError> gone = RemoveIfNamespaceWentAway(r, ns, *created, ctx)) {
          return *gone;
        }
      }
      return std::move(created).value();
    }
    if (created.status().code() == StatusCode::kAlreadyExists) {
      if (name.empty()) continue;  // generated name collided: try another
      return ApiError::AlreadyExists(r.group, r.plural, this_name);
    }
    return ApiError::FromStatus(created.status());
  }
  return ApiError::AlreadyExists(r.group, r.plural, generate);
}

namespace {

// A store read's error as the API answers it.
ApiError GetError(const ResourceInfo& r, const std::string& name, const Status& status) {
  if (status.code() == StatusCode::kNotFound) return ApiError::NotFound(r.group, r.plural, name);
  return ApiError::FromStatus(status);
}

}  // namespace

ApiResult<json> ObjectService::Get(const ResourceInfo& r, const std::string& ns,
                                   const std::string& name, bool any_version) {
  const ObjectKey key{r.StorageType(), r.namespaced ? ns : "", name};
  StatusOr<json> got = any_version ? store_.GetAny(key) : store_.Get(key);
  if (!got.ok()) return GetError(r, name, got.status());
  return std::move(got).value();
}

ApiResult<SharedObject> ObjectService::GetShared(const ResourceInfo& r, const std::string& ns,
                                                 const std::string& name, bool any_version) {
  const ObjectKey key{r.StorageType(), r.namespaced ? ns : "", name};
  StatusOr<SharedObject> got = store_.GetShared(key, any_version);
  if (!got.ok()) return GetError(r, name, got.status());
  return std::move(got).value();
}

ApiResult<int64_t> ParseQueryResourceVersion(const std::string& value) {
  if (value.empty()) return int64_t{0};
  int64_t rv = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), rv);
  if (ec != std::errc() || ptr != value.data() + value.size() || rv < 0) {
    return ApiError::BadRequest("resourceVersion: Invalid value: \"" + value +
                                "\": must be a non-negative integer");
  }
  return rv;
}

namespace {

// kube-apiserver's resourceVersion / resourceVersionMatch rules for a list (400 otherwise).
std::optional<ApiError> ParseListVersion(const ListRequest& req, ListOptions* opts) {
  ApiResult<int64_t> rv = ParseQueryResourceVersion(req.resource_version);
  if (!rv.ok()) return rv.error();
  const std::string& match = req.resource_version_match;
  if (!match.empty() && match != "NotOlderThan" && match != "Exact") {
    return ApiError::BadRequest("resourceVersionMatch: Unsupported value: \"" + match +
                                "\": supported values: \"Exact\", \"NotOlderThan\"");
  }
  if (!match.empty() && req.resource_version.empty()) {
    return ApiError::BadRequest(
        "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
        "resourceVersion is provided");
  }
  if (!match.empty() && !req.continue_token.empty()) {
    return ApiError::BadRequest(
        "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is "
        "provided");
  }
  if (match == "Exact" && *rv == 0) {
    return ApiError::BadRequest(
        "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for "
        "resourceVersion \"0\"");
  }
  opts->resource_version = *rv;
  if (req.resource_version.empty()) {
    opts->match = ResourceVersionMatch::kMostRecent;
  } else if (*rv == 0) {
    opts->match = ResourceVersionMatch::kAny;
  } else {
    opts->match =
        match == "Exact" ? ResourceVersionMatch::kExact : ResourceVersionMatch::kNotOlderThan;
  }
  return std::nullopt;
}

ApiError ListError(const Status& status) {
  if (status.code() == StatusCode::kOutOfRange) return ApiError::Gone(status.message());
  if (status.code() == StatusCode::kInvalidArgument) return ApiError::BadRequest(status.message());
  return ApiError::FromStatus(status);
}

json ListMetadata(int64_t rv, const std::string& continue_token, int64_t remaining,
                  bool field_selected) {
  json meta = {{"resourceVersion", std::to_string(rv)}};
  if (!continue_token.empty()) {
    meta["continue"] = continue_token;
    if (remaining >= 0 && !field_selected) meta["remainingItemCount"] = remaining;
  }
  return meta;
}

}  // namespace

namespace {

// The Store's options for a LIST: resourceVersion rules, limit, namespace, label selector.
ApiResult<ListOptions> StoreListOptions(const ResourceInfo& r, const std::string& ns,
                                        const ListRequest& req, const LabelSelector& labels) {
  ListOptions opts;
  if (auto e = ParseListVersion(req, &opts)) return *e;
  if (req.limit < 0) return ApiError::BadRequest("limit must be >= 0");
  opts.ns = r.namespaced ? ns : "";
  opts.selector = labels;
  opts.limit = req.limit;
  opts.continue_token = req.continue_token;
  return opts;
}

}  // namespace

ApiResult<json> ObjectService::List(const ResourceInfo& r, const std::string& ns,
                                    const ListRequest& req) {
  ApiResult<Selectors> sel = Selectors::Parse(r, req);
  if (!sel.ok()) return sel.error();
  ApiResult<ListOptions> opts = StoreListOptions(r, ns, req, sel->labels);
  if (!opts.ok()) return opts.error();
  StatusOr<ListResult> listed = store_.List(r.StorageType(), *opts);
  if (!listed.ok()) return ListError(listed.status());
  json items = json::array();
  for (json& o : listed->items) {
    if (FieldsMatch(sel->fields, o)) items.push_back(std::move(o));
  }
  return json{{"apiVersion", r.GroupVersion()},
              {"kind", r.ListKind()},
              {"metadata", ListMetadata(listed->resource_version, listed->continue_token,
                                        listed->remaining_item_count, !sel->fields.empty())},
              {"items", std::move(items)}};
}

ApiResult<SharedList> ObjectService::ListShared(const ResourceInfo& r, const std::string& ns,
                                                const ListRequest& req) {
  ApiResult<Selectors> sel = Selectors::Parse(r, req);
  if (!sel.ok()) return sel.error();
  ApiResult<ListOptions> opts = StoreListOptions(r, ns, req, sel->labels);
  if (!opts.ok()) return opts.error();
  StatusOr<SharedListResult> listed = store_.ListShared(r.StorageType(), *opts);
  if (!listed.ok()) return ListError(listed.status());
  SharedList out;
  out.items.reserve(listed->items.size());
  for (SharedObject& o : listed->items) {
    if (sel->fields.empty() || FieldsMatch(sel->fields, *DecodedObject(o)))
      out.items.push_back(std::move(o));
  }
  out.metadata = ListMetadata(listed->resource_version, listed->continue_token,
                              listed->remaining_item_count, !sel->fields.empty());
  return out;
}

ApiResult<json> ObjectService::UpdateFrom(const ResourceInfo& r, const ObjectKey& key,
                                          const json& old, json body,
                                          const std::string& subresource, const RequestContext& ctx,
                                          bool* lost_race, const json* status) {
  *lost_race = false;
  const bool status_write = subresource == "status";
  StatusOr<int64_t> old_rv = ResourceVersionOf(old);
  if (!old_rv.ok()) return ApiError::Internal(old_rv.status().message());

  json obj;
  if (status_write) {
    obj = old;
    if (body.contains("status")) {
      obj["status"] = body["status"];
    } else {
      obj.erase("status");
    }
  } else {
    obj = std::move(body);
    json& meta = Meta(obj);
    const json& old_meta = old["metadata"];
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation"}) {
      if (old_meta.contains(f)) {
        meta[f] = old_meta[f];
      } else {
        meta.erase(f);
      }
    }
    meta.erase("selfLink");
    if (r.has_status) {
      if (old.contains("status")) {
        obj["status"] = old["status"];
      } else {
        obj.erase("status");
      }
    }
    int64_t generation = old_meta.value("generation", int64_t{1});
    if (SpecPart(obj) != SpecPart(old)) ++generation;
    meta["generation"] = generation;
  }
  Meta(obj)["resourceVersion"] = std::to_string(*old_rv);
  Meta(obj)["name"] = key.name;
  if (r.namespaced) Meta(obj)["namespace"] = key.ns;

  const bool deleting = !MetaString(old, "deletionTimestamp").empty();
  AdmissionAttributes attrs{Operation::kUpdate, &r,   subresource, key.ns,
                            key.name,           &old, &ctx.user,   ctx.strict_fields};
  if (auto e = Admit(attrs, &obj)) return *e;
  if (status != nullptr) {
    // The status write that would follow the main one, admitted against what the main one
    // left (as a /status PUT would be), then both stored at once.
    const json after_main = obj;
    if (status->is_null()) {
      obj.erase("status");
    } else {
      obj["status"] = *status;
    }
    AdmissionAttributes status_attrs{Operation::kUpdate, &r,          "status",  key.ns,
                                     key.name,           &after_main, &ctx.user, ctx.strict_fields};
    if (auto e = Admit(status_attrs, &obj)) return *e;
  }
  if (deleting) {
    json old_f = Finalizers(old);
    for (const json& f : Finalizers(obj)) {
      if (std::find(old_f.begin(), old_f.end(), f) == old_f.end()) {
        return ApiError::Invalid(r.group, r.kind, key.name,
                                 {{"metadata.finalizers",
                                   "Forbidden: no new finalizers can be added if the object is "
                                   "being deleted, found new finalizers []string{" +
                                       f.dump() + "}"}});
      }
    }
  }
  // Nothing changed: no write, same resourceVersion (unless the stored bytes use an old
  // encryption key: rewriting them is what the unchanged PUT is for).
  if (obj == old && !store_.NeedsRewrite(key, old)) return old;
  if (ctx.dry_run) return obj;

  // A Store over a Kubernetes API (status_store.h) applies these semantics on the server.
  auto* api_store = dynamic_cast<StatusSubresourceStore*>(&store_);
  if (deleting && Finalizers(obj).empty() && api_store == nullptr && !NamespaceHeld(r, key, obj)) {
    // The write that empties the finalizers of an object being deleted is its deletion, one
    // compare-and-swap delete on the object it read (kube-apiserver's deleteWithoutFinalizers):
    // it happens whole or not at all. Writing the emptied object and deleting it after were
    // two writes, and the object stayed stored, being deleted with no finalizer left for
    // anyone to remove, whenever the second did not follow: a process killed between them (a
    // leading controller manager, kill -9), a store call that failed, or another write in
    // between (the delete's compare-and-swap lost and was ignored). e2e_ha_chaos_test saw a
    // workload stuck so for good.
    StatusOr<json> gone = store_.Delete(key, *old_rv);
    if (!gone.ok()) return UpdateFailed(r, key, gone.status(), lost_race);
    if (r.namespaced) MaybeFinishNamespace(key.ns);
    // The object as this write left it, at the deletion's revision (an informer's Assume takes
    // it as the deletion: deletionTimestamp and no finalizers).
    StatusOr<int64_t> deleted_rv = ResourceVersionOf(*gone);
    Meta(obj)["resourceVersion"] = std::to_string(deleted_rv.ok() ? *deleted_rv : 0);
    return obj;
  }

  // A status write goes to a Store over an API as a status write (status_store.h).
  auto* status_store = status_write ? api_store : nullptr;
  StatusOr<json> written = status_store ? status_store->UpdateStatus(key, obj, *old_rv)
                                        : store_.Update(key, obj, *old_rv);
  if (!written.ok()) return UpdateFailed(r, key, written.status(), lost_race);
  if (deleting && Finalizers(*written).empty() && api_store != nullptr) {
    // Over an API: the server deleted it already (above, on its side); this only makes sure
    // against a server that still wrote the emptied object first.
    StatusOr<int64_t> new_rv = ResourceVersionOf(*written);
    StatusOr<json> gone = store_.Delete(key, new_rv.ok() ? *new_rv : 0);
    if (!gone.ok() && gone.status().code() != StatusCode::kNotFound && !LostRace(gone.status())) {
      return ApiError::FromStatus(gone.status());
    }
    if (gone.ok() && r.namespaced) MaybeFinishNamespace(key.ns);
  }
  return std::move(written).value();
}

ApiResult<json> ObjectService::Update(const ResourceInfo& r, const std::string& ns,
                                      const std::string& name, json body,
                                      const std::string& subresource, const RequestContext& ctx) {
  if (!subresource.empty() && (subresource != "status" || !r.has_status)) {
    return ApiError::NotFound(r.group, r.plural + "/" + subresource, name);
  }
  return UpdateChecked(r, ns, name, std::move(body), subresource, ctx, nullptr);
}

ApiResult<json> ObjectService::UpdateWithStatus(const ResourceInfo& r, const std::string& ns,
                                                const std::string& name, json body,
                                                const RequestContext& ctx) {
  if (!r.has_status) return ApiError::NotFound(r.group, r.plural + "/status", name);
  const json status = body.value("status", json());
  if (dynamic_cast<StatusSubresourceStore*>(&store_) != nullptr) {
    // A Store over an API writes status through /status only: two writes.
    ApiResult<json> main = UpdateChecked(r, ns, name, std::move(body), "", ctx, nullptr);
    if (!main.ok()) return main;
    json next = std::move(main).value();
    if (status.is_null()) {
      next.erase("status");
    } else {
      next["status"] = status;
    }
    return UpdateChecked(r, ns, name, std::move(next), "status", ctx, nullptr);
  }
  return UpdateChecked(r, ns, name, std::move(body), "", ctx, &status);
}

ApiResult<json> ObjectService::UpdateChecked(const ResourceInfo& r, const std::string& ns,
                                             const std::string& name, json body,
                                             const std::string& subresource,
                                             const RequestContext& ctx, const json* status) {
  if (auto e = CheckBodyShape(body)) return *e;
  if (auto e = CheckTypeMeta(r, body)) return *e;
  const std::string body_name = MetaString(body, "name");
  if (body_name != name) {
    return ApiError::BadRequest("the name of the object (" + body_name +
                                ") does not match the name on the URL (" + name + ")");
  }
  const std::string key_ns = r.namespaced ? ns : "";
  if (r.namespaced) {
    const std::string body_ns = MetaString(body, "namespace");
    if (!body_ns.empty() && body_ns != ns) {
      return ApiError::BadRequest(
          "the namespace of the provided object does not match the namespace sent on the request");
    }
  }
  StatusOr<int64_t> body_rv = ResourceVersionOf(body);
  if (!body_rv.ok()) return ApiError::BadRequest(body_rv.status().message());
  const std::string body_uid = MetaString(body, "uid");
  ObjectKey key{r.StorageType(), key_ns, name};
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    if (attempt > 0) BackOffAfterLostRace(attempt);
    StatusOr<json> old = store_.Get(key);
    if (!old.ok()) {
      if (old.status().code() == StatusCode::kNotFound)
        return ApiError::NotFound(r.group, r.plural, name);
      return ApiError::FromStatus(old.status());
    }
    StatusOr<int64_t> old_rv = ResourceVersionOf(*old);
    if (*body_rv != 0 && old_rv.ok() && *body_rv != *old_rv) {
      return ApiError::Conflict(r.group, r.plural, name);
    }
    const std::string old_uid = MetaString(*old, "uid");
    if (!body_uid.empty() && body_uid != old_uid) {
      return ApiError::Conflict(r.group, r.plural, name,
                                "Precondition failed: UID in precondition: " + body_uid +
                                    ", UID in object meta: " + old_uid);
    }
    bool lost = false;
    ApiResult<json> out = UpdateFrom(r, key, *old, body, subresource, ctx, &lost, status);
    if (lost && *body_rv == 0) continue;  // unconditional: retry on the newer object
    return out;
  }
  return ApiError::Conflict(r.group, r.plural, name);
}

ApiResult<json> ObjectService::Patch(const ResourceInfo& r, const std::string& ns,
                                     const std::string& name, PatchType type,
                                     const std::string& patch, const std::string& subresource,
                                     const RequestContext& ctx) {
  if (!subresource.empty() && (subresource != "status" || !r.has_status)) {
    return ApiError::NotFound(r.group, r.plural + "/" + subresource, name);
  }
  if (type == PatchType::kStrategicMergePatch && !r.strategic_merge_patch) {
    return StrategicMergeNotSupported();
  }
  ObjectKey key{r.StorageType(), r.namespaced ? ns : "", name};
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    if (attempt > 0) BackOffAfterLostRace(attempt);
    StatusOr<json> old = store_.Get(key);
    if (!old.ok()) {
      if (old.status().code() == StatusCode::kNotFound)
        return ApiError::NotFound(r.group, r.plural, name);
      return ApiError::FromStatus(old.status());
    }
    ApiResult<json> patched = ApplyPatch(*old, type, patch);
    if (!patched.ok()) {
      ApiError e = patched.error();
      if (e.code == 422) {
        e.name = name;
        e.group = r.group;
        e.kind = r.kind;
      }
      return e;
    }
    json body = std::move(patched).value();
    if (auto e = CheckBodyShape(body)) return *e;
    if (auto e = CheckTypeMeta(r, body)) return *e;
    if (MetaString(body, "name") != name) {
      return ApiError::BadRequest("the name of the object (" + MetaString(body, "name") +
                                  ") does not match the name on the URL (" + name + ")");
    }
    StatusOr<int64_t> patched_rv = ResourceVersionOf(body);
    StatusOr<int64_t> old_rv = ResourceVersionOf(*old);
    if (!patched_rv.ok()) return ApiError::BadRequest(patched_rv.status().message());
    const bool pinned = *patched_rv != 0 && old_rv.ok() && *patched_rv == *old_rv &&
                        patch.find("\"resourceVersion\"") != std::string::npos;
    if (*patched_rv == 0 && old_rv.ok()) {
      Meta(body)["resourceVersion"] = std::to_string(*old_rv);  // a patch that cleared it
    } else if (old_rv.ok() && *patched_rv != *old_rv) {
      return ApiError::Conflict(r.group, r.plural, name);
    }
    if (MetaString(body, "uid") != MetaString(*old, "uid")) {
      return ApiError::Conflict(
          r.group, r.plural, name,
          "Precondition failed: UID in precondition: " + MetaString(body, "uid") +
              ", UID in object meta: " + MetaString(*old, "uid"));
    }
    bool lost = false;
    ApiResult<json> out = UpdateFrom(r, key, *old, std::move(body), subresource, ctx, &lost);
    if (lost && !pinned) continue;
    return out;
  }
  return ApiError::Conflict(r.group, r.plural, name);
}

namespace {

json* DottedMutable(json& o, const std::string& dotted) {
  json* cur = &o;
  size_t start = 0;
  while (true) {
    size_t dot = dotted.find('.', start);
    std::string part =
        dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur->is_null()) *cur = json::object();
    if (!cur->is_object()) return nullptr;
    cur = &(*cur)[part];
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

json ScaleOf(const ResourceInfo& r, const json& o) {
  const ScaleSubresource& s = *r.scale;
  const json* spec = Dotted(o, s.spec_replicas_path);
  const json* status = Dotted(o, s.status_replicas_path);
  const json* sel = Dotted(o, s.label_selector_path);
  std::string selector;
  if (sel != nullptr && sel->is_string()) selector = sel->get<std::string>();
  if (sel != nullptr && sel->is_object()) {
    FieldErrors ignored;
    selector = DecodeLabelSelector(*sel, &ignored).ToString();
  }
  json meta = json::object();
  for (const char* f : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (o["metadata"].contains(f)) meta[f] = o["metadata"][f];
  }
  json out = {
      {"kind", "Scale"},
      {"apiVersion", "autoscaling/v1"},
      {"metadata", meta},
      {"spec", {{"replicas", spec != nullptr && spec->is_number_integer() ? *spec : json(0)}}},
      {"status",
       {{"replicas", status != nullptr && status->is_number_integer() ? *status : json(0)}}}};
  if (!selector.empty()) out["status"]["selector"] = selector;
  return out;
}

}  // namespace

ApiResult<json> ObjectService::GetScale(const ResourceInfo& r, const std::string& ns,
                                        const std::string& name) {
  if (!r.scale) return ApiError::NotFound(r.group, r.plural + "/scale", name);
  ApiResult<json> got = Get(r, ns, name);
  if (!got.ok()) return got.error();
  return ScaleOf(r, *got);
}

ApiResult<json> ObjectService::UpdateScale(const ResourceInfo& r, const std::string& ns,
                                           const std::string& name, const json& scale,
                                           const RequestContext& ctx) {
  if (!r.scale) return ApiError::NotFound(r.group, r.plural + "/scale", name);
  if (!scale.is_object() || !scale.contains("spec") || !scale["spec"].is_object()) {
    return ApiError::BadRequest("the body must be an autoscaling/v1 Scale");
  }
  const json replicas = scale["spec"].value("replicas", json(0));
  if (!replicas.is_number_integer() || replicas.get<int64_t>() < 0) {
    return ApiError::Invalid("autoscaling", "Scale", name,
                             {{"spec.replicas", "Invalid value: " + replicas.dump() +
                                                    ": must be greater than or equal to 0"}});
  }
  StatusOr<int64_t> pinned = ResourceVersionOf(scale);
  if (!pinned.ok()) return ApiError::BadRequest(pinned.status().message());
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    if (attempt > 0) BackOffAfterLostRace(attempt);
    ApiResult<json> got = Get(r, ns, name);
    if (!got.ok()) return got.error();
    json old = std::move(got).value();
    StatusOr<int64_t> rv = ResourceVersionOf(old);
    if (*pinned != 0 && rv.ok() && *rv != *pinned)
      return ApiError::Conflict(r.group, r.plural, name);
    json obj = old;
    json* slot = DottedMutable(obj, r.scale->spec_replicas_path);
    if (slot == nullptr) {
      return ApiError::Internal("scale path " + r.scale->spec_replicas_path +
                                " is not in an object");
    }
    *slot = replicas;
    bool lost = false;
    ObjectKey key{r.StorageType(), r.namespaced ? ns : "", name};
    ApiResult<json> out = UpdateFrom(r, key, old, std::move(obj), "", ctx, &lost);
    if (lost && *pinned == 0) continue;
    if (!out.ok()) return out.error();
    return ScaleOf(r, *out);
  }
  return ApiError::Conflict(r.group, r.plural, name);
}

ApiResult<json> ObjectService::PatchScale(const ResourceInfo& r, const std::string& ns,
                                          const std::string& name, PatchType type,
                                          const std::string& patch, const RequestContext& ctx) {
  ApiResult<json> current = GetScale(r, ns, name);
  if (!current.ok()) return current.error();
  // The Scale is a built-in type even for custom resources, so every patch type applies.
  ApiResult<json> patched = ApplyPatch(*current, type, patch);
  if (!patched.ok()) return patched.error();
  json scale = std::move(patched).value();
  // Unless the patch pins a resourceVersion, apply the replicas to whatever is stored now.
  if (patch.find("\"resourceVersion\"") == std::string::npos)
    scale["metadata"].erase("resourceVersion");
  return UpdateScale(r, ns, name, scale, ctx);
}

std::vector<ResourceInfo> ObjectService::NamespacedTypes() {
  std::vector<ResourceInfo> types;
  std::set<ResourceType> seen;
  for (const ResourceInfo& r : registry_.All()) {
    if (r.namespaced && seen.insert(r.StorageType()).second) types.push_back(r);
  }
  // Custom resources go with their namespace too, as in Kubernetes.
  for (const ResourceInfo* r : registry_.Dynamic()) {
    if (r->namespaced && seen.insert(r->StorageType()).second) types.push_back(*r);
  }
  std::lock_guard lock(mu_);
  for (const auto& [t, r] : generic_types_) {
    if (seen.insert(t).second) types.push_back(r);
  }
  return types;
}

StatusOr<bool> ObjectService::NamespaceHasContent(const std::string& ns) {
  for (const ResourceInfo& r : NamespacedTypes()) {
    ListOptions opts;
    opts.ns = ns;
    opts.limit = 1;
    StatusOr<ListResult> listed = store_.List(r.StorageType(), opts);
    // A list that failed is not an empty one: taken so, a namespace was removed with its
    // objects still stored.
    if (!listed.ok()) return listed.status();
    if (!listed->items.empty()) return true;
  }
  return false;
}

bool ObjectService::PurgeNamespace(const std::string& ns, const RequestContext& ctx) {
  return DeleteNamespaceContents(ns, ctx);
}

StatusOr<bool> ObjectService::ResumeNamespaceDeletion(const std::string& ns,
                                                      const RequestContext& ctx) {
  if (defer_namespace_deletion_) {
    return FailedPreconditionError("namespace " + ns +
                                   ": its deletion is the namespace controller's (deferred)");
  }
  StatusOr<json> got = store_.Get(ObjectKey{kNamespaces, "", ns});
  if (!got.ok()) {
    if (got.status().code() == StatusCode::kNotFound) return true;
    return got.status();
  }
  if (MetaString(*got, "deletionTimestamp").empty()) return false;
  DeleteNamespaceContents(ns, ctx);
  MERIDIAN_ASSIGN_OR_RETURN(std::optional<json> gone, FinishNamespace(ns));
  if (gone.has_value()) return true;
  // Also gone when the removal of its last object took it.
  StatusOr<json> now = store_.Get(ObjectKey{kNamespaces, "", ns});
  if (!now.ok() && now.status().code() != StatusCode::kNotFound) return now.status();
  return !now.ok();
}

ApiResult<bool> ObjectService::FinalizeNamespace(const std::string& name,
                                                 const std::string& finalizer) {
  ObjectKey key{kNamespaces, "", name};
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    if (attempt > 0) BackOffAfterLostRace(attempt);
    StatusOr<json> old = store_.Get(key);
    if (!old.ok()) {
      if (old.status().code() == StatusCode::kNotFound)
        return ApiError::NotFound("", "namespaces", name);
      return ApiError::FromStatus(old.status());
    }
    if (MetaString(*old, "deletionTimestamp").empty()) {
      return ApiError::Conflict("", "namespaces", name, "the namespace is not being deleted");
    }
    StatusOr<int64_t> rv = ResourceVersionOf(*old);
    json updated = *old;
    json kept = json::array();
    for (const json& f : SpecFinalizers(*old)) {
      if (!(f.is_string() && f.get<std::string>() == finalizer)) kept.push_back(f);
    }
    // As the registry's ShouldDeleteNamespaceDuringUpdate: nothing left to wait for.
    if (kept.empty() && Finalizers(*old).empty()) {
      StatusOr<json> gone = store_.Delete(key, rv.ok() ? *rv : 0);
      if (!gone.ok() && LostRace(gone.status())) continue;
      if (!gone.ok()) return ApiError::FromStatus(gone.status());
      return true;
    }
    if (kept.size() == SpecFinalizers(*old).size()) return false;  // not ours to remove
    updated["spec"]["finalizers"] = std::move(kept);
    if (updated["spec"]["finalizers"].empty()) updated["spec"].erase("finalizers");
    StatusOr<json> written = store_.Update(key, std::move(updated), rv.ok() ? *rv : 0);
    if (!written.ok() && LostRace(written.status())) continue;
    if (!written.ok()) return ApiError::FromStatus(written.status());
    return false;
  }
  return ApiError::Conflict("", "namespaces", name);
}

bool ObjectService::DeleteNamespaceContents(const std::string& ns, const RequestContext& ctx) {
  for (const ResourceInfo& r : NamespacedTypes()) {
    ListOptions opts;
    opts.ns = ns;
    StatusOr<ListResult> listed = store_.List(r.StorageType(), opts);
    if (!listed.ok()) continue;
    for (const json& o : listed->items) {
      // The namespace is judged once, after all of them (FinishNamespace), not after each:
      // that is a list of every namespaced type per object.
      ApiResult<json> gone =
          DeleteChecked(r, ns, MetaString(o, "name"), {}, ctx, /*finish_namespace=*/false);
      (void)gone;  // best effort: a concurrent delete or a finalizer is fine
    }
  }
  StatusOr<bool> left = NamespaceHasContent(ns);
  return left.ok() && !*left;
}

StatusOr<std::optional<json>> ObjectService::FinishNamespace(const std::string& ns) {
  const ObjectKey key{kNamespaces, "", ns};
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    if (attempt > 0) BackOffAfterLostRace(attempt);
    StatusOr<json> got = store_.Get(key);
    if (!got.ok()) {
      if (got.status().code() == StatusCode::kNotFound) return std::optional<json>();
      return got.status();
    }
    if (MetaString(*got, "deletionTimestamp").empty() || !Finalizers(*got).empty()) {
      return std::optional<json>();
    }
    // Read after the namespace: whoever removes an object removes it first and reads the
    // namespace after, so one of two racing removers sees both gone.
    MERIDIAN_ASSIGN_OR_RETURN(bool has_content, NamespaceHasContent(ns));
    if (has_content) return std::optional<json>();
    StatusOr<int64_t> rv = ResourceVersionOf(*got);
    StatusOr<json> gone = store_.Delete(key, rv.ok() ? *rv : 0);
    if (gone.ok()) return std::optional<json>(std::move(gone).value());
    // Another write of the namespace got in between (a label, its status, another replica
    // finishing it): judge it again as it is now. Ignoring the lost race left an empty
    // namespace Terminating for good when that write was not itself a finishing one.
    if (LostRace(gone.status()) || gone.status().code() == StatusCode::kNotFound) continue;
    return gone.status();
  }
  return AbortedError("namespace " + ns + ": too many concurrent writes while finishing it");
}

std::optional<ApiError> ObjectService::RemoveIfNamespaceWentAway(const ResourceInfo& r,
                                                                 const std::string& ns,
                                                                 const json& created,
                                                                 const RequestContext& ctx) {
  // CheckNamespace read the namespace before this write (from the cache, possibly behind);
  // its deletion may have marked it since, listed its contents before this write landed, and
  // removed it: the object would outlive its namespace (and turn up in the next namespace of
  // that name). The deletion writes its mark, then reads the contents; this create writes the
  // object, then reads the namespace (consistently): one of the two sees the other. Seeing
  // the mark (or no namespace), the creator deletes what it wrote and answers what the check
  // before the write would have (403 NamespaceTerminating, 404). A read that fails says
  // nothing: the object stays (a Terminating namespace's contents are deleted again by
  // NamespaceTerminator).
  const std::string name = MetaString(created, "name");
  std::optional<ApiError> gone = CheckNamespace(r, ns, name, /*written=*/true);
  if (!gone || (gone->code != 403 && gone->code != 404)) return std::nullopt;
  DeleteOptions only_this;
  only_this.precondition_uid = MetaString(created, "uid");
  (void)Delete(r, ns, name, only_this, ctx);
  return gone;
}

bool ObjectService::NamespaceHeld(const ResourceInfo& r, const ObjectKey& key, const json& obj) {
  if (!(r.group.empty() && r.plural == "namespaces")) return false;
  // kube-apiserver's ShouldDeleteNamespaceDuringUpdate: its namespace controller's
  // spec.finalizers still to go.
  if (defer_namespace_deletion_) return !SpecFinalizers(obj).empty();
  // Here the namespace's own deletion is that controller: it waits for its contents (a failed
  // look counts as not empty). The emptied namespace is stored; the last object's removal or
  // NamespaceTerminator removes it.
  StatusOr<bool> has_content = NamespaceHasContent(key.name);
  return !has_content.ok() || *has_content;
}

void ObjectService::MaybeFinishNamespace(const std::string& ns) {
  // Deferred: the embedder's namespace controller removes it (FinalizeNamespace).
  if (ns.empty() || !registry_.HasNamespaces() || defer_namespace_deletion_) return;
  // An error leaves it Terminating, never half removed: ResumeNamespaceDeletion (the API
  // server's NamespaceTerminator) finishes it later.
  (void)FinishNamespace(ns);
}

ApiResult<json> ObjectService::Delete(const ResourceInfo& r, const std::string& ns,
                                      const std::string& name, const DeleteOptions& options,
                                      const RequestContext& ctx) {
  return DeleteChecked(r, ns, name, options, ctx, /*finish_namespace=*/true);
}

ApiResult<json> ObjectService::DeleteChecked(const ResourceInfo& r, const std::string& ns,
                                             const std::string& name, const DeleteOptions& options,
                                             const RequestContext& ctx, bool finish_namespace) {
  ObjectKey key{r.StorageType(), r.namespaced ? ns : "", name};
  const bool is_namespace = r.group.empty() && r.plural == "namespaces";
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    if (attempt > 0) BackOffAfterLostRace(attempt);
    StatusOr<json> old = store_.Get(key);
    if (!old.ok()) {
      if (old.status().code() == StatusCode::kNotFound)
        return ApiError::NotFound(r.group, r.plural, name);
      return ApiError::FromStatus(old.status());
    }
    const std::string uid = MetaString(*old, "uid");
    if (!options.precondition_uid.empty() && options.precondition_uid != uid) {
      return ApiError::Conflict(r.group, r.plural, name,
                                "Precondition failed: UID in precondition: " +
                                    options.precondition_uid + ", UID in object meta: " + uid);
    }
    const std::string rv = MetaString(*old, "resourceVersion");
    if (!options.precondition_resource_version.empty() &&
        options.precondition_resource_version != rv) {
      return ApiError::Conflict(r.group, r.plural, name,
                                "Precondition failed: ResourceVersion in precondition: " +
                                    options.precondition_resource_version +
                                    ", ResourceVersion in object meta: " + rv);
    }
    AdmissionAttributes attrs{Operation::kDelete, &r, "", key.ns, name, &*old, &ctx.user,
                              ctx.strict_fields};
    FieldErrors errors;
    for (const ValidatingAdmission& v : validating_) {
      Status st = v(attrs, *old, &errors);
      if (!st.ok()) return ApiError::FromStatus(st);
    }
    if (!errors.empty()) return ApiError::Invalid(r.group, r.kind, name, errors);
    const bool dry_run = options.dry_run || ctx.dry_run;
    bool blocked = !Finalizers(*old).empty();
    if (is_namespace && defer_namespace_deletion_) {
      // kube-apiserver's namespace REST Delete: the first delete only starts termination;
      // later ones change nothing until the namespace controller has finalized it.
      if (MetaString(*old, "deletionTimestamp").empty() || !SpecFinalizers(*old).empty()) {
        blocked = true;
      }
    } else if (is_namespace && !dry_run) {
      // As kube-apiserver and its namespace controller, in this order: mark the namespace
      // Terminating (from here creates in it are refused, and NamespaceTerminator finishes
      // what this request does not), delete its contents (objects with finalizers are only
      // marked), remove it once nothing is left. Marking first is what makes the end whole:
      // the contents are listed after the mark, so an object whose last finalizer goes while
      // this runs cannot slip between "still there" and a mark that lands on an empty
      // namespace; and a create that passed its namespace check before the mark sees the
      // mark once written (Create) and removes what it wrote.
      if (MetaString(*old, "deletionTimestamp").empty()) {
        StatusOr<int64_t> old_rv = ResourceVersionOf(*old);
        StatusOr<json> written =
            store_.Update(key, MarkedForDeletion(*old, true, clock_), old_rv.ok() ? *old_rv : 0);
        if (!written.ok() && LostRace(written.status())) continue;
        if (!written.ok()) return ApiError::FromStatus(written.status());
        old = std::move(written);
      }
      DeleteNamespaceContents(name, ctx);
      StatusOr<std::optional<json>> finished = FinishNamespace(name);
      if (finished.ok() && finished->has_value()) return std::move(**finished);
      // Left Terminating: objects with finalizers, its own finalizers, or a store error (the
      // last object's removal or NamespaceTerminator ends it). The deletion is under way.
      StatusOr<json> now = store_.Get(key);
      return now.ok() ? std::move(now).value() : std::move(old).value();
    }
    StatusOr<int64_t> old_rv = ResourceVersionOf(*old);
    if (blocked) {
      if (!MetaString(*old, "deletionTimestamp").empty()) return std::move(old).value();
      json marked = MarkedForDeletion(*old, is_namespace, clock_);
      if (dry_run) return marked;
      StatusOr<json> written = store_.Update(key, std::move(marked), old_rv.ok() ? *old_rv : 0);
      if (!written.ok() && LostRace(written.status())) continue;
      if (!written.ok()) return ApiError::FromStatus(written.status());
      return std::move(written).value();
    }
    if (dry_run) return std::move(old).value();
    StatusOr<json> gone = store_.Delete(key, old_rv.ok() ? *old_rv : 0);
    if (!gone.ok() && LostRace(gone.status())) continue;
    if (!gone.ok()) {
      if (gone.status().code() == StatusCode::kNotFound)
        return ApiError::NotFound(r.group, r.plural, name);
      return ApiError::FromStatus(gone.status());
    }
    if (r.namespaced && finish_namespace) MaybeFinishNamespace(key.ns);
    return std::move(gone).value();
  }
  return ApiError::Conflict(r.group, r.plural, name);
}

ApiResult<json> ObjectService::DeleteCollection(const ResourceInfo& r, const std::string& ns,
                                                const ListRequest& request,
                                                const DeleteOptions& options,
                                                const RequestContext& ctx) {
  ListRequest all = request;
  all.limit = 0;
  all.continue_token.clear();
  ApiResult<json> listed = List(r, ns, all);
  if (!listed.ok()) return listed.error();
  json deleted = json::array();
  for (const json& o : (*listed)["items"]) {
    ApiResult<json> d = Delete(r, MetaString(o, "namespace"), MetaString(o, "name"), options, ctx);
    if (d.ok()) deleted.push_back(std::move(d).value());
  }
  json out = std::move(listed).value();
  out["items"] = std::move(deleted);
  return out;
}

namespace {

// One of a watch's initial ADDED events, for a listed item.
ObjectEvent InitialEvent(const SharedObject& item) {
  std::shared_ptr<const json> object = DecodedObject(item);
  StatusOr<int64_t> rv = ResourceVersionOf(*object);
  return ObjectEvent{"ADDED", std::move(object), rv.ok() ? *rv : 0, item.encoded, true};
}

// Holds a watch's live events back until its initial events (sent from another thread) are
// out, so that the callback sees them in order and one at a time.
struct InitialGate {
  std::mutex mu;  // held while the callback runs; guards everything below
  bool done = false;
  bool cancelled = false;
  std::vector<ObjectEvent> held;  // live events that came before `done`
  ObjectEventCallback callback;
};

// The store's watch behind a gate: after Cancel returns, the callback neither runs nor will.
class GatedWatch : public Watch {
 public:
  GatedWatch(std::shared_ptr<InitialGate> gate, std::unique_ptr<Watch> inner)
      : gate_(std::move(gate)), inner_(std::move(inner)) {}
  ~GatedWatch() override { Cancel(); }
  void Cancel() override {
    {
      std::lock_guard lock(gate_->mu);
      gate_->cancelled = true;
    }
    if (inner_) inner_->Cancel();
  }
  // Nothing is known delivered until the initial events and the live ones held behind them
  // are out (the store may have delivered later events into `held` already).
  int64_t DeliveredThrough() const override {
    {
      std::lock_guard lock(gate_->mu);
      if (!gate_->done) return 0;
    }
    return inner_ ? inner_->DeliveredThrough() : 0;
  }

 private:
  std::shared_ptr<InitialGate> gate_;
  std::unique_ptr<Watch> inner_;
};

}  // namespace

std::shared_ptr<WatchDispatcher> ObjectService::InitialEventsThread() {
  std::lock_guard lock(mu_);
  if (!initial_events_) initial_events_ = std::make_shared<WatchDispatcher>();
  return initial_events_;
}

ApiResult<std::unique_ptr<Watch>> ObjectService::StartWatch(const ResourceInfo& r,
                                                            const std::string& ns,
                                                            const ListRequest& request,
                                                            ObjectEventCallback callback,
                                                            int64_t* start_resource_version) {
  ApiResult<Selectors> sel = Selectors::Parse(r, request);
  if (!sel.ok()) return sel.error();
  if (!request.resource_version_match.empty()) {
    return ApiError::BadRequest(
        "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch");
  }
  const std::string watch_ns = r.namespaced ? ns : "";
  int64_t from = 0;
  std::shared_ptr<InitialGate> gate;
  if (request.resource_version.empty() || request.resource_version == "0") {
    ListRequest list_req = request;
    list_req.limit = 0;
    list_req.continue_token.clear();
    // Items shared with the store (the watch cache's): no copy, no parse per watch.
    ApiResult<SharedList> listed = ListShared(r, watch_ns, list_req);
    if (!listed.ok()) return listed.error();
    from = std::stoll(listed->metadata["resourceVersion"].get<std::string>());
    // Each item's tree is decoded (where the store keeps only its bytes) just before its
    // event is delivered, and let go after: never every tree of the list at once.
    auto initial = std::make_shared<std::vector<SharedObject>>(std::move(listed->items));
    if (!request.async_initial_events) {
      for (const SharedObject& item : *initial) callback(InitialEvent(item));
    } else {
      gate = std::make_shared<InitialGate>();
      gate->callback = std::move(callback);
      InitialEventsThread()->Post([gate, initial] {
        for (const SharedObject& item : *initial) {
          ObjectEvent e = InitialEvent(item);
          std::lock_guard lock(gate->mu);
          if (gate->cancelled) return;
          gate->callback(e);
        }
        std::lock_guard lock(gate->mu);
        if (!gate->cancelled) {
          for (const ObjectEvent& e : gate->held) gate->callback(e);
        }
        gate->held.clear();
        gate->done = true;
      });
    }
  } else {
    ApiResult<int64_t> rv = ParseQueryResourceVersion(request.resource_version);
    if (!rv.ok()) return rv.error();
    from = *rv;
  }
  if (start_resource_version != nullptr) *start_resource_version = from;
  auto fields = std::make_shared<std::vector<FieldRequirement>>(sel->fields);
  WatchCallback live;
  if (gate) {
    live = [fields, gate](const WatchEvent& e) {
      if (!e.object || !FieldsMatch(*fields, *e.object)) return;
      ObjectEvent oe{WatchEventTypeName(e.type), e.object, e.resource_version, e.encoded};
      std::lock_guard lock(gate->mu);
      if (gate->cancelled) return;
      if (!gate->done) {
        gate->held.push_back(std::move(oe));
        return;
      }
      gate->callback(oe);
    };
  } else {
    live = [fields, callback = std::move(callback)](const WatchEvent& e) {
      if (!e.object || !FieldsMatch(*fields, *e.object)) return;
      callback(ObjectEvent{WatchEventTypeName(e.type), e.object, e.resource_version, e.encoded});
    };
  }
  StatusOr<std::unique_ptr<Watch>> w =
      request.latest_per_object
          ? store_.WatchLatestFrom(r.StorageType(), watch_ns, sel->labels, from, std::move(live))
          : store_.WatchFrom(r.StorageType(), watch_ns, sel->labels, from, std::move(live));
  if (!w.ok()) {
    if (gate) {
      std::lock_guard lock(gate->mu);
      gate->cancelled = true;
    }
    if (w.status().code() == StatusCode::kOutOfRange) return ApiError::Gone(w.status().message());
    return ApiError::FromStatus(w.status());
  }
  if (gate) return std::unique_ptr<Watch>(std::make_unique<GatedWatch>(gate, std::move(w).value()));
  return std::move(w).value();
}

}  // namespace meridian::apimachinery
