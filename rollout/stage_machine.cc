#include "rollout/stage_machine.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace meridian::rollout {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

// What FormatMillis wrote ("" or unparsable: none).
std::optional<Timestamp> Parse(const std::string& text) {
  Timestamp t;
  if (text.empty() || !ParseRfc3339(text, &t)) return std::nullopt;
  return t;
}

bool Takes(const api::StageSelector& s, const MemberObservation& m) {
  if (!s.clusters.empty() &&
      std::find(s.clusters.begin(), s.clusters.end(), m.name) == s.clusters.end()) {
    return false;
  }
  if (!s.regions.empty() &&
      std::find(s.regions.begin(), s.regions.end(), m.region) == s.regions.end()) {
    return false;
  }
  return s.labels.Empty() || s.labels.Matches(m.labels);
}

// The group of the stage that `m` belongs to: the first whose selector takes it
// (== stage.groups.size(): none does, or the stage has no groups).
size_t GroupOf(const api::RolloutStage& stage, const MemberObservation& m) {
  size_t g = 0;
  while (g < stage.groups.size() && !Takes(stage.groups[g].selector, m)) ++g;
  return g;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::string FormatMillis(Timestamp t) {
  std::string s = FormatRfc3339(t);  // "...:SSZ"
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count() % 1000;
  char buf[8];
  std::snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(ms < 0 ? ms + 1000 : ms));
  if (!s.empty() && s.back() == 'Z') s.insert(s.size() - 1, buf);
  return s;
}

std::vector<std::string> MembersBeingChanged(const api::RolloutStatus& state) {
  const bool active =
      state.phase == "Progressing" || state.phase == "WaitingForDrill" || state.phase == "Paused";
  if (!active || !state.gates_passed_at.empty()) return {};
  return state.started;
}

namespace {

// The regions `derived` lists for the strategy stage `name` (nullptr: none recorded).
const std::vector<std::string>* DerivedRegions(const std::vector<api::DerivedStage>& derived,
                                               const std::string& name) {
  for (const api::DerivedStage& d : derived) {
    if (d.stage == name) return &d.regions;
  }
  return nullptr;
}

// The strategy stage that takes `m` (== stages.size(): none).
size_t StrategyStageOf(const api::RolloutStrategySpec& strategy,
                       const std::vector<api::DerivedStage>& derived, const MemberObservation& m) {
  size_t i = 0;
  for (; i < strategy.stages.size(); ++i) {
    const api::RolloutStage& stage = strategy.stages[i];
    if (!Takes(stage.selector, m)) continue;
    if (stage.expand.empty()) break;
    const std::vector<std::string>* regions = DerivedRegions(derived, stage.name);
    if (regions && std::find(regions->begin(), regions->end(), m.region) != regions->end()) break;
  }
  return i;
}

}  // namespace

std::vector<api::DerivedStage> DeriveStages(const api::RolloutStrategySpec& strategy,
                                            const std::vector<MemberObservation>& members) {
  std::vector<api::DerivedStage> derived;
  std::set<std::string> taken;
  for (const api::RolloutStage& stage : strategy.stages) {
    std::vector<const MemberObservation*> mine;
    for (const MemberObservation& m : members) {
      if (!taken.count(m.name) && Takes(stage.selector, m)) mine.push_back(&m);
    }
    std::vector<std::string> regions;
    if (stage.expand.empty()) {
      for (const MemberObservation* m : mine) taken.insert(m->name);
      continue;
    }
    // (continent, region) -> members; the continent is "" for regionBySize.
    std::map<std::pair<std::string, std::string>, int> counts;
    for (const MemberObservation* m : mine) {
      if (m->region.empty()) continue;
      std::string continent;
      if (stage.expand == "regionPerContinent") {
        auto it = m->labels.find(stage.continent_label);
        if (it == m->labels.end() || it->second.empty()) continue;
        continent = it->second;
      }
      ++counts[{continent, m->region}];
    }
    std::map<std::string, std::pair<int, std::string>> smallest;  // continent -> (count, region)
    for (const auto& [key, count] : counts) {
      auto [it, fresh] = smallest.emplace(key.first, std::make_pair(count, key.second));
      if (!fresh && std::make_pair(count, key.second) < it->second) {
        it->second = {count, key.second};
      }
    }
    if (stage.expand == "regionBySize") {
      std::vector<std::pair<int, std::string>> by_size;
      for (const auto& [key, count] : counts) by_size.emplace_back(count, key.second);
      std::sort(by_size.begin(), by_size.end());
      for (const auto& [count, region] : by_size) regions.push_back(region);
    } else {
      for (const auto& [continent, pick] : smallest) regions.push_back(pick.second);
      std::sort(regions.begin(), regions.end());
      regions.erase(std::unique(regions.begin(), regions.end()), regions.end());
    }
    derived.push_back({stage.name, regions});
    // A region of another continent that is also picked takes its members there too (a
    // region is one stage's, whatever the labels say).
    for (const MemberObservation* m : mine) {
      if (std::find(regions.begin(), regions.end(), m->region) != regions.end()) {
        taken.insert(m->name);
      }
    }
  }
  return derived;
}

std::vector<GroupOverlap> FindGroupOverlaps(const api::RolloutStrategySpec& strategy,
                                            const std::vector<MemberObservation>& members) {
  std::vector<GroupOverlap> out;
  const std::vector<api::DerivedStage> derived = DeriveStages(strategy, members);
  for (const MemberObservation& m : members) {
    const size_t i = StrategyStageOf(strategy, derived, m);
    if (i >= strategy.stages.size()) continue;
    const std::vector<api::RolloutGroup>& groups = strategy.stages[i].groups;
    const size_t first = GroupOf(strategy.stages[i], m);
    for (size_t k = first + 1; k < groups.size(); ++k) {
      if (Takes(groups[k].selector, m)) out.push_back({m.name, i, first, k});
    }
  }
  return out;
}

FieldErrors GroupOverlaps(const api::RolloutStrategySpec& strategy,
                          const std::vector<MemberObservation>& members, const std::string& path) {
  FieldErrors errors;
  for (const GroupOverlap& o : FindGroupOverlaps(strategy, members)) {
    const std::vector<api::RolloutGroup>& groups = strategy.stages[o.stage].groups;
    errors.push_back({path + ".stages[" + std::to_string(o.stage) + "].groups[" +
                          std::to_string(o.second) + "].selector",
                      "takes member " + o.member + ", which groups[" + std::to_string(o.first) +
                          "] (" + groups[o.first].name +
                          ") takes too: a member belongs to one group"});
  }
  return errors;
}

StagePlan PlanStages(const api::RolloutStrategySpec& strategy,
                     const std::vector<MemberObservation>& members,
                     const std::vector<api::DerivedStage>& derived) {
  StagePlan plan;
  // Strategy stage index -> its first plan stage; for regionBySize, region -> plan stage.
  std::vector<size_t> first(strategy.stages.size());
  std::map<std::pair<size_t, std::string>, size_t> by_region;
  std::set<std::string> names;
  auto add = [&](api::RolloutStage stage) {
    // A derived name that another stage already has keeps approvals unambiguous with a suffix.
    if (!names.insert(stage.name).second) {
      stage.name += "-" + std::to_string(plan.stages.size() + 1);
      names.insert(stage.name);
    }
    stage.expand.clear();
    plan.stages.push_back(std::move(stage));
  };
  for (size_t i = 0; i < strategy.stages.size(); ++i) {
    const api::RolloutStage& stage = strategy.stages[i];
    first[i] = plan.stages.size();
    if (stage.expand != "regionBySize") {
      add(stage);
      continue;
    }
    if (const std::vector<std::string>* regions = DerivedRegions(derived, stage.name)) {
      for (const std::string& region : *regions) {
        by_region[{i, region}] = plan.stages.size();
        api::RolloutStage one = stage;
        one.name = stage.name + "-" + region;
        one.selector.regions = {region};
        add(std::move(one));
      }
    }
  }
  constexpr size_t kRemaining = SIZE_MAX;  // its index is known once every stage is added
  bool remaining = false;
  for (const MemberObservation& m : members) {
    const size_t i = StrategyStageOf(strategy, derived, m);
    size_t index = kRemaining;
    if (i < strategy.stages.size()) {
      index = strategy.stages[i].expand == "regionBySize" ? by_region.at({i, m.region}) : first[i];
    }
    remaining = remaining || index == kRemaining;
    plan.stage_of[m.name] = index;
  }
  if (remaining) {
    for (auto& [name, index] : plan.stage_of) {
      if (index == kRemaining) index = plan.stages.size();
    }
    api::RolloutStage rest;
    rest.name = kRemainingStage;
    add(std::move(rest));
  }
  return plan;
}

// Messages name absolute times, never "in 3.2 s": the state is written whenever it changes,
// and a message that changed with every step would make every pass write (and its own write
// trigger the next pass).
StageMachineOutput Step(const StageMachineInput& in,
                        const std::optional<api::RolloutStatus>& previous) {
  StageMachineOutput out;
  api::RolloutStatus& st = out.state;
  if (previous) st = *previous;
  const Timestamp now = in.now;
  std::vector<MemberObservation> members = in.members;
  std::sort(members.begin(), members.end(),
            [](const MemberObservation& a, const MemberObservation& b) { return a.name < b.name; });

  auto assign_all = [&](int64_t revision) {
    st.members.clear();
    for (const MemberObservation& m : members) st.members.push_back({m.name, revision});
  };
  auto event = [&](std::string type, std::string reason, std::string message) {
    out.events.push_back({std::move(type), std::move(reason), std::move(message)});
  };
  auto wake = [&](Timestamp t) {
    if (!out.requeue_at || t < *out.requeue_at) out.requeue_at = t;
  };

  // Without a strategy, or for the very first revision (nothing older to protect), every
  // member runs the newest revision at once.
  if (in.strategy == nullptr || (st.revision == 0 && st.stable_revision == 0)) {
    const bool changed = st.revision != in.revision || st.phase != "Complete";
    st = api::RolloutStatus{};
    st.revision = in.revision;
    st.stable_revision = in.revision;
    st.phase = "Complete";
    assign_all(in.revision);
    out.condition_status = "True";
    out.condition_reason = "Complete";
    out.condition_message = "revision " + std::to_string(in.revision) + " runs on every member";
    if (changed && in.strategy != nullptr) {
      event("Normal", "RolloutComplete", out.condition_message);
    }
    return out;
  }

  const std::string old_phase = st.phase;
  const int32_t old_stage = st.stage;
  if (st.revision != in.revision) {
    // A new revision: its rollout starts from the last revision every member completed (a
    // halted or half-done rollout never becomes "good").
    if (st.phase == "Complete") st.stable_revision = st.revision;
    const int64_t stable = st.stable_revision;
    // Members left out of DNS stay out until they run a good revision (the new rollout
    // assigns them one).
    std::vector<std::string> drained = std::move(st.drained);
    st = api::RolloutStatus{};
    st.revision = in.revision;
    st.stable_revision = stable;
    st.drained = std::move(drained);
    st.phase = "Progressing";
    event("Normal", "RolloutStarted",
          "rolling out revision " + std::to_string(in.revision) + " from revision " +
              std::to_string(stable));
  }

  // An expanding stage's regions are fixed when its rollout starts (a changing fleet must not
  // reorder stages under a running rollout); a member of a region that joins later is left
  // to later stages.
  const bool expanding = std::any_of(in.strategy->stages.begin(), in.strategy->stages.end(),
                                     [](const api::RolloutStage& s) { return !s.expand.empty(); });
  if (!expanding) {
    st.derived.clear();
  } else if (st.derived.empty() && st.phase != "Complete" && st.phase != "Halted" &&
             st.phase != "RolledBack") {
    st.derived = DeriveStages(*in.strategy, members);
  }
  const StagePlan plan = PlanStages(*in.strategy, members, st.derived);
  const size_t stage_count = plan.stages.size();
  std::map<std::string, const MemberObservation*> by_name;
  for (const MemberObservation& m : members) by_name[m.name] = &m;
  // Members that left the placement are forgotten.
  std::erase_if(st.started, [&](const std::string& n) { return by_name.count(n) == 0; });

  auto assign = [&]() {
    st.members.clear();
    const std::set<std::string> started(st.started.begin(), st.started.end());
    for (const MemberObservation& m : members) {
      int64_t r = st.stable_revision;
      if (st.phase == "Complete") {
        r = st.revision;
      } else if (st.phase != "RolledBack") {
        const size_t s = plan.stage_of.at(m.name);
        if (s < static_cast<size_t>(st.stage) || started.count(m.name)) r = st.revision;
      }
      st.members.push_back({m.name, r});
    }
  };
  // Which members DNS leaves out after this step (see the file comment), with its events.
  auto update_drained = [&]() {
    const bool draining = st.drain == "Drained" && st.gates_passed_at.empty() &&
                          (st.phase == "Progressing" || st.phase == "Draining" ||
                           st.phase == "WaitingForDrill" || st.phase == "Paused");
    std::map<std::string, int64_t> meant;
    for (const api::MemberRevision& r : st.members) meant[r.cluster] = r.revision;
    const std::set<std::string> was(st.drained.begin(), st.drained.end());
    std::vector<std::string> drained, added, restored;
    for (const MemberObservation& m : members) {
      const size_t s = plan.stage_of.at(m.name);
      const bool current = s == static_cast<size_t>(st.stage);
      bool keep = draining && current;
      if (!keep && was.count(m.name)) {
        const int64_t r = meant[m.name];
        const bool passed = r == st.stable_revision || st.phase == "Complete" ||
                            s < static_cast<size_t>(st.stage) ||
                            (current && !st.gates_passed_at.empty());
        keep = !(passed && m.ready && m.revision == r);
      }
      if (keep) drained.push_back(m.name);
      if (keep && !was.count(m.name)) added.push_back(m.name);
    }
    for (const std::string& n : st.drained) {
      if (!std::binary_search(drained.begin(), drained.end(), n)) restored.push_back(n);
    }
    if (!added.empty()) {
      event("Normal", "RolloutDrained",
            "DNS leaves out " + Join(added) + " while stage " + st.stage_name + " of revision " +
                std::to_string(st.revision) + " changes them; other members answer their clients");
    }
    if (!restored.empty()) {
      event("Normal", "RolloutDrainRestored",
            "DNS answers " + Join(restored) +
                " again (each runs a revision that passed its "
                "gates, or left the placement)");
    }
    st.drained = std::move(drained);
  };
  auto finish = [&](const std::string& status, const std::string& message) {
    if (st.phase != "WaitingForApproval") st.approval_point.clear();
    assign();
    update_drained();
    out.condition_status = status;
    out.condition_reason = st.phase;
    out.condition_message = message;
    if (!st.drained.empty()) {
      out.condition_message += "; DNS leaves out " + Join(st.drained);
    } else if (st.drain == "OneAtATime") {
      out.condition_message +=
          "; not drained from DNS (no member outside the stage may answer its clients): its "
          "members change one at a time";
    }
    st.message = message;
    if (st.phase != old_phase || st.stage != old_stage) {
      if (st.phase == "Halted" || st.phase == "RolledBack") {
        event("Warning", st.phase == "Halted" ? "RolloutHalted" : "RolloutRolledBack", message);
      } else if (st.phase == "Complete") {
        event("Normal", "RolloutComplete", message);
      } else if (st.phase == "WaitingForApproval") {
        event("Normal", "RolloutWaitingForApproval", message);
      } else if (st.phase == "WaitingForDrill") {
        event("Normal", "RolloutWaitingForDrill", message);
      } else if (st.phase == "Draining") {
        event("Normal", "RolloutDraining", message);
      } else if (st.phase == "Progressing" && st.stage != old_stage) {
        event("Normal", "RolloutStageStarted", message);
      }
    }
    return out;
  };
  const std::string rev = "revision " + std::to_string(st.revision);

  if (st.phase == "Halted" || st.phase == "RolledBack" || st.phase == "Complete") {
    return finish(st.phase == "Complete" ? "True" : "False", st.message);
  }

  // A pause, or a wait for a drill, does not count against timeouts or waits: when it ends,
  // their origins move by its length (pausedAt: when it began).
  auto resume_timers = [&]() {
    const Duration stopped = duration_cast<Duration>(now - Parse(st.paused_at).value_or(now));
    for (std::string* t : {&st.batch_started_at, &st.gates_passed_at}) {
      if (auto at = Parse(*t)) *t = FormatMillis(*at + stopped);
    }
    st.ready_since.clear();
    st.prometheus_ok_since.clear();
    st.paused_at.clear();
  };
  if (in.paused) {
    if (st.phase != "Paused") {
      st.phase = "Paused";
      // Paused while waiting for a drill: the timers stopped when the wait began.
      if (st.paused_at.empty()) st.paused_at = FormatMillis(now);
    }
    return finish("False", "paused at stage " + st.stage_name + " of " + rev);
  }
  if (st.phase == "Paused") {
    resume_timers();
    st.phase = "Progressing";
  }

  while (true) {
    if (st.stage >= static_cast<int32_t>(stage_count)) {
      st.phase = "Complete";
      st.stable_revision = st.revision;
      st.drain.clear();
      st.drain_until.clear();
      st.stage_name.clear();
      st.started.clear();
      st.batch_started_at.clear();
      st.ready_since.clear();
      st.gates_passed_at.clear();
      st.after_passed_at.clear();
      st.prometheus_ok_since.clear();
      return finish("True", rev + " runs on every member");
    }
    const api::RolloutStage& stage = plan.stages[st.stage];
    st.stage_name = stage.name;
    std::vector<const MemberObservation*> mine;
    for (const MemberObservation& m : members) {
      if (plan.stage_of.at(m.name) == static_cast<size_t>(st.stage)) mine.push_back(&m);
    }
    const std::string where = "stage " + stage.name + " (" + std::to_string(st.stage + 1) + "/" +
                              std::to_string(stage_count) + ")";
    auto next_stage = [&]() {
      ++st.stage;
      st.after_passed_at.clear();
      st.drain.clear();
      st.drain_until.clear();
      st.started.clear();
      st.batch_started_at.clear();
      st.ready_since.clear();
      st.gates_passed_at.clear();
      st.prometheus_ok_since.clear();
    };

    if (st.started.empty() && st.gates_passed_at.empty()) {
      if (mine.empty()) {
        next_stage();
        continue;
      }
      if (stage.approval &&
          in.approval != api::RolloutApproval(st.revision, stage.name, "before")) {
        st.phase = "WaitingForApproval";
        st.approval_point = "before";
        return finish("False", where + " of " + rev +
                                   " waits for approval before the stage (fedctl rollout approve)");
      }
    }

    // A failed gate: halt, or give every member the stable revision again.
    auto fail = [&](const std::string& gate, const std::string& what) {
      const bool rollback = in.strategy->on_failure == "rollback";
      st.phase = rollback ? "RolledBack" : "Halted";
      st.failed_gate = gate;
      return finish("False", where + " of " + rev + ": gate " + gate + " failed: " + what +
                                 (rollback ? "; every member returns to revision " +
                                                 std::to_string(st.stable_revision)
                                           : "; halted"));
    };
    // A prometheus gate whose evaluations count from `since`, judged from the input's
    // evaluation when it is fresh; else this step asks for one (the caller evaluates the query
    // and steps again with it).
    auto judge = [&](const api::PrometheusGate& gate, Timestamp since) {
      PrometheusJudgement j;
      if (!in.prometheus || !SampleIsFresh(*in.prometheus, gate, since, now)) {
        out.evaluate = gate.query;
        j.reason = "the query has not been evaluated yet";
        return j;
      }
      j = JudgePrometheus(gate, *in.prometheus, Parse(st.prometheus_ok_since));
      st.prometheus_ok_since = j.ok_since ? FormatMillis(*j.ok_since) : "";
      if (j.verdict != GateVerdict::kFail) wake(in.prometheus->at + EvaluationInterval(gate));
      return j;
    };

    if (st.gates_passed_at.empty()) {
      st.phase = "Progressing";
      if (stage.drain && in.dns && st.drain.empty()) {
        // Decided once, when the stage starts changing members (kept across restarts).
        const bool others = std::any_of(members.begin(), members.end(), [&](const auto& m) {
          return plan.stage_of.at(m.name) != static_cast<size_t>(st.stage) && m.dns_allowed;
        });
        st.drain = others ? "Drained" : "OneAtATime";
        if (others && in.dns_ttl_seconds > 0) {
          st.drain_until = FormatMillis(now + seconds(in.dns_ttl_seconds));
        }
        if (!others) {
          event("Normal", "RolloutNotDrained",
                where + " of " + rev +
                    " is not drained from DNS: no member outside it may answer its clients "
                    "(the workload's residency or placement leaves none); its members change "
                    "one at a time so one always serves");
        }
      }
      // Resolvers may still send clients to a member drained this long ago: change none of the
      // stage's members before their cached answers expire. (A pause meanwhile does not move
      // it: the members stay drained and the caches expire all the same.)
      if (const auto until = Parse(st.drain_until); until && now < *until) {
        st.phase = "Draining";
        wake(*until);
        return finish("False", where + " of " + rev +
                                   " is drained from DNS; its members change from " +
                                   FormatMillis(*until) + ", when answers resolvers cached " +
                                   "before the drain have expired (TTL " +
                                   std::to_string(in.dns_ttl_seconds) + "s)");
      }
      std::set<std::string> started(st.started.begin(), st.started.end());
      auto runs_it = [&](const MemberObservation& m) {
        return m.revision == st.revision && m.ready;
      };
      // Members change in name order within their group, each group (the members no group
      // takes being one more) up to its own concurrency, all groups at once; a stage without
      // groups is one group of stage.maxConcurrency (0: all). With groups, a stage's
      // maxConcurrency caps the members changing at once across all of them (taken in member
      // name order); OneAtATime caps the whole stage at one, so one of its members always
      // serves.
      const size_t ungrouped = stage.groups.size();
      auto capacity = [&](size_t g) -> int64_t {
        if (stage.groups.empty()) {
          return stage.max_concurrency == 0 ? static_cast<int64_t>(mine.size())
                                            : stage.max_concurrency;
        }
        return g < ungrouped ? stage.groups[g].max_concurrency : 1;
      };
      int64_t stage_capacity = INT64_MAX;
      if (!stage.groups.empty() && stage.max_concurrency > 0)
        stage_capacity = stage.max_concurrency;
      if (st.drain == "OneAtATime") stage_capacity = 1;
      std::map<size_t, int64_t> in_flight;  // group -> started members not yet running it
      int64_t stage_in_flight = 0;
      for (const MemberObservation* m : mine) {
        if (started.count(m->name) && !runs_it(*m)) {
          ++in_flight[GroupOf(stage, *m)];
          ++stage_in_flight;
        }
      }
      bool batch = false;
      const MemberObservation* blocked = nullptr;  // a group's next member, which a drill targets
      std::set<size_t> done;                       // groups that start nobody more this step
      for (const MemberObservation* m : mine) {
        const size_t g = GroupOf(stage, *m);
        if (started.count(m->name) || done.count(g)) continue;
        if (in_flight[g] >= capacity(g) || stage_in_flight >= stage_capacity) {
          done.insert(g);
          continue;
        }
        if (!m->drill.empty()) {
          if (blocked == nullptr) blocked = m;
          done.insert(g);
          continue;
        }
        started.insert(m->name);
        st.started.push_back(m->name);
        ++in_flight[g];
        ++stage_in_flight;
        batch = true;
      }
      if (blocked == nullptr && !st.paused_at.empty()) resume_timers();  // the drill ended
      if (batch) {
        // Other groups go on while one waits for a drill, but the stage's timers stand still
        // until the wait ends: their batch counts from when the timers stopped.
        st.batch_started_at =
            blocked != nullptr && !st.paused_at.empty() ? st.paused_at : FormatMillis(now);
        st.ready_since.clear();
        st.prometheus_ok_since.clear();
      }
      if (blocked != nullptr) {
        // No timer runs meanwhile (the gates cannot pass before every member started anyway);
        // the drill's end changes a FailoverDrill, which runs the next pass.
        st.phase = "WaitingForDrill";
        if (st.paused_at.empty()) st.paused_at = FormatMillis(now);
        st.ready_since.clear();
        return finish("False", where + " of " + rev + " waits for drill " + blocked->drill +
                                   ", which targets " + blocked->name +
                                   " (no member gets a new revision while a drill fails it "
                                   "or watches its replicas return)");
      }
      // A crash loop fails the stage as soon as it shows, not at the gate timeout.
      for (const MemberObservation* m : mine) {
        if (stage.max_restarts >= 0 && started.count(m->name) && m->revision == st.revision &&
            m->restarts > stage.max_restarts) {
          return fail("restarts", "the pods of the revision on " + m->name + " restarted " +
                                      std::to_string(m->restarts) + " times (maxRestarts " +
                                      std::to_string(stage.max_restarts) + ")");
        }
      }
      std::vector<std::string> not_ready;
      for (const MemberObservation* m : mine) {
        if (!started.count(m->name) || !runs_it(*m)) not_ready.push_back(m->name);
      }
      const Timestamp batch_at = Parse(st.batch_started_at).value_or(now);
      if (not_ready.empty()) {
        if (st.ready_since.empty()) st.ready_since = FormatMillis(now);
      } else {
        st.ready_since.clear();
      }
      const Timestamp ready_at = Parse(st.ready_since).value_or(now) + seconds(stage.ready_seconds);
      const Timestamp soak_at = batch_at + seconds(stage.soak_seconds);
      Timestamp passed_at = std::max(ready_at, soak_at);
      // The prometheus gate, from an evaluation taken since the latest members got the
      // revision (the caller evaluates the query when this step asks for it).
      std::string prometheus_wait;  // why it has not passed ("": passed, or no such gate)
      if (stage.prometheus) {
        const PrometheusJudgement j = judge(*stage.prometheus, batch_at);
        if (j.verdict == GateVerdict::kFail) return fail("prometheus", j.reason);
        if (j.verdict == GateVerdict::kWait) {
          prometheus_wait = j.reason;
        } else {
          passed_at = std::max(passed_at, *j.passes_at);
        }
      }
      if (not_ready.empty() && now >= ready_at && now >= soak_at && prometheus_wait.empty()) {
        // When they passed, not when this step saw it: after a controller restart the wait
        // after the stage is not made longer by the downtime.
        st.gates_passed_at = FormatMillis(passed_at);
        st.prometheus_ok_since.clear();  // an after-stage prometheus gate starts its own window
      } else {
        const Timestamp deadline = batch_at + seconds(in.strategy->gate_timeout_seconds);
        const std::string within =
            " within " + std::to_string(in.strategy->gate_timeout_seconds) + "s";
        if (now >= deadline && !not_ready.empty()) {
          return fail("ready", "not every replica of the revision ready and available on " +
                                   Join(not_ready) + within);
        }
        if (now >= deadline && (now < ready_at || now < soak_at)) {
          return fail("soak", "soak not over" + within);
        }
        if (now >= deadline) {
          return fail("prometheus", "not passed" + within + ": " + prometheus_wait);
        }
        wake(deadline);
        if (not_ready.empty()) wake(std::max(ready_at, soak_at));
        std::string msg = where + " of " + rev + ": ";
        msg += not_ready.empty()
                   ? "gates ready " + std::to_string(stage.ready_seconds) + "s / soak " +
                         std::to_string(stage.soak_seconds) + "s running"
                   : "waiting for " + Join(not_ready) + " (gates fail at " +
                         FormatMillis(deadline) + ")";
        if (!prometheus_wait.empty()) msg += "; prometheus gate: " + prometheus_wait;
        return finish("False", msg);
      }
    }

    // The stage passed its own gates; it completes once its after-gates pass too: health
    // (after.prometheus, counted from then) before a human is asked (after.approval), all
    // alongside afterStageWaitSeconds.
    const Timestamp passed = Parse(st.gates_passed_at).value_or(now);
    const std::string passed_its_gates = where + " of " + rev + " passed its gates";
    if (stage.after.prometheus && st.after_passed_at.empty()) {
      const PrometheusJudgement j = judge(*stage.after.prometheus, passed);
      if (j.verdict == GateVerdict::kFail) return fail("after.prometheus", j.reason);
      if (j.verdict == GateVerdict::kPass) {
        st.after_passed_at = FormatMillis(*j.passes_at);
        st.prometheus_ok_since.clear();
      } else {
        const Timestamp deadline = passed + seconds(in.strategy->gate_timeout_seconds);
        if (now >= deadline) {
          return fail("after.prometheus", "not passed within " +
                                              std::to_string(in.strategy->gate_timeout_seconds) +
                                              "s of the stage's gates: " + j.reason);
        }
        wake(deadline);
        st.phase = "Waiting";
        return finish("False", passed_its_gates + "; after-stage prometheus gate: " + j.reason +
                                   " (fails at " + FormatMillis(deadline) + ")");
      }
    }
    if (stage.after.approval &&
        in.approval != api::RolloutApproval(st.revision, stage.name, "after")) {
      st.phase = "WaitingForApproval";
      st.approval_point = "after";
      return finish("False", passed_its_gates +
                                 "; waits for approval after the stage (fedctl rollout approve)");
    }
    const Timestamp go = passed + seconds(stage.after_stage_wait_seconds);
    if (now >= go) {
      next_stage();
      continue;
    }
    st.phase = "Waiting";
    wake(go);
    return finish("False", passed_its_gates + "; next stage at " + FormatMillis(go));
  }
}

}  // namespace meridian::rollout
