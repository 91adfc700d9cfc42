// fedctl admin init: the PKI a federation-apiserver needs to serve beyond loopback (see
// cli/pki.h), and the flags to start it with.
// fedctl admin rewrite-secrets: after a key rotation in --encryption-provider-config, store
// every Secret again so it is encrypted with the first (newest) key, as Kubernetes documents
// `kubectl get secrets -A -o json | kubectl replace -f -`.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/kinds.h"
#include "cli/pki.h"

namespace meridian::cli {
namespace {

// An unchanged PUT of a Secret read with an older key (or stored before encryption) is
// written again by the server (apimachinery/transforming_store.h), so GET + PUT re-encrypts.
// A conflict means someone wrote the Secret since the list, with the current key: done too.
int RewriteSecrets(const GlobalFlags& g) {
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  const KindInfo* secrets = ResolveType("secrets");
  if (secrets == nullptr) {
    std::cerr << "error: this fedctl does not know the Secret kind\n";
    return 1;
  }
  ApiResult<nlohmann::json> listed = client->List(*secrets, "", "");
  if (!listed.ok()) {
    std::cerr << "error: listing secrets: " << listed.error().message << "\n";
    return 1;
  }
  int rewritten = 0, changed = 0, gone = 0, failed = 0;
  for (const nlohmann::json& item : (*listed)["items"]) {
    const nlohmann::json& meta = item["metadata"];
    const std::string ns = meta.value("namespace", ""), name = meta.value("name", "");
    nlohmann::json body = item;
    body["apiVersion"] = "v1";
    body["kind"] = "Secret";
    ApiResult<nlohmann::json> put = client->Update(*secrets, ns, name, body);
    if (put.ok()) {
      ++rewritten;
    } else if (put.error().code == 409) {
      ++changed;
    } else if (put.error().code == 404) {
      ++gone;
    } else {
      ++failed;
      std::cerr << "error: secret " << ns << "/" << name << ": " << put.error().message << "\n";
    }
  }
  std::cout << "rewrote " << rewritten << " secrets";
  if (changed) std::cout << " (" << changed << " written by others since listed)";
  if (gone) std::cout << " (" << gone << " deleted since listed)";
  std::cout << "\n";
  return failed == 0 ? 0 : 1;
}

const CommandRegistration kAdmin(
    {.name = "admin",
     .description = "administer the federation (admin init: its PKI; admin rewrite-secrets)",
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
       CLI::App* rewrite = app.add_subcommand(
           "rewrite-secrets",
           "store every Secret again (GET, then an unchanged PUT), so the server encrypts it "
           "with the first key of its --encryption-provider-config");
       return [options, rewrite](const GlobalFlags& g) {
         if (rewrite->parsed()) return RewriteSecrets(g);
         StatusOr<AdminPkiFiles> files = WriteAdminPki(*options, RealClock());
         if (!files.ok()) {
           std::cerr << "error: " << files.status().message() << "\n";
           return 1;
         }
         std::cout << "wrote " << files->ca_certificate << ", " << files->ca_key << ", "
                   << files->serving_certificate << ", " << files->serving_key << ", "
                   << files->admin_certificate << ", " << files->admin_key << ", "
                   << files->token_file << ", " << files->evidence_signing_key << ", "
                   << files->evidence_public_key << " and " << files->kubeconfig << "\n"
                   << "start the server with:\n"
                   << "  federation-apiserver --tls-cert-file " << files->serving_certificate
                   << " --tls-private-key-file " << files->serving_key << " --client-ca-file "
                   << files->ca_certificate << " --token-auth-file " << files->token_file
                   << " --evidence-signing-key-file " << files->evidence_signing_key
                   << " ...\n"
                   << "then: export KUBECONFIG=" << files->kubeconfig << "\n"
                   << "verify residency evidence with: fedctl residency verify --public-key "
                   << files->evidence_public_key << "\n";
         return 0;
       };
     }});

}  // namespace
}  // namespace meridian::cli
