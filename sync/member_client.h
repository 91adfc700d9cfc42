// MemberClient: how Meridian talks to one member cluster's Kubernetes API (a real API server
// in production, a membersim cluster in demos and tests).
//
// The interface speaks plain Kubernetes JSON objects and the verbs every API server since
// 1.10 serves: create, get, list, update (compare-and-swap on metadata.resourceVersion),
// JSON merge patch, JSON patch, delete, the /status subresource, and watch. Server-side apply
// is deliberately absent: callers that want it check DiscoveryInfo::supports_server_side_apply
// first (old members do not have it).
//
// Implementations: HttpMemberClient (sync/http_member_client.h, cpprestsdk) and
// FakeMemberClient (sync/testing/fake_member_client.h, in memory, for controller tests).
//
// Errors. Every call returns a Status whose code is mapped from the member's answer:
//   404 -> kNotFound, 409 AlreadyExists -> kAlreadyExists, 409 Conflict -> kAborted,
//   410 Gone/Expired -> kOutOfRange, 401 -> kUnauthenticated, 403 -> kPermissionDenied,
//   400/422 -> kInvalidArgument (422 causes listed in the message), 429 -> kResourceExhausted,
//   500 -> kInternal, 502/503 -> kUnavailable, 504 -> kDeadlineExceeded;
//   transport: the per-call timeout -> kDeadlineExceeded, connection refused/reset, DNS and
//   TLS failures -> kUnavailable.
// Messages name the member and the object: `member "eu-1": deployments.apps "shop/web": ...`.
//
// Thread-safety: every method of every implementation may be called from any thread
// concurrently. Calls block the calling thread for at most the endpoint's timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace meridian::sync {

// How to authenticate to a member and how to trust it (a kubeconfig user + cluster).
struct MemberCredentials {
  std::string bearer_token;            // "Authorization: Bearer <token>" when non-empty
  std::string client_certificate_pem;  // client certificate (chain) for mutual TLS
  std::string client_key_pem;          // its private key (PEM); both or neither
  // Roots to verify the server with. When non-empty, ONLY these are trusted (as kubectl does);
  // when empty, the system's default roots are used.
  std::string certificate_authority_pem;
  // Development only: no server certificate or host name verification at all.
  bool insecure_skip_tls_verify = false;
};

// Where a member is and how to call it.
struct MemberEndpoint {
  std::string name;  // the member's name in Meridian; used in error messages
  // "https://10.0.0.1:6443" or with a base path "http://127.0.0.1:7000/clusters/eu-1".
  std::string server;
  MemberCredentials credentials;
  // Upper bound for each call (connect + request + whole response). Watches use it for the
  // connect + response-header phase; the stream itself lives for WatchOptions::timeout.
  std::chrono::milliseconds timeout{10'000};
};

// A resource of a group/version: {"apps", "v1", "deployments"}; core is {"", "v1", "pods"}.
struct GroupVersionResource {
  std::string group;
  std::string version;
  std::string resource;  // lower-case plural, the URL segment

  // "v1" or "apps/v1".
  std::string GroupVersion() const { return group.empty() ? version : group + "/" + version; }
  // "deployments.apps" or "pods" (the form Kubernetes messages use).
  std::string GroupResource() const { return group.empty() ? resource : resource + "." + group; }
  // "apps/v1/deployments" or "v1/pods".
  std::string ToString() const { return GroupVersion() + "/" + resource; }
  friend bool operator==(const GroupVersionResource&, const GroupVersionResource&) = default;
  friend auto operator<=>(const GroupVersionResource&, const GroupVersionResource&) = default;
};

// What a member serves (from /version, /api, /api/v1, /apis and /apis/G/V).
struct DiscoveredResource {
  GroupVersionResource gvr;
  std::string kind;  // "Deployment"
  bool namespaced = true;
  std::vector<std::string> verbs;  // "get", "list", "watch", "create", "update", "patch", ...
  bool has_status = false;         // a "<resource>/status" subresource is served
};

struct ServerVersion {
  int major = 0;
  int minor = 0;             // "27+" (some vendors) reads as 27
  std::string git_version;   // "v1.27.3"
};

struct DiscoveryInfo {
  ServerVersion version;
  std::vector<std::string> group_versions;  // "v1", "apps/v1", ...
  std::vector<DiscoveredResource> resources;
  // Server-side apply is GA from 1.22; earlier servers are treated as not supporting it.
  bool supports_server_side_apply = false;

  // The served resource, or null.
  const DiscoveredResource* Find(const GroupVersionResource& gvr) const;
  // The first served resource of `group` with this kind (any version), or null.
  const DiscoveredResource* FindKind(const std::string& group, const std::string& kind) const;
};

struct MemberListOptions {
  std::string label_selector;  // string form: "app=web,tier in (a,b)"
  std::string field_selector;  // "metadata.name=web"
  int64_t limit = 0;           // 0: no limit
  std::string continue_token;  // from a previous ObjectList::continue_token
};

struct ObjectList {
  std::vector<nlohmann::json> items;
  std::string resource_version;  // the list's metadata.resourceVersion: watch from here
  std::string continue_token;    // empty on the last page
  int64_t remaining_item_count = -1;  // -1 when the server did not say
};

struct MemberDeleteOptions {
  std::string propagation_policy;             // "", "Orphan", "Background", "Foreground"
  std::string precondition_uid;               // preconditions.uid when non-empty
  std::string precondition_resource_version;  // preconditions.resourceVersion when non-empty
  std::optional<int64_t> grace_period_seconds;
  // When set, receives the server's answer: the deleted object at the deletion's
  // resourceVersion, or the object marked for deletion (finalizers), or the Status some
  // servers answer instead. Left untouched by implementations that have none (the fake).
  nlohmann::json* answer = nullptr;
};

enum class MemberEventType { kAdded, kModified, kDeleted };
const char* MemberEventTypeName(MemberEventType t);  // "ADDED", "MODIFIED", "DELETED"

struct MemberWatchEvent {
  MemberEventType type = MemberEventType::kAdded;
  nlohmann::json object;         // the object (for kDeleted: its last known state)
  std::string resource_version;  // the object's metadata.resourceVersion
  // True for events the client synthesised from a list rather than received from the
  // server: the initial list, and the diff after a relist (410 Gone).
  bool synthetic = false;
};

// Called once per event, one at a time per watch, in order. Runs on the implementation's
// threads (for HttpMemberClient: cpprestsdk's thread pool; for the initial list: the thread
// calling Watch()). Must not block for long; must not call blocking MemberClient methods of
// the same member with a long timeout (enqueue work instead).
using MemberWatchCallback = std::function<void(const MemberWatchEvent& event)>;

struct WatchOptions {
  // Server-side lifetime of one watch request (?timeoutSeconds=); the client then resumes.
  std::chrono::seconds timeout{300};
  // Reconnect backoff after a failed or broken stream: initial, doubled up to max.
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{30'000};
  // Told about every failed (re)connection, relist, or broken stream (the watch keeps
  // retrying). Optional. Same threading rules as the event callback.
  std::function<void(const Status& status)> on_error;
  // Called each time a watch request is accepted (response headers 200), before its first
  // event. Optional. Same threading rules as the event callback.
  std::function<void()> on_connected;
  // The caller keeps its own copy of what it is told (the propagation controller's member
  // cache): the watch then remembers of each delivered object only its resourceVersion, and a
  // DELETED event that a relist finds (an object gone while the watch was broken) carries only
  // metadata.namespace and metadata.name. Otherwise the watch keeps each object's identity
  // (apiVersion, kind and metadata without managedFields and last-applied records, ~400 bytes)
  // for those events: at 1,000,000 member objects that is ~0.5 GB kept twice.
  bool caller_keeps_objects = false;
  // With caller_keeps_objects: visits every object the caller holds from this watch, by key
  // ("<namespace>/<name>", or "<name>" for a cluster-scoped kind) with its resourceVersion.
  // Then the watch keeps nothing per object at all: a relist reads the caller's objects to
  // tell which listed ones are new or changed and which are gone (as client-go's
  // DeltaFIFO reads its indexer's keys), instead of a map of every key it delivered
  // (~130 bytes per object: 130 MB at 1,000,000 member objects). Same threading rules as
  // the event callback (never called after Stop() returned).
  std::function<void(const std::function<void(const std::string& key, const std::string& rv)>&)>
      known_objects;
};

// A running watch. Destroying it (or Stop()) ends it: after Stop() returns the callback is
// not running and will not be called again (unless Stop() is called from inside the
// callback, which is allowed and only prevents further calls). Thread-safe.
class MemberWatch {
 public:
  virtual ~MemberWatch() = default;
  virtual void Stop() = 0;
  // The newest resourceVersion seen (events, bookmarks, lists); resume from it later.
  virtual std::string LastResourceVersion() const = 0;
  // Watch requests that received response headers so far (1 + successful resumes).
  virtual int64_t Connections() const = 0;
  // Relists done after 410 Gone.
  virtual int64_t Relists() const = 0;
};

class MemberClient {
 public:
  virtual ~MemberClient() = default;

  // The member's name (MemberEndpoint::name).
  virtual const std::string& member() const = 0;

  // Server version and served resources. Cached; `refresh` or an expired TTL fetches again.
  // A group version that fails to answer is skipped (as kubectl does) unless every one fails.
  virtual StatusOr<DiscoveryInfo> Discover(bool refresh = false) = 0;

  // One object; kNotFound if absent. `ns` is "" for cluster-scoped resources.
  virtual StatusOr<nlohmann::json> Get(const GroupVersionResource& gvr, const std::string& ns,
                                       const std::string& name) = 0;

  // One page of objects (all namespaces when `ns` is "" for a namespaced resource).
  // An expired continue token is kOutOfRange.
  virtual StatusOr<ObjectList> List(const GroupVersionResource& gvr, const std::string& ns,
                                    const MemberListOptions& options = {}) = 0;

  // Creates `object` (its metadata.name or generateName names it). Returns it as stored.
  virtual StatusOr<nlohmann::json> Create(const GroupVersionResource& gvr, const std::string& ns,
                                          const nlohmann::json& object) = 0;

  // Replaces the object named by object.metadata.name. With metadata.resourceVersion set
  // this is compare-and-swap: kAborted when the member's copy changed since. Without it the
  // update is unconditional. kNotFound if absent.
  virtual StatusOr<nlohmann::json> Update(const GroupVersionResource& gvr, const std::string& ns,
                                          const nlohmann::json& object) = 0;
  // As Update, on the /status subresource (only status is written).
  virtual StatusOr<nlohmann::json> UpdateStatus(const GroupVersionResource& gvr,
                                                const std::string& ns,
                                                const nlohmann::json& object) = 0;

  // RFC 7386 JSON merge patch. A patch carrying metadata.resourceVersion is CAS.
  virtual StatusOr<nlohmann::json> MergePatch(const GroupVersionResource& gvr,
                                              const std::string& ns, const std::string& name,
                                              const nlohmann::json& patch) = 0;
  // RFC 6902 JSON patch (`ops` is the array of operations).
  virtual StatusOr<nlohmann::json> JsonPatch(const GroupVersionResource& gvr,
                                             const std::string& ns, const std::string& name,
                                             const nlohmann::json& ops) = 0;

  // Deletes (or, with finalizers, marks for deletion). kNotFound if absent; kAborted when a
  // precondition fails.
  virtual Status Delete(const GroupVersionResource& gvr, const std::string& ns,
                        const std::string& name, const MemberDeleteOptions& options = {}) = 0;

  // Watches `gvr` in `ns` ("" = all namespaces / cluster scope) for objects matching
  // `label_selector`.
  //   - from_resource_version "": lists first (synchronously, before Watch returns; its
  //     failure is Watch's error and nothing was delivered), delivers every object as a
  //     synthetic kAdded event, then streams changes after the list's resourceVersion.
  //   - otherwise: streams changes after that version (nothing synthetic at the start).
  // Lists may be paged (HttpMemberClient: 500 a page, each page bounded by the timeout, not
  // the whole list). After a broken or server-ended stream it resumes from the last
  // resourceVersion seen, with backoff: never a relist. On 410 Gone (HTTP 410 or an ERROR
  // event with code 410) it relists and delivers the difference from what it had delivered
  // so far as synthetic events: kAdded for new objects, kModified for changed
  // resourceVersions, kDeleted for objects gone (carrying the last known state, at least its
  // apiVersion, kind and metadata: implementations may keep no more of what they delivered).
  // A watch started from a resourceVersion knows no objects at first, so its first relist
  // reports every object as kAdded and cannot report earlier deletions.
  // BOOKMARK events only advance the resourceVersion.
  virtual StatusOr<std::unique_ptr<MemberWatch>> Watch(const GroupVersionResource& gvr,
                                                       const std::string& ns,
                                                       const std::string& label_selector,
                                                       const std::string& from_resource_version,
                                                       MemberWatchCallback callback,
                                                       WatchOptions options = {}) = 0;

  // GET /healthz: OK when the member answers 200. kUnavailable (with the body) otherwise.
  virtual Status Healthz() = 0;
  // GET /readyz, falling back to /healthz when the member has no /readyz (404; before 1.16).
  virtual Status Readyz() = 0;

  // GET /openapi/v2 as JSON: the member's OpenAPI v2 document (kube-apiserver serves it with
  // the built-in kinds and every CRD's structural schema). kUnimplemented for clients that
  // cannot fetch one (the fake); the member's errors map as above.
  virtual StatusOr<nlohmann::json> OpenApiV2() {
    return UnimplementedError("member \"" + member() + "\": no OpenAPI document");
  }
};

// A MemberClient that hands every call to `inner`: the base of a wrapper that changes only
// some calls (a fence in front of the writes, a test hook before a List) and must pass the
// rest through unchanged, including calls added to MemberClient later.
class ForwardingMemberClient : public MemberClient {
 public:
  explicit ForwardingMemberClient(std::shared_ptr<MemberClient> inner) : inner_(std::move(inner)) {}

  const std::string& member() const override { return inner_->member(); }
  StatusOr<DiscoveryInfo> Discover(bool refresh) override { return inner_->Discover(refresh); }
  StatusOr<nlohmann::json> Get(const GroupVersionResource& gvr, const std::string& ns,
                               const std::string& name) override {
    return inner_->Get(gvr, ns, name);
  }
  StatusOr<ObjectList> List(const GroupVersionResource& gvr, const std::string& ns,
                            const MemberListOptions& options) override {
    return inner_->List(gvr, ns, options);
  }
  StatusOr<nlohmann::json> Create(const GroupVersionResource& gvr, const std::string& ns,
                                  const nlohmann::json& object) override {
    return inner_->Create(gvr, ns, object);
  }
  StatusOr<nlohmann::json> Update(const GroupVersionResource& gvr, const std::string& ns,
                                  const nlohmann::json& object) override {
    return inner_->Update(gvr, ns, object);
  }
  StatusOr<nlohmann::json> UpdateStatus(const GroupVersionResource& gvr, const std::string& ns,
                                        const nlohmann::json& object) override {
    return inner_->UpdateStatus(gvr, ns, object);
  }
  StatusOr<nlohmann::json> MergePatch(const GroupVersionResource& gvr, const std::string& ns,
                                      const std::string& name,
                                      const nlohmann::json& patch) override {
    return inner_->MergePatch(gvr, ns, name, patch);
  }
  StatusOr<nlohmann::json> JsonPatch(const GroupVersionResource& gvr, const std::string& ns,
                                     const std::string& name, const nlohmann::json& ops) override {
    return inner_->JsonPatch(gvr, ns, name, ops);
  }
  Status Delete(const GroupVersionResource& gvr, const std::string& ns, const std::string& name,
                const MemberDeleteOptions& options) override {
    return inner_->Delete(gvr, ns, name, options);
  }
  StatusOr<std::unique_ptr<MemberWatch>> Watch(const GroupVersionResource& gvr,
                                               const std::string& ns,
                                               const std::string& label_selector,
                                               const std::string& from_resource_version,
                                               MemberWatchCallback callback,
                                               WatchOptions options) override {
    return inner_->Watch(gvr, ns, label_selector, from_resource_version, std::move(callback),
                         std::move(options));
  }
  Status Healthz() override { return inner_->Healthz(); }
  Status Readyz() override { return inner_->Readyz(); }
  StatusOr<nlohmann::json> OpenApiV2() override { return inner_->OpenApiV2(); }

 protected:
  MemberClient& inner() const { return *inner_; }

 private:
  const std::shared_ptr<MemberClient> inner_;
};

}  // namespace meridian::sync
