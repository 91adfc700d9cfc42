// A real federation for end-to-end tests and benches: membersim and federation-apiserver
// started as processes on free loopback ports (logs and the SQLite store in the caller's
// directory), with fedctl / `membersim ctl` run against them and the small readers and
// polling helpers every e2e test used to copy. No GoogleTest here: the failover bench is a
// plain program, so failures come back as an error string for the caller to assert or print.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test/common/child_process.h"
#include "test/common/loopback_port.h"

namespace meridian::test_env {

// A loopback port nobody was bound to a moment ago, never the same twice (loopback_port.h).
inline int FreeLoopbackPort() { return NewLoopbackPort(); }

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

// GET `url` with curl; the parsed body, or null if the request failed (non-2xx, timeout) and
// a discarded value if the body is not JSON.
inline nlohmann::json GetJson(const std::string& url) {
  CommandResult r = RunCommand("curl -fsS --max-time 5 '" + url + "'");
  if (r.exit_code != 0) return nlohmann::json();
  return nlohmann::json::parse(r.output, nullptr, false);
}

// The API path of FederatedWorkload ns/name.
inline std::string WorkloadPath(const std::string& ns, const std::string& name) {
  return "/apis/federation.meridian.io/v1alpha1/namespaces/" + ns + "/federatedworkloads/" + name;
}

// Replicas per member from a FederatedWorkload's status.placement (members with none left out).
inline std::map<std::string, int64_t> Placement(const nlohmann::json& w) {
  std::map<std::string, int64_t> out;
  if (!w.is_object() || !w.contains("status")) return out;
  for (const nlohmann::json& p : w["status"].value("placement", nlohmann::json::array())) {
    if (p.value("replicas", 0) > 0) out[p.value("cluster", "")] = p.value("replicas", 0);
  }
  return out;
}

// A FederatedWorkload's ready replicas: in total (-1 without a status) or in one member.
inline int64_t ReadyReplicas(const nlohmann::json& w, const std::string& cluster = "") {
  if (!w.is_object() || !w.contains("status")) return -1;
  if (cluster.empty()) return w["status"].value("readyReplicas", int64_t{-1});
  for (const nlohmann::json& c : w["status"].value("clusters", nlohmann::json::array())) {
    if (c.value("cluster", "") == cluster) return c.value("readyReplicas", int64_t{0});
  }
  return 0;
}

// Calls `done` every `every` until it returns true (then true) or `limit` has passed (false;
// no last call after the deadline).
inline bool PollUntil(std::chrono::milliseconds limit, std::chrono::milliseconds every,
                      const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(every);
  }
  return false;
}

// membersim (none without a config: the test brings real members) + federation-apiserver,
// stopped (apiserver first) when destroyed.
class E2EFederation {
 public:
  struct Options {
    std::string bin_dir;                          // membersim, federation-apiserver, fedctl
    std::filesystem::path dir;                    // membersim.log, apiserver.log, fed.db
    std::string membersim_config;                 // membersim's --config; "": no membersim
    std::vector<std::string> apiserver_flags;     // after --listen and --storage
    // Lines the apiserver prints before "federation-apiserver listening on ", waited for in
    // this order; the rest of each is in ready_lines().
    std::vector<std::string> apiserver_ready_before;
    // The apiserver logs to stdout. By default, once it listens, its output is copied to
    // apiserver.log (with its stderr); true keeps it for the test to read (apiserver()).
    bool read_apiserver_output = false;
  };

  E2EFederation() = default;
  E2EFederation(const E2EFederation&) = delete;
  E2EFederation& operator=(const E2EFederation&) = delete;
  ~E2EFederation() { Stop(); }

  // Starts both and waits until each says it listens (20 s each). False with `error` naming
  // the process otherwise.
  bool Start(const Options& options, std::string* error) {
    bin_dir_ = options.bin_dir;
    const std::string dir = options.dir.string();
    std::string why;
    if (!options.membersim_config.empty()) {
      if (!sim_.Start({bin_dir_ + "/membersim", "--config", options.membersim_config, "--listen",
                       "127.0.0.1:" + std::to_string(FreeLoopbackPort())},
                      &why, dir + "/membersim.log")) {
        *error = "membersim: " + why;
        return false;
      }
      sim_url_ = sim_.WaitForLine("membersim listening on ", kReady, &why);
      if (sim_url_.empty()) {
        *error = "membersim: " + why;
        return false;
      }
    }
    std::vector<std::string> argv = {bin_dir_ + "/federation-apiserver", "--listen",
                                     "127.0.0.1:" + std::to_string(FreeLoopbackPort()),
                                     "--storage", "sqlite:" + dir + "/fed.db"};
    argv.insert(argv.end(), options.apiserver_flags.begin(), options.apiserver_flags.end());
    if (!api_.Start(argv, &why, dir + "/apiserver.log")) {
      *error = "federation-apiserver: " + why;
      return false;
    }
    for (const std::string& prefix : options.apiserver_ready_before) {
      ready_lines_.push_back(api_.WaitForLine(prefix, kReady, &why));
      if (ready_lines_.back().empty()) {
        *error = "federation-apiserver: " + why;
        return false;
      }
    }
    api_url_ = api_.WaitForLine("federation-apiserver listening on ", kReady, &why);
    if (api_url_.empty()) {
      *error = "federation-apiserver: " + why;
      return false;
    }
    if (!options.read_apiserver_output) api_.CopyOutputTo(dir + "/apiserver.log");
    return true;
  }

  void Stop() {
    api_.Stop();
    sim_.Stop();
  }

  const std::string& sim_url() const { return sim_url_; }  // http://127.0.0.1:PORT
  const std::string& api_url() const { return api_url_; }
  int sim_port() const { return std::stoi(sim_url_.substr(sim_url_.rfind(':') + 1)); }
  const std::vector<std::string>& ready_lines() const { return ready_lines_; }
  // The apiserver process, for a test that reads more of its output (WaitForLine).
  ChildProcess& apiserver() { return api_; }

  CommandResult Fedctl(const std::string& args) const {
    return RunCommand(bin_dir_ + "/fedctl --server " + api_url_ + " " + args);
  }
  CommandResult MembersimCtl(const std::string& args) const {
    return RunCommand(bin_dir_ + "/membersim ctl --server " + sim_url_ + " " + args);
  }
  // GET on the federation API (`path` starts with /apis/...); see GetJson.
  nlohmann::json Api(const std::string& path) const { return GetJson(api_url_ + path); }

 private:
  static constexpr std::chrono::milliseconds kReady{20000};

  std::string bin_dir_;
  ChildProcess sim_, api_;
  std::string sim_url_, api_url_;
  std::vector<std::string> ready_lines_;
};

}  // namespace meridian::test_env
