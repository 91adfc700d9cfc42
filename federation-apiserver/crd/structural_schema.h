// The OpenAPI v3 schema of a CustomResourceDefinition version, as apiextensions-apiserver
// reads it: whether it is *structural* (ValidateStructuralSchema, run when a CRD is written)
// and, once it is, what it does to a custom object (CustomResourceSchema: unknown fields
// pruned, or refused under fieldValidation=Strict, then every value checked).
//
// Keywords served: type, format (not checked), nullable, properties, required,
// additionalProperties (a schema or true), items, enum, minimum/maximum (exclusive too),
// multipleOf, minLength/maxLength, pattern, minItems/maxItems, minProperties/maxProperties,
// default (stored, not applied), description/title/example/externalDocs, and the extensions
// x-kubernetes-preserve-unknown-fields, x-kubernetes-int-or-string,
// x-kubernetes-embedded-resource, x-kubernetes-list-type/-list-map-keys/-map-type (accepted,
// not enforced). Refused, field named: $ref, definitions, dependencies, patternProperties,
// additionalItems (Kubernetes refuses them too), and allOf/anyOf/oneOf/not and
// x-kubernetes-validations (CEL), which Kubernetes serves and this server does not yet.
//
// Errors are worded as Kubernetes words them ("spec.replicas: Invalid value: \"string\":
// spec.replicas in body must be of type integer: \"string\""). Patterns are RE2, the syntax
// and linear-time matching of Go's regexp that Kubernetes uses: libstdc++'s std::regex
// recursed per character and per nested group, and a CRD pattern of 30 nested groups crashed
// the server on a 4,096-byte string (stack overflow). Strings longer than kMaxPatternInput are
// still refused before matching, to bound each match's time.
//
// Depth: schemas and objects are parsed with common/json_parse.h's limit, and the walks
// below recurse once per schema level (never deeper than the schema), refusing past it.
//
// Pure; a CustomResourceSchema is immutable after Compile and thread-safe.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <re2/re2.h>
#include <string>
#include <vector>

#include "common/field_error.h"
#include "common/status.h"

namespace meridian::apiserver::crd {

// The longest string a `pattern` is matched against.
inline constexpr size_t kMaxPatternInput = 4096;

// Appends every reason `schema` (at `path`, e.g.
// "spec.versions[0].schema.openAPIV3Schema") is not a structural schema, with Kubernetes'
// paths below it ("...properties[spec].type: Required value: must not be empty for specified
// object fields").
void ValidateStructuralSchema(const nlohmann::json& schema, const std::string& path,
                              FieldErrors* errors);

class CustomResourceSchema {
 public:
  // `schema` must have passed ValidateStructuralSchema; kInvalidArgument otherwise (a
  // pattern that does not compile, a schema that is not an object).
  static StatusOr<std::shared_ptr<const CustomResourceSchema>> Compile(
      const nlohmann::json& schema);

  // Drops the fields the schema does not declare (Kubernetes' structural pruning: kept are
  // apiVersion, kind and metadata at the root and in embedded resources, everything under
  // x-kubernetes-preserve-unknown-fields, and the keys of additionalProperties maps); returns
  // the dotted paths of what was dropped, in document order. With `strict` nothing is
  // dropped: the paths are what Strict field validation refuses.
  std::vector<std::string> PruneUnknownFields(nlohmann::json* object, bool strict) const;

  // Every problem of `object` against the schema (after pruning). apiVersion, kind and
  // metadata at the root are left to the server's own checks.
  FieldErrors Validate(const nlohmann::json& object) const;

  const nlohmann::json& schema() const { return schema_; }

 private:
  CustomResourceSchema() = default;
  void Prune(const nlohmann::json& schema, nlohmann::json& value, const std::string& path,
             bool root, bool strict, int depth, std::vector<std::string>* dropped) const;
  void Check(const nlohmann::json& schema, const nlohmann::json& value, const std::string& path,
             int depth, FieldErrors* errors) const;

  nlohmann::json schema_;
  // Every `pattern` in the schema, compiled (RE2 objects are neither copied nor moved).
  std::map<std::string, std::unique_ptr<const re2::RE2>> patterns_;
};

}  // namespace meridian::apiserver::crd
