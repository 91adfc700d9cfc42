#include "dns/dns_controller.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <initializer_list>
#include <set>

#include "api/codec.h"
#include "api/informers.h"
#include "api/typed_list.h"
#include "sync/propagation.h"

namespace meridian::dns {
namespace {

using apimachinery::ResourceInfo;
using nlohmann::json;

const sync::GroupVersionResource kServices{"", "v1", "services"};

constexpr char kWho[] = "dns controller";

// What makes a member's client: a change of any of these restarts its Service watch.
std::string ClientKey(const api::MemberCluster& m) {
  return m.spec.server + "|" + (m.spec.insecure_skip_tls_verify ? "insecure" : "verify") + "|" +
         m.spec.credentials_ref.ns + "/" + m.spec.credentials_ref.name;
}

std::string Key(const api::ObjectMeta& m) { return m.ns + "/" + m.name; }

}  // namespace

struct DnsController::Member {
  api::MemberCluster cluster;
  std::string client_key;
  std::atomic<bool> stopping{false};

  std::mutex mu;               // guards everything below
  std::condition_variable cv;  // wakes the retry wait when stopping
  MemberServices services;
  std::unique_ptr<sync::MemberWatch> watch;
};

DnsController::DnsController(apimachinery::ObjectService& objects,
                             sync::MemberClientFactory factory, DnsControllerOptions options,
                             apimachinery::SharedInformerFactory* informers)
    : objects_(objects),
      factory_(std::move(factory)),
      options_(options),
      own_informers_(informers ? nullptr
                               : std::make_unique<apimachinery::SharedInformerFactory>(objects)),
      informers_(informers ? *informers : *own_informers_),
      workloads_(api::MeridianInformer(informers_, "federatedworkloads",
                                       api::DecodeFederatedWorkload, kWho)),
      members_informer_(
          api::MeridianInformer(informers_, "memberclusters", api::DecodeMemberCluster, kWho)),
      policies_(
          api::MeridianInformer(informers_, "residencypolicies", api::DecodeResidencyPolicy, kWho)),
      record_sets_(
          api::MeridianInformer(informers_, "dnsrecordsets", api::DecodeDnsRecordSet, kWho)),
      loop_([this] { return Pass(); }) {}

DnsController::~DnsController() { Stop(); }

Status DnsController::Start() {
  auto dirty = [this](const apimachinery::InformerKey&) { loop_.MarkDirty(); };
  // Only workloads with spec.dns (before or after the change) have record sets, and a
  // member's summary or probe time moves no answer: on a busy fleet those are nearly every
  // change, and each woke a whole pass.
  handlers_.push_back(workloads_.OnChangeThatMatters(
      [this] { loop_.MarkDirty(); },
      [](const api::FederatedWorkload* old, const api::FederatedWorkload* now) {
        return (old != nullptr && old->spec.dns) || (now != nullptr && now->spec.dns);
      }));
  handlers_.push_back(members_informer_.OnChangeThatMatters([this] { loop_.MarkDirty(); },
                                                            api::MemberClusterChangeMatters));
  handlers_.emplace_back(policies_.cache(),
                         apimachinery::InformerHandlers<api::ResidencyPolicy>{.on_key = dirty});
  handlers_.emplace_back(record_sets_.cache(),
                         apimachinery::InformerHandlers<api::DnsRecordSet>{.on_key = dirty});
  for (apimachinery::InformerBase* informer : std::initializer_list<apimachinery::InformerBase*>{
           &workloads_, &members_informer_, &policies_, &record_sets_}) {
    if (Status st = informer->Start(); !st.ok()) {
      handlers_.clear();
      return UnavailableError(std::string(kWho) + ": " + st.message());
    }
  }
  started_ = true;
  loop_.Start();
  return Status::Ok();
}

void DnsController::Stop() {
  handlers_.clear();  // no more MarkDirty from the (possibly shared) informers
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  loop_.Stop();

  std::vector<std::shared_ptr<Member>> members;
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, m] : members_) members.push_back(m);
    members_.clear();
    threads.swap(member_threads_);
  }
  for (const auto& m : members) {
    m->stopping = true;
    std::unique_ptr<sync::MemberWatch> watch;
    {
      std::lock_guard lock(m->mu);
      watch = std::move(m->watch);
    }
    m->cv.notify_all();
    if (watch) watch->Stop();
  }
  for (std::thread& t : threads) {
    if (t.joinable()) t.join();
  }
}

std::optional<std::chrono::milliseconds> DnsController::Pass() {
  const auto started = std::chrono::steady_clock::now();
  Status refreshed = RefreshMembers();
  StatusOr<int> written = ReconcileAll();
  if (written.ok() && *written > 0) {
    spdlog::debug("dns controller: {} record set writes in {} ms", *written,
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count());
  }
  if (!refreshed.ok()) spdlog::warn("dns controller: {}", refreshed.ToString());
  if (!written.ok()) spdlog::warn("dns controller: {}", written.status().ToString());
  if (refreshed.ok() && written.ok()) return std::nullopt;
  return options_.error_retry;
}

Status DnsController::RefreshMembers() {
  if (!started_) MERIDIAN_RETURN_IF_ERROR(members_informer_.Relist());
  const std::vector<api::MemberCluster> clusters = members_informer_.cache().Values();
  std::vector<std::shared_ptr<Member>> removed;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status::Ok();
    std::set<std::string> present;
    for (const api::MemberCluster& c : clusters) {
      present.insert(c.metadata.name);
      auto it = members_.find(c.metadata.name);
      if (it != members_.end() && it->second->client_key == ClientKey(c)) continue;
      if (it != members_.end()) removed.push_back(it->second);
      auto m = std::make_shared<Member>();
      m->cluster = c;
      m->client_key = ClientKey(c);
      members_[c.metadata.name] = m;
      member_threads_.emplace_back([this, m] { WatchMember(m); });
    }
    for (auto it = members_.begin(); it != members_.end();) {
      if (present.count(it->first)) {
        ++it;
      } else {
        removed.push_back(it->second);
        it = members_.erase(it);
      }
    }
  }
  // Outside mu_: stopping a watch waits for its callback, which may be waiting for mu_.
  for (const auto& m : removed) {
    m->stopping = true;
    std::unique_ptr<sync::MemberWatch> watch;
    {
      std::lock_guard lock(m->mu);
      watch = std::move(m->watch);
    }
    m->cv.notify_all();
    if (watch) watch->Stop();
  }
  return Status::Ok();
}

void DnsController::WatchMember(std::shared_ptr<Member> m) {
  const std::string& name = m->cluster.metadata.name;
  Member* raw = m.get();
  auto on_event = [this, raw](const sync::MemberWatchEvent& event) {
    const json& meta = event.object.value("metadata", json::object());
    std::string key = meta.value("namespace", "") + "/" + meta.value("name", "");
    std::vector<std::string> addresses, hostnames;
    if (event.type != sync::MemberEventType::kDeleted) {
      addresses = LoadBalancerAddresses(event.object);
      hostnames = LoadBalancerHostnames(event.object);
    }
    // Keeps `book[key]` equal to `values` (absent when empty); whether it changed.
    auto record = [&key](std::map<std::string, std::vector<std::string>>& book,
                         std::vector<std::string> values) {
      auto it = book.find(key);
      if (values.empty()) {
        if (it == book.end()) return false;
        book.erase(it);
        return true;
      }
      if (it != book.end() && it->second == values) return false;
      book[key] = std::move(values);
      return true;
    };
    bool changed = false, synced = false;
    {
      std::lock_guard lock(raw->mu);
      if (raw->stopping) return;
      changed = record(raw->services.addresses, std::move(addresses));
      changed = record(raw->services.hostnames, std::move(hostnames)) || changed;
      synced = raw->services.synced;
    }
    // Before the first list completes, WatchMember marks the world dirty once at the end.
    if (changed && synced) loop_.MarkDirty();
  };

  std::shared_ptr<sync::MemberClient> client;
  std::string last_error;
  while (!m->stopping) {
    Status failed;
    if (!client) {
      auto made = factory_(m->cluster);
      if (made.ok()) {
        client = *made;
      } else {
        failed = made.status();
      }
    }
    if (client) {
      sync::WatchOptions options;
      options.max_backoff = std::chrono::milliseconds(5000);
      auto watch = client->Watch(kServices, "", "", "", on_event, options);
      if (watch.ok()) {
        std::unique_ptr<sync::MemberWatch> extra;
        {
          std::lock_guard lock(m->mu);
          if (m->stopping) {
            extra = std::move(watch).value();
          } else {
            m->watch = std::move(watch).value();
            m->services.synced = true;
          }
        }
        if (extra) {
          extra->Stop();
          return;
        }
        if (!last_error.empty())
          spdlog::info("dns controller: watching Services of {} again", name);
        loop_.MarkDirty();
        return;  // the watch resumes by itself from now on
      }
      failed = watch.status();
    }
    if (failed.message() != last_error) {
      spdlog::warn("dns controller: cannot watch Services of member {} (retrying every {} ms): {}",
                   name, options_.member_retry.count(), failed.ToString());
      last_error = failed.message();
    }
    std::unique_lock lock(m->mu);
    m->cv.wait_for(lock, options_.member_retry, [&] { return m->stopping.load(); });
  }
}

ServiceDirectory DnsController::Services() const {
  std::vector<std::pair<std::string, std::shared_ptr<Member>>> members;
  {
    std::lock_guard lock(mu_);
    members.assign(members_.begin(), members_.end());
  }
  ServiceDirectory out;
  for (const auto& [name, m] : members) {
    std::lock_guard lock(m->mu);
    out[name] = m->services;
  }
  return out;
}

StatusOr<int> DnsController::ReconcileAll() {
  if (!started_) {
    // No watch keeps the caches current: read the API now (tests drive passes by hand).
    for (apimachinery::InformerBase* informer : std::initializer_list<apimachinery::InformerBase*>{
             &workloads_, &members_informer_, &policies_, &record_sets_}) {
      MERIDIAN_RETURN_IF_ERROR(informer->Relist());
    }
  }
  // Only workloads with spec.dns have record sets: the others (most of a fleet) are not copied.
  std::vector<api::FederatedWorkload> workloads;
  for (const auto& w : workloads_.cache().List()) {
    if (w->spec.dns) workloads.push_back(*w);
  }
  const std::vector<api::MemberCluster> members = members_informer_.cache().Values();
  const std::vector<api::ResidencyPolicy> policies = policies_.cache().Values();
  const std::vector<api::DnsRecordSet> existing = record_sets_.cache().Values();
  std::map<std::string, const api::DnsRecordSet*> live;
  for (const api::DnsRecordSet& rs : existing) live[Key(rs.metadata)] = &rs;

  const ResourceInfo& info = api::MeridianResource(objects_, "dnsrecordsets", kWho);
  int written = 0;
  auto report = [&](const char* verb, const std::string& key,
                    const apimachinery::ApiResult<json>& result) {
    if (result.ok()) {
      // The next pass reads what was written (a deleted record set's answer is its last
      // state, unless a finalizer only marked it).
      const bool gone = std::string(verb) == "deleting" &&
                        !result.value()["metadata"].contains("deletionTimestamp");
      if (gone) {
        record_sets_.AssumeDeleted(result.value());
      } else {
        record_sets_.Assume(result.value());
      }
      ++written;
    } else if (result.error().code == 409 || result.error().code == 404) {
      loop_.MarkDirty();  // changed or gone meanwhile: the next pass sees the new state
    } else {
      spdlog::warn("dns controller: {} DNSRecordSet {}: {}", verb, key, result.error().message);
    }
  };

  std::set<std::string> desired_keys;
  for (const api::DnsRecordSet& want :
       DesiredRecordSets(workloads, members, policies, Services())) {
    const std::string key = Key(want.metadata);
    desired_keys.insert(key);
    auto it = live.find(key);
    if (it == live.end()) {
      report("creating", key, objects_.Create(info, want.metadata.ns, api::Encode(want)));
      continue;
    }
    const api::DnsRecordSet& have = *it->second;
    if (!IsManagedRecordSet(have)) {
      spdlog::warn("dns controller: DNSRecordSet {} exists without label {}={}; not overwriting it",
                   key, sync::kManagedByLabel, sync::kManagedByValue);
      continue;
    }
    if (!RecordSetNeedsUpdate(have, want)) continue;
    api::DnsRecordSet updated = have;  // keeps resourceVersion (compare-and-swap) and metadata
    updated.spec = want.spec;
    for (const auto& [k, v] : want.metadata.labels) updated.metadata.labels[k] = v;
    if (want.metadata.extra.contains("ownerReferences")) {
      updated.metadata.extra["ownerReferences"] = want.metadata.extra["ownerReferences"];
    }
    report("updating", key,
           objects_.Update(info, have.metadata.ns, have.metadata.name, api::Encode(updated)));
  }
  for (const auto& [key, have] : live) {
    if (desired_keys.count(key) || !IsManagedRecordSet(*have)) continue;
    apimachinery::DeleteOptions options;
    options.precondition_uid = have->metadata.uid;
    report("deleting", key, objects_.Delete(info, have->metadata.ns, have->metadata.name, options));
  }
  return written;
}

}  // namespace meridian::dns
