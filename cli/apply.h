// `fedctl apply -f` and `fedctl delete -f`: reading manifests (multi-document YAML, JSON,
// `kind: List`, directories, stdin), checking each document locally, ordering them, and
// creating or updating each object through a ResourceClient.
//
// Every error names the file and the line where the document starts ("web.yaml:8"; YAML
// syntax errors also the column). A bad document never stops the others: every valid
// document is applied, every failure is reported, and the run fails if anything failed.
// Pure apart from the ResourceClient calls and the file reads in LoadManifests; not
// thread-safe only in the sense that the client is not.
#pragma once

#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli/client.h"
#include "cli/kinds.h"

namespace meridian::cli {

// One object of a manifest and where it came from.
struct ManifestDocument {
  nlohmann::json object;
  std::string source;  // the path as the user gave it, or "<stdin>"
  int line = 1;        // 1-based line where the document starts
  // The whole text it was parsed from (shared by the documents of one source), for FieldLine.
  std::shared_ptr<const std::string> text;
  std::string Where() const { return source + ":" + std::to_string(line); }
};

// Best effort: the 1-based line of `doc`'s source where the field `path`
// ("spec.placement.distribution.weights.eu-west", "spec.template.spec.containers[0].image")
// is written, found by looking for each key in turn from the document's first line to its
// end. 0 when some key is not there (e.g. a missing required field) or the text is unknown.
int FieldLine(const ManifestDocument& doc, const std::string& path);

struct ManifestSet {
  std::vector<ManifestDocument> documents;
  // Problems that kept a document (or file) from loading, each located:
  // "web.yaml:12:7: mapping values are not allowed in this context".
  std::vector<std::string> errors;
};

// Parses one stream of YAML documents (or one JSON value) into `out`. A syntax error
// affects only its own document: the others are still returned. `kind: List` (and any
// `*List` with items) is expanded into its items. Empty documents are skipped.
void ParseManifests(std::string_view text, const std::string& source, ManifestSet* out);

// Reads each path: a file, a directory (its *.yaml, *.yml and *.json files, sorted by
// name, not recursive) or "-" for `in`. Unreadable paths are errors in `out`.
void LoadManifests(const std::vector<std::string>& paths, std::istream& in, ManifestSet* out);

// A document that passed the local checks: its kind is served, it has a name, and its
// namespace is settled.
struct PlannedObject {
  ManifestDocument doc;
  const KindInfo* kind = nullptr;
  std::string ns;  // "" for cluster-scoped kinds
  std::string name;
  // kubectl's "federatedworkload.federation.meridian.io/web".
  std::string Ref() const { return kind->GroupSingular() + "/" + name; }
};

struct ApplyPlan {
  std::vector<PlannedObject> objects;  // Namespaces first, otherwise in manifest order
  std::vector<std::string> errors;     // "error: web.yaml:8: ..." one per rejected document
};

// Local pre-checks, before anything is sent: the document is a mapping with string
// apiVersion and kind naming a served type, metadata.name is set, and a namespaced object's
// metadata.namespace (default `default_ns`) agrees with an explicit -n. Cluster-scoped
// objects lose any metadata.namespace. Namespaces are moved before everything else.
ApplyPlan PlanApply(const std::vector<ManifestDocument>& documents, const std::string& default_ns,
                    bool namespace_explicit);

// The PUT body that applies `desired` over `current`: the current object with every
// top-level field the manifest sets replaced (status is never taken from the manifest),
// metadata.labels and metadata.annotations merged (manifest wins), other metadata the
// manifest sets copied, and metadata.resourceVersion the current one unless the manifest
// pins its own (then a stale one fails with 409 Conflict, on purpose).
nlohmann::json UpdateBody(const nlohmann::json& current, const nlohmann::json& desired);

enum class ApplyAction { kCreated, kConfigured, kUnchanged };
const char* ApplyActionName(ApplyAction action);  // "created" | "configured" | "unchanged"

// Creates the object if absent, else updates it with the current resourceVersion, retrying
// lost races (409 on update without a pinned resourceVersion, 409 AlreadyExists on create,
// 404 on update) up to `max_attempts` times in all.
ApiResult<ApplyAction> ApplyObject(ResourceClient& client, const PlannedObject& object,
                                   int max_attempts = 5);

// The whole of `fedctl apply`: plans, applies every valid object in order, and prints one
// line per object to `out` ("namespace/shop created") and every problem to `err`. Returns
// the process exit code: 0 when everything applied, 1 otherwise.
int RunApply(ResourceClient& client, const ManifestSet& manifests, const std::string& default_ns,
             bool namespace_explicit, std::ostream& out, std::ostream& err);

// `fedctl delete -f`: deletes every object named by the manifests (namespaced objects
// before Namespaces), printing kubectl's `federatedworkload.federation.meridian.io "web"
// deleted`. NotFound is an error unless `ignore_not_found`. Returns the exit code.
int RunDeleteManifests(ResourceClient& client, const ManifestSet& manifests,
                       const std::string& default_ns, bool namespace_explicit,
                       bool ignore_not_found, std::ostream& out, std::ostream& err);

}  // namespace meridian::cli
