// EtcdCluster: real etcd members (Debian's etcd-server, /usr/bin/etcd) for tests, on free
// loopback ports with data in a fresh temp directory that is removed when the cluster is
// destroyed. Members can be killed, suspended (SIGSTOP: a member that hangs) and restarted on
// the same ports and data. Start waits until every member logs that it serves clients
// (which etcd does only once the cluster has a leader).
//
// Election timings are shortened (heartbeat 50 ms, election 500 ms) so a test does not wait
// seconds for a leader; everything else is etcd's default.
//
// Not thread-safe; one EtcdCluster per test (or per test binary, see etcd_store_test.cc).
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test/common/child_process.h"
#include "test/common/loopback_port.h"

namespace meridian::test_env {

// A loopback TCP port that was free a moment ago, never the same twice (loopback_port.h).
inline int PickFreeLoopbackPort() { return NewLoopbackPort(); }

struct EtcdTls {
  std::string ca_file, cert_file, key_file;  // server side; clients must present a cert
};

class EtcdCluster {
 public:
  EtcdCluster() = default;
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;
  ~EtcdCluster() {
    members_.clear();  // stops every process before its data goes
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Starts `count` members (1 or 3 in our tests). With `tls`, client URLs are https and
  // clients must present a certificate signed by tls->ca_file. False with `error` set.
  bool Start(int count, std::string* error, const EtcdTls* tls = nullptr) {
    static int serial = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-etcd-" + std::to_string(getpid()) + "-" + std::to_string(++serial));
    std::filesystem::create_directories(dir_);
    if (tls) tls_ = *tls;
    tls_on_ = tls != nullptr;
    std::string initial;
    for (int i = 0; i < count; ++i) {
      auto m = std::make_unique<Member>();
      m->name = "m" + std::to_string(i);
      m->client_port = PickFreeLoopbackPort();
      m->peer_port = PickFreeLoopbackPort();
      if (i > 0) initial += ",";
      initial += m->name + "=http://127.0.0.1:" + std::to_string(m->peer_port);
      members_.push_back(std::move(m));
    }
    initial_cluster_ = initial;
    for (int i = 0; i < count; ++i) {
      if (!Launch(i, error)) return false;
    }
    for (int i = 0; i < count; ++i) {
      if (!WaitReady(i, std::chrono::seconds(20), error)) return false;
    }
    return true;
  }

  // "http://127.0.0.1:PORT" (or https) of each member.
  std::vector<std::string> ClientUrls() const {
    std::vector<std::string> urls;
    for (size_t i = 0; i < members_.size(); ++i) urls.push_back(ClientUrl(static_cast<int>(i)));
    return urls;
  }
  std::string ClientUrl(int i) const {
    return std::string(tls_on_ ? "https" : "http") +
           "://127.0.0.1:" + std::to_string(members_[i]->client_port);
  }

  // SIGKILL: the member dies without a goodbye.
  void Kill(int i) { members_[i]->process.Kill(SIGKILL); }
  // SIGSTOP / SIGCONT: the member's sockets stay open but nothing answers.
  // Suspend returns once the kernel reports every thread stopped (SIGSTOP is asynchronous).
  void Suspend(int i) {
    const pid_t pid = members_[i]->process.pid();
    kill(pid, SIGSTOP);
    const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
    for (int tries = 0; tries < 200; ++tries) {
      bool all_stopped = true;
      std::error_code ec;
      for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
        std::ifstream stat(task.path() / "stat");
        std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        size_t paren = text.rfind(')');
        all_stopped = all_stopped && paren != std::string::npos && paren + 2 < text.size() &&
                      text[paren + 2] == 'T';
      }
      if (all_stopped && !ec) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  void Resume(int i) { kill(members_[i]->process.pid(), SIGCONT); }

  // Starts a killed member again on its ports and data dir, and waits until it serves.
  bool Restart(int i, std::string* error) {
    if (!Launch(i, error)) return false;
    return WaitReady(i, std::chrono::seconds(20), error);
  }

  // The member's log (for failure messages).
  std::string Log(int i) const {
    std::ifstream in(LogPath(i));
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    size_t log_offset = 0;  // where the current run's log starts
    ChildProcess process;
  };

  std::string LogPath(int i) const { return (dir_ / (members_[i]->name + ".log")).string(); }

  bool Launch(int i, std::string* error) {
    Member& m = *members_[i];
    std::error_code ec;
    m.log_offset =
        std::filesystem::exists(LogPath(i)) ? std::filesystem::file_size(LogPath(i), ec) : 0;
    const std::string client = ClientUrl(i);
    const std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
    std::vector<std::string> argv = {
        "/usr/bin/etcd",
        "--name=" + m.name,
        "--data-dir=" + (dir_ / m.name).string(),
        "--listen-client-urls=" + client,
        "--advertise-client-urls=" + client,
        "--listen-peer-urls=" + peer,
        "--initial-advertise-peer-urls=" + peer,
        "--initial-cluster=" + initial_cluster_,
        "--initial-cluster-state=new",
        "--initial-cluster-token=meridian-test-" + std::to_string(getpid()),
        "--heartbeat-interval=50",
        "--election-timeout=500",
        "--max-request-bytes=4194304",  // Meridian accepts 3 MiB objects
        "--logger=zap",
        "--log-outputs=stderr",
    };
    if (tls_on_) {
      argv.push_back("--cert-file=" + tls_.cert_file);
      argv.push_back("--key-file=" + tls_.key_file);
      argv.push_back("--trusted-ca-file=" + tls_.ca_file);
      argv.push_back("--client-cert-auth=true");
    }
    return m.process.Start(argv, error, LogPath(i));
  }

  bool WaitReady(int i, std::chrono::seconds timeout, std::string* error) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string log = Log(i);
      // etcd 3.4's zap logger says "serving client traffic (in)securely"; older logs and
      // etcd 3.5 say "ready to serve client requests". Both come after the leader election.
      if (log.size() > members_[i]->log_offset &&
          (log.find("serving client traffic", members_[i]->log_offset) != std::string::npos ||
           log.find("ready to serve client requests", members_[i]->log_offset) !=
               std::string::npos)) {
        return true;
      }
      if (!members_[i]->process.running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    *error = "etcd member " + members_[i]->name + " not ready; its log:\n" + Log(i);
    return false;
  }

  std::filesystem::path dir_;
  std::string initial_cluster_;
  bool tls_on_ = false;
  EtcdTls tls_;
  std::vector<std::unique_ptr<Member>> members_;
};

}  // namespace meridian::test_env
