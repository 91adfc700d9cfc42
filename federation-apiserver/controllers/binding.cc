// The binding controller (scheduling/): native Kubernetes objects placed by PlacementPolicies.
#include "federation-apiserver/controller_manager.h"
#include "scheduling/binding_controller.h"

namespace meridian::apiserver {
namespace {

const ControllerRegistration kBinding({
    .name = "binding",
    .description = "places native objects (Deployment, Service, ConfigMap, ...) selected by "
                   "PlacementPolicies through binding FederatedWorkloads; aggregates their status",
    .start_order = 18,  // before placement (20): bindings are workloads to it
    .add_flags = nullptr,
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      return StartOwned(
          std::make_unique<scheduling::BindingController>(c.objects, c.clock, c.informers));
    },
});

}  // namespace
}  // namespace meridian::apiserver
