// libFuzzer target: kubeconfig files (sync/kubeconfig.h ParseKubeconfig, what fedctl join
// --kubeconfig reads). The first line is the context to select ("" = current-context), the
// rest the file. Relative file paths resolve under a folder that does not exist, so no file
// is read by accident. Checks, beyond "no crash / no sanitizer report": errors name the
// source; a selection names a context and a cluster with a server.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sync/kubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const size_t nl = text.find('\n');
  const std::string context = nl == std::string::npos ? "" : text.substr(0, nl);
  const std::string file = nl == std::string::npos ? text : text.substr(nl + 1);
  auto selected =
      meridian::sync::ParseKubeconfig(file, "kubeconfig", "/nonexistent-fuzz-dir", context);
  if (!selected.ok()) {
    if (selected.status().message().find("kubeconfig") == std::string::npos) {
      fprintf(stderr, "error without its source: %s\n", selected.status().message().c_str());
      abort();
    }
    return 0;
  }
  if (selected->context.empty() || selected->cluster.empty() || selected->endpoint.server.empty()) {
    fprintf(stderr, "selection without context, cluster or server\n");
    abort();
  }
  return 0;
}
