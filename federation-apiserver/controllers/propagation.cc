// The propagation controller (sync/): makes members match the placement; reports back.
#include <chrono>

#include "federation-apiserver/controller_manager.h"
#include "sync/member_client_factory.h"
#include "sync/propagation_controller.h"

namespace meridian::apiserver {
namespace {

const ControllerRegistration kPropagation({
    .name = "propagation",
    .description = "creates, updates and deletes member objects; aggregates their status",
    .start_order = 30,
    .add_flags = nullptr,
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      return StartOwned(std::make_unique<sync::PropagationController>(
          c.objects, c.clock,
          sync::HttpMemberClientFactory(c.objects, std::chrono::seconds(10))));
    },
});

}  // namespace
}  // namespace meridian::apiserver
