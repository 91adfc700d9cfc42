// ObjectService: Kubernetes object semantics over any Store, independent of transport.
// The REST shell (apimachinery/rest/) maps HTTP onto it; in-process callers (controllers in
// the same binary, membersim's simulators) may call it directly.
//
// What it adds on top of the Store:
//   - metadata the server owns: uid, creationTimestamp, generation (1 on create, +1 when
//     anything outside metadata and status changes), deletionTimestamp; generateName;
//     metadata.name validation (RFC 1123 subdomain or label, per ResourceInfo);
//   - apiVersion/kind defaulting and checks; body-vs-URL name/namespace checks (400);
//   - the /status split for resources with has_status: main writes keep the stored status,
//     status writes change only status; create drops status for such resources;
//   - optimistic concurrency: a body with metadata.resourceVersion is compare-and-swap
//     (409 Conflict with the real message), without one the update is unconditional;
//     writes that change nothing are not stored (the old object is returned);
//   - finalizers: delete of an object with finalizers sets deletionTimestamp and keeps it;
//     the write that empties finalizers of an object being deleted removes it;
//   - namespaces (when core/v1 namespaces is registered): namespaced writes need an existing
//     namespace (404 `namespaces "x" not found`; 403 while it is being deleted); a new
//     Namespace gets status.phase Active; deleting a Namespace deletes its objects and, while
//     some remain (objects with finalizers are only marked), keeps the Namespace with
//     deletionTimestamp and phase Terminating until the last one goes (or, with
//     DeferNamespaceDeletion, only marks it and leaves the rest to a namespace controller).
//     It marks the Namespace first, then deletes, then removes it, each step one write that
//     happens whole or not at all; a deletion cut short between steps stays Terminating and
//     ResumeNamespaceDeletion finishes it. A create reads the namespace again after its
//     write and, if it is marked (or gone) by then, deletes what it wrote and answers 403
//     (404): nothing outlives its namespace;
//   - admission: mutating callbacks, then validating callbacks whose FieldErrors become
//     422 Invalid with details.causes;
//   - patches (merge, JSON, strategic; see patch.h) retried on write conflicts like a real
//     server, unless the patch itself pins metadata.resourceVersion;
//   - list/watch with label and field selectors (field selectors: metadata.name,
//     metadata.namespace and the kind's ResourceInfo::field_labels, else 400 "field label not
//     supported: X"; operators =, ==, !=);
//   - Kubernetes' metadata rules (422 naming the field): names per kind and generateName,
//     label keys and values, annotation keys and total size (256 KiB), finalizer names.
//
// Thread-safety: all methods are thread-safe (the Store is; the ObjectService keeps only the
// set of generic resource types seen, under a mutex). Admission callbacks must be added
// before requests are served. Callbacks run on the calling thread; watch callbacks run on
// the Store's dispatcher thread (initial ADDED events on the calling thread, before
// StartWatch returns).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apimachinery/api_error.h"
#include "apimachinery/patch.h"
#include "apimachinery/resource_registry.h"
#include "apimachinery/store.h"
#include "apimachinery/watch_dispatcher.h"
#include "common/clock.h"
#include "common/field_error.h"

namespace meridian::apimachinery {

// Who is asking (set by the embedder's authentication filter; empty when anonymous).
struct UserInfo {
  std::string name;
  std::vector<std::string> groups;
};

// Per-request options common to writes.
struct RequestContext {
  UserInfo user;
  bool dry_run = false;  // ?dryRun=All: run everything but the store write
  // ?fieldValidation=Strict: fields a schema does not know are refused, not dropped (what
  // admission of schema-pruned kinds, custom resources, reads from AdmissionAttributes).
  bool strict_fields = false;
};

enum class Operation { kCreate, kUpdate, kDelete };
const char* OperationName(Operation op);  // "CREATE", "UPDATE", "DELETE"

// What an admission callback sees.
struct AdmissionAttributes {
  Operation operation;
  const ResourceInfo* resource;  // never null
  std::string subresource;       // "" or "status"
  std::string ns;
  std::string name;
  const nlohmann::json* old_object;  // null on create
  const UserInfo* user;              // never null
  bool strict_fields;                // RequestContext::strict_fields
};

// May change `object` (defaulting). A non-OK Status rejects the request, mapped by
// ApiError::FromStatus (kPermissionDenied -> 403 Forbidden, kInvalidArgument -> 400, ...).
// Not called for deletes.
using MutatingAdmission =
    std::function<Status(const AdmissionAttributes& attrs, nlohmann::json* object)>;
// Appends problems to `errors` (-> 422 Invalid with one cause each) or returns a non-OK
// Status to reject otherwise. On delete, `object` is the stored object.
using ValidatingAdmission = std::function<Status(
    const AdmissionAttributes& attrs, const nlohmann::json& object, FieldErrors* errors)>;

struct ListRequest {
  std::string label_selector;    // string form ("app=web,tier!=db")
  std::string field_selector;    // "metadata.name=web,status.phase!=Running"
  int64_t limit = 0;
  std::string continue_token;
  // Watch: "" or "0" sends the current objects as ADDED first; "N" streams changes after N.
  // List: "" the newest state (a consistent read), "0" any (the watch cache's), "N" not older
  // than N (or exactly N with resource_version_match "Exact"); what the Store honours of it
  // (ListOptions::match).
  std::string resource_version;
  std::string resource_version_match;  // "", "NotOlderThan" or "Exact" (lists only)
  bool allow_bookmarks = false;  // informational; bookmarks are sent by the REST shell
  // Watch: send the initial ADDED events from a thread of the service's instead of the
  // caller's (before any later event), so that a caller serving many clients (the REST
  // shell's HTTP threads) is not held by the listing.
  bool async_initial_events = false;
  // Watch, for a level-triggered in-process watcher (an informer): events of one object not
  // yet delivered may be merged into its newest state (Store::WatchLatestFrom).
  bool latest_per_object = false;
};

// A list whose items are shared with the store (ObjectService::ListShared).
struct SharedList {
  nlohmann::json metadata;  // {resourceVersion, continue?, remainingItemCount?}
  std::vector<SharedObject> items;
};

struct DeleteOptions {
  std::string precondition_uid;              // preconditions.uid
  std::string precondition_resource_version;  // preconditions.resourceVersion
  std::string propagation_policy;            // accepted, not acted on (no garbage collector)
  bool dry_run = false;
};

// A watch event as the API shows it: type "ADDED" | "MODIFIED" | "DELETED".
struct ObjectEvent {
  std::string type;
  std::shared_ptr<const nlohmann::json> object;
  int64_t resource_version = 0;
  // The object's compact JSON when the store keeps it (WatchEvent::encoded), else null.
  std::shared_ptr<const std::string> encoded = nullptr;
  bool initial = false;  // one of a watch's initial ADDED events (not shared with others)
};
using ObjectEventCallback = std::function<void(const ObjectEvent&)>;

// The resourceVersion query parameter of a get, list or watch: "" (none, 0) or a decimal
// revision. Kubernetes refuses anything else with 400 rather than ignoring it.
ApiResult<int64_t> ParseQueryResourceVersion(const std::string& value);

class ObjectService {
 public:
  // `store`, `clock` and `registry` must outlive the service. `registry` is read-only from
  // here on (but for its dynamic entries, which it serves as they come and go).
  ObjectService(Store& store, const Clock& clock, const ResourceRegistry& registry);
  ObjectService(const ObjectService&) = delete;
  ObjectService& operator=(const ObjectService&) = delete;

  // Startup only (not thread-safe against requests). Callbacks run in the order added.
  void AddMutatingAdmission(MutatingAdmission m) { mutating_.push_back(std::move(m)); }
  void AddValidatingAdmission(ValidatingAdmission v) { validating_.push_back(std::move(v)); }

  // Startup only. Namespaces then go as on kube-apiserver, in two steps: deleting an Active
  // Namespace only marks it (deletionTimestamp, status.phase Terminating; the answer is the
  // marked object), deleting it again answers it unchanged while spec.finalizers is not
  // empty, and its objects stay until a namespace controller (the embedder's) calls
  // PurgeNamespace and FinalizeNamespace. Without it (the federation-apiserver, which runs
  // no such controller) deleting a Namespace empties it in the same request.
  void DeferNamespaceDeletion() { defer_namespace_deletion_ = true; }

  // The namespace controller's steps for a Namespace being deleted. PurgeNamespace deletes
  // every object in `ns` (objects with finalizers are only marked) and says whether nothing
  // is left. FinalizeNamespace removes `finalizer` from the Namespace's spec.finalizers, as
  // kube-apiserver's PUT .../finalize; once spec.finalizers and metadata.finalizers are both
  // empty the Namespace is removed (answer: true). 404 if absent; 409 if it is not being
  // deleted.
  bool PurgeNamespace(const std::string& ns, const RequestContext& ctx = {});
  ApiResult<bool> FinalizeNamespace(const std::string& name, const std::string& finalizer);

  // Without DeferNamespaceDeletion: does again what deleting Namespace `ns` does, for a
  // deletion whose end did not happen (the process that was to remove the namespace after
  // its last object was killed; that removal lost its compare-and-swap or failed): deletes
  // what is left in it and removes it once it is empty and has no metadata.finalizers.
  // true when the namespace is gone (or was), false while it stays or is not being deleted.
  // Errors: the store's (nothing is then removed that should not be); kFailedPrecondition
  // with DeferNamespaceDeletion (its namespace controller finalizes). The API server's
  // NamespaceTerminator calls it for every Terminating namespace; idempotent, safe to run in
  // several processes at once.
  StatusOr<bool> ResumeNamespaceDeletion(const std::string& ns, const RequestContext& ctx = {});

  const ResourceRegistry& registry() const { return registry_; }
  Store& store() { return store_; }

  // Creates an object in `ns` (ignored for cluster-scoped resources). Returns it as stored
  // (the REST shell answers 201). Errors: 400 (malformed body, name/namespace/kind
  // mismatch), 404 (namespace), 409 AlreadyExists, 422 Invalid, admission errors.
  ApiResult<nlohmann::json> Create(const ResourceInfo& resource, const std::string& ns,
                                   nlohmann::json body, const RequestContext& ctx = {});

  // The object, or 404 NotFound. `any_version` (GET ?resourceVersion=0): the watch cache's
  // copy as it is, which may miss a write acknowledged on another replica (Store::GetAny).
  ApiResult<nlohmann::json> Get(const ResourceInfo& resource, const std::string& ns,
                                const std::string& name, bool any_version = false);
  // The same object shared with the store (Store::GetShared: the watch cache's encoding, not
  // copied), for callers that only read or send it. Errors as Get.
  ApiResult<SharedObject> GetShared(const ResourceInfo& resource, const std::string& ns,
                                    const std::string& name, bool any_version = false);

  // A `<Kind>List` ({apiVersion, kind, metadata: {resourceVersion, continue,
  // remainingItemCount}, items}) for `ns` ("" = all namespaces). 400 for a malformed
  // selector, 410 for an expired continue token.
  ApiResult<nlohmann::json> List(const ResourceInfo& resource, const std::string& ns,
                                 const ListRequest& request);
  // The same list with its items shared with the store (not copied), for callers that only
  // read or encode them. Errors as List; also 504 for a resourceVersion the store has not
  // reached in time and 410 for an Exact one it no longer has.
  ApiResult<SharedList> ListShared(const ResourceInfo& resource, const std::string& ns,
                                   const ListRequest& request);

  // Replaces an object (subresource "" or "status"). See the class comment for semantics.
  // 404 if absent, 409 Conflict on a stale resourceVersion.
  ApiResult<nlohmann::json> Update(const ResourceInfo& resource, const std::string& ns,
                                   const std::string& name, nlohmann::json body,
                                   const std::string& subresource = "",
                                   const RequestContext& ctx = {});

  // For in-process controllers that change an object's metadata and its status together (the
  // binding controller's placement annotation and aggregated status): what Update of `body`
  // then Update of `body`'s status with subresource "status" would leave, each admitted as
  // that write would be, stored as ONE write (one revision, one watch event) where the store
  // keeps whole objects. Over a store that writes status on its own (StatusSubresourceStore:
  // a Store over an API) it is those two writes, one after the other. 404 when the resource
  // has no status subresource or the object is absent; 409 Conflict on a stale
  // resourceVersion. Not served over HTTP: kube's API has no such request.
  ApiResult<nlohmann::json> UpdateWithStatus(const ResourceInfo& resource, const std::string& ns,
                                             const std::string& name, nlohmann::json body,
                                             const RequestContext& ctx = {});

  // Patches an object with the raw `patch` body; then as Update. 404 if absent.
  ApiResult<nlohmann::json> Patch(const ResourceInfo& resource, const std::string& ns,
                                  const std::string& name, PatchType type,
                                  const std::string& patch, const std::string& subresource = "",
                                  const RequestContext& ctx = {});

  // The /scale subresource (resources with ResourceInfo::scale): an autoscaling/v1 Scale
  // {metadata, spec: {replicas}, status: {replicas, selector}}. Updates write the replicas
  // into the object (compare-and-swap when the Scale carries a resourceVersion); patches
  // apply to the Scale. 404 when the resource has no scale subresource or the object is
  // absent.
  ApiResult<nlohmann::json> GetScale(const ResourceInfo& resource, const std::string& ns,
                                     const std::string& name);
  ApiResult<nlohmann::json> UpdateScale(const ResourceInfo& resource, const std::string& ns,
                                        const std::string& name, const nlohmann::json& scale,
                                        const RequestContext& ctx = {});
  ApiResult<nlohmann::json> PatchScale(const ResourceInfo& resource, const std::string& ns,
                                       const std::string& name, PatchType type,
                                       const std::string& patch, const RequestContext& ctx = {});

  // Deletes an object (or marks it, with finalizers). Returns the object's last state (or
  // the marked object). 404 if absent, 409 on a failed precondition.
  ApiResult<nlohmann::json> Delete(const ResourceInfo& resource, const std::string& ns,
                                   const std::string& name, const DeleteOptions& options = {},
                                   const RequestContext& ctx = {});

  // Deletes every object matching `request`'s selectors in `ns`; returns the `<Kind>List`
  // of what was deleted or marked.
  ApiResult<nlohmann::json> DeleteCollection(const ResourceInfo& resource, const std::string& ns,
                                             const ListRequest& request,
                                             const DeleteOptions& options = {},
                                             const RequestContext& ctx = {});

  // Streams events for `resource` in `ns` ("" = all) matching the selectors. With
  // request.resource_version "" or "0", the current objects are delivered first as ADDED
  // (synchronously, before this returns, unless request.async_initial_events). 410 Expired when the
  // resourceVersion is too old; 400 for a malformed selector or resourceVersion. Destroy the Watch
  // to stop. `start_resource_version`, when given, receives the revision the stream starts after
  // (for bookmarks).
  ApiResult<std::unique_ptr<Watch>> StartWatch(const ResourceInfo& resource, const std::string& ns,
                                               const ListRequest& request,
                                               ObjectEventCallback callback,
                                               int64_t* start_resource_version = nullptr);

 private:
  struct Selectors;
  // `status` (main writes only): also this status, admitted as a status write after the main
  // write's admission, in the same store write (UpdateWithStatus).
  ApiResult<nlohmann::json> UpdateFrom(const ResourceInfo& resource, const ObjectKey& key,
                                       const nlohmann::json& old, nlohmann::json body,
                                       const std::string& subresource, const RequestContext& ctx,
                                       bool* lost_race, const nlohmann::json* status = nullptr);
  // Update's checks and retries; `status` as UpdateFrom's.
  ApiResult<nlohmann::json> UpdateChecked(const ResourceInfo& resource, const std::string& ns,
                                          const std::string& name, nlohmann::json body,
                                          const std::string& subresource, const RequestContext& ctx,
                                          const nlohmann::json* status);
  // Delete's work; `finish_namespace`: remove a Terminating namespace this emptied (off for
  // the namespace's own deletion of its contents, which judges the namespace once at the end).
  ApiResult<nlohmann::json> DeleteChecked(const ResourceInfo& resource, const std::string& ns,
                                          const std::string& name, const DeleteOptions& options,
                                          const RequestContext& ctx, bool finish_namespace);
  // Runs mutating then validating admission (plus name/label validation on create).
  std::optional<ApiError> Admit(const AdmissionAttributes& attrs, nlohmann::json* object);
  // The NamespaceLifecycle admission for a create of `name` (a `r`) in `ns`; `written`: the
  // check after the write (a consistent read only).
  std::optional<ApiError> CheckNamespace(const ResourceInfo& r, const std::string& ns,
                                         const std::string& name, bool written = false);
  std::vector<ResourceInfo> NamespacedTypes();
  // Whether anything is stored in `ns`; a failed list is an error, never "empty".
  StatusOr<bool> NamespaceHasContent(const std::string& ns);
  // Deletes (or marks) every object in `ns`; true when nothing is left.
  bool DeleteNamespaceContents(const std::string& ns, const RequestContext& ctx);
  // Removes namespace `ns` if it is being deleted, has no metadata.finalizers and is empty:
  // one compare-and-swap delete of the namespace as read, judged again after a lost race.
  // Answers the namespace as deleted, or nullopt when it stays or is gone already.
  StatusOr<std::optional<nlohmann::json>> FinishNamespace(const std::string& ns);
  // FinishNamespace after an object of `ns` went, errors left to NamespaceTerminator.
  void MaybeFinishNamespace(const std::string& ns);
  // After a create in `ns`: deletes the object just written if the namespace is marked for
  // deletion (or gone) now, and returns the error CheckNamespace gives for that.
  std::optional<ApiError> RemoveIfNamespaceWentAway(const ResourceInfo& r, const std::string& ns,
                                                    const nlohmann::json& created,
                                                    const RequestContext& ctx);
  // Whether an update that empties the metadata.finalizers of Namespace `obj` (a `r`), being
  // deleted, stores it instead of removing it: something it waits for is still there.
  bool NamespaceHeld(const ResourceInfo& r, const ObjectKey& key, const nlohmann::json& obj);
  std::string NewUid();

  Store& store_;
  const Clock& clock_;
  const ResourceRegistry& registry_;
  std::vector<MutatingAdmission> mutating_;
  std::vector<ValidatingAdmission> validating_;
  bool defer_namespace_deletion_ = false;

  // Where async initial watch events are sent from; created on first use.
  std::shared_ptr<WatchDispatcher> InitialEventsThread();

  std::mutex mu_;  // guards generic_types_, rng_state_, initial_events_
  std::shared_ptr<WatchDispatcher> initial_events_;
  std::map<ResourceType, ResourceInfo> generic_types_;  // generic (fallback) resources written
  uint64_t rng_state_;
};

// metadata.name checks as Kubernetes words them ("a lowercase RFC 1123 subdomain must
// consist of ..."); empty result means valid. Pure, thread-safe.
// With `prefix` the name is a generateName: a trailing '-' is allowed (the suffix follows).
std::vector<std::string> ValidateObjectName(const std::string& name, NameValidation how,
                                            bool prefix = false);

}  // namespace meridian::apimachinery
