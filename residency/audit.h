// Residency audit, pure core: which objects found in the members break residency.
//
// What is audited (the shell, residency/audit_controller.h, lists it from every member):
//   (a) objects Meridian manages for a FederatedWorkload (labels managed-by=meridian and
//       workload=<ns>.<name>): allowed where the workload is (residency/policy.h
//       AllowedJurisdictionsFor);
//   (b) every Deployment, StatefulSet, ReplicaSet, DaemonSet, Job, bare Pod and
//       PersistentVolumeClaim in a
//       namespace a ResidencyPolicy names, whoever created it: allowed where the policies that
//       govern its namespace and labels allow (residency/policy.h
//       ResidencyRulesForObject).
// Both use placement::AllowedJurisdictionsFor and the World's jurisdiction of the member — the
// rule placement filters with — so the audit cannot disagree with placement.
// A member that could not be listed completely is *unverified* for that scan: never counted as
// compliant. Pure; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/types.h"
#include "placement/residency.h"
#include "placement/world.h"
#include "sync/member_client.h"

namespace meridian::residency {

// The member resources audited in the namespaces a ResidencyPolicy names.
const std::vector<sync::GroupVersionResource>& AuditedResources();

// One object as listed from a member.
struct MemberObject {
  sync::GroupVersionResource resource;
  std::string kind;  // "Deployment"
  std::string ns, name;
  std::map<std::string, std::string> labels;
  bool owned = false;  // has ownerReferences (a Pod of a ReplicaSet: its owner is audited)
  // What enforcement (residency/enforcement.h) reads: spec.replicas as stored (absent: the
  // API server's default, 1), spec.suspend of a Job, and the identity a write is made against.
  std::optional<int64_t> replicas;
  bool suspended = false;
  std::string uid, resource_version;
  friend bool operator==(const MemberObject&, const MemberObject&) = default;
};

// The object's fields the audit reads. Missing fields stay empty.
MemberObject MemberObjectFrom(const sync::GroupVersionResource& resource,
                              const nlohmann::json& object);

// What one member holds, as far as it could be listed in this scan.
struct MemberInventory {
  std::string member;
  bool verified = false;  // every audited list succeeded
  std::string error;      // why not (when !verified)
  std::vector<MemberObject> objects;
};

// An object in a member of a jurisdiction residency does not allow for it.
struct ResidencyViolation {
  std::string member, jurisdiction;
  MemberObject object;
  std::string workload;               // "ns/name" when Meridian manages it for a workload
  std::vector<std::string> policies;  // the ResidencyPolicies that govern it
  std::string allowed;                // placement::DescribeAllowed
  // "member us-east-1 (us) holds Deployment payments/rogue (allowed by payments-eu-only: eu;
  // intersection: eu)"
  std::string Describe() const;
  // A stable identity: "us-east-1/apps/deployments/payments/rogue".
  std::string Key() const;
  friend bool operator==(const ResidencyViolation&, const ResidencyViolation&) = default;
};

struct AuditResult {
  std::vector<ResidencyViolation> violations;  // in member, then object order
  std::vector<std::string> unverified;         // "us-east-1: <why>"
  int members_verified = 0;
  int64_t objects_seen = 0;
  // Filled by the controller, not by AuditResidency: what `enforcement: remove` did in this
  // scan ("scaled Deployment payments/rogue in member us-east-1 (us) from 2 to 0 replicas ...").
  std::vector<std::string> enforced;
};

// Judges member objects one at a time against one set of policies and workloads; what
// governs each workload and each namespace is worked out once and remembered (a full scan
// meets the same ones over and over: 1,000,000 objects at issue 14's scale). Shared by
// AuditResidency and the audit controller, which re-judges only the objects that changed.
// `world`, `policies` and `workloads` must outlive it and not change. Not thread-safe.
class ResidencyJudge {
 public:
  ResidencyJudge(const placement::World& world, const std::vector<api::ResidencyPolicy>& policies,
                 const std::vector<api::FederatedWorkload>& workloads);
  ResidencyJudge(const placement::World& world, const std::vector<api::ResidencyPolicy>& policies,
                 const std::vector<std::shared_ptr<const api::FederatedWorkload>>& workloads);
  ResidencyJudge(const ResidencyJudge&) = delete;
  ResidencyJudge& operator=(const ResidencyJudge&) = delete;

  // The violation `object` held by `member` (the world's cluster `index`) is, or nullopt
  // when residency allows it there (or it is not audited itself: a Pod or ReplicaSet with
  // an owner is its owner's business).
  std::optional<ResidencyViolation> Judge(const std::string& member, uint32_t index,
                                          const MemberObject& object);

 private:
  // What governs an object: the matching policies' rules and the jurisdictions they allow.
  struct Governing {
    std::vector<placement::ResidencyRule> rules;
    placement::AllowedJurisdictions allowed;
  };
  const Governing& GoverningFor(const MemberObject& o, const api::FederatedWorkload* workload);

  const placement::World& world_;
  const std::vector<api::ResidencyPolicy>& policies_;
  std::map<std::string, const api::FederatedWorkload*> by_label_;
  const placement::PlacementPolicy no_own_;
  std::map<const api::FederatedWorkload*, Governing> by_workload_;
  std::map<std::string, std::optional<Governing>, std::less<>> by_namespace_;  // nullopt: by labels
  Governing per_object_;  // an object whose namespace's policies select by labels
};

// Audits `inventories` (one per member) against `policies` and `workloads`, with each member's
// jurisdiction from `world`. A member `world` does not know is unverified.
AuditResult AuditResidency(const std::vector<MemberInventory>& inventories,
                           const placement::World& world,
                           const std::vector<api::ResidencyPolicy>& policies,
                           const std::vector<api::FederatedWorkload>& workloads);

// The namespaces some ResidencyPolicy names (sorted, unique).
std::vector<std::string> AuditedNamespaces(const std::vector<api::ResidencyPolicy>& policies);

}  // namespace meridian::residency
