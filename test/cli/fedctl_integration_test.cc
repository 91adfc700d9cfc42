// Integration: the real fedctl binary against the real federation-apiserver (fresh SQLite
// store, free loopback port) — apply the three-continents example, get/describe/delete, and
// every kind of bad input, checking that each error names the file, line and field and that
// nothing stored changed. Skipped with a message when the binaries are not built.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test/common/test_env.h"

namespace meridian::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return 0;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
}

// A child process with stdin/stdout/stderr on files. It dies with the test process
// (PR_SET_PDEATHSIG), and the destructor terminates and reaps it, so no path leaks it.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const fs::path& in, const fs::path& out,
        const fs::path& err, const fs::path& cwd = "",
        const std::vector<std::pair<std::string, std::string>>& env = {}) {
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
      if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
      int i = open(in.c_str(), O_RDONLY);
      int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (i < 0 || o < 0 || e < 0) _exit(126);
      dup2(i, 0);
      dup2(o, 1);
      dup2(e, 2);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Child() { Stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // True while the process runs; reaps it (and records the exit code) once it has exited.
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      return false;
    }
    return true;
  }
  // Waits up to `limit` for the exit; kills it past that. Returns the exit code (-1: killed).
  int Wait(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (Running()) {
      if (std::chrono::steady_clock::now() > deadline) {
        Stop();
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return exit_code_;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 300 && Running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

struct Result {
  int code = -1;
  std::string out, err;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "exit " << r.code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

class FedctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = test_env::BinDir();
    src_ = test_env::SourceDir();
    if (!fs::exists(bin_ / "federation-apiserver")) {
      GTEST_SKIP() << "federation-apiserver is not built yet (" << (bin_ / "federation-apiserver")
                   << "); build it to run fedctl's integration tests";
    }
    ASSERT_TRUE(fs::exists(bin_ / "fedctl")) << "fedctl is not built in " << bin_;
    dir_ = fs::temp_directory_path() /
           ("fedctl-it-" + std::to_string(getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    WriteFile(dir_ / "empty", "");
    StartServer();
  }

  void TearDown() override {
    server_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Starts the apiserver on a free port, retrying with another port if the one picked was
  // taken in the meantime.
  void StartServer() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      int port = FreePort();
      ASSERT_GT(port, 0);
      fs::path log = dir_ / "apiserver.log";
      server_ = std::make_unique<Child>(
          std::vector<std::string>{(bin_ / "federation-apiserver").string(), "--listen",
                                   "127.0.0.1:" + std::to_string(port), "--storage",
                                   "sqlite:" + (dir_ / "federation.db").string(),
                                   // fedctl against the API alone: the example members are not
                                   // running, so controllers would only hold deletions.
                                   "--controllers", "none"},
          dir_ / "empty", log, log);
      const std::string ready = "listening on http://127.0.0.1:" + std::to_string(port);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
      while (std::chrono::steady_clock::now() < deadline) {
        if (ReadFile(log).find(ready) != std::string::npos) {
          url_ = "http://127.0.0.1:" + std::to_string(port);
          return;
        }
        if (!server_->Running()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      std::string text = ReadFile(log);
      server_.reset();
      if (text.find("in use") == std::string::npos) {
        FAIL() << "federation-apiserver did not start:\n" << text;
      }
    }
    FAIL() << "no free port for federation-apiserver after 5 attempts";
  }

  // Runs fedctl against the server with `stdin_text` on stdin.
  Result Fedctl(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.insert(args.begin(), {(bin_ / "fedctl").string(), "--server", url_});
    return Run(args, stdin_text);
  }

  Result Run(const std::vector<std::string>& argv, const std::string& stdin_text = "",
             const std::vector<std::pair<std::string, std::string>>& env = {}) {
    WriteFile(dir_ / "stdin", stdin_text);
    Result r;
    {
      // In the temp dir, so that manifests written there show as "bad.yaml:3".
      Child c(argv, dir_ / "stdin", dir_ / "stdout", dir_ / "stderr", dir_, env);
      r.code = c.Wait(std::chrono::seconds(20));
    }
    r.out = ReadFile(dir_ / "stdout");
    r.err = ReadFile(dir_ / "stderr");
    return r;
  }

  // Writes a manifest into the temp dir; returns the name fedctl is given (relative).
  std::string Write(const std::string& name, const std::string& text) {
    WriteFile(dir_ / name, text);
    return name;
  }

  // The stored object as JSON (null when absent).
  json Stored(const std::string& type, const std::string& name, const std::string& ns = "") {
    std::vector<std::string> args = {"get", type, name, "-o", "json"};
    if (!ns.empty()) args.insert(args.end(), {"-n", ns});
    Result r = Fedctl(args);
    if (r.code != 0) return nullptr;
    return json::parse(r.out);
  }

  // Applies the three-continents example (namespace, members, topology, workload).
  void ApplyExample() {
    Result r = Fedctl({"apply", "-f", (src_ / "examples/three-continents").string()});
    ASSERT_EQ(r.code, 0) << r;
  }

  fs::path bin_, src_, dir_;
  std::string url_;
  std::unique_ptr<Child> server_;
  static inline int counter_ = 0;
};

TEST_F(FedctlTest, ApplyGetDescribeDeleteTheThreeContinentsExample) {
  const std::string example = (src_ / "examples/three-continents").string();
  Result r = Fedctl({"apply", "-f", example});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "namespace/shop created\n"
            "membercluster.federation.meridian.io/us-east-1 created\n"
            "membercluster.federation.meridian.io/us-west-1 created\n"
            "membercluster.federation.meridian.io/eu-west-1 created\n"
            "membercluster.federation.meridian.io/eu-central-1 created\n"
            "membercluster.federation.meridian.io/ap-south-1 created\n"
            "topology.federation.meridian.io/default created\n"
            "federatedworkload.federation.meridian.io/web created\n")
      << r;

  // Applying again changes nothing.
  r = Fedctl({"apply", "-f", example});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("namespace/shop unchanged\n"));
  EXPECT_THAT(r.out, HasSubstr("federatedworkload.federation.meridian.io/web unchanged\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("created")));
  EXPECT_THAT(r.out, Not(HasSubstr("configured")));

  // Table: catalogue columns, namespaced by -n, and -A adds NAMESPACE.
  r = Fedctl({"get", "fw", "-n", "shop"});
  ASSERT_EQ(r.code, 0) << r;
  // REGIONS: ready/desired per region, from the members' regions.
  EXPECT_THAT(r.out,
              MatchesRegex("NAME +READY +DESIRED +UNPLACED +REGIONS +AGE\nweb +.*[0-9]+s\n"));
  r = Fedctl({"get", "federatedworkloads", "-A"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out,
              MatchesRegex("NAMESPACE +NAME +READY +DESIRED +UNPLACED +REGIONS +AGE\nshop +web .*\n"));
  r = Fedctl({"get", "mc"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("NAME           REGION       JURISDICTION   READY"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*\neu-west-1 +eu-west +eu (.|\n)*"));
  r = Fedctl({"get", "mc", "-l", "continent=europe", "-o", "name"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out,
            "membercluster.federation.meridian.io/eu-central-1\n"
            "membercluster.federation.meridian.io/eu-west-1\n");
  r = Fedctl({"get", "ns"});
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*\nshop +Active +[0-9]+s\n(.|\n)*"));
  r = Fedctl({"get", "fw"});  // the default namespace is empty
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "No resources found in default namespace.\n");

  // YAML and JSON agree with the manifest.
  r = Fedctl({"get", "fw", "web", "-n", "shop", "-o", "yaml"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("kind: FederatedWorkload\n"));
  EXPECT_THAT(r.out, HasSubstr("      replicas: 30\n"));
  EXPECT_THAT(r.out, HasSubstr("  name: web\n"));
  json web = Stored("fw", "web", "shop");
  ASSERT_TRUE(web.is_object());
  EXPECT_EQ(web["spec"]["template"]["spec"]["replicas"], 30);
  EXPECT_EQ(web["spec"]["placement"]["distribution"]["weights"]["us-east"], 3);
  r = Fedctl({"get", "topo", "-o", "json"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(json::parse(r.out)["kind"], "List");
  EXPECT_EQ(json::parse(r.out)["items"][0]["metadata"]["name"], "default");

  r = Fedctl({"describe", "fw", "web", "-n", "shop"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("Name:"));
  EXPECT_THAT(r.out, HasSubstr("Template:          apps/v1 Deployment \"web\", 30 replicas"));
  EXPECT_THAT(r.out, HasSubstr("DNS:               web.global.example.com (strategy geo"));
  EXPECT_THAT(r.out, HasSubstr("Placement Policy:\n"));
  EXPECT_THAT(r.out, HasSubstr("\nEvents:"));
  r = Fedctl({"describe", "mc", "eu-west-1"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("Region:            eu-west\n"));
  EXPECT_THAT(r.out, HasSubstr("Zones:             eu-west-1a, eu-west-1b, eu-west-1c\n"));
  EXPECT_THAT(r.out, HasSubstr("Jurisdiction:      eu\n"));

  // Delete by name, then by manifest; NotFound afterwards is an error naming the object.
  r = Fedctl({"delete", "fw", "web", "-n", "shop"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "federatedworkload.federation.meridian.io \"web\" deleted\n");
  r = Fedctl({"get", "fw", "web", "-n", "shop"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "Error from server (NotFound): federatedworkloads.federation.meridian.io \"web\" "
            "not found\n");
  r = Fedctl({"delete", "-f", example, "--ignore-not-found"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("topology.federation.meridian.io \"default\" deleted\n"));
  EXPECT_THAT(r.out, HasSubstr("namespace \"shop\" deleted\n"));
  r = Fedctl({"get", "mc", "-o", "json"});
  EXPECT_EQ(json::parse(r.out)["items"].size(), 0u) << r;
}

TEST_F(FedctlTest, StdinJsonAndWatch) {
  Result r =
      Fedctl({"apply", "-f", "-"},
             R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "from-json"}})");
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "namespace/from-json created\n");

  // get -w prints the table, then a row per change.
  Child watch({(bin_ / "fedctl").string(), "--server", url_, "get", "ns", "-w"}, dir_ / "empty",
              dir_ / "watch.out", dir_ / "watch.err");
  auto wait_for = [&](const std::string& text) {
    for (int i = 0; i < 1000; ++i) {
      if (ReadFile(dir_ / "watch.out").find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  };
  ASSERT_TRUE(wait_for("from-json"))
      << ReadFile(dir_ / "watch.out") << ReadFile(dir_ / "watch.err");
  r = Fedctl({"apply", "-f", "-"}, "apiVersion: v1\nkind: Namespace\nmetadata: {name: watched}\n");
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(wait_for("\nwatched "))
      << ReadFile(dir_ / "watch.out") << ReadFile(dir_ / "watch.err");
  watch.Stop();
  EXPECT_THAT(ReadFile(dir_ / "watch.out"), HasSubstr("NAME"));
}

TEST_F(FedctlTest, BadInputNamesFileLineAndFieldAndStoresNothing) {
  ApplyExample();
  const json before = Stored("fw", "web", "shop");
  ASSERT_TRUE(before.is_object());
  const std::string rv = before["metadata"]["resourceVersion"];

  const std::string head =
      "apiVersion: federation.meridian.io/v1alpha1\n"
      "kind: FederatedWorkload\n"
      "metadata:\n"
      "  name: web\n"
      "  namespace: shop\n";
  const std::string tmpl =
      "spec:\n"
      "  template:\n"
      "    apiVersion: apps/v1\n"
      "    kind: Deployment\n"
      "    metadata: {name: web}\n"
      "    spec:\n";
  struct Case {
    std::string name;    // file name
    std::string yaml;    // contents
    std::string expect;  // substring of stderr
  };
  std::string big(3 * 1024 * 1024 + 1000, 'x');
  const std::vector<Case> cases = {
      {"malformed.yaml", "# leading comment\n" + head + "spec:\n  template: [\n    - a\n  b: c\n",
       "error: malformed.yaml:9:5: illegal block entry"},
      {"wrong-types.yaml",
       "---\n" + head + tmpl +
           "      replicas: 3\n  placement:\n    distribution:\n"
           "      weights: {us-east: lots}\n",
       "Error from server (Invalid): wrong-types.yaml:2: federatedworkloads \"web\" is invalid: "
       "spec.placement.distribution.weights.us-east: must be an integer (line 16)\n"},
      {"unknown-kind.yaml",
       "apiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWidget\nmetadata: {name: "
       "web}\n",
       "error: unknown-kind.yaml:1: no matches for kind \"FederatedWidget\" in version "
       "\"federation.meridian.io/v1alpha1\""},
      {"missing-name.yaml",
       "\n\napiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"
       "metadata: {namespace: shop}\nspec: {}\n",
       "error: missing-name.yaml:3: FederatedWorkload: metadata.name: Required value"},
      {"negative-replicas.yaml", head + tmpl + "      replicas: -3\n",
       "Error from server (Invalid): negative-replicas.yaml:1: federatedworkloads \"web\" is "
       "invalid: spec.template.spec.replicas: must be >= 0 (line 12)\n"},
      {"template-typo.yaml", head + tmpl + "      replicaz: 40\n",
       "Error from server (Invalid): template-typo.yaml:1: federatedworkloads \"web\" is "
       "invalid: spec.template.spec.replicaz: unknown field \"replicaz\" (line 12)\n"},
      {"template-string-replicas.yaml", head + tmpl + "      replicas: \"40\"\n",
       "spec.template.spec.replicas: must be an integer (line 12)"},
      {"template-no-image.yaml",
       head + tmpl + "      template:\n        spec:\n          containers:\n          - name: web\n",
       "spec.template.spec.template.spec.containers[0].image: required"},
      {"template-unknown-kind.yaml",
       head + "spec:\n  template:\n    apiVersion: apps/v1\n    kind: Deploymnet\n",
       "spec.template.kind: unknown kind \"Deploymnet\" in apps/v1"},
      {"unknown-region.yaml",
       head + tmpl +
           "      replicas: 3\n  placement:\n    distribution:\n"
           "      weights: {mars-north: 1}\n",
       "Error from server (Invalid): unknown-region.yaml:1: federatedworkloads \"web\" is invalid: "
       "spec.placement.distribution.weights.mars-north: unknown region or cluster \"mars-north\""},
      {"too-big.yaml",
       head + "  annotations:\n    blob: " + big + "\n" + tmpl + "      replicas: 3\n",
       "Error from server (RequestEntityTooLarge): too-big.yaml:1: "},
      {"stale.yaml", head + "  resourceVersion: \"1\"\n" + tmpl + "      replicas: 5\n",
       "Error from server (Conflict): stale.yaml:1: Operation cannot be fulfilled on "
       "federatedworkloads.federation.meridian.io \"web\": the object has been modified"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Result r = Fedctl({"apply", "-f", Write(c.name, c.yaml)});
    EXPECT_EQ(r.code, 1) << r;
    EXPECT_THAT(r.err, HasSubstr(c.expect)) << r;
    EXPECT_EQ(r.out, "") << r;
    json after = Stored("fw", "web", "shop");
    EXPECT_EQ(after, before) << "stored object changed after " << c.name;
  }
  EXPECT_EQ(Stored("fw", "web", "shop")["metadata"]["resourceVersion"], rv);
}

TEST_F(FedctlTest, MultiDocumentApplyAppliesEveryValidDocument) {
  ApplyExample();
  const std::string text =
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: extra}\n"  // 1: ok
      "---\n"
      "apiVersion: federation.meridian.io/v1alpha1\nkind: Gadget\n"  // 5: unknown kind
      "metadata: {name: g}\n"
      "---\n"
      "apiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"  // 9: invalid
      "metadata: {name: api, namespace: extra}\n"
      "spec:\n  template: {apiVersion: apps/v1, kind: Deployment, spec: {replicas: -1}}\n"
      "---\n"
      "apiVersion: federation.meridian.io/v1alpha1\nkind: FederatedWorkload\n"  // 15: ok
      "metadata: {name: docs, namespace: extra}\n"
      "spec:\n  template: {apiVersion: apps/v1, kind: Deployment, spec: {replicas: 2}}\n"
      "---\n"
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: broken\n   oops: [\n";  // 21: malformed
  Result r = Fedctl({"apply", "-f", Write("mixed.yaml", text)});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_EQ(r.out,
            "namespace/extra created\n"
            "federatedworkload.federation.meridian.io/docs created\n")
      << r;
  EXPECT_THAT(r.err, HasSubstr("error: mixed.yaml:5: no matches for kind \"Gadget\""));
  EXPECT_THAT(r.err, HasSubstr("mixed.yaml:9: federatedworkloads \"api\" is invalid: "
                               "spec.template.spec.replicas"));
  EXPECT_THAT(r.err, HasSubstr("error: mixed.yaml:25:8: illegal map value\n"));
  EXPECT_TRUE(Stored("fw", "docs", "extra").is_object());
  EXPECT_TRUE(Stored("fw", "api", "extra").is_null());
  EXPECT_TRUE(Stored("ns", "broken").is_null());
}

// fedctl drill run against the real API: a drill the federation cannot run is refused at
// create (exit 1, the field named) and nothing is stored, instead of a drill that fails later.
TEST_F(FedctlTest, DrillRunRefusesBadDrillsAtCreate) {
  ApplyExample();
  Result r = Fedctl({"apply", "-f", (src_ / "examples/eu-residency").string()});
  ASSERT_EQ(r.code, 0) << r;
  struct Case {
    std::vector<std::string> args;
    std::string error;  // "" = created
  };
  const std::vector<Case> cases = {
      {{"--target", "region=mars"}, "spec.target.region: unknown region \"mars\""},
      {{"--target", "zone=eu-west-1z", "--mode", "live"},
       "spec.target.zone: unknown zone \"eu-west-1z\""},
      {{"--target", "cluster=ghost-1"}, "spec.target.cluster: unknown member cluster \"ghost-1\""},
      {{"--target", "zone=eu-west-1a", "--mode", "live", "--name", "first"}, ""},
      {{"--target", "cluster=eu-west-1", "--mode", "live"},
       "spec.target: cluster=eu-west-1 overlaps live drill first (zone=eu-west-1a, not started)"},
      {{"--target", "cluster=eu-west-1", "--name", "simulated"}, ""},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"drill", "run"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    r = Fedctl(args);
    if (c.error.empty()) {
      EXPECT_EQ(r.code, 0) << r;
      continue;
    }
    EXPECT_EQ(r.code, 1) << r;
    EXPECT_THAT(r.err, HasSubstr(c.error)) << r;
  }
  r = Fedctl({"get", "failoverdrills", "-o", "name"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out,
            "failoverdrill.federation.meridian.io/first\nfailoverdrill.federation.meridian.io/"
            "simulated\n");
}

// fedctl drill run --schedule/--step creates a game day; what only the server can judge (the
// cron expression, the time zone, a step's target, overlapping runs) is refused at create
// with the spec field named, and nothing is stored.
TEST_F(FedctlTest, DrillRunCreatesAGameDayAndAdmissionNamesTheField) {
  ApplyExample();
  const std::vector<std::string> steps = {"--step", "zone=eu-west-1a:2m", "--step",
                                          "region=eu-west:5m"};
  struct Case {
    std::vector<std::string> args;
    std::string error;  // "" = created
    int code = 1;
  };
  const std::vector<Case> cases = {
      {{"--schedule", "0 25 * * *"}, "spec.schedule.cron: the hour field: 25 is out of range 0-23"},
      {{"--schedule", "0 3 * * *", "--time-zone", "Europe/Atlantis"},
       "spec.schedule.timeZone: unknown time zone \"Europe/Atlantis\""},
      {{"--schedule", "*/5 * * * *"}, "spec.steps"},
      {{"--schedule", "0 3 * * *", "--window", "05:00-06:00"}, "never fires inside the window"},
      {{"--schedule", "0 3 * * *", "--step", "zone=mars-1a:1m"},
       "spec.steps[2].target.zone: unknown zone \"mars-1a\""},
      {{"--schedule", "0 3 * * *", "--step", "zone=eu-west-1a:-1m"}, "--step", 2},
      {{"--schedule", "0 3 * * 1", "--time-zone", "Europe/Berlin", "--window", "02:00-05:00",
        "--name", "nightly"},
       ""},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"drill", "run", "--mode", "live"};
    args.insert(args.end(), steps.begin(), steps.end());
    args.insert(args.end(), c.args.begin(), c.args.end());
    Result r = Fedctl(args);
    if (c.error.empty()) {
      EXPECT_EQ(r.code, 0) << r;
      EXPECT_EQ(r.out, "nightly\n") << r;
      continue;
    }
    EXPECT_EQ(r.code, c.code) << r;
    EXPECT_THAT(r.err, HasSubstr(c.error)) << r;
  }
  Result r = Fedctl({"get", "failoverdrills", "-o", "name"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "failoverdrill.federation.meridian.io/nightly\n");
  r = Fedctl({"get", "failoverdrill", "nightly", "-o", "json"});
  ASSERT_EQ(r.code, 0) << r;
  const json spec = json::parse(r.out)["spec"];
  EXPECT_EQ(spec["schedule"]["timeZone"], "Europe/Berlin") << spec;
  EXPECT_EQ(spec["schedule"]["window"]["start"], "02:00") << spec;
  EXPECT_EQ(spec["steps"].size(), 2u) << spec;
  EXPECT_EQ(spec["steps"][1]["durationSeconds"], 300) << spec;
}

TEST_F(FedctlTest, UnknownTypesAndUnreachableServers) {
  Result r = Fedctl({"get", "pods"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("error: the server doesn't have a resource type \"pods\""));
  r = Fedctl({"describe", "fw", "nope", "-n", "shop"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("Error from server (NotFound): "));

  // The server comes from MERIDIAN_SERVER when --server is not given.
  r = Run({(bin_ / "fedctl").string(), "get", "ns", "default", "-o", "name"}, "",
          {{"MERIDIAN_SERVER", url_}});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "namespace/default\n");

  const std::string dead = "http://127.0.0.1:" + std::to_string(FreePort());
  r = Run({(bin_ / "fedctl").string(), "--server", dead, "get", "fw"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "error: cannot connect to the server at " + dead +
                       ": connection refused (is the federation-apiserver running? set --server "
                       "or MERIDIAN_SERVER)\n");
  r = Run({(bin_ / "fedctl").string(), "--server", dead, "apply", "-f",
           (src_ / "examples/three-continents").string()});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot connect to the server at " + dead));
}

// fedctl version: the client's and the server's real build (same commit: same build tree).
TEST_F(FedctlTest, VersionShowsTheRealBuildOfClientAndServer) {
  Result r = Fedctl({"version", "-o", "json"});
  ASSERT_EQ(r.code, 0) << r;
  json v = json::parse(r.out);
  const std::string commit = v["clientVersion"]["gitCommit"].get<std::string>();
  EXPECT_EQ(v["serverVersion"]["gitCommit"], commit);
  EXPECT_EQ(v["serverVersion"]["meridianVersion"], v["clientVersion"]["meridianVersion"]);
  EXPECT_EQ(v["serverVersion"]["major"], "1");
  EXPECT_NE(v["serverVersion"]["gitVersion"].get<std::string>().find("+meridian."),
            std::string::npos);
  EXPECT_EQ(v["serverVersion"].count("goVersion"), 0u);  // no made-up Go build data
  if (fs::exists(src_ / ".git")) {
    EXPECT_EQ(commit.size(), 40u) << commit;
    EXPECT_FALSE(v["clientVersion"]["buildDate"].get<std::string>().empty());
  }
  r = Fedctl({"version"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_NE(r.out.find("Client Version: v"), std::string::npos) << r;
  EXPECT_NE(r.out.find("Server Version: v"), std::string::npos) << r;
  EXPECT_NE(r.out.find("Kubernetes API v1.32"), std::string::npos) << r;
  // --client needs no server.
  r = Run({(bin_ / "fedctl").string(), "--server", "http://127.0.0.1:1", "version", "--client"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out.find("Server Version"), std::string::npos) << r;
}

TEST_F(FedctlTest, UnknownCommandsAndFlagsGetDidYouMean) {
  Result r = Fedctl({"gett", "fw"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("unknown command \"gett\" for \"fedctl\""), std::string::npos) << r;
  EXPECT_NE(r.err.find("Did you mean this?\n\tget"), std::string::npos) << r;
  r = Fedctl({"launch-rockets"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.find("Did you mean"), std::string::npos) << r;
  r = Fedctl({"get", "fw", "--selecter", "app=web"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("did you mean --selector?"), std::string::npos) << r;
}

// The bash script from `fedctl completion bash`, run by a real bash the way readline does:
// COMP_WORDS/COMP_CWORD set, the completion function called, COMPREPLY printed.
TEST_F(FedctlTest, BashCompletionCompletesCommandsKindsAndNames) {
  ApplyExample();
  const std::string fedctl = (bin_ / "fedctl").string();
  auto complete = [&](const std::vector<std::string>& words) {
    std::string array;
    for (const std::string& w : words) array += " '" + w + "'";
    const std::string script = "source <('" + fedctl + "' completion bash) || exit 9\n" +
                               "COMP_WORDS=('" + fedctl + "' --server '" + url_ + "'" + array +
                               ")\nCOMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n" +
                               "_fedctl_complete\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n";
    return Run({"/bin/bash", "--norc", "--noprofile", "-c", script});
  };
  Result r = complete({"ge"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out, "get\n");
  r = complete({"get", "federatedw"});
  EXPECT_EQ(r.out, "federatedworkloads\nfederatedworkload\n") << r;
  r = complete({"get", "fw", "-n", "shop", ""});
  EXPECT_EQ(r.out, "web\n") << r;
  r = complete({"describe", "mc", "eu-"});
  EXPECT_NE(r.out.find("eu-west-1\n"), std::string::npos) << r;
  EXPECT_EQ(r.out.find("us-"), std::string::npos) << r;
  r = complete({"get", "fw", "-n", "sh"});
  EXPECT_EQ(r.out, "shop\n") << r;
  r = complete({"get", "fw", "--sel"});
  EXPECT_EQ(r.out, "--selector\n") << r;
  // Files after -f (the test's temp dir holds "empty").
  r = complete({"apply", "-f", "emp"});
  EXPECT_EQ(r.out, "empty\n") << r;
}

}  // namespace
}  // namespace meridian::cli
