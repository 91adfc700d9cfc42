#include "dns/record_publisher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "api/informers.h"
#include "dns/record_sets.h"

namespace meridian::dns {
namespace {

constexpr char kWho[] = "dns publisher";

}  // namespace

RecordSetPublisher::RecordSetPublisher(apimachinery::ObjectService& objects, ServingConfig config,
                                       SwappableRecordSource& source,
                                       apimachinery::SharedInformerFactory* informers)
    : config_(std::move(config)),
      source_(source),
      informers_(objects, informers),
      record_sets_(api::MeridianInformer(informers_.factory(), "dnsrecordsets",
                                         api::DecodeDnsRecordSet, kWho)),
      topologies_(
          api::MeridianInformer(informers_.factory(), "topologies", api::DecodeTopology, kWho)),
      members_(api::MeridianInformer(informers_.factory(), "memberclusters",
                                     api::DecodeMemberCluster, kWho)),
      loop_([this] { return Pass(); }) {}

RecordSetPublisher::~RecordSetPublisher() { Stop(); }

Status RecordSetPublisher::Start() {
  // The handlers only mark the loop (not started yet): a change after the first publish's
  // read is another pass, nothing is missed.
  MERIDIAN_ASSIGN_OR_RETURN(handlers_, apimachinery::StartInformers(
                                           {&record_sets_, &topologies_, &members_},
                                           [this] { loop_.MarkDirty(); }, kWho));
  started_ = true;
  if (Status st = PublishOnce(); !st.ok()) {
    handlers_.clear();
    return st;
  }
  loop_.Start(/*pass_at_once=*/false);  // just published
  return Status::Ok();
}

void RecordSetPublisher::Stop() {
  handlers_.clear();  // no more MarkDirty from the (possibly shared) informers
  loop_.Stop();
  informers_.StopOwn();
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
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<api::DnsRecordSet> record_sets,
                            apimachinery::InformerValues(record_sets_, started_));
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<api::Topology> topologies,
                            apimachinery::InformerValues(topologies_, started_));
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<api::MemberCluster> members,
                            apimachinery::InformerValues(members_, started_));
  const int64_t revision =
      std::max({record_sets_.cache().resource_version(), topologies_.cache().resource_version(),
                members_.cache().resource_version()});
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
