#include "residency/compliance_report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <tuple>

#include "residency/internal/evidence_fields.h"

namespace meridian::residency {
namespace {

using internal::EntryTime;
using internal::StringField;
using nlohmann::json;

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

}  // namespace

std::string FormatReportDuration(Timestamp::duration d) {
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

namespace {

std::string Percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", share * 100);
  return buf;
}

ViolationRecord ViolationFrom(const json& d, Timestamp opened) {
  ViolationRecord v;
  v.key = StringField(d, "key");
  v.member = StringField(d, "member");
  v.jurisdiction = StringField(d, "jurisdiction");
  v.kind = StringField(d, "kind");
  v.ns = StringField(d, "namespace");
  v.name = StringField(d, "name");
  v.workload = StringField(d, "workload");
  v.message = StringField(d, "message");
  v.opened = opened;
  return v;
}

bool InNamespace(const std::string& workload, const std::string& ns) {
  return ns.empty() || workload.rfind(ns + "/", 0) == 0;
}

// A compacted chain: the part of the period from the chain's first time (the anchoring
// checkpoint's firstTime) to the first stored entry (at `stored`) is covered only by that
// checkpoint; gaps there say so instead of "no audit evidence".
void MarkCheckpointOnly(std::optional<Timestamp> stored, const ReportOptions& o,
                        ComplianceReport* r) {
  const ChainSummary& c = r->chain;
  Timestamp from{};
  if (c.anchor_checkpoint == 0 || !stored || !ParseRfc3339(c.sealed_first_time, &from)) {
    return;
  }
  from = std::max(from, o.from);
  const Timestamp to = std::min(*stored, o.to);
  if (from >= to) return;
  const std::string reason = "compacted: only signed checkpoint " +
                             std::to_string(c.anchor_checkpoint) + " vouches for it (entries 1.." +
                             std::to_string(c.sealed_sequence) + ", key id " + c.key_id +
                             "; no audit detail kept)";
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

ComplianceReportBuilder::ComplianceReportBuilder(ReportOptions options)
    : o_(std::move(options)), cursor_(o_.from) {
  r_.from = o_.from;
  r_.to = o_.to;
  r_.ns = o_.ns;
}

void ComplianceReportBuilder::ApplyPlacement(const json& d, Timestamp t) {
  const std::string w = StringField(d, "workload");
  if (w.empty() || !InNamespace(w, o_.ns)) return;
  WorkloadReport& wr = workloads_[w];
  wr.workload = w;
  if (d.contains("allowed")) wr.allowed = StringField(d, "allowed");
  std::map<std::string, std::pair<std::string, int64_t>> now;  // member -> (jur, replicas)
  auto add = [&now](const json& lines) {
    if (!lines.is_array()) return;
    for (const json& c : lines) {
      auto& slot = now[StringField(c, "cluster")];
      slot.first = StringField(c, "jurisdiction");
      slot.second += c.value("replicas", int64_t{0});
    }
  };
  if (!d.value("unbound", false)) {
    add(d.value("clusters", json::array()));
    add(d.value("retained", json::array()));  // retained replicas run too
  }
  auto& mine = running_[w];
  for (auto it = mine.begin(); it != mine.end();) {
    if (now.count(it->first) && now[it->first].second > 0) {
      it->second.max_replicas = std::max(it->second.max_replicas, now[it->first].second);
      ++it;
      continue;
    }
    it->second.to = t;
    if (it->second.to > o_.from) wr.ran.push_back(it->second);
    it = mine.erase(it);
  }
  for (const auto& [member, jr] : now) {
    if (jr.second <= 0 || mine.count(member)) continue;
    mine[member] = RanInterval{member, jr.first, t, t, false, jr.second};
  }
}

namespace {

// When what an entry records was seen: its `observedAt` when it was written late (the audit
// controller's retry after a failed append), else the entry's time.
Timestamp SeenAt(const json& data, Timestamp entry_time) {
  Timestamp seen{};
  if (ParseRfc3339(StringField(data, "observedAt"), &seen) && seen < entry_time) return seen;
  return entry_time;
}

}  // namespace

void ComplianceReportBuilder::Add(const EvidenceEntry& e) {
  const Timestamp t = EntryTime(e);
  if (!first_entry_time_) first_entry_time_ = t;
  if (past_period_ || t > o_.to) {
    past_period_ = true;
    return;
  }
  const json& d = e.data;
  if (e.type == "AuditScan") {
    Scan scan{t, 0, {}};
    auto heartbeat = d.find("heartbeatSeconds");
    if (heartbeat != d.end() && heartbeat->is_number_integer()) {
      scan.heartbeat_seconds = heartbeat->get<int64_t>();
    }
    if (d.contains("membersUnverified") && d["membersUnverified"].is_array()) {
      for (const json& u : d["membersUnverified"]) {
        const std::string reason = StringField(u, "reason");
        scan.unverified.push_back(StringField(u, "member") +
                                  (reason.empty() ? "" : " (" + reason + ")"));
      }
    }
    if (last_scan_) Cover(*last_scan_, t);
    last_scan_ = std::move(scan);
  } else if (e.type == "Placement") {
    ApplyPlacement(d, t);
  } else if (e.type == kCheckpointType) {
    // After compaction the checkpoint's (signed) state stands for the removed entries: what
    // ran and what was open then, from when it was recorded.
    auto state = d.find("state");
    if (state == d.end() || !state->is_object()) return;
    for (const json& p : state->value("placements", json::array())) {
      Timestamp since{};
      if (!p.is_object() || workloads_.count(StringField(p, "workload")) ||
          !ParseRfc3339(StringField(p, "time"), &since)) {
        continue;
      }
      ApplyPlacement(p, since);
    }
    for (const json& v : state->value("openViolations", json::array())) {
      Timestamp since{};
      if (!v.is_object() || open_.count(StringField(v, "key")) ||
          !ParseRfc3339(StringField(v, "time"), &since)) {
        continue;
      }
      open_[StringField(v, "key")] = ViolationFrom(v, since);
    }
  } else if (e.type == "ViolationOpened") {
    open_[StringField(d, "key")] = ViolationFrom(d, SeenAt(d, t));
  } else if (e.type == "ViolationResolved") {
    auto it = open_.find(StringField(d, "key"));
    if (it == open_.end()) return;
    it->second.resolved = SeenAt(d, t);
    closed_.push_back(std::move(it->second));
    open_.erase(it);
  } else if (e.type == "PolicyChange") {
    if (t < o_.from) return;
    PolicyChangeRecord p{t,
                         StringField(d, "policy"),
                         StringField(d, "change"),
                         StringField(d, "user"),
                         Strings(d, "jurisdictions"),
                         Strings(d, "namespaces")};
    if (!o_.ns.empty() && !p.namespaces.empty() &&
        std::find(p.namespaces.begin(), p.namespaces.end(), o_.ns) == p.namespaces.end()) {
      return;
    }
    r_.policy_changes.push_back(std::move(p));
  }
}

void ComplianceReportBuilder::Gap(Timestamp from, Timestamp to, const std::string& reason) {
  from = std::max(from, o_.from);
  to = std::min(to, o_.to);
  if (from >= to) return;
  std::vector<CoverageGap>& gaps = r_.gaps;
  if (!gaps.empty() && gaps.back().to == from && gaps.back().reason == reason) {
    gaps.back().to = to;
  } else {
    gaps.push_back({from, to, reason});
  }
}

// Coverage: each AuditScan entry vouches for its outcome from its time until the next one,
// but at most heartbeatSeconds + grace (past that nobody looked: a controller down, say).
void ComplianceReportBuilder::Cover(const Scan& scan, std::optional<Timestamp> next) {
  if (coverage_done_) return;
  const Timestamp t = scan.time;
  if (t >= o_.to) {
    coverage_done_ = true;
    return;
  }
  Timestamp until = t + std::chrono::seconds(scan.heartbeat_seconds) + o_.heartbeat_grace;
  if (next) until = std::min(until, *next);
  if (until <= o_.from) return;
  if (t > cursor_) Gap(cursor_, t, "no audit evidence");
  const Timestamp from = std::max(t, o_.from), to = std::min(until, o_.to);
  if (scan.unverified.empty()) {
    if (to > from) covered_ += to - from;
  } else {
    Gap(from, to, "unverified: " + Join(scan.unverified, "; "));
  }
  cursor_ = std::max(cursor_, to);
}

ComplianceReport ComplianceReportBuilder::Finish(const ChainSummary& chain) && {
  ComplianceReport& r = r_;
  r.chain = chain;
  for (auto& [w, mine] : running_) {
    for (auto& [member, interval] : mine) {
      interval.to = o_.to;
      interval.ongoing = true;
      workloads_[w].ran.push_back(interval);
    }
  }
  for (auto& [key, v] : open_) closed_.push_back(std::move(v));
  for (ViolationRecord& v : closed_) {
    if (v.resolved && *v.resolved < o_.from) continue;
    if (!o_.ns.empty() && v.ns != o_.ns) continue;
    r.violations.push_back(v);
  }
  std::sort(r.violations.begin(), r.violations.end(),
            [](const ViolationRecord& a, const ViolationRecord& b) {
              return std::tie(a.opened, a.key) < std::tie(b.opened, b.key);
            });
  for (auto& [w, wr] : workloads_) {
    for (RanInterval& i : wr.ran) i.from = std::max(i.from, o_.from);
    std::sort(wr.ran.begin(), wr.ran.end(), [](const RanInterval& a, const RanInterval& b) {
      return std::tie(a.from, a.member) < std::tie(b.from, b.member);
    });
    for (const ViolationRecord& v : r.violations) {
      if (v.workload == w) wr.violations.push_back(v);
    }
    r.workloads.push_back(std::move(wr));
  }
  // Coverage: the last scan has no next one.
  if (last_scan_) Cover(*last_scan_, std::nullopt);
  if (cursor_ < o_.to) Gap(cursor_, o_.to, "no audit evidence");
  const auto period = o_.to - o_.from;
  r.coverage = period.count() > 0 ? static_cast<double>(covered_.count()) / period.count() : 0;
  MarkCheckpointOnly(first_entry_time_, o_, &r);
  return std::move(r_);
}

ComplianceReport BuildComplianceReport(const std::vector<EvidenceEntry>& entries,
                                       const ChainSummary& chain, const ReportOptions& options) {
  ComplianceReportBuilder builder(options);
  for (const EvidenceEntry& e : entries) builder.Add(e);
  return std::move(builder).Finish(chain);
}

namespace {

std::string Until(const RanInterval& i) { return i.ongoing ? "(running)" : FormatRfc3339(i.to); }
std::string Resolved(const ViolationRecord& v) {
  return v.resolved ? FormatRfc3339(*v.resolved) : "(open)";
}
std::string Period(const ComplianceReport& r) {
  return FormatRfc3339(r.from) + " .. " + FormatRfc3339(r.to) + " (" +
         FormatReportDuration(r.to - r.from) + ")";
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
        << FormatReportDuration(g.to - g.from) << "): " << g.reason << "\n";
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
  json out = {{"from", FormatRfc3339(r.from)},
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
      row({FormatRfc3339(g.from), FormatRfc3339(g.to), FormatReportDuration(g.to - g.from),
           g.reason});
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

std::optional<ReportFormat> ParseReportFormat(std::string_view name) {
  if (name == "text") return ReportFormat::kText;
  if (name == "json") return ReportFormat::kJson;
  if (name == "html") return ReportFormat::kHtml;
  return std::nullopt;
}

std::string RenderComplianceReport(const ComplianceReport& report, ReportFormat format) {
  std::ostringstream out;
  switch (format) {
    case ReportFormat::kJson:
      out << ReportJson(report).dump(2) << "\n";
      break;
    case ReportFormat::kHtml:
      PrintReportHtml(report, out);
      break;
    case ReportFormat::kText:
      PrintReportText(report, out);
      break;
  }
  return out.str();
}

const char* ReportContentType(ReportFormat format) {
  switch (format) {
    case ReportFormat::kJson:
      return "application/json";
    case ReportFormat::kHtml:
      return "text/html; charset=utf-8";
    case ReportFormat::kText:
      break;
  }
  return "text/plain; charset=utf-8";
}

const char* ReportFileExtension(ReportFormat format) {
  switch (format) {
    case ReportFormat::kJson:
      return "json";
    case ReportFormat::kHtml:
      return "html";
    case ReportFormat::kText:
      break;
  }
  return "txt";
}

}  // namespace meridian::residency
