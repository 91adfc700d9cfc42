#include "membersim/field_validation.h"

#include <nlohmann/json.hpp>
#include <set>

#include "api/openapi_schema.h"
#include "api/template_schema.h"
#include "common/field_error.h"

namespace meridian::membersim {
namespace {

using nlohmann::json;

const api::OpenApiSchemas& Schemas() {
  static const std::shared_ptr<const api::OpenApiSchemas> schemas =
      *api::OpenApiSchemas::FromDocument(api::BuiltinOpenApiV2Document());
  return *schemas;
}

// Finds duplicate keys while parsing (nlohmann keeps the last value silently, as Go's
// decoder does without strict mode).
class DuplicateFinder final : public nlohmann::json_sax<json> {
 public:
  std::vector<std::string> duplicates;

  bool null() override { return Value(); }
  bool boolean(bool) override { return Value(); }
  bool number_integer(number_integer_t) override { return Value(); }
  bool number_unsigned(number_unsigned_t) override { return Value(); }
  bool number_float(number_float_t, const string_t&) override { return Value(); }
  bool string(string_t&) override { return Value(); }
  bool binary(binary_t&) override { return Value(); }
  bool start_object(std::size_t) override { return Open(true); }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(false); }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    Frame& f = stack_.back();
    if (!f.keys.insert(k).second) duplicates.push_back(JoinPath(f.path, k));
    f.key = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  struct Frame {
    bool object;
    std::string path;
    std::set<std::string> keys;
    std::string key;
    size_t index = 0;
  };
  // The path of the value starting now (and moves an array's index on).
  std::string Here() {
    if (stack_.empty()) return "";
    Frame& f = stack_.back();
    if (f.object) return JoinPath(f.path, f.key);
    return f.path + "[" + std::to_string(f.index++) + "]";
  }
  bool Value() {
    Here();
    return true;
  }
  bool Open(bool object) {
    std::string path = Here();
    stack_.push_back(Frame{object, std::move(path), {}, "", 0});
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }
  std::vector<Frame> stack_;
};

}  // namespace

StatusOr<FieldValidation> ParseFieldValidation(const std::string& value) {
  if (value.empty() || value == "Warn") return FieldValidation::kWarn;
  if (value == "Strict") return FieldValidation::kStrict;
  if (value == "Ignore") return FieldValidation::kIgnore;
  return InvalidArgumentError("fieldValidation parameter unsupported: " + value);
}

std::vector<std::string> FieldProblems(const std::string& body, const std::string& api_version,
                                       const std::string& kind, bool json_patch) {
  DuplicateFinder finder;
  if (!json::sax_parse(body, &finder)) return {};
  std::vector<std::string> out;
  if (!json_patch) {
    json object = json::parse(body, nullptr, false);
    if (object.is_object()) {
      object["apiVersion"] = api_version;  // a patch body need not say
      object["kind"] = kind;
      FieldErrors errors;
      Schemas().Validate(object, "", &errors);
      for (const FieldError& e : errors) {
        if (e.message.rfind("unknown field", 0) == 0) {
          out.push_back("unknown field \"" + e.path + "\"");
        }
      }
    }
  }
  for (const std::string& d : finder.duplicates) out.push_back("duplicate field \"" + d + "\"");
  return out;
}

Status StrictDecodingError(const std::string& kind, const std::string& version,
                           const std::vector<std::string>& problems) {
  std::string list;
  for (const std::string& p : problems) list += (list.empty() ? "" : ", ") + p;
  return InvalidArgumentError(kind + " in version \"" + version + "\" cannot be handled as a " +
                              kind + ": strict decoding error: " + list);
}

std::string WarningHeader(const std::vector<std::string>& problems) {
  std::string out;
  for (const std::string& p : problems) {
    out += (out.empty() ? "" : ", ") + json(p).dump().insert(0, "299 - ");
  }
  return out;
}

}  // namespace meridian::membersim
