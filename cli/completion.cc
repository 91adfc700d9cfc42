#include "cli/completion.h"

#include <algorithm>
#include <set>

namespace meridian::cli {
namespace {

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool IsOptionWord(const std::string& w) { return w.size() > 1 && w[0] == '-'; }

const OptionSpec* FindOption(const std::vector<const CommandSpec*>& chain,
                             const std::string& name) {
  // The innermost command first: a subcommand's -o wins over a global one.
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    for (const OptionSpec& o : (*it)->options) {
      if (std::find(o.names.begin(), o.names.end(), name) != o.names.end()) return &o;
    }
  }
  return nullptr;
}

bool IsRootOption(const CommandSpec& root, const OptionSpec* opt) {
  for (const OptionSpec& o : root.options) {
    if (&o == opt) return true;
  }
  return false;
}

// The longest spelling ("--namespace" for "-n"): how CompletionSources names a global flag.
const std::string& CanonicalName(const OptionSpec& o) {
  return *std::max_element(
      o.names.begin(), o.names.end(),
      [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
}

bool IsNamespaceOption(const OptionSpec& o) {
  return std::find(o.names.begin(), o.names.end(), "--namespace") != o.names.end();
}

std::vector<std::string> WithPrefix(std::vector<std::string> all, const std::string& prefix) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (std::string& s : all) {
    if (!StartsWith(s, prefix) || s.empty()) continue;
    if (seen.insert(s).second) out.push_back(std::move(s));
  }
  return out;
}

// Optimal string alignment distance (Levenshtein plus adjacent transpositions: "gte" → "get").
size_t EditDistance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

}  // namespace

std::vector<std::string> Complete(const CommandSpec& root, const std::vector<std::string>& words,
                                  const CompletionSources& sources) {
  if (words.empty()) return {};
  std::vector<const CommandSpec*> chain = {&root};
  std::vector<std::string> positionals;
  std::vector<std::pair<std::string, std::string>> globals;
  const OptionSpec* pending = nullptr;  // an option whose value is the next word
  bool options_ended = false;           // after "--" everything is positional
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    const std::string& w = words[i];
    if (pending) {
      if (IsRootOption(root, pending)) globals.emplace_back(CanonicalName(*pending), w);
      pending = nullptr;
      continue;
    }
    if (!options_ended && w == "--") {
      options_ended = true;
      continue;
    }
    if (!options_ended && IsOptionWord(w)) {
      const size_t eq = w.find('=');
      const OptionSpec* opt = FindOption(chain, w.substr(0, eq));
      if (!opt) continue;
      if (opt->takes_value && eq == std::string::npos) {
        pending = opt;
      } else if (IsRootOption(root, opt)) {
        globals.emplace_back(CanonicalName(*opt), eq == std::string::npos ? "" : w.substr(eq + 1));
      }
      continue;
    }
    const CommandSpec& cmd = *chain.back();
    if (positionals.empty()) {
      auto sub = std::find_if(cmd.subcommands.begin(), cmd.subcommands.end(),
                              [&](const CommandSpec& s) { return s.name == w; });
      if (sub != cmd.subcommands.end()) {
        chain.push_back(&*sub);
        continue;
      }
    }
    positionals.push_back(w);
  }

  const std::string& current = words.back();
  const CommandSpec& cmd = *chain.back();
  if (pending) {
    if (pending->wants_file) return {":files"};
    if (IsNamespaceOption(*pending) && sources.names) {
      return WithPrefix(sources.names("namespaces", globals), current);
    }
    return {};
  }
  if (!options_ended && IsOptionWord(current)) {
    std::vector<std::string> names;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      for (const OptionSpec& o : (*it)->options) {
        for (const std::string& n : o.names) names.push_back(n);
      }
    }
    std::vector<std::string> out = WithPrefix(std::move(names), current);
    std::sort(out.begin(), out.end());
    return out;
  }
  if (positionals.empty() && !cmd.subcommands.empty()) {
    std::vector<std::string> names;
    for (const CommandSpec& s : cmd.subcommands) {
      if (!StartsWith(s.name, "__")) names.push_back(s.name);
    }
    std::vector<std::string> out = WithPrefix(std::move(names), current);
    std::sort(out.begin(), out.end());
    return out;
  }
  // Which positional is being typed, and is it a kind or an object name?
  std::optional<size_t> type_at;
  for (size_t i = 0; i < cmd.positionals.size(); ++i) {
    if (cmd.positionals[i] == "TYPE" || cmd.positionals[i] == "ARGS") {
      type_at = i;
      break;
    }
  }
  if (!type_at || positionals.size() < *type_at) return {};
  if (positionals.size() == *type_at) {
    return sources.kinds ? WithPrefix(sources.kinds(), current) : std::vector<std::string>{};
  }
  if (!sources.names) return {};
  return WithPrefix(sources.names(positionals[*type_at], globals), current);
}

std::optional<std::string> SuggestClosest(const std::string& typed,
                                          const std::vector<std::string>& candidates) {
  if (typed.empty()) return std::nullopt;
  std::optional<std::string> best;
  size_t best_distance = 0;
  for (const std::string& c : candidates) {
    size_t d = EditDistance(typed, c);
    if (StartsWith(c, typed)) d = std::min<size_t>(d, 1);  // "descr" → "describe"
    if (d > 2 || d * 2 > typed.size()) continue;
    if (!best || d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

std::optional<std::string> FirstCommandWord(const CommandSpec& root,
                                            const std::vector<std::string>& args) {
  const std::vector<const CommandSpec*> chain = {&root};
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& w = args[i];
    if (!IsOptionWord(w)) return w;
    const OptionSpec* opt = FindOption(chain, w.substr(0, w.find('=')));
    if (opt && opt->takes_value && w.find('=') == std::string::npos) ++i;  // skip its value
  }
  return std::nullopt;
}

std::optional<std::string> CompletionScript(const std::string& shell) {
  if (shell == "bash") {
    return R"(# bash completion for fedctl. Load it with: source <(fedctl completion bash)
# or install it: fedctl completion bash > /etc/bash_completion.d/fedctl
_fedctl_complete() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local IFS=$'\n'
  local -a candidates
  candidates=($("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
  if [[ ${#candidates[@]} -gt 0 && ${candidates[${#candidates[@]}-1]} == ":files" ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=("${candidates[@]}")
  fi
}
complete -F _fedctl_complete fedctl
)";
  }
  if (shell == "zsh") {
    return R"(#compdef fedctl
# zsh completion for fedctl. Load it with: source <(fedctl completion zsh)  (after compinit)
# or install it as _fedctl in a directory of $fpath.
_fedctl() {
  local -a candidates
  candidates=("${(@f)$(${words[1]} __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ ${candidates[-1]} == ":files" ]]; then
    _files
  else
    compadd -- "${(@)candidates:#}"
  fi
}
if [[ "${funcstack[1]}" == "_fedctl" ]]; then
  _fedctl "$@"
else
  compdef _fedctl fedctl
fi
)";
  }
  if (shell == "fish") {
    return R"(# fish completion for fedctl. Load it with: fedctl completion fish | source
# or install it: fedctl completion fish > ~/.config/fish/completions/fedctl.fish
function __fedctl_complete
    set -l words (commandline -opc)
    set -l current (commandline -ct)
    set -l out ($words[1] __complete $words[2..-1] $current 2>/dev/null)
    if test (count $out) -gt 0; and test "$out[-1]" = ":files"
        __fish_complete_path $current
    else
        printf '%s\n' $out
    end
end
complete -c fedctl -f -a '(__fedctl_complete)'
)";
  }
  return std::nullopt;
}

}  // namespace meridian::cli
