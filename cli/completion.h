// Shell completion and "did you mean" for fedctl, as a pure core over a description of the
// command tree (CommandSpec), so that it is tested without a shell or a server.
//
// The shell scripts (`fedctl completion bash|zsh|fish`) are thin: on every TAB they run
// `fedctl __complete WORD...` with the words typed so far (the last one is the word being
// completed, possibly empty) and offer what it prints, one candidate per line. A last line
// ":files" asks the shell to complete file names instead (after -f, --kubeconfig, ...). Doing
// the work in the binary, like cobra-based kubectl, keeps the three scripts identical in
// behaviour and always in step with the commands this fedctl has.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace meridian::cli {

struct OptionSpec {
  std::vector<std::string> names;  // with dashes: "-n", "--namespace"
  bool takes_value = false;        // false for flags
  bool wants_file = false;         // its value is a path (complete file names)
};

struct CommandSpec {
  std::string name;
  std::vector<OptionSpec> options;
  std::vector<std::string> positionals;  // names in order, e.g. "TYPE", "NAME"
  std::vector<CommandSpec> subcommands;
};

// What completion may look up on the server: the kinds fedctl knows (every plural, singular
// and short name) and the names of objects of a kind. `names` gets the global flags typed on
// the command line (--server, --kubeconfig, -n, ...) as option-name → value; it returns no
// names when the server cannot be asked (completion never prints errors).
struct CompletionSources {
  std::function<std::vector<std::string>()> kinds;
  std::function<std::vector<std::string>(
      const std::string& kind,
      const std::vector<std::pair<std::string, std::string>>& global_flags)>
      names;
};

// The candidates for the last of `words` (the words after the program name), filtered by its
// prefix, in a stable order; or {":files"} when a file name is wanted.
//   - a word starting with "-": the options of the command reached so far and the root's;
//   - right after an option that takes a value: ":files" for file options, else nothing;
//   - where a subcommand is expected: the subcommands' names;
//   - a positional named TYPE (or the first of ARGS): the kinds; one after it: object names.
std::vector<std::string> Complete(const CommandSpec& root, const std::vector<std::string>& words,
                                  const CompletionSources& sources);

// The closest of `candidates` to `typed` when it is close enough to be a likely typo
// (Damerau–Levenshtein distance ≤ 2, and less than half of its length), or a candidate that
// `typed` is a prefix of; nullopt otherwise.
std::optional<std::string> SuggestClosest(const std::string& typed,
                                          const std::vector<std::string>& candidates);

// The first word of `args` (after the program name) that is neither an option nor an option's
// value, given the root's options: where the subcommand name must be. nullopt when none.
std::optional<std::string> FirstCommandWord(const CommandSpec& root,
                                            const std::vector<std::string>& args);

// The scripts `fedctl completion SHELL` prints; nullopt for an unknown shell.
std::optional<std::string> CompletionScript(const std::string& shell);

}  // namespace meridian::cli
