// The member-summary controller (scheduling/member_summary_controller.h): MemberCluster
// status.workloadSummary, what a fleet view reads instead of every workload. Its rate limit is
// two flags: how often a pass may run, and how many members one pass may write.
#include <CLI/CLI.hpp>

#include "federation-apiserver/controller_manager.h"
#include "scheduling/member_summary_controller.h"

namespace meridian::apiserver {
namespace {

struct SummaryFlags {
  int64_t interval_ms = scheduling::MemberSummaryController::Options{}.interval.count();
  int64_t max_writes =
      static_cast<int64_t>(scheduling::MemberSummaryController::Options{}.max_writes_per_pass);
};

SummaryFlags& Flags() {
  static SummaryFlags flags;
  return flags;
}

void AddFlags(CLI::App& app) {
  SummaryFlags& f = Flags();
  app.add_option("--member-summary-interval-ms", f.interval_ms,
                 "Milliseconds between two passes of the member-summary controller (workload "
                 "changes in between are summed up in one pass)")
      ->check(CLI::Range(int64_t{10}, int64_t{600'000}))
      ->capture_default_str();
  app.add_option("--member-summary-max-writes", f.max_writes,
                 "MemberCluster status writes one member-summary pass may make (the rest wait "
                 "for the next pass)")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000}))
      ->capture_default_str();
}

// Flags without the controller would be silently ignored: say so instead.
Status CheckNotSelected() {
  const SummaryFlags& f = Flags();
  const SummaryFlags defaults;
  std::vector<std::string> given;
  if (f.interval_ms != defaults.interval_ms) given.push_back("--member-summary-interval-ms");
  if (f.max_writes != defaults.max_writes) given.push_back("--member-summary-max-writes");
  return FlagsWithoutController("member-summary", given);
}

const ControllerRegistration kMemberSummary({
    .name = "member-summary",
    .description = "sums what the workloads have on each member into MemberCluster "
                   "status.workloadSummary (rate-limited)",
    .start_order = 35,  // after propagation (30), which reports the ready replicas it sums
    .add_flags = AddFlags,
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      const SummaryFlags& f = Flags();
      scheduling::MemberSummaryController::Options options;
      options.interval = std::chrono::milliseconds(f.interval_ms);
      options.max_writes_per_pass = static_cast<size_t>(f.max_writes);
      return StartOwned(std::make_unique<scheduling::MemberSummaryController>(
          c.objects, c.clock, options, c.informers));
    },
    .check_not_selected = CheckNotSelected,
});

}  // namespace
}  // namespace meridian::apiserver
