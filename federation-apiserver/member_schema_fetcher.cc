#include "federation-apiserver/member_schema_fetcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "api/codec.h"
#include "api/informers.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;

constexpr char kWho[] = "member-schemas";

}  // namespace

MemberSchemaFetcher::MemberSchemaFetcher(apimachinery::ObjectService& objects, const Clock& clock,
                                         sync::MemberClientFactory factory, MemberSchemas& schemas,
                                         Options options,
                                         apimachinery::SharedInformerFactory* informers)
    : clock_(clock),
      schemas_(schemas),
      options_(options),
      clients_(std::move(factory)),
      informers_(objects, informers),
      members_(api::MeridianInformer(informers_.factory(), "memberclusters",
                                     &api::DecodeMemberCluster, kWho)),
      loop_([this]() -> std::optional<std::chrono::milliseconds> {
        PassOnce(forced_.exchange(false));
        // A refresh asked for too soon after a fetch waits for min_interval, not for the
        // next change.
        if (forced_) return std::min(options_.check_every, options_.times.min_interval);
        return options_.check_every;
      }) {}

MemberSchemaFetcher::~MemberSchemaFetcher() { Stop(); }

Status MemberSchemaFetcher::Start() {
  // A new member, or one whose spec or health changed; not its summary or probe time.
  MERIDIAN_ASSIGN_OR_RETURN(
      handlers_, apimachinery::StartInformers(
                     {}, {apimachinery::OnlyChangesThatMatter(members_, api::MemberClusterChangeMatters)},
                     [this] { loop_.MarkDirty(); }, kWho));
  started_ = true;
  schemas_.SetRefreshRequester([this] {
    forced_ = true;
    loop_.MarkDirty();
  });
  loop_.Start();
  return Status::Ok();
}

void MemberSchemaFetcher::Stop() {
  schemas_.SetRefreshRequester(nullptr);
  handlers_.clear();  // no more MarkDirty from the (possibly shared) informer
  loop_.Stop();
  informers_.StopOwn();
}

std::vector<std::string> MemberSchemaFetcher::PassOnce(bool forced) {
  std::vector<std::string> fetched;
  StatusOr<std::vector<api::MemberCluster>> members =
      apimachinery::InformerValues(members_, started_.load());
  if (!members.ok()) {
    spdlog::warn("{}: {}", kWho, members.status().ToString());
    return fetched;
  }
  std::set<std::string> names;
  for (const api::MemberCluster& m : *members) names.insert(m.metadata.name);
  schemas_.Retain(names);
  std::lock_guard lock(mu_);
  for (const api::MemberCluster& m : *members) {
    const std::string& name = m.metadata.name;
    std::string error;
    std::shared_ptr<sync::MemberClient> client = clients_.Get(m, &error);
    if (client == nullptr) continue;  // credentials not there yet: the watch wakes us
    const Timestamp now = clock_.Now();
    std::shared_ptr<const MemberSchemas::Entry> held = schemas_.Get(name);
    auto failed = failures_.find(name);
    const Timestamp last_failure = failed == failures_.end() ? Timestamp{} : failed->second;
    // Discovery is cached by the client (its TTL), so asking for the version costs nothing
    // most of the time; it is only asked once a document is held.
    std::string version;
    if (held != nullptr) {
      StatusOr<sync::DiscoveryInfo> d = client->Discover();
      if (d.ok()) version = d->version.git_version;
    }
    if (!SchemaFetchDue(held.get(), version, now, options_.times, forced, last_failure)) {
      if (forced && held != nullptr && now - held->fetched < options_.times.min_interval) {
        forced_ = true;  // asked for: fetched once min_interval has passed
      }
      continue;
    }
    StatusOr<json> doc = client->OpenApiV2();
    StatusOr<std::shared_ptr<const api::OpenApiSchemas>> compiled =
        doc.ok() ? api::OpenApiSchemas::FromDocument(*doc)
                 : StatusOr<std::shared_ptr<const api::OpenApiSchemas>>(doc.status());
    if (!compiled.ok()) {
      failures_[name] = now;
      spdlog::warn("{}: member {}: {}", kWho, name, compiled.status().ToString());
      continue;
    }
    failures_.erase(name);
    if (version.empty()) {
      StatusOr<sync::DiscoveryInfo> d = client->Discover();
      if (d.ok()) version = d->version.git_version;
    }
    MemberSchemas::Entry entry;
    entry.version = version;
    entry.fetched = now;
    entry.schemas = *compiled;
    entry.any_kind = doc->value("x-meridian-any-kind", false);
    spdlog::info("{}: member {} ({}): {} kinds, {} definitions, {} bytes compiled", kWho, name,
                 version, entry.schemas->Kinds().size(), entry.schemas->definition_count(),
                 entry.schemas->compact_bytes());
    schemas_.Set(name, std::move(entry));
    fetched.push_back(name);
  }
  return fetched;
}

}  // namespace meridian::apiserver
