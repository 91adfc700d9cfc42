// Schemas a member serves in its own OpenAPI v2 document (GET /openapi/v2, JSON), compiled
// into a compact form, and strict validation of an object against them: unknown fields,
// wrong types, missing required fields and values outside an enum, each with its path, in the
// wording of api/template_schema.h ("spec.template.spec.replicaz: unknown field \"replicaz\"").
//
// Why a member's document and not only the built-in table: CRDs (kube-apiserver publishes a
// CRD's structural schema in /openapi/v2 since 1.16) and version differences (a field a newer
// Kubernetes added) are covered by what the member really serves.
//
// What is kept (bounded): the definitions of every kind the document tags with
// x-kubernetes-group-version-kind (lists and the meta.k8s.io kinds left out) and the
// definitions they reach through $ref, each trimmed to the keywords validation reads (type,
// format, properties, additionalProperties, items, required, enum, $ref and the
// x-kubernetes-int-or-string / preserve-unknown-fields / embedded-resource extensions).
// Descriptions, which are most of the document's bytes, are dropped: kube-apiserver 1.20's
// ~3 MB document compiles to a few hundred KB. A document with more than kMaxDefinitions
// definitions is refused.
//
// Validation rules, as kube-apiserver decodes with fieldValidation=Strict: an object with
// `properties` knows only those fields (plus apiVersion/kind/metadata when it is an embedded
// resource), unless it preserves unknown fields; an object without `properties` is a map of
// `additionalProperties` or free-form; null is absent; an integer is a number; a Quantity
// (io.k8s.apimachinery.pkg.api.resource.Quantity) is a string or a number; int-or-string is
// either. Immutable after construction; thread-safe.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/field_error.h"
#include "common/status.h"

namespace meridian::api {

class OpenApiSchemas {
 public:
  static constexpr size_t kMaxDefinitions = 20'000;

  // Compiles a /openapi/v2 document. kInvalidArgument when it is not an object with a
  // `definitions` object, or has more than kMaxDefinitions definitions.
  static StatusOr<std::shared_ptr<const OpenApiSchemas>> FromDocument(
      const nlohmann::json& document);

  // True when the document has a schema for (apiVersion "apps/v1" or "v1", kind).
  bool Has(const std::string& api_version, const std::string& kind) const;

  // Appends every problem of `object` (whose apiVersion/kind select the schema) to `errors`,
  // paths under `path`. Returns false (and appends nothing) when there is no schema for it.
  bool Validate(const nlohmann::json& object, const std::string& path, FieldErrors* errors) const;

  // "apps/v1 Deployment", ...: the kinds with a schema, sorted.
  std::vector<std::string> Kinds() const;
  size_t definition_count() const { return definitions_.size(); }
  // The compact form's bytes as JSON text (what a caller may bound or report).
  size_t compact_bytes() const { return compact_bytes_; }
  // A hash of the compact form: equal documents (members of one version) compare equal, so a
  // cache can keep one copy.
  const std::string& digest() const { return digest_; }

 private:
  OpenApiSchemas() = default;
  void Check(const nlohmann::json& schema, const nlohmann::json& value, const std::string& path,
             int ref_hops, FieldErrors* errors) const;

  std::map<std::string, std::string> kinds_;           // "apps/v1 Deployment" -> definition
  std::map<std::string, nlohmann::json> definitions_;  // trimmed
  size_t compact_bytes_ = 0;
  std::string digest_;
};

}  // namespace meridian::api
