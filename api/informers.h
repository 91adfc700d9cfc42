// Meridian's own kinds through the process's shared informers (apimachinery/informer.h): the
// in-process controllers read their fleet from these caches instead of LISTing per pass.
#pragma once

#include <tuple>

#include "api/codec.h"
#include "api/typed_list.h"
#include "apimachinery/informer.h"

namespace meridian::api {

// The shared informer of federation.meridian.io/v1alpha1 `plural` in `factory` (created on
// first use, not started). A kind the registry does not have is a wiring bug: aborts, naming
// `who` (as MeridianResource).
template <typename T>
apimachinery::SharedInformer<T>& MeridianInformer(apimachinery::SharedInformerFactory& factory,
                                                  const char* plural,
                                                  T (*decode)(const nlohmann::json&, FieldErrors*),
                                                  const char* who) {
  return factory.For<T>(MeridianResource(factory.objects(), plural, who), decode);
}

// An object as stored (for controllers that write back what they read, or read kinds that
// have no typed form): never rejected.
inline nlohmann::json RawObject(const nlohmann::json& object, FieldErrors*) { return object; }

// The shared informer of `resource` (any kind: native objects, namespaces) holding the
// objects as stored, restricted to `label_selector` ("" for all).
inline apimachinery::SharedInformer<nlohmann::json>& RawInformer(
    apimachinery::SharedInformerFactory& factory, const apimachinery::ResourceInfo& resource,
    const std::string& label_selector = "") {
  return factory.For<nlohmann::json>(resource, RawObject, label_selector);
}

// For controllers that read a member's identity, spec, health and capacity, but not the status
// fields written for people: false when `old` and `now` differ only in metadata.resourceVersion,
// status.workloadSummary (rewritten as workloads come and go: scheduling/member_summary.h),
// status.lastProbeTime or status.probeLatencyMs (refreshed by the health monitor). An add or a
// delete (a null side) always matters. Used with SharedInformer::OnChangeThatMatters.
inline bool MemberClusterChangeMatters(const MemberCluster* old, const MemberCluster* now) {
  if (old == nullptr || now == nullptr) return true;
  auto read = [](const MemberCluster& m) {
    const ObjectMeta& md = m.metadata;
    return std::tie(md.name, md.generate_name, md.ns, md.uid, md.generation,
                    md.creation_timestamp, md.deletion_timestamp, md.labels, md.annotations,
                    md.finalizers, md.extra, m.spec, m.status.conditions, m.status.zones,
                    m.status.allocatable_replicas, m.status.kubernetes_version);
  };
  return read(*old) != read(*now);
}

// The five kinds the fleet is seen through (scheduling/placement_inputs.h): the placement and
// drill controllers both read them from the same shared informers.
struct FleetInformers {
  FleetInformers(apimachinery::SharedInformerFactory& factory, const char* who)
      : members(MeridianInformer(factory, "memberclusters", DecodeMemberCluster, who)),
        topologies(MeridianInformer(factory, "topologies", DecodeTopology, who)),
        policies(MeridianInformer(factory, "residencypolicies", DecodeResidencyPolicy, who)),
        workloads(MeridianInformer(factory, "federatedworkloads", DecodeFederatedWorkload, who)),
        drills(MeridianInformer(factory, "failoverdrills", DecodeFailoverDrill, who)) {}

  apimachinery::SharedInformer<MemberCluster>& members;
  apimachinery::SharedInformer<Topology>& topologies;
  apimachinery::SharedInformer<ResidencyPolicy>& policies;
  apimachinery::SharedInformer<FederatedWorkload>& workloads;
  apimachinery::SharedInformer<FailoverDrill>& drills;
};

}  // namespace meridian::api
