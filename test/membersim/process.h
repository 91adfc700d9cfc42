// A membersim child process for integration tests: started with port 0, its URL read from
// the first stdout line, always killed (SIGTERM, then SIGKILL) when the object goes.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace meridian::membersim::testing {

inline std::string BinDir() {
  const char* d = std::getenv("MERIDIAN_BIN_DIR");
  return d ? d : "build/bin";
}

class MembersimProcess {
 public:
  // Writes `config_yaml` to a temp file and starts `membersim --config F --listen 127.0.0.1:0
  // extra...`. Returns false (with `error`) if it does not announce itself within 20 s.
  bool Start(const std::string& config_yaml, const std::vector<std::string>& extra, std::string* error) {
    char tmpl[] = "/tmp/membersim-test-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) {
      *error = "mkstemp failed";
      return false;
    }
    config_path_ = tmpl;
    if (write(fd, config_yaml.data(), config_yaml.size()) != static_cast<ssize_t>(config_yaml.size())) {
      *error = "writing config failed";
      close(fd);
      return false;
    }
    close(fd);
    int out[2];
    if (pipe(out) != 0) {
      *error = "pipe failed";
      return false;
    }
    std::string bin = BinDir() + "/membersim";
    std::vector<std::string> args = {bin, "--config", config_path_, "--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      close(out[0]);
      close(out[1]);
      int devnull = open("/dev/null", O_WRONLY);
      if (!std::getenv("MEMBERSIM_TEST_LOGS")) dup2(devnull, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    out_fd_ = out[0];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::string buf;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) > 0) {
        char c[512];
        ssize_t n = read(out_fd_, c, sizeof c);
        if (n <= 0) break;
        buf.append(c, n);
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
          std::string line = buf.substr(0, nl);
          buf.erase(0, nl + 1);
          const std::string kListen = "membersim listening on ";
          const std::string kCluster = "membersim cluster ";
          if (line.rfind(kListen, 0) == 0) url_ = line.substr(kListen.size());
          if (line.rfind(kCluster, 0) == 0) {
            std::string rest = line.substr(kCluster.size());
            size_t on = rest.find(" on ");
            if (on != std::string::npos) dedicated_[rest.substr(0, on)] = rest.substr(on + 4);
          }
        }
        // The dedicated-port lines follow the listening line immediately.
        if (!url_.empty() && buf.empty()) {
          pollfd q{out_fd_, POLLIN, 0};
          if (poll(&q, 1, 200) <= 0) return true;
        }
      }
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        *error = "membersim exited early with status " + std::to_string(status);
        return false;
      }
    }
    if (!url_.empty()) return true;
    *error = "membersim did not print its URL within 20 s";
    return false;
  }

  ~MembersimProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      for (int i = 0; i < 50; ++i) {
        int status;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (!config_path_.empty()) unlink(config_path_.c_str());
  }

  const std::string& url() const { return url_; }
  std::string Dedicated(const std::string& cluster) const {
    auto it = dedicated_.find(cluster);
    return it == dedicated_.end() ? "" : it->second;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string config_path_;
  std::string url_;
  std::map<std::string, std::string> dedicated_;
};

}  // namespace meridian::membersim::testing
