// The rollout controller (rollout/): revision history and staged rollouts of template changes.
#include "federation-apiserver/controller_manager.h"
#include "rollout/rollout_controller.h"

namespace meridian::apiserver {
namespace {

const ControllerRegistration kRollout({
    .name = "rollout",
    .description = "keeps template revisions and moves staged rollouts through their stages",
    .start_order = 25,  // after placement (20), before propagation (30) renders what it assigns
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      return StartOwned(
          std::make_unique<rollout::RolloutController>(c.objects, c.clock, c.informers));
    },
});

}  // namespace
}  // namespace meridian::apiserver
