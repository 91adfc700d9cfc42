// Where a test finds the repository (examples, configs) and the built binaries: the
// MERIDIAN_SOURCE_DIR / MERIDIAN_BIN_DIR environment (set by CTest), else the paths the test
// was built with (so a test binary also runs by hand).
#pragma once

#include <cstdlib>
#include <string>

namespace meridian::test_env {

inline std::string SourceDir() {
  const char* env = std::getenv("MERIDIAN_SOURCE_DIR");
  return env && *env ? env : MERIDIAN_TEST_SOURCE_DIR;
}

inline std::string BinDir() {
  const char* env = std::getenv("MERIDIAN_BIN_DIR");
  return env && *env ? env : MERIDIAN_TEST_BIN_DIR;
}

}  // namespace meridian::test_env
