// The CommandSpec (cli/completion.h) of a CLI11 command tree: what completion and "did you
// mean" walk, read from the same definitions that parse the command line.
#pragma once

#include "cli/completion.h"

namespace CLI {
class App;
}

namespace meridian::cli {

// `app` and its subcommands, recursively. Options that take a path (-f/--filename,
// --kubeconfig, certificate and key files, anything named *file* or *dir*) want file names.
CommandSpec CommandSpecOf(CLI::App& app);

}  // namespace meridian::cli
