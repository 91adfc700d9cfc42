#include "federation-apiserver/server.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "api/resources.h"
#include "api/served_kinds.h"
#include "api/types.h"
#include "api/workload_summary.h"
#include "apimachinery/cacher.h"
#include "apimachinery/core_admission.h"
#include "apimachinery/etcd_store.h"
#include "apimachinery/event_recorder.h"
#include "apimachinery/leader_election.h"
#include "apimachinery/sqlite_store.h"
#include "apimachinery/table.h"
#include "apimachinery/transforming_store.h"
#include "common/build_info.h"
#include "federation-apiserver/admission.h"
#include "federation-apiserver/audit/audit.h"
#include "federation-apiserver/compliance_review.h"
#include "federation-apiserver/console.h"
#include "federation-apiserver/crd/definition.h"
#include "federation-apiserver/encryption_config.h"
#include "federation-apiserver/leader_fencing.h"
#include "federation-apiserver/native_resources.h"
#include "federation-apiserver/openapi.h"
#include "federation-apiserver/rbac/authorizer.h"
#include "federation-apiserver/request_filters.h"
#include "federation-apiserver/what_if_review.h"
#include "observability/cache_metrics.h"
#include "observability/metrics.h"
#include "observability/metrics_server.h"
#include "observability/request_metrics.h"

namespace meridian::apiserver {

namespace rest = apimachinery::rest;
using apimachinery::ResourceInfo;

StatusOr<std::string> SqlitePathFromStorageFlag(const std::string& storage) {
  const std::string prefix = "sqlite:";
  if (storage.rfind(prefix, 0) != 0 || storage.size() == prefix.size()) {
    return InvalidArgumentError("--storage: \"" + storage +
                                "\" is not supported; use sqlite:PATH or etcd:URL[,URL...]");
  }
  return storage.substr(prefix.size());
}

namespace {

ResourceInfo SecretResourceInfo() {
  ResourceInfo info;
  info.version = "v1";
  info.kind = "Secret";
  info.plural = "secrets";
  info.singular = "secret";
  info.namespaced = true;
  info.field_labels = {"type"};
  info.printer_columns = {{"Type", "string", ".type", "Secret type", "", 0},
                          {"Age", "date", ".metadata.creationTimestamp", "Age", "", 0}};
  return info;
}

// The registry entry of a served kind. Meridian's kinds come whole from the list; a core kind
// keeps Kubernetes' own definition (kubectl's columns, a namespace's DNS-label names).
StatusOr<ResourceInfo> ResourceInfoFor(const api::ServedKind& k) {
  // Native kinds stored as templates for PlacementPolicies (Secret keeps its own entry).
  const api::NativeKind* native =
      api::FindNativeKind(k.group.empty() ? k.version : k.group + "/" + k.version, k.kind);
  if (native != nullptr && !(k.group.empty() && k.kind == "Secret")) {
    return NativeResourceInfo(*native);
  }
  if (k.group.empty()) {
    std::optional<ResourceInfo> core;
    if (k.kind == "Namespace") core = apimachinery::NamespaceResourceInfo();
    if (k.kind == "Secret") core = SecretResourceInfo();
    if (k.kind == "Event") core = apimachinery::EventResourceInfo();
    if (!core || core->version != k.version || core->plural != k.plural ||
        core->namespaced != k.namespaced) {
      return InternalError("served kind " + k.version + " " + k.kind +
                           " has no matching server definition");
    }
    return *core;
  }
  // The controller managers' leader election Lease (apimachinery/leader_election.h).
  if (k.group == "coordination.k8s.io" && k.kind == "Lease") {
    return apimachinery::LeaseResourceInfo();
  }
  ResourceInfo info;
  info.group = k.group;
  info.version = k.version;
  info.kind = k.kind;
  info.plural = k.plural;
  info.singular = k.singular;
  info.short_names = k.short_names;
  if (k.group == api::kGroup) {
    info.categories = {"meridian"};
    info.strategic_merge_patch = false;  // custom resources in Kubernetes' terms
  }
  // RBAC names are path segments in Kubernetes ("system:masters", "meridian:fleet-admin").
  if (k.group == rbac::kRbacGroup)
    info.name_validation = apimachinery::NameValidation::kPathSegment;
  info.namespaced = k.namespaced;
  info.has_status = k.has_status;
  for (const api::PrinterColumn& c : k.columns) {
    info.printer_columns.push_back({c.name, c.type, c.json_path, c.description, "", 0});
  }
  return info;
}

}  // namespace

std::vector<ResourceInfo> FederationResourceInfos() {
  std::vector<ResourceInfo> out;
  for (const api::ServedKind& k : api::ServedKinds()) {
    if (k.group == api::kGroup) out.push_back(*ResourceInfoFor(k));
  }
  return out;
}

namespace {

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgumentError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// kubectl get fw: REGIONS (ready/placed per region, retained apart) before AGE, and with
// -o wide PLACEMENT (per cluster), the same texts as fedctl (api/workload_summary.h). Regions
// come from the MemberClusters, read once per store revision.
void FederationApiServer::InstallWorkloadTable(ResourceInfo* info) {
  auto age = std::find_if(info->printer_columns.begin(), info->printer_columns.end(),
                          [](const apimachinery::PrinterColumn& c) { return c.name == "AGE"; });
  info->printer_columns.insert(
      age, {"REGIONS", "string", "", "Ready/placed replicas per region (retained apart)", "", 0});
  info->printer_columns.push_back(
      {"PLACEMENT", "string", "", "Replicas placed per member cluster", "", 1});
  info->row_cells = [this, columns = info->printer_columns](const nlohmann::json& o,
                                                           Timestamp now) {
    nlohmann::json cells = nlohmann::json::array();
    for (const apimachinery::PrinterColumn& c : columns) {
      if (c.name == "REGIONS") {
        cells.push_back(api::ReplicasByRegion(o, ClusterRegions()));
      } else if (c.name == "PLACEMENT") {
        cells.push_back(api::PlacementSummary(o));
      } else {
        cells.push_back(apimachinery::ColumnCell(c, o, now));
      }
    }
    return cells;
  };
}

std::map<std::string, std::string> FederationApiServer::ClusterRegions() {
  const int64_t revision = store_->CurrentResourceVersion();
  std::lock_guard<std::mutex> lock(regions_mu_);
  if (revision == regions_revision_) return regions_;
  const ResourceInfo* members = registry_.Find(api::kGroup, api::kVersion, "memberclusters");
  if (members == nullptr) return regions_;
  auto list = objects_->List(*members, "", {});
  regions_.clear();
  if (list.ok()) {
    for (const nlohmann::json& mc : list.value()["items"]) {
      regions_[mc["metadata"].value("name", "")] =
          mc.contains("spec") ? mc["spec"].value("region", "") : "";
    }
    regions_revision_ = revision;
  }
  return regions_;
}

Status AddServedResources(apimachinery::ResourceRegistry* registry,
                          const std::function<void(ResourceInfo*)>& customize) {
  // From the one list fedctl reads too: core v1 first (namespaces gate every namespaced
  // write; events say what controllers did and why), then Meridian's.
  for (bool core : {true, false}) {
    for (const api::ServedKind& kind : api::ServedKinds()) {
      if (kind.group.empty() != core) continue;
      MERIDIAN_ASSIGN_OR_RETURN(ResourceInfo info, ResourceInfoFor(kind));
      if (customize) customize(&info);
      MERIDIAN_RETURN_IF_ERROR(registry->Add(std::move(info)));
    }
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<FederationApiServer>> FederationApiServer::Create(
    const ServerOptions& options, const Clock& clock) {
  std::unique_ptr<FederationApiServer> server(new FederationApiServer());

  MERIDIAN_RETURN_IF_ERROR(AddServedResources(&server->registry_, [&](ResourceInfo* info) {
    if (info->group == api::kGroup && info->plural == "federatedworkloads") {
      server->InstallWorkloadTable(info);
    }
  }));
  // CustomResourceDefinitions: the kind is built in, what each one serves is registered
  // while the server runs (crd/registrar.h).
  MERIDIAN_RETURN_IF_ERROR(server->registry_.Add(crd::DefinitionResourceInfo()));

  // Storage: etcd for several replicas on shared storage, else the embedded SQLite file.
  if (options.storage.rfind("etcd:", 0) == 0) {
    apimachinery::EtcdStoreOptions etcd;
    MERIDIAN_ASSIGN_OR_RETURN(etcd.endpoints, apimachinery::ParseEtcdEndpoints(options.storage));
    etcd.ca_file = options.etcd_ca_file;
    etcd.cert_file = options.etcd_cert_file;
    etcd.key_file = options.etcd_key_file;
    etcd.history_revisions = options.watch_history_events;
    StatusOr<std::unique_ptr<apimachinery::Store>> store = apimachinery::OpenEtcdStore(etcd);
    if (!store.ok()) return store.status().WithContext("--storage");
    server->store_ = std::move(store).value();
  } else {
    MERIDIAN_ASSIGN_OR_RETURN(std::string path, SqlitePathFromStorageFlag(options.storage));
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) return UnavailableError("--storage: creating " + parent.string() + ": " + ec.message());
    apimachinery::SqliteStoreOptions store_options;
    store_options.path = path;
    store_options.history_events = options.watch_history_events;
    store_options.on_commit = [](size_t writes) {
      static observability::StripedHistogram& per_commit = observability::StorageWritesPerCommit();
      per_commit.Observe(static_cast<double>(writes));
    };
    MERIDIAN_ASSIGN_OR_RETURN(server->store_, apimachinery::OpenSqliteStore(store_options));
  }
  // Encryption at rest wraps the store itself, so every user of it (the ObjectService,
  // admission's reads) sees plaintext and no backend ever does.
  auto chains = options.encryption_provider_config.empty()
                    ? StatusOr<std::map<apimachinery::ResourceType, apimachinery::ProviderChain>>(
                          DefaultEncryption())
                    : LoadEncryptionConfiguration(options.encryption_provider_config);
  if (!chains.ok()) return chains.status().WithContext("--encryption-provider-config");
  // The fencing stage's write precondition (leader_fencing.h) reads the Lease as the backend
  // stores it, inside each fenced write's transaction, under the encryption wrapper: an
  // encrypted Lease would read as released and refuse every write of the controller manager.
  if (auto leases = chains->find({"coordination.k8s.io", "leases"});
      leases != chains->end() && !leases->second.WritesPlaintext()) {
    return InvalidArgumentError(
        "--encryption-provider-config " + options.encryption_provider_config +
        ": leases.coordination.k8s.io must not be encrypted (identity first): the leader "
        "fencing check reads Leases in the backend's write transactions");
  }
  std::vector<apimachinery::ResourceType> encrypted;
  for (const auto& [type, chain] : *chains) encrypted.push_back(type);
  // The backend compacts its own history; the transforming wrapper only sees objects.
  apimachinery::CompactableStore* compactable =
      dynamic_cast<apimachinery::CompactableStore*>(server->store_.get());
  server->write_fence_ = dynamic_cast<apimachinery::WriteFencedStore*>(server->store_.get());
  server->store_ =
      apimachinery::NewTransformingStore(std::move(server->store_), std::move(chains).value());
  if (compactable && options.storage_compaction_interval.count() > 0) {
    server->compactor_ = std::make_unique<StorageCompactor>(*compactable, *server->store_,
                                                            options.storage_compaction_interval);
    server->compactor_->Start();
  }
  // A key that is missing or wrong stops startup here, rather than every later read failing.
  for (const apimachinery::ResourceType& type : encrypted) {
    StatusOr<apimachinery::ListResult> all = server->store_->List(type, {});
    if (!all.ok()) {
      return InvalidArgumentError(
          "--encryption-provider-config " +
          (options.encryption_provider_config.empty() ? std::string("(not set)")
                                                      : options.encryption_provider_config) +
          ": stored " + type.ToString() + " cannot be read: " + all.status().message());
    }
  }

  // The watch cache: reads from memory, the store read once per kind and watched (cacher.h).
  // This process is SQLite's only writer, and the cacher its only user from here on; etcd
  // has other replicas writing.
  if (options.watch_cache) {
    apimachinery::CacherOptions cache_options;
    cache_options.single_writer = options.storage.rfind("etcd:", 0) != 0;
    cache_options.redact_replays.insert(encrypted.begin(), encrypted.end());
    cache_options.redact = apimachinery::RedactEncryptedObject;
    cache_options.window_events = static_cast<size_t>(options.watch_cache_window_events);
    cache_options.window_bytes = static_cast<size_t>(options.watch_cache_window_bytes);
    cache_options.window_max_age = options.watch_cache_window_max_age;
    cache_options.consistent_reads_from_cache = options.watch_cache_consistent_reads;
    cache_options.consistent_read_rounds_in_flight =
        static_cast<size_t>(options.watch_cache_consistent_read_rounds);
    cache_options.consistent_read_hold = options.watch_cache_consistent_read_hold;
    cache_options.clock = &clock;
    auto cacher = apimachinery::NewCacher(std::move(server->store_), cache_options);
    server->cacher_ = cacher.get();
    std::vector<apimachinery::ResourceType> kinds;
    for (const ResourceInfo& r : server->registry_.All()) kinds.push_back(r.StorageType());
    MERIDIAN_RETURN_IF_ERROR(cacher->Prime(kinds));
    server->store_ = std::move(cacher);
  }

  if (options.heap_trim_interval.count() > 0) {
    server->heap_trimmer_ = std::make_unique<HeapTrimmer>(options.heap_trim_interval);
    server->heap_trimmer_->Start();
  }
  if (options.event_ttl.count() > 0) {
    server->event_reaper_ =
        std::make_unique<EventReaper>(*server->store_, clock, options.event_ttl);
    server->event_reaper_->Start();
  }
  server->objects_ =
      std::make_unique<apimachinery::ObjectService>(*server->store_, clock, server->registry_);
  apimachinery::InstallCoreAdmission(*server->objects_);
  InstallFederationAdmission(*server->objects_, *server->store_, clock,
                             server->member_schemas_.get(), options.workload_finalizer_at_create);
  rbac::InstallRbacValidation(*server->objects_);
  apimachinery::InstallLeaseValidation(*server->objects_);
  server->custom_resources_ =
      std::make_unique<crd::CustomResourceRegistrar>(*server->objects_, server->registry_, clock);
  server->custom_resources_->InstallAdmission();

  // Namespaces every federation has: "default" for users, "meridian-system" for member
  // credentials. Creating them is idempotent across restarts.
  const ResourceInfo* ns_info = server->registry_.Find("", "v1", "namespaces");
  for (const char* ns : {"default", "meridian-system"}) {
    nlohmann::json body = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
    auto created = server->objects_->Create(*ns_info, "", body);
    if (!created.ok() && created.error().code != 409) {
      return InternalError("creating namespace " + std::string(ns) + ": " + created.error().message);
    }
  }

  // Before the first request: what the stored CRDs serve (a restart serves them at once).
  MERIDIAN_RETURN_IF_ERROR(server->custom_resources_->Start());
  // After the CRDs: a namespace's custom objects are among what it waits for.
  if (options.namespace_termination_interval.count() > 0) {
    server->namespace_terminator_ = std::make_unique<NamespaceTerminator>(
        *server->objects_, options.namespace_termination_interval);
    server->namespace_terminator_->Start();
  }

  // After the namespaces: RBAC's bootstrap roles are cluster-scoped, but its watches must
  // see every object already stored.
  MERIDIAN_ASSIGN_OR_RETURN(rbac::AuthorizationMode mode,
                            rbac::ParseAuthorizationMode(options.authorization_mode));
  MERIDIAN_ASSIGN_OR_RETURN(server->authorizer_, rbac::Authorizer::Create(mode, *server->objects_));

  rest::RestOptions rest_options;
  rest_options.max_body_bytes = options.max_body_bytes;
  rest_options.max_watches = options.max_watches;
  rest_options.max_watches_per_user = options.max_watches_per_user;
  rest_options.list_response_cache.max_bytes =
      static_cast<size_t>(options.list_response_cache_bytes);
  rest_options.gzip_min_bytes = static_cast<size_t>(options.gzip_min_bytes);
  // /version: Meridian's real build (common/build_info.h) at the Kubernetes API level served.
  rest_options.version = KubeVersionInfo(GetBuildInfo(), 1, 32);
  server->handler_ = std::make_unique<rest::RestHandler>(*server->objects_, clock, rest_options);

  // Request pipeline, stage 1: authentication then authorization (RBAC).
  // kube-apiserver's order: x509 client certificates, static tokens, OIDC ID tokens.
  std::vector<Authenticator> authenticators;
  if (!options.client_ca_file.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(std::string pem, ReadFile(options.client_ca_file));
    MERIDIAN_ASSIGN_OR_RETURN(
        authenticators.emplace_back(),
        X509Authenticator(pem, "--client-ca-file " + options.client_ca_file, clock));
  }
  if (!options.token_auth_file.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(std::string text, ReadFile(options.token_auth_file));
    MERIDIAN_ASSIGN_OR_RETURN(auto tokens, ParseTokenFile(text, options.token_auth_file));
    authenticators.push_back(TokenAuthenticator(std::move(tokens)));
  }
  if (!options.oidc.issuer_url.empty() || !options.oidc_jwks_file.empty()) {
    if (options.oidc_jwks_file.empty()) {
      return InvalidArgumentError("--oidc-jwks-file: required with --oidc-issuer-url");
    }
    MERIDIAN_ASSIGN_OR_RETURN(std::string jwks, ReadFile(options.oidc_jwks_file));
    MERIDIAN_ASSIGN_OR_RETURN(
        authenticators.emplace_back(),
        OidcAuthenticator(options.oidc, jwks, "--oidc-jwks-file " + options.oidc_jwks_file, clock));
  }
  if (!authenticators.empty()) {
    server->authentication_ = AuthenticationFilter(std::move(authenticators));
    server->filters_.push_back(server->authentication_);
  }
  // Request metrics (observability/request_metrics.h): counted from the first stage, so that
  // refused requests count too. /metrics itself is a nonResourceURL behind authorization
  // (kube's system:monitoring role, rbac/bootstrap.cc).
  server->request_metrics_ =
      std::make_unique<observability::RequestMetrics>(server->registry_, clock);
  server->watchers_metrics_ = server->request_metrics_->CollectWatchers(*server->handler_);
  server->cache_metrics_ = observability::RegisterCollector([s = server.get()] {
    const auto& lists = s->handler_->list_response_cache();
    return observability::CacheFamilies(
        s->cacher_ != nullptr ? s->cacher_->Stats() : std::vector<apimachinery::ResourceCacheStats>{},
        {lists.bytes(), lists.entries()});
  });
  server->filters_.insert(server->filters_.begin(), server->request_metrics_->Filter());
  server->handler_->AddRoute("GET", "/metrics", observability::MetricsResponse);
  InstallConsole(*server->handler_);  // /console/: static files; its API calls authenticate
  // Max in flight, once the user is known (429 TooManyRequests past a cap).
  server->filters_.push_back(InFlightFilter(std::make_shared<InFlightLimiter>(options.in_flight)));
  if (mode == rbac::AuthorizationMode::kRbac)
    server->filters_.push_back(server->authorizer_->Filter());
  // Fencing a leader's writes (leader_fencing.h): a write carrying a stale term's token is
  // 409; the controller manager's writes must carry one.
  server->filters_.push_back(
      LeaderFencingFilter(*server->store_, {std::string(rbac::kControllerManagerUser)}));
  for (const rest::RestFilter& filter : server->filters_) server->handler_->AddFilter(filter);
  // `kubectl auth whoami`: who authentication made of this request (kube-apiserver's
  // SelfSubjectReview; nothing is stored).
  server->handler_->AddRoute(
      "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
      [](const rest::RestRequest& req) {
        nlohmann::json info = {{"username", req.user.name}, {"groups", req.user.groups}};
        return rest::RestResponse::Json(201, {{"apiVersion", "authentication.k8s.io/v1"},
                                              {"kind", "SelfSubjectReview"},
                                              {"metadata", {{"creationTimestamp", nullptr}}},
                                              {"status", {{"userInfo", info}}}});
      });
  // Audit: one event per request, after the response is built (see audit/audit.h).
  if (!options.audit_policy_file.empty() && options.audit_log_path.empty()) {
    return InvalidArgumentError("--audit-policy-file: needs --audit-log-path");
  }
  if (!options.audit_log_path.empty()) {
    server->audit_policy_ = std::make_unique<audit::Policy>(audit::MetadataPolicy());
    if (!options.audit_policy_file.empty()) {
      StatusOr<std::string> text = ReadFile(options.audit_policy_file);
      if (!text.ok())
        return InvalidArgumentError("--audit-policy-file: " + text.status().message());
      MERIDIAN_ASSIGN_OR_RETURN(audit::Policy policy,
                                audit::ParsePolicy(*text, options.audit_policy_file));
      *server->audit_policy_ = std::move(policy);
    }
    audit::AuditLogOptions log_options;
    log_options.path = options.audit_log_path;
    log_options.max_size_mb = options.audit_log_maxsize_mb;
    log_options.max_backups = options.audit_log_maxbackup;
    if (options.audit_log_mode != "blocking" && options.audit_log_mode != "batch") {
      return InvalidArgumentError("--audit-log-mode: must be blocking or batch, not \"" +
                                  options.audit_log_mode + "\"");
    }
    if (options.audit_log_batch_buffer_size <= 0) {
      return InvalidArgumentError("--audit-log-batch-buffer-size: must be > 0");
    }
    log_options.batch = options.audit_log_mode == "batch";
    log_options.batch_buffer_events = static_cast<size_t>(options.audit_log_batch_buffer_size);
    MERIDIAN_ASSIGN_OR_RETURN(server->audit_log_, audit::AuditLog::Open(log_options, clock));
    server->audit_observer_ = audit::Observer(*server->audit_policy_, *server->audit_log_, clock);
  }
  server->handler_->SetObserver(observability::RequestMetrics::Chain(
      server->request_metrics_->Observer(), server->audit_observer_));
  // kubectl auth can-i.
  rbac::Authorizer* authz = server->authorizer_.get();
  server->handler_->AddRoute(
      "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
      [authz](const rest::RestRequest& req) { return authz->SelfSubjectAccessReview(req); });
  // The same idiom for placement: what-if answered in the response, never stored.
  InstallWhatIfReview(*server->handler_, *server->objects_, clock);
  // And for the residency compliance report (the console's download): decided as reading the
  // evidence ledger.
  std::optional<residency::EvidenceVerifyKey> evidence_key;
  if (!options.evidence_public_key_file.empty()) {
    StatusOr<residency::EvidenceVerifyKey> key =
        residency::EvidenceVerifyKey::FromFile(options.evidence_public_key_file);
    if (!key.ok()) {
      return InvalidArgumentError("--evidence-public-key-file: " + key.status().message());
    }
    evidence_key = std::move(key).value();
  }
  InstallComplianceReview(*server->handler_, *server->objects_, *authz, clock,
                          std::move(evidence_key));

  // OpenAPI for kubectl (documents are built once; they only change with the binary).
  auto v2 = std::make_shared<const std::string>(OpenApiV2().dump());
  server->handler_->AddRoute("GET", "/openapi/v2", [v2](const rest::RestRequest& req) {
    rest::RestResponse r;
    if (req.Header("accept").find("protobuf") != std::string::npos) {
      // kubectl asks for v2 in protobuf only to validate kinds the v3 documents do not
      // describe (or describe without server-side field validation). An empty Document is a
      // valid answer that carries no schemas: such kinds then fail at resource mapping with
      // kubectl's usual 'no matches for kind' instead of a parse error. Every kind we serve
      // is validated server-side (v3 advertises fieldValidation).
      r.content_type = "application/octet-stream";  // what kube-apiserver answers
      return r;
    }
    r.body = *v2;
    return r;
  });
  // Custom resources' group-versions come and go with their CRDs: asked for each time.
  auto v3_index = std::make_shared<const nlohmann::json>(OpenApiV3Index());
  crd::CustomResourceRegistrar* custom = server->custom_resources_.get();
  server->handler_->AddRoute(
      "GET", "/openapi/v3",
      [v3_index, custom](const rest::RestRequest& req) {
        const std::string prefix = "/openapi/v3/";
        if (req.path.rfind(prefix, 0) != 0) {
          nlohmann::json index = *v3_index;
          for (const std::string& gv : custom->OpenApiPaths()) {
            const std::string hash =
                std::to_string(std::hash<std::string>{}(custom->OpenApiV3For(gv).dump()));
            index["paths"][gv] = {{"serverRelativeURL", "/openapi/v3/" + gv + "?hash=" + hash}};
          }
          return rest::RestResponse::Json(200, index);
        }
        nlohmann::json doc = OpenApiV3For(req.path.substr(prefix.size()));
        if (doc.is_null()) doc = custom->OpenApiV3For(req.path.substr(prefix.size()));
        if (doc.is_null()) {
          return rest::RestResponse::Error(apimachinery::ApiError::FromStatus(
              NotFoundError("no OpenAPI document for " + req.path)));
        }
        return rest::RestResponse::Json(200, doc);
      },
      /*prefix=*/true);
  return server;
}

FederationApiServer::~FederationApiServer() {
  namespace_terminator_.reset();  // writes through objects_
  // The handler's watches reference the service and store: stop them first.
  watchers_metrics_.reset();
  cache_metrics_.reset();
  handler_.reset();
  custom_resources_.reset();  // its loop writes through objects_
  authorizer_.reset();
  audit_log_.reset();
  objects_.reset();
  compactor_.reset();
  event_reaper_.reset();
  heap_trimmer_.reset();
  store_.reset();
}

}  // namespace meridian::apiserver
