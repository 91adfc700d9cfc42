#include "failover/drill_dns.h"

#include <algorithm>
#include <set>

#include "dns/answer.h"

namespace meridian::failover {
namespace {

using nlohmann::json;

// One client a drill asks as: its region's label and the EDNS client subnet it sends.
struct ProbeClient {
  std::string region;
  dns::ClientSubnet subnet;
};

// One client per region of the client-subnet table (its first CIDR that resolves to it: a
// CIDR shadowed by a more specific entry does not speak for its region), and "default" as
// a /0 subnet (RFC 7871 §7.1.2: "do not tailor"; the server then uses the default region).
std::vector<ProbeClient> ProbeClients(const dns::Snapshot& snapshot) {
  std::vector<ProbeClient> out;
  std::set<int> seen;
  for (const dns::Snapshot::ClientRegionEntry& e : snapshot.client_regions()) {
    if (e.region < 0 || seen.count(e.region)) continue;
    if (dns::ResolveClientRegion(e.cidr.address, e.cidr.prefix, snapshot).region != e.region) {
      continue;
    }
    seen.insert(e.region);
    ProbeClient c;
    c.region = snapshot.regions()[static_cast<size_t>(e.region)];
    c.subnet.family =
        e.cidr.address.v6 ? dns::ClientSubnet::kFamilyIPv6 : dns::ClientSubnet::kFamilyIPv4;
    c.subnet.source_prefix = static_cast<uint8_t>(e.cidr.prefix);
    c.subnet.address = e.cidr.address.bytes;
    out.push_back(c);
  }
  ProbeClient fallback;
  fallback.region = "default";
  fallback.subnet.source_prefix = 0;
  out.push_back(fallback);
  return out;
}

// The type to ask for at a node: A unless the name only has AAAA (a CNAME set answers any).
dns::RRType QueryType(const dns::NameNode& node) {
  bool has_a = false, has_aaaa = false;
  for (const dns::CompiledRecordSet& s : node.sets) {
    has_a = has_a || s.type == dns::RRType::kA || s.type == dns::RRType::kCNAME;
    has_aaaa = has_aaaa || s.type == dns::RRType::kAAAA;
  }
  return !has_a && has_aaaa ? dns::RRType::kAAAA : dns::RRType::kA;
}

// The endpoint an answer record came from: same owner name, type and data.
const dns::CompiledEndpoint* EndpointOf(const dns::Snapshot& snapshot,
                                        const dns::ResourceRecord& rr) {
  const dns::NameNode* node = snapshot.FindNode(rr.name.Lowercased());
  if (node == nullptr) return nullptr;
  for (const dns::CompiledRecordSet& s : node->sets) {
    if (s.type != rr.type) continue;
    for (const dns::CompiledEndpoint& e : s.endpoints) {
      if (e.rdata == rr.rdata) return &e;
    }
  }
  return nullptr;
}

const api::MemberCluster* FindMemberNamed(const std::vector<api::MemberCluster>& members,
                                          const std::string& name) {
  for (const api::MemberCluster& m : members) {
    if (m.metadata.name == name) return &m;
  }
  return nullptr;
}

// The prefix of a field under `path` ("" for an empty path).
std::string Prefix(const std::string& path) { return path.empty() ? "" : path + "."; }

// A small reader whose first error names the field.
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}
  const Status& status() const { return status_; }
  void Fail(const std::string& field, const std::string& why) {
    if (status_.ok()) status_ = InvalidArgumentError(path_ + field + ": " + why);
  }
  void Int(const json& j, const char* key, int64_t* out) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return;
    if (!it->is_number_integer()) return Fail(key, "want an integer");
    *out = it->get<int64_t>();
  }
  void OptInt(const json& j, const char* key, std::optional<int64_t>* out) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return;
    int64_t v = 0;
    Int(j, key, &v);
    *out = v;
  }
  void Strings(const json& v, const std::string& field, std::vector<std::string>* out) {
    if (!v.is_array()) return Fail(field, "want an array of strings");
    for (const json& s : v) {
      if (!s.is_string()) return Fail(field, "want an array of strings");
      out->push_back(s.get<std::string>());
    }
  }

 private:
  std::string path_;
  Status status_;
};

}  // namespace

bool MemberInsideTarget(const api::DrillTarget& target, const api::MemberCluster& member) {
  if (!target.cluster.empty()) return member.metadata.name == target.cluster;
  if (!target.region.empty()) return member.spec.region == target.region;
  const auto& zones = member.spec.zones;
  return !target.zone.empty() && !zones.empty() &&
         std::all_of(zones.begin(), zones.end(),
                     [&](const std::string& z) { return z == target.zone; });
}

std::vector<std::string> DnsNamesOf(const std::vector<api::FederatedWorkload>& workloads) {
  std::set<std::string> names;
  for (const api::FederatedWorkload& w : workloads) {
    if (w.spec.dns && !w.spec.dns->name.empty()) names.insert(w.spec.dns->name);
  }
  return {names.begin(), names.end()};
}

std::vector<DnsProbe> PlanDnsProbes(const dns::Snapshot& snapshot,
                                    const std::vector<std::string>& names) {
  std::vector<DnsProbe> out;
  const std::vector<ProbeClient> clients = ProbeClients(snapshot);
  for (const std::string& text : names) {
    StatusOr<dns::Name> name = dns::Name::FromText(text);
    if (!name.ok()) continue;
    const dns::NameNode* node = snapshot.FindNode(name->Lowercased());
    if (node == nullptr) continue;  // not served (yet): nothing a client could be sent to
    for (const ProbeClient& client : clients) {
      DnsProbe probe{text, client.region, {}};
      probe.query.questions.push_back({*name, QueryType(*node), dns::kClassIN});
      probe.query.edns = dns::Edns{};
      probe.query.edns->client_subnet = client.subnet;
      out.push_back(std::move(probe));
    }
  }
  return out;
}

std::vector<StatusOr<dns::Message>> SnapshotDnsTransport::Exchange(
    const std::vector<dns::Message>& queries) {
  std::vector<StatusOr<dns::Message>> out;
  out.reserve(queries.size());
  for (const dns::Message& query : queries) {
    // The peer address only matters without ECS; the subnet decides the client region.
    out.emplace_back(dns::BuildResponse(query, dns::IpAddress::V4(127, 0, 0, 1), *snapshot_));
  }
  return out;
}

std::string SnapshotDnsTransport::Describe() const {
  return "the served DNS snapshot, asked in-process";
}

DnsObservation ObserveDns(std::shared_ptr<const dns::Snapshot> snapshot,
                          const std::vector<std::string>& names, DnsQueryTransport& transport) {
  DnsObservation out;
  out.probes = PlanDnsProbes(*snapshot, names);
  out.snapshot = std::move(snapshot);
  out.source = transport.Describe();
  if (out.probes.empty()) return out;
  std::vector<dns::Message> queries;
  queries.reserve(out.probes.size());
  for (const DnsProbe& p : out.probes) queries.push_back(p.query);
  out.results = transport.Exchange(queries);
  // A transport that answered short: the missing ones are lost, not skipped.
  while (out.results.size() < out.probes.size()) {
    out.results.emplace_back(InternalError("the transport returned no result for this query"));
  }
  return out;
}

DnsAnswerSample SampleDnsAnswers(const DnsObservation& observed,
                                 const std::vector<std::string>& names,
                                 const api::DrillTarget& target,
                                 const std::vector<api::MemberCluster>& members) {
  DnsAnswerSample out;
  out.source = observed.source;
  const std::set<std::string> wanted(names.begin(), names.end());
  for (size_t i = 0; i < observed.probes.size() && i < observed.results.size(); ++i) {
    const DnsProbe& probe = observed.probes[i];
    if (!wanted.count(probe.name)) continue;
    const StatusOr<dns::Message>& response = observed.results[i];
    // Truncated: the answer did not fit (or the rate limiter slipped it): no records to judge.
    if (!response.ok() || response->header.tc) {
      ++out.lost;
      continue;
    }
    if (response->header.rcode != dns::RCode::kNoError) continue;
    ++out.answers;
    std::vector<std::string>& regions = out.sent_to[probe.client_region];
    bool addressed = false, to_failed = false;
    for (const dns::ResourceRecord& rr : response->answers) {
      const dns::CompiledEndpoint* e = EndpointOf(*observed.snapshot, rr);
      if (e == nullptr) continue;
      addressed = true;
      const std::string region = e->spec.region.empty() ? "?" : e->spec.region;
      if (std::find(regions.begin(), regions.end(), region) == regions.end()) {
        regions.push_back(region);
      }
      const api::MemberCluster* m = FindMemberNamed(members, e->spec.cluster);
      // An endpoint without a known member is judged by its region (a region target).
      if (m != nullptr ? MemberInsideTarget(target, *m)
                       : (!target.region.empty() && e->spec.region == target.region)) {
        to_failed = true;
      }
    }
    std::sort(regions.begin(), regions.end());
    if (!addressed) ++out.empty;
    if (to_failed) ++out.to_failed;
  }
  return out;
}

void AddDnsSample(DnsAnswerSummary* summary, const DnsAnswerSample& sample, int64_t at_ms) {
  summary->queries += sample.answers + sample.lost;
  summary->lost += sample.lost;
  if (!sample.source.empty()) summary->source = sample.source;
  if (sample.answers <= 0) return;  // nothing answered: no figure to fold in
  const int64_t percent = sample.PercentToFailed();
  ++summary->samples;
  ++summary->percent_histogram[percent];
  if (!summary->max_percent || percent > *summary->max_percent) {
    summary->max_percent = percent;
    summary->max_at_ms = at_ms;
  }
  if (sample.to_failed > 0) summary->last_to_failed_ms = at_ms;
  for (const auto& [client, regions] : sample.sent_to) {
    std::map<std::string, int64_t>& to = summary->sent_to[client];
    for (const std::string& r : regions) ++to[r];
  }
}

std::optional<int64_t> DnsPercentile(const DnsAnswerSummary& summary, int p) {
  if (summary.samples <= 0) return std::nullopt;
  // Nearest rank over the histogram: the smallest value with >= p% of samples at or below.
  const int64_t rank = std::max<int64_t>(1, (summary.samples * p + 99) / 100);
  int64_t seen = 0;
  for (const auto& [percent, count] : summary.percent_histogram) {
    seen += count;
    if (seen >= rank) return percent;
  }
  return summary.percent_histogram.rbegin()->first;
}

bool DnsAbortFires(const DnsAnswerSample& sample, std::optional<int32_t> percent) {
  if (!percent || sample.answers <= 0) return false;
  return sample.to_failed * 100 > int64_t{*percent} * sample.answers;
}

json DnsSampleToJson(const DnsAnswerSample& s) {
  json sent = json::object();
  for (const auto& [client, regions] : s.sent_to) sent[client] = regions;
  return {{"answers", s.answers},
          {"toFailed", s.to_failed},
          {"empty", s.empty},
          {"percentToFailed", s.PercentToFailed()},
          {"lost", s.lost},
          {"sentTo", std::move(sent)}};
}

StatusOr<DnsAnswerSample> DnsSampleFromJson(const json& j, const std::string& path) {
  if (!j.is_object())
    return InvalidArgumentError((path.empty() ? "" : path + ": ") + "want an object");
  Reader in(Prefix(path));
  DnsAnswerSample s;
  in.Int(j, "answers", &s.answers);
  in.Int(j, "toFailed", &s.to_failed);
  in.Int(j, "empty", &s.empty);
  in.Int(j, "lost", &s.lost);
  if (auto it = j.find("sentTo"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) {
      in.Fail("sentTo", "want an object");
    } else {
      for (auto r = it->begin(); r != it->end(); ++r) {
        in.Strings(*r, "sentTo." + r.key(), &s.sent_to[r.key()]);
      }
    }
  }
  if (!in.status().ok()) return in.status();
  return s;
}

json DnsSummaryToJson(const DnsAnswerSummary& s) {
  json histogram = json::object();
  for (const auto& [percent, count] : s.percent_histogram)
    histogram[std::to_string(percent)] = count;
  json sent = json::object();
  for (const auto& [client, to] : s.sent_to) {
    json regions = json::object();
    for (const auto& [region, n] : to) regions[region] = n;
    sent[client] = std::move(regions);
  }
  auto opt = [](const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); };
  return {{"source", s.source},
          {"names", s.names},
          {"samples", s.samples},
          {"queries", s.queries},
          {"lost", s.lost},
          {"maxPercentToFailed", opt(s.max_percent)},
          {"maxAtMs", s.max_percent ? json(s.max_at_ms) : json(nullptr)},
          {"p50PercentToFailed", opt(DnsPercentile(s, 50))},
          {"p95PercentToFailed", opt(DnsPercentile(s, 95))},
          {"lastToFailedMs", opt(s.last_to_failed_ms)},
          {"percentHistogram", std::move(histogram)},
          {"sentTo", std::move(sent)}};
}

StatusOr<DnsAnswerSummary> DnsSummaryFromJson(const json& j, const std::string& path) {
  if (!j.is_object())
    return InvalidArgumentError((path.empty() ? "" : path + ": ") + "want an object");
  Reader in(Prefix(path));
  DnsAnswerSummary s;
  if (auto it = j.find("names"); it != j.end() && !it->is_null())
    in.Strings(*it, "names", &s.names);
  in.Int(j, "samples", &s.samples);
  in.Int(j, "queries", &s.queries);
  in.Int(j, "lost", &s.lost);
  if (auto it = j.find("source"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      s.source = it->get<std::string>();
    } else {
      in.Fail("source", "want a string");
    }
  }
  in.OptInt(j, "maxPercentToFailed", &s.max_percent);
  in.Int(j, "maxAtMs", &s.max_at_ms);
  in.OptInt(j, "lastToFailedMs", &s.last_to_failed_ms);
  if (auto it = j.find("percentHistogram"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) {
      in.Fail("percentHistogram", "want an object");
    } else {
      for (auto h = it->begin(); h != it->end(); ++h) {
        const std::string& key = h.key();
        if (key.empty() || key.size() > 3 ||
            key.find_first_not_of("0123456789") != std::string::npos || !h->is_number_integer()) {
          in.Fail("percentHistogram." + key, "want a percentage mapped to a count");
          continue;
        }
        s.percent_histogram[std::stoll(key)] = h->get<int64_t>();
      }
    }
  }
  if (auto it = j.find("sentTo"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) {
      in.Fail("sentTo", "want an object");
    } else {
      for (auto c = it->begin(); c != it->end(); ++c) {
        if (!c->is_object()) {
          in.Fail("sentTo." + c.key(), "want an object of counts");
          continue;
        }
        for (auto r = c->begin(); r != c->end(); ++r) {
          if (!r->is_number_integer()) {
            in.Fail("sentTo." + c.key() + "." + r.key(), "want an integer");
            continue;
          }
          s.sent_to[c.key()][r.key()] = r->get<int64_t>();
        }
      }
    }
  }
  if (!in.status().ok()) return in.status();
  return s;
}

}  // namespace meridian::failover
