// FederationApiServer: the federation endpoint's composition root, without sockets.
//
// It opens the store, registers the resources (Meridian's six kinds, core v1 Namespaces,
// Secrets and Events, the four RBAC kinds), installs admission (federation-apiserver/admission.h),
// the request filters (authentication first, then authorization — see rbac/authorizer.h), the
// audit observer (audit/audit.h) and the extra routes
// (/openapi/v2, /openapi/v3, SelfSubjectAccessReview, WhatIfReview and ComplianceReview — what_if_review.h, compliance_review.h), and exposes the RestHandler that a transport serves (main.cc
// puts it behind cpprestsdk; tests may call it directly) and the ObjectService that in-process
// controllers and the gRPC service use.
//
// Thread-safety: construction is single-threaded; afterwards every accessor is thread-safe
// (the handler, service and store are).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "apimachinery/cacher.h"
#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
#include "apimachinery/rest/rest_handler.h"
#include "apimachinery/store.h"
#include "apimachinery/write_fence.h"
#include "common/clock.h"
#include "common/status.h"
#include "federation-apiserver/audit/audit.h"
#include "federation-apiserver/authentication.h"
#include "federation-apiserver/crd/registrar.h"
#include "federation-apiserver/event_reaper.h"
#include "federation-apiserver/heap_trimmer.h"
#include "federation-apiserver/member_schemas.h"
#include "federation-apiserver/namespace_terminator.h"
#include "federation-apiserver/rbac/authorizer.h"
#include "federation-apiserver/request_filters.h"
#include "federation-apiserver/storage_compactor.h"
#include "observability/request_metrics.h"

namespace meridian::apiserver {

struct ServerOptions {
  // "sqlite:PATH" (the parent directory is created if missing) or "etcd:URL[,URL...]"
  // (apimachinery/etcd_store.h; the etcd_* files are its TLS options for https URLs).
  std::string storage = "sqlite:.meridian/federation.db";
  std::string etcd_ca_file;
  std::string etcd_cert_file;
  std::string etcd_key_file;
  int64_t max_body_bytes = 3 * 1024 * 1024;
  int64_t watch_history_events = 100000;
  // Static bearer tokens (kube-apiserver's --token-auth-file format: token,user,uid[,"g1,g2"]).
  // Empty: requests are anonymous (development on loopback).
  std::string token_auth_file;
  // x509 client certificates verified against this CA bundle (CN = user, O = groups); see
  // authentication.h for where the transports get the certificate from.
  std::string client_ca_file;
  // OIDC ID tokens (authentication.h); off unless oidc.issuer_url is set.
  OidcOptions oidc;
  std::string oidc_jwks_file;
  // "AlwaysAllow" (every request that passed authentication) or "RBAC" (rbac/authorizer.h:
  // Roles and bindings, bootstrap roles created at startup, group system:masters may do
  // everything).
  std::string authorization_mode = "AlwaysAllow";
  // Audit log (audit/audit.h): off when the path is empty. Without a policy file every
  // request is logged at Metadata.
  std::string audit_log_path;
  std::string audit_policy_file;
  int64_t audit_log_maxsize_mb = 100;
  int audit_log_maxbackup = 10;
  std::string audit_log_mode = "blocking";  // or "batch" (audit::AuditLogOptions::batch)
  int64_t audit_log_batch_buffer_size = 10000;
  // kube-apiserver's EncryptionConfiguration (encryption_config.h): Secrets (or the resources
  // it names) are encrypted before they reach the store. Empty: stored as they are.
  std::string encryption_provider_config;
  // Max in flight (request_filters.h): --max-requests-inflight,
  // --max-mutating-requests-inflight, --max-requests-inflight-per-user.
  InFlightLimits in_flight;
  // Watch budgets (RestOptions): open watches in total and per user; 0 = no cap.
  int max_watches = 1000;
  int max_watches_per_user = 100;
  // The watch cache (apimachinery/cacher.h) in front of the store: GET, LIST and watch served
  // from memory. Off: every read goes to the store (kept for same-run comparisons).
  bool watch_cache = true;
  // Its window per resource (CacherOptions): events kept for watches from an older
  // resourceVersion, at most this many and this many bytes of their encodings.
  int64_t watch_cache_window_events = 10000;
  int64_t watch_cache_window_bytes = 8 << 20;
  std::chrono::milliseconds watch_cache_window_max_age{std::chrono::minutes(5)};  // 0: no bound
  // On etcd, consistent reads (GET, LIST without resourceVersion) from the cache once it has
  // the resource's last write (CacherOptions::consistent_reads_from_cache). Off: from etcd,
  // for a rolling upgrade from a version whose writes move no write marker (etcd_store.h).
  bool watch_cache_consistent_reads = true;
  // Reads of a resource's last write in flight at once for them (CacherOptions).
  int64_t watch_cache_consistent_read_rounds = 1;
  // How long the next round for parked reads may wait for the last one's readers to come back
  // (CacherOptions::consistent_read_hold); 0: sent at once.
  std::chrono::microseconds watch_cache_consistent_read_hold{1000};
  // LIST bodies kept for repeated LISTs of an unchanged collection
  // (apimachinery/rest/list_response_cache.h); 0 keeps none.
  int64_t list_response_cache_bytes = 64 << 20;
  // Responses of at least this many bytes are gzip-encoded for clients that accept it
  // (apimachinery/rest/content_encoding.h; kube-apiserver: 128 KiB); 0 never.
  int64_t gzip_min_bytes = 128 << 10;
  // Compaction of the store's revision history (storage_compactor.h); 0 turns it off.
  std::chrono::milliseconds storage_compaction_interval{std::chrono::minutes(5)};
  // Events not written for this long are deleted (event_reaper.h, kube-apiserver's
  // --event-ttl); 0 keeps them forever.
  std::chrono::seconds event_ttl{std::chrono::hours(1)};
  // How often Namespaces left Terminating (a deletion cut short between its writes) are
  // finished (namespace_terminator.h); 0 never.
  std::chrono::milliseconds namespace_termination_interval{std::chrono::seconds(10)};
  // How often the allocator's free memory is handed back to the kernel (heap_trimmer.h); 0
  // never.
  std::chrono::milliseconds heap_trim_interval{std::chrono::minutes(1)};
  // The residency evidence ledger's Ed25519 public key (PEM; a private key gives its public
  // half): a ComplianceReview verifies the signed checkpoints with it, so a compacted ledger
  // has a report. Empty: a compacted ledger is refused (compliance_review.h).
  std::string evidence_public_key_file;
  // New FederatedWorkloads are stored with the propagation controller's cleanup finalizer
  // (admission.h). Set when this process runs that controller (which drops it): otherwise the
  // controller adds it on first sight, and a federation running no propagation controller
  // deletes workloads at once instead of holding them for a finalizer nobody drops.
  bool workload_finalizer_at_create = false;
};

class FederationApiServer {
 public:
  // Errors: kInvalidArgument for a malformed option (named), kUnavailable / kDataLoss from the
  // store, kInvalidArgument for an unreadable or malformed token file (file:line), audit
  // policy file (file: field) or audit log path, or an unknown authorization mode.
  static StatusOr<std::unique_ptr<FederationApiServer>> Create(const ServerOptions& options,
                                                               const Clock& clock);
  ~FederationApiServer();

  apimachinery::rest::RestHandler& handler() { return *handler_; }
  apimachinery::ObjectService& objects() { return *objects_; }
  apimachinery::Store& store() { return *store_; }
  // The watch cache in front of the store; null without one (--watch-cache=false).
  apimachinery::Cacher* cacher() { return cacher_; }
  // The backend's write fence (apimachinery/write_fence.h), under the encryption wrapper:
  // null for stores one process owns (SQLite, memory).
  apimachinery::WriteFencedStore* write_fence() { return write_fence_; }
  const apimachinery::ResourceRegistry& registry() const { return registry_; }
  // The request filters (authentication, then authorization) every transport must run: the
  // REST handler has them installed; the gRPC service gets the same list.
  const std::vector<apimachinery::rest::RestFilter>& filters() const { return filters_; }
  // The authentication filter alone (unset when no authenticator is configured): the HTTP
  // server runs it once the headers are read, to allow a large body only to a known user.
  const apimachinery::rest::RestFilter& authentication() const { return authentication_; }
  // The audit stage the REST handler runs (unset without --audit-log-path), for the gRPC
  // service to log its calls into the same file under the same policy.
  const apimachinery::rest::RestObserver& audit_observer() const { return audit_observer_; }
  // The authorization mode's decisions (AlwaysAllow or RBAC).
  const rbac::Authorizer& authorizer() const { return *authorizer_; }
  // What the stored CustomResourceDefinitions serve (crd/registrar.h).
  crd::CustomResourceRegistrar& custom_resources() { return *custom_resources_; }
  // The members' template schemas admission reads (filled by the member-schemas controller).
  MemberSchemas& member_schemas() { return *member_schemas_; }

 private:
  FederationApiServer() = default;
  void InstallWorkloadTable(apimachinery::ResourceInfo* info);
  // MemberCluster name -> spec.region, cached per store revision (for the Table printer).
  std::map<std::string, std::string> ClusterRegions();

  apimachinery::ResourceRegistry registry_;
  std::unique_ptr<MemberSchemas> member_schemas_ = std::make_unique<MemberSchemas>();
  std::unique_ptr<apimachinery::Store> store_;
  apimachinery::WriteFencedStore* write_fence_ = nullptr;  // the backend inside store_
  std::unique_ptr<StorageCompactor> compactor_;  // compacts store_: reset before it
  std::unique_ptr<HeapTrimmer> heap_trimmer_;
  std::unique_ptr<EventReaper> event_reaper_;     // deletes from store_: reset before it
  std::unique_ptr<apimachinery::ObjectService> objects_;
  std::unique_ptr<NamespaceTerminator> namespace_terminator_;  // uses objects_: reset before it
  std::unique_ptr<rbac::Authorizer> authorizer_;  // watches objects_: reset before it
  // Serves the stored CustomResourceDefinitions; watches objects_: reset before it.
  std::unique_ptr<crd::CustomResourceRegistrar> custom_resources_;
  std::unique_ptr<audit::Policy> audit_policy_;   // both used by the handler's observer
  std::unique_ptr<audit::AuditLog> audit_log_;
  std::unique_ptr<apimachinery::rest::RestHandler> handler_;
  std::vector<apimachinery::rest::RestFilter> filters_;
  apimachinery::rest::RestFilter authentication_;
  apimachinery::rest::RestObserver audit_observer_;
  // apiserver_request_* (observability/request_metrics.h); the handler's hooks use it.
  std::unique_ptr<observability::RequestMetrics> request_metrics_;
  std::unique_ptr<observability::CollectorRegistration> watchers_metrics_;  // reads handler_
  // The watch cache inside store_ (null without one), for its metrics.
  apimachinery::Cacher* cacher_ = nullptr;
  std::unique_ptr<observability::CollectorRegistration> cache_metrics_;  // reads handler_, cacher_
  std::mutex regions_mu_;  // guards the two below
  int64_t regions_revision_ = -1;
  std::map<std::string, std::string> regions_;
};

// Parses "sqlite:PATH" into PATH. kInvalidArgument naming the flag otherwise (etcd: URLs are
// parsed by ParseEtcdEndpoints).
StatusOr<std::string> SqlitePathFromStorageFlag(const std::string& storage);

// The Meridian resources as the generic layer's ResourceInfo (with printer columns).
std::vector<apimachinery::ResourceInfo> FederationResourceInfos();

// Adds every kind the server serves (core v1 first, then Meridian's) to `registry`, each
// passed to `customize` (when set) first. federation-controller-manager --kubeconfig maps
// kinds to the API's URLs with it. Errors: a kind the registry refuses (a bug).
Status AddServedResources(apimachinery::ResourceRegistry* registry,
                          const std::function<void(apimachinery::ResourceInfo*)>& customize = {});

}  // namespace meridian::apiserver
