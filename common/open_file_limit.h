// RaiseOpenFileLimit: raises this process's soft limit on open files to its hard limit, as
// Go's runtime does at start for every Go program (kube-apiserver, etcd) since Go 1.19.
//
// Why: a federation-apiserver syncing 1,000 workloads to 100 members holds ~4,000 descriptors
// (member watches, kept-alive member connections with their event loops, the store, its API
// clients), while systemd and most shells start services with a soft limit of 1,024; the
// hard limit is usually far higher (524,288 on Debian 12). Reaching the soft limit would
// fail connections one by one with EMFILE, far from its cause.
#pragma once

#include <sys/resource.h>

namespace meridian {

struct OpenFileLimit {
  rlim_t before = 0, after = 0;  // the soft limit before and after (equal if unchanged)
  bool ok = true;                // false: the limits could not be read or set
};

inline OpenFileLimit RaiseOpenFileLimit() {
  OpenFileLimit out;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.ok = false;
    return out;
  }
  out.before = out.after = limit.rlim_cur;
  if (limit.rlim_cur >= limit.rlim_max) return out;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.ok = false;
    return out;
  }
  out.after = limit.rlim_cur;
  return out;
}

}  // namespace meridian
