// The FailoverDrill controller (failover/drill_controller.h): simulated and live drills,
// their reports in status.report. Live drills with spec.injectFault reach membersim's admin
// API (the member's drills.meridian.io/membersim annotation, else its spec.server; see
// failover/drill_fault.h).
#include <CLI/CLI.hpp>

#include <algorithm>

#include "dns/record_source.h"
#include "failover/drill_controller.h"
#include "failover/drill_dns_udp.h"
#include "federation-apiserver/controller_manager.h"
#include "sync/member_client_factory.h"

namespace meridian::apiserver {
namespace {

int64_t drill_sample_interval_ms = 1000;

const ControllerRegistration kDrill({
    .name = "drill",
    .description = "runs FailoverDrills (simulate / live), samples their timeline, writes the report",
    .start_order = 45,  // after dns (40), whose served answers its samples read
    .add_flags =
        [](CLI::App& app) {
          app.add_option("--drill-sample-interval-ms", drill_sample_interval_ms,
                         "Between two timeline samples of a running drill")
              ->check(CLI::Range(int64_t{50}, int64_t{60'000}))
              ->capture_default_str();
        },
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      failover::DrillControllerOptions options;
      options.sample_interval = std::chrono::milliseconds(drill_sample_interval_ms);
      // Samples read the members themselves; a member that cannot answer within a sample
      // interval is unverified for that sample.
      options.member_clients = sync::FencedMemberClientFactory(
          sync::HttpMemberClientFactory(
              c.objects, std::min(options.sample_interval, std::chrono::milliseconds(1000))),
          c.member_write_permit);
      if (const dns::RecordSource* served = c.served_dns) {
        options.dns_answers = [served] { return served->Current(); };
        // The samples' DNS answers are real UDP queries to the server; a probe unanswered
        // within half an interval (at most 1 s) is reported lost.
        const auto server = dns::IpAddress::Parse(c.served_dns_address);
        if (!server || c.served_dns_port == 0) {
          return InvalidArgumentError("drill: the DNS server's listen address \"" +
                                      c.served_dns_address + ":" +
                                      std::to_string(c.served_dns_port) + "\" cannot be asked");
        }
        MERIDIAN_ASSIGN_OR_RETURN(
            options.dns_transport,
            failover::UdpDnsTransport::Create(
                *server, c.served_dns_port, failover::DrillProbeSource(*server),
                std::min(options.sample_interval / 2, std::chrono::milliseconds(1000))));
      }
      return StartOwned(std::make_unique<failover::DrillController>(
          c.objects, c.clock, std::make_shared<failover::MembersimFaultInjector>(), options,
          c.informers));
    },
});

}  // namespace
}  // namespace meridian::apiserver
