#include "dns/record_publisher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "apimachinery/change_watch.h"
#include "api/codec.h"
#include "dns/record_sets.h"

namespace meridian::dns {
namespace {

using apimachinery::ResourceInfo;
using nlohmann::json;

const ResourceInfo* Info(apimachinery::ObjectService& objects, const char* plural) {
  return objects.registry().Find(api::kGroup, api::kVersion, plural);
}

// The decoded items of a list, and the store revision it reflects.
template <typename T>
Status List(apimachinery::ObjectService& objects, const char* plural,
            T (*decode)(const json&, FieldErrors*), std::vector<T>* out, int64_t* revision) {
  const ResourceInfo* info = Info(objects, plural);
  if (!info) return InternalError(std::string("resource ") + plural + " is not registered");
  auto list = objects.List(*info, "", apimachinery::ListRequest{});
  if (!list.ok()) {
    return UnavailableError(std::string("listing ") + plural + ": " + list.error().message);
  }
  try {
    *revision = std::max<int64_t>(
        *revision, std::stoll(list.value()["metadata"].value("resourceVersion", "0")));
  } catch (const std::exception&) {
  }
  for (const json& item : list.value()["items"]) {
    FieldErrors errors;
    T decoded = decode(item, &errors);
    if (errors.empty()) out->push_back(std::move(decoded));
  }
  return Status::Ok();
}

}  // namespace

RecordSetPublisher::RecordSetPublisher(apimachinery::ObjectService& objects, ServingConfig config,
                                       SwappableRecordSource& source)
    : objects_(objects),
      config_(std::move(config)),
      source_(source),
      loop_([this] { return Pass(); }) {}

RecordSetPublisher::~RecordSetPublisher() { Stop(); }

Status RecordSetPublisher::Start() {
  const std::string from = std::to_string(objects_.store().CurrentResourceVersion());
  MERIDIAN_RETURN_IF_ERROR(PublishOnce());
  // From the revision read before the first publish: nothing written since is missed.
  std::vector<apimachinery::WatchedKind> kinds;
  for (const char* plural : {"dnsrecordsets", "topologies", "memberclusters"}) {
    kinds.push_back({api::kGroup, api::kVersion, plural, ""});
  }
  MERIDIAN_ASSIGN_OR_RETURN(watches_, apimachinery::WatchForChanges(objects_, kinds, from,
                                                                    [this] { loop_.MarkDirty(); },
                                                                    "dns publisher"));
  loop_.Start(/*pass_at_once=*/false);  // just published
  return Status::Ok();
}

void RecordSetPublisher::Stop() {
  watches_.clear();
  loop_.Stop();
}

uint64_t RecordSetPublisher::publishes() const {
  std::lock_guard lock(mu_);
  return publishes_;
}

std::optional<std::chrono::milliseconds> RecordSetPublisher::Pass() {
  const auto started = std::chrono::steady_clock::now();
  Status st = PublishOnce();
  spdlog::debug("dns publisher: published in {} ms",
                std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count());
  if (st.ok()) return std::nullopt;
  spdlog::warn("dns publisher: {}; still serving the previous records", st.ToString());
  return std::chrono::milliseconds(1000);  // retry
}

Status RecordSetPublisher::PublishOnce() {
  std::vector<api::DnsRecordSet> record_sets;
  std::vector<api::Topology> topologies;
  int64_t revision = 0;
  MERIDIAN_RETURN_IF_ERROR(
      List(objects_, "dnsrecordsets", api::DecodeDnsRecordSet, &record_sets, &revision));
  MERIDIAN_RETURN_IF_ERROR(
      List(objects_, "topologies", api::DecodeTopology, &topologies, &revision));
  std::vector<api::MemberCluster> members;
  MERIDIAN_RETURN_IF_ERROR(
      List(objects_, "memberclusters", api::DecodeMemberCluster, &members, &revision));
  std::set<std::string> unhealthy;
  for (const api::MemberCluster& m : members) {
    if (!MemberUnhealthyReason(m).empty()) unhealthy.insert(m.metadata.name);
  }
  // A stable order, so that of two record sets claiming one name the same one always wins.
  std::sort(record_sets.begin(), record_sets.end(),
            [](const api::DnsRecordSet& a, const api::DnsRecordSet& b) {
              return std::tie(a.metadata.ns, a.metadata.name) <
                     std::tie(b.metadata.ns, b.metadata.name);
            });
  std::vector<std::string> problems;
  MERIDIAN_ASSIGN_OR_RETURN(
      auto snapshot,
      BuildServedSnapshot(record_sets, topologies, config_,
                          static_cast<uint32_t>(revision & 0xFFFFFFFF), &problems, unhealthy));
  if (problems != last_problems_) {
    for (const std::string& p : problems) spdlog::warn("dns publisher: not served: {}", p);
    last_problems_ = problems;
  }
  source_.Publish(std::move(snapshot));
  std::lock_guard lock(mu_);
  ++publishes_;
  return Status::Ok();
}

}  // namespace meridian::dns
