#include "cli/join.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "cli/printers.h"
#include "common/base64.h"
#include "sync/http_member_client.h"
#include "sync/kubeconfig.h"
#include "sync/propagation.h"

namespace meridian::cli {

using nlohmann::json;

namespace {

StatusOr<std::string> ReadWholeFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(flag + " " + path + ": cannot read the file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  return s;
}

const KindInfo& Kind(const char* name) {
  const KindInfo* kind = ResolveType(name);
  // Both are in KnownKinds(); a missing one is a programming error.
  if (kind == nullptr) std::abort();
  return *kind;
}

// 64-bit FNV-1a: a stable content hash for Secret names (not a security measure).
uint64_t Fnv1a(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool IsRefusal(StatusCode code) {
  return code == StatusCode::kUnauthenticated || code == StatusCode::kPermissionDenied;
}

}  // namespace

StatusOr<std::map<std::string, std::string>> ParseLabelFlags(const std::vector<std::string>& flags) {
  std::map<std::string, std::string> labels;
  for (const std::string& flag : flags) {
    size_t eq = flag.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgumentError("--label \"" + flag + "\": want key=value");
    }
    labels[flag.substr(0, eq)] = flag.substr(eq + 1);
  }
  return labels;
}

StatusOr<sync::MemberEndpoint> JoinEndpoint(const JoinRequest& r) {
  sync::MemberEndpoint endpoint;
  if (!r.kubeconfig.empty()) {
    if (!r.member_url.empty() || !r.token_file.empty() || !r.ca_file.empty()) {
      return InvalidArgumentError(
          "give either --kubeconfig (with --context) or --member-url with --token-file, not both");
    }
    MERIDIAN_ASSIGN_OR_RETURN(sync::KubeconfigSelection selection,
                              sync::LoadKubeconfig(r.kubeconfig, r.context));
    endpoint = std::move(selection.endpoint);
  } else {
    if (r.member_url.empty()) {
      return InvalidArgumentError("--member-url (with --token-file) or --kubeconfig is required");
    }
    if (r.member_url.rfind("http://", 0) != 0 && r.member_url.rfind("https://", 0) != 0) {
      return InvalidArgumentError("--member-url \"" + r.member_url +
                                  "\": want an http:// or https:// URL");
    }
    if (r.token_file.empty()) {
      return InvalidArgumentError("--token-file is required with --member-url");
    }
    endpoint.server = r.member_url;
    MERIDIAN_ASSIGN_OR_RETURN(std::string token, ReadWholeFile(r.token_file, "--token-file"));
    endpoint.credentials.bearer_token = Trim(token);
    if (endpoint.credentials.bearer_token.empty()) {
      return InvalidArgumentError("--token-file " + r.token_file + ": the file is empty");
    }
    if (!r.ca_file.empty()) {
      MERIDIAN_ASSIGN_OR_RETURN(endpoint.credentials.certificate_authority_pem,
                                ReadWholeFile(r.ca_file, "--certificate-authority"));
    }
  }
  if (r.insecure_skip_tls_verify) endpoint.credentials.insecure_skip_tls_verify = true;
  endpoint.name = r.name;
  endpoint.timeout = r.member_timeout;
  return endpoint;
}

StatusOr<std::string> CheckMember(sync::MemberClient& member, const std::string& server) {
  const std::string who = "member \"" + member.member() + "\" at " + server;
  auto explain = [&](const Status& s) -> Status {
    if (s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded) {
      return UnavailableError("cannot reach " + who + ": " + s.message());
    }
    if (IsRefusal(s.code())) {
      return Status(s.code(), who + " refused the credentials (" +
                                  (s.code() == StatusCode::kUnauthenticated ? "401 Unauthorized"
                                                                            : "403 Forbidden") +
                                  "): " + s.message());
    }
    return Status(s.code(), who + ": " + s.message());
  };
  StatusOr<sync::DiscoveryInfo> discovery = member.Discover(/*refresh=*/true);
  if (!discovery.ok()) return explain(discovery.status());
  // Discovery may be open to anyone (system:discovery); a namespaced list is what tells
  // whether these credentials may do what propagation does.
  sync::MemberListOptions options;
  options.limit = 1;
  StatusOr<sync::ObjectList> list = member.List({"apps", "v1", "deployments"}, "default", options);
  if (!list.ok() && list.status().code() != StatusCode::kNotFound) return explain(list.status());
  return discovery->version.git_version;
}

json CredentialsSecret(const std::string& member_name, const sync::MemberCredentials& c) {
  json data = json::object();
  if (!c.bearer_token.empty()) data["token"] = Base64StdEncode(c.bearer_token);
  if (!c.certificate_authority_pem.empty()) {
    data["ca.crt"] = Base64StdEncode(c.certificate_authority_pem);
  }
  if (!c.client_certificate_pem.empty()) data["tls.crt"] = Base64StdEncode(c.client_certificate_pem);
  if (!c.client_key_pem.empty()) data["tls.key"] = Base64StdEncode(c.client_key_pem);
  // Named after its content (like kustomize's secretGenerator): the controllers remake a
  // member's client when credentialsRef changes, so new credentials get a new name.
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx",
                static_cast<unsigned long long>(Fnv1a(member_name + "\n" + data.dump())));
  std::string name = member_name + "-credentials-" + std::string(hash, 8);
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", name},
            {"namespace", kMemberCredentialsNamespace},
            {"labels", {{kMemberClusterLabel, member_name}}}}},
          {"type", "Opaque"},
          {"data", data}};
}

json MemberClusterObject(const JoinRequest& r, const std::string& server,
                         const std::string& secret_name, bool insecure_skip_tls_verify) {
  json spec = {{"server", server},
               {"credentialsRef", {{"name", secret_name}, {"namespace", kMemberCredentialsNamespace}}},
               {"region", r.region},
               {"zones", r.zones},
               {"jurisdiction", r.jurisdiction}};
  if (r.capacity_replicas) spec["capacity"] = {{"replicas", *r.capacity_replicas}};
  if (insecure_skip_tls_verify) spec["insecureSkipTLSVerify"] = true;
  json metadata = {{"name", r.name}};
  if (!r.labels.empty()) metadata["labels"] = r.labels;
  return {{"apiVersion", "federation.meridian.io/v1alpha1"},
          {"kind", "MemberCluster"},
          {"metadata", metadata},
          {"spec", spec}};
}

MemberClientMaker HttpMemberClientMaker() {
  return [](const sync::MemberEndpoint& endpoint) -> StatusOr<std::shared_ptr<sync::MemberClient>> {
    MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<sync::HttpMemberClient> client,
                              sync::HttpMemberClient::Create(endpoint));
    return std::shared_ptr<sync::MemberClient>(std::move(client));
  };
}

int RunJoin(ResourceClient& federation, const JoinRequest& request,
            const MemberClientMaker& make_member, std::ostream& out, std::ostream& err) {
  const KindInfo& mcs = Kind("memberclusters");
  const KindInfo& secrets = Kind("secrets");
  if (request.name.empty()) {
    err << "error: join needs the member's NAME\n";
    return 1;
  }
  if (request.region.empty() || request.jurisdiction.empty() || request.zones.empty()) {
    err << "error: --region, --zones and --jurisdiction are required (placement and "
           "residency decide with them)\n";
    return 1;
  }

  StatusOr<sync::MemberEndpoint> endpoint = JoinEndpoint(request);
  if (!endpoint.ok()) {
    err << "error: " << endpoint.status().message() << "\n";
    return 1;
  }

  // An existing member is only replaced when asked to.
  ApiResult<json> existing = federation.Get(mcs, "", request.name);
  if (existing.ok() && !request.overwrite) {
    err << "Error from server (AlreadyExists): memberclusters.federation.meridian.io \""
        << request.name << "\" already exists (use --overwrite to replace its server, "
        << "credentials and labels)\n";
    return 1;
  }
  if (!existing.ok() && existing.error().code != 404) {
    err << FormatApiError(existing.error());
    return 1;
  }

  StatusOr<std::shared_ptr<sync::MemberClient>> member = make_member(*endpoint);
  if (!member.ok()) {
    err << "error: " << member.status().message() << "\n";
    return 1;
  }
  StatusOr<std::string> version = CheckMember(**member, endpoint->server);
  if (!version.ok()) {
    err << "error: " << version.status().message() << "\nnothing was stored\n";
    return 1;
  }

  // Credentials first: the MemberCluster must never point at a Secret that is not there.
  json secret = CredentialsSecret(request.name, endpoint->credentials);
  const std::string secret_name = secret["metadata"]["name"];
  bool created_secret = false;
  ApiResult<json> wrote_secret = federation.Create(secrets, kMemberCredentialsNamespace, secret);
  if (wrote_secret.ok()) {
    created_secret = true;
  } else if (wrote_secret.error().code == 409) {
    // The name is the content's hash: the same credentials are already stored. Only a
    // Secret join wrote (labelled for this member) is reused.
    ApiResult<json> stored = federation.Get(secrets, kMemberCredentialsNamespace, secret_name);
    const json* labels = stored.ok() && (*stored)["metadata"].contains("labels")
                             ? &(*stored)["metadata"]["labels"]
                             : nullptr;
    if (!labels || labels->value(kMemberClusterLabel, "") != request.name) {
      err << "Error from server (AlreadyExists): secret \"" << kMemberCredentialsNamespace << "/"
          << secret_name << "\" already exists and was not written by fedctl join\n";
      return 1;
    }
    wrote_secret = std::move(stored);
  }
  if (!wrote_secret.ok()) {
    err << FormatApiError(wrote_secret.error());
    return 1;
  }

  json mc = MemberClusterObject(request, endpoint->server, secret_name,
                                endpoint->credentials.insecure_skip_tls_verify);
  std::string old_secret_name;
  ApiResult<json> wrote_mc = json();
  if (existing.ok()) {
    // Keep what the API owns (status, finalizers); replace spec and labels.
    json merged = *existing;
    const json old_ref = merged.value("spec", json::object()).value("credentialsRef", json::object());
    if (old_ref.value("namespace", kMemberCredentialsNamespace) == kMemberCredentialsNamespace) {
      old_secret_name = old_ref.value("name", "");
    }
    merged["spec"] = mc["spec"];
    merged["metadata"]["labels"] = mc["metadata"].value("labels", json::object());
    merged["metadata"].erase("resourceVersion");
    merged.erase("status");
    wrote_mc = federation.Update(mcs, "", request.name, merged);
  } else {
    wrote_mc = federation.Create(mcs, "", mc);
  }
  if (!wrote_mc.ok()) {
    err << FormatApiError(wrote_mc.error());
    if (created_secret) {
      ApiResult<json> undone = federation.Delete(secrets, kMemberCredentialsNamespace, secret_name);
      if (!undone.ok() && undone.error().code != 404) {
        err << "error: secret " << kMemberCredentialsNamespace << "/" << secret_name
            << " was stored and could not be removed again: " << undone.error().message << "\n";
        return 1;
      }
    }
    err << "nothing was stored\n";
    return 1;
  }
  // The credentials an overwritten member used before, if join wrote them.
  if (!old_secret_name.empty() && old_secret_name != secret_name) {
    ApiResult<json> old = federation.Get(secrets, kMemberCredentialsNamespace, old_secret_name);
    if (old.ok() && (*old)["metadata"].contains("labels") &&
        (*old)["metadata"]["labels"].value(kMemberClusterLabel, "") == request.name) {
      ApiResult<json> gone = federation.Delete(secrets, kMemberCredentialsNamespace, old_secret_name);
      if (!gone.ok() && gone.error().code != 404) {
        err << "warning: the previous credentials, secret " << kMemberCredentialsNamespace << "/"
            << old_secret_name << ", could not be deleted: " << gone.error().message << "\n";
      }
    }
  }
  out << "membercluster.federation.meridian.io/" << request.name
      << (existing.ok() ? " rejoined" : " joined") << " (" << endpoint->server << ", Kubernetes "
      << *version << "; credentials in secret " << kMemberCredentialsNamespace << "/"
      << secret_name << ")\n";
  return 0;
}

StatusOr<sync::MemberCredentials> CredentialsFromSecret(const json& secret) {
  sync::MemberCredentials c;
  const json data = secret.value("data", json::object());
  auto field = [&](const char* key, std::string* into) -> Status {
    if (!data.is_object() || !data.contains(key)) return Status::Ok();
    if (!data[key].is_string()) return InvalidArgumentError(std::string("data.") + key + " is not a string");
    std::optional<std::string> decoded = Base64Decode(data[key].get<std::string>());
    if (!decoded) return InvalidArgumentError(std::string("data.") + key + " is not base64");
    *into = std::move(*decoded);
    return Status::Ok();
  };
  MERIDIAN_RETURN_IF_ERROR(field("token", &c.bearer_token));
  MERIDIAN_RETURN_IF_ERROR(field("ca.crt", &c.certificate_authority_pem));
  MERIDIAN_RETURN_IF_ERROR(field("tls.crt", &c.client_certificate_pem));
  MERIDIAN_RETURN_IF_ERROR(field("tls.key", &c.client_key_pem));
  return c;
}

namespace {

// Deletes every Meridian-managed object from the member; returns how many failed.
int CleanUpMember(sync::MemberClient& member, const sync::DiscoveryInfo& discovery,
                  std::ostream& out, std::ostream& err, int* deleted) {
  const std::string selector = std::string(sync::kManagedByLabel) + "=" + sync::kManagedByValue;
  int failures = 0;
  std::set<std::string> seen_kinds;  // one version per group/kind (apps/v1 and v1beta1 alias)
  for (const sync::DiscoveredResource& r : discovery.resources) {
    auto has = [&](const char* verb) {
      return std::find(r.verbs.begin(), r.verbs.end(), verb) != r.verbs.end();
    };
    if (r.gvr.resource.find('/') != std::string::npos || !has("list") || !has("delete")) continue;
    if (!seen_kinds.insert(r.gvr.group + "/" + r.kind).second) continue;
    std::string continue_token;
    do {
      sync::MemberListOptions options;
      options.label_selector = selector;
      options.continue_token = continue_token;
      StatusOr<sync::ObjectList> list = member.List(r.gvr, "", options);
      if (!list.ok()) {
        if (list.status().code() == StatusCode::kNotFound ||
            list.status().code() == StatusCode::kInvalidArgument) {
          break;  // served in discovery but not listable this way
        }
        err << "error: listing " << r.gvr.GroupResource() << ": " << list.status().message() << "\n";
        ++failures;
        break;
      }
      for (const json& o : list->items) {
        const json meta = o.value("metadata", json::object());
        // Owned objects (a Deployment's ReplicaSets and Pods, if they carry the label) go
        // with their owner through the member's garbage collector.
        if (meta.contains("ownerReferences") && !meta["ownerReferences"].empty()) continue;
        // Already going (a namespace stays Terminating until the member's namespace
        // controller has emptied it): deleting it again changes nothing, and counting it
        // would make every pass find something and repeat.
        if (!meta.value("deletionTimestamp", "").empty()) continue;
        const std::string ns = meta.value("namespace", "");
        const std::string name = meta.value("name", "");
        const std::string shown = r.gvr.GroupResource() + " " + (ns.empty() ? "" : ns + "/") + name;
        Status s = member.Delete(r.gvr, ns, name);
        if (s.ok() || s.code() == StatusCode::kNotFound) {
          out << "deleted " << shown << " from " << member.member() << "\n";
          ++*deleted;
        } else {
          err << "error: deleting " << shown << ": " << s.message() << "\n";
          ++failures;
        }
      }
      continue_token = list->continue_token;
    } while (!continue_token.empty());
  }
  return failures;
}

// Whether any FederatedWorkload's status still places the member or reports it.
bool StillUsed(ResourceClient& federation, const std::string& member) {
  const KindInfo* fws = ResolveType("federatedworkloads");
  ApiResult<json> list = federation.List(*fws, "", "");
  if (!list.ok()) return false;  // cannot tell; do not wait on an API that fails
  for (const json& w : list->value("items", json::array())) {
    const json status = w.value("status", json::object());
    for (const char* field : {"placement", "clusters"}) {
      for (const json& entry : status.value(field, json::array())) {
        if (entry.is_object() && entry.value("cluster", "") == member) return true;
      }
    }
  }
  return false;
}

}  // namespace

bool WaitUntilReleased(ResourceClient& federation, const std::string& member, const Clock& clock,
                       const std::function<void(std::chrono::milliseconds)>& sleep,
                       std::chrono::milliseconds timeout) {
  const Timestamp deadline = clock.Now() + timeout;
  while (StillUsed(federation, member)) {
    if (clock.Now() >= deadline) return false;
    sleep(std::chrono::milliseconds(200));
  }
  return true;
}

int RunUnjoin(ResourceClient& federation, const UnjoinRequest& request,
              const MemberClientMaker& make_member, std::ostream& out, std::ostream& err) {
  const KindInfo& mcs = Kind("memberclusters");
  const KindInfo& secrets = Kind("secrets");
  ApiResult<json> mc = federation.Get(mcs, "", request.name);
  if (!mc.ok()) {
    err << FormatApiError(mc.error());
    return 1;
  }
  const json spec = mc->value("spec", json::object());
  const json ref = spec.value("credentialsRef", json::object());
  const std::string secret_name = ref.value("name", "");
  const std::string secret_ns = ref.value("namespace", kMemberCredentialsNamespace);

  std::shared_ptr<sync::MemberClient> member;
  sync::DiscoveryInfo discovery;
  if (request.cleanup) {
    sync::MemberEndpoint endpoint;
    endpoint.name = request.name;
    endpoint.server = spec.value("server", "");
    endpoint.timeout = request.member_timeout;
    endpoint.credentials.insecure_skip_tls_verify = spec.value("insecureSkipTLSVerify", false);
    if (!secret_name.empty()) {
      ApiResult<json> secret = federation.Get(secrets, secret_ns, secret_name);
      if (!secret.ok()) {
        err << FormatApiError(secret.error())
            << "error: --cleanup needs the member's credentials; nothing was changed\n";
        return 1;
      }
      StatusOr<sync::MemberCredentials> creds = CredentialsFromSecret(*secret);
      if (!creds.ok()) {
        err << "error: secret " << secret_ns << "/" << secret_name << ": "
            << creds.status().message() << "; nothing was changed\n";
        return 1;
      }
      creds->insecure_skip_tls_verify = endpoint.credentials.insecure_skip_tls_verify;
      endpoint.credentials = std::move(*creds);
    }
    StatusOr<std::shared_ptr<sync::MemberClient>> made = make_member(endpoint);
    if (!made.ok()) {
      err << "error: " << made.status().message() << "; nothing was changed\n";
      return 1;
    }
    member = std::move(*made);
    // Know that the member answers before taking anything away.
    StatusOr<sync::DiscoveryInfo> found = member->Discover(/*refresh=*/true);
    if (!found.ok()) {
      StatusOr<std::string> why = CheckMember(*member, endpoint.server);
      err << "error: --cleanup: "
          << (why.ok() ? found.status().message() : why.status().message())
          << "\nnothing was changed (unjoin without --cleanup leaves the member's objects in place)\n";
      return 1;
    }
    discovery = std::move(*found);
  }

  // The MemberCluster goes first, so the propagation controller stops writing to the member.
  ApiResult<json> deleted_mc = federation.Delete(mcs, "", request.name);
  if (!deleted_mc.ok() && deleted_mc.error().code != 404) {
    err << FormatApiError(deleted_mc.error());
    return 1;
  }
  out << "membercluster.federation.meridian.io \"" << request.name << "\" deleted\n";

  int failures = 0;
  if (member) {
    const Clock& clock = request.clock ? *request.clock : RealClock();
    auto sleep = request.sleep ? request.sleep
                               : [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
    if (!WaitUntilReleased(federation, request.name, clock, sleep, request.settle_timeout)) {
      err << "warning: after " << request.settle_timeout.count() / 1000.0
          << " s workloads still place or report " << request.name
          << "; cleaning up anyway (a controller may write there again)\n";
    }
    int deleted = 0;
    // A sync already under way when the controllers let go may still land a write: passes
    // repeat (a little apart) until one finds nothing.
    for (int pass = 0; pass < 5 && failures == 0; ++pass) {
      int before = deleted;
      failures += CleanUpMember(*member, discovery, out, err, &deleted);
      if (deleted == before) break;
      sleep(std::chrono::milliseconds(300));
    }
    out << "cleaned " << request.name << ": " << deleted << " object"
        << (deleted == 1 ? "" : "s") << " Meridian created deleted\n";
  }

  if (!secret_name.empty()) {
    ApiResult<json> deleted_secret = federation.Delete(secrets, secret_ns, secret_name);
    if (deleted_secret.ok()) {
      out << "secret \"" << secret_ns << "/" << secret_name << "\" deleted\n";
    } else if (deleted_secret.error().code != 404) {
      err << FormatApiError(deleted_secret.error());
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace meridian::cli
