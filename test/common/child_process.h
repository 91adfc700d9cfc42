// Real binaries in tests: start one, wait for the line it prints when ready, and make sure it
// dies with the test (SIGTERM then SIGKILL in the destructor; PR_SET_PDEATHSIG if the test
// process itself is killed). Also RunCommand for one-shot tools (kubectl, dig, fedctl).
//
// Not thread-safe; one ChildProcess per thread of control.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace meridian::test_env {

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { Stop(); }

  // Starts argv[0] with `argv`; its stdout is captured, its stderr goes to `stderr_path`
  // (or /dev/null when empty). Returns false with `error` set if it cannot be started.
  bool Start(const std::vector<std::string>& argv, std::string* error,
             const std::string& stderr_path = "") {
    int out[2];
    if (pipe(out) != 0) {
      *error = "pipe failed";
      return false;
    }
    pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) {
      *error = "fork failed";
      return false;
    }
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(126);
      dup2(out[1], 1);
      close(out[0]);
      close(out[1]);
      int err = open(stderr_path.empty() ? "/dev/null" : stderr_path.c_str(),
                     O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (err >= 0) dup2(err, 2);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    out_fd_ = out[0];
    return true;
  }

  // Reads stdout until a line starting with `prefix` appears; returns the rest of that line.
  // Empty on timeout or exit (then `error` says which).
  std::string WaitForLine(const std::string& prefix, std::chrono::milliseconds timeout,
                          std::string* error) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      size_t nl;
      while ((nl = buffer_.find('\n')) != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
      }
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) > 0) {
        char chunk[1024];
        ssize_t n = read(out_fd_, chunk, sizeof chunk);
        if (n <= 0) {
          *error = "process closed its output before printing \"" + prefix + "\"";
          return "";
        }
        buffer_.append(chunk, static_cast<size_t>(n));
      }
    }
    *error = "no \"" + prefix + "\" line within " + std::to_string(timeout.count()) + " ms";
    return "";
  }

  // From now on, everything the process writes to stdout (and what was read but not yet
  // consumed) is appended to `path` by a thread of its own, until the process exits. For a
  // long-running server whose log goes to stdout: nobody reads the pipe after its ready line,
  // so without this its log is lost and, once the pipe's 64 KiB are full, it blocks on its
  // next log line. WaitForLine must not be called afterwards. Once per process.
  void CopyOutputTo(const std::string& path) {
    if (out_fd_ < 0 || copier_.joinable()) return;
    copier_ = std::thread([fd = out_fd_, path, pending = std::move(buffer_)] {
      std::ofstream out(path, std::ios::app | std::ios::binary);
      out << pending << std::flush;
      char chunk[4096];
      for (ssize_t n; (n = read(fd, chunk, sizeof chunk)) > 0;) {
        out.write(chunk, n);
        out.flush();  // read while the process runs (a test's failure message tails it)
      }
    });
    buffer_.clear();
  }

  // Sends `signal` and reaps the process. Returns its wait status (or -1 if not running).
  int Kill(int signal) {
    if (pid_ <= 0) return -1;
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    CloseOutput();
    return status;
  }

  // SIGTERM, up to 5 s grace, then SIGKILL. Idempotent.
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      for (int i = 0; i < 50 && pid_ > 0; ++i) {
        int status;
        if (waitpid(pid_, &status, WNOHANG) == pid_) pid_ = -1;
        if (pid_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (pid_ > 0) Kill(SIGKILL);
    }
    CloseOutput();
  }

  // Whether the process has exited (or was killed) on its own, not through Kill or Stop: then
  // it is reaped, its wait status returned, and running() is false. nullopt while it runs or
  // when it was not started. For a supervisor that restarts what exits (a leader that gave up
  // its lease exits by design).
  std::optional<int> ExitedByItself() {
    if (pid_ <= 0) return std::nullopt;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
    pid_ = -1;
    CloseOutput();
    return status;
  }

  bool running() const { return pid_ > 0; }
  // The child's pid (-1 when not running), e.g. to send it SIGHUP.
  pid_t pid() const { return pid_; }

 private:
  void CloseOutput() {
    // The copier reads until end of file, which comes once the process (and anything it
    // started that inherited its stdout) has exited.
    if (copier_.joinable()) copier_.join();
    if (out_fd_ >= 0) close(out_fd_);
    out_fd_ = -1;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
  std::thread copier_;  // CopyOutputTo
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line to completion.
inline CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace meridian::test_env
