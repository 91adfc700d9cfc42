// federation-apiserver --storage etcd: two real replicas on one real etcd member share their
// objects, and an unreachable etcd is a clear startup error (exit 1 with the reason).
#include <gtest/gtest.h>

#include <string>

#include "test/common/child_process.h"
#include "test/common/etcd_cluster.h"
#include "test/common/test_env.h"

namespace meridian::apiserver {
namespace {

using test_env::RunCommand;

class Replica {
 public:
  // Starts a replica with --controllers none on `storage`; "" or an error.
  std::string Start(const std::string& storage) {
    std::string error;
    if (!process_.Start({test_env::BinDir() + "/federation-apiserver", "--listen", "127.0.0.1:0",
                         "--storage", storage, "--log-level", "warn", "--controllers", "none"},
                        &error)) {
      return error;
    }
    url_ = process_.WaitForLine("federation-apiserver listening on ", std::chrono::seconds(30),
                                &error);
    return url_.empty() ? error : "";
  }
  const std::string& url() const { return url_; }

 private:
  test_env::ChildProcess process_;
  std::string url_;
};

TEST(EtcdStorageTest, TwoReplicasOnOneEtcdSeeEachOthersWrites) {
  test_env::EtcdCluster etcd;
  std::string error;
  ASSERT_TRUE(etcd.Start(1, &error)) << error;
  const std::string storage = "etcd:" + etcd.ClientUrl(0);
  Replica a, b;
  ASSERT_EQ(a.Start(storage), "");
  ASSERT_EQ(b.Start(storage), "");

  test_env::CommandResult created = RunCommand(
      "curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d "
      "'{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"shared\"}}' " +
      a.url() + "/api/v1/namespaces");
  EXPECT_EQ(created.output, "201");
  test_env::CommandResult got =
      RunCommand("curl -s -w ' %{http_code}' " + b.url() + "/api/v1/namespaces/shared");
  EXPECT_NE(got.output.find("\"name\":\"shared\""), std::string::npos) << got.output;
  EXPECT_NE(got.output.find(" 200"), std::string::npos) << got.output;
  // The second replica found the built-in namespaces the first one created (no conflict).
  test_env::CommandResult system = RunCommand("curl -s -o /dev/null -w '%{http_code}' " + b.url() +
                                              "/api/v1/namespaces/meridian-system");
  EXPECT_EQ(system.output, "200");
}

TEST(EtcdStorageTest, AnUnreachableEtcdIsAClearStartupError) {
  const std::string url = "http://127.0.0.1:" + std::to_string(test_env::PickFreeLoopbackPort());
  test_env::CommandResult r = RunCommand("timeout 30 " + test_env::BinDir() +
                                         "/federation-apiserver --listen 127.0.0.1:0 "
                                         "--controllers none --storage etcd:" +
                                         url);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--storage: etcd unreachable"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(url), std::string::npos) << r.output;
}

}  // namespace
}  // namespace meridian::apiserver
