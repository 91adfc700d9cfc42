// Kubeconfig loading: good files (data and file forms, tokens, contexts) and bad ones (each
// error names the file, the line and the field).
#include "sync/kubeconfig.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace meridian::sync {
namespace {

// base64 of "CA-PEM", "CERT-PEM", "KEY-PEM".
constexpr const char* kCaB64 = "Q0EtUEVN";
constexpr const char* kCertB64 = "Q0VSVC1QRU0=";
constexpr const char* kKeyB64 = "S0VZLVBFTQ==";

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kubeconfig-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string dir_;
};

const char* kGood = R"(apiVersion: v1
kind: Config
current-context: eu
clusters:
- name: eu-cluster
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: Q0EtUEVN
- name: sim
  cluster:
    server: http://127.0.0.1:7000/clusters/us-1
    insecure-skip-tls-verify: true
- name: files
  cluster:
    server: https://files.example:6443
    certificate-authority: ca.pem
users:
- name: eu-admin
  user:
    client-certificate-data: Q0VSVC1QRU0=
    client-key-data: S0VZLVBFTQ==
- name: token-user
  user:
    token: abc.def
- name: file-user
  user:
    tokenFile: token.txt
    client-certificate: certs/client.pem
    client-key: /ABSOLUTE_KEY
contexts:
- name: eu
  context:
    cluster: eu-cluster
    user: eu-admin
    namespace: shop
- name: sim-us
  context:
    cluster: sim
    user: token-user
- name: from-files
  context:
    cluster: files
    user: file-user
- name: anonymous
  context:
    cluster: sim
)";

TEST_F(KubeconfigTest, GoodFile) {
  std::filesystem::create_directories(dir_ + "/certs");
  Write("ca.pem", "CA-FROM-FILE");
  Write("token.txt", "file-token\n");
  Write("certs/client.pem", "CERT-FROM-FILE");
  const std::string key = Write("abs-key.pem", "KEY-FROM-FILE");
  std::string text = kGood;
  text.replace(text.find("/ABSOLUTE_KEY"), 13, key);
  const std::string path = Write("config", text);

  StatusOr<KubeconfigSelection> current = LoadKubeconfig(path, "");
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(current->context, "eu");
  EXPECT_EQ(current->cluster, "eu-cluster");
  EXPECT_EQ(current->user, "eu-admin");
  EXPECT_EQ(current->namespace_, "shop");
  EXPECT_EQ(current->endpoint.name, "eu");
  EXPECT_EQ(current->endpoint.server, "https://10.0.0.1:6443");
  EXPECT_EQ(current->endpoint.credentials.certificate_authority_pem, "CA-PEM");
  EXPECT_EQ(current->endpoint.credentials.client_certificate_pem, "CERT-PEM");
  EXPECT_EQ(current->endpoint.credentials.client_key_pem, "KEY-PEM");
  EXPECT_FALSE(current->endpoint.credentials.insecure_skip_tls_verify);
  EXPECT_TRUE(current->endpoint.credentials.bearer_token.empty());

  StatusOr<KubeconfigSelection> sim = LoadKubeconfig(path, "sim-us");
  ASSERT_TRUE(sim.ok()) << sim.status();
  EXPECT_EQ(sim->endpoint.server, "http://127.0.0.1:7000/clusters/us-1");
  EXPECT_TRUE(sim->endpoint.credentials.insecure_skip_tls_verify);
  EXPECT_EQ(sim->endpoint.credentials.bearer_token, "abc.def");

  StatusOr<KubeconfigSelection> files = LoadKubeconfig(path, "from-files");
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->endpoint.credentials.certificate_authority_pem, "CA-FROM-FILE");
  EXPECT_EQ(files->endpoint.credentials.bearer_token, "file-token");
  EXPECT_EQ(files->endpoint.credentials.client_certificate_pem, "CERT-FROM-FILE");
  EXPECT_EQ(files->endpoint.credentials.client_key_pem, "KEY-FROM-FILE");

  StatusOr<KubeconfigSelection> anon = LoadKubeconfig(path, "anonymous");
  ASSERT_TRUE(anon.ok()) << anon.status();
  EXPECT_EQ(anon->user, "");
  EXPECT_TRUE(anon->endpoint.credentials.bearer_token.empty());

  StatusOr<std::vector<std::string>> contexts = KubeconfigContexts(path);
  ASSERT_TRUE(contexts.ok());
  EXPECT_EQ(*contexts, (std::vector<std::string>{"eu", "sim-us", "from-files", "anonymous"}));
}

// A minimal valid kubeconfig with one replaceable part per test case.
std::string Config(const std::string& cluster_extra, const std::string& user_extra,
                   const std::string& context = "c") {
  return "current-context: " + context +
         "\n"
         "clusters:\n"
         "- name: k\n"
         "  cluster:\n"
         "    server: https://1.2.3.4:6443\n" +
         cluster_extra +
         "users:\n"
         "- name: u\n"
         "  user:\n"
         "    token: t\n" +
         user_extra +
         "contexts:\n"
         "- name: c\n"
         "  context:\n"
         "    cluster: k\n"
         "    user: u\n";
}

TEST_F(KubeconfigTest, BadFiles) {
  struct Case {
    std::string name;
    std::string text;
    std::string context;
    StatusCode code;
    std::vector<std::string> message_has;
  };
  const std::vector<Case> cases = {
      {"yaml", "clusters: [\n", "", StatusCode::kInvalidArgument, {"invalid YAML", ":"}},
      // common/yaml_reader.h: what stalls yaml-cpp's parser (fuzz_yaml), an alias cycle, and
      // content after the one document.
      {"parser-stall", "clusters: []\n---\n,\n", "", StatusCode::kInvalidArgument,
       {":3: invalid YAML", "cannot continue here"}},
      {"alias-cycle", "clusters: &c [*c]\n", "", StatusCode::kInvalidArgument, {"a cycle"}},
      {"second-document", "clusters: []\n---\nusers: []\n", "", StatusCode::kInvalidArgument,
       {":2: invalid YAML", "holds one document"}},
      {"not-a-map", "- a\n- b\n", "", StatusCode::kInvalidArgument, {"expected a mapping"}},
      {"no-current", "clusters: []\n", "", StatusCode::kInvalidArgument, {"current-context"}},
      {"missing-context", Config("", ""), "nope", StatusCode::kNotFound,
       {"contexts", "no entry named \"nope\""}},
      {"bad-base64", Config("    certificate-authority-data: '***'\n", ""), "",
       StatusCode::kInvalidArgument,
       {":6:", "clusters[0].cluster.certificate-authority-data", "not valid base64"}},
      {"both-ca", Config(std::string("    certificate-authority-data: ") + kCaB64 +
                             "\n    certificate-authority: x.pem\n",
                         ""),
       "", StatusCode::kInvalidArgument, {"clusters[0].cluster.certificate-authority", "both"}},
      {"missing-ca-file", Config("    certificate-authority: missing.pem\n", ""), "",
       StatusCode::kInvalidArgument, {"clusters[0].cluster.certificate-authority", "missing.pem"}},
      {"bad-server", "current-context: c\nclusters:\n- name: k\n  cluster:\n    server: 1.2.3.4\n"
                     "contexts:\n- name: c\n  context:\n    cluster: k\n",
       "", StatusCode::kInvalidArgument, {":5:", "clusters[0].cluster.server", "scheme"}},
      {"no-server", "current-context: c\nclusters:\n- name: k\n  cluster: {}\n"
                    "contexts:\n- name: c\n  context:\n    cluster: k\n",
       "", StatusCode::kInvalidArgument, {"clusters[0].cluster.server", "required"}},
      {"bad-bool", Config("    insecure-skip-tls-verify: maybe\n", ""), "",
       StatusCode::kInvalidArgument, {"clusters[0].cluster.insecure-skip-tls-verify"}},
      {"exec", Config("", "    exec:\n      command: aws\n"), "", StatusCode::kInvalidArgument,
       {"users[0].user.exec", "not supported"}},
      {"cert-without-key", Config("", std::string("    client-certificate-data: ") + kCertB64 + "\n"),
       "", StatusCode::kInvalidArgument, {"users[0].user.client-key", "needs a client key"}},
      {"key-without-cert", Config("", std::string("    client-key-data: ") + kKeyB64 + "\n"), "",
       StatusCode::kInvalidArgument, {"users[0].user.client-certificate"}},
      {"token-and-file", Config("", "    tokenFile: t.txt\n"), "", StatusCode::kInvalidArgument,
       {"users[0].user.tokenFile", "both"}},
      {"missing-user", "current-context: c\nclusters:\n- name: k\n  cluster:\n    server: https://x\n"
                       "contexts:\n- name: c\n  context:\n    cluster: k\n    user: ghost\n",
       "", StatusCode::kNotFound, {"users", "ghost"}},
      {"server-not-string", "current-context: c\nclusters:\n- name: k\n  cluster:\n    server: [a]\n"
                            "contexts:\n- name: c\n  context:\n    cluster: k\n",
       "", StatusCode::kInvalidArgument, {"clusters[0].cluster.server", "must be a string"}},
  };
  for (const Case& c : cases) {
    const std::string path = Write(c.name + ".yaml", c.text);
    StatusOr<KubeconfigSelection> s = LoadKubeconfig(path, c.context);
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.status().code(), c.code) << c.name << ": " << s.status();
    EXPECT_NE(s.status().message().find(path), std::string::npos) << c.name << ": " << s.status();
    for (const std::string& part : c.message_has) {
      EXPECT_NE(s.status().message().find(part), std::string::npos)
          << c.name << ": wanted \"" << part << "\" in " << s.status();
    }
  }
}

TEST_F(KubeconfigTest, MissingFile) {
  StatusOr<KubeconfigSelection> s = LoadKubeconfig(dir_ + "/nope", "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_NE(s.status().message().find(dir_ + "/nope"), std::string::npos);
}

TEST_F(KubeconfigTest, EmptyTokenFile) {
  Write("empty-token", "\n");
  const std::string path = Write("c.yaml", "current-context: c\nclusters:\n- name: k\n  cluster:\n"
                                           "    server: https://x\nusers:\n- name: u\n  user:\n"
                                           "    tokenFile: empty-token\ncontexts:\n- name: c\n"
                                           "  context:\n    cluster: k\n    user: u\n");
  StatusOr<KubeconfigSelection> s = LoadKubeconfig(path, "");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("users[0].user.tokenFile"), std::string::npos) << s.status();
}

// $KUBECONFIG merging as kubectl does: first file wins per name, first current-context,
// relative paths resolved against the defining file's folder, missing files skipped.
TEST_F(KubeconfigTest, MergedFilesFirstWinsPerNameAndOverridesApply) {
  std::filesystem::create_directories(dir_ + "/a");
  std::ofstream(dir_ + "/a/ca.pem") << "CA-FROM-A";
  const std::string a = Write("a/config", R"(current-context: fed
clusters:
- name: fed
  cluster: {server: "https://fed.example:8443", certificate-authority: ca.pem}
users:
- name: admin
  user: {token: admin-token}
contexts:
- name: fed
  context: {cluster: fed, user: admin}
)");
  const std::string b = Write("b.yaml", R"(current-context: other
clusters:
- name: fed
  cluster: {server: "https://ignored.example"}
- name: other
  cluster: {server: "https://other.example"}
users:
- name: admin
  user: {token: ignored}
- name: viewer
  user: {token: viewer-token}
contexts:
- name: other
  context: {cluster: other, user: viewer, namespace: shop}
)");
  struct Case {
    std::vector<std::string> paths;
    KubeconfigOverrides overrides;
    std::string server, token, ca;
  } cases[] = {
      {{a, b}, {}, "https://fed.example:8443", "admin-token", "CA-FROM-A"},
      {{b, a}, {}, "https://other.example", "viewer-token", ""},
      {{dir_ + "/missing", a, b},
       {.context = "other"},
       "https://other.example",
       "viewer-token",
       ""},
      {{a, b}, {.user = "viewer"}, "https://fed.example:8443", "viewer-token", "CA-FROM-A"},
      {{a, b},
       {.context = "other", .cluster = "fed"},
       "https://fed.example:8443",
       "viewer-token",
       "CA-FROM-A"},
  };
  for (const Case& c : cases) {
    StatusOr<KubeconfigSelection> s = LoadMergedKubeconfig(c.paths, c.overrides);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->endpoint.server, c.server);
    EXPECT_EQ(s->endpoint.credentials.bearer_token, c.token);
    EXPECT_EQ(s->endpoint.credentials.certificate_authority_pem, c.ca);
  }
}

TEST_F(KubeconfigTest, MergedFilesErrorsNameTheFilesAndField) {
  const std::string a =
      Write("a.yaml", "current-context: x\ncontexts:\n- name: x\n  context: {}\n");
  const std::string bad = Write("bad.yaml", "users: 7\n");
  StatusOr<KubeconfigSelection> s = LoadMergedKubeconfig({a, bad}, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "kubeconfig " + bad + ":1: users: must be a list");
  s = LoadMergedKubeconfig({a, Write("b.yaml", "clusters: []\n")}, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(),
            "kubeconfig " + a + ":" + dir_ + "/b.yaml: contexts[0].context.cluster: required");
  s = LoadMergedKubeconfig({dir_ + "/nope"}, {});
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(s.status().message(), "kubeconfig " + dir_ + "/nope: no such file");
}

}  // namespace
}  // namespace meridian::sync
