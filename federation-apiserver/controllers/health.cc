// The health monitor (failover/): probes members, reports zones and capacity in
// MemberCluster status. Its timers are flags, like Karmada's --cluster-status-update-frequency
// and --cluster-failure-threshold: a loaded control plane or slow members may want a longer
// probe timeout; a faster detection wants a shorter interval.
#include <CLI/CLI.hpp>

#include "failover/health_monitor.h"
#include "federation-apiserver/controller_manager.h"
#include "sync/member_client_factory.h"

namespace meridian::apiserver {
namespace {

struct HealthFlags {
  int interval_ms = 1000;
  int timeout_ms = 1000;
  int failure_threshold = 3;
  int disruption_grace_ms = 30'000;
};

HealthFlags& Flags() {
  static HealthFlags flags;
  return flags;
}

void AddFlags(CLI::App& app) {
  HealthFlags& f = Flags();
  app.add_option("--health-probe-interval-ms", f.interval_ms,
                 "Milliseconds between the starts of two rounds of member probes")
      ->check(CLI::Range(100, 600'000))
      ->capture_default_str();
  app.add_option("--health-probe-timeout-ms", f.timeout_ms,
                 "Milliseconds a round waits for a member's probe; a later answer is a failure")
      ->check(CLI::Range(50, 600'000))
      ->capture_default_str();
  app.add_option("--health-failure-threshold", f.failure_threshold,
                 "Consecutive failed probes before a member is Reachable=False (its replicas "
                 "are then replaced elsewhere)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--health-disruption-grace-ms", f.disruption_grace_ms,
                 "When most members are silent in the same round (likelier this server's or its "
                 "network's trouble), milliseconds before their silences count as failures; 0: "
                 "at once")
      ->check(CLI::Range(0, 3'600'000))
      ->capture_default_str();
}

// Timer flags without the health controller would be silently ignored: say so instead.
Status CheckNotSelected() {
  const HealthFlags& f = Flags();
  const HealthFlags defaults;
  std::vector<std::string> given;
  if (f.interval_ms != defaults.interval_ms) given.push_back("--health-probe-interval-ms");
  if (f.timeout_ms != defaults.timeout_ms) given.push_back("--health-probe-timeout-ms");
  if (f.failure_threshold != defaults.failure_threshold) {
    given.push_back("--health-failure-threshold");
  }
  if (f.disruption_grace_ms != defaults.disruption_grace_ms) {
    given.push_back("--health-disruption-grace-ms");
  }
  return FlagsWithoutController("health", given);
}

const ControllerRegistration kHealth({
    .name = "health",
    .description = "probes members; MemberCluster Ready/Reachable, zones, allocatable",
    .start_order = 10,
    .add_flags = AddFlags,
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      const HealthFlags& f = Flags();
      failover::HealthMonitorOptions options;
      options.interval = std::chrono::milliseconds(f.interval_ms);
      options.timeout = std::chrono::milliseconds(f.timeout_ms);
      options.failure_threshold = f.failure_threshold;
      options.disruption_grace = std::chrono::milliseconds(f.disruption_grace_ms);
      return StartOwned(std::make_unique<failover::HealthMonitor>(
          c.objects, c.clock,
          sync::FencedMemberClientFactory(sync::HttpMemberClientFactory(c.objects, options.timeout),
                                          c.member_write_permit),
          options, c.informers));
    },
    .check_not_selected = CheckNotSelected,
});

}  // namespace
}  // namespace meridian::apiserver
