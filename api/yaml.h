// YAML <-> JSON for manifests: what users write (multi-document YAML) becomes the JSON the
// API speaks, and API objects print back as YAML (`fedctl get -o yaml`).
//
// Scalars follow YAML 1.2's core schema as kubectl does: unquoted true/false, null/~,
// integers and floats become JSON booleans, null and numbers; anything quoted stays a string.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace YAML {
class Node;
}

namespace meridian::api {

struct YamlDocument {
  nlohmann::json value;
  int line = 1;  // 1-based line where the document starts in its source
};

// Splits and converts a (multi-document) YAML stream. Empty documents are skipped. Errors are
// InvalidArgument "SOURCE:LINE:COLUMN: <what>" so the user can find the spot.
StatusOr<std::vector<YamlDocument>> ParseYamlDocuments(std::string_view text,
                                                       const std::string& source_name);

// One node already loaded (through common/yaml_reader.h, so its depth and aliases are
// bounded), converted by the same rules: a config file's free-form part (membersim's seed
// `fields`) reads exactly as a manifest would. Errors as above, at the node's own mark.
StatusOr<nlohmann::json> YamlNodeToJson(const YAML::Node& node, const std::string& source_name);

// Renders JSON as block-style YAML; strings that would read back as another type are quoted.
// Unicode noncharacters (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF) come out as U+FFFD: yaml-cpp's
// emitter replaces them in every style.
std::string JsonToYaml(const nlohmann::json& value);

}  // namespace meridian::api
