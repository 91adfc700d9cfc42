#include "common/build_info.h"

#include "meridian_build_info.inc"

namespace meridian {
namespace {

std::string CompilerName() {
#if defined(__clang__)
  return "clang++ " __clang_version__;
#elif defined(__GNUC__)
  return "g++ " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
         std::to_string(__GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

std::string PlatformName() {
  std::string os =
#if defined(__linux__)
      "linux";
#elif defined(__APPLE__)
      "darwin";
#else
      "unknown";
#endif
  std::string arch =
#if defined(__x86_64__)
      "amd64";
#elif defined(__aarch64__)
      "arm64";
#elif defined(__riscv)
      "riscv64";
#else
          "unknown";
#endif
  return os + "/" + arch;
}

}  // namespace

const BuildInfo& GetBuildInfo() {
  static const BuildInfo info{
      .version = MERIDIAN_BUILD_VERSION,
      .git_commit = MERIDIAN_BUILD_GIT_COMMIT,
      .git_tree_state = MERIDIAN_BUILD_GIT_TREE_STATE,
      .build_date = MERIDIAN_BUILD_DATE,
      .compiler = CompilerName(),
      .platform = PlatformName(),
  };
  return info;
}

nlohmann::json KubeVersionInfo(const BuildInfo& build, int api_major, int api_minor) {
  const std::string api = std::to_string(api_major) + "." + std::to_string(api_minor);
  // Semver build metadata allows [0-9A-Za-z-.] only.
  std::string meta = "meridian." + build.version;
  if (!build.git_commit.empty()) meta += "." + build.git_commit.substr(0, 12);
  return {{"major", std::to_string(api_major)},
          {"minor", std::to_string(api_minor)},
          {"gitVersion", "v" + api + ".0+" + meta},
          {"gitCommit", build.git_commit},
          {"gitTreeState", build.git_tree_state},
          {"buildDate", build.build_date},
          {"compiler", build.compiler},
          {"platform", build.platform},
          {"meridianVersion", build.version}};
}

std::string FormatBuildInfo(const BuildInfo& build) {
  std::string out = "v" + build.version + " (commit ";
  out += build.git_commit.empty() ? "unknown" : build.git_commit.substr(0, 12);
  out += ", " + build.git_tree_state;
  if (!build.build_date.empty()) out += ", " + build.build_date;
  out += ", " + build.compiler + ", " + build.platform + ")";
  return out;
}

}  // namespace meridian
