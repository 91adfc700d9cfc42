// The API server's bounded caches as gauges (and two counters of the watch cache's reads), so that a heap that grows can be told apart from
// caches that are still filling up to their bounds (bench/soak.sh reads them):
//   meridian_watch_cache_objects{resource}        objects in the watch cache (apimachinery/cacher.h)
//   meridian_watch_cache_object_bytes{resource}   their encodings' bytes
//   meridian_watch_cache_window_events{resource}  events kept for watches from older revisions
//   meridian_watch_cache_window_bytes{resource}   their encodings' bytes (--watch-cache-window-bytes)
//   meridian_watch_cache_consistent_read_rounds_total{resource}  reads of the store's last write
//                                                  (consistent reads with several writers)
//   meridian_watch_cache_store_reads_total{resource}  reads passed to the store
//   meridian_watch_cache_delivery_backlog{resource}  events not yet delivered to every watcher
//                                                  (each holds its decoded object)
//   meridian_list_response_cache_bytes            kept LIST bodies (--list-response-cache-bytes)
//   meridian_list_response_cache_entries
// kube-apiserver has no byte figures for its caches (only apiserver_watch_cache_capacity in
// events); these are ours, under our prefix. Pure: figures in, families out.
#pragma once

#include <cstddef>
#include <vector>

#include "apimachinery/cacher.h"
#include "observability/metrics.h"

namespace meridian::observability {

struct ListResponseCacheFigures {
  size_t bytes = 0;
  size_t entries = 0;
};

// The families above; the watch cache's only when `resources` is not empty (no watch cache).
std::vector<prometheus::MetricFamily> CacheFamilies(
    const std::vector<apimachinery::ResourceCacheStats>& resources,
    const ListResponseCacheFigures& list_responses);

}  // namespace meridian::observability
