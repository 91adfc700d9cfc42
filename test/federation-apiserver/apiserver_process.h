// A federation-apiserver child process on a free loopback port with its own SQLite file, for
// integration tests. Restartable on the same file (durability tests).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "test/common/child_process.h"
#include "test/common/test_env.h"

namespace meridian::apiserver::testing {

class ApiserverProcess {
 public:
  ApiserverProcess() {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-apiserver-" + std::to_string(getpid()) + "-" + std::to_string(++counter_));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~ApiserverProcess() {
    process_.Stop();
    std::filesystem::remove_all(dir_);
  }

  // Starts (or restarts) the server with `extra_flags` appended; returns "" or an error.
  // url() is valid afterwards.
  std::string Start(const std::vector<std::string>& extra_flags = {}) {
    std::string error;
    std::string bin = test_env::BinDir() + "/federation-apiserver";
    if (!std::filesystem::exists(bin)) return bin + " is not built";
    std::vector<std::string> argv = {bin, "--listen", "127.0.0.1:0", "--storage",
                                     "sqlite:" + (dir_ / "federation.db").string(), "--log-level",
                                     "warn",
                                     // API tests: no controllers (their members are not running,
                                     // and a workload's cleanup finalizer would wait for them).
                                     "--controllers", "none"};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    if (!process_.Start(argv, &error, (dir_ / "stderr.log").string())) {
      return error;
    }
    url_ = process_.WaitForLine("federation-apiserver listening on ", std::chrono::seconds(30),
                                &error);
    return url_.empty() ? error : "";
  }

  test_env::ChildProcess& process() { return process_; }
  const std::string& url() const { return url_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  test_env::ChildProcess process_;
  std::string url_;
};

}  // namespace meridian::apiserver::testing
