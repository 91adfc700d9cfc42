// A membersim child process for integration tests, on the shared test_env::ChildProcess
// (killed with the test, SIGTERM then SIGKILL): started with --listen 127.0.0.1:0, its URL read
// from the first stdout line, dedicated cluster URLs from the "membersim cluster NAME on URL"
// lines that follow. Set MEMBERSIM_TEST_LOGS=1 to see its log on stderr.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "test/common/child_process.h"
#include "test/common/test_env.h"

namespace meridian::membersim::testing {

// $MERIDIAN_BIN_DIR (CTest sets it), else this build's bin/ (not a relative "build/bin", which
// run by hand would start another build directory's, possibly stale, membersim).
inline std::string BinDir() { return test_env::BinDir(); }

class MembersimProcess {
 public:
  MembersimProcess() = default;
  MembersimProcess(const MembersimProcess&) = delete;
  MembersimProcess& operator=(const MembersimProcess&) = delete;
  ~MembersimProcess() {
    child_.Stop();
    if (!config_path_.empty()) unlink(config_path_.c_str());
  }

  // Writes `config_yaml` to a temp file and starts `membersim --config F --listen 127.0.0.1:0
  // extra...`, its log to `log_path` (default: stderr with MEMBERSIM_TEST_LOGS=1, else none).
  // Returns false (with `error`) if it does not announce itself within 20 s.
  bool Start(const std::string& config_yaml, const std::vector<std::string>& extra,
             std::string* error, const std::string& log_path = "") {
    char tmpl[] = "/tmp/membersim-test-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) {
      *error = "mkstemp failed";
      return false;
    }
    config_path_ = tmpl;
    bool written = write(fd, config_yaml.data(), config_yaml.size()) ==
                   static_cast<ssize_t>(config_yaml.size());
    close(fd);
    if (!written) {
      *error = "writing config failed";
      return false;
    }
    std::vector<std::string> args = {BinDir() + "/membersim", "--config", config_path_, "--listen",
                                     "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::string log = log_path;
    if (log.empty() && std::getenv("MEMBERSIM_TEST_LOGS")) log = "/dev/stderr";
    if (!child_.Start(args, error, log))
      return false;
    url_ = child_.WaitForLine("membersim listening on ", std::chrono::seconds(20), error);
    return !url_.empty();
  }

  const std::string& url() const { return url_; }

  // The dedicated URL of `cluster` ("" when it has none). The lines come right after the
  // listening line, in config order; they are read on first use.
  std::string Dedicated(const std::string& cluster) {
    while (dedicated_.count(cluster) == 0 && !done_reading_) {
      std::string error;
      std::string line = child_.WaitForLine("membersim cluster ", std::chrono::seconds(2), &error);
      size_t on = line.find(" on ");
      if (on == std::string::npos) {
        done_reading_ = true;  // no more cluster lines
        break;
      }
      dedicated_[line.substr(0, on)] = line.substr(on + 4);
    }
    auto it = dedicated_.find(cluster);
    return it == dedicated_.end() ? "" : it->second;
  }

 private:
  test_env::ChildProcess child_;
  std::string config_path_;
  std::string url_;
  std::map<std::string, std::string> dedicated_;
  bool done_reading_ = false;
};

}  // namespace meridian::membersim::testing
