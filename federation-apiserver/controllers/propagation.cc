// The propagation controller (sync/): makes members match the placement; reports back.
// --propagation-resync-ms sets its safety-net resync (controller-runtime's SyncPeriod): the
// default suits production; tests shorten it to show that a converged member is left alone
// however often it is re-checked.
#include <CLI/CLI.hpp>
#include <chrono>

#include "federation-apiserver/controller_manager.h"
#include "sync/member_client_factory.h"
#include "sync/propagation_controller.h"

namespace meridian::apiserver {
namespace {

int64_t& ResyncMs() {
  static int64_t ms = sync::PropagationController::Options{}.resync_period.count();
  return ms;
}

void AddFlags(CLI::App& app) {
  app.add_option("--propagation-resync-ms", ResyncMs(),
                 "Milliseconds between re-checks of every workload on every member (a safety "
                 "net: drift is repaired from member watches; re-checks read cached copies)")
      ->check(CLI::Range(int64_t{100}, int64_t{86'400'000}))
      ->capture_default_str();
}

// A timer flag without the controller would be silently ignored: say so instead.
Status CheckNotSelected() {
  std::vector<std::string> given;
  if (ResyncMs() != sync::PropagationController::Options{}.resync_period.count()) {
    given.push_back("--propagation-resync-ms");
  }
  return FlagsWithoutController("propagation", given);
}

const ControllerRegistration kPropagation({
    .name = "propagation",
    .description = "creates, updates and deletes member objects; aggregates their status",
    .start_order = 30,
    .add_flags = AddFlags,
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      sync::PropagationController::Options options;
      options.resync_period = std::chrono::milliseconds(ResyncMs());
      return StartOwned(std::make_unique<sync::PropagationController>(
          c.objects, c.clock,
          sync::FencedMemberClientFactory(
              sync::HttpMemberClientFactory(c.objects, std::chrono::seconds(10)),
              c.member_write_permit),
          options, c.informers));
    },
    .check_not_selected = CheckNotSelected,
});

}  // namespace
}  // namespace meridian::apiserver
