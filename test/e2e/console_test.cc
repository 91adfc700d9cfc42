// The web console (issue 21) in a real headless browser: membersim with the demo's five
// members on three continents and the federation-apiserver (--controllers all, token
// authentication, RBAC) as real processes on free loopback ports, the demo's topology,
// members, the three-continents workload and the EU-residency example applied with fedctl as
// an admin; then test/e2e/console/console_browser.mjs drives Debian's chromium over the
// DevTools protocol through the console at /console/ (sign in, fleet, a failed region turning
// red, workloads, residency with the evidence ledger sealed by a signed checkpoint, a declared
// drill started, charted, aborted and reported (the page's report compared with `fedctl drill
// report`), the compliance report downloaded as JSON and HTML (compared in the browser script
// with `fedctl residency report` for the same period, byte for byte), a view user refused (no
// drill form, no report link, 403 for both)). Screenshots go to <build>/console-screenshots/. Skipped (with the
// reason) where chromium or node is not installed; scripts/setup.sh installs both, and CI runs it.
// SignInWithTheBrowsersClientCertificate: the console's certificate sign-in against an HTTPS
// server with --client-ca-file (test/e2e/console/certificate_browser.mjs).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;

constexpr char kChromium[] = "/usr/bin/chromium";
constexpr char kNode[] = "/usr/bin/node";
constexpr char kAdminToken[] = "console-admin-token";
constexpr char kViewToken[] = "console-view-token";

TEST(ConsoleE2E, FleetDrillsAndRbacInHeadlessChromium) {
  if (access(kChromium, X_OK) != 0 || access(kNode, X_OK) != 0) {
    GTEST_SKIP() << "needs " << kChromium << " and " << kNode
                 << " (Debian's chromium and nodejs; scripts/setup.sh installs them)";
  }
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("meridian-console-e2e-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string src = test_env::SourceDir();
  test_env::WriteFile(dir / "tokens.csv", std::string(kAdminToken) +
                                              ",admin,admin,\"system:masters\"\n" + kViewToken +
                                              ",viewer,viewer,\"console:viewers\"\n");
  // An evidence signing key, as `fedctl admin init` makes it: the server then verifies and
  // seals the residency evidence ledger with signed checkpoints, which the residency page shows.
  auto init = test_env::RunCommand(test_env::BinDir() + "/fedctl admin init --dir " +
                                   (dir / "pki").string() + " --host localhost 2>&1");
  ASSERT_EQ(init.exit_code, 0) << init.output;
  test_env::E2EFederation fed;
  std::string error;
  ASSERT_TRUE(fed.Start(
      {.bin_dir = test_env::BinDir(),
       .dir = dir,
       .membersim_config = src + "/examples/topology-3-continents.yaml",
       .apiserver_flags = {"--controllers", "all", "--token-auth-file",
                           (dir / "tokens.csv").string(), "--authorization-mode", "RBAC",
                           "--drill-sample-interval-ms", "250", "--health-probe-interval-ms", "200",
                           "--health-probe-timeout-ms", "500", "--health-failure-threshold", "2",
                           "--evidence-signing-key-file",
                           (dir / "pki" / "evidence-signing.key").string(),
                           "--evidence-checkpoint-interval", "1s"}},
      &error))
      << error;
  auto fedctl = [&](const std::string& args) {
    return fed.Fedctl(std::string("--token ") + kAdminToken + " " + args);
  };

  // As scripts/demo.sh does: the members point at this membersim; a short recovery delay.
  const std::string sim = fed.sim_url().substr(fed.sim_url().find("//") + 2);
  test_env::WriteFile(
      dir / "members.yaml",
      std::regex_replace(test_env::ReadFile(src + "/examples/three-continents/members.yaml"),
                         std::regex("127\\.0\\.0\\.1:18080"), sim));
  test_env::WriteFile(
      dir / "workload.yaml",
      std::regex_replace(test_env::ReadFile(src + "/examples/three-continents/workload.yaml"),
                         std::regex("recoveryDelaySeconds: 60"), "recoveryDelaySeconds: 2"));
  // Both workloads return to a drilled region 2 s after it is restored (not 60): the drill's
  // report is read once the return was observed to its end.
  test_env::WriteFile(
      dir / "ledger.yaml",
      std::regex_replace(test_env::ReadFile(src + "/examples/eu-residency/workload.yaml"),
                         std::regex("recoveryDelaySeconds: 60"), "recoveryDelaySeconds: 2"));
  // The view-only group of tokens.csv gets Kubernetes' `view` role.
  test_env::WriteFile(dir / "viewers.yaml", R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: console-viewers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "console:viewers"}]
)");
  for (const std::string& f :
       {src + "/examples/three-continents/topology.yaml", (dir / "members.yaml").string(),
        (dir / "workload.yaml").string(), src + "/examples/dns/web-service.yaml",
        src + "/examples/eu-residency/residency-policy.yaml", (dir / "ledger.yaml").string(),
        (dir / "viewers.yaml").string()}) {
    auto r = fedctl("apply -f " + f);
    ASSERT_EQ(r.exit_code, 0) << f << ": " << r.output;
  }
  ASSERT_TRUE(test_env::PollUntil(std::chrono::seconds(60), std::chrono::milliseconds(200), [&] {
    return fedctl("describe fw web -n shop").output.find("30 of 30 replicas ready") !=
           std::string::npos;
  })) << fedctl("describe fw web -n shop").output;

  // Static files are served without a token; the API is not.
  auto index = test_env::RunCommand("curl -sS -o /dev/null -w '%{http_code} %{content_type}' " +
                                    fed.api_url() + "/console/");
  EXPECT_EQ(index.output, "200 text/html; charset=utf-8");
  auto anonymous = test_env::RunCommand("curl -sS -o /dev/null -w '%{http_code}' " + fed.api_url() +
                                        "/apis/federation.meridian.io/v1alpha1/memberclusters");
  EXPECT_EQ(anonymous.output, "401");

  const std::filesystem::path shots =
      std::filesystem::path(test_env::BinDir()).parent_path() / "console-screenshots";
  const auto started = std::chrono::steady_clock::now();
  auto run = test_env::RunCommand(
      "CONSOLE_URL=" + fed.api_url() + "/console/ ADMIN_TOKEN=" + kAdminToken +
      " VIEW_TOKEN=" + kViewToken + " SIM_URL=" + fed.sim_url() + " OUT_DIR=" + shots.string() +
      " CHROMIUM=" + kChromium + " FEDCTL=" + test_env::BinDir() + "/fedctl " + kNode + " " + src + "/test/e2e/console/console_browser.mjs");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(run.exit_code, 0) << run.output << "\n(apiserver log: " << (dir / "apiserver.log")
                              << ")";
  std::cout << run.output << "browser part: " << seconds << " s\n";
  // The drill's report page says what `fedctl drill report` says, byte for byte.
  if (run.exit_code == 0) {
    const std::string drill = test_env::ReadFile((shots / "drill-name.txt").string());
    auto report = fedctl("drill report " + drill);
    EXPECT_EQ(report.exit_code, 0) << report.output;
    EXPECT_EQ(test_env::ReadFile((shots / "drill-report.txt").string()), report.output);
  }
  fed.Stop();
  if (run.exit_code == 0) std::filesystem::remove_all(dir);
}

// Removes the file it names when destroyed (the Chromium policy a test writes).
struct RemoveOnExit {
  std::filesystem::path path;
  ~RemoveOnExit() { std::filesystem::remove(path); }
};

TEST(ConsoleE2E, SignInWithTheBrowsersClientCertificate) {
  if (access(kChromium, X_OK) != 0 || access(kNode, X_OK) != 0) {
    GTEST_SKIP() << "needs " << kChromium << " and " << kNode
                 << " (Debian's chromium and nodejs; scripts/setup.sh installs them)";
  }
  if (access("/usr/bin/certutil", X_OK) != 0 || access("/usr/bin/pk12util", X_OK) != 0) {
    GTEST_SKIP() << "needs certutil and pk12util (Debian's libnss3-tools; scripts/setup.sh "
                    "installs it) to give Chromium a client certificate";
  }
  // Chromium selects a client certificate without its dialog only by policy, which it reads
  // from /etc/chromium/policies/managed (root; CI runs as root).
  const std::filesystem::path policies = "/etc/chromium/policies/managed";
  std::error_code ec;
  std::filesystem::create_directories(policies, ec);
  if (ec || access(policies.c_str(), W_OK) != 0) {
    GTEST_SKIP() << "needs to write a Chromium policy to " << policies << " (run as root)";
  }
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("meridian-console-cert-e2e-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string src = test_env::SourceDir();
  const std::string pki = (dir / "pki").string();
  auto init = test_env::RunCommand(test_env::BinDir() + "/fedctl admin init --dir " + pki +
                                   " --host 127.0.0.1 2>&1");
  ASSERT_EQ(init.exit_code, 0) << init.output;
  // Two Chromium homes: one whose NSS database trusts the CA and holds the admin's
  // certificate and key, one that only trusts the CA.
  const std::string with_cert = (dir / "home-with-cert").string();
  const std::string without_cert = (dir / "home-without-cert").string();
  for (const std::string& home : {with_cert, without_cert}) {
    const std::string db = "sql:" + home + "/.pki/nssdb";
    std::filesystem::create_directories(home + "/.pki/nssdb");
    auto made = test_env::RunCommand("certutil -N -d " + db + " --empty-password 2>&1 && certutil -A -n meridian-ca -t C,, -i " +
                                     pki + "/ca.crt -d " + db + " 2>&1");
    ASSERT_EQ(made.exit_code, 0) << made.output;
  }
  auto imported = test_env::RunCommand(
      "openssl pkcs12 -export -in " + pki + "/admin.crt -inkey " + pki + "/admin.key -out " +
      (dir / "admin.p12").string() + " -passout pass: 2>&1 && pk12util -i " +
      (dir / "admin.p12").string() + " -d sql:" + with_cert + "/.pki/nssdb -W '' 2>&1");
  ASSERT_EQ(imported.exit_code, 0) << imported.output;

  test_env::E2EFederation fed;
  std::string error;
  ASSERT_TRUE(fed.Start({.bin_dir = test_env::BinDir(),
                         .dir = dir,
                         .apiserver_flags = {"--controllers", "none", "--tls-cert-file",
                                             pki + "/apiserver.crt", "--tls-private-key-file",
                                             pki + "/apiserver.key", "--client-ca-file",
                                             pki + "/ca.crt", "--authorization-mode", "RBAC"}},
                        &error))
      << error;
  ASSERT_EQ(fed.api_url().rfind("https://127.0.0.1:", 0), 0u) << fed.api_url();
  // For this server's origin only, the certificate issued by its CA.
  RemoveOnExit policy{policies / ("meridian-console-e2e-" + std::to_string(getpid()) + ".json")};
  test_env::WriteFile(policy.path, json{{"AutoSelectCertificateForUrls",
                                         {json{{"pattern", fed.api_url()},
                                               {"filter", {{"ISSUER", {{"CN", "meridian-ca"}}}}}}
                                              .dump()}}}
                                       .dump());

  const std::filesystem::path shots =
      std::filesystem::path(test_env::BinDir()).parent_path() / "console-screenshots";
  auto run = test_env::RunCommand("CONSOLE_URL=" + fed.api_url() + "/console/ HOME_WITH_CERT=" +
                                  with_cert + " HOME_WITHOUT_CERT=" + without_cert +
                                  " USER_NAME=admin OUT_DIR=" + shots.string() + " CHROMIUM=" +
                                  kChromium + " " + kNode + " " + src +
                                  "/test/e2e/console/certificate_browser.mjs 2>&1");
  EXPECT_EQ(run.exit_code, 0) << run.output << "\n(apiserver log: " << (dir / "apiserver.log")
                              << ")";
  std::cout << run.output;
  fed.Stop();
  if (run.exit_code == 0) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace meridian
