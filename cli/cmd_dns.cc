// fedctl dns records [NAME]: what Meridian's DNS serves (cli/dns_records.h). Every namespace
// unless -n is given: DNS names are global.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/dns_records.h"

namespace meridian::cli {
namespace {

const CommandRegistration kDns({
    .name = "dns",
    .description = "show what Meridian's DNS serves",
    .define = [](CLI::App& app) -> CommandRun {
      app.require_subcommand(1);
      CLI::App* records = app.add_subcommand(
          "records",
          "names, strategies and endpoints served (region, cluster, targets, weight, "
          "health), from the DNSRecordSets");
      auto name = std::make_shared<std::string>();
      records->add_option("NAME", *name, "a DNS name or a DNSRecordSet name (default: all)");
      return [name](const GlobalFlags& g) {
        std::unique_ptr<HttpClient> client = Connect(g);
        if (!client) return 1;
        const std::string ns = g.namespace_explicit && !g.all_namespaces ? g.ns : "";
        return RunDnsRecords(*client, ns, *name, std::cout, std::cerr);
      };
    },
});

}  // namespace
}  // namespace meridian::cli
