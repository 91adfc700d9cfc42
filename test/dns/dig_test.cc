// Integration: the real meridian-dns binary on a free loopback port, queried with dig
// (Debian's bind9-dnsutils) as a real client. Skipped with a message when dig is absent.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

extern char** environ;

namespace meridian::dns {
namespace {

constexpr const char* kDig = "/usr/bin/dig";

std::string BinDir() {
  const char* d = std::getenv("MERIDIAN_BIN_DIR");
  return d ? d : "build/bin";
}

// The zone the tests serve: three regions, one name per strategy, a large set.
std::string ZoneYaml(bool eu_healthy) {
  std::string eu = eu_healthy ? "true" : "false";
  std::string big;
  for (int i = 1; i <= 100; ++i) big += "      - {target: 198.18.0." + std::to_string(i) + "}\n";
  return R"(zones:
  - apex: global.example.com
rtt:
  - {from: eu-west, to: us-east, ms: 80}
  - {from: eu-west, to: ap-south, ms: 120}
  - {from: us-east, to: ap-south, ms: 200}
clientRegions:
  - {cidr: 81.0.0.0/8, region: eu-west}
  - {cidr: 3.0.0.0/8, region: us-east}
  - {cidr: 103.0.0.0/8, region: ap-south}
  - {cidr: "2a01::/16", region: eu-west}
defaultRegion: us-east
records:
  - name: web.global.example.com
    strategy: geo
    endpoints:
      - {target: 198.51.100.10, region: eu-west, healthy: )" +
         eu + R"(}
      - {target: 203.0.113.10, region: us-east}
      - {target: 192.0.2.10, region: ap-south}
  - name: shop.global.example.com
    strategy: weighted
    endpoints:
      - {target: 203.0.113.20, region: us-east, weight: 5}
      - {target: 198.51.100.20, region: eu-west, weight: 3}
  - name: api.global.example.com
    strategy: failover
    endpoints:
      - {target: 198.51.100.30, region: eu-west, priority: 0, healthy: )" +
         eu + R"(}
      - {target: 203.0.113.30, region: us-east, priority: 1}
  - name: static.global.example.com
    endpoints:
      - {target: 192.0.2.40}
  - name: resident.global.example.com
    strategy: geo
    jurisdictions: [eu]
    endpoints:
      - {target: 198.51.100.50, region: eu-west, jurisdiction: eu}
      - {target: 203.0.113.50, region: us-east, jurisdiction: us}
  - name: web.global.example.com
    type: AAAA
    strategy: geo
    endpoints:
      - {target: "2001:db8::e", region: eu-west}
      - {target: "2001:db8::a", region: us-east}
  - name: info.global.example.com
    type: TXT
    endpoints:
      - {target: hello}
  - name: big.global.example.com
    endpoints:
)" + big;
}

// A meridian-dns child process; killed (and reaped) by the destructor, also on failure.
class DnsProcess {
 public:
  DnsProcess(const std::string& config) {
    int fds[2];
    if (pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::string bin = BinDir() + "/meridian-dns";
    std::vector<std::string> args = {bin,           "--config",   config, "--listen",
                                     "127.0.0.1:0", "--rrl-rate", "0"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, bin.c_str(), &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
    std::string line = ReadLine();
    std::smatch m;
    if (std::regex_search(line, m, std::regex(R"(listening on 127\.0\.0\.1:(\d+))")))
      port_ = std::stoi(m[1]);
  }
  ~DnsProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status;
      waitpid(pid_, &status, 0);
    }
    if (out_) fclose(out_);
  }
  // The next line the server prints ("" at end of file: the process died).
  std::string ReadLine() {
    char buf[512];
    if (!out_ || !fgets(buf, sizeof(buf), out_)) return "";
    return buf;
  }
  void Signal(int sig) { kill(pid_, sig); }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  int port_ = 0;
};

std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

class DigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("meridian-dns-test-" + std::to_string(getpid())));
    std::filesystem::create_directories(*dir_);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    if (access(kDig, X_OK) != 0)
      GTEST_SKIP() << kDig << " not found: install bind9-dnsutils to run the dig tests";
    config_ =
        (*dir_ /
         (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".yaml"))
            .string();
    WriteConfig(true);
    server_ = std::make_unique<DnsProcess>(config_);
    ASSERT_NE(server_->port(), 0) << "meridian-dns did not report a port";
  }
  void WriteConfig(bool eu_healthy) {
    std::string tmp = config_ + ".tmp";
    std::ofstream(tmp) << ZoneYaml(eu_healthy);
    std::filesystem::rename(tmp, config_);
  }
  std::string Dig(const std::string& args) {
    return RunCommand(std::string(kDig) + " @127.0.0.1 -p " + std::to_string(server_->port()) +
                      " +time=5 +tries=1 " + args);
  }
  std::string Short(const std::string& args) {
    std::string out = Dig(args + " +short");
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  static std::filesystem::path* dir_;
  std::string config_;
  std::unique_ptr<DnsProcess> server_;
};
std::filesystem::path* DigTest::dir_ = nullptr;

TEST_F(DigTest, AnswersPerStrategy) {
  struct Case {
    std::string args;
    std::set<std::string> allowed;  // the +short answer must be one of these
  };
  for (const Case& c : std::vector<Case>{
           {"web.global.example.com +subnet=81.2.3.0/24", {"198.51.100.10"}},
           {"shop.global.example.com", {"203.0.113.20", "198.51.100.20"}},
           {"api.global.example.com", {"198.51.100.30"}},
           {"static.global.example.com", {"192.0.2.40"}},
           {"info.global.example.com TXT", {"\"hello\""}},
           // Residency: US clients still get only the EU endpoint.
           {"resident.global.example.com +subnet=3.4.5.0/24", {"198.51.100.50"}},
           {"web.global.example.com AAAA +subnet=2a01:4f8::/32", {"2001:db8::e"}},
           {"web.global.example.com AAAA +subnet=3.4.5.0/24", {"2001:db8::a"}},
       }) {
    EXPECT_TRUE(c.allowed.count(Short(c.args))) << c.args << " -> " << Short(c.args);
  }
}

TEST_F(DigTest, SubnetsFromThreeContinentsGetTheirNearestRegion) {
  struct Case {
    std::string subnet, answer, ecs_echo;
  };
  std::set<std::string> distinct;
  for (const Case& c :
       std::vector<Case>{{"81.2.3.0/24", "198.51.100.10", "CLIENT-SUBNET: 81.2.3.0/24/8"},
                         {"3.4.5.0/24", "203.0.113.10", "CLIENT-SUBNET: 3.4.5.0/24/8"},
                         {"103.1.2.0/24", "192.0.2.10", "CLIENT-SUBNET: 103.1.2.0/24/8"}}) {
    EXPECT_EQ(Short("web.global.example.com +subnet=" + c.subnet), c.answer) << c.subnet;
    std::string full = Dig("web.global.example.com +subnet=" + c.subnet);
    EXPECT_NE(full.find(c.ecs_echo), std::string::npos) << full;
    EXPECT_NE(full.find("flags: qr aa rd;"), std::string::npos) << "authoritative, no RA: " << full;
    distinct.insert(c.answer);
  }
  EXPECT_EQ(distinct.size(), 3u);
}

TEST_F(DigTest, Tcp) {
  std::string out = Dig("web.global.example.com +tcp +subnet=103.1.2.0/24");
  EXPECT_NE(out.find("(TCP)"), std::string::npos) << out;
  EXPECT_NE(out.find("192.0.2.10"), std::string::npos) << out;
}

TEST_F(DigTest, LargeAnswerTruncatesOverUdpAndSucceedsOverTcp) {
  std::string udp = Dig("big.global.example.com +ignore");
  EXPECT_NE(udp.find("flags: qr aa tc rd;"), std::string::npos) << udp;
  EXPECT_NE(udp.find("ANSWER: 0,"), std::string::npos) << udp;
  std::string fallback = Dig("big.global.example.com");
  EXPECT_NE(fallback.find("Truncated, retrying in TCP mode"), std::string::npos) << fallback;
  EXPECT_NE(fallback.find("ANSWER: 100,"), std::string::npos) << fallback;
  std::string tcp = Dig("big.global.example.com +tcp");
  EXPECT_NE(tcp.find("ANSWER: 100,"), std::string::npos) << tcp;
}

TEST_F(DigTest, StatusCodes) {
  struct Case {
    std::string args, status;
    bool soa_in_authority;
  };
  for (const Case& c : std::vector<Case>{{"www.example.org", "REFUSED", false},
                                         {"example.com", "REFUSED", false},
                                         {"nope.global.example.com", "NXDOMAIN", true},
                                         {"web.global.example.com TXT", "NOERROR", true},
                                         {"global.example.com SOA", "NOERROR", false},
                                         {"WEB.GLOBAL.example.COM", "NOERROR", false}}) {
    std::string out = Dig(c.args);
    EXPECT_NE(out.find("status: " + c.status), std::string::npos) << c.args << "\n" << out;
    EXPECT_EQ(out.find("AUTHORITY SECTION") != std::string::npos, c.soa_in_authority)
        << c.args << "\n"
        << out;
  }
}

TEST_F(DigTest, AKilledRegionLeavesAnswersAfterReload) {
  EXPECT_EQ(Short("web.global.example.com +subnet=81.2.3.0/24"), "198.51.100.10");
  EXPECT_EQ(Short("api.global.example.com"), "198.51.100.30");
  WriteConfig(/*eu_healthy=*/false);
  server_->Signal(SIGHUP);
  std::string line = server_->ReadLine();
  ASSERT_NE(line.find("reloaded generation"), std::string::npos) << line;
  // EU clients now get the nearest healthy region; failover moves to the next priority.
  EXPECT_EQ(Short("web.global.example.com +subnet=81.2.3.0/24"), "203.0.113.10");
  EXPECT_EQ(Short("api.global.example.com"), "203.0.113.30");
  // And back on recovery.
  WriteConfig(/*eu_healthy=*/true);
  server_->Signal(SIGHUP);
  line = server_->ReadLine();
  ASSERT_NE(line.find("reloaded generation"), std::string::npos) << line;
  EXPECT_EQ(Short("web.global.example.com +subnet=81.2.3.0/24"), "198.51.100.10");
}

TEST_F(DigTest, ABadReloadKeepsServingThePreviousData) {
  std::ofstream(config_) << "zones: [\n";
  server_->Signal(SIGHUP);
  // The failure goes to stderr; prove the server is alive and unchanged.
  WriteConfig(true);
  EXPECT_EQ(Short("static.global.example.com"), "192.0.2.40");
}

}  // namespace
}  // namespace meridian::dns
