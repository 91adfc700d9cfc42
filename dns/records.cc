#include "dns/records.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <map>
#include <set>

namespace meridian::dns {

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    ip.v6 = true;
    return ip;
  }
  return std::nullopt;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf));
  return buf;
}

int CommonPrefixLength(const IpAddress& a, const IpAddress& b, int limit) {
  int n = 0;
  for (int i = 0; i < 16 && n < limit; ++i) {
    uint8_t x = a.bytes[i] ^ b.bytes[i];
    if (x == 0) {
      n += 8;
      continue;
    }
    while ((x & 0x80) == 0) {
      ++n;
      x = static_cast<uint8_t>(x << 1);
    }
    break;
  }
  return std::min(n, limit);
}

StatusOr<Cidr> Cidr::Parse(std::string_view text) {
  Cidr c;
  std::string_view addr = text;
  size_t slash = text.find('/');
  if (slash != std::string_view::npos) addr = text.substr(0, slash);
  auto ip = IpAddress::Parse(addr);
  if (!ip) return InvalidArgumentError("\"" + std::string(text) + "\" is not an address or CIDR");
  c.address = *ip;
  c.prefix = ip->BitLength();
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    int v = -1;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || ptr != p.data() + p.size() || v < 0 || v > ip->BitLength()) {
      return InvalidArgumentError("\"" + std::string(text) + "\" has an invalid prefix length");
    }
    c.prefix = v;
  }
  for (int bit = c.prefix; bit < 128; ++bit) {
    c.address.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  }
  return c;
}

std::string_view StrategyName(Strategy s) {
  switch (s) {
    case Strategy::kStatic:
      return "static";
    case Strategy::kGeo:
      return "geo";
    case Strategy::kWeighted:
      return "weighted";
    case Strategy::kFailover:
      return "failover";
  }
  return "static";
}

std::optional<Strategy> StrategyFromName(std::string_view name) {
  for (Strategy s : {Strategy::kStatic, Strategy::kGeo, Strategy::kWeighted, Strategy::kFailover}) {
    if (StrategyName(s) == name) return s;
  }
  return std::nullopt;
}

namespace {

constexpr uint32_t kMaxTtl = 0x7FFFFFFF;  // RFC 2181 §8

StatusOr<RData> CompileTarget(RRType type, const Endpoint& e) {
  switch (type) {
    case RRType::kA: {
      auto ip = IpAddress::Parse(e.target);
      if (!ip || ip->v6) return InvalidArgumentError("\"" + e.target + "\" is not an IPv4 address");
      AData a;
      std::copy_n(ip->bytes.begin(), 4, a.address.begin());
      return RData(a);
    }
    case RRType::kAAAA: {
      auto ip = IpAddress::Parse(e.target);
      if (!ip || !ip->v6)
        return InvalidArgumentError("\"" + e.target + "\" is not an IPv6 address");
      AaaaData a;
      a.address = ip->bytes;
      return RData(a);
    }
    case RRType::kCNAME:
    case RRType::kNS: {
      if (e.target.empty()) return InvalidArgumentError("must be a host name");
      MERIDIAN_ASSIGN_OR_RETURN(Name n, Name::FromText(e.target));
      return RData(NameData{std::move(n)});
    }
    case RRType::kSRV: {
      if (e.target.empty()) return InvalidArgumentError("must be a host name");
      SrvData srv;
      MERIDIAN_ASSIGN_OR_RETURN(srv.target, Name::FromText(e.target));
      srv.port = e.port;
      srv.priority = static_cast<uint16_t>(std::clamp<int32_t>(e.priority, 0, 65535));
      srv.weight = static_cast<uint16_t>(std::min<uint32_t>(e.weight, 65535));
      return RData(std::move(srv));
    }
    case RRType::kTXT: {
      TxtData txt;
      for (size_t i = 0; i < e.target.size() || txt.strings.empty(); i += 255) {
        txt.strings.push_back(e.target.substr(i, 255));
      }
      return RData(std::move(txt));
    }
    default:
      return InvalidArgumentError("type " + RRTypeName(type) + " is not served");
  }
}

}  // namespace

std::shared_ptr<const Snapshot> Snapshot::Build(const SnapshotSpec& spec, FieldErrors* errors) {
  const size_t errors_before = errors->size();
  auto snap = std::shared_ptr<Snapshot>(new Snapshot());
  auto fail = [&](std::string path, std::string message) {
    errors->push_back({std::move(path), std::move(message)});
  };

  // Regions: every name mentioned anywhere, in a stable (sorted) order.
  std::set<std::string> region_names;
  for (const RegionRtt& r : spec.rtts) {
    region_names.insert(r.from);
    region_names.insert(r.to);
  }
  for (const ClientRegionSpec& c : spec.client_regions) region_names.insert(c.region);
  for (const RecordSetSpec& rs : spec.record_sets) {
    for (const Endpoint& e : rs.endpoints) {
      if (!e.region.empty()) region_names.insert(e.region);
    }
  }
  if (!spec.default_region.empty()) region_names.insert(spec.default_region);
  region_names.erase("");
  snap->regions_.assign(region_names.begin(), region_names.end());
  const size_t n = snap->regions_.size();
  snap->rtt_.assign(n * n, UINT32_MAX);
  for (size_t i = 0; i < n; ++i) snap->rtt_[i * n + i] = 0;
  // Explicit entries first in both directions, then explicit reverse entries win.
  std::set<std::pair<int, int>> explicit_pairs;
  for (size_t i = 0; i < spec.rtts.size(); ++i) {
    const RegionRtt& r = spec.rtts[i];
    std::string path = "rtt[" + std::to_string(i) + "]";
    if (r.from.empty()) fail(path + ".from", "must name a region");
    if (r.to.empty()) fail(path + ".to", "must name a region");
    if (r.from.empty() || r.to.empty()) continue;
    int a = snap->RegionIndex(r.from), b = snap->RegionIndex(r.to);
    snap->rtt_[a * n + b] = r.ms;
    explicit_pairs.insert({a, b});
    if (!explicit_pairs.count({b, a})) snap->rtt_[b * n + a] = r.ms;
  }
  for (size_t i = 0; i < spec.client_regions.size(); ++i) {
    const ClientRegionSpec& c = spec.client_regions[i];
    std::string path = "clientRegions[" + std::to_string(i) + "]";
    auto cidr = Cidr::Parse(c.cidr);
    if (!cidr.ok()) fail(path + ".cidr", cidr.status().message());
    if (c.region.empty()) fail(path + ".region", "must name a region");
    if (cidr.ok() && !c.region.empty())
      snap->client_regions_.push_back({*cidr, snap->RegionIndex(c.region)});
  }
  snap->default_region_ = spec.default_region.empty() ? -1 : snap->RegionIndex(spec.default_region);

  // Zones, with their SOA and NS as static record sets at the apex.
  std::map<std::string, size_t> apexes;
  for (size_t z = 0; z < spec.zones.size(); ++z) {
    const ZoneSpec& zs = spec.zones[z];
    std::string path = "zones[" + std::to_string(z) + "]";
    auto apex = Name::FromText(zs.apex);
    if (zs.apex.empty() || !apex.ok() || apex->IsRoot()) {
      fail(path + ".apex", zs.apex.empty() || (apex.ok() && apex->IsRoot())
                               ? "must be a domain name below the root"
                               : apex.status().message());
      continue;
    }
    Name apex_lc = apex->Lowercased();
    if (!apexes.emplace(apex_lc.wire(), z).second) {
      fail(path + ".apex", "zone " + apex->ToText() + " is defined twice");
      continue;
    }
    auto mname = Name::FromText(zs.mname.empty() ? "ns1." + zs.apex : zs.mname);
    auto rname = Name::FromText(zs.rname.empty() ? "hostmaster." + zs.apex : zs.rname);
    if (!mname.ok()) fail(path + ".soa.mname", mname.status().message());
    if (!rname.ok()) fail(path + ".soa.rname", rname.status().message());
    if (zs.soa_ttl > kMaxTtl) fail(path + ".soa.ttl", "must be <= 2147483647");
    if (!mname.ok() || !rname.ok()) continue;
    CompiledZone zone;
    zone.apex = *apex;
    SoaData soa{*mname, *rname, zs.serial, zs.refresh, zs.retry, zs.expire, zs.minimum};
    zone.soa = ResourceRecord{*apex, RRType::kSOA, kClassIN, zs.soa_ttl, soa};
    zone.negative_ttl = std::min(zs.soa_ttl, zs.minimum);
    const int zone_index = static_cast<int>(snap->zones_.size());
    snap->zones_.push_back(zone);

    NameNode& node = snap->nodes_[apex_lc.wire()];
    node.zone = zone_index;
    CompiledRecordSet soa_set{*apex, RRType::kSOA, zs.soa_ttl, Strategy::kStatic, {}};
    soa_set.endpoints.push_back({Endpoint{}, soa, -1});
    node.sets.push_back(std::move(soa_set));
    CompiledRecordSet ns_set{*apex, RRType::kNS, zs.ns_ttl, Strategy::kStatic, {}};
    std::vector<std::string> nameservers = zs.nameservers;
    if (nameservers.empty()) nameservers.push_back(mname->ToText());
    for (size_t i = 0; i < nameservers.size(); ++i) {
      auto ns = Name::FromText(nameservers[i]);
      if (!ns.ok()) {
        fail(path + ".nameservers[" + std::to_string(i) + "]", ns.status().message());
        continue;
      }
      Endpoint e;
      e.target = nameservers[i];
      ns_set.endpoints.push_back({e, NameData{*ns}, -1});
    }
    node.sets.push_back(std::move(ns_set));
  }

  // Record sets.
  for (size_t i = 0; i < spec.record_sets.size(); ++i) {
    const RecordSetSpec& rs = spec.record_sets[i];
    std::string path = "records[" + std::to_string(i) + "]";
    auto name = Name::FromText(rs.name);
    if (rs.name.empty() || !name.ok()) {
      fail(path + ".name", rs.name.empty() ? "must be a domain name" : name.status().message());
      continue;
    }
    const CompiledZone* zone = snap->FindZone(*name);
    if (zone == nullptr) {
      fail(path + ".name", name->ToText() + " is not inside any zone");
      continue;
    }
    switch (rs.type) {
      case RRType::kA:
      case RRType::kAAAA:
      case RRType::kCNAME:
      case RRType::kSRV:
      case RRType::kTXT:
        break;
      default:
        fail(path + ".type", RRTypeName(rs.type) +
                                 " is not served in record sets (A, AAAA, CNAME, SRV, TXT; SOA and "
                                 "NS come from the zone)");
        continue;
    }
    if (rs.ttl > kMaxTtl) fail(path + ".ttl", "must be <= 2147483647");
    Name lc = name->Lowercased();
    if (rs.type == RRType::kCNAME && lc.EqualsIgnoreCase(zone->apex)) {
      fail(path + ".name", "a CNAME cannot be at the zone apex");
      continue;
    }
    CompiledRecordSet set{*name, rs.type, rs.ttl, rs.strategy, {}};
    for (size_t j = 0; j < rs.endpoints.size(); ++j) {
      const Endpoint& e = rs.endpoints[j];
      std::string epath = path + ".endpoints[" + std::to_string(j) + "]";
      auto rdata = CompileTarget(rs.type, e);
      if (!rdata.ok()) {
        fail(epath + ".target", rdata.status().message());
        continue;
      }
      if (rs.strategy == Strategy::kGeo && e.region.empty()) {
        fail(epath + ".region", "required by the geo strategy");
        continue;
      }
      if (!rs.jurisdictions.empty() && std::find(rs.jurisdictions.begin(), rs.jurisdictions.end(),
                                                 e.jurisdiction) == rs.jurisdictions.end()) {
        continue;  // residency: never answered, so never compiled in
      }
      set.endpoints.push_back(
          {e, std::move(rdata).value(), e.region.empty() ? -1 : snap->RegionIndex(e.region)});
    }
    NameNode& node = snap->nodes_[lc.wire()];
    node.zone = static_cast<int>(zone - snap->zones_.data());
    bool conflict = false;
    for (const CompiledRecordSet& other : node.sets) {
      if (other.type == rs.type) {
        fail(path, "duplicate " + RRTypeName(rs.type) + " record set for " + name->ToText());
        conflict = true;
      } else if (other.type == RRType::kCNAME || rs.type == RRType::kCNAME) {
        fail(path, "a CNAME cannot coexist with other records at " + name->ToText());
        conflict = true;
      }
      if (conflict) break;
    }
    if (conflict) continue;
    node.sets.push_back(std::move(set));
    // Every ancestor up to the apex exists (possibly empty): NODATA there, not NXDOMAIN.
    for (Name p = lc.Parent(); p.IsSubdomainOf(zone->apex) && !p.IsRoot(); p = p.Parent()) {
      NameNode& anc = snap->nodes_[p.wire()];
      anc.zone = node.zone;
    }
  }
  if (errors->size() != errors_before) return nullptr;
  return snap;
}

StatusOr<std::shared_ptr<const Snapshot>> Snapshot::Build(const SnapshotSpec& spec) {
  FieldErrors errors;
  auto snap = Build(spec, &errors);
  if (snap) return snap;
  std::string msg;
  for (const FieldError& e : errors) {
    if (!msg.empty()) msg += "; ";
    msg += e.ToString();
  }
  return InvalidArgumentError(msg);
}

const CompiledZone* Snapshot::FindZone(const Name& name) const {
  const CompiledZone* best = nullptr;
  for (const CompiledZone& z : zones_) {
    if (name.IsSubdomainOf(z.apex) &&
        (best == nullptr || z.apex.wire().size() > best->apex.wire().size())) {
      best = &z;
    }
  }
  return best;
}

const NameNode* Snapshot::FindNode(const Name& lowercase_name) const {
  auto it = nodes_.find(lowercase_name.wire());
  return it == nodes_.end() ? nullptr : &it->second;
}

uint32_t Snapshot::Rtt(int from, int to) const {
  if (from < 0 || to < 0) return UINT32_MAX;
  return rtt_[static_cast<size_t>(from) * regions_.size() + static_cast<size_t>(to)];
}

int Snapshot::RegionIndex(std::string_view name) const {
  auto it = std::lower_bound(regions_.begin(), regions_.end(), name);
  if (it == regions_.end() || *it != name) return -1;
  return static_cast<int>(it - regions_.begin());
}

}  // namespace meridian::dns
