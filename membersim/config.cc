#include "membersim/config.h"

#include <cctype>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

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
    std::string loc = source_;
    YAML::Mark mark = at.Mark();
    if (mark.line >= 0) {
      loc += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }
    lines_.push_back(loc + ": " + (path.empty() ? message : path + ": " + message));
  }
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

struct Defaults {
  ClusterTimings timings;
  NodeResources node;
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
       "namespaceDeletionDelay", "loadBalancerRange", "port", "tls", "auth"},
      p);
  c->timings = defaults.timings;
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
  if (node["labels"]) {
    if (!node["labels"].IsMap()) {
      p->Add(node["labels"], JoinPath(path, "labels"), "must be a map of strings");
    } else {
      for (const auto& kv : node["labels"]) {
        std::string v;
        if (ReadString(kv.second, JoinPath(JoinPath(path, "labels"), kv.first.Scalar()), p, &v)) {
          c->labels[kv.first.Scalar()] = v;
        }
      }
    }
  }
  if (node["podReadyDelay"]) {
    ReadDuration(node["podReadyDelay"], JoinPath(path, "podReadyDelay"), p,
                 &c->timings.pod_ready_delay);
  }
  if (node["podEvictionDelay"]) {
    ReadDuration(node["podEvictionDelay"], JoinPath(path, "podEvictionDelay"), p,
                 &c->timings.pod_eviction_delay);
  }
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
                  {"podReadyDelay", "podEvictionDelay", "namespaceDeletionDelay", "node"}, &p);
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
