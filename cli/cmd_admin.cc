// fedctl admin init: the PKI a federation-apiserver needs to serve beyond loopback (see
// cli/pki.h), and the flags to start it with.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/pki.h"

namespace meridian::cli {
namespace {

const CommandRegistration kAdmin(
    {.name = "admin",
     .description = "administer the federation's PKI (admin init)",
     .define = [](CLI::App& app) -> CommandRun {
       app.require_subcommand(1);
       auto options = std::make_shared<AdminPkiOptions>();
       CLI::App* init = app.add_subcommand(
           "init",
           "write a CA, a serving certificate, an admin client certificate and an admin "
           "kubeconfig (files 0600)");
       init->add_option("--dir", options->dir, "Folder for the files (created 0700)")->required();
       init->add_option("--host", options->hosts,
                        "Host names or IPs the server is reached by (comma-separated; localhost "
                        "and 127.0.0.1 are always included)")
           ->delimiter(',')
           ->required();
       init->add_option("--server", options->server,
                        "Server URL for the kubeconfig (default https://FIRST-HOST:8443)");
       init->add_option("--valid-days", options->valid_days,
                        "Validity of the serving and admin certificates")
           ->capture_default_str();
       return [options](const GlobalFlags&) {
         StatusOr<AdminPkiFiles> files = WriteAdminPki(*options, RealClock());
         if (!files.ok()) {
           std::cerr << "error: " << files.status().message() << "\n";
           return 1;
         }
         std::cout << "wrote " << files->ca_certificate << ", " << files->ca_key << ", "
                   << files->serving_certificate << ", " << files->serving_key << ", "
                   << files->admin_certificate << ", " << files->admin_key << ", "
                   << files->token_file << " and " << files->kubeconfig << "\n"
                   << "start the server with:\n"
                   << "  federation-apiserver --tls-cert-file " << files->serving_certificate
                   << " --tls-private-key-file " << files->serving_key << " --client-ca-file "
                   << files->ca_certificate << " --token-auth-file " << files->token_file
                   << " ...\n"
                   << "then: export KUBECONFIG=" << files->kubeconfig << "\n";
         return 0;
       };
     }});

}  // namespace
}  // namespace meridian::cli
