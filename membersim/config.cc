#include "membersim/config.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "api/yaml.h"
#include "common/field_error.h"
#include "common/yaml_reader.h"
#include "membersim/quantity.h"

namespace meridian::membersim {
namespace {

// Collects problems as "source:line:col: path: message".
class Problems {
 public:
  explicit Problems(std::string source) : source_(std::move(source)) {}
  void Add(const YAML::Node& at, const std::string& path, const std::string& message) {
    lines_.push_back(Where(at) + ": " + (path.empty() ? message : path + ": " + message));
  }
  // "source:line:col" of `at` (the source alone when the node has no mark).
  std::string Where(const YAML::Node& at) const {
    YAML::Mark mark = at.Mark();
    if (mark.line < 0) return source_;
    return source_ + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  const std::string& source() const { return source_; }
  bool empty() const { return lines_.empty(); }
  std::string Join() const {
    std::string out;
    for (const auto& l : lines_) out += (out.empty() ? "" : "\n") + l;
    return out;
  }

 private:
  std::string source_;
  std::vector<std::string> lines_;
};

bool IsDns1123Label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '-')) {
      return false;
    }
  }
  return s.front() != '-' && s.back() != '-';
}

void CheckKeys(const YAML::Node& node, const std::string& path, const std::set<std::string>& allowed,
               Problems* p) {
  for (const auto& kv : node) {
    std::string key = kv.first.Scalar();
    if (!allowed.count(key)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      p->Add(kv.first, JoinPath(path, key), "unknown field (known: " + list + ")");
    }
  }
}

bool ReadString(const YAML::Node& node, const std::string& path, Problems* p, std::string* out) {
  if (!node.IsScalar()) {
    p->Add(node, path, "must be a string");
    return false;
  }
  *out = node.Scalar();
  return true;
}

bool ReadInt(const YAML::Node& node, const std::string& path, int64_t lo, int64_t hi, Problems* p,
             int64_t* out) {
  if (!node.IsScalar()) {
    p->Add(node, path, "must be an integer");
    return false;
  }
  const std::string& s = node.Scalar();
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') {
    p->Add(node, path, "\"" + s + "\" is not an integer");
    return false;
  }
  if (v < lo || v > hi) {
    p->Add(node, path, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return false;
  }
  *out = v;
  return true;
}

void ReadDuration(const YAML::Node& node, const std::string& path, Problems* p, Duration* out) {
  std::string s;
  if (!ReadString(node, path, p, &s)) return;
  auto d = ParseDuration(s);
  if (!d.ok()) {
    p->Add(node, path, d.status().message());
    return;
  }
  *out = *d;
}

void ReadCrashLoop(const YAML::Node& node, const std::string& path, Problems* p,
                   ClusterTimings* out) {
  if (!node.IsMap()) {
    p->Add(node, path, "must be a map with image and every");
    return;
  }
  CheckKeys(node, path, {"image", "every"}, p);
  if (!node["image"]) {
    p->Add(node, JoinPath(path, "image"), "required: the image pattern that crash-loops");
  } else {
    ReadString(node["image"], JoinPath(path, "image"), p, &out->crash_loop_image);
  }
  if (node["every"]) {
    ReadDuration(node["every"], JoinPath(path, "every"), p, &out->crash_loop_every);
    if (out->crash_loop_every <= Duration(0)) {
      p->Add(node["every"], JoinPath(path, "every"), "must be more than 0");
    }
  }
}

void ReadResources(const YAML::Node& node, const std::string& path, Problems* p,
                   NodeResources* out) {
  if (!node.IsMap()) {
    p->Add(node, path, "must be a map with cpu, memory, pods");
    return;
  }
  CheckKeys(node, path, {"cpu", "memory", "pods"}, p);
  if (node["cpu"]) {
    std::string s;
    if (ReadString(node["cpu"], JoinPath(path, "cpu"), p, &s)) {
      auto q = ParseQuantityMilli(s);
      if (!q.ok()) {
        p->Add(node["cpu"], JoinPath(path, "cpu"), q.status().message());
      } else {
        out->cpu_milli = *q;
      }
    }
  }
  if (node["memory"]) {
    std::string s;
    if (ReadString(node["memory"], JoinPath(path, "memory"), p, &s)) {
      auto q = ParseQuantity(s);
      if (!q.ok()) {
        p->Add(node["memory"], JoinPath(path, "memory"), q.status().message());
      } else {
        out->memory_bytes = *q;
      }
    }
  }
  if (node["pods"]) {
    int64_t v = 0;
    if (ReadInt(node["pods"], JoinPath(path, "pods"), 0, 100000, p, &v)) out->pods = v;
  }
}

void ReadLabels(const YAML::Node& node, const std::string& path, Problems* p,
                std::map<std::string, std::string>* out) {
  if (!node.IsMap()) {
    p->Add(node, path, "must be a map of strings");
    return;
  }
  for (const auto& kv : node) {
    std::string v;
    if (ReadString(kv.second, JoinPath(path, kv.first.Scalar()), p, &v)) (*out)[kv.first.Scalar()] = v;
  }
}

// A DNS-1123 subdomain (what most kinds accept as metadata.name).
bool IsDns1123Subdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '-' || c == '.')) {
      return false;
    }
  }
  return std::isalnum(static_cast<unsigned char>(s.front())) &&
         std::isalnum(static_cast<unsigned char>(s.back()));
}

constexpr int64_t kMaxSeedCount = 1'000'000;

void ReadSeedEntry(const YAML::Node& node, const std::string& path, Problems* p, SeedSpec* s) {
  s->location = p->Where(node);
  s->path = path;
  if (!node.IsMap()) {
    p->Add(node, path, "must be a map with apiVersion, kind, namespace, count, name, labels, fields");
    return;
  }
  CheckKeys(node, path, {"apiVersion", "kind", "namespace", "count", "name", "labels", "fields"}, p);
  for (const char* key : {"apiVersion", "kind", "count", "name"}) {
    if (!node[key]) p->Add(node, JoinPath(path, key), "required");
  }
  if (node["apiVersion"] && ReadString(node["apiVersion"], JoinPath(path, "apiVersion"), p, &s->api_version)) {
    const size_t slash = s->api_version.find('/');
    if (s->api_version.empty() || slash == 0 || slash + 1 == s->api_version.size() ||
        (slash != std::string::npos && s->api_version.find('/', slash + 1) != std::string::npos)) {
      p->Add(node["apiVersion"], JoinPath(path, "apiVersion"),
             "\"" + s->api_version + "\" must be VERSION or GROUP/VERSION (v1, apps/v1)");
    }
  }
  if (node["kind"] && ReadString(node["kind"], JoinPath(path, "kind"), p, &s->kind) &&
      (s->kind.empty() || !std::isupper(static_cast<unsigned char>(s->kind.front())))) {
    p->Add(node["kind"], JoinPath(path, "kind"), "\"" + s->kind + "\" must be a kind (PersistentVolumeClaim)");
  }
  if (node["namespace"] && ReadString(node["namespace"], JoinPath(path, "namespace"), p, &s->ns) &&
      !IsDns1123Label(s->ns)) {
    p->Add(node["namespace"], JoinPath(path, "namespace"),
           "\"" + s->ns + "\" must be a DNS-1123 label (lower-case letters, digits, '-')");
  }
  if (node["count"]) ReadInt(node["count"], JoinPath(path, "count"), 0, kMaxSeedCount, p, &s->count);
  if (node["name"] && ReadString(node["name"], JoinPath(path, "name"), p, &s->name)) {
    // The longest name the pattern makes is checked, and one with an index: a pattern
    // without "{i}" would make `count` equal names.
    const std::string longest = ExpandSeedPattern(s->name, std::max<int64_t>(s->count - 1, 0));
    if (!IsDns1123Subdomain(longest)) {
      p->Add(node["name"], JoinPath(path, "name"),
             "\"" + longest + "\" must be a DNS-1123 subdomain (lower-case letters, digits, '-', '.')");
    } else if (s->count > 1 && s->name.find("{i}") == std::string::npos) {
      p->Add(node["name"], JoinPath(path, "name"),
             "must hold {i} (the object's index): count " + std::to_string(s->count) +
                 " objects cannot share one name");
    }
  }
  if (node["labels"]) ReadLabels(node["labels"], JoinPath(path, "labels"), p, &s->labels);
  if (const YAML::Node& f = node["fields"]) {
    const std::string fpath = JoinPath(path, "fields");
    if (!f.IsMap()) {
      p->Add(f, fpath, "must be a map: the rest of each object (spec, data, ...)");
      return;
    }
    auto fields = api::YamlNodeToJson(f, p->source());
    if (!fields.ok()) {
      p->Add(f, fpath, fields.status().message());
      return;
    }
    for (const char* key : {"apiVersion", "kind", "metadata"}) {
      if (fields->contains(key)) {
        p->Add(f[key], JoinPath(fpath, key),
               "set by the seed's apiVersion, kind, name, namespace and labels, not here");
      }
    }
    s->fields = std::move(fields).value();
  }
}

void ReadSeed(const YAML::Node& node, const std::string& path, Problems* p, std::vector<SeedSpec>* out) {
  if (!node.IsSequence()) {
    p->Add(node, path, "must be a list of {apiVersion, kind, namespace, count, name, labels, fields}");
    return;
  }
  for (size_t i = 0; i < node.size(); ++i) {
    SeedSpec s;
    ReadSeedEntry(node[i], path + "[" + std::to_string(i) + "]", p, &s);
    out->push_back(std::move(s));
  }
}

struct Defaults {
  ClusterTimings timings;
  NodeResources node;
  std::vector<SeedSpec> seed;
};

// `file` resolved against `base_dir` (the config file's folder) and checked to be readable.
bool ReadFilePath(const YAML::Node& node, const std::string& path, const std::string& base_dir,
                  Problems* p, std::string* out) {
  std::string file;
  if (!ReadString(node, path, p, &file)) return false;
  if (file.empty()) {
    p->Add(node, path, "must name a file");
    return false;
  }
  if (file.front() != '/' && !base_dir.empty()) file = base_dir + "/" + file;
  if (!std::ifstream(file)) {
    p->Add(node, path, "cannot read " + file);
    return false;
  }
  *out = file;
  return true;
}

void ReadCluster(const YAML::Node& node, const std::string& path, const Defaults& defaults,
                 const std::string& base_dir, Problems* p, ClusterSpec* c) {
  if (!node.IsMap()) {
    p->Add(node, path, "must be a map");
    return;
  }
  CheckKeys(
      node, path,
      {"name", "region", "jurisdiction", "labels", "zones", "podReadyDelay", "podEvictionDelay",
       "namespaceDeletionDelay", "loadBalancerRange", "port", "tls", "auth", "seed", "crashLoop"},
      p);
  c->timings = defaults.timings;
  if (node["seed"]) {
    ReadSeed(node["seed"], JoinPath(path, "seed"), p, &c->seed);
  } else {
    c->seed = defaults.seed;
  }
  if (!node["name"]) {
    p->Add(node, JoinPath(path, "name"), "required");
  } else if (ReadString(node["name"], JoinPath(path, "name"), p, &c->name) &&
             !IsDns1123Label(c->name)) {
    p->Add(node["name"], JoinPath(path, "name"),
           "\"" + c->name + "\" must be a DNS-1123 label (lower-case letters, digits, '-')");
  }
  if (!node["region"]) {
    p->Add(node, JoinPath(path, "region"), "required");
  } else {
    ReadString(node["region"], JoinPath(path, "region"), p, &c->region);
  }
  if (node["jurisdiction"]) {
    ReadString(node["jurisdiction"], JoinPath(path, "jurisdiction"), p, &c->jurisdiction);
  }
  if (node["labels"]) ReadLabels(node["labels"], JoinPath(path, "labels"), p, &c->labels);
  if (node["podReadyDelay"]) {
    ReadDuration(node["podReadyDelay"], JoinPath(path, "podReadyDelay"), p,
                 &c->timings.pod_ready_delay);
  }
  if (node["podEvictionDelay"]) {
    ReadDuration(node["podEvictionDelay"], JoinPath(path, "podEvictionDelay"), p,
                 &c->timings.pod_eviction_delay);
  }
  if (node["crashLoop"])
    ReadCrashLoop(node["crashLoop"], JoinPath(path, "crashLoop"), p, &c->timings);
  if (node["namespaceDeletionDelay"]) {
    ReadDuration(node["namespaceDeletionDelay"], JoinPath(path, "namespaceDeletionDelay"), p,
                 &c->timings.namespace_deletion_delay);
  }
  if (node["loadBalancerRange"]) {
    std::string s;
    if (ReadString(node["loadBalancerRange"], JoinPath(path, "loadBalancerRange"), p, &s)) {
      Status st = ParseLoopbackRange(s, &c->lb_base, &c->lb_prefix);
      if (!st.ok()) p->Add(node["loadBalancerRange"], JoinPath(path, "loadBalancerRange"), st.message());
    }
  }
  if (node["port"]) {
    int64_t v = 0;
    if (ReadInt(node["port"], JoinPath(path, "port"), 0, 65535, p, &v)) c->port = static_cast<int>(v);
  }
  if (node["tls"]) {
    const YAML::Node& t = node["tls"];
    std::string tpath = JoinPath(path, "tls");
    if (!t.IsMap()) {
      p->Add(t, tpath, "must be a map with cert and key");
    } else {
      CheckKeys(t, tpath, {"cert", "key"}, p);
      for (const char* key : {"cert", "key"}) {
        if (!t[key]) p->Add(t, JoinPath(tpath, key), "required (a PEM file)");
      }
      if (t["cert"]) ReadFilePath(t["cert"], JoinPath(tpath, "cert"), base_dir, p, &c->tls_cert_file);
      if (t["key"]) ReadFilePath(t["key"], JoinPath(tpath, "key"), base_dir, p, &c->tls_key_file);
      if (!node["port"]) {
        p->Add(t, tpath, "needs a dedicated port (the shared listener is plain HTTP)");
      }
    }
  }
  if (node["auth"]) {
    const YAML::Node& a = node["auth"];
    std::string apath = JoinPath(path, "auth");
    if (!a.IsMap()) {
      p->Add(a, apath, "must be a map with token and/or clientCA");
    } else {
      CheckKeys(a, apath, {"token", "clientCA"}, p);
      if (a["token"] && ReadString(a["token"], JoinPath(apath, "token"), p, &c->token) &&
          c->token.empty()) {
        p->Add(a["token"], JoinPath(apath, "token"), "must not be empty");
      }
      if (a["clientCA"]) {
        ReadFilePath(a["clientCA"], JoinPath(apath, "clientCA"), base_dir, p, &c->client_ca_file);
        if (!node["tls"]) {
          p->Add(a["clientCA"], JoinPath(apath, "clientCA"),
                 "client certificates need TLS: set tls.cert and tls.key (and a port)");
        }
      }
    }
  }
  const YAML::Node& zones = node["zones"];
  std::string zpath = JoinPath(path, "zones");
  if (!zones) {
    p->Add(node, zpath, "required (at least one zone)");
    return;
  }
  if (!zones.IsSequence() || zones.size() == 0) {
    p->Add(zones, zpath, "must be a non-empty list of zones");
    return;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < zones.size(); ++i) {
    const YAML::Node& z = zones[i];
    std::string zp = zpath + "[" + std::to_string(i) + "]";
    if (!z.IsMap()) {
      p->Add(z, zp, "must be a map with name, nodes, allocatable");
      continue;
    }
    CheckKeys(z, zp, {"name", "nodes", "allocatable"}, p);
    ZoneSpec zone;
    zone.allocatable = defaults.node;
    if (!z["name"]) {
      p->Add(z, JoinPath(zp, "name"), "required");
    } else if (ReadString(z["name"], JoinPath(zp, "name"), p, &zone.name) &&
               !seen.insert(zone.name).second) {
      p->Add(z["name"], JoinPath(zp, "name"), "duplicate zone \"" + zone.name + "\"");
    }
    if (!z["nodes"]) {
      p->Add(z, JoinPath(zp, "nodes"), "required");
    } else {
      int64_t n = 0;
      if (ReadInt(z["nodes"], JoinPath(zp, "nodes"), 0, 1000, p, &n)) zone.nodes = static_cast<int>(n);
    }
    if (z["allocatable"]) ReadResources(z["allocatable"], JoinPath(zp, "allocatable"), p, &zone.allocatable);
    c->zones.push_back(std::move(zone));
  }
}

}  // namespace

const ClusterSpec* SimConfig::Find(const std::string& name) const {
  for (const auto& c : clusters) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

StatusOr<Duration> ParseDuration(const std::string& text) {
  if (text == "0") return Duration(0);
  if (text.empty()) return InvalidArgumentError("duration must not be empty");
  double total_ms = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    while (pos < text.size() && (std::isdigit(static_cast<unsigned char>(text[pos])) || text[pos] == '.')) ++pos;
    if (start == pos) {
      return InvalidArgumentError("duration \"" + text + "\": expected a number (e.g. 2s, 500ms, 1m30s)");
    }
    double v = std::strtod(text.substr(start, pos - start).c_str(), nullptr);
    size_t ustart = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
    std::string unit = text.substr(ustart, pos - ustart);
    double scale = 0;
    if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60'000;
    } else if (unit == "h") {
      scale = 3'600'000;
    } else {
      return InvalidArgumentError("duration \"" + text + "\": unit must be one of ms, s, m, h");
    }
    total_ms += v * scale;
  }
  return Duration(static_cast<int64_t>(total_ms + 0.5));
}

Status ParseLoopbackRange(const std::string& text, uint32_t* base, int* prefix) {
  unsigned a, b, c, d, len;
  char tail;
  if (std::sscanf(text.c_str(), "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &len, &tail) != 5 || a > 255 ||
      b > 255 || c > 255 || d > 255 || len > 32) {
    return InvalidArgumentError("\"" + text + "\" is not an IPv4 CIDR like 127.20.1.0/24");
  }
  if (a != 127) {
    return InvalidArgumentError("\"" + text + "\" must be inside 127.0.0.0/8 (loopback only)");
  }
  if (len < 8 || len > 30) return InvalidArgumentError("\"" + text + "\": prefix must be /8../30");
  uint32_t addr = (a << 24) | (b << 16) | (c << 8) | d;
  uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  *base = addr & mask;
  *prefix = static_cast<int>(len);
  return Status::Ok();
}

std::string ExpandSeedPattern(const std::string& pattern, int64_t index) {
  static constexpr std::string_view kIndex = "{i}";
  const std::string digits = std::to_string(index);
  std::string out;
  out.reserve(pattern.size() + 8);
  size_t from = 0;
  for (size_t at = pattern.find(kIndex); at != std::string::npos; at = pattern.find(kIndex, from)) {
    out.append(pattern, from, at - from).append(digits);
    from = at + kIndex.size();
  }
  return out.append(pattern, from);
}

std::string FormatIPv4(uint32_t addr) {
  return std::to_string(addr >> 24) + "." + std::to_string((addr >> 16) & 255) + "." +
         std::to_string((addr >> 8) & 255) + "." + std::to_string(addr & 255);
}

namespace {
uint32_t DefaultLbBase(size_t index) {
  uint32_t b = 20 + static_cast<uint32_t>(index / 250);
  uint32_t c = 1 + static_cast<uint32_t>(index % 250);
  return (127u << 24) | (b << 16) | (c << 8);
}
}  // namespace

StatusOr<SimConfig> ParseConfig(const std::string& yaml_text, const std::string& source) {
  YAML::Node root;
  try {
    root = LoadYamlDocument(yaml_text);
  } catch (const YAML::ParserException& e) {
    return InvalidArgumentError(source + ":" + std::to_string(e.mark.line + 1) + ":" +
                                std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  Problems p(source);
  if (!root.IsMap()) {
    p.Add(root, "", "the config must be a map with a clusters list");
    return InvalidArgumentError(p.Join());
  }
  SimConfig config;
  const size_t slash = source.rfind('/');
  const std::string base_dir = slash == std::string::npos ? "" : source.substr(0, slash == 0 ? 1 : slash);
  try {
    CheckKeys(root, "", {"defaults", "clusters"}, &p);
    Defaults defaults;
    if (const YAML::Node& d = root["defaults"]) {
      if (!d.IsMap()) {
        p.Add(d, "defaults", "must be a map");
      } else {
        CheckKeys(d, "defaults",
                  {"podReadyDelay", "podEvictionDelay", "namespaceDeletionDelay", "node", "seed",
                   "crashLoop"},
                  &p);
        if (d["crashLoop"])
          ReadCrashLoop(d["crashLoop"], "defaults.crashLoop", &p, &defaults.timings);
        if (d["namespaceDeletionDelay"]) {
          ReadDuration(d["namespaceDeletionDelay"], "defaults.namespaceDeletionDelay", &p,
                       &defaults.timings.namespace_deletion_delay);
        }
        if (d["podReadyDelay"]) {
          ReadDuration(d["podReadyDelay"], "defaults.podReadyDelay", &p, &defaults.timings.pod_ready_delay);
        }
        if (d["podEvictionDelay"]) {
          ReadDuration(d["podEvictionDelay"], "defaults.podEvictionDelay", &p,
                       &defaults.timings.pod_eviction_delay);
        }
        if (d["node"]) ReadResources(d["node"], "defaults.node", &p, &defaults.node);
        if (d["seed"]) ReadSeed(d["seed"], "defaults.seed", &p, &defaults.seed);
      }
    }
    const YAML::Node& clusters = root["clusters"];
    if (!clusters || !clusters.IsSequence() || clusters.size() == 0) {
      p.Add(clusters ? clusters : root, "clusters", "must be a non-empty list");
    } else {
      std::set<std::string> names;
      std::set<int> ports;
      for (size_t i = 0; i < clusters.size(); ++i) {
        ClusterSpec c;
        std::string path = "clusters[" + std::to_string(i) + "]";
        ReadCluster(clusters[i], path, defaults, base_dir, &p, &c);
        if (!c.name.empty() && !names.insert(c.name).second) {
          p.Add(clusters[i]["name"], JoinPath(path, "name"), "duplicate cluster \"" + c.name + "\"");
        }
        if (c.port > 0 && !ports.insert(c.port).second) {
          p.Add(clusters[i]["port"], JoinPath(path, "port"), "port " + std::to_string(c.port) + " used twice");
        }
        if (c.lb_base == 0) c.lb_base = DefaultLbBase(i);
        config.clusters.push_back(std::move(c));
      }
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(source + ": " + e.what());
  }
  if (!p.empty()) return InvalidArgumentError(p.Join());
  return config;
}

StatusOr<SimConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

SimConfig GenerateConfig(int count, int zones, int nodes_per_zone) {
  SimConfig config;
  config.clusters.reserve(count);
  for (int i = 0; i < count; ++i) {
    ClusterSpec c;
    char name[32];
    std::snprintf(name, sizeof name, "sim-%04d", i);
    c.name = name;
    c.region = "region-" + std::to_string(i % 10);
    c.jurisdiction = "j" + std::to_string(i % 3);
    for (int z = 0; z < zones; ++z) {
      ZoneSpec zone;
      zone.name = c.name + static_cast<char>('a' + z);
      zone.nodes = nodes_per_zone;
      c.zones.push_back(zone);
    }
    c.lb_base = DefaultLbBase(static_cast<size_t>(i));
    config.clusters.push_back(std::move(c));
  }
  return config;
}

}  // namespace meridian::membersim
