// The residency audit controller (sync/): what every member really holds, against residency.
#include <chrono>

#include "federation-apiserver/controller_manager.h"
#include "residency/audit_controller.h"
#include "sync/member_client_factory.h"

namespace meridian::apiserver {
namespace {

const ControllerRegistration kResidencyAudit({
    .name = "residency-audit",
    .description = "watches every member for objects outside their allowed jurisdictions; "
                   "reports ResidencyViolation / ResidencyUnverified Events",
    .start_order = 35,
    .add_flags = nullptr,
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      return StartOwned(std::make_unique<residency::ResidencyAuditController>(
          c.objects, c.clock,
          sync::FencedMemberClientFactory(
              sync::HttpMemberClientFactory(c.objects, std::chrono::seconds(3)),
              c.member_write_permit),
          residency::ResidencyAuditController::Options{}, c.informers));
    },
});

}  // namespace
}  // namespace meridian::apiserver
