// The fleet-metrics "controller": no reconcile loop, a scrape-time collector that reads the
// fleet's state from the process's shared informers into Meridian's gauges
// (observability/fleet_metrics.h). It runs where the controllers run (federation-apiserver with
// --controllers all, or the leading federation-controller-manager), so a fleet is reported once.
#include "observability/fleet_metrics.h"

#include "api/codec.h"
#include "api/informers.h"
#include "federation-apiserver/controller_manager.h"
#include "observability/metrics.h"

namespace meridian::apiserver {
namespace {

constexpr char kWho[] = "fleet metrics";

class FleetMetrics {
 public:
  FleetMetrics(apimachinery::ObjectService& objects, apimachinery::SharedInformerFactory* informers)
      : informers_(objects, informers), fleet_(informers_.factory(), kWho) {}
  // Starts the four informers (one LIST each unless already started), then answers scrapes
  // from their caches. Errors: an informer could not start.
  Status Start() {
    for (apimachinery::InformerBase* informer : std::initializer_list<apimachinery::InformerBase*>{
             &fleet_.members, &fleet_.workloads, &fleet_.policies, &fleet_.drills}) {
      MERIDIAN_RETURN_IF_ERROR(informer->Start());
    }
    registration_ = observability::RegisterCollector([this] { return Collect(); });
    return Status::Ok();
  }
  void Stop() {
    registration_.reset();  // waits for a running scrape
    informers_.StopOwn();
  }

 private:
  // Reads the four kinds from the shared informers' caches: a scrape LISTs nothing.
  std::vector<prometheus::MetricFamily> Collect() {
    observability::FleetObjects fleet;
    fleet.members = fleet_.members.cache().Values();
    fleet.workloads = fleet_.workloads.cache().Values();
    fleet.policies = fleet_.policies.cache().Values();
    fleet.drills = fleet_.drills.cache().Values();
    return observability::FleetFamilies(fleet);
  }

  apimachinery::ControllerInformers informers_;
  api::FleetInformers fleet_;  // members, topologies, policies, workloads, drills
  std::unique_ptr<observability::CollectorRegistration> registration_;
};

const ControllerRegistration kFleetMetrics({
    .name = "fleet-metrics",
    .description = "reports the fleet's state on /metrics (members, replicas per region, "
                   "residency, drills), read from the shared informers' caches when scraped",
    .start_order = 90,
    .add_flags = nullptr,
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      return StartOwned(std::make_unique<FleetMetrics>(c.objects, c.informers));
    },
});

}  // namespace
}  // namespace meridian::apiserver
