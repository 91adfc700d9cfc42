#include "failover/health_monitor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <vector>

#include "api/codec.h"
#include "api/informers.h"
#include "common/log_fields.h"
#include "failover/member_inventory.h"
#include "failover/node_capacity.h"
#include "sync/http_member_client.h"

namespace meridian::failover {
namespace {

constexpr char kWho[] = "health monitor";

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// What the probes need of the federation's workloads (HealthMonitor::PlacedCache).
struct PlacedWorkloads {
  std::set<std::string> objects;                  // WorkloadObjectKey of each template
  std::map<std::string, PodRequirements> shapes;  // by ShapeKey
};

const apimachinery::ResourceInfo& MemberClusters(apimachinery::ObjectService& objects) {
  const apimachinery::ResourceInfo* info =
      objects.registry().Find(api::kGroup, api::kVersion, "memberclusters");
  // The federation-apiserver always registers Meridian's kinds; anything else is a wiring bug.
  if (info == nullptr) {
    spdlog::critical("health monitor: resource memberclusters is not registered");
    std::abort();
  }
  return *info;
}

// The probe itself, on the probe's thread: /readyz (a cheap request), then zones and room
// from the member's watched Nodes and Pods (no LIST unless a watch still has to start).
// `list_wait` bounds how long this probe waits for the watches' first list (a slow one goes
// on, and a later probe reads its result).
ProbeOutcome RunProbe(sync::MemberClient& client, MemberInventory& inventory,
                      const std::vector<std::string>& zones, const PlacedWorkloads& placed,
                      std::chrono::milliseconds list_wait) {
  ProbeOutcome outcome;
  const SteadyClock::time_point start = SteadyClock::now();
  Status s = client.Readyz();
  // Readyz falls back to /healthz in HttpMemberClient; a client that does not is helped here.
  if (s.code() == StatusCode::kNotFound) s = client.Healthz();
  outcome.latency = std::chrono::duration_cast<Duration>(SteadyClock::now() - start);
  if (!s.ok()) {
    outcome.error = s.ToString();
    outcome.timed_out = s.code() == StatusCode::kDeadlineExceeded;
    return outcome;
  }
  outcome.ok = true;
  // Starts the watches on the first probe and after one could not start (lists once).
  if (Status started = inventory.EnsureStarted(list_wait); !started.ok()) {
    spdlog::warn(LogFields("watching nodes and pods failed", {{"controller", "health-monitor"},
                                                              {"member", client.member()},
                                                              {"error", started.ToString()}}));
  }
  StatusOr<MemberInventory::Snapshot> seen = inventory.Read();
  if (!seen.ok()) return outcome;  // zones keep their previous status
  if (seen->stale) {
    // A broken watch: what we have may be out of date, so report nothing rather than guess.
    spdlog::debug(LogFields("node/pod watch broken, zones kept", {{"controller", "health-monitor"},
                                                                  {"member", client.member()},
                                                                  {"error", seen->stale_reason}}));
    return outcome;
  }
  // Pods of Meridian's own workloads take no room here: placement counts their replicas.
  const PodFilter not_meridians = [&placed](const json& pod) {
    return !placed.objects.count(PodWorkloadKey(pod));
  };
  // The reference pod first, then every workload's shape; the pods are read once.
  std::vector<PodRequirements> kinds = {ReferencePod()};
  for (const auto& [shape, pod] : placed.shapes) kinds.push_back(pod);
  const std::vector<std::vector<ZoneCapacity>> by_kind =
      EstimateZoneCapacities(seen->nodes, seen->pods, kinds, zones, not_meridians);
  std::vector<ZoneHealth> out;
  for (const ZoneCapacity& z : by_kind[0]) {
    out.push_back({z.name, z.healthy, z.replicas, z.ready_nodes, z.nodes, {}});
  }
  size_t k = 1;
  for (const auto& [shape, pod] : placed.shapes) {
    const std::vector<ZoneCapacity>& by_zone = by_kind[k++];
    for (size_t i = 0; i < by_zone.size() && i < out.size(); ++i) {
      out[i].replicas_by_pod_shape[shape] = by_zone[i].replicas;
    }
  }
  outcome.zones = std::move(out);
  return outcome;
}

// The FederatedWorkloads of the federation as the probes need them: the member objects
// Meridian writes (WorkloadObjectKey) and the distinct pod shapes of their templates.
// One workload's part of PlacedWorkloads: its member object and its pod shape, if any.
struct PlacedPart {
  std::string object;                    // WorkloadObjectKey; empty: no template object
  std::optional<PodRequirements> shape;  // of its pod template
  std::string shape_key;                 // its ShapeKey
};

PlacedPart PlacedPartOf(const api::FederatedWorkload& w) {
  PlacedPart part;
  const json& tmpl = w.spec.template_;
  if (!tmpl.is_object()) return part;
  std::string name;
  if (auto meta = tmpl.find("metadata"); meta != tmpl.end() && meta->is_object()) {
    name = meta->value("name", "");
  }
  if (name.empty()) name = w.metadata.name;
  part.object = WorkloadObjectKey(w.metadata.ns, tmpl.value("kind", ""), name);
  if (const json* pod_spec = TemplatePodSpec(tmpl)) {
    // Admission validates templates: one that does not parse has nothing to estimate.
    if (StatusOr<PodRequirements> pod = PodRequirementsFrom(*pod_spec); pod.ok()) {
      part.shape_key = pod->ShapeKey();
      part.shape = *std::move(pod);
    }
  }
  return part;
}

}  // namespace

// PlacedWorkloads between rounds: each workload's part is read from its template again only
// when the informer holds a new object for it (every workload's template on every round,
// once a second, was ~8 % of the API server's CPU at 10,000 workloads), and the whole is
// rebuilt only when some part came, changed or went.
struct HealthMonitor::PlacedCache {
  struct Entry {
    std::shared_ptr<const api::FederatedWorkload> seen;  // the object the part was read from
    PlacedPart part;
    uint64_t round = 0;  // the last Update that listed it
  };
  std::map<std::string, Entry> by_key;  // "ns/name"
  uint64_t rounds = 0;
  std::shared_ptr<const PlacedWorkloads> placed = std::make_shared<const PlacedWorkloads>();

  std::shared_ptr<const PlacedWorkloads> Update(
      const std::vector<std::shared_ptr<const api::FederatedWorkload>>& workloads) {
    const uint64_t round = ++rounds;
    bool changed = false;
    std::string key;
    for (const auto& w : workloads) {
      key.assign(w->metadata.ns).append("/").append(w->metadata.name);
      Entry& e = by_key[key];
      e.round = round;
      if (e.seen == w) continue;
      PlacedPart part = PlacedPartOf(*w);
      changed = changed || e.seen == nullptr || part.object != e.part.object ||
                part.shape_key != e.part.shape_key;
      e.part = std::move(part);
      e.seen = w;
    }
    // Gone since the last round.
    changed = std::erase_if(by_key, [&](const auto& e) { return e.second.round != round; }) > 0 ||
              changed;
    if (!changed) return placed;
    auto next = std::make_shared<PlacedWorkloads>();
    for (const auto& [name, e] : by_key) {
      if (!e.part.object.empty()) next->objects.insert(e.part.object);
      if (e.part.shape) next->shapes.emplace(e.part.shape_key, *e.part.shape);
    }
    placed = std::move(next);
    return placed;
  }
};

namespace {

// What the member's client depends on; a change makes a new client.
std::string ClientKey(const api::MemberCluster& m) {
  return m.spec.server + "|" + (m.spec.insecure_skip_tls_verify ? "insecure" : "verify") + "|" +
         m.spec.credentials_ref.ns + "/" + m.spec.credentials_ref.name;
}

}  // namespace

struct HealthMonitor::Probe {
  std::thread thread;
  bool done = false;     // guarded by HealthMonitor::done_mu_
  ProbeOutcome outcome;  // written by the thread before `done`; read after
};

struct HealthMonitor::Member {
  std::string client_key;  // ClientKey() of the spec the client was made for
  std::shared_ptr<sync::MemberClient> client;
  // The client's Node and Pod watches (made with the client; probes read it).
  std::shared_ptr<MemberInventory> inventory;
  ProbeHistory history;
  std::unique_ptr<Probe> probe;  // the in-flight (or finished, unjoined) probe
  SteadyClock::time_point last_write{};
  bool written = false;  // at least one status written by this monitor
};

HealthMonitor::HealthMonitor(apimachinery::ObjectService& objects, const Clock& clock,
                             MemberClientFactory factory, HealthMonitorOptions options,
                             apimachinery::SharedInformerFactory* informers)
    : objects_(objects),
      clock_(clock),
      factory_(std::move(factory)),
      options_(options),
      informers_(objects, informers),
      members_informer_(api::MeridianInformer(informers_.factory(), "memberclusters",
                                              api::DecodeMemberCluster, kWho)),
      workloads_informer_(api::MeridianInformer(informers_.factory(), "federatedworkloads",
                                                api::DecodeFederatedWorkload, kWho)) {
  events_ = apimachinery::EventRecorder::IfServed(
      objects_, clock_, apimachinery::EventRecorderOptions{.component = "health-monitor"});
}

HealthMonitor::~HealthMonitor() {
  Stop();
  // Probes are bounded by the member client's timeout, so joining ends.
  for (auto& [name, m] : members_) {
    if (m->probe && m->probe->thread.joinable()) m->probe->thread.join();
  }
}

void HealthMonitor::Start() {
  if (loop_.joinable()) return;
  // Rounds are timed, not driven by changes: no handlers, only current caches.
  watching_ = true;
  for (apimachinery::InformerBase* informer : std::initializer_list<apimachinery::InformerBase*>{
           &members_informer_, &workloads_informer_}) {
    if (Status st = informer->Start(); !st.ok()) {
      spdlog::warn("{}: {}; every round lists instead", kWho, st.ToString());
      watching_ = false;
    }
  }
  {
    std::lock_guard lock(loop_mu_);
    stopping_ = false;
  }
  loop_ = std::thread([this] { Run(); });
}

void HealthMonitor::Stop() {
  {
    std::lock_guard lock(loop_mu_);
    stopping_ = true;
  }
  loop_cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  informers_.StopOwn();
}

void HealthMonitor::Run() {
  std::unique_lock lock(loop_mu_);
  while (!stopping_) {
    const SteadyClock::time_point next = SteadyClock::now() + options_.interval;
    lock.unlock();
    StatusOr<int> written = ProbeAllOnce(clock_.Now());
    if (!written.ok()) spdlog::warn("health monitor: {}", written.status().ToString());
    lock.lock();
    loop_cv_.wait_until(lock, next, [this] { return stopping_; });
  }
}

StatusOr<int> HealthMonitor::ProbeAllOnce(Timestamp now) {
  StatusOr<std::vector<api::MemberCluster>> members =
      apimachinery::InformerValues(members_informer_, watching_);
  if (!members.ok()) return members.status().WithContext(kWho);
  if (!watching_) {
    if (Status st = workloads_informer_.Relist(); !st.ok()) {
      spdlog::warn("{}: {}", kWho, st.ToString());  // pod shapes of the last list
    }
  }
  if (!placed_cache_) placed_cache_ = std::make_unique<PlacedCache>();
  std::shared_ptr<const PlacedWorkloads> placed =
      placed_cache_->Update(workloads_informer_.cache().List());

  // Start a probe for every member that has none running.
  std::map<std::string, ProbeOutcome> immediate;  // failures known without probing
  std::vector<std::string> started;
  for (const api::MemberCluster& mc : *members) {
    std::unique_ptr<Member>& slot = members_[mc.metadata.name];
    if (!slot) slot = std::make_unique<Member>();
    Member& m = *slot;
    if (m.probe) {
      bool done;
      {
        std::lock_guard lock(done_mu_);
        done = m.probe->done;
      }
      if (!done) {
        ProbeOutcome& outcome = immediate[mc.metadata.name];
        outcome.error = "the previous probe is still running (no answer within " +
                        std::to_string(options_.timeout.count()) + " ms)";
        outcome.timed_out = true;
        continue;
      }
      m.probe->thread.join();
      m.probe.reset();
    }
    if (!m.client || m.client_key != ClientKey(mc)) {
      StatusOr<std::shared_ptr<sync::MemberClient>> client = factory_(mc);
      if (!client.ok()) {
        m.client.reset();
        m.inventory.reset();
        immediate[mc.metadata.name].error = client.status().ToString();
        continue;
      }
      m.client = std::move(client).value();
      m.inventory = std::make_shared<MemberInventory>(m.client);
      m.client_key = ClientKey(mc);
    }
    m.probe = std::make_unique<Probe>();
    Probe* probe = m.probe.get();
    m.probe->thread = std::thread([this, probe, client = m.client, inventory = m.inventory,
                                   zones = mc.spec.zones, placed] {
      ProbeOutcome outcome = RunProbe(*client, *inventory, zones, *placed, options_.timeout / 2);
      {
        std::lock_guard lock(done_mu_);
        probe->outcome = std::move(outcome);
        probe->done = true;
      }
      done_cv_.notify_all();
    });
    started.push_back(mc.metadata.name);
  }

  // Wait for the probes, at most `timeout` (real time: this is how long a member may take).
  const SteadyClock::time_point deadline = SteadyClock::now() + options_.timeout;
  {
    std::unique_lock lock(done_mu_);
    done_cv_.wait_until(lock, deadline, [&] {
      for (const std::string& name : started) {
        if (!members_[name]->probe->done) return false;
      }
      return true;
    });
  }

  std::vector<ProbeOutcome> outcomes;  // by members' index
  outcomes.reserve(members->size());
  for (const api::MemberCluster& mc : *members) {
    Member& m = *members_[mc.metadata.name];
    ProbeOutcome& outcome = outcomes.emplace_back();
    if (auto it = immediate.find(mc.metadata.name); it != immediate.end()) {
      outcome = it->second;
    } else {
      bool done;
      {
        std::lock_guard lock(done_mu_);
        done = m.probe->done;
      }
      if (done) {
        m.probe->thread.join();
        outcome = std::move(m.probe->outcome);
        m.probe.reset();
      } else {
        outcome.error = "no answer within " + std::to_string(options_.timeout.count()) + " ms";
        outcome.latency = options_.timeout;
        outcome.timed_out = true;
      }
    }
  }

  // Most members silent at once: likelier this process (starved of CPU) or its network than
  // the members; their silences wait disruption_grace before they count (RoundLooksDisrupted).
  const int silent = static_cast<int>(std::count_if(
      outcomes.begin(), outcomes.end(), [](const ProbeOutcome& o) { return o.timed_out; }));
  bool discount_silences = false;
  if (RoundLooksDisrupted(silent, static_cast<int>(outcomes.size()))) {
    if (!disrupted_since_) {
      disrupted_since_ = now;
      spdlog::warn(LogFields(
          "most members silent at once: not counted as failures for a while",
          {{"controller", "health-monitor"},
           {"silent", std::to_string(silent) + " of " + std::to_string(outcomes.size())},
           {"grace_ms", std::to_string(options_.disruption_grace.count())}}));
    }
    discount_silences = now - *disrupted_since_ < options_.disruption_grace;
  } else if (disrupted_since_) {
    spdlog::warn(LogFields("members answer again: silences count as failures",
                           {{"controller", "health-monitor"}}));
    disrupted_since_.reset();
  }

  int written = 0;
  for (size_t i = 0; i < members->size(); ++i) {
    const api::MemberCluster& mc = (*members)[i];
    Member& m = *members_[mc.metadata.name];
    const ProbeOutcome& outcome = outcomes[i];
    // Not a failure yet, nor news: its history and status stay as they are.
    if (discount_silences && outcome.timed_out) continue;
    if (!outcome.ok) {
      spdlog::debug(LogFields("probe failed", {{"controller", "health-monitor"},
                                               {"member", mc.metadata.name},
                                               {"error", outcome.error}}));
    }
    m.history = NextHistory(m.history, outcome);
    if (WriteStatus(mc, m, outcome, now)) ++written;
  }

  // Forget members that are gone (once their probe has finished).
  for (auto it = members_.begin(); it != members_.end();) {
    bool listed = std::any_of(members->begin(), members->end(), [&](const api::MemberCluster& mc) {
      return mc.metadata.name == it->first;
    });
    bool busy = false;
    if (!listed && it->second->probe) {
      std::lock_guard lock(done_mu_);
      busy = !it->second->probe->done;
    }
    if (!listed && !busy) {
      if (it->second->probe) it->second->probe->thread.join();
      it = members_.erase(it);
    } else {
      ++it;
    }
  }
  return written;
}

void HealthMonitor::FlushEvents() {
  if (events_) events_->Flush();
}

bool HealthMonitor::WriteStatus(const api::MemberCluster& listed, Member& m,
                                const ProbeOutcome& outcome, Timestamp now) {
  const apimachinery::ResourceInfo& info = MemberClusters(objects_);
  api::MemberCluster current = listed;
  for (int attempt = 0; attempt < 5; ++attempt) {
    api::MemberClusterStatus next =
        ApplyProbe(current.status, outcome, m.history, now, options_.failure_threshold);
    const bool changed = WithoutProbeDetails(next) != WithoutProbeDetails(current.status);
    const bool stale = !m.written || SteadyClock::now() - m.last_write >= options_.status_refresh;
    if (!changed && !stale) return false;
    if (next == current.status) return false;
    api::MemberCluster updated = current;
    updated.status = next;
    auto result = objects_.Update(info, "", current.metadata.name, api::Encode(updated), "status");
    if (result.ok()) {
      members_informer_.Assume(result.value());  // the next round starts from what was written
      m.written = true;
      m.last_write = SteadyClock::now();
      for (const HealthEvent& e : TransitionEvents(current.status, next)) {
        // The recorder logs every Event it records (with its fields): a line here too would
        // show each transition twice. Without a recorder (no events resource) log it here.
        if (events_) {
          events_->Record(
              apimachinery::ReferenceTo(result.value()),
              e.warning ? apimachinery::EventType::kWarning : apimachinery::EventType::kNormal,
              e.reason, e.message);
        } else {
          spdlog::log(e.warning ? spdlog::level::warn : spdlog::level::info,
                      LogFields(e.message, {{"controller", "health-monitor"},
                                            {"kind", "MemberCluster"},
                                            {"object", current.metadata.name},
                                            {"reason", e.reason}}));
        }
      }
      return true;
    }
    if (result.error().code == 404) return false;  // deleted meanwhile
    if (result.error().code != 409) {
      spdlog::warn(
          LogFields("writing MemberCluster status failed", {{"controller", "health-monitor"},
                                                            {"member", current.metadata.name},
                                                            {"error", result.error().message}}));
      return false;
    }
    // Changed since we listed it: re-read and apply the same outcome to the new status.
    auto fresh = objects_.Get(info, "", current.metadata.name);
    if (!fresh.ok()) return false;
    FieldErrors errors;
    current = api::DecodeMemberCluster(fresh.value(), &errors);
    if (!errors.empty()) return false;
  }
  spdlog::warn(LogFields("MemberCluster status kept changing; retrying next round",
                         {{"controller", "health-monitor"}, {"member", listed.metadata.name}}));
  return false;
}

}  // namespace meridian::failover
