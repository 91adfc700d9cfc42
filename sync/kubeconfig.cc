#include "sync/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "common/yaml_reader.h"
#include "sync/internal/kube_wire.h"

namespace meridian::sync {

namespace {

class Parser {
 public:
  Parser(std::string source, std::string base_dir)
      : source_(std::move(source)), base_dir_(std::move(base_dir)) {}

  Status Error(const YAML::Node& at, const std::string& field, const std::string& message,
               StatusCode code = StatusCode::kInvalidArgument) const {
    std::string where = "kubeconfig " + source_;
    if (at.IsDefined() && at.Mark().line >= 0) where += ":" + std::to_string(at.Mark().line + 1);
    return Status(code, where + ": " + (field.empty() ? "" : field + ": ") + message);
  }

  // A string scalar field of `map`, or "" when absent.
  StatusOr<std::string> String(const YAML::Node& map, const std::string& key,
                               const std::string& path) const {
    const YAML::Node n = map[key];
    if (!n.IsDefined() || n.IsNull()) return std::string();
    if (!n.IsScalar()) return Error(n, path + "." + key, "must be a string");
    return n.Scalar();
  }

  StatusOr<bool> Bool(const YAML::Node& map, const std::string& key, const std::string& path) const {
    const YAML::Node n = map[key];
    if (!n.IsDefined() || n.IsNull()) return false;
    bool b = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) {
      return Error(n, path + "." + key, "must be true or false");
    }
    return b;
  }

  std::string Resolve(const std::string& file) const {
    if (file.empty() || file[0] == '/' || base_dir_.empty()) return file;
    return base_dir_ + "/" + file;
  }

  StatusOr<std::string> ReadFile(const YAML::Node& at, const std::string& field,
                                 const std::string& file) const {
    const std::string path = Resolve(file);
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error(at, field, "cannot read \"" + path + "\"");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // `<name>-data` (base64) or `<name>` (a file), not both; "" when neither.
  StatusOr<std::string> DataOrFile(const YAML::Node& map, const std::string& name,
                                   const std::string& path) const {
    MERIDIAN_ASSIGN_OR_RETURN(std::string data, String(map, name + "-data", path));
    MERIDIAN_ASSIGN_OR_RETURN(std::string file, String(map, name, path));
    if (!data.empty() && !file.empty()) {
      return Error(map[name], path + "." + name, "both " + name + " and " + name + "-data are set");
    }
    if (!data.empty()) {
      std::optional<std::string> decoded = Base64Decode(data);
      if (!decoded) return Error(map[name + "-data"], path + "." + name + "-data", "not valid base64");
      return *decoded;
    }
    if (!file.empty()) return ReadFile(map[name], path + "." + name, file);
    return std::string();
  }

  // The entry of `list` (a sequence of {name, <inner>: {...}}) called `name`.
  StatusOr<std::pair<YAML::Node, std::string>> Find(const YAML::Node& root, const std::string& list,
                                                    const std::string& inner,
                                                    const std::string& name) const {
    const YAML::Node seq = root[list];
    if (!seq.IsDefined() || seq.IsNull()) {
      return Error(root, list, "missing (looking for \"" + name + "\")", StatusCode::kNotFound);
    }
    if (!seq.IsSequence()) return Error(seq, list, "must be a list");
    for (size_t i = 0; i < seq.size(); ++i) {
      const std::string path = list + "[" + std::to_string(i) + "]";
      const YAML::Node entry = seq[i];
      if (!entry.IsMap()) return Error(entry, path, "must be a mapping");
      MERIDIAN_ASSIGN_OR_RETURN(std::string n, String(entry, "name", path));
      if (n != name) continue;
      const YAML::Node body = entry[inner];
      if (!body.IsDefined() || body.IsNull()) return std::make_pair(YAML::Node(YAML::NodeType::Map), path + "." + inner);
      if (!body.IsMap()) return Error(body, path + "." + inner, "must be a mapping");
      return std::make_pair(body, path + "." + inner);
    }
    return Error(seq, list, "no entry named \"" + name + "\"", StatusCode::kNotFound);
  }

  StatusOr<KubeconfigSelection> Select(const YAML::Node& root, const std::string& wanted) const {
    if (!root.IsMap()) return Error(root, "", "not a kubeconfig (expected a mapping)");
    KubeconfigSelection out;
    MERIDIAN_ASSIGN_OR_RETURN(std::string current, String(root, "current-context", ""));
    out.context = wanted.empty() ? current : wanted;
    if (out.context.empty()) {
      return Error(root, "current-context", "not set and no context was given");
    }
    MERIDIAN_ASSIGN_OR_RETURN(auto ctx, Find(root, "contexts", "context", out.context));
    const auto& [context, cpath] = ctx;
    MERIDIAN_ASSIGN_OR_RETURN(out.cluster, String(context, "cluster", cpath));
    MERIDIAN_ASSIGN_OR_RETURN(out.user, String(context, "user", cpath));
    MERIDIAN_ASSIGN_OR_RETURN(out.namespace_, String(context, "namespace", cpath));
    if (out.cluster.empty()) return Error(context, cpath + ".cluster", "required");

    MERIDIAN_ASSIGN_OR_RETURN(auto cl, Find(root, "clusters", "cluster", out.cluster));
    const auto& [cluster, clpath] = cl;
    MemberEndpoint& ep = out.endpoint;
    ep.name = out.context;
    MERIDIAN_ASSIGN_OR_RETURN(ep.server, String(cluster, "server", clpath));
    if (ep.server.empty()) return Error(cluster, clpath + ".server", "required");
    if (StatusOr<internal::ServerUrl> url = internal::ParseServerUrl(ep.server); !url.ok()) {
      return Error(cluster["server"], clpath + ".server", url.status().message());
    }
    MERIDIAN_ASSIGN_OR_RETURN(ep.credentials.insecure_skip_tls_verify,
                              Bool(cluster, "insecure-skip-tls-verify", clpath));
    MERIDIAN_ASSIGN_OR_RETURN(ep.credentials.certificate_authority_pem,
                              DataOrFile(cluster, "certificate-authority", clpath));
    if (cluster["proxy-url"].IsDefined()) {
      return Error(cluster["proxy-url"], clpath + ".proxy-url", "proxies are not supported");
    }

    if (out.user.empty()) return out;
    MERIDIAN_ASSIGN_OR_RETURN(auto us, Find(root, "users", "user", out.user));
    const auto& [user, upath] = us;
    for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
      if (user[unsupported].IsDefined() && !user[unsupported].IsNull()) {
        return Error(user[unsupported], upath + "." + unsupported,
                     "not supported (use a token or a client certificate)");
      }
    }
    MERIDIAN_ASSIGN_OR_RETURN(std::string token, String(user, "token", upath));
    MERIDIAN_ASSIGN_OR_RETURN(std::string token_file, String(user, "tokenFile", upath));
    if (!token.empty() && !token_file.empty()) {
      return Error(user["tokenFile"], upath + ".tokenFile", "both token and tokenFile are set");
    }
    if (!token_file.empty()) {
      MERIDIAN_ASSIGN_OR_RETURN(token, ReadFile(user["tokenFile"], upath + ".tokenFile", token_file));
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
        token.pop_back();
      }
      if (token.empty()) return Error(user["tokenFile"], upath + ".tokenFile", "the file is empty");
    }
    ep.credentials.bearer_token = token;
    MERIDIAN_ASSIGN_OR_RETURN(ep.credentials.client_certificate_pem,
                              DataOrFile(user, "client-certificate", upath));
    MERIDIAN_ASSIGN_OR_RETURN(ep.credentials.client_key_pem, DataOrFile(user, "client-key", upath));
    if (ep.credentials.client_certificate_pem.empty() != ep.credentials.client_key_pem.empty()) {
      const bool no_key = ep.credentials.client_key_pem.empty();
      return Error(user, upath + (no_key ? ".client-key" : ".client-certificate"),
                   no_key ? "a client certificate needs a client key"
                          : "a client key needs a client certificate");
    }
    return out;
  }

 private:
  std::string source_;
  std::string base_dir_;
};

StatusOr<YAML::Node> LoadYaml(const std::string& text, const std::string& source) {
  try {
    return LoadYamlDocument(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError("kubeconfig " + source + ":" + std::to_string(e.mark.line + 1) +
                                ": invalid YAML: " + e.msg);
  }
}

StatusOr<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("kubeconfig " + path + ": cannot read the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

StatusOr<KubeconfigSelection> ParseKubeconfig(const std::string& text, const std::string& source,
                                              const std::string& base_dir,
                                              const std::string& context) {
  MERIDIAN_ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(text, source));
  try {
    return Parser(source, base_dir).Select(root, context);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError("kubeconfig " + source + ":" + std::to_string(e.mark.line + 1) +
                                ": " + e.msg);
  }
}

StatusOr<KubeconfigSelection> LoadKubeconfig(const std::string& path, const std::string& context) {
  MERIDIAN_ASSIGN_OR_RETURN(std::string text, ReadWhole(path));
  return ParseKubeconfig(text, path, DirOf(path), context);
}

StatusOr<KubeconfigSelection> LoadMergedKubeconfig(const std::vector<std::string>& paths,
                                                   const KubeconfigOverrides& overrides) {
  std::vector<std::string> existing;
  for (const std::string& p : paths) {
    if (!p.empty() && std::ifstream(p).good()) existing.push_back(p);
  }
  if (existing.empty()) {
    std::string all;
    for (const std::string& p : paths) all += (all.empty() ? "" : ":") + p;
    return NotFoundError("kubeconfig " + all + ": no such file");
  }
  const bool overridden = !overrides.user.empty() || !overrides.cluster.empty();
  // One file as is: errors keep their line numbers.
  if (existing.size() == 1 && !overridden) return LoadKubeconfig(existing[0], overrides.context);

  YAML::Node merged(YAML::NodeType::Map);
  std::string source;
  try {
    std::map<std::string, std::set<std::string>> seen;  // list -> names already taken
    for (const std::string& path : existing) {
      source += (source.empty() ? "" : ":") + path;
      MERIDIAN_ASSIGN_OR_RETURN(std::string text, ReadWhole(path));
      MERIDIAN_ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(text, path));
      if (root.IsNull()) continue;
      if (!root.IsMap()) return InvalidArgumentError("kubeconfig " + path + ": not a mapping");
      const std::string dir = DirOf(path);
      if (!merged["current-context"].IsDefined() && root["current-context"].IsScalar() &&
          !root["current-context"].Scalar().empty()) {
        merged["current-context"] = root["current-context"].Scalar();
      }
      for (const auto& [list, inner, files] :
           std::vector<std::tuple<std::string, std::string, std::vector<std::string>>>{
               {"clusters", "cluster", {"certificate-authority"}},
               {"users", "user", {"client-certificate", "client-key", "tokenFile"}},
               {"contexts", "context", {}}}) {
        const YAML::Node seq = root[list];
        if (!seq.IsDefined() || seq.IsNull()) continue;
        if (!seq.IsSequence()) {
          return InvalidArgumentError("kubeconfig " + path + ":" +
                                      std::to_string(seq.Mark().line + 1) + ": " + list +
                                      ": must be a list");
        }
        for (size_t i = 0; i < seq.size(); ++i) {
          YAML::Node entry = YAML::Clone(seq[i]);
          if (!entry.IsMap() || !entry["name"].IsScalar()) {
            return InvalidArgumentError("kubeconfig " + path + ":" +
                                        std::to_string(seq[i].Mark().line + 1) + ": " + list + "[" +
                                        std::to_string(i) + "].name: required");
          }
          if (!seen[list].insert(entry["name"].Scalar()).second) continue;  // first wins
          YAML::Node body = entry[inner];
          if (body.IsMap() && !dir.empty()) {
            for (const std::string& f : files) {
              if (body[f].IsScalar() && !body[f].Scalar().empty() && body[f].Scalar()[0] != '/') {
                body[f] = dir + "/" + body[f].Scalar();
              }
            }
          }
          merged[list].push_back(entry);
        }
      }
    }
    const std::string context = overrides.context.empty() && merged["current-context"].IsDefined()
                                    ? merged["current-context"].Scalar()
                                    : overrides.context;
    if (overridden && !context.empty() && merged["contexts"].IsSequence()) {
      for (YAML::Node entry : merged["contexts"]) {
        if (entry["name"].Scalar() != context) continue;
        if (!entry["context"].IsMap()) entry["context"] = YAML::Node(YAML::NodeType::Map);
        if (!overrides.user.empty()) entry["context"]["user"] = overrides.user;
        if (!overrides.cluster.empty()) entry["context"]["cluster"] = overrides.cluster;
      }
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError("kubeconfig " + source + ": " + e.msg);
  }
  YAML::Emitter out;
  out << merged;
  // Line numbers of the merged text would point nowhere: errors name the files only.
  StatusOr<KubeconfigSelection> selected =
      ParseKubeconfig(out.c_str(), source, "", overrides.context);
  if (!selected.ok()) {
    std::string message = selected.status().message();
    const std::string head = "kubeconfig " + source + ":";
    if (message.rfind(head, 0) == 0) {
      size_t colon = message.find(':', head.size());
      if (colon != std::string::npos &&
          message.find_first_not_of("0123456789", head.size()) == colon) {
        message = "kubeconfig " + source + message.substr(colon);
      }
    }
    return Status(selected.status().code(), message);
  }
  return selected;
}

StatusOr<std::vector<std::string>> KubeconfigContexts(const std::string& path) {
  MERIDIAN_ASSIGN_OR_RETURN(std::string text, ReadWhole(path));
  MERIDIAN_ASSIGN_OR_RETURN(YAML::Node root, LoadYaml(text, path));
  std::vector<std::string> out;
  try {
    const YAML::Node seq = root["contexts"];
    if (!seq.IsDefined() || seq.IsNull()) return out;
    if (!seq.IsSequence()) {
      return InvalidArgumentError("kubeconfig " + path + ": contexts: must be a list");
    }
    for (const YAML::Node& entry : seq) {
      if (entry.IsMap() && entry["name"].IsScalar()) out.push_back(entry["name"].Scalar());
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError("kubeconfig " + path + ": " + e.msg);
  }
  return out;
}

}  // namespace meridian::sync
