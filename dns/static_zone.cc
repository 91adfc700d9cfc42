#include "dns/static_zone.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/yaml_reader.h"

namespace meridian::dns {
namespace {

// Walks the YAML tree collecting every problem with its location. yaml-cpp exceptions never
// escape: they become problems too.
class Decoder {
 public:
  explicit Decoder(std::string filename) : filename_(std::move(filename)) {}

  void Fail(const YAML::Mark& mark, const std::string& path, const std::string& message) {
    std::string where = filename_;
    if (mark.line >= 0)
      where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    problems_.push_back(where + ": " + (path.empty() ? "" : path + ": ") + message);
    failed_items_.insert(ItemOf(path));
  }

  // "records[3]" for "records[3].endpoints[0].target": the list item a path belongs to.
  static std::string ItemOf(const std::string& path) {
    size_t close = path.find(']');
    return close == std::string::npos ? path.substr(0, path.find('.')) : path.substr(0, close + 1);
  }
  // Whether decoding already reported a problem in the item `path` belongs to (then what
  // Snapshot::Build says about it may only echo that problem).
  bool ItemFailed(const std::string& path) const { return failed_items_.count(ItemOf(path)) > 0; }

  void Remember(const std::string& path, const YAML::Node& node) { marks_[path] = node.Mark(); }

  // The mark of the longest remembered prefix of `path` ("records[3].endpoints[1].target").
  YAML::Mark MarkFor(std::string path) const {
    while (true) {
      auto it = marks_.find(path);
      if (it != marks_.end()) return it->second;
      size_t cut = path.find_last_of(".[");
      if (cut == std::string::npos || cut == 0) break;
      path.resize(cut);
    }
    return YAML::Mark::null_mark();
  }

  void CheckKeys(const YAML::Node& map, const std::string& path,
                 const std::set<std::string>& allowed) {
    for (const auto& kv : map) {
      std::string key = kv.first.Scalar();
      if (!allowed.count(key)) Fail(kv.first.Mark(), JoinPath(path, key), "unknown field");
    }
  }

  bool IsMap(const YAML::Node& n, const std::string& path) {
    if (n.IsMap()) return true;
    Fail(n.Mark(), path, "must be a mapping");
    return false;
  }
  bool IsSeq(const YAML::Node& n, const std::string& path) {
    if (n.IsSequence()) return true;
    Fail(n.Mark(), path, "must be a list");
    return false;
  }

  void String(const YAML::Node& map, const std::string& key, const std::string& path,
              std::string* out) {
    YAML::Node n = map[key];
    if (!n) return;
    std::string p = JoinPath(path, key);
    Remember(p, n);
    if (!n.IsScalar()) return Fail(n.Mark(), p, "must be a string");
    *out = n.Scalar();
  }

  template <typename T>
  void Number(const YAML::Node& map, const std::string& key, const std::string& path, int64_t lo,
              int64_t hi, T* out) {
    YAML::Node n = map[key];
    if (!n) return;
    std::string p = JoinPath(path, key);
    Remember(p, n);
    int64_t v = 0;
    try {
      if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "");
      v = n.as<int64_t>();
    } catch (const YAML::Exception&) {
      return Fail(n.Mark(), p, "must be an integer");
    }
    if (v < lo || v > hi) {
      return Fail(n.Mark(), p,
                  "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    }
    *out = static_cast<T>(v);
  }

  void Bool(const YAML::Node& map, const std::string& key, const std::string& path, bool* out) {
    YAML::Node n = map[key];
    if (!n) return;
    std::string p = JoinPath(path, key);
    Remember(p, n);
    try {
      if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "");
      *out = n.as<bool>();
    } catch (const YAML::Exception&) {
      Fail(n.Mark(), p, "must be true or false");
    }
  }

  void Strings(const YAML::Node& map, const std::string& key, const std::string& path,
               std::vector<std::string>* out) {
    YAML::Node n = map[key];
    if (!n) return;
    std::string p = JoinPath(path, key);
    Remember(p, n);
    if (!IsSeq(n, p)) return;
    for (size_t i = 0; i < n.size(); ++i) {
      std::string ip = p + "[" + std::to_string(i) + "]";
      Remember(ip, n[i]);
      if (!n[i].IsScalar()) {
        Fail(n[i].Mark(), ip, "must be a string");
        continue;
      }
      out->push_back(n[i].Scalar());
    }
  }

  void Zone(const YAML::Node& n, const std::string& path, ZoneSpec* z) {
    Remember(path, n);
    if (!IsMap(n, path)) return;
    CheckKeys(n, path, {"apex", "soa", "nameservers", "nsTtl"});
    String(n, "apex", path, &z->apex);
    if (!n["apex"]) Fail(n.Mark(), path + ".apex", "required");
    if (YAML::Node soa = n["soa"]) {
      std::string sp = path + ".soa";
      Remember(sp, soa);
      if (IsMap(soa, sp)) {
        CheckKeys(soa, sp,
                  {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl"});
        String(soa, "mname", sp, &z->mname);
        String(soa, "rname", sp, &z->rname);
        constexpr int64_t kU32 = 0xFFFFFFFF;
        Number(soa, "serial", sp, 0, kU32, &z->serial);
        Number(soa, "refresh", sp, 0, kU32, &z->refresh);
        Number(soa, "retry", sp, 0, kU32, &z->retry);
        Number(soa, "expire", sp, 0, kU32, &z->expire);
        Number(soa, "minimum", sp, 0, kU32, &z->minimum);
        Number(soa, "ttl", sp, 0, 0x7FFFFFFF, &z->soa_ttl);
      }
    }
    Strings(n, "nameservers", path, &z->nameservers);
    Number(n, "nsTtl", path, 0, 0x7FFFFFFF, &z->ns_ttl);
  }

  void EndpointAt(const YAML::Node& n, const std::string& path, Endpoint* e) {
    Remember(path, n);
    if (!IsMap(n, path)) return;
    CheckKeys(
        n, path,
        {"target", "port", "region", "cluster", "jurisdiction", "weight", "healthy", "priority"});
    String(n, "target", path, &e->target);
    if (!n["target"]) Fail(n.Mark(), path + ".target", "required");
    Number(n, "port", path, 0, 65535, &e->port);
    String(n, "region", path, &e->region);
    String(n, "cluster", path, &e->cluster);
    String(n, "jurisdiction", path, &e->jurisdiction);
    Number(n, "weight", path, 0, 0xFFFFFFFF, &e->weight);
    Bool(n, "healthy", path, &e->healthy);
    Number(n, "priority", path, -2147483648LL, 2147483647, &e->priority);
  }

  void Record(const YAML::Node& n, const std::string& path, RecordSetSpec* r) {
    Remember(path, n);
    if (!IsMap(n, path)) return;
    CheckKeys(n, path, {"name", "type", "ttl", "strategy", "jurisdictions", "endpoints"});
    String(n, "name", path, &r->name);
    if (!n["name"]) Fail(n.Mark(), path + ".name", "required");
    std::string type = "A";
    String(n, "type", path, &type);
    auto t = RRTypeFromName(type);
    if (!t) {
      Fail(MarkFor(path + ".type"), path + ".type", "unknown record type \"" + type + "\"");
    } else {
      r->type = *t;
    }
    Number(n, "ttl", path, 0, 0x7FFFFFFF, &r->ttl);
    std::string strategy = "static";
    String(n, "strategy", path, &strategy);
    auto s = StrategyFromName(strategy);
    if (!s) {
      Fail(MarkFor(path + ".strategy"), path + ".strategy",
           "unknown strategy \"" + strategy + "\" (static, geo, weighted, failover)");
    } else {
      r->strategy = *s;
    }
    Strings(n, "jurisdictions", path, &r->jurisdictions);
    if (YAML::Node eps = n["endpoints"]) {
      std::string ep = path + ".endpoints";
      Remember(ep, eps);
      if (IsSeq(eps, ep)) {
        r->endpoints.resize(eps.size());
        for (size_t i = 0; i < eps.size(); ++i)
          EndpointAt(eps[i], ep + "[" + std::to_string(i) + "]", &r->endpoints[i]);
      }
    }
  }

  template <typename T, typename Fn>
  void List(const YAML::Node& root, const std::string& key, std::vector<T>* out, Fn fn) {
    YAML::Node n = root[key];
    if (!n) return;
    Remember(key, n);
    if (!IsSeq(n, key)) return;
    out->resize(n.size());
    for (size_t i = 0; i < n.size(); ++i) fn(n[i], key + "[" + std::to_string(i) + "]", &(*out)[i]);
  }

  void Root(const YAML::Node& root, SnapshotSpec* spec) {
    if (!root.IsMap()) return Fail(root.Mark(), "", "the file must be a YAML mapping");
    CheckKeys(root, "", {"zones", "records", "rtt", "clientRegions", "defaultRegion"});
    List(root, "zones", &spec->zones,
         [this](const YAML::Node& n, const std::string& p, ZoneSpec* z) { Zone(n, p, z); });
    if (spec->zones.empty()) Fail(root.Mark(), "zones", "at least one zone is required");
    List(root, "records", &spec->record_sets,
         [this](const YAML::Node& n, const std::string& p, RecordSetSpec* r) { Record(n, p, r); });
    List(root, "rtt", &spec->rtts, [this](const YAML::Node& n, const std::string& p, RegionRtt* r) {
      Remember(p, n);
      if (!IsMap(n, p)) return;
      CheckKeys(n, p, {"from", "to", "ms"});
      String(n, "from", p, &r->from);
      String(n, "to", p, &r->to);
      if (!n["ms"]) Fail(n.Mark(), p + ".ms", "required");
      Number(n, "ms", p, 0, 0xFFFFFFFE, &r->ms);
    });
    ClientRegions(root, spec);
  }

  // The keys a client-regions file has (also part of a zone file).
  void ClientRegions(const YAML::Node& root, SnapshotSpec* spec) {
    List(root, "clientRegions", &spec->client_regions,
         [this](const YAML::Node& n, const std::string& p, ClientRegionSpec* c) {
           Remember(p, n);
           if (!IsMap(n, p)) return;
           CheckKeys(n, p, {"cidr", "region"});
           String(n, "cidr", p, &c->cidr);
           String(n, "region", p, &c->region);
           if (!n["cidr"]) Fail(n.Mark(), p + ".cidr", "required");
           if (!n["region"]) Fail(n.Mark(), p + ".region", "required");
         });
    String(root, "defaultRegion", "", &spec->default_region);
  }

  void ClientRegionsRoot(const YAML::Node& root, SnapshotSpec* spec) {
    if (!root.IsMap()) return Fail(root.Mark(), "", "the file must be a YAML mapping");
    CheckKeys(root, "", {"clientRegions", "defaultRegion"});
    if (!root["clientRegions"]) Fail(root.Mark(), "clientRegions", "required");
    ClientRegions(root, spec);
  }

  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::string filename_;
  std::vector<std::string> problems_;
  std::set<std::string> failed_items_;
  std::map<std::string, YAML::Mark> marks_;
};

Status Problems(const std::vector<std::string>& problems) {
  std::string msg;
  for (const std::string& p : problems) {
    if (!msg.empty()) msg += "\n";
    msg += p;
  }
  return InvalidArgumentError(msg);
}

// Loads `yaml_text`, decodes it with `decode` into a SnapshotSpec and checks it with
// Snapshot::Build, reporting every problem with its location.
template <typename DecodeFn>
StatusOr<std::pair<SnapshotSpec, std::shared_ptr<const Snapshot>>> DecodeAndBuild(
    const std::string& yaml_text, const std::string& filename, DecodeFn decode) {
  Decoder d(filename);
  YAML::Node root;
  try {
    root = LoadYamlDocument(yaml_text);
  } catch (const YAML::ParserException& e) {
    d.Fail(e.mark, "", "YAML syntax: " + e.msg);
    return Problems(d.problems());
  } catch (const YAML::Exception& e) {
    d.Fail(e.mark, "", e.msg);
    return Problems(d.problems());
  }
  SnapshotSpec spec;
  try {
    decode(d, root, &spec);
  } catch (const YAML::Exception& e) {
    d.Fail(e.mark, "", e.msg);
  }
  // Semantic checks run even when decoding found problems, so that one pass reports every
  // problem in the file; items that already failed to decode are not judged again.
  const bool decode_failed = !d.problems().empty();
  FieldErrors errors;
  auto snap = Snapshot::Build(spec, &errors);
  for (const FieldError& e : errors) {
    if (!decode_failed || !d.ItemFailed(e.path)) d.Fail(d.MarkFor(e.path), e.path, e.message);
  }
  if (decode_failed || !snap) return Problems(d.problems());
  return std::make_pair(std::move(spec), std::move(snap));
}

}  // namespace

StatusOr<std::shared_ptr<const Snapshot>> ParseStaticZone(const std::string& yaml_text,
                                                          const std::string& filename) {
  MERIDIAN_ASSIGN_OR_RETURN(auto built,
                            DecodeAndBuild(yaml_text, filename,
                                           [](Decoder& d, const YAML::Node& root,
                                              SnapshotSpec* spec) { d.Root(root, spec); }));
  return built.second;
}

StatusOr<ClientRegionTable> ParseClientRegions(const std::string& yaml_text,
                                               const std::string& filename) {
  MERIDIAN_ASSIGN_OR_RETURN(
      auto built, DecodeAndBuild(yaml_text, filename,
                                 [](Decoder& d, const YAML::Node& root, SnapshotSpec* spec) {
                                   d.ClientRegionsRoot(root, spec);
                                 }));
  return ClientRegionTable{std::move(built.first.client_regions),
                           std::move(built.first.default_region)};
}

StatusOr<ClientRegionTable> LoadClientRegionsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot read client regions file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseClientRegions(ss.str(), path);
}

StatusOr<std::shared_ptr<const Snapshot>> LoadStaticZoneFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot read zone file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseStaticZone(ss.str(), path);
}

}  // namespace meridian::dns
