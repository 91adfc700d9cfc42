// The health monitor (failover/): probes members, reports zones and capacity in
// MemberCluster status.
#include "failover/health_monitor.h"
#include "federation-apiserver/controller_manager.h"
#include "sync/member_client_factory.h"

namespace meridian::apiserver {
namespace {

const ControllerRegistration kHealth({
    .name = "health",
    .description = "probes members; MemberCluster Ready/Reachable, zones, allocatable",
    .start_order = 10,
    .add_flags = nullptr,
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      failover::HealthMonitorOptions options;
      return StartOwned(std::make_unique<failover::HealthMonitor>(
          c.objects, c.clock, sync::HttpMemberClientFactory(c.objects, options.timeout),
          options));
    },
});

}  // namespace
}  // namespace meridian::apiserver
