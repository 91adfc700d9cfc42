// Kubernetes label selectors: the `matchLabels`/`matchExpressions` object form used in specs
// (clusterSelector, ResidencyPolicy, overrides) and the string form used in
// `?labelSelector=` queries ("tier=prod,region in (eu-west,eu-central),!canary").
// Semantics follow k8s.io/apimachinery: all requirements must hold (AND); `NotIn` and `!=`
// also match objects that lack the key; an empty selector matches everything.
// All types are plain values; functions are pure and thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/field_error.h"
#include "common/status.h"

namespace meridian::apimachinery {

using Labels = std::map<std::string, std::string>;

struct LabelRequirement {
  enum class Operator { kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Operator op = Operator::kIn;
  std::vector<std::string> values;  // In/NotIn: at least one; Exists/DoesNotExist: none

  bool Matches(const Labels& labels) const;
  friend bool operator==(const LabelRequirement&, const LabelRequirement&) = default;
};

struct LabelSelector {
  Labels match_labels;
  std::vector<LabelRequirement> match_expressions;

  bool Empty() const { return match_labels.empty() && match_expressions.empty(); }
  bool Matches(const Labels& labels) const;
  // The query-string form; ParseLabelSelector(s.ToString()) == s up to ordering.
  std::string ToString() const;
  friend bool operator==(const LabelSelector&, const LabelSelector&) = default;
};

// Parses the string form of `?labelSelector=`. Supports `k=v`, `k==v`, `k!=v`,
// `k in (a,b)`, `k notin (a,b)`, `k` (exists) and `!k` (does not exist), comma-separated.
// Errors are InvalidArgument naming the offending requirement.
StatusOr<LabelSelector> ParseLabelSelector(std::string_view text);

// Decodes the object form ({matchLabels: {...}, matchExpressions: [{key, operator, values}]}),
// appending every problem to `errors` with paths relative to the selector ("matchLabels.tier",
// "matchExpressions[0].operator"). Unknown fields are errors. Returns the decoded selector
// (best effort when there are errors).
LabelSelector DecodeLabelSelector(const nlohmann::json& j, FieldErrors* errors);
nlohmann::json EncodeLabelSelector(const LabelSelector& selector);

// Checks a label key ("prefix/name", name <= 63 chars of [A-Za-z0-9._-], alnum at both
// ends) and value (<= 63, same alphabet, may be empty). Empty string means valid; otherwise
// the first of the *Errors messages below.
std::string ValidateLabelKey(std::string_view key);
std::string ValidateLabelValue(std::string_view value);

// Every problem with a Kubernetes "qualified name" (label keys, annotation keys lower-cased,
// finalizer names), worded as k8s.io/apimachinery's IsQualifiedName words it ("name part must
// consist of alphanumeric characters, ..."); empty when valid.
std::vector<std::string> LabelKeyErrors(std::string_view key);
// The same for a label value (IsValidLabelValue).
std::vector<std::string> LabelValueErrors(std::string_view value);
// The same for a lowercase RFC 1123 subdomain (IsDNS1123Subdomain).
std::vector<std::string> DnsSubdomainErrors(std::string_view value);

// metadata.labels of a Kubernetes-style object (empty when absent or not an object of
// strings; non-string values are skipped).
Labels LabelsOf(const nlohmann::json& object);

}  // namespace meridian::apimachinery
