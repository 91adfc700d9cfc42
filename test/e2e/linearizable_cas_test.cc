// Jepsen-style check of the API's compare-and-swap under kill -9 (issue 13), with the real
// binaries on loopback: a 3-member etcd cluster and two federation-apiservers on it. Four
// clients read and compare-and-swap three registers (Secrets default/reg-N, the value in an
// annotation) through both replicas: a CAS is a PUT whose metadata.resourceVersion is the one
// the client last read (every write stores a value never written before, so "the
// resourceVersion did not change" is "the value is still the one read"). Meanwhile the test
// kills -9 one etcd member and one API replica, and brings both back.
//
// Every operation is recorded with invocation and completion times from one counter; one
// without an answer (transport error, 5xx, 504) is "unknown": it may or may not have taken
// effect. Each register's history must be linearizable (test/common/linearizability.h).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli/client.h"
#include "cli/kinds.h"
#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/etcd_cluster.h"
#include "test/common/linearizability.h"
#include "test/common/test_env.h"

namespace meridian {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using test_env::LinearizabilityResult;
using test_env::RegisterOp;

constexpr int kRegisters = 3;
constexpr int kClients = 4;
constexpr int kOpsPerClient = 45;  // keeps each register's history small (about 60)
constexpr char kAnnotation[] = "meridian.io/register";

std::string RegisterName(int r) { return "reg-" + std::to_string(r); }

json RegisterObject(int r, int64_t value) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", RegisterName(r)},
            {"namespace", "default"},
            {"annotations", {{kAnnotation, std::to_string(value)}}}}},
          {"type", "Opaque"}};
}

int64_t ValueOf(const json& object) {
  return std::stoll(object["metadata"]["annotations"].value(kAnnotation, "-1"));
}

class LinearizableCasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("meridian-linearizable-cas-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    for (auto& api : apis_) api.Stop();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  void StartApi(int i) {
    std::string error;
    ASSERT_TRUE(apis_[i].Start({test_env::BinDir() + "/federation-apiserver", "--listen",
                                "127.0.0.1:" + std::to_string(api_ports_[i]), "--storage", storage_,
                                "--controllers", "none", "--log-level", "warn"},
                               &error, (dir_ / ("api-" + std::to_string(i) + ".err")).string()))
        << error;
    ASSERT_FALSE(
        apis_[i]
            .WaitForLine("federation-apiserver listening on ", std::chrono::seconds(30), &error)
            .empty())
        << error;
    apis_[i].CopyOutputTo((dir_ / ("api-" + std::to_string(i) + ".log")).string());
  }
  std::string ApiUrl(int i) const { return "http://127.0.0.1:" + std::to_string(api_ports_[i]); }

  // One client: `kOpsPerClient` operations on random registers through replica `home` (the
  // other when home does not answer). A CAS needs a value read first; a client that has
  // none for the register reads it.
  void Client(int id, int home, std::atomic<int64_t>* clock,
              std::vector<std::pair<int, RegisterOp>>* out) {
    std::mt19937 rng(77 + id);
    const cli::KindInfo& secrets = *cli::ResolveType("secret");
    auto client_for = [&](int replica) {
      cli::ClientOptions o;
      o.server = ApiUrl(replica);
      o.timeout = milliseconds(5000);
      return std::move(cli::HttpClient::Create(o)).value();
    };
    std::unique_ptr<cli::HttpClient> clients[2] = {client_for(0), client_for(1)};
    int use = home;
    std::map<int, std::pair<int64_t, std::string>> seen;  // register -> (value, resourceVersion)
    for (int n = 0; n < kOpsPerClient; ++n) {
      const int r = static_cast<int>(rng() % kRegisters);
      RegisterOp op;
      op.client = id;
      const bool cas = seen.count(r) && rng() % 2 == 0;
      if (!cas) {
        op.kind = RegisterOp::Kind::kRead;
        op.invoked = ++*clock;
        auto got = clients[use]->Get(secrets, "default", RegisterName(r));
        op.completed = ++*clock;
        if (got.ok()) {
          op.value = ValueOf(*got);
          seen[r] = {op.value, (*got)["metadata"].value("resourceVersion", "")};
        } else {
          op.outcome = RegisterOp::Outcome::kUnknown;
          if (cli::IsTransportError(got.error())) use = 1 - use;
        }
      } else {
        op.kind = RegisterOp::Kind::kCas;
        op.expected = seen[r].first;
        op.value = (int64_t{id} + 1) * 1'000'000 + n;  // never written before
        json body = RegisterObject(r, op.value);
        body["metadata"]["resourceVersion"] = seen[r].second;
        op.invoked = ++*clock;
        auto put = clients[use]->Update(secrets, "default", RegisterName(r), body);
        op.completed = ++*clock;
        seen.erase(r);  // read again before the next CAS
        if (put.ok()) {
          op.outcome = RegisterOp::Outcome::kOk;
        } else if (put.error().code == 409) {
          op.outcome = RegisterOp::Outcome::kFailed;
        } else {
          op.outcome = RegisterOp::Outcome::kUnknown;
          if (cli::IsTransportError(put.error())) use = 1 - use;
          if (put.error().code != 0 && put.error().code < 500) {
            ADD_FAILURE() << "client " << id << ": PUT " << RegisterName(r) << ": "
                          << put.error().code << " " << put.error().message;
          }
        }
      }
      out->push_back({r, op});
      std::this_thread::sleep_for(milliseconds(40 + rng() % 40));
    }
  }

  std::filesystem::path dir_;
  test_env::EtcdCluster etcd_;
  std::string storage_;
  test_env::ChildProcess apis_[2];
  int api_ports_[2] = {0, 0};
};

TEST_F(LinearizableCasTest, CasHistoriesStayLinearizableWhileAnEtcdMemberAndAReplicaDie) {
  std::string error;
  ASSERT_TRUE(etcd_.Start(3, &error)) << error;
  storage_ = "etcd:";
  for (const std::string& url : etcd_.ClientUrls()) {
    storage_ += (storage_.size() > 5 ? "," : "") + url;
  }
  for (int i = 0; i < 2; ++i) api_ports_[i] = test_env::FreeLoopbackPort();
  ASSERT_NO_FATAL_FAILURE(StartApi(0));
  ASSERT_NO_FATAL_FAILURE(StartApi(1));
  {
    cli::ClientOptions o;
    o.server = ApiUrl(0);
    auto admin = std::move(cli::HttpClient::Create(o)).value();
    for (int r = 0; r < kRegisters; ++r) {
      auto created = admin->Create(*cli::ResolveType("secret"), "default", RegisterObject(r, 0));
      ASSERT_TRUE(created.ok()) << created.error().message;
    }
  }

  std::atomic<int64_t> clock{0};
  std::vector<std::pair<int, RegisterOp>> histories[kClients];
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] { Client(c, c % 2, &clock, &histories[c]); });
  }
  // Mid-run: kill -9 an etcd member (quorum stays), then an API replica; both come back.
  std::this_thread::sleep_for(milliseconds(800));
  etcd_.Kill(2);
  std::this_thread::sleep_for(milliseconds(800));
  apis_[0].Kill(SIGKILL);
  std::this_thread::sleep_for(milliseconds(800));
  ASSERT_TRUE(etcd_.Restart(2, &error)) << error;
  ASSERT_NO_FATAL_FAILURE(StartApi(0));
  for (auto& t : clients) t.join();

  // Each register on its own (linearizability is compositional).
  std::map<int, std::vector<RegisterOp>> per_register;
  int cas_ok = 0, cas_failed = 0, unknown = 0;
  for (const auto& h : histories) {
    for (const auto& [r, op] : h) {
      per_register[r].push_back(op);
      if (op.outcome == RegisterOp::Outcome::kUnknown) ++unknown;
      if (op.kind == RegisterOp::Kind::kCas && op.outcome == RegisterOp::Outcome::kOk) ++cas_ok;
      if (op.outcome == RegisterOp::Outcome::kFailed) ++cas_failed;
    }
  }
  std::cout << "history: " << clock.load() / 2 << " operations, " << cas_ok << " successful and "
            << cas_failed << " failed CASes, " << unknown << " unknown" << std::endl;
  EXPECT_GT(cas_ok, 10) << "too few CASes went through to say anything";
  for (const auto& [r, history] : per_register) {
    LinearizabilityResult result = test_env::CheckRegisterHistory(history, 0);
    EXPECT_EQ(result.verdict, LinearizabilityResult::Verdict::kLinearizable)
        << RegisterName(r) << " (" << history.size() << " operations): " << result.explanation;
  }
}

}  // namespace
}  // namespace meridian
