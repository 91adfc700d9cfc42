#include "federation-apiserver/encryption_config.h"

#include <fstream>
#include <set>
#include <sstream>

#include "api/yaml.h"
#include "common/base64.h"

namespace meridian::apiserver {
namespace {

using apimachinery::ProviderChain;
using apimachinery::ResourceType;
using apimachinery::ValueTransformer;
using nlohmann::json;

// Every field not in `known` is an error naming it (a typo must not silently disable
// encryption).
Status CheckFields(const json& object, const std::string& path, std::set<std::string> known,
                   const std::string& file) {
  if (!object.is_object()) {
    return InvalidArgumentError(file + ": " + path + ": must be an object");
  }
  for (const auto& [name, value] : object.items()) {
    if (!known.count(name)) {
      return InvalidArgumentError(file + ": " + (path.empty() ? "" : path + ".") + name +
                                  ": unknown field");
    }
  }
  return Status::Ok();
}

StatusOr<std::shared_ptr<const ValueTransformer>> ParseAesGcmKey(const json& key,
                                                                 const std::string& path,
                                                                 std::set<std::string>* names,
                                                                 const std::string& file) {
  MERIDIAN_RETURN_IF_ERROR(CheckFields(key, path, {"name", "secret"}, file));
  if (!key.contains("name") || !key["name"].is_string() || key["name"].get<std::string>().empty()) {
    return InvalidArgumentError(file + ": " + path + ".name: required");
  }
  const std::string name = key["name"].get<std::string>();
  if (!names->insert(name).second) {
    return InvalidArgumentError(file + ": " + path + ".name: duplicate key name \"" + name + "\"");
  }
  if (!key.contains("secret") || !key["secret"].is_string()) {
    return InvalidArgumentError(file + ": " + path + ".secret: required");
  }
  std::optional<std::string> secret = Base64Decode(key["secret"].get<std::string>());
  if (!secret) return InvalidArgumentError(file + ": " + path + ".secret: not valid base64");
  StatusOr<std::unique_ptr<ValueTransformer>> t = apimachinery::NewAesGcmTransformer(name, *secret);
  if (!t.ok()) return InvalidArgumentError(file + ": " + path + "." + t.status().message());
  return std::shared_ptr<const ValueTransformer>(std::move(t).value());
}

StatusOr<ResourceType> ParseResourceName(const json& value, const std::string& path,
                                         const std::string& file) {
  if (!value.is_string() || value.get<std::string>().empty()) {
    return InvalidArgumentError(file + ": " + path + ": must be a resource name such as secrets");
  }
  const std::string text = value.get<std::string>();
  if (text.find('*') != std::string::npos) {
    return InvalidArgumentError(file + ": " + path + ": \"" + text +
                                "\": wildcards are not supported; name each resource");
  }
  size_t dot = text.find('.');
  if (dot == std::string::npos) return ResourceType{"", text};
  return ResourceType{text.substr(dot + 1), text.substr(0, dot)};
}

}  // namespace

StatusOr<std::map<ResourceType, ProviderChain>> ParseEncryptionConfiguration(
    std::string_view text, const std::string& file) {
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<api::YamlDocument> docs,
                            api::ParseYamlDocuments(text, file));
  if (docs.size() != 1) {
    return InvalidArgumentError(file + ": expected one EncryptionConfiguration document, found " +
                                std::to_string(docs.size()));
  }
  const json& doc = docs[0].value;
  MERIDIAN_RETURN_IF_ERROR(CheckFields(doc, "", {"apiVersion", "kind", "resources"}, file));
  if (doc.value("apiVersion", json()) != "apiserver.config.k8s.io/v1") {
    return InvalidArgumentError(file + ": apiVersion: must be apiserver.config.k8s.io/v1");
  }
  if (doc.value("kind", json()) != "EncryptionConfiguration") {
    return InvalidArgumentError(file + ": kind: must be EncryptionConfiguration");
  }
  if (!doc.contains("resources") || !doc["resources"].is_array() || doc["resources"].empty()) {
    return InvalidArgumentError(file + ": resources: must list at least one entry");
  }
  std::map<ResourceType, ProviderChain> out;
  for (size_t i = 0; i < doc["resources"].size(); ++i) {
    const json& entry = doc["resources"][i];
    const std::string path = "resources[" + std::to_string(i) + "]";
    MERIDIAN_RETURN_IF_ERROR(CheckFields(entry, path, {"resources", "providers"}, file));
    if (!entry.contains("resources") || !entry["resources"].is_array() ||
        entry["resources"].empty()) {
      return InvalidArgumentError(file + ": " + path + ".resources: must list at least one");
    }
    if (!entry.contains("providers") || !entry["providers"].is_array() ||
        entry["providers"].empty()) {
      return InvalidArgumentError(file + ": " + path + ".providers: must list at least one");
    }
    std::vector<std::shared_ptr<const ValueTransformer>> providers;
    std::set<std::string> key_names;
    for (size_t p = 0; p < entry["providers"].size(); ++p) {
      const json& provider = entry["providers"][p];
      const std::string ppath = path + ".providers[" + std::to_string(p) + "]";
      if (!provider.is_object() || provider.size() != 1) {
        return InvalidArgumentError(file + ": " + ppath +
                                    ": must name exactly one provider (aesgcm or identity)");
      }
      const std::string kind = provider.begin().key();
      const json& body = provider.begin().value();
      if (kind == "identity") {
        if (!body.is_null())
          MERIDIAN_RETURN_IF_ERROR(CheckFields(body, ppath + ".identity", {}, file));
        providers.push_back(apimachinery::NewIdentityTransformer());
      } else if (kind == "aesgcm") {
        MERIDIAN_RETURN_IF_ERROR(CheckFields(body, ppath + ".aesgcm", {"keys"}, file));
        if (!body.contains("keys") || !body["keys"].is_array() || body["keys"].empty()) {
          return InvalidArgumentError(file + ": " + ppath +
                                      ".aesgcm.keys: must list at least one key");
        }
        for (size_t k = 0; k < body["keys"].size(); ++k) {
          MERIDIAN_ASSIGN_OR_RETURN(
              providers.emplace_back(),
              ParseAesGcmKey(body["keys"][k], ppath + ".aesgcm.keys[" + std::to_string(k) + "]",
                             &key_names, file));
        }
      } else if (kind == "aescbc" || kind == "secretbox" || kind == "kms") {
        return InvalidArgumentError(
            file + ": " + ppath + "." + kind +
            ": provider not supported by Meridian (use aesgcm or identity)");
      } else {
        return InvalidArgumentError(file + ": " + ppath + "." + kind +
                                    ": unknown provider (use aesgcm or identity)");
      }
    }
    MERIDIAN_ASSIGN_OR_RETURN(ProviderChain chain, ProviderChain::Create(std::move(providers)));
    for (size_t r = 0; r < entry["resources"].size(); ++r) {
      const std::string rpath = path + ".resources[" + std::to_string(r) + "]";
      MERIDIAN_ASSIGN_OR_RETURN(ResourceType type,
                                ParseResourceName(entry["resources"][r], rpath, file));
      if (!out.emplace(type, chain).second) {
        return InvalidArgumentError(file + ": " + rpath + ": \"" + type.ToString() +
                                    "\" is configured twice");
      }
    }
  }
  return out;
}

StatusOr<std::map<ResourceType, ProviderChain>> LoadEncryptionConfiguration(
    const std::string& file) {
  std::ifstream in(file);
  if (!in) return InvalidArgumentError(file + ": cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseEncryptionConfiguration(ss.str(), file);
}

std::map<ResourceType, ProviderChain> DefaultEncryption() {
  std::map<ResourceType, ProviderChain> out;
  std::vector<std::shared_ptr<const ValueTransformer>> identity;
  identity.push_back(apimachinery::NewIdentityTransformer());
  out.emplace(ResourceType{"", "secrets"}, *ProviderChain::Create(std::move(identity)));
  return out;
}

}  // namespace meridian::apiserver
