#include "apimachinery/table.h"

#include <cctype>
#include <cstdio>

namespace meridian::apimachinery {

using nlohmann::json;

namespace {

// One step of a parsed path.
struct Step {
  enum class Kind { kField, kIndex, kAll, kFilter } kind = Kind::kField;
  std::string field;         // kField
  int index = 0;             // kIndex
  std::string filter_path;   // kFilter: "@.type" -> "type" (dotted)
  std::string filter_value;  // kFilter: compared as string
  bool filter_ne = false;
};

bool ParsePath(std::string p, std::vector<Step>* steps) {
  if (p.size() >= 2 && p.front() == '{' && p.back() == '}') p = p.substr(1, p.size() - 2);
  size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '.') {
      ++i;
      size_t j = i;
      while (j < p.size() && p[j] != '.' && p[j] != '[') ++j;
      if (j == i) return false;
      steps->push_back({Step::Kind::kField, p.substr(i, j - i)});
      i = j;
    } else if (p[i] == '[') {
      size_t close = p.find(']', i);
      if (p.compare(i, 3, "[?(") == 0) close = p.find(")]", i) + 1;
      if (close == std::string::npos || close == 0) return false;
      std::string inner = p.substr(i + 1, close - i - 1);
      i = close + 1;
      if (inner == "*") {
        steps->push_back({Step::Kind::kAll});
      } else if (inner.size() > 3 && inner[0] == '?' && inner[1] == '(') {
        std::string expr = inner.substr(2, inner.size() - 3);  // @.type=="Ready"
        bool ne = false;
        size_t op = expr.find("==");
        if (op == std::string::npos) {
          op = expr.find("!=");
          ne = true;
        }
        if (op == std::string::npos || expr.rfind("@.", 0) != 0) return false;
        Step s{Step::Kind::kFilter};
        s.filter_path = expr.substr(2, op - 2);
        std::string v = expr.substr(op + 2);
        if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
          v = v.substr(1, v.size() - 2);
        }
        s.filter_value = v;
        s.filter_ne = ne;
        steps->push_back(s);
      } else {
        if (inner.empty()) return false;
        for (char c : inner) {
          if (!std::isdigit(static_cast<unsigned char>(c)) && c != '-') return false;
        }
        Step s{Step::Kind::kIndex};
        s.index = std::stoi(inner);
        steps->push_back(s);
      }
    } else {
      // A leading name without a dot ("spec.replicas") is accepted too.
      size_t j = i;
      while (j < p.size() && p[j] != '.' && p[j] != '[') ++j;
      steps->push_back({Step::Kind::kField, p.substr(i, j - i)});
      i = j;
    }
  }
  return true;
}

std::string ScalarString(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

const json* Dotted(const json& o, const std::string& dotted) {
  const json* cur = &o;
  size_t start = 0;
  while (start <= dotted.size()) {
    size_t dot = dotted.find('.', start);
    std::string part = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object() || !cur->contains(part)) return nullptr;
    cur = &(*cur)[part];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

json Cell(const PrinterColumn& col, const json& object, Timestamp now) {
  std::vector<json> found = EvaluateJsonPath(object, col.json_path);
  if (found.empty() || found[0].is_null()) return json();
  const json& v = found[0];
  if (col.type == "date") {
    if (!v.is_string()) return json();
    Timestamp t;
    if (!ParseRfc3339(v.get<std::string>(), &t)) return "<invalid>";
    return HumanDuration(std::chrono::duration_cast<Duration>(now - t));
  }
  if (col.type == "integer") return v.is_number() ? v : json(ScalarString(v));
  if (col.type == "number") return v.is_number() ? v : json(ScalarString(v));
  if (col.type == "boolean") return v.is_boolean() ? v : json(ScalarString(v));
  if (found.size() > 1) {  // kubectl joins multiple results with commas
    std::string joined;
    for (size_t i = 0; i < found.size(); ++i) joined += (i ? "," : "") + ScalarString(found[i]);
    return joined;
  }
  if (v.is_object() || v.is_array()) return v.dump();
  return ScalarString(v);
}

}  // namespace

json ColumnCell(const PrinterColumn& column, const json& object, Timestamp now) {
  return Cell(column, object, now);
}

std::vector<json> EvaluateJsonPath(const json& object, const std::string& path) {
  std::vector<Step> steps;
  if (!ParsePath(path, &steps)) return {};
  std::vector<const json*> cur = {&object};
  for (const Step& s : steps) {
    std::vector<const json*> next;
    for (const json* c : cur) {
      switch (s.kind) {
        case Step::Kind::kField:
          if (c->is_object() && c->contains(s.field)) next.push_back(&(*c)[s.field]);
          break;
        case Step::Kind::kIndex: {
          if (!c->is_array()) break;
          int n = static_cast<int>(c->size());
          int idx = s.index < 0 ? n + s.index : s.index;
          if (idx >= 0 && idx < n) next.push_back(&(*c)[idx]);
          break;
        }
        case Step::Kind::kAll:
          if (c->is_array()) {
            for (const json& e : *c) next.push_back(&e);
          } else if (c->is_object()) {
            for (const json& e : *c) next.push_back(&e);
          }
          break;
        case Step::Kind::kFilter:
          if (!c->is_array()) break;
          for (const json& e : *c) {
            const json* v = Dotted(e, s.filter_path);
            bool eq = v != nullptr && ScalarString(*v) == s.filter_value;
            if (eq != s.filter_ne) next.push_back(&e);
          }
          break;
      }
    }
    cur = std::move(next);
  }
  std::vector<json> out;
  for (const json* c : cur) out.push_back(*c);
  return out;
}

std::string HumanDuration(Duration d) {
  long long seconds = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  char buf[64];
  if (seconds < 60 * 2) {
    std::snprintf(buf, sizeof(buf), "%llds", seconds);
    return buf;
  }
  long long minutes = seconds / 60;
  if (minutes < 10) {
    long long s = seconds % 60;
    if (s == 0) std::snprintf(buf, sizeof(buf), "%lldm", minutes);
    else std::snprintf(buf, sizeof(buf), "%lldm%llds", minutes, s);
    return buf;
  }
  if (minutes < 60 * 3) {
    std::snprintf(buf, sizeof(buf), "%lldm", minutes);
    return buf;
  }
  long long hours = minutes / 60;
  if (hours < 8) {
    long long m = minutes % 60;
    if (m == 0) std::snprintf(buf, sizeof(buf), "%lldh", hours);
    else std::snprintf(buf, sizeof(buf), "%lldh%lldm", hours, m);
    return buf;
  }
  if (hours < 48) {
    std::snprintf(buf, sizeof(buf), "%lldh", hours);
    return buf;
  }
  if (hours < 24 * 8) {
    long long h = hours % 24;
    if (h == 0) std::snprintf(buf, sizeof(buf), "%lldd", hours / 24);
    else std::snprintf(buf, sizeof(buf), "%lldd%lldh", hours / 24, h);
    return buf;
  }
  if (hours < 24 * 365 * 2) {
    std::snprintf(buf, sizeof(buf), "%lldd", hours / 24);
    return buf;
  }
  if (hours < 24 * 365 * 8) {
    long long dy = (hours / 24) % 365;
    if (dy == 0) std::snprintf(buf, sizeof(buf), "%lldy", hours / 24 / 365);
    else std::snprintf(buf, sizeof(buf), "%lldy%lldd", hours / 24 / 365, dy);
    return buf;
  }
  std::snprintf(buf, sizeof(buf), "%lldy", hours / 24 / 365);
  return buf;
}

json RenderTable(const ResourceInfo& resource, const std::vector<json>& objects,
                 const json& list_metadata, Timestamp now, TableObjects include,
                 bool with_headers) {
  std::vector<PrinterColumn> columns = resource.printer_columns;
  bool has_age = false;
  for (const PrinterColumn& c : columns) has_age = has_age || c.name == "Age";
  if (!has_age && columns.empty()) {
    columns.push_back({"Age", "date", ".metadata.creationTimestamp",
                       "CreationTimestamp is a timestamp representing the server time when this "
                       "object was created.",
                       "", 0});
  }
  json defs = json::array();
  if (with_headers) {
    defs.push_back({{"name", "Name"},
                    {"type", "string"},
                    {"format", "name"},
                    {"description", "Name must be unique within a namespace."},
                    {"priority", 0}});
    for (const PrinterColumn& c : columns) {
      defs.push_back({{"name", c.name},
                      {"type", c.type == "date" ? "string" : c.type},
                      {"format", c.format},
                      {"description", c.description},
                      {"priority", c.priority}});
    }
  }
  json rows = json::array();
  for (const json& o : objects) {
    json cells = json::array();
    cells.push_back(o.contains("metadata") ? o["metadata"].value("name", "") : "");
    if (resource.row_cells) {
      json printed = resource.row_cells(o, now);
      for (size_t i = 0; i < columns.size(); ++i) {
        cells.push_back(printed.is_array() && i < printed.size() ? printed[i] : json());
      }
    } else {
      for (const PrinterColumn& c : columns) cells.push_back(Cell(c, o, now));
    }
    json row = {{"cells", std::move(cells)}};
    if (include == TableObjects::kObject) {
      row["object"] = o;
    } else if (include == TableObjects::kMetadata) {
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", o.contains("metadata") ? o["metadata"] : json::object()}};
    }
    rows.push_back(std::move(row));
  }
  json meta = list_metadata.is_object() ? list_metadata : json::object();
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", meta},
          {"columnDefinitions", std::move(defs)},
          {"rows", std::move(rows)}};
}

}  // namespace meridian::apimachinery
