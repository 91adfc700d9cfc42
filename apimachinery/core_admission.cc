#include "apimachinery/core_admission.h"

#include "common/base64.h"

namespace meridian::apimachinery {
namespace {

using nlohmann::json;

bool IsCoreSecret(const AdmissionAttributes& attrs) {
  return attrs.resource->group.empty() && attrs.resource->plural == "secrets" &&
         attrs.subresource.empty();
}

}  // namespace

void InstallCoreAdmission(ObjectService& service) {
  service.AddMutatingAdmission([](const AdmissionAttributes& attrs, json* object) {
    if (!IsCoreSecret(attrs) || !object->is_object()) return Status::Ok();
    auto string_data = object->find("stringData");
    if (string_data != object->end()) {
      if (string_data->is_object()) {
        json& data = (*object)["data"];
        if (!data.is_object()) data = json::object();
        for (const auto& [key, value] : string_data->items()) {
          if (!value.is_string()) {
            return InvalidArgumentError("stringData." + key + ": must be a string");
          }
          data[key] = Base64StdEncode(value.get<std::string>());
        }
      } else if (!string_data->is_null()) {
        return InvalidArgumentError("stringData: must be an object of strings");
      }
      object->erase("stringData");
    }
    if (!object->contains("type") || (*object)["type"].is_null()) (*object)["type"] = "Opaque";
    return Status::Ok();
  });
  service.AddValidatingAdmission(
      [](const AdmissionAttributes& attrs, const json& object, FieldErrors* errors) {
        if (attrs.operation == Operation::kDelete || !IsCoreSecret(attrs)) return Status::Ok();
        auto data = object.find("data");
        if (data == object.end() || data->is_null()) return Status::Ok();
        if (!data->is_object()) {
          errors->push_back({"data", "must be an object of base64 strings"});
          return Status::Ok();
        }
        for (const auto& [key, value] : data->items()) {
          if (!value.is_string() || !Base64Decode(value.get<std::string>())) {
            errors->push_back({"data[" + key + "]", "must be base64-encoded"});
          }
        }
        return Status::Ok();
      });
}

}  // namespace meridian::apimachinery
