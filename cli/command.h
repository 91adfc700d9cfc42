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
  std::string server;
  std::string timeout = "30s";
  std::string ns = "default";
  bool namespace_explicit = false;
  bool all_namespaces = false;
};

// "30s", "500ms", "2m", "1h" or a bare number of seconds; 0 means no limit.
bool ParseTimeout(const std::string& text, std::chrono::milliseconds* out);

// The client for --server/--timeout, or nullptr after printing why to stderr.
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
