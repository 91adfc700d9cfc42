// Encryption at rest, end to end: the real federation-apiserver on SQLite with
// --encryption-provider-config. A member credential created then deleted leaves neither its
// token nor the token's base64 anywhere in the database, its WAL or its shared-memory file;
// a watch from before it never replays it; rotating keys (new key first, `fedctl admin
// rewrite-secrets`, old key dropped) keeps every Secret readable; bad configurations and a
// missing key stop startup naming the file.
#include <gtest/gtest.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/base64.h"
#include "test/common/child_process.h"
#include "test/common/test_env.h"
#include "test/federation-apiserver/apiserver_process.h"

namespace meridian::apiserver {
namespace {

using nlohmann::json;

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
  return out;
}

std::string RandomHex(size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : RandomBytes(n)) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// An EncryptionConfiguration with these aesgcm keys ({name, base64 secret}), then identity.
std::string Config(const std::vector<std::pair<std::string, std::string>>& keys,
                   bool identity = true) {
  std::string text =
      "apiVersion: apiserver.config.k8s.io/v1\n"
      "kind: EncryptionConfiguration\n"
      "resources:\n"
      "  - resources: [secrets]\n"
      "    providers:\n"
      "      - aesgcm:\n"
      "          keys:\n";
  for (const auto& [name, secret] : keys) {
    text += "            - name: " + name + "\n              secret: " + secret + "\n";
  }
  if (identity) text += "      - identity: {}\n";
  return text;
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), 0600);
}

// How many times `needle` occurs in the raw bytes of `path` (0 when the file is absent):
// what `grep -c` would find, without its one-count-per-line rule.
int Occurrences(const std::filesystem::path& path, const std::string& needle) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return 0;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  int n = 0;
  for (size_t at = bytes.find(needle); at != std::string::npos; at = bytes.find(needle, at + 1))
    ++n;
  return n;
}

class EncryptionTest : public ::testing::Test {
 protected:
  std::string Curl(const std::string& args) {
    return test_env::RunCommand("curl -sS --max-time 20 " + args).output;
  }
  json Call(const std::string& method, const std::string& path, const json& body = nullptr) {
    std::string args = "-X " + method + " '" + server_.url() + path + "'";
    if (!body.is_null()) {
      WriteFile(server_.dir() / "body.json", body.dump());
      args += " -H 'Content-Type: application/json' --data-binary @" +
              (server_.dir() / "body.json").string();
    }
    return json::parse(Curl(args), nullptr, false);
  }
  json Secret(const std::string& name, const std::string& token) {
    return {{"apiVersion", "v1"},
            {"kind", "Secret"},
            {"metadata", {{"name", name}, {"namespace", "meridian-system"}}},
            {"data", {{"token", Base64StdEncode(token)}}}};
  }
  std::string StartWith(const std::string& config_text) {
    WriteFile(config_path(), config_text);
    server_.process().Stop();
    return server_.Start({"--encryption-provider-config", config_path().string()});
  }
  std::filesystem::path config_path() { return server_.dir() / "encryption.yaml"; }
  std::filesystem::path db() { return server_.dir() / "federation.db"; }
  int InStore(const std::string& needle) {
    int n = 0;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      n += Occurrences(db().string() + suffix, needle);
    }
    return n;
  }
  // What starting with this configuration prints before exiting (it must not start).
  std::string FailedStart(const std::string& config_text) {
    WriteFile(config_path(), config_text);
    server_.process().Stop();
    test_env::CommandResult r =
        test_env::RunCommand("timeout 20 " + test_env::BinDir() +
                             "/federation-apiserver --listen 127.0.0.1:0 --controllers none " +
                             "--storage sqlite:" + db().string() +
                             " --encryption-provider-config " + config_path().string());
    EXPECT_NE(r.exit_code, 0) << r.output;
    return r.output;
  }

  testing::ApiserverProcess server_;
};

TEST_F(EncryptionTest, ADeletedMemberCredentialLeavesNothingReadableInTheStoreFiles) {
  const std::string key1 = Base64StdEncode(RandomBytes(32));
  ASSERT_EQ(StartWith(Config({{"key1", key1}})), "");
  const std::string token = "member-token-" + RandomHex(24);
  const std::string b64 = Base64StdEncode(token);
  const std::string before =
      Call("GET", "/api/v1/namespaces/meridian-system/secrets")["metadata"]["resourceVersion"];

  json created = Call("POST", "/api/v1/namespaces/meridian-system/secrets",
                      Secret("eu-west-1-credentials", token));
  ASSERT_EQ(created["data"]["token"], b64) << created.dump();
  json got = Call("GET", "/api/v1/namespaces/meridian-system/secrets/eu-west-1-credentials");
  EXPECT_EQ(got["data"]["token"], b64);
  EXPECT_EQ(InStore(token), 0);
  EXPECT_EQ(InStore(b64), 0);

  Call("DELETE", "/api/v1/namespaces/meridian-system/secrets/eu-west-1-credentials");
  ASSERT_EQ(Call("GET", "/api/v1/namespaces/meridian-system/secrets/eu-west-1-credentials")["code"],
            404);
  // While running (the WAL holds the recent pages) and after a clean stop.
  EXPECT_EQ(InStore(token), 0);
  EXPECT_EQ(InStore(b64), 0);

  // A watch from before the credential existed sees it come and go, without its data.
  std::string stream =
      Curl("'" + server_.url() +
           "/api/v1/namespaces/meridian-system/secrets?watch=1&resourceVersion=" + before +
           "&timeoutSeconds=1'");
  EXPECT_NE(stream.find("\"ADDED\""), std::string::npos) << stream;
  EXPECT_NE(stream.find("\"DELETED\""), std::string::npos) << stream;
  EXPECT_EQ(stream.find(b64), std::string::npos) << stream;

  server_.process().Stop();
  EXPECT_EQ(InStore(token), 0);
  EXPECT_EQ(InStore(b64), 0);
  EXPECT_GT(Occurrences(db(), "k8s:enc:aesgcm:v1:key1:"), 0) << "the history holds ciphertext";
}

TEST_F(EncryptionTest, RotationKeepsEverySecretReadable) {
  const std::string key1 = Base64StdEncode(RandomBytes(32));
  const std::string key2 = Base64StdEncode(RandomBytes(16));  // AES-128 also works
  // Written before encryption (identity), then under key1.
  ASSERT_EQ(server_.Start(), "");
  ASSERT_EQ(
      Call("POST", "/api/v1/namespaces/meridian-system/secrets", Secret("plain", "p-tok"))["kind"],
      "Secret");
  ASSERT_EQ(StartWith(Config({{"key1", key1}})), "");
  ASSERT_EQ(
      Call("POST", "/api/v1/namespaces/meridian-system/secrets", Secret("one", "o-tok"))["kind"],
      "Secret");
  ASSERT_GT(InStore(Base64StdEncode("p-tok")), 0) << "written in plaintext before encryption";

  // key2 first: both still read; rewrite-secrets moves both to key2.
  ASSERT_EQ(StartWith(Config({{"key2", key2}, {"key1", key1}})), "");
  for (const auto& [name, tok] : {std::pair{"plain", "p-tok"}, std::pair{"one", "o-tok"}}) {
    EXPECT_EQ(Call("GET", std::string("/api/v1/namespaces/meridian-system/secrets/") +
                              name)["data"]["token"],
              Base64StdEncode(tok));
  }
  test_env::CommandResult rewrite = test_env::RunCommand(test_env::BinDir() + "/fedctl --server " +
                                                         server_.url() + " admin rewrite-secrets");
  ASSERT_EQ(rewrite.exit_code, 0) << rewrite.output;
  EXPECT_NE(rewrite.output.find("rewrote 2 secrets"), std::string::npos) << rewrite.output;

  // Only key2 left, no identity: everything still reads.
  ASSERT_EQ(StartWith(Config({{"key2", key2}}, /*identity=*/false)), "");
  for (const auto& [name, tok] : {std::pair{"plain", "p-tok"}, std::pair{"one", "o-tok"}}) {
    EXPECT_EQ(Call("GET", std::string("/api/v1/namespaces/meridian-system/secrets/") +
                              name)["data"]["token"],
              Base64StdEncode(tok));
  }

  // A key file missing the key in use stops startup, naming the file and the key it needs.
  const std::string out = FailedStart(Config({{"key3", key1}}, false));
  EXPECT_NE(out.find(config_path().string()), std::string::npos) << out;
  EXPECT_NE(out.find("key2"), std::string::npos) << out;
  // So does the right name with the wrong key bytes.
  const std::string wrong = FailedStart(Config({{"key2", key1}}, false));
  EXPECT_NE(wrong.find(config_path().string()), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("does not decrypt"), std::string::npos) << wrong;
}

// Secrets written before encryption was turned on: `fedctl admin rewrite-secrets` stores them
// encrypted, and the storage compaction then removes the plaintext from the revision log, so
// within two compaction intervals nothing readable is left in the store's files.
TEST_F(EncryptionTest, PlaintextFromBeforeEncryptionIsGoneAfterRewriteAndCompaction) {
  const std::string key1 = Base64StdEncode(RandomBytes(32));
  const std::string token = "early-token-" + RandomHex(24);
  const std::string b64 = Base64StdEncode(token);
  ASSERT_EQ(server_.Start({"--storage-compaction-interval", "0.2"}), "");
  ASSERT_EQ(
      Call("POST", "/api/v1/namespaces/meridian-system/secrets", Secret("early", token))["kind"],
      "Secret");
  server_.process().Stop();
  ASSERT_GT(InStore(b64), 0) << "written in plaintext before encryption";

  WriteFile(config_path(), Config({{"key1", key1}}));
  ASSERT_EQ(server_.Start({"--encryption-provider-config", config_path().string(),
                           "--storage-compaction-interval", "0.2"}),
            "");
  test_env::CommandResult rewrite = test_env::RunCommand(test_env::BinDir() + "/fedctl --server " +
                                                         server_.url() + " admin rewrite-secrets");
  ASSERT_EQ(rewrite.exit_code, 0) << rewrite.output;
  // Two intervals after the rewrite at most; polled rather than slept.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((InStore(b64) > 0 || InStore(token) > 0) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(InStore(b64), 0);
  EXPECT_EQ(InStore(token), 0);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/meridian-system/secrets/early")["data"]["token"], b64);
  server_.process().Stop();
  EXPECT_EQ(InStore(b64), 0);
  EXPECT_EQ(InStore(token), 0);
}

TEST_F(EncryptionTest, BadConfigurationsStopStartupNamingFileAndField) {
  struct Case {
    std::string config, field;
  } cases[] = {
      {Config({{"k", Base64StdEncode(RandomBytes(20))}}),
       "resources[0].providers[0].aesgcm.keys[0].secret: key is 20 bytes"},
      {Config({{"k", "'%%%-not-base64'"}}),
       "resources[0].providers[0].aesgcm.keys[0].secret: not valid base64"},
      {"apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
       "  - resources: [secrets]\n    providers:\n      - aescbc: {keys: []}\n",
       "resources[0].providers[0].aescbc: provider not supported"},
      {"apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
       "  - resources: [secrets]\n    providers:\n      - rot13: {}\n",
       "resources[0].providers[0].rot13: unknown provider"},
      {"apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfig\nresources: []\n", "kind:"},
  };
  for (const Case& c : cases) {
    const std::string out = FailedStart(c.config);
    EXPECT_NE(out.find(config_path().string() + ": " + c.field), std::string::npos) << out;
  }
  std::filesystem::remove(config_path());
  test_env::CommandResult missing = test_env::RunCommand(
      "timeout 20 " + test_env::BinDir() +
      "/federation-apiserver --listen 127.0.0.1:0 --storage sqlite:" + db().string() +
      " --encryption-provider-config " + config_path().string());
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find(config_path().string() + ": cannot be read"), std::string::npos)
      << missing.output;
}

}  // namespace
}  // namespace meridian::apiserver
