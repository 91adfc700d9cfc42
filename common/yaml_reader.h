// The one way Meridian reads YAML text: every file and manifest (fedctl apply, the audit
// policy, the encryption config, kubeconfig, the DNS static zone and client regions,
// membersim's config) goes through these two functions instead of YAML::Load / LoadAll.
//
// They load with yaml-cpp after a first pass over the parser's events that refuses, before
// any node is built:
//   - a parser that stops making progress: yaml-cpp 0.7's LoadAll loops for ever on some
//     malformed streams (a token no node can start with at the top level, e.g. a plain
//     scalar's continuation less indented than the key it follows), appending an empty
//     document per turn until memory runs out (fuzz_yaml: > 2 GB from 1 KB);
//   - nesting deeper than kMaxYamlDepth, counting what aliases would expand to;
//   - aliases that would expand to more nodes than the text could hold without them
//     ("billion laughs"), and an alias inside the node it names (a cycle), which a reader
//     walking the tree would follow without end.
// So a reader that walks the returned nodes recursively, expanding aliases, does bounded work
// and recursion (at most kMaxYamlDepth levels).
//
// Errors are thrown as YAML::ParserException with the mark where the problem is, exactly as
// yaml-cpp reports its own syntax errors, so callers keep one catch site for both and put
// their file name in front of the mark. Pure functions; thread-safe.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string_view>
#include <vector>

namespace meridian {

// Deepest nesting accepted (collections inside collections, aliases expanded).
inline constexpr int kMaxYamlDepth = 200;

// Nodes a stream may expand to, aliases expanded: two per byte of text (an implicit null
// value costs no text of its own, e.g. "? " or "k:") plus a little slack. A stream without
// aliases always fits.
size_t MaxYamlNodes(size_t text_size);

// Every document of a (multi-document) stream, empty ones included (as null nodes, as
// YAML::LoadAll returns them). Throws YAML::ParserException (see above).
std::vector<YAML::Node> LoadYamlStream(std::string_view text);

// A file that holds one document (config files). Content in any later document is refused at
// that document's start: YAML::Load would silently ignore it. Empty text gives a null node.
// Throws YAML::ParserException (see above).
YAML::Node LoadYamlDocument(std::string_view text);

}  // namespace meridian
