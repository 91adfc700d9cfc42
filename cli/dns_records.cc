#include "cli/dns_records.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <tuple>

#include "api/codec.h"
#include "cli/kinds.h"
#include "cli/printers.h"

namespace meridian::cli {
namespace {

std::string CanonicalName(std::string name) {
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

std::string Join(const std::vector<std::string>& items, const std::string& empty) {
  if (items.empty()) return empty;
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

bool DnsRecordSetMatches(const api::DnsRecordSet& record_set, const std::string& filter) {
  if (filter.empty() || record_set.metadata.name == filter) return true;
  const std::string want = CanonicalName(filter);
  return std::any_of(record_set.spec.endpoints.begin(), record_set.spec.endpoints.end(),
                     [&](const api::DnsEndpoint& e) { return CanonicalName(e.dns_name) == want; });
}

std::vector<std::vector<std::string>> DnsRecordRows(
    const std::vector<api::DnsRecordSet>& record_sets) {
  struct Row {
    std::tuple<std::string, std::string, std::string> key;
    std::vector<std::string> cells;
  };
  std::vector<Row> rows;
  for (const api::DnsRecordSet& rs : record_sets) {
    const auto& allowed = rs.spec.jurisdictions;
    // Names that have targets of other types beside CNAME: the server serves those and not
    // the CNAME (a CNAME must be alone at its name; dns/served_zone.h).
    std::set<std::string> with_addresses;
    for (const api::DnsEndpoint& e : rs.spec.endpoints) {
      if (e.record_type != "CNAME" && !e.targets.empty())
        with_addresses.insert(CanonicalName(e.dns_name));
    }
    for (const api::DnsEndpoint& e : rs.spec.endpoints) {
      bool resident =
          !allowed || std::find(allowed->begin(), allowed->end(), e.jurisdiction) != allowed->end();
      bool shadowed = e.record_type == "CNAME" && with_addresses.count(CanonicalName(e.dns_name));
      std::string reason = !resident                  ? "outside residency"
                           : e.labels.count("reason") ? e.labels.at("reason")
                           : shadowed ? "a CNAME is not served beside A/AAAA at one name"
                                      : "";
      bool answered = resident && e.healthy && !e.targets.empty() && !shadowed;
      if (resident && e.healthy && e.targets.empty()) reason = "no targets";
      std::string name = CanonicalName(e.dns_name);
      rows.push_back(
          {{name, e.record_type, e.set_identifier},
           {name, e.record_type, rs.spec.strategy,
            e.record_ttl > 0 ? std::to_string(e.record_ttl) : "30",
            e.region.empty() ? "-" : e.region, e.set_identifier.empty() ? "-" : e.set_identifier,
            Join(e.targets, "<none>"), std::to_string(e.weight),
            rs.spec.strategy == "failover" ? std::to_string(e.priority) : "-",
            e.jurisdiction.empty() ? "-" : e.jurisdiction, answered ? "yes" : "no",
            reason.empty() ? "-" : reason, rs.metadata.ns + "/" + rs.metadata.name}});
    }
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.key < b.key; });
  std::vector<std::vector<std::string>> out = {{"NAME", "TYPE", "STRATEGY", "TTL", "REGION",
                                                "CLUSTER", "TARGETS", "WEIGHT", "PRIORITY",
                                                "JURISDICTION", "HEALTHY", "REASON", "RECORDSET"}};
  for (Row& r : rows) out.push_back(std::move(r.cells));
  return out;
}

int RunDnsRecords(ResourceClient& client, const std::string& ns, const std::string& filter,
                  std::ostream& out, std::ostream& err) {
  const KindInfo* kind = ResolveType("dnsrecordsets");
  if (kind == nullptr) {
    err << "error: this fedctl does not know DNSRecordSets\n";
    return 1;
  }
  ApiResult<nlohmann::json> list = client.List(*kind, ns, "");
  if (!list.ok()) {
    err << FormatApiError(list.error());
    return 1;
  }
  std::vector<api::DnsRecordSet> matched;
  if (list->contains("items") && (*list)["items"].is_array()) {
    for (const nlohmann::json& item : (*list)["items"]) {
      FieldErrors errors;
      api::DnsRecordSet rs = api::DecodeDnsRecordSet(item, &errors);
      if (!errors.empty()) {
        err << "warning: skipping DNSRecordSet " << item["metadata"].value("namespace", "") << "/"
            << item["metadata"].value("name", "") << ": " << errors.front().ToString() << "\n";
        continue;
      }
      if (DnsRecordSetMatches(rs, filter)) matched.push_back(std::move(rs));
    }
  }
  if (matched.empty()) {
    err << (filter.empty() ? std::string("No DNS records served")
                           : "No DNS records for \"" + filter + "\"")
        << (ns.empty() ? "" : " in namespace " + ns) << "\n";
    return filter.empty() ? 0 : 1;
  }
  out << AlignColumns(DnsRecordRows(matched));
  return 0;
}

}  // namespace meridian::cli
