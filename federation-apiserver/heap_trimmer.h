// HeapTrimmer: hands the allocator's free memory back to the kernel every interval (glibc's
// malloc_trim), as Go's background scavenger does for kube-apiserver.
//
// Why: glibc keeps memory freed by a thread in that thread's arena for reuse, and returns only
// the free space at the top of each heap. A server with ~60 threads whose requests allocate
// and free large bodies (LIST responses, watch windows) ends up with tens of MiB of free but
// resident memory spread over its arenas: a 45-minute soak's live heap stayed at 19-20 MB under
// heaptrack while RssAnon rose from 47 to 73 MiB (docs/performance.md, "Soak"). Capping the
// arenas (MALLOC_ARENA_MAX=2) cuts that but doubles the CPU of a LIST (threads contend for
// two arenas); trimming keeps the arenas and returns their free pages.
//
// The servers link jemalloc by default (CMake MERIDIAN_JEMALLOC, common/jemalloc_options.cc),
// whose background threads return free pages themselves; malloc_trim then has only glibc's own
// (nearly empty) heap to trim. The trimmer stays for builds with glibc's allocator.
//
// Cost: one malloc_trim walks each arena's free chunks under that arena's lock (a thread that
// allocates from it meanwhile waits), milliseconds for this server's heap; a minute apart it
// is not seen in request latency.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "federation-apiserver/periodic_task.h"

namespace meridian::apiserver {

// This process's anonymous resident memory (RssAnon in /proc/self/status, bytes), nullopt when
// it cannot be read.
std::optional<int64_t> AnonymousResidentBytes();

// One trim: returns the allocator's free pages to the kernel. Returns RssAnon before minus
// after (bytes; may be negative when other threads allocated meanwhile), nullopt when RssAnon
// cannot be read.
std::optional<int64_t> TrimHeapNow();

class HeapTrimmer {
 public:
  explicit HeapTrimmer(std::chrono::milliseconds interval);
  void Start();
  void Stop();

 private:
  PeriodicTask timer_;
};

}  // namespace meridian::apiserver
