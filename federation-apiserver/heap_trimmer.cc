#include "federation-apiserver/heap_trimmer.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <string>

namespace meridian::apiserver {

std::optional<int64_t> AnonymousResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("RssAnon:", 0) != 0) continue;
    try {
      return static_cast<int64_t>(std::stoll(line.substr(8))) * 1024;  // "RssAnon:  1234 kB"
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<int64_t> TrimHeapNow() {
  std::optional<int64_t> before = AnonymousResidentBytes();
  malloc_trim(0);
  std::optional<int64_t> after = AnonymousResidentBytes();
  if (!before || !after) return std::nullopt;
  return *before - *after;
}

HeapTrimmer::HeapTrimmer(std::chrono::milliseconds interval)
    : timer_("heap trim", interval, [] {
        // Measured (two reads of /proc) only when someone reads the debug log.
        if (!spdlog::should_log(spdlog::level::debug)) {
          malloc_trim(0);
        } else if (std::optional<int64_t> released = TrimHeapNow()) {
          spdlog::debug("heap trim: {} KiB returned to the kernel", *released / 1024);
        }
        return Status::Ok();
      }) {}

void HeapTrimmer::Start() { timer_.Start(); }

void HeapTrimmer::Stop() { timer_.Stop(); }

}  // namespace meridian::apiserver
