// fedctl join / fedctl unjoin: adding a member cluster to the federation (its credentials as
// a Secret, then the MemberCluster) and taking it out again (cli/join.h has the logic).
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/join.h"

namespace meridian::cli {
namespace {

struct JoinFlags {
  JoinRequest request;
  std::vector<std::string> labels;
  std::string member_timeout = "10s";
};

const CommandRegistration kJoin({
    .name = "join",
    .description = "add a member cluster: check it answers with these credentials, store them "
                   "as a Secret and create the MemberCluster",
    .define = [](CLI::App& app) -> CommandRun {
      auto f = std::make_shared<JoinFlags>();
      JoinRequest& r = f->request;
      app.add_option("NAME", r.name, "The member's name in the federation")->required();
      app.add_option("--member-url", r.member_url,
                     "The member's Kubernetes API URL (with --token-file)");
      app.add_option("--token-file", r.token_file, "File holding the bearer token");
      app.add_option("--certificate-authority", r.ca_file,
                     "PEM file of the CA to verify the member with (with --member-url)");
      app.add_flag("--insecure-skip-tls-verify", r.insecure_skip_tls_verify,
                   "Do not verify the member's certificate (development only)");
      app.add_option("--kubeconfig", r.kubeconfig,
                     "Kubeconfig to take the server and credentials from");
      app.add_option("--context", r.context, "Kubeconfig context (default: current-context)");
      app.add_option("--region", r.region, "Region, e.g. eu-west")->required();
      app.add_option("--zones", r.zones, "Zones, comma-separated")->delimiter(',')->required();
      app.add_option("--jurisdiction", r.jurisdiction, "Legal area for residency, e.g. eu")
          ->required();
      app.add_option("--label", f->labels, "A label k=v for cluster selectors (repeatable)");
      app.add_option("--capacity", r.capacity_replicas, "Replicas the member can take (optional)");
      app.add_flag("--overwrite", r.overwrite, "Replace an existing member of this name");
      app.add_option("--member-timeout", f->member_timeout, "Per call to the member")
          ->capture_default_str();
      return [f](const GlobalFlags& g) {
        StatusOr<std::map<std::string, std::string>> labels = ParseLabelFlags(f->labels);
        if (!labels.ok()) {
          std::cerr << "error: " << labels.status().message() << "\n";
          return 1;
        }
        f->request.labels = std::move(*labels);
        if (!ParseTimeout(f->member_timeout, &f->request.member_timeout)) {
          std::cerr << "error: --member-timeout \"" << f->member_timeout
                    << "\": want a duration such as 10s or 500ms\n";
          return 1;
        }
        std::unique_ptr<HttpClient> client = Connect(g);
        if (!client) return 1;
        return RunJoin(*client, f->request, HttpMemberClientMaker(), std::cout, std::cerr);
      };
    },
});

const CommandRegistration kUnjoin({
    .name = "unjoin",
    .description = "remove a member cluster and its credentials (--cleanup: first delete what "
                   "Meridian created in it)",
    .define = [](CLI::App& app) -> CommandRun {
      auto r = std::make_shared<UnjoinRequest>();
      app.add_option("NAME", r->name, "The member's name")->required();
      app.add_flag("--cleanup", r->cleanup,
                   "Delete every object Meridian created in the member before removing it");
      return [r](const GlobalFlags& g) {
        std::unique_ptr<HttpClient> client = Connect(g);
        if (!client) return 1;
        return RunUnjoin(*client, *r, HttpMemberClientMaker(), std::cout, std::cerr);
      };
    },
});

}  // namespace
}  // namespace meridian::cli
