#include "cli/apply.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <istream>
#include <ostream>
#include <sstream>

#include "api/yaml.h"
#include "cli/printers.h"
#include "common/json_parse.h"

namespace meridian::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Fields the server owns; a manifest that carries them (e.g. from `get -o yaml`) must not
// overwrite them.
bool ServerOwnedMetadata(const std::string& key) {
  return key == "uid" || key == "creationTimestamp" || key == "generation" ||
         key == "managedFields" || key == "deletionTimestamp" || key == "selfLink" ||
         key == "resourceVersion" || key == "name" || key == "namespace" || key == "labels" ||
         key == "annotations";
}

// Appends a parsed value, expanding `*List` objects into their items.
void AddDocument(json value, const std::string& source, int line,
                 const std::shared_ptr<const std::string>& text, ManifestSet* out) {
  if (value.is_object() && value.contains("items") && value["items"].is_array() &&
      value.contains("kind") && value["kind"].is_string() &&
      value["kind"].get<std::string>().size() >= 4 &&
      value["kind"].get<std::string>().ends_with("List")) {
    // Items of a list share its line; their fields are not located (the text is the list's).
    for (json& item : value["items"])
      out->documents.push_back({std::move(item), source, line, nullptr});
    return;
  }
  out->documents.push_back({std::move(value), source, line, text});
}

// Rewrites "SOURCE:LINE:COL: msg" from a parse of a chunk starting at `line_offset`.
std::string ShiftLine(const std::string& message, const std::string& source, int line_offset) {
  std::string prefix = source + ":";
  if (message.rfind(prefix, 0) != 0) return message;
  size_t p = prefix.size();
  size_t end = p;
  while (end < message.size() && std::isdigit(static_cast<unsigned char>(message[end]))) ++end;
  if (end == p) return message;
  int line = std::stoi(message.substr(p, end - p));
  return prefix + std::to_string(line + line_offset) + message.substr(end);
}

bool IsDocumentSeparator(std::string_view line) {
  if (line.rfind("---", 0) != 0) return false;
  return line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r';
}

void ParseJson(std::string_view text, const std::string& source,
               const std::shared_ptr<const std::string>& shared, ManifestSet* out) {
  JsonParseError error;
  json doc = meridian::ParseJson(text, &error);
  if (!doc.is_discarded()) {
    AddDocument(std::move(doc), source, 1, shared, out);
    return;
  }
  // Locate the byte the parser stopped at as line:column.
  size_t byte = std::min<size_t>(error.offset, text.size());
  int line = 1, col = 1;
  for (size_t i = 0; i < byte; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  std::string what = error.message;
  if (what.rfind("invalid JSON: ", 0) == 0) what = what.substr(14);
  if (!error.path.empty()) what = AbbreviateJsonPath(error.path) + ": " + what;
  out->errors.push_back(fmt::format("{}:{}:{}: invalid JSON: {}", source, line, col, what));
}

}  // namespace

void ParseManifests(std::string_view text, const std::string& source, ManifestSet* out) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return;
  auto shared = std::make_shared<const std::string>(text);
  if (text[first] == '{' || text[first] == '[') {
    // JSON (kubectl accepts it too). YAML would mostly parse it, but JSON's own parser gives
    // better messages and accepts tab indentation.
    ParseJson(text, source, shared, out);
    return;
  }
  StatusOr<std::vector<api::YamlDocument>> all = api::ParseYamlDocuments(text, source);
  if (all.ok()) {
    for (api::YamlDocument& d : *all) AddDocument(std::move(d.value), source, d.line, shared, out);
    return;
  }
  // Some document is malformed: parse document by document so that the others still apply.
  std::vector<std::pair<int, std::string>> chunks;  // (line offset, text)
  std::istringstream lines{std::string(text)};
  std::string line;
  int n = 0;
  chunks.push_back({0, ""});
  while (std::getline(lines, line)) {
    if (IsDocumentSeparator(line) && n > 0) chunks.push_back({n, ""});
    chunks.back().second += line + "\n";
    ++n;
  }
  for (const auto& [offset, chunk] : chunks) {
    StatusOr<std::vector<api::YamlDocument>> docs = api::ParseYamlDocuments(chunk, source);
    if (!docs.ok()) {
      out->errors.push_back(ShiftLine(docs.status().message(), source, offset));
      continue;
    }
    for (api::YamlDocument& d : *docs)
      AddDocument(std::move(d.value), source, d.line + offset, shared, out);
  }
}

int FieldLine(const ManifestDocument& doc, const std::string& path) {
  if (!doc.text || path.empty()) return 0;
  // The keys of the path, without list indices: "a.b[0].c" -> a, b, c.
  std::vector<std::string> keys;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (size_t bracket = part.find('['); bracket != std::string::npos)
      part = part.substr(0, bracket);
    if (!part.empty()) keys.push_back(part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (keys.empty()) return 0;
  // The document's lines, from its first line to the next "---".
  std::vector<std::string_view> lines;
  std::string_view text = *doc.text;
  size_t pos = 0;
  for (int n = 1; pos <= text.size(); ++n) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (n >= doc.line) {
      if (n > doc.line && IsDocumentSeparator(line)) break;
      lines.push_back(line);
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  // Is `key` written as a mapping key at `line[col]` (plain, or quoted as in JSON)?
  auto key_at = [](std::string_view line, size_t col, const std::string& key) -> bool {
    if (col > 0) {
      char before = line[col - 1];
      if (before != ' ' && before != '\t' && before != '{' && before != ',' && before != '"' &&
          before != '\'') {
        return false;
      }
    }
    size_t after = col + key.size();
    if (after < line.size() && (line[after] == '"' || line[after] == '\'')) ++after;
    while (after < line.size() && (line[after] == ' ' || line[after] == '\t')) ++after;
    return after < line.size() && line[after] == ':';
  };
  // Where a line's content starts (-1 for blank and comment lines).
  auto indent_of = [](std::string_view line) -> int {
    size_t i = line.find_first_not_of(" \t");
    if (i == std::string_view::npos || line[i] == '#') return -1;
    return static_cast<int>(i);
  };
  // Where a line's first key starts, after its indentation and any "- " list markers.
  auto key_column = [](std::string_view line) -> int {
    size_t i = line.find_first_not_of(" \t");
    while (i != std::string_view::npos && i + 1 < line.size() && line[i] == '-' &&
           line[i + 1] == ' ') {
      i = line.find_first_not_of(" \t", i + 1);
    }
    if (i != std::string_view::npos && (line[i] == '"' || line[i] == '\'')) ++i;  // JSON keys
    return i == std::string_view::npos ? -1 : static_cast<int>(i);
  };
  size_t li = 0, col = 0;
  int found_line = 0;
  int parent_indent = -1;  // block indentation of the last key found, -1 in flow style
  int child_column = -1;   // in block style, the column of the last key's children
  for (const std::string& key : keys) {
    bool found = false;
    while (li < lines.size() && !found) {
      std::string_view line = lines[li];
      if (size_t hash = line.find(" #"); hash != std::string_view::npos)
        line = line.substr(0, hash);
      int indent = indent_of(line);
      // In block style a child is indented under its parent (a "- " list may sit at the
      // parent's column); a line back at or left of the parent ends the parent's block.
      if (col == 0 && parent_indent >= 0 && indent >= 0 &&
          (indent < parent_indent || (indent == parent_indent && line[indent] != '-'))) {
        return 0;
      }
      const bool block_child = col == 0 && parent_indent >= 0 && indent >= 0;
      if (block_child && child_column < 0) child_column = key_column(line);
      size_t at = line.find(key, col);
      while (at != std::string_view::npos &&
             (!key_at(line, at, key) || (block_child && static_cast<int>(at) != child_column))) {
        at = line.find(key, at + 1);
      }
      if (at != std::string_view::npos) {
        found = true;
        found_line = doc.line + static_cast<int>(li);
        size_t first = line.find_first_not_of(" \t-\"'");
        parent_indent = first == at ? indent : -1;
        if (first == at && line[indent] == '-') parent_indent = static_cast<int>(at);
        child_column = -1;
        col = at + key.size();
      } else {
        ++li;
        col = 0;
      }
    }
    if (!found) return 0;
  }
  return found_line;
}

void LoadManifests(const std::vector<std::string>& paths, std::istream& in, ManifestSet* out) {
  auto read_file = [out](const fs::path& path, const std::string& shown) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      out->errors.push_back(fmt::format("{}: cannot read the file", shown));
      return;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    ParseManifests(ss.str(), shown, out);
  };
  for (const std::string& p : paths) {
    if (p == "-") {
      std::stringstream ss;
      ss << in.rdbuf();
      ParseManifests(ss.str(), "<stdin>", out);
      continue;
    }
    std::error_code ec;
    fs::file_status st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      out->errors.push_back(fmt::format("{}: no such file or directory", p));
      continue;
    }
    if (fs::is_directory(st)) {
      std::vector<fs::path> files;
      for (const fs::directory_entry& e : fs::directory_iterator(p, ec)) {
        std::string ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
          files.push_back(e.path());
        }
      }
      if (ec) {
        out->errors.push_back(fmt::format("{}: cannot list the directory: {}", p, ec.message()));
        continue;
      }
      std::sort(files.begin(), files.end());
      if (files.empty()) {
        out->errors.push_back(fmt::format("{}: no .yaml, .yml or .json files in the directory", p));
      }
      for (const fs::path& f : files) read_file(f, f.string());
      continue;
    }
    read_file(p, p);
  }
}

ApplyPlan PlanApply(const std::vector<ManifestDocument>& documents, const std::string& default_ns,
                    bool namespace_explicit) {
  ApplyPlan plan;
  std::vector<PlannedObject> namespaces, others;
  for (const ManifestDocument& doc : documents) {
    auto fail = [&](const std::string& message) {
      plan.errors.push_back("error: " + doc.Where() + ": " + message);
    };
    const json& o = doc.object;
    if (!o.is_object()) {
      fail(fmt::format("a manifest document must be a mapping (an object), not {}", o.type_name()));
      continue;
    }
    auto api_version = o.find("apiVersion");
    auto kind_field = o.find("kind");
    if (api_version == o.end() || !api_version->is_string() ||
        api_version->get<std::string>().empty()) {
      fail(api_version == o.end()
               ? "apiVersion: Required value: every object needs apiVersion"
               : "apiVersion: must be a string such as federation.meridian.io/v1alpha1");
      continue;
    }
    if (kind_field == o.end() || !kind_field->is_string() ||
        kind_field->get<std::string>().empty()) {
      fail(kind_field == o.end() ? "kind: Required value: every object needs kind"
                                 : "kind: must be a string such as FederatedWorkload");
      continue;
    }
    const std::string av = *api_version;
    const std::string k = *kind_field;
    const KindInfo* info = ResolveManifestKind(av, k);
    if (!info) {
      std::string hint;
      for (const KindInfo& known : KnownKinds()) {
        if (known.kind == k)
          hint = fmt::format(" (kind {} is served as apiVersion {})", k, known.ApiVersion());
      }
      if (hint.empty()) {
        std::string kinds;
        for (const KindInfo& known : KnownKinds())
          kinds += (kinds.empty() ? "" : ", ") + known.kind;
        hint = " (known kinds: " + kinds + ")";
      }
      fail(fmt::format("no matches for kind \"{}\" in version \"{}\"{}", k, av, hint));
      continue;
    }
    const json* meta = o.contains("metadata") ? &o["metadata"] : nullptr;
    if (meta && !meta->is_object()) {
      fail(fmt::format("metadata: must be a mapping, not {}", meta->type_name()));
      continue;
    }
    const json* name = meta && meta->contains("name") ? &(*meta)["name"] : nullptr;
    if (!name || !name->is_string() || name->get<std::string>().empty()) {
      fail(fmt::format("{}: metadata.name: {}", k,
                       name && !name->is_string() ? "must be a string"
                                                  : "Required value: every object needs a name"));
      continue;
    }
    PlannedObject p;
    p.doc = doc;
    p.kind = info;
    p.name = *name;
    if (info->namespaced) {
      std::string ns = default_ns;
      if (meta->contains("namespace")) {
        const json& n = (*meta)["namespace"];
        if (!n.is_string()) {
          fail(fmt::format("{} \"{}\": metadata.namespace: must be a string", k, p.name));
          continue;
        }
        std::string doc_ns = n;
        if (!doc_ns.empty()) {
          if (namespace_explicit && doc_ns != default_ns) {
            fail(
                fmt::format("{} \"{}\": the namespace from the manifest (\"{}\") does not match "
                            "--namespace \"{}\"",
                            k, p.name, doc_ns, default_ns));
            continue;
          }
          ns = doc_ns;
        }
      }
      p.ns = ns;
      p.doc.object["metadata"]["namespace"] = ns;
    } else if (meta->contains("namespace")) {
      p.doc.object["metadata"].erase("namespace");
    }
    (info->kind == "Namespace" && info->group.empty() ? namespaces : others)
        .push_back(std::move(p));
  }
  plan.objects = std::move(namespaces);
  for (PlannedObject& p : others) plan.objects.push_back(std::move(p));
  return plan;
}

json UpdateBody(const json& current, const json& desired) {
  json body = current;
  for (auto it = desired.begin(); it != desired.end(); ++it) {
    if (it.key() == "metadata" || it.key() == "status") continue;
    body[it.key()] = it.value();
  }
  if (!body.contains("metadata") || !body["metadata"].is_object())
    body["metadata"] = json::object();
  json& meta = body["metadata"];
  const json dmeta = desired.contains("metadata") && desired["metadata"].is_object()
                         ? desired["metadata"]
                         : json::object();
  for (const char* map_key : {"labels", "annotations"}) {
    if (!dmeta.contains(map_key) || !dmeta[map_key].is_object()) continue;
    if (!meta.contains(map_key) || !meta[map_key].is_object()) meta[map_key] = json::object();
    for (auto it = dmeta[map_key].begin(); it != dmeta[map_key].end(); ++it) {
      meta[map_key][it.key()] = it.value();
    }
  }
  for (auto it = dmeta.begin(); it != dmeta.end(); ++it) {
    if (!ServerOwnedMetadata(it.key())) meta[it.key()] = it.value();
  }
  if (dmeta.contains("resourceVersion") && dmeta["resourceVersion"].is_string() &&
      !dmeta["resourceVersion"].get<std::string>().empty()) {
    meta["resourceVersion"] = dmeta["resourceVersion"];
  }
  return body;
}

const char* ApplyActionName(ApplyAction action) {
  switch (action) {
    case ApplyAction::kCreated:
      return "created";
    case ApplyAction::kConfigured:
      return "configured";
    case ApplyAction::kUnchanged:
      return "unchanged";
  }
  return "?";
}

ApiResult<ApplyAction> ApplyObject(ResourceClient& client, const PlannedObject& object,
                                   int max_attempts) {
  const json& desired = object.doc.object;
  const bool pinned = desired["metadata"].contains("resourceVersion") &&
                      desired["metadata"]["resourceVersion"].is_string() &&
                      !desired["metadata"]["resourceVersion"].get<std::string>().empty();
  ApiResult<json> current = client.Get(*object.kind, object.ns, object.name);
  for (int attempt = 1;; ++attempt) {
    const bool can_retry = attempt < max_attempts;
    if (!current.ok()) {
      if (current.error().code != 404) return current.error();
      json body = desired;
      ApiResult<json> created = client.Create(*object.kind, object.ns, body);
      if (created.ok()) return ApplyAction::kCreated;
      if (created.error().code == 409 && created.error().reason == "AlreadyExists" && can_retry) {
        current = client.Get(*object.kind, object.ns, object.name);  // someone else created it
        continue;
      }
      return created.error();
    }
    const std::string before =
        current->contains("metadata") ? (*current)["metadata"].value("resourceVersion", "") : "";
    ApiResult<json> updated =
        client.Update(*object.kind, object.ns, object.name, UpdateBody(*current, desired));
    if (updated.ok()) {
      std::string after =
          updated->contains("metadata") ? (*updated)["metadata"].value("resourceVersion", "") : "";
      return after == before ? ApplyAction::kUnchanged : ApplyAction::kConfigured;
    }
    const ApiError& e = updated.error();
    if (can_retry && ((e.code == 409 && e.reason != "AlreadyExists" && !pinned) || e.code == 404)) {
      current = client.Get(*object.kind, object.ns, object.name);  // lost a race; start over
      continue;
    }
    return e;
  }
}

int RunApply(ResourceClient& client, const ManifestSet& manifests, const std::string& default_ns,
             bool namespace_explicit, std::ostream& out, std::ostream& err) {
  bool failed = false;
  for (const std::string& e : manifests.errors) {
    err << "error: " << e << "\n";
    failed = true;
  }
  ApplyPlan plan = PlanApply(manifests.documents, default_ns, namespace_explicit);
  for (const std::string& e : plan.errors) {
    err << e << "\n";
    failed = true;
  }
  if (manifests.documents.empty() && manifests.errors.empty()) {
    err << "error: no objects passed to apply\n";
    return 1;
  }
  for (const PlannedObject& p : plan.objects) {
    ApiResult<ApplyAction> r = ApplyObject(client, p);
    if (r.ok()) {
      out << p.Ref() << " " << ApplyActionName(*r) << "\n" << std::flush;
      continue;
    }
    failed = true;
    const ManifestDocument& doc = p.doc;
    err << FormatApiError(r.error(), doc.Where(), p.kind->plural, [&doc](const std::string& field) {
      return FieldLine(doc, field);
    }) << std::flush;
    if (IsTransportError(r.error())) {
      // The server is unreachable: every other object would fail the same way.
      return 1;
    }
  }
  return failed ? 1 : 0;
}

int RunDeleteManifests(ResourceClient& client, const ManifestSet& manifests,
                       const std::string& default_ns, bool namespace_explicit,
                       bool ignore_not_found, std::ostream& out, std::ostream& err) {
  bool failed = false;
  for (const std::string& e : manifests.errors) {
    err << "error: " << e << "\n";
    failed = true;
  }
  ApplyPlan plan = PlanApply(manifests.documents, default_ns, namespace_explicit);
  for (const std::string& e : plan.errors) {
    err << e << "\n";
    failed = true;
  }
  // Namespaces last: deleting one first would take its objects with it and make their
  // deletes fail with NotFound.
  std::stable_partition(plan.objects.begin(), plan.objects.end(),
                        [](const PlannedObject& p) { return p.kind->kind != "Namespace"; });
  for (const PlannedObject& p : plan.objects) {
    ApiResult<json> r = client.Delete(*p.kind, p.ns, p.name);
    if (r.ok()) {
      out << p.kind->GroupSingular() << " \"" << p.name << "\" deleted\n" << std::flush;
      continue;
    }
    if (r.error().code == 404 && ignore_not_found) continue;
    failed = true;
    err << FormatApiError(r.error(), p.doc.Where(), p.kind->plural) << std::flush;
    if (IsTransportError(r.error())) return 1;
  }
  return failed ? 1 : 0;
}

}  // namespace meridian::cli
