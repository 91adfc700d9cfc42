// What every fedctl subcommand shares: the global flags, connecting to the server, and the
// registry that lets a subcommand live in its own file (cli/cmd_*.cc) without editing main.cc.
//
// A command file registers a define function. It receives its own (already created)
// CLI11 subcommand to add options, positionals and nested subcommands to, and returns what
// to run when the user picked it; the run function sees the parsed global flags.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/client.h"

namespace CLI {
class App;
}

namespace meridian::cli {

struct GlobalFlags {
  // Where the server and credentials come from, like kubectl: --kubeconfig, else the files of
  // $KUBECONFIG (colon-separated, merged); then --context, --user, --cluster select, and
  // --server (or $MERIDIAN_SERVER), --token, --certificate-authority, --client-certificate,
  // --client-key and --insecure-skip-tls-verify override. Without any kubeconfig the server
  // is $MERIDIAN_SERVER, else http://127.0.0.1:8443 (~/.kube/config is not read: it usually
  // points at a member cluster, not at the federation).
  std::string kubeconfig;
  std::string context;
  std::string user;
  std::string cluster;
  std::string token;
  std::string certificate_authority;
  std::string client_certificate;
  std::string client_key;
  bool insecure_skip_tls_verify = false;
  bool server_explicit = false;  // --server given (or $MERIDIAN_SERVER set)
  std::string server;
  std::string timeout = "30s";
  std::string ns = "default";
  bool namespace_explicit = false;
  bool all_namespaces = false;
};

// "30s", "500ms", "2m", "1h" or a bare number of seconds; 0 means no limit.
bool ParseTimeout(const std::string& text, std::chrono::milliseconds* out);

// The server and credentials the flags select (see GlobalFlags); errors name the kubeconfig
// file and field, or the flag.
StatusOr<ClientOptions> ResolveClientOptions(const GlobalFlags& g);

// The client for the resolved options, or nullptr after printing why to stderr.
std::unique_ptr<HttpClient> Connect(const GlobalFlags& g);

// Runs the picked command; the process exit code.
using CommandRun = std::function<int(const GlobalFlags&)>;

struct CommandDefinition {
  std::string name;
  std::string description;
  std::function<CommandRun(CLI::App& subcommand)> define;
};

// Registers a subcommand at static-initialisation time (one per cmd_*.cc file).
struct CommandRegistration {
  explicit CommandRegistration(CommandDefinition definition);
};

// Every registered command, by name.
std::vector<const CommandDefinition*> RegisteredCommands();

}  // namespace meridian::cli
