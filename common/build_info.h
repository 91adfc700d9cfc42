// What this binary was built from: Meridian's version, the git commit and whether the tree had
// uncommitted changes, the commit's date, the compiler and the platform. Served by the
// federation-apiserver's /version and printed by `fedctl version`, so an operator can tell
// exactly which code runs on each side.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace meridian {

struct BuildInfo {
  std::string version;         // Meridian's release, e.g. "0.1.0"
  std::string git_commit;      // full hash; "" when built outside a git checkout
  std::string git_tree_state;  // "clean", "dirty" (uncommitted changes) or "unknown"
  std::string build_date;      // ISO 8601: the commit's date (reproducible), or ""
  std::string compiler;        // e.g. "g++ 12.2.0"
  std::string platform;        // e.g. "linux/amd64"
};

// This binary's build information (fixed at build time).
const BuildInfo& GetBuildInfo();

// The body of GET /version, in Kubernetes' version.Info shape so kubectl and client-go read
// it: major/minor and the version before "+" are the Kubernetes API level served (what clients
// use for version-skew decisions); the build metadata after "+" and the other fields describe
// Meridian's own build. Extra field: "meridianVersion".
nlohmann::json KubeVersionInfo(const BuildInfo& build, int api_major, int api_minor);

// One line for humans: "v0.1.0 (commit 1a2b3c4d5e6f, clean, 2026-12-05T06:30:00+00:00, g++ 12.2.0,
// linux/amd64)".
std::string FormatBuildInfo(const BuildInfo& build);

}  // namespace meridian
