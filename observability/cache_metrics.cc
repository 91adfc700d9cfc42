#include "observability/cache_metrics.h"

#include <string>

namespace meridian::observability {

std::vector<prometheus::MetricFamily> CacheFamilies(
    const std::vector<apimachinery::ResourceCacheStats>& resources,
    const ListResponseCacheFigures& list_responses) {
  std::vector<prometheus::MetricFamily> out;
  if (!resources.empty()) {
    prometheus::MetricFamily objects =
        GaugeFamily("meridian_watch_cache_objects", "Objects held by the watch cache.");
    prometheus::MetricFamily object_bytes = GaugeFamily(
        "meridian_watch_cache_object_bytes", "Bytes of the encodings of the watch cache's objects.");
    prometheus::MetricFamily window_events =
        GaugeFamily("meridian_watch_cache_window_events",
                    "Events the watch cache keeps for watches from an older resourceVersion.");
    prometheus::MetricFamily window_bytes =
        GaugeFamily("meridian_watch_cache_window_bytes",
                    "Bytes of the encodings of the events in the watch cache's window.");
    prometheus::MetricFamily rounds = CounterFamily(
        "meridian_watch_cache_consistent_read_rounds_total",
        "Reads of the store's last write of a resource, each shared by the consistent reads "
        "waiting for it (several API replicas on etcd).");
    prometheus::MetricFamily round_readers = CounterFamily(
        "meridian_watch_cache_consistent_reads_total",
        "Consistent reads answered after such a read (divided by the rounds: readers per "
        "round).");
    prometheus::MetricFamily parked_reads = CounterFamily(
        "meridian_watch_cache_parked_consistent_reads_total",
        "Of those, reads that waited for their round parked, not holding a server thread.");
    prometheus::MetricFamily held_rounds = CounterFamily(
        "meridian_watch_cache_held_consistent_read_rounds_total",
        "Rounds for parked reads held (briefly) until the reads the previous round answered "
        "came back, so that one round serves them all.");
    prometheus::MetricFamily store_reads = CounterFamily(
        "meridian_watch_cache_store_reads_total",
        "Reads the watch cache could not answer and passed to the store.");
    prometheus::MetricFamily backlog = GaugeFamily(
        "meridian_watch_cache_delivery_backlog",
        "Events the watch cache has not yet delivered to every watcher, counting for an "
        "in-process informer each object with changes it has not been given (merged): "
        "watchers slower than the writes.");
    for (const apimachinery::ResourceCacheStats& r : resources) {
      const std::map<std::string, std::string> labels = {{"resource", r.type.ToString()}};
      AddSample(objects, labels, static_cast<double>(r.objects));
      AddSample(object_bytes, labels, static_cast<double>(r.object_bytes));
      AddSample(window_events, labels, static_cast<double>(r.window_events));
      AddSample(window_bytes, labels, static_cast<double>(r.window_bytes));
      AddSample(rounds, labels, static_cast<double>(r.consistent_read_rounds));
      AddSample(round_readers, labels, static_cast<double>(r.consistent_reads));
      AddSample(parked_reads, labels, static_cast<double>(r.parked_reads));
      AddSample(held_rounds, labels, static_cast<double>(r.held_rounds));
      AddSample(store_reads, labels, static_cast<double>(r.store_reads));
      AddSample(backlog, labels, static_cast<double>(r.delivery_backlog));
    }
    out.push_back(std::move(objects));
    out.push_back(std::move(object_bytes));
    out.push_back(std::move(window_events));
    out.push_back(std::move(window_bytes));
    out.push_back(std::move(rounds));
    out.push_back(std::move(round_readers));
    out.push_back(std::move(parked_reads));
    out.push_back(std::move(held_rounds));
    out.push_back(std::move(store_reads));
    out.push_back(std::move(backlog));
  }
  prometheus::MetricFamily bytes =
      GaugeFamily("meridian_list_response_cache_bytes",
                  "Bytes of LIST response bodies (and their gzip encodings) kept for reuse.");
  AddSample(bytes, {}, static_cast<double>(list_responses.bytes));
  out.push_back(std::move(bytes));
  prometheus::MetricFamily entries = GaugeFamily("meridian_list_response_cache_entries",
                                                 "LIST responses kept for reuse.");
  AddSample(entries, {}, static_cast<double>(list_responses.entries));
  out.push_back(std::move(entries));
  return out;
}

}  // namespace meridian::observability
