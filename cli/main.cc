// fedctl: Meridian's command-line client. Wires CLI11 to the client, apply and printers;
// everything that decides what to send or print lives in those files and is unit-tested.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/apply.h"
#include "cli/client.h"
#include "cli/command.h"
#include "cli/command_spec.h"
#include "cli/completion.h"
#include "cli/kinds.h"
#include "cli/printers.h"
#include "common/clock.h"

namespace meridian::cli {
namespace {

using nlohmann::json;

// TYPE or TYPE/NAME -> the kind (error printed when unknown).
const KindInfo* TypeArg(std::string type, std::vector<std::string>* names) {
  if (size_t slash = type.find('/'); slash != std::string::npos) {
    names->insert(names->begin(), type.substr(slash + 1));
    type = type.substr(0, slash);
  }
  const KindInfo* kind = ResolveType(type);
  if (!kind) {
    std::cerr << "error: the server doesn't have a resource type \"" << type
              << "\"; known types: " << KnownTypesList() << "\n";
  }
  return kind;
}

std::string NamespaceFor(const GlobalFlags& g, const KindInfo& kind) {
  if (!kind.namespaced) return "";
  return g.all_namespaces ? "" : g.ns;
}

std::vector<json> Items(const json& list) {
  std::vector<json> items;
  if (list.contains("items") && list["items"].is_array()) {
    for (const json& i : list["items"]) items.push_back(i);
  }
  return items;
}

// `widths` keeps table columns aligned across calls (watch rows under the first table).
void PrintObjects(const KindInfo& kind, const std::vector<json>& objects, const std::string& output,
                  bool as_list, bool headers, bool with_namespace,
                  std::vector<size_t>* widths = nullptr,
                  const std::map<std::string, std::string>* cluster_regions = nullptr) {
  if (output == "yaml") {
    std::cout << PrintYaml(objects, as_list);
  } else if (output == "json") {
    std::cout << PrintJson(objects, as_list);
  } else if (output == "name") {
    for (const json& o : objects) {
      std::cout << kind.GroupSingular() << "/" << o["metadata"].value("name", "") << "\n";
    }
  } else {
    TableOptions t;
    t.with_namespace = with_namespace;
    t.wide = output == "wide";
    t.headers = headers;
    t.now = RealClock().Now();
    t.cluster_regions = cluster_regions;
    std::vector<size_t> local;
    std::cout << AlignColumns(TableCells(kind, objects, t), widths ? widths : &local);
  }
  std::cout << std::flush;
}

int RunGet(const GlobalFlags& g, std::string type, std::vector<std::string> names,
           const std::string& output, const std::string& selector, bool watch, bool no_headers) {
  const KindInfo* kind = TypeArg(type, &names);
  if (!kind) return 1;
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  const std::string ns = NamespaceFor(g, *kind);
  const bool with_namespace = g.all_namespaces && kind->namespaced;
  std::vector<json> objects;
  std::string list_rv;
  int rc = 0;
  if (!names.empty()) {
    for (const std::string& name : names) {
      ApiResult<json> r = client->Get(*kind, g.all_namespaces ? g.ns : ns, name);
      if (r.ok()) {
        objects.push_back(*r);
      } else {
        std::cerr << FormatApiError(r.error());
        rc = 1;
        if (IsTransportError(r.error())) return 1;
      }
    }
  } else {
    ApiResult<json> r = client->List(*kind, ns, selector);
    if (!r.ok()) {
      std::cerr << FormatApiError(r.error());
      return 1;
    }
    objects = Items(*r);
    if (r->contains("metadata") && (*r)["metadata"].is_object()) {
      list_rv = (*r)["metadata"].value("resourceVersion", "");
    }
  }
  const bool as_list = names.size() != 1;
  // Workload tables show replicas per region, which needs the members' regions.
  const RelatedObjects related = FetchRelated(*client, *kind, nullptr);
  const auto* regions = kind->kind == "FederatedWorkload" ? &related.cluster_regions : nullptr;
  if (objects.empty() && names.empty()) {
    if ((output == "yaml" || output == "json") && !watch) {
      PrintObjects(*kind, objects, output, true, !no_headers, with_namespace);
    } else if (!watch) {
      std::cerr << (kind->namespaced && !g.all_namespaces
                        ? "No resources found in " + ns + " namespace.\n"
                        : std::string("No resources found\n"));
    }
  }
  std::vector<size_t> widths;
  if (!objects.empty()) {
    PrintObjects(*kind, objects, output, as_list, !no_headers, with_namespace, &widths, regions);
  }
  if (!watch) return rc;

  // -w: stream changes after what was printed, one row (or document) per event.
  bool printed_header = !objects.empty();
  std::string from = list_rv;
  if (!names.empty()) {
    from.clear();
    for (const json& o : objects) {
      std::string rv = o["metadata"].value("resourceVersion", "");
      if (from.empty() || std::stoll(rv) > std::stoll(from)) from = rv;
    }
    if (from.empty()) from = "0";
  }
  ApiResult<bool> w = client->Watch(*kind, ns, selector, from, [&](const WatchEvent& e) {
    if (!names.empty()) {
      std::string name = e.object["metadata"].value("name", "");
      if (std::find(names.begin(), names.end(), name) == names.end()) return true;
    }
    if (output == "yaml") {
      std::cout << "---\n";
      PrintObjects(*kind, {e.object}, output, false, false, with_namespace);
    } else if (output == "json") {
      PrintObjects(*kind, {e.object}, output, false, false, with_namespace);
    } else {
      PrintObjects(*kind, {e.object}, output, false, !printed_header && !no_headers, with_namespace,
                   &widths, regions);
      printed_header = true;
    }
    return true;
  });
  if (!w.ok()) {
    std::cerr << FormatApiError(w.error());
    return 1;
  }
  return rc;
}

int RunApplyCommand(const GlobalFlags& g, const std::vector<std::string>& files) {
  ManifestSet manifests;
  LoadManifests(files, std::cin, &manifests);
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  return RunApply(*client, manifests, g.ns, g.namespace_explicit, std::cout, std::cerr);
}

int RunDelete(const GlobalFlags& g, const std::vector<std::string>& args,
              const std::vector<std::string>& files, bool ignore_not_found) {
  if (!files.empty()) {
    if (!args.empty()) {
      std::cerr << "error: give either TYPE NAME... or -f FILE, not both\n";
      return 1;
    }
    ManifestSet manifests;
    LoadManifests(files, std::cin, &manifests);
    std::unique_ptr<HttpClient> client = Connect(g);
    if (!client) return 1;
    return RunDeleteManifests(*client, manifests, g.ns, g.namespace_explicit, ignore_not_found,
                              std::cout, std::cerr);
  }
  if (args.empty()) {
    std::cerr << "error: delete needs TYPE NAME... or -f FILE\n";
    return 1;
  }
  std::vector<std::string> names(args.begin() + 1, args.end());
  const KindInfo* kind = TypeArg(args[0], &names);
  if (!kind) return 1;
  if (names.empty()) {
    std::cerr << "error: delete " << args[0] << " needs at least one NAME\n";
    return 1;
  }
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  int rc = 0;
  for (const std::string& name : names) {
    ApiResult<json> r = client->Delete(*kind, kind->namespaced ? g.ns : "", name);
    if (r.ok()) {
      std::cout << kind->GroupSingular() << " \"" << name << "\" deleted\n" << std::flush;
      continue;
    }
    if (r.error().code == 404 && ignore_not_found) continue;
    std::cerr << FormatApiError(r.error());
    rc = 1;
    if (IsTransportError(r.error())) break;
  }
  return rc;
}

int RunDescribe(const GlobalFlags& g, std::string type, std::vector<std::string> names,
                const std::string& selector) {
  const KindInfo* kind = TypeArg(type, &names);
  if (!kind) return 1;
  std::unique_ptr<HttpClient> client = Connect(g);
  if (!client) return 1;
  std::vector<json> objects;
  int rc = 0;
  if (names.empty()) {
    ApiResult<json> r = client->List(*kind, NamespaceFor(g, *kind), selector);
    if (!r.ok()) {
      std::cerr << FormatApiError(r.error());
      return 1;
    }
    objects = Items(*r);
    if (objects.empty()) std::cerr << "No resources found\n";
  } else {
    for (const std::string& name : names) {
      ApiResult<json> r = client->Get(*kind, kind->namespaced ? g.ns : "", name);
      if (r.ok()) {
        objects.push_back(*r);
      } else {
        std::cerr << FormatApiError(r.error());
        rc = 1;
        if (IsTransportError(r.error())) return 1;
      }
    }
  }
  Timestamp now = RealClock().Now();
  for (size_t i = 0; i < objects.size(); ++i) {
    if (i > 0) std::cout << "\n\n";
    const RelatedObjects related = FetchRelated(*client, *kind, &objects[i]);
    std::cout << Describe(*kind, objects[i], now, &related);
  }
  std::cout << std::flush;
  return rc;
}

int RunApiResources() {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}};
  for (const KindInfo& k : KnownKinds()) {
    std::string shorts;
    for (const std::string& s : k.short_names) shorts += (shorts.empty() ? "" : ",") + s;
    rows.push_back({k.plural, shorts, k.ApiVersion(), k.namespaced ? "true" : "false", k.kind});
  }
  std::cout << AlignColumns(rows);
  return 0;
}

// After CLI11 refused unknown arguments: for each unknown --flag, the closest option of the
// command it was typed after (or a global one), on stderr.
void SuggestOptions(const CommandSpec& root, const std::vector<std::string>& args) {
  const CommandSpec* cmd = &root;
  for (const std::string& a : args) {
    if (a.empty() || a[0] == '-') continue;
    auto sub = std::find_if(cmd->subcommands.begin(), cmd->subcommands.end(),
                            [&](const CommandSpec& s) { return s.name == a; });
    if (sub != cmd->subcommands.end()) cmd = &*sub;
  }
  std::vector<std::string> known;
  for (const CommandSpec* c : {cmd, &root}) {
    for (const OptionSpec& o : c->options)
      known.insert(known.end(), o.names.begin(), o.names.end());
  }
  for (const std::string& a : args) {
    if (a.size() < 2 || a[0] != '-') continue;
    const std::string flag = a.substr(0, a.find('='));
    if (std::find(known.begin(), known.end(), flag) != known.end()) continue;
    if (std::optional<std::string> guess = SuggestClosest(flag, known)) {
      std::cerr << "unknown flag " << flag << ": did you mean " << *guess << "?\n";
    }
  }
}

int Main(int argc, char** argv) {
  CLI::App app{"fedctl: the command-line client of Meridian's federation control plane"};
  app.name("fedctl");
  app.require_subcommand(1);
  app.fallthrough();
  GlobalFlags g;
  const char* env_server = std::getenv("MERIDIAN_SERVER");
  g.server = env_server && *env_server ? env_server : "http://127.0.0.1:8443";
  g.server_explicit = env_server && *env_server;
  CLI::Option* server_opt =
      app.add_option("--server,-s", g.server,
                     "API server URL (default: $MERIDIAN_SERVER, else the kubeconfig's, else "
                     "http://127.0.0.1:8443)");
  app.add_option("--kubeconfig", g.kubeconfig,
                 "Kubeconfig file (default: the files of $KUBECONFIG, merged)");
  app.add_option("--context", g.context, "Kubeconfig context (default: current-context)");
  app.add_option("--user", g.user, "Kubeconfig user to use instead of the context's");
  app.add_option("--cluster", g.cluster, "Kubeconfig cluster to use instead of the context's");
  app.add_option("--token", g.token, "Bearer token for the API server");
  app.add_option("--certificate-authority", g.certificate_authority,
                 "PEM file of the CA that signed the server's certificate");
  app.add_option("--client-certificate", g.client_certificate, "PEM client certificate file");
  app.add_option("--client-key", g.client_key, "PEM key of --client-certificate");
  app.add_flag("--insecure-skip-tls-verify", g.insecure_skip_tls_verify,
               "Do not verify the server's certificate (development only)");
  app.add_option("--timeout,--request-timeout", g.timeout,
                 "Per-request timeout: 30s, 500ms, 2m; 0 for none")
      ->capture_default_str();
  CLI::Option* ns_opt = app.add_option("-n,--namespace", g.ns, "Namespace")->capture_default_str();
  app.add_flag("-A,--all-namespaces", g.all_namespaces, "List across all namespaces");

  std::string output = "table", selector;
  bool watch = false, no_headers = false, ignore_not_found = false;
  std::string type;
  std::vector<std::string> names, files, delete_args;

  CLI::App* get = app.add_subcommand("get", "Show one or many objects");
  get->add_option("TYPE", type, "Type: kind, plural, singular or short name (fw, mc, ns, ...)")
      ->required();
  get->add_option("NAME", names, "Object names (default: all)");
  get->add_option("-o,--output", output, "table | wide | yaml | json | name")
      ->check(CLI::IsMember({"table", "wide", "yaml", "json", "name"}))
      ->capture_default_str();
  get->add_option("-l,--selector", selector, "Label selector, e.g. app=web,tier!=db");
  get->add_flag("-w,--watch", watch, "After listing, stream changes");
  get->add_flag("--no-headers", no_headers, "Omit the table header");

  CLI::App* apply = app.add_subcommand("apply", "Create or update objects from manifests");
  apply->add_option("-f,--filename", files, "File, directory or - (stdin); repeatable")->required();

  CLI::App* del = app.add_subcommand("delete", "Delete objects by type and name or by manifest");
  del->add_option("ARGS", delete_args, "TYPE NAME...");
  del->add_option("-f,--filename", files, "File, directory or - (stdin); repeatable");
  del->add_flag("--ignore-not-found", ignore_not_found, "Objects already gone are not errors");

  CLI::App* describe = app.add_subcommand("describe", "Show an object in detail");
  describe->add_option("TYPE", type, "Type")->required();
  describe->add_option("NAME", names, "Object names (default: all)");
  describe->add_option("-l,--selector", selector, "Label selector");

  CLI::App* api_resources = app.add_subcommand("api-resources", "List the types fedctl knows");

  // Commands defined in their own files (cli/cmd_*.cc).
  std::vector<std::pair<CLI::App*, CommandRun>> registered;
  for (const CommandDefinition* d : RegisteredCommands()) {
    CLI::App* sub = app.add_subcommand(d->name, d->description);
    registered.emplace_back(sub, d->define(*sub));
  }

  // A mistyped command or flag gets kubectl's "did you mean" instead of CLI11's
  // "A subcommand is required" (which is what `fedctl gett fw` used to say).
  if (argc <= 1) {  // like kubectl: no command shows what there is
    std::cout << app.help();
    return 0;
  }
  const CommandSpec spec = CommandSpecOf(app);
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (std::optional<std::string> word = FirstCommandWord(spec, args)) {
    std::vector<std::string> commands;
    for (const CommandSpec& sub : spec.subcommands) {
      if (sub.name.rfind("__", 0) != 0) commands.push_back(sub.name);
    }
    if (std::find(commands.begin(), commands.end(), *word) == commands.end() &&
        *word != "__complete") {
      std::cerr << "error: unknown command \"" << *word << "\" for \"fedctl\"\n";
      if (std::optional<std::string> guess = SuggestClosest(*word, commands)) {
        std::cerr << "\nDid you mean this?\n\t" << *guess << "\n";
      }
      std::cerr << "\nRun 'fedctl --help' for usage.\n";
      return 1;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ExtrasError& e) {
    std::cerr << e.what() << "\n";
    SuggestOptions(spec, args);
    std::cerr << "Run 'fedctl --help' for usage.\n";
    return 1;
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 1;
  }
  g.namespace_explicit = ns_opt->count() > 0;
  if (server_opt->count() > 0) g.server_explicit = true;
  if (g.ns.empty()) g.ns = "default";

  try {
    if (*get) return RunGet(g, type, names, output, selector, watch, no_headers);
    if (*apply) return RunApplyCommand(g, files);
    if (*del) return RunDelete(g, delete_args, files, ignore_not_found);
    if (*describe) return RunDescribe(g, type, names, selector);
    if (*api_resources) return RunApiResources();
    for (auto& [sub, run] : registered) {
      if (*sub) return run(g);
    }
  } catch (const std::exception& e) {
    // Nothing should get here; if it does, say so plainly rather than abort.
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 1;
}

}  // namespace
}  // namespace meridian::cli

int main(int argc, char** argv) { return meridian::cli::Main(argc, argv); }
