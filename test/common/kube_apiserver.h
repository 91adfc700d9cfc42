// KubeApiServer: a real upstream kube-apiserver for tests, so that Meridian is also run against
// the API server membersim imitates. The binary is built from Debian's `kubernetes` source
// package by scripts/build-kube-apiserver.sh and cached in <build>/kube/ (the e2e CMake target
// kube_apiserver does that); its storage is a one-member EtcdCluster (test/common/etcd_cluster.h).
//
// Start writes, in a fresh temp directory removed on destruction:
//   - the PKI `fedctl admin init` makes (cli/pki.h WriteAdminPki): a CA, the serving
//     certificate for 127.0.0.1/localhost, an admin client certificate and admin.kubeconfig
//     (server URL, CA, client certificate and token of user "admin", group system:masters),
//     and tokens.csv for --token-auth-file;
//   - a second token for user "tester" (also system:masters) that the test's own requests
//     use, so the audit log tells them apart from what a client joined with the kubeconfig
//     (Meridian) does;
//   - a service-account signing key (an ECDSA key and a self-signed certificate carrying its
//     public half, which is what --service-account-key-file can read for EC keys);
//   - an audit policy logging every request at level Metadata (AuditEvents reads the log).
// Then it starts kube-apiserver on a free loopback port (HTTPS only, AlwaysAllow
// authorization unless Options say otherwise) and waits until /readyz answers "ok".
// With Options::controller_manager, kube-controller-manager (built beside it) runs too, as
// user "system:kube-controller-manager" with its own token, and the controllers that write
// into what Meridian syncs: deployment (status, the revision annotation), replicaset (Pods,
// which stay Pending: no scheduler, no kubelet), namespace (finalization), serviceaccount and
// serviceaccount-token, the garbage collector, and horizontalpodautoscaling (min/max
// enforced; no metrics server). Without it none of that happens.
//
// Not thread-safe; one KubeApiServer per test suite (a start takes seconds).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/pki.h"
#include "common/clock.h"
#include "test/common/child_process.h"
#include "test/common/etcd_cluster.h"
#include "test/common/test_env.h"

namespace meridian::test_env {

// The kube-apiserver binary: $MERIDIAN_KUBE_APISERVER, else <build>/kube/kube-apiserver next
// to the test binaries' <build>/bin.
inline std::string KubeApiServerBinary() {
  const char* env = std::getenv("MERIDIAN_KUBE_APISERVER");
  if (env && *env) return env;
  return (std::filesystem::path(BinDir()).parent_path() / "kube" / "kube-apiserver").string();
}
// kube-controller-manager: beside the kube-apiserver binary (the same script builds both).
inline std::string KubeControllerManagerBinary() {
  return (std::filesystem::path(KubeApiServerBinary()).parent_path() / "kube-controller-manager")
      .string();
}

class KubeApiServer {
 public:
  struct Options {
    std::string binary = KubeApiServerBinary();
    // --authorization-mode. Both users are in system:masters, so RBAC allows them too.
    std::string authorization_mode = "AlwaysAllow";
    std::vector<std::string> extra_flags;  // appended last
    // Also run kube-controller-manager (see the top of this file).
    bool controller_manager = false;
    std::string controller_manager_binary = KubeControllerManagerBinary();
  };

  // One answer: the HTTP status (0 when curl failed) and the parsed body (discarded when
  // the body is not JSON).
  struct Response {
    int code = 0;
    nlohmann::json body;
  };

  KubeApiServer() = default;
  KubeApiServer(const KubeApiServer&) = delete;
  KubeApiServer& operator=(const KubeApiServer&) = delete;
  ~KubeApiServer() {
    controller_manager_.Stop();
    process_.Stop();  // before its etcd goes
    etcd_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Starts etcd and kube-apiserver and waits (60 s at most) until /readyz says ok. False
  // with `error` saying what failed: a missing binary (and how to build it), etcd, the PKI,
  // or kube-apiserver's exit or timeout with the end of its log.
  bool Start(const Options& options, std::string* error) {
    if (::access(options.binary.c_str(), X_OK) != 0) {
      *error = "no kube-apiserver at " + options.binary +
               "; build it with scripts/build-kube-apiserver.sh (the kube_apiserver target) or "
               "set MERIDIAN_KUBE_APISERVER";
      return false;
    }
    if (options.controller_manager &&
        ::access(options.controller_manager_binary.c_str(), X_OK) != 0) {
      *error = "no kube-controller-manager at " + options.controller_manager_binary +
               "; scripts/build-kube-apiserver.sh builds it beside kube-apiserver";
      return false;
    }
    static int serial = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-kube-" + std::to_string(getpid()) + "-" + std::to_string(++serial));
    std::filesystem::create_directories(dir_);

    etcd_ = std::make_unique<EtcdCluster>();
    if (!etcd_->Start(1, error)) return false;

    port_ = PickFreeLoopbackPort();
    url_ = "https://127.0.0.1:" + std::to_string(port_);
    const Clock& clock = RealClock();
    auto pki = cli::WriteAdminPki(
        {.dir = (dir_ / "pki").string(), .hosts = {"127.0.0.1"}, .server = url_, .valid_days = 2},
        clock);
    if (!pki.ok()) {
      *error = "PKI: " + pki.status().ToString();
      return false;
    }
    ca_file_ = pki->ca_certificate;
    kubeconfig_ = pki->kubeconfig;
    test_token_ = "tester-" + std::to_string(getpid()) + "-" + std::to_string(serial);
    std::ofstream(pki->token_file, std::ios::app)
        << test_token_ << ",tester,tester,\"system:masters\"\n";
    const std::string kcm_token = "kcm-" + test_token_;
    if (options.controller_manager) {
      std::ofstream(pki->token_file, std::ios::app)
          << kcm_token << ",system:kube-controller-manager,kcm,\"system:masters\"\n";
    }
    auto sa = cli::IssueCertificate({.common_name = "service-account-signer",
                                     .not_before = clock.Now() - std::chrono::minutes(5),
                                     .not_after = clock.Now() + std::chrono::hours(48)},
                                    nullptr);
    if (!sa.ok()) {
      *error = "service-account key: " + sa.status().ToString();
      return false;
    }
    WriteText(dir_ / "sa.key", sa->key_pem);
    WriteText(dir_ / "sa.crt", sa->certificate_pem);
    WriteText(dir_ / "audit-policy.yaml",
              "apiVersion: audit.k8s.io/v1\n"
              "kind: Policy\n"
              "omitStages: [RequestReceived]\n"
              "rules:\n"
              "- level: Metadata\n");

    std::vector<std::string> argv = {
        options.binary,
        "--etcd-servers=" + etcd_->ClientUrl(0),
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--secure-port=" + std::to_string(port_),
        "--insecure-port=0",
        "--cert-dir=" + (dir_ / "certs").string(),  // unused (files given), but not /var/run
        "--tls-cert-file=" + pki->serving_certificate,
        "--tls-private-key-file=" + pki->serving_key,
        "--client-ca-file=" + pki->ca_certificate,
        "--token-auth-file=" + pki->token_file,
        "--authorization-mode=" + options.authorization_mode,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-account-signing-key-file=" + (dir_ / "sa.key").string(),
        "--service-account-key-file=" + (dir_ / "sa.crt").string(),
        "--service-cluster-ip-range=10.96.0.0/16",
        // The "kubernetes" Service's endpoints may not be loopback addresses: without this
        // the server logs an error every 10 s trying to publish 127.0.0.1.
        "--endpoint-reconciler-type=none",
        "--audit-policy-file=" + (dir_ / "audit-policy.yaml").string(),
        "--audit-log-path=" + AuditLogPath(),
        "--profiling=false",
    };
    argv.insert(argv.end(), options.extra_flags.begin(), options.extra_flags.end());
    if (!process_.Start(argv, error, LogPath())) return false;
    if (!WaitReady(std::chrono::seconds(60), error)) return false;
    if (!options.controller_manager) return true;
    return StartControllerManager(options.controller_manager_binary, kcm_token, error);
  }

  const std::string& url() const { return url_; }  // https://127.0.0.1:PORT
  // admin.kubeconfig: what `fedctl join --kubeconfig` takes (user "admin").
  const std::string& kubeconfig() const { return kubeconfig_; }
  const std::string& ca_file() const { return ca_file_; }
  // The bearer token of user "tester", which Request uses.
  const std::string& test_token() const { return test_token_; }

  // One request as user "tester" with curl (10 s timeout). A PATCH body is a JSON merge
  // patch; other bodies are JSON.
  Response Request(const std::string& method, const std::string& path,
                   const nlohmann::json& body = nullptr) const {
    std::string cmd = "curl -sS --max-time 10 -w '\\n%{http_code}' --cacert '" + ca_file_ +
                      "' -H 'Authorization: Bearer " + test_token_ + "' -X " + method;
    if (!body.is_null()) {
      const std::filesystem::path file = dir_ / ("request-" + std::to_string(++requests_));
      WriteText(file, body.dump());
      cmd += std::string(" -H 'Content-Type: ") +
             (method == "PATCH" ? "application/merge-patch+json" : "application/json") +
             "' --data-binary @'" + file.string() + "'";
    }
    CommandResult r = RunCommand(cmd + " '" + url_ + path + "'");
    Response out;
    const size_t nl = r.output.rfind('\n');
    if (r.exit_code != 0 || nl == std::string::npos) return out;
    out.code = std::atoi(r.output.c_str() + nl + 1);
    out.body = nlohmann::json::parse(r.output.substr(0, nl), nullptr, false);
    return out;
  }

  // GET as "tester": the object of a 200, null for a 404, an empty object otherwise.
  nlohmann::json Get(const std::string& path) const {
    Response r = Request("GET", path);
    if (r.code == 404) return nullptr;
    if (r.code != 200 || !r.body.is_object()) return nlohmann::json::object();
    return r.body;
  }

  // Every audit event logged so far (stage ResponseComplete, or Panic), in order.
  std::vector<nlohmann::json> AuditEvents() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(AuditLogPath());
    for (std::string line; std::getline(in, line);) {
      nlohmann::json e = nlohmann::json::parse(line, nullptr, false);
      if (e.is_object()) out.push_back(std::move(e));
    }
    return out;
  }

  std::string Log() const { return ReadText(LogPath()); }
  // The last `lines` lines of the log, for failure messages.
  std::string LogTail(int lines = 30) const {
    return RunCommand("tail -n " + std::to_string(lines) + " '" + LogPath() + "'").output;
  }
  // The same of kube-controller-manager's log ("" when it does not run).
  std::string ControllerManagerLogTail(int lines = 20) const {
    return RunCommand("tail -n " + std::to_string(lines) + " '" + ControllerManagerLogPath() +
                      "' 2>/dev/null")
        .output;
  }

 private:
  std::string LogPath() const { return (dir_ / "kube-apiserver.log").string(); }
  std::string AuditLogPath() const { return (dir_ / "audit.log").string(); }

  static void WriteText(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path) << text;
  }
  static std::string ReadText(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // kube-controller-manager with its own identity, serving nothing (no port to collide with
  // a parallel test), not leader-electing (one per test). It has no readiness endpoint when it
  // serves nothing: a start that exits at once is reported; its effects are what tests wait on.
  bool StartControllerManager(const std::string& binary, const std::string& token,
                              std::string* error) {
    const std::filesystem::path kubeconfig = dir_ / "kube-controller-manager.kubeconfig";
    WriteText(kubeconfig,
              "apiVersion: v1\nkind: Config\nclusters:\n- name: member\n  cluster:\n"
              "    server: " +
                  url_ + "\n    certificate-authority: " + ca_file_ +
                  "\nusers:\n- name: kcm\n  user:\n    token: " + token +
                  "\ncontexts:\n- name: kcm\n  context: {cluster: member, user: kcm}\n"
                  "current-context: kcm\n");
    std::vector<std::string> argv = {
        binary,
        "--kubeconfig=" + kubeconfig.string(),
        "--port=0",
        "--secure-port=0",
        "--leader-elect=false",
        "--controllers=deployment,replicaset,namespace,serviceaccount,serviceaccount-token,"
        "garbagecollector,horizontalpodautoscaling",
        // Without a metrics server an HPA still enforces minReplicas/maxReplicas: each pass
        // (1 s here, 15 s by default) scales what is outside them.
        "--horizontal-pod-autoscaler-sync-period=1s",
        "--service-account-private-key-file=" + (dir_ / "sa.key").string(),
        "--root-ca-file=" + ca_file_,
        "--profiling=false",
    };
    if (!controller_manager_.Start(argv, error, ControllerManagerLogPath())) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(controller_manager_.pid()), &info,
               WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == controller_manager_.pid()) {
      *error = "kube-controller-manager exited; the end of its log:\n" +
               RunCommand("tail -n 30 '" + ControllerManagerLogPath() + "'").output;
      return false;
    }
    return true;
  }
  std::string ControllerManagerLogPath() const {
    return (dir_ / "kube-controller-manager.log").string();
  }

  bool WaitReady(std::chrono::seconds timeout, std::string* error) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      CommandResult r =
          RunCommand("curl -sS --max-time 2 --cacert '" + ca_file_ +
                     "' -H 'Authorization: Bearer " + test_token_ + "' '" + url_ + "/readyz'");
      if (r.exit_code == 0 && r.output == "ok") return true;
      // WNOWAIT: look without reaping, so ChildProcess still owns the pid.
      siginfo_t info{};
      if (waitid(P_PID, static_cast<id_t>(process_.pid()), &info, WEXITED | WNOHANG | WNOWAIT) ==
              0 &&
          info.si_pid == process_.pid()) {
        *error = "kube-apiserver exited; the end of its log:\n" + LogTail();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    *error = "kube-apiserver not ready within " + std::to_string(timeout.count()) +
             " s; the end of its log:\n" + LogTail();
    return false;
  }

  std::filesystem::path dir_;
  std::unique_ptr<EtcdCluster> etcd_;
  ChildProcess process_;
  ChildProcess controller_manager_;
  int port_ = 0;
  std::string url_, ca_file_, kubeconfig_, test_token_;
  mutable int requests_ = 0;
};

}  // namespace meridian::test_env
