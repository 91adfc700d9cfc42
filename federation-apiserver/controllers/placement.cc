// The placement controller (sync/): FederatedWorkload status.placement from the engine.
#include "federation-apiserver/controller_manager.h"
#include "scheduling/placement_controller.h"

namespace meridian::apiserver {
namespace {

const ControllerRegistration kPlacement({
    .name = "placement",
    .description = "computes status.placement and Placed/Degraded for FederatedWorkloads",
    .start_order = 20,
    .add_flags = nullptr,
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      return StartOwned(
          std::make_unique<scheduling::PlacementController>(c.objects, c.clock, c.informers));
    },
});

}  // namespace
}  // namespace meridian::apiserver
