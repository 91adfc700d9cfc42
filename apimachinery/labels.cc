#include "apimachinery/labels.h"

#include <algorithm>
#include <cctype>

namespace meridian::apimachinery {
namespace {

using Op = LabelRequirement::Operator;

const char* OperatorName(Op op) {
  switch (op) {
    case Op::kIn: return "In";
    case Op::kNotIn: return "NotIn";
    case Op::kExists: return "Exists";
    case Op::kDoesNotExist: return "DoesNotExist";
  }
  return "In";
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool IsQualifiedNamePart(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsNameChar) &&
         std::isalnum(static_cast<unsigned char>(s.front())) &&
         std::isalnum(static_cast<unsigned char>(s.back()));
}

constexpr const char* kQualifiedNameRegexMsg =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits on commas that are not inside parentheses.
StatusOr<std::vector<std::string_view>> SplitRequirements(std::string_view text) {
  std::vector<std::string_view> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || (text[i] == ',' && depth == 0)) {
      parts.push_back(Trim(text.substr(start, i - start)));
      start = i + 1;
    } else if (text[i] == '(') {
      if (++depth > 1) return InvalidArgumentError("label selector: nested '('");
    } else if (text[i] == ')') {
      if (--depth < 0) return InvalidArgumentError("label selector: unbalanced ')'");
    }
  }
  if (depth != 0) return InvalidArgumentError("label selector: unbalanced '('");
  return parts;
}

StatusOr<LabelRequirement> ParseRequirement(std::string_view part) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("label selector requirement \"" + std::string(part) + "\": " + why);
  };
  LabelRequirement req;
  if (part.empty()) return bad("empty requirement");
  if (part.front() == '!') {
    req.key = std::string(Trim(part.substr(1)));
    req.op = Op::kDoesNotExist;
  } else if (auto pos = part.find("!="); pos != std::string_view::npos) {
    req.key = std::string(Trim(part.substr(0, pos)));
    req.op = Op::kNotIn;
    req.values = {std::string(Trim(part.substr(pos + 2)))};
  } else if (auto eq = part.find('='); eq != std::string_view::npos) {
    size_t value_start = eq + 1;
    if (value_start < part.size() && part[value_start] == '=') ++value_start;
    req.key = std::string(Trim(part.substr(0, eq)));
    req.op = Op::kIn;
    req.values = {std::string(Trim(part.substr(value_start)))};
  } else if (auto paren = part.find('('); paren != std::string_view::npos) {
    std::string_view head = Trim(part.substr(0, paren));
    size_t space = head.find_last_of(" \t");
    if (space == std::string_view::npos) return bad("expected \"key in (...)\" or \"key notin (...)\"");
    std::string_view op = Trim(head.substr(space + 1));
    req.key = std::string(Trim(head.substr(0, space)));
    if (op == "in") {
      req.op = Op::kIn;
    } else if (op == "notin") {
      req.op = Op::kNotIn;
    } else {
      return bad("unknown operator \"" + std::string(op) + "\"");
    }
    if (part.back() != ')') return bad("missing ')'");
    std::string_view inner = part.substr(paren + 1, part.size() - paren - 2);
    if (Trim(inner).empty()) return bad("a set needs at least one value");
    // As Kubernetes' parser: an empty element is the empty value ("k in (a,)" = {a, ""}), so
    // a set holding "" can be written, and ToString's output always parses back.
    size_t start = 0;
    for (size_t i = 0; i <= inner.size(); ++i) {
      if (i == inner.size() || inner[i] == ',') {
        req.values.emplace_back(Trim(inner.substr(start, i - start)));
        start = i + 1;
      }
    }
  } else {
    req.key = std::string(part);
    req.op = Op::kExists;
  }
  if (std::string why = ValidateLabelKey(req.key); !why.empty()) return bad(why);
  for (const std::string& v : req.values) {
    if (std::string why = ValidateLabelValue(v); !why.empty()) return bad(why);
  }
  return req;
}

}  // namespace

bool LabelRequirement::Matches(const Labels& labels) const {
  auto it = labels.find(key);
  switch (op) {
    case Op::kExists: return it != labels.end();
    case Op::kDoesNotExist: return it == labels.end();
    case Op::kIn:
      return it != labels.end() &&
             std::find(values.begin(), values.end(), it->second) != values.end();
    case Op::kNotIn:
      return it == labels.end() ||
             std::find(values.begin(), values.end(), it->second) == values.end();
  }
  return false;
}

bool LabelSelector::Matches(const Labels& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return std::all_of(match_expressions.begin(), match_expressions.end(),
                     [&](const LabelRequirement& r) { return r.Matches(labels); });
}

std::string LabelSelector::ToString() const {
  std::vector<std::string> parts;
  for (const auto& [k, v] : match_labels) parts.push_back(k + "=" + v);
  for (const LabelRequirement& r : match_expressions) {
    auto joined = [&] {
      std::string s;
      for (size_t i = 0; i < r.values.size(); ++i) s += (i == 0 ? "" : ",") + r.values[i];
      return s;
    };
    switch (r.op) {
      case Op::kExists: parts.push_back(r.key); break;
      case Op::kDoesNotExist: parts.push_back("!" + r.key); break;
      // One value as k=v / k!=v: "k in ()" would not parse when that value is "".
      case Op::kIn:
        parts.push_back(r.values.size() == 1 ? r.key + "=" + r.values[0]
                                             : r.key + " in (" + joined() + ")");
        break;
      case Op::kNotIn:
        parts.push_back(r.values.size() == 1 ? r.key + "!=" + r.values[0]
                                             : r.key + " notin (" + joined() + ")");
        break;
    }
  }
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

StatusOr<LabelSelector> ParseLabelSelector(std::string_view text) {
  LabelSelector selector;
  if (Trim(text).empty()) return selector;
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string_view> parts, SplitRequirements(text));
  for (std::string_view part : parts) {
    MERIDIAN_ASSIGN_OR_RETURN(LabelRequirement req, ParseRequirement(part));
    selector.match_expressions.push_back(std::move(req));
  }
  return selector;
}

LabelSelector DecodeLabelSelector(const nlohmann::json& j, FieldErrors* errors) {
  LabelSelector out;
  if (j.is_null()) return out;
  if (!j.is_object()) {
    errors->push_back({"", "must be an object"});
    return out;
  }
  for (const auto& [field, value] : j.items()) {
    if (field == "matchLabels") {
      if (value.is_null()) continue;
      if (!value.is_object()) {
        errors->push_back({"matchLabels", "must be an object of strings"});
        continue;
      }
      for (const auto& [k, v] : value.items()) {
        std::string path = "matchLabels." + k;
        if (std::string why = ValidateLabelKey(k); !why.empty()) errors->push_back({path, why});
        if (!v.is_string()) {
          errors->push_back({path, "must be a string"});
          continue;
        }
        if (std::string why = ValidateLabelValue(v.get<std::string>()); !why.empty()) {
          errors->push_back({path, why});
        }
        out.match_labels[k] = v.get<std::string>();
      }
    } else if (field == "matchExpressions") {
      if (value.is_null()) continue;
      if (!value.is_array()) {
        errors->push_back({"matchExpressions", "must be a list"});
        continue;
      }
      for (size_t i = 0; i < value.size(); ++i) {
        const nlohmann::json& e = value[i];
        std::string path = "matchExpressions[" + std::to_string(i) + "]";
        if (!e.is_object()) {
          errors->push_back({path, "must be an object"});
          continue;
        }
        LabelRequirement req;
        for (const auto& [ef, ev] : e.items()) {
          if (ef != "key" && ef != "operator" && ef != "values") {
            errors->push_back({path + "." + ef, "unknown field"});
          }
        }
        if (!e.contains("key") || !e["key"].is_string()) {
          errors->push_back({path + ".key", "required string"});
        } else {
          req.key = e["key"].get<std::string>();
          if (std::string why = ValidateLabelKey(req.key); !why.empty()) {
            errors->push_back({path + ".key", why});
          }
        }
        std::string op = e.value("operator", nlohmann::json()).is_string()
                             ? e["operator"].get<std::string>()
                             : std::string();
        if (op == "In") {
          req.op = Op::kIn;
        } else if (op == "NotIn") {
          req.op = Op::kNotIn;
        } else if (op == "Exists") {
          req.op = Op::kExists;
        } else if (op == "DoesNotExist") {
          req.op = Op::kDoesNotExist;
        } else {
          errors->push_back({path + ".operator", "must be one of In, NotIn, Exists, DoesNotExist"});
          out.match_expressions.push_back(std::move(req));
          continue;  // the values cannot be judged without a valid operator
        }
        if (e.contains("values") && !e["values"].is_null()) {
          if (!e["values"].is_array()) {
            errors->push_back({path + ".values", "must be a list of strings"});
          } else {
            for (const auto& v : e["values"]) {
              if (v.is_string()) {
                req.values.push_back(v.get<std::string>());
              } else {
                errors->push_back({path + ".values", "must be a list of strings"});
                break;
              }
            }
          }
        }
        bool set_op = req.op == Op::kIn || req.op == Op::kNotIn;
        if (set_op && req.values.empty()) {
          errors->push_back({path + ".values", "must be non-empty for In and NotIn"});
        }
        if (!set_op && !req.values.empty()) {
          errors->push_back({path + ".values", "must be empty for Exists and DoesNotExist"});
        }
        out.match_expressions.push_back(std::move(req));
      }
    } else {
      errors->push_back({field, "unknown field"});
    }
  }
  return out;
}

nlohmann::json EncodeLabelSelector(const LabelSelector& selector) {
  nlohmann::json j = nlohmann::json::object();
  if (!selector.match_labels.empty()) j["matchLabels"] = selector.match_labels;
  if (!selector.match_expressions.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const LabelRequirement& r : selector.match_expressions) {
      nlohmann::json e = {{"key", r.key}, {"operator", OperatorName(r.op)}};
      if (!r.values.empty()) e["values"] = r.values;
      list.push_back(std::move(e));
    }
    j["matchExpressions"] = std::move(list);
  }
  return j;
}

std::vector<std::string> LabelKeyErrors(std::string_view key) {
  // k8s.io/apimachinery/pkg/util/validation IsQualifiedName, message for message.
  std::vector<std::string> errs;
  std::string_view name = key;
  const size_t slashes = static_cast<size_t>(std::count(key.begin(), key.end(), '/'));
  if (slashes > 1) {
    errs.push_back(std::string("a qualified name ") + kQualifiedNameRegexMsg +
                   " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
    return errs;
  }
  if (slashes == 1) {
    const size_t slash = key.find('/');
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      for (const std::string& m : DnsSubdomainErrors(prefix)) errs.push_back("prefix part " + m);
    }
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part must be no more than 63 characters");
  }
  if (!IsQualifiedNamePart(name)) {
    errs.push_back(std::string("name part ") + kQualifiedNameRegexMsg);
  }
  return errs;
}

std::vector<std::string> LabelValueErrors(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back("must be no more than 63 characters");
  if (!value.empty() && !IsQualifiedNamePart(value)) {
    errs.push_back(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
        "'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  }
  return errs;
}

std::vector<std::string> DnsSubdomainErrors(std::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > 253) errs.push_back("must be no more than 253 characters");
  bool ok = !value.empty();
  size_t start = 0;
  while (ok) {
    size_t dot = value.find('.', start);
    std::string_view part =
        value.substr(start, dot == std::string_view::npos ? value.npos : dot - start);
    ok = !part.empty() && IsLowerAlnum(part.front()) && IsLowerAlnum(part.back()) &&
         std::all_of(part.begin(), part.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (!ok) {
    errs.push_back(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        "regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  }
  return errs;
}

std::string ValidateLabelKey(std::string_view key) {
  std::vector<std::string> errs = LabelKeyErrors(key);
  return errs.empty() ? "" : errs.front();
}

std::string ValidateLabelValue(std::string_view value) {
  std::vector<std::string> errs = LabelValueErrors(value);
  return errs.empty() ? "" : errs.front();
}

Labels LabelsOf(const nlohmann::json& object) {
  Labels labels;
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return labels;
  auto l = meta->find("labels");
  if (l == meta->end() || !l->is_object()) return labels;
  for (const auto& [k, v] : l->items()) {
    if (v.is_string()) labels[k] = v.get<std::string>();
  }
  return labels;
}

}  // namespace meridian::apimachinery
