// The rollout controller (rollout/): revision history and staged rollouts of template changes.
// With --prometheus-url, stages' prometheus gates are evaluated against that server.
#include <CLI/CLI.hpp>

#include "federation-apiserver/controller_manager.h"
#include "rollout/prometheus_client.h"
#include "rollout/rollout_controller.h"

namespace meridian::apiserver {
namespace {

rollout::PrometheusOptions& Flags() {
  static rollout::PrometheusOptions flags;
  return flags;
}

void AddFlags(CLI::App& app) {
  rollout::PrometheusOptions& f = Flags();
  app.add_option("--prometheus-url", f.url,
                 "Prometheus server (http(s)://host:port[/path]) that rollout stages' "
                 "prometheus gates query (/api/v1/query); without it such a gate never passes");
  app.add_option("--prometheus-bearer-token-file", f.bearer_token_file,
                 "File holding a bearer token for --prometheus-url (read before every query)");
  app.add_option("--prometheus-ca-file", f.ca_file,
                 "PEM roots that --prometheus-url's certificate must chain to (default: the "
                 "system's)");
}

// Prometheus flags without the rollout controller would be silently ignored: say so instead.
Status CheckNotSelected() {
  const rollout::PrometheusOptions& f = Flags();
  std::vector<std::string> given;
  if (!f.url.empty()) given.push_back("--prometheus-url");
  if (!f.bearer_token_file.empty()) given.push_back("--prometheus-bearer-token-file");
  if (!f.ca_file.empty()) given.push_back("--prometheus-ca-file");
  return FlagsWithoutController("rollout", given);
}

const ControllerRegistration kRollout({
    .name = "rollout",
    .description = "keeps template revisions and moves staged rollouts through their stages",
    .start_order = 25,  // after placement (20), before propagation (30) renders what it assigns
    .add_flags = AddFlags,
    .start = [](ControllerContext& c) -> StatusOr<std::unique_ptr<RunningController>> {
      const rollout::PrometheusOptions& f = Flags();
      if (f.url.empty() && (!f.bearer_token_file.empty() || !f.ca_file.empty())) {
        return InvalidArgumentError(
            "--prometheus-bearer-token-file and --prometheus-ca-file need --prometheus-url");
      }
      rollout::PrometheusQuery query;
      if (!f.url.empty()) {
        MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<rollout::PrometheusClient> client,
                                  rollout::PrometheusClient::Create(f));
        // The controller's worker is the only caller (PrometheusClient is not thread-safe).
        query = [client = std::shared_ptr<rollout::PrometheusClient>(std::move(client))](
                    const std::string& q) { return client->Query(q); };
      }
      return StartOwned(
          std::make_unique<rollout::RolloutController>(c.objects, c.clock, c.informers, query));
    },
    .check_not_selected = CheckNotSelected,
});

}  // namespace
}  // namespace meridian::apiserver
