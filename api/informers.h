// Meridian's own kinds through the process's shared informers (apimachinery/informer.h): the
// in-process controllers read their fleet from these caches instead of LISTing per pass.
#pragma once

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
