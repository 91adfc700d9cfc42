#include "dns/served_zone.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace meridian::dns {
namespace {

constexpr uint32_t kDefaultTtl = 30;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "records[12].endpoints[0].target" -> 12; -1 when the path is not about a record set.
int RecordIndexOf(const std::string& path) {
  static constexpr std::string_view kPrefix = "records[";
  if (path.rfind(kPrefix, 0) != 0) return -1;
  size_t close = path.find(']');
  if (close == std::string::npos) return -1;
  try {
    return std::stoi(path.substr(kPrefix.size(), close - kPrefix.size()));
  } catch (const std::exception&) {
    return -1;
  }
}

std::string Join(const FieldErrors& errors) {
  std::string msg;
  for (const FieldError& e : errors) msg += (msg.empty() ? "" : "; ") + e.ToString();
  return msg;
}

}  // namespace

SnapshotSpec ServedSnapshotSpec(const std::vector<api::DnsRecordSet>& record_sets,
                                const std::vector<api::Topology>& topologies,
                                const ServingConfig& config, uint32_t serial,
                                std::vector<std::string>* origins,
                                const std::set<std::string>& unhealthy_members,
                                std::vector<std::string>* problems) {
  SnapshotSpec spec;
  spec.zones = config.zones;
  for (ZoneSpec& z : spec.zones) z.serial = serial;
  spec.client_regions = config.client_regions;
  spec.default_region = config.default_region;

  // RTTs: regions first, then demand sources (a source named like a region is ignored, so a
  // region's own row always wins); the first Topology by name wins a pair.
  std::vector<const api::Topology*> sorted;
  for (const api::Topology& t : topologies) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](const api::Topology* a, const api::Topology* b) {
    return a->metadata.name < b->metadata.name;
  });
  std::set<std::pair<std::string, std::string>> seen;
  std::set<std::string> region_names;
  for (const api::Topology* t : sorted) {
    for (const placement::RegionSpec& r : t->spec.regions) region_names.insert(r.name);
  }
  auto add_rtt = [&](const std::string& from, const std::string& to, int32_t ms) {
    if (from.empty() || to.empty() || !seen.insert({from, to}).second) return;
    spec.rtts.push_back({from, to, static_cast<uint32_t>(std::max(0, ms))});
  };
  for (const api::Topology* t : sorted) {
    for (const placement::RegionSpec& r : t->spec.regions) {
      for (const auto& [to, ms] : r.rtt_ms) add_rtt(r.name, to, ms);
    }
  }
  for (const api::Topology* t : sorted) {
    for (const placement::DemandProfile& p : t->spec.demand_profiles) {
      for (const placement::DemandSource& s : p.sources) {
        if (region_names.count(s.name)) continue;
        for (const auto& [to, ms] : s.rtt_ms) add_rtt(s.name, to, ms);
      }
    }
  }

  for (const api::DnsRecordSet& rs : record_sets) {
    const std::string origin = rs.metadata.ns + "/" + rs.metadata.name;
    auto strategy = StrategyFromName(rs.spec.strategy);
    // (dnsName lower-cased, record type) -> index in spec.record_sets, in first-seen order.
    std::map<std::pair<std::string, std::string>, size_t> groups;
    for (const api::DnsEndpoint& e : rs.spec.endpoints) {
      auto key = std::make_pair(Lower(e.dns_name), e.record_type);
      auto [it, added] = groups.emplace(key, spec.record_sets.size());
      if (added) {
        RecordSetSpec set;
        set.name = e.dns_name;
        set.type = RRTypeFromName(e.record_type).value_or(RRType::kA);
        set.ttl = 0;
        set.strategy = strategy.value_or(Strategy::kStatic);
        if (rs.spec.jurisdictions) set.jurisdictions = *rs.spec.jurisdictions;
        spec.record_sets.push_back(std::move(set));
        if (origins) origins->push_back(origin);
      }
      RecordSetSpec& set = spec.record_sets[it->second];
      if (e.record_ttl > 0) {
        uint32_t ttl = static_cast<uint32_t>(std::min<int64_t>(e.record_ttl, 0x7FFFFFFF));
        set.ttl = set.ttl == 0 ? ttl : std::min(set.ttl, ttl);
      }
      // Present but empty jurisdictions: nothing may be answered.
      if (rs.spec.jurisdictions && rs.spec.jurisdictions->empty()) continue;
      for (const std::string& target : e.targets) {
        Endpoint ep;
        ep.target = target;
        ep.region = e.region;
        ep.cluster = e.set_identifier;
        ep.jurisdiction = e.jurisdiction;
        ep.weight =
            e.weight <= 0 ? 1 : static_cast<uint32_t>(std::min<int64_t>(e.weight, 0xFFFFFFFF));
        ep.healthy = e.healthy && !unhealthy_members.count(e.set_identifier);
        ep.priority = e.priority;
        set.endpoints.push_back(std::move(ep));
      }
    }
    for (const auto& [key, index] : groups) {
      if (spec.record_sets[index].ttl == 0) spec.record_sets[index].ttl = kDefaultTtl;
    }
    // A CNAME must be alone at its name: where this object gives a name both a CNAME and
    // other types, the other types are served if they have any target (external-dns' rule;
    // the DNS controller writes such CNAME endpoints unhealthy with the reason, anything else,
    // an edited or imported object, is reported), else the CNAME is (the others are only the
    // target-less placeholders of members without a load balancer yet).
    std::set<size_t> dropped;
    for (const auto& [key, index] : groups) {
      if (key.second != "CNAME") continue;
      std::vector<size_t> others;
      bool others_have_targets = false;
      for (const auto& [other, other_index] : groups) {
        if (other.first != key.first || other.second == "CNAME") continue;
        others.push_back(other_index);
        others_have_targets =
            others_have_targets || !spec.record_sets[other_index].endpoints.empty();
      }
      if (others.empty()) continue;
      const RecordSetSpec& set = spec.record_sets[index];
      if (!others_have_targets && !set.endpoints.empty()) {
        dropped.insert(others.begin(), others.end());
        continue;
      }
      dropped.insert(index);
      bool answerable = std::any_of(set.endpoints.begin(), set.endpoints.end(),
                                    [](const Endpoint& e) { return e.healthy; });
      if (problems && answerable) {
        problems->push_back("DNSRecordSet " + origin + " (" + set.name +
                            " CNAME): not served: the same name has A/AAAA targets, and a "
                            "CNAME must be alone at its name");
      }
    }
    for (auto it = dropped.rbegin(); it != dropped.rend(); ++it) {
      spec.record_sets.erase(spec.record_sets.begin() + static_cast<std::ptrdiff_t>(*it));
      if (origins) origins->erase(origins->begin() + static_cast<std::ptrdiff_t>(*it));
    }
  }
  return spec;
}

StatusOr<std::shared_ptr<const Snapshot>> BuildServedSnapshot(
    const std::vector<api::DnsRecordSet>& record_sets, const std::vector<api::Topology>& topologies,
    const ServingConfig& config, uint32_t serial, std::vector<std::string>* problems,
    const std::set<std::string>& unhealthy_members) {
  std::vector<std::string> origins;
  SnapshotSpec spec = ServedSnapshotSpec(record_sets, topologies, config, serial, &origins,
                                         unhealthy_members, problems);
  // Each round drops at least one record set, so this ends; usually it is one round.
  while (true) {
    FieldErrors errors;
    std::shared_ptr<const Snapshot> snap = Snapshot::Build(spec, &errors);
    if (snap) return snap;
    std::set<int> bad;
    FieldErrors config_errors;
    for (const FieldError& e : errors) {
      int i = RecordIndexOf(e.path);
      if (i >= 0 && static_cast<size_t>(i) < spec.record_sets.size()) {
        bad.insert(i);
        if (problems) {
          problems->push_back("DNSRecordSet " + origins[i] + " (" + spec.record_sets[i].name + " " +
                              RRTypeName(spec.record_sets[i].type) + "): " + e.ToString());
        }
      } else {
        config_errors.push_back(e);
      }
    }
    if (!config_errors.empty() || bad.empty()) {
      return InvalidArgumentError("DNS configuration: " +
                                  Join(config_errors.empty() ? errors : config_errors));
    }
    for (auto it = bad.rbegin(); it != bad.rend(); ++it) {
      spec.record_sets.erase(spec.record_sets.begin() + *it);
      origins.erase(origins.begin() + *it);
    }
  }
}

Status ValidateServingConfig(const ServingConfig& config) {
  if (config.zones.empty()) return InvalidArgumentError("at least one DNS zone is required");
  std::vector<std::string> problems;
  auto built = BuildServedSnapshot({}, {}, config, 1, &problems);
  return built.ok() ? Status::Ok() : built.status();
}

}  // namespace meridian::dns
