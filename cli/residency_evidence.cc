#include "cli/residency_evidence.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "cli/raw_list.h"
#include "common/field_error.h"

namespace meridian::cli {
namespace {

using nlohmann::json;
using residency::EvidenceEntry;

Timestamp TimeOf(const EvidenceEntry& e) {
  Timestamp t{};
  ParseRfc3339(e.time, &t);  // checked when the chain was verified
  return t;
}

std::string Str(const json& d, const char* key) {
  auto it = d.find(key);
  return it != d.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> Strings(const json& d, const char* key) {
  std::vector<std::string> out;
  auto it = d.find(key);
  if (it == d.end() || !it->is_array()) return out;
  for (const json& s : *it) {
    if (s.is_string()) out.push_back(s.get<std::string>());
  }
  return out;
}

std::string Join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string FormatDuration(Timestamp::duration d) {
  int64_t s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  const int64_t days = s / 86400, hours = s % 86400 / 3600, minutes = s % 3600 / 60;
  s %= 60;
  char buf[64];
  if (days > 0) {
    std::snprintf(buf, sizeof buf, "%lldd%lldh", static_cast<long long>(days),
                  static_cast<long long>(hours));
  } else if (hours > 0) {
    std::snprintf(buf, sizeof buf, "%lldh%lldm", static_cast<long long>(hours),
                  static_cast<long long>(minutes));
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%llds", static_cast<long long>(minutes),
                  static_cast<long long>(s));
  }
  return buf;
}

std::string Percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", share * 100);
  return buf;
}

ViolationRecord ViolationFrom(const json& d, Timestamp opened) {
  ViolationRecord v;
  v.key = Str(d, "key");
  v.member = Str(d, "member");
  v.jurisdiction = Str(d, "jurisdiction");
  v.kind = Str(d, "kind");
  v.ns = Str(d, "namespace");
  v.name = Str(d, "name");
  v.workload = Str(d, "workload");
  v.message = Str(d, "message");
  v.opened = opened;
  return v;
}

bool InNamespace(const std::string& workload, const std::string& ns) {
  return ns.empty() || workload.rfind(ns + "/", 0) == 0;
}

// Coverage: each AuditScan entry vouches for its outcome from its time until the next one,
// but at most heartbeatSeconds + grace (past that nobody looked: a controller down, say).
void ComputeCoverage(const std::vector<const EvidenceEntry*>& scans, const ReportOptions& o,
                     ComplianceReport* r) {
  std::vector<CoverageGap> gaps;
  auto gap = [&](Timestamp from, Timestamp to, const std::string& reason) {
    from = std::max(from, o.from);
    to = std::min(to, o.to);
    if (from >= to) return;
    if (!gaps.empty() && gaps.back().to == from && gaps.back().reason == reason) {
      gaps.back().to = to;
    } else {
      gaps.push_back({from, to, reason});
    }
  };
  Timestamp cursor = o.from;  // everything before it is accounted for
  Timestamp::duration covered{};
  for (size_t i = 0; i < scans.size(); ++i) {
    const Timestamp t = TimeOf(*scans[i]);
    if (t >= o.to) break;
    const json& d = scans[i]->data;
    const int64_t heartbeat = d.value("heartbeatSeconds", int64_t{0});
    Timestamp until = t + std::chrono::seconds(heartbeat) + o.heartbeat_grace;
    if (i + 1 < scans.size()) until = std::min(until, TimeOf(*scans[i + 1]));
    if (until <= o.from) continue;
    if (t > cursor) gap(cursor, t, "no audit evidence");
    std::vector<std::string> unverified;
    if (d.contains("membersUnverified") && d["membersUnverified"].is_array()) {
      for (const json& u : d["membersUnverified"]) {
        const std::string reason = Str(u, "reason");
        unverified.push_back(Str(u, "member") + (reason.empty() ? "" : " (" + reason + ")"));
      }
    }
    const Timestamp from = std::max(t, o.from), to = std::min(until, o.to);
    if (unverified.empty()) {
      if (to > from) covered += to - from;
    } else {
      gap(from, to, "unverified: " + Join(unverified, "; "));
    }
    cursor = std::max(cursor, to);
  }
  if (cursor < o.to) gap(cursor, o.to, "no audit evidence");
  const auto period = o.to - o.from;
  r->coverage = period.count() > 0 ? static_cast<double>(covered.count()) / period.count() : 0;
  r->gaps = std::move(gaps);
}

// A compacted chain: the part of the period from the chain's first time (the anchoring
// checkpoint's firstTime) to the first stored entry is covered only by that checkpoint; gaps
// there say so instead of "no audit evidence".
void MarkCheckpointOnly(const std::vector<EvidenceEntry>& entries, const ReportOptions& o,
                        ComplianceReport* r) {
  const residency::ChainSummary& c = r->chain;
  Timestamp from{};
  if (c.anchor_checkpoint == 0 || entries.empty() || !ParseRfc3339(c.sealed_first_time, &from)) {
    return;
  }
  const Timestamp stored = TimeOf(entries.front());
  from = std::max(from, o.from);
  const Timestamp to = std::min(stored, o.to);
  if (from >= to) return;
  const std::string reason =
      "compacted: only signed checkpoint " + std::to_string(c.anchor_checkpoint) +
      " vouches for it (entries 1.." + std::to_string(c.sealed_sequence) + ", key id " +
      c.key_id + "; no audit detail kept)";
  r->checkpoint_only = CoverageGap{from, to, reason};
  std::vector<CoverageGap> gaps;
  for (const CoverageGap& g : r->gaps) {
    if (g.reason != "no audit evidence" || g.to <= from || g.from >= to) {
      gaps.push_back(g);
      continue;
    }
    if (g.from < from) gaps.push_back({g.from, from, g.reason});
    gaps.push_back({std::max(g.from, from), std::min(g.to, to), reason});
    if (g.to > to) gaps.push_back({to, g.to, g.reason});
  }
  r->gaps = std::move(gaps);
}

}  // namespace

namespace {

// A page that could not be split into item texts, parsed whole: every item added as an object
// (the verifier's own wording for whatever is wrong with it). Returns the next page's token.
StatusOr<std::string> AddParsedPage(json& list, residency::ChainVerifier& verifier,
                                    const std::function<void(const EvidenceEntry&)>& each,
                                    EvidenceReadStats& stats) {
  for (json& item : list["items"]) {
    ++stats.objects;
    const bool entry = item["metadata"].value("name", "") != api::kEvidenceHeadName;
    if (!each) {
      // Verify only: the page is not needed afterwards, so its items are taken apart.
      MERIDIAN_RETURN_IF_ERROR(verifier.Add(std::move(item)));
      continue;
    }
    MERIDIAN_RETURN_IF_ERROR(verifier.Add(item));
    if (entry) {
      // Checked just now: the decode cannot fail.
      StatusOr<EvidenceEntry> e = residency::EntryFromObject(item);
      if (e.ok()) each(*e);
    }
  }
  return list["metadata"].value("continue", "");
}

}  // namespace

StatusOr<residency::ChainSummary> ReadVerifiedEvidenceText(
    const EvidenceTextPageFn& page, const std::function<void(const EvidenceEntry&)>& each,
    std::optional<residency::EvidenceVerifyKey> key, EvidenceReadStats* stats_out) {
  residency::ChainVerifier verifier(std::move(key));
  EvidenceReadStats stats;
  auto read = [&]() -> StatusOr<residency::ChainSummary> {
    std::string token;
    do {
      apimachinery::ApiResult<std::string> text = page(token);
      if (!text.ok()) {
        return UnavailableError("listing residencyevidences: " + text.error().message);
      }
      ++stats.pages;
      std::optional<RawList> raw = SplitListItems(text.value());
      if (!raw) {
        ++stats.pages_parsed_whole;
        json list = json::parse(text.value(), nullptr, /*allow_exceptions=*/false);
        if (list.is_discarded()) {
          return UnavailableError("listing residencyevidences: the answer is not JSON");
        }
        MERIDIAN_ASSIGN_OR_RETURN(token, AddParsedPage(list, verifier, each, stats));
        continue;
      }
      for (std::string_view item : raw->items) {
        ++stats.objects;
        Status added = verifier.AddStored(item);
        stats.hashed_from_stored = verifier.hashed_from_stored();
        MERIDIAN_RETURN_IF_ERROR(added);
        if (!each) continue;
        // The report needs each entry's data: parsed and decoded here, but not hashed again
        // (AddStored just checked it, fast or not).
        const json object = json::parse(item, nullptr, /*allow_exceptions=*/false);
        if (object.is_discarded() || !object.is_object() ||
            object["metadata"].value("name", "") == api::kEvidenceHeadName) {
          continue;
        }
        FieldErrors errors;
        api::ResidencyEvidence e = api::DecodeResidencyEvidence(object, &errors);
        if (errors.empty()) each(e.spec);
      }
      token = raw->metadata.value("continue", "");
    } while (!token.empty());
    return verifier.Finish();
  };
  StatusOr<residency::ChainSummary> out = read();
  if (stats_out != nullptr) *stats_out = stats;
  return out;
}

StatusOr<residency::ChainSummary> ReadVerifiedEvidence(
    const EvidencePageFn& page, const std::function<void(const EvidenceEntry&)>& each,
    std::optional<residency::EvidenceVerifyKey> key) {
  auto text = [&page](const std::string& token) -> apimachinery::ApiResult<std::string> {
    apimachinery::ApiResult<json> list = page(token);
    if (!list.ok()) return list.error();
    return list.value().dump();
  };
  return ReadVerifiedEvidenceText(text, each, std::move(key));
}

std::string DescribeVerified(const residency::ChainSummary& s) {
  if (s.entries == 0) return "Residency evidence: no entries yet (nothing to verify).";
  std::string out = "Residency evidence verified: " + std::to_string(s.entries) +
                    (s.entries == 1 ? " entry (" : " entries (") + s.first_time + " .. " +
                    s.last_time + "), head at entry " + std::to_string(s.head_sequence);
  if (s.pending > 0) {
    out += " (" + std::to_string(s.pending) + " after it: appends whose head move is pending)";
  }
  if (s.anchor_checkpoint > 0) {
    const uint64_t last = s.first_sequence + s.entries - 1;
    out += "; entries " + std::to_string(s.first_sequence) + ".." + std::to_string(last) +
           " are stored, entries 1.." + std::to_string(s.first_sequence - 1) +
           " were compacted: signed checkpoint " + std::to_string(s.anchor_checkpoint) +
           " seals entries 1.." + std::to_string(s.sealed_sequence) + " (" + s.sealed_first_time +
           " .. " + s.sealed_last_time + ", Ed25519 key id " + s.key_id + ")";
  }
  if (s.checkpoints > s.checkpoints_unchecked) {
    out += "; " + std::to_string(s.checkpoints - s.checkpoints_unchecked) +
           " checkpoint signature(s) verified";
  }
  if (s.checkpoints_unchecked > 0) {
    out += "; " + std::to_string(s.checkpoints_unchecked) +
           " checkpoint signature(s) not checked (no --public-key)";
  }
  return out + ".";
}

ComplianceReport BuildComplianceReport(const std::vector<EvidenceEntry>& entries,
                                       const residency::ChainSummary& chain,
                                       const ReportOptions& o) {
  ComplianceReport r;
  r.from = o.from;
  r.to = o.to;
  r.ns = o.ns;
  r.chain = chain;
  std::vector<const EvidenceEntry*> scans;
  // Per workload: the open interval on each member.
  std::map<std::string, WorkloadReport> workloads;
  std::map<std::string, std::map<std::string, RanInterval>> running;
  std::map<std::string, ViolationRecord> open;
  std::vector<ViolationRecord> closed;
  auto apply_placement = [&](const json& d, Timestamp t) {
    const std::string w = Str(d, "workload");
    if (w.empty() || !InNamespace(w, o.ns)) return;
    WorkloadReport& wr = workloads[w];
    wr.workload = w;
    if (d.contains("allowed")) wr.allowed = Str(d, "allowed");
    std::map<std::string, std::pair<std::string, int64_t>> now;  // member -> (jur, replicas)
    auto add = [&now](const json& lines) {
      if (!lines.is_array()) return;
      for (const json& c : lines) {
        auto& slot = now[Str(c, "cluster")];
        slot.first = Str(c, "jurisdiction");
        slot.second += c.value("replicas", int64_t{0});
      }
    };
    if (!d.value("unbound", false)) {
      add(d.value("clusters", json::array()));
      add(d.value("retained", json::array()));  // retained replicas run too
    }
    auto& mine = running[w];
    for (auto it = mine.begin(); it != mine.end();) {
      if (now.count(it->first) && now[it->first].second > 0) {
        it->second.max_replicas = std::max(it->second.max_replicas, now[it->first].second);
        ++it;
        continue;
      }
      it->second.to = t;
      if (it->second.to > o.from) wr.ran.push_back(it->second);
      it = mine.erase(it);
    }
    for (const auto& [member, jr] : now) {
      if (jr.second <= 0 || mine.count(member)) continue;
      mine[member] = RanInterval{member, jr.first, t, t, false, jr.second};
    }
  };
  for (const EvidenceEntry& e : entries) {
    const Timestamp t = TimeOf(e);
    if (t > o.to) break;
    const json& d = e.data;
    if (e.type == "AuditScan") {
      scans.push_back(&e);
    } else if (e.type == "Placement") {
      apply_placement(d, t);
    } else if (e.type == residency::kCheckpointType) {
      // After compaction the checkpoint's (signed) state stands for the removed entries: what
      // ran and what was open then, from when it was recorded.
      auto state = d.find("state");
      if (state == d.end() || !state->is_object()) continue;
      for (const json& p : state->value("placements", json::array())) {
        Timestamp since{};
        if (!p.is_object() || workloads.count(Str(p, "workload")) ||
            !ParseRfc3339(Str(p, "time"), &since)) {
          continue;
        }
        apply_placement(p, since);
      }
      for (const json& v : state->value("openViolations", json::array())) {
        Timestamp since{};
        if (!v.is_object() || open.count(Str(v, "key")) || !ParseRfc3339(Str(v, "time"), &since)) {
          continue;
        }
        open[Str(v, "key")] = ViolationFrom(v, since);
      }
    } else if (e.type == "ViolationOpened") {
      open[Str(d, "key")] = ViolationFrom(d, t);
    } else if (e.type == "ViolationResolved") {
      auto it = open.find(Str(d, "key"));
      if (it == open.end()) continue;
      it->second.resolved = t;
      closed.push_back(std::move(it->second));
      open.erase(it);
    } else if (e.type == "PolicyChange") {
      if (t < o.from) continue;
      PolicyChangeRecord p{t,
                           Str(d, "policy"),
                           Str(d, "change"),
                           Str(d, "user"),
                           Strings(d, "jurisdictions"),
                           Strings(d, "namespaces")};
      if (!o.ns.empty() && !p.namespaces.empty() &&
          std::find(p.namespaces.begin(), p.namespaces.end(), o.ns) == p.namespaces.end()) {
        continue;
      }
      r.policy_changes.push_back(std::move(p));
    }
  }
  for (auto& [w, mine] : running) {
    for (auto& [member, interval] : mine) {
      interval.to = o.to;
      interval.ongoing = true;
      workloads[w].ran.push_back(interval);
    }
  }
  for (auto& [key, v] : open) closed.push_back(std::move(v));
  for (ViolationRecord& v : closed) {
    if (v.resolved && *v.resolved < o.from) continue;
    if (!o.ns.empty() && v.ns != o.ns) continue;
    r.violations.push_back(v);
  }
  std::sort(r.violations.begin(), r.violations.end(),
            [](const ViolationRecord& a, const ViolationRecord& b) {
              return std::tie(a.opened, a.key) < std::tie(b.opened, b.key);
            });
  for (auto& [w, wr] : workloads) {
    for (RanInterval& i : wr.ran) i.from = std::max(i.from, o.from);
    std::sort(wr.ran.begin(), wr.ran.end(), [](const RanInterval& a, const RanInterval& b) {
      return std::tie(a.from, a.member) < std::tie(b.from, b.member);
    });
    for (const ViolationRecord& v : r.violations) {
      if (v.workload == w) wr.violations.push_back(v);
    }
    r.workloads.push_back(std::move(wr));
  }
  ComputeCoverage(scans, o, &r);
  MarkCheckpointOnly(entries, o, &r);
  return r;
}

namespace {

std::string Until(const RanInterval& i) { return i.ongoing ? "(running)" : FormatRfc3339(i.to); }
std::string Resolved(const ViolationRecord& v) {
  return v.resolved ? FormatRfc3339(*v.resolved) : "(open)";
}
std::string Period(const ComplianceReport& r) {
  return FormatRfc3339(r.from) + " .. " + FormatRfc3339(r.to) + " (" +
         FormatDuration(r.to - r.from) + ")";
}
std::string Chain(const ComplianceReport& r) {
  if (r.chain.entries == 0) return "no entries";
  std::string out = std::to_string(r.chain.entries) +
                    " entries, chain verified intact (head at entry " +
                    std::to_string(r.chain.head_sequence) + ")";
  if (r.chain.anchor_checkpoint > 0) {
    out += "; entries 1.." + std::to_string(r.chain.first_sequence - 1) +
           " compacted into signed checkpoint " + std::to_string(r.chain.anchor_checkpoint) +
           " (key id " + r.chain.key_id + ")";
  }
  if (r.checkpoint_only) {
    out += "; stored entries cover " + FormatRfc3339(r.checkpoint_only->to) + " .. " +
           FormatRfc3339(r.to) + ", " + FormatRfc3339(r.checkpoint_only->from) + " .. " +
           FormatRfc3339(r.checkpoint_only->to) + " only by the checkpoint";
  }
  return out;
}

}  // namespace

void PrintReportText(const ComplianceReport& r, std::ostream& out) {
  out << "Residency compliance report\n";
  out << "Period:         " << Period(r) << "\n";
  if (!r.ns.empty()) out << "Namespace:      " << r.ns << "\n";
  out << "Evidence:       " << Chain(r) << "\n";
  out << "Audit coverage: " << Percent(r.coverage) << " of the period with every member verified\n";
  for (const CoverageGap& g : r.gaps) {
    out << "  not covered " << FormatRfc3339(g.from) << " .. " << FormatRfc3339(g.to) << " ("
        << FormatDuration(g.to - g.from) << "): " << g.reason << "\n";
  }
  out << "\n";
  if (r.workloads.empty()) out << "No residency-bound workloads in the evidence.\n\n";
  for (const WorkloadReport& w : r.workloads) {
    out << "Workload " << w.workload << "  (allowed: " << w.allowed << ")\n";
    if (w.ran.empty()) out << "  ran nowhere in the period\n";
    for (const RanInterval& i : w.ran) {
      out << "  " << i.member << " (" << (i.jurisdiction.empty() ? "-" : i.jurisdiction) << ")  "
          << FormatRfc3339(i.from) << " .. " << Until(i) << "  up to " << i.max_replicas
          << " replicas\n";
    }
    out << "  violations: " << (w.violations.empty() ? "none" : std::to_string(w.violations.size()))
        << "\n\n";
  }
  out << "Violations (" << r.violations.size() << ")\n";
  for (const ViolationRecord& v : r.violations) {
    out << "  " << FormatRfc3339(v.opened) << " .. " << Resolved(v) << "  " << v.message << "\n";
  }
  out << "\nPolicy changes (" << r.policy_changes.size() << ")\n";
  for (const PolicyChangeRecord& p : r.policy_changes) {
    out << "  " << FormatRfc3339(p.time) << "  " << p.policy << " " << p.change << " by "
        << (p.user.empty() ? "(unknown)" : p.user) << ": jurisdictions [" << Join(p.jurisdictions)
        << "], namespaces [" << (p.namespaces.empty() ? "all" : Join(p.namespaces)) << "]\n";
  }
}

json ReportJson(const ComplianceReport& r) {
  json gaps = json::array(), workloads = json::array(), violations = json::array(),
       changes = json::array();
  auto violation = [](const ViolationRecord& v) {
    json j = {{"key", v.key},
              {"member", v.member},
              {"jurisdiction", v.jurisdiction},
              {"kind", v.kind},
              {"namespace", v.ns},
              {"name", v.name},
              {"message", v.message},
              {"opened", FormatRfc3339(v.opened)}};
    if (!v.workload.empty()) j["workload"] = v.workload;
    j["resolved"] = v.resolved ? json(FormatRfc3339(*v.resolved)) : json(nullptr);
    return j;
  };
  for (const CoverageGap& g : r.gaps) {
    gaps.push_back(
        {{"from", FormatRfc3339(g.from)}, {"to", FormatRfc3339(g.to)}, {"reason", g.reason}});
  }
  for (const WorkloadReport& w : r.workloads) {
    json ran = json::array(), vs = json::array();
    for (const RanInterval& i : w.ran) {
      ran.push_back({{"member", i.member},
                     {"jurisdiction", i.jurisdiction},
                     {"from", FormatRfc3339(i.from)},
                     {"to", FormatRfc3339(i.to)},
                     {"ongoing", i.ongoing},
                     {"maxReplicas", i.max_replicas}});
    }
    for (const ViolationRecord& v : w.violations) vs.push_back(violation(v));
    workloads.push_back(
        {{"workload", w.workload}, {"allowed", w.allowed}, {"ran", ran}, {"violations", vs}});
  }
  for (const ViolationRecord& v : r.violations) violations.push_back(violation(v));
  for (const PolicyChangeRecord& p : r.policy_changes) {
    changes.push_back({{"time", FormatRfc3339(p.time)},
                       {"policy", p.policy},
                       {"change", p.change},
                       {"user", p.user},
                       {"jurisdictions", p.jurisdictions},
                       {"namespaces", p.namespaces}});
  }
  json out = {
      {"from", FormatRfc3339(r.from)},
      {"to", FormatRfc3339(r.to)},
      {"evidence",
       {{"entries", r.chain.entries},
        {"firstSequence", r.chain.first_sequence},
        {"headSequence", r.chain.head_sequence},
        {"checkpoints", r.chain.checkpoints},
        {"verified", true}}},
      {"coverage", r.coverage},
      {"coverageGaps", gaps},
      {"workloads", workloads},
      {"violations", violations},
      {"policyChanges", changes}};
  if (!r.ns.empty()) out["namespace"] = r.ns;
  if (r.chain.anchor_checkpoint > 0) {
    out["evidence"]["compacted"] = {{"checkpoint", r.chain.anchor_checkpoint},
                                    {"sealedSequence", r.chain.sealed_sequence},
                                    {"firstTime", r.chain.sealed_first_time},
                                    {"lastTime", r.chain.sealed_last_time},
                                    {"keyId", r.chain.key_id}};
  }
  if (r.checkpoint_only) {
    out["evidence"]["checkpointOnly"] = {{"from", FormatRfc3339(r.checkpoint_only->from)},
                                         {"to", FormatRfc3339(r.checkpoint_only->to)}};
    out["evidence"]["entriesCover"] = {{"from", FormatRfc3339(r.checkpoint_only->to)},
                                       {"to", FormatRfc3339(r.to)}};
  }
  return out;
}

std::string HtmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void PrintReportHtml(const ComplianceReport& r, std::ostream& out) {
  auto e = HtmlEscape;
  auto row = [&out, &e](const std::vector<std::string>& cells) {
    out << "<tr>";
    for (const std::string& c : cells) out << "<td>" << e(c) << "</td>";
    out << "</tr>\n";
  };
  auto head = [&out, &e](const std::vector<std::string>& cells) {
    out << "<table><tr>";
    for (const std::string& c : cells) out << "<th>" << e(c) << "</th>";
    out << "</tr>\n";
  };
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      << "<title>Residency compliance report</title>\n"
      << "<style>body{font-family:sans-serif;margin:2em;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0 1.5em}"
         "td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left}"
         "th{background:#eee}.bad{color:#a00}.ok{color:#070}</style>\n"
      << "</head><body>\n<h1>Residency compliance report</h1>\n";
  out << "<p>Period: " << e(Period(r)) << "<br>";
  if (!r.ns.empty()) out << "Namespace: " << e(r.ns) << "<br>";
  out << "Evidence: " << e(Chain(r)) << "<br>";
  out << "Audit coverage: <b class=\"" << (r.gaps.empty() ? "ok" : "bad") << "\">"
      << e(Percent(r.coverage)) << "</b> of the period with every member verified</p>\n";
  if (!r.gaps.empty()) {
    out << "<h2>Not covered</h2>\n";
    head({"From", "To", "Length", "Why"});
    for (const CoverageGap& g : r.gaps) {
      row({FormatRfc3339(g.from), FormatRfc3339(g.to), FormatDuration(g.to - g.from), g.reason});
    }
    out << "</table>\n";
  }
  for (const WorkloadReport& w : r.workloads) {
    out << "<h2>Workload " << e(w.workload) << "</h2>\n<p>Allowed: " << e(w.allowed) << "</p>\n";
    head({"Member", "Jurisdiction", "From", "To", "Up to replicas"});
    for (const RanInterval& i : w.ran) {
      row({i.member, i.jurisdiction, FormatRfc3339(i.from), Until(i),
           std::to_string(i.max_replicas)});
    }
    out << "</table>\n<p>Violations: " << w.violations.size() << "</p>\n";
  }
  out << "<h2>Violations (" << r.violations.size() << ")</h2>\n";
  if (!r.violations.empty()) {
    head({"Opened", "Resolved", "Member", "Jurisdiction", "Object", "Detail"});
    for (const ViolationRecord& v : r.violations) {
      row({FormatRfc3339(v.opened), Resolved(v), v.member, v.jurisdiction,
           v.kind + " " + v.ns + "/" + v.name, v.message});
    }
    out << "</table>\n";
  }
  out << "<h2>Policy changes (" << r.policy_changes.size() << ")</h2>\n";
  if (!r.policy_changes.empty()) {
    head({"Time", "Policy", "Change", "By", "Jurisdictions", "Namespaces"});
    for (const PolicyChangeRecord& p : r.policy_changes) {
      row({FormatRfc3339(p.time), p.policy, p.change, p.user.empty() ? "(unknown)" : p.user,
           Join(p.jurisdictions), p.namespaces.empty() ? "all" : Join(p.namespaces)});
    }
    out << "</table>\n";
  }
  out << "</body></html>\n";
}

}  // namespace meridian::cli
