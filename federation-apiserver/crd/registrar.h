// CustomResourceRegistrar: serves the CustomResourceDefinitions stored in the federation, as
// kube-apiserver's apiextensions-apiserver does (its naming, establishing, finalizing and
// serving controllers in one loop):
//   - admission: a CRD is defaulted and validated (definition.h; a name another CRD of its
//     group holds is refused); a custom object is pruned of fields its version's schema does
//     not declare (or refused, 400, under fieldValidation=Strict) and validated against the
//     schema (422 naming each field); creating one while its CRD is being deleted is refused;
//   - the loop: every stored CRD's served versions are registered in the ResourceRegistry
//     (URLs, discovery, kubectl's columns and OpenAPI come from there), unregistered when it
//     goes, and its status written (NamesAccepted, Established, storedVersions). Every API
//     replica runs the loop on its own watch of CRDs, so each serves what the store holds;
//     status writes are idempotent, so replicas agree. Deleting a CRD (its cleanup
//     finalizer) deletes every custom object of it, then lets the CRD go.
//
// The same loop runs read-only in federation-controller-manager --kubeconfig (Mode::kFollow):
// there the registry is the manager's own copy of what the API serves, and the CRDs come
// through the API's list and watch. Following, it registers exactly what a serving replica
// registers from the same CRDs (the same naming and schema checks decide), and writes
// nothing: status, finalizers and the custom objects of a deleted CRD are the API's.
//
// Thread-safety: InstallAdmission and Start are for startup (before requests are served);
// everything else is thread-safe. The loop runs on its own thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "apimachinery/change_loop.h"
#include "apimachinery/object_service.h"
#include "apimachinery/resource_registry.h"
#include "common/clock.h"
#include "common/status.h"
#include "federation-apiserver/crd/structural_schema.h"

namespace meridian::apiserver::crd {

class CustomResourceRegistrar {
 public:
  enum class Mode {
    kServe,   // an API replica: registers, writes the CRDs' status, finalizes deletions
    kFollow,  // a client of the API (the controller manager): registers only
  };
  // `objects` must serve `registry` (whose CRD kind, DefinitionResourceInfo, is registered);
  // all three must outlive the registrar.
  CustomResourceRegistrar(apimachinery::ObjectService& objects,
                          apimachinery::ResourceRegistry& registry, const Clock& clock,
                          Mode mode = Mode::kServe);
  ~CustomResourceRegistrar();  // Stop()s
  CustomResourceRegistrar(const CustomResourceRegistrar&) = delete;
  CustomResourceRegistrar& operator=(const CustomResourceRegistrar&) = delete;

  // Adds the CRD and custom-object admission to `objects`. Startup only.
  void InstallAdmission();
  // Registers every stored CRD now (so a restarted server serves them from its first
  // request), then watches CRDs and keeps the registry in step. Errors: the store's.
  Status Start();
  // Stops the watch and waits for a running pass. Idempotent.
  void Stop();
  // Runs one pass on the calling thread (what the loop runs; for tests). Returns whether
  // everything was done (false: something is retried later, e.g. objects still deleting).
  bool SyncNow();

  // OpenAPI v3 of the custom group-versions served: their paths ("apis/G/V") and, per path,
  // the document (null when no CRD serves it).
  std::vector<std::string> OpenApiPaths() const;
  nlohmann::json OpenApiV3For(const std::string& group_version_path) const;

 private:
  // What one registered CRD serves.
  struct Served {
    nlohmann::json crd;
    bool terminating = false;
    std::map<std::string, std::shared_ptr<const CustomResourceSchema>> schemas;  // by version
  };

  std::optional<std::chrono::milliseconds> Pass();
  // Deletes the custom objects of `crd`; returns how many are left (with finalizers).
  StatusOr<size_t> DeleteObjectsOf(const nlohmann::json& crd);
  std::shared_ptr<const Served> ServedFor(const std::string& group,
                                          const std::string& plural) const;

  apimachinery::ObjectService& objects_;
  apimachinery::ResourceRegistry& registry_;
  const Clock& clock_;
  const Mode mode_;
  const apimachinery::ResourceInfo* crd_info_;
  std::vector<std::string> builtin_groups_;

  mutable std::mutex mu_;                                        // guards served_
  std::map<std::string, std::shared_ptr<const Served>> served_;  // "group/plural" ->
  std::mutex pass_mu_;  // held by a pass (the loop's, or SyncNow's); guards registered_specs_
  // The spec each owner's registry entries were built from.
  std::map<std::string, nlohmann::json> registered_specs_;
  std::unique_ptr<apimachinery::Watch> watch_;
  std::unique_ptr<apimachinery::ChangeLoop> loop_;
};

}  // namespace meridian::apiserver::crd
