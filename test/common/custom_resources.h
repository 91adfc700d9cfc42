// The CustomResourceDefinitions tests register with a federation or a member (issue 18).
// Header-only, like the other test helpers.
#pragma once

#include <nlohmann/json.hpp>

#include <cctype>
#include <string>

namespace meridian::test_env {

// A CustomResourceDefinition of example.com/v1 `kind` (namespaced; plural "<kind>s" and
// singular lower-cased) whose spec has `spec_properties` (an OpenAPI `properties` object).
// With `status_subresource`: a /status subresource and a free-form status.
inline nlohmann::json ExampleCustomResourceDefinition(const std::string& kind,
                                                      nlohmann::json spec_properties,
                                                      bool status_subresource = false) {
  using nlohmann::json;
  std::string lower = kind;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  json properties = {{"spec", {{"type", "object"}, {"properties", std::move(spec_properties)}}}};
  json version = {{"name", "v1"}, {"served", true}, {"storage", true}};
  if (status_subresource) {
    properties["status"] = {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
    version["subresources"] = {{"status", json::object()}};
  }
  version["schema"] = {{"openAPIV3Schema", {{"type", "object"}, {"properties", properties}}}};
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", lower + "s.example.com"}}},
          {"spec",
           {{"group", "example.com"},
            {"scope", "Namespaced"},
            {"names", {{"plural", lower + "s"}, {"singular", lower}, {"kind", kind}}},
            {"versions", json::array({version})}}}};
}

}  // namespace meridian::test_env
