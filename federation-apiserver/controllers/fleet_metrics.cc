// The fleet-metrics "controller": no reconcile loop, a scrape-time collector that reads the
// fleet's stored state into Meridian's gauges (observability/fleet_metrics.h). It runs where
// the controllers run (federation-apiserver with --controllers all, or the leading
// federation-controller-manager), so a fleet is reported once.
#include "observability/fleet_metrics.h"

#include <spdlog/spdlog.h>

#include "api/codec.h"
#include "api/typed_list.h"
#include "federation-apiserver/controller_manager.h"
#include "observability/metrics.h"

namespace meridian::apiserver {
namespace {

constexpr char kWho[] = "fleet metrics";

class FleetMetrics {
 public:
  explicit FleetMetrics(apimachinery::ObjectService& objects) : objects_(objects) {}
  void Start() {
    registration_ = observability::RegisterCollector([this] { return Collect(); });
  }
  void Stop() { registration_.reset(); }  // waits for a running scrape

 private:
  // Reads the four kinds (one LIST each). A failed LIST reports nothing for this scrape
  // (absent series, which alerts see as such), rather than zeros that would look healthy.
  std::vector<prometheus::MetricFamily> Collect() {
    observability::FleetObjects fleet;
    auto members = api::ListDecoded(objects_, "memberclusters", api::DecodeMemberCluster, kWho);
    auto workloads =
        api::ListDecoded(objects_, "federatedworkloads", api::DecodeFederatedWorkload, kWho);
    auto policies =
        api::ListDecoded(objects_, "residencypolicies", api::DecodeResidencyPolicy, kWho);
    auto drills = api::ListDecoded(objects_, "failoverdrills", api::DecodeFailoverDrill, kWho);
    for (const Status& st :
         {members.status(), workloads.status(), policies.status(), drills.status()}) {
      if (!st.ok()) {
        spdlog::warn("fleet metrics: {}", st.ToString());
        return {};
      }
    }
    fleet.members = std::move(members).value();
    fleet.workloads = std::move(workloads).value();
    fleet.policies = std::move(policies).value();
    fleet.drills = std::move(drills).value();
    return observability::FleetFamilies(fleet);
  }

  apimachinery::ObjectService& objects_;
  std::unique_ptr<observability::CollectorRegistration> registration_;
};

const ControllerRegistration kFleetMetrics({
    .name = "fleet-metrics",
    .description = "reports the fleet's state on /metrics (members, replicas per region, "
                   "residency, drills), read from the store when scraped",
    .start_order = 90,
    .add_flags = nullptr,
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      return StartOwned(std::make_unique<FleetMetrics>(c.objects));
    },
});

}  // namespace
}  // namespace meridian::apiserver
