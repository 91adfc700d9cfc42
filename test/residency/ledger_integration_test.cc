// Integration: the evidence ledger through the real federation-apiserver (SQLite store, free
// loopback port) and the real fedctl. The placement controller records the EU workload's
// placement; `fedctl residency verify` passes and `report` shows where it ran; then, with the
// server stopped, one byte of one stored entry is changed, an entry is made malformed, and the
// chain is truncated, each directly in the database: verify names the entry (or the
// truncation) and the report refuses to run. The server's ComplianceReview answers what fedctl
// prints for the same period, and refuses a broken chain too. With a signing key (made by `fedctl
// admin init`), the server seals the chain with a signed checkpoint and compacts it: verify proves
// the rest with the public key only, and finds a wrong key and a changed checkpoint. Skipped when
// the binaries are not built.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/evidence.h"
#include "common/clock.h"
#include "test/common/child_process.h"
#include "test/common/e2e_federation.h"
#include "test/common/test_env.h"

namespace meridian::residency {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class LedgerIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("meridian-ledger-it-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    bin_ = test_env::BinDir();
    if (!fs::exists(bin_ + "/federation-apiserver") || !fs::exists(bin_ + "/fedctl")) {
      GTEST_SKIP() << "federation-apiserver or fedctl is not built";
    }
  }
  void TearDown() override {
    server_.Stop();
    fs::remove_all(dir_);
  }

  void StartServer(const std::string& controllers, std::vector<std::string> extra = {}) {
    std::string error;
    std::vector<std::string> argv = {bin_ + "/federation-apiserver",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--storage",
                                     "sqlite:" + (dir_ / "fed.db").string(),
                                     "--log-level",
                                     "warn",
                                     "--controllers",
                                     controllers};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ASSERT_TRUE(server_.Start(argv, &error, (dir_ / "apiserver.log").string())) << error;
    url_ =
        server_.WaitForLine("federation-apiserver listening on ", std::chrono::seconds(30), &error);
    ASSERT_FALSE(url_.empty()) << error;
  }

  test_env::CommandResult Fedctl(const std::string& args) {
    return test_env::RunCommand(bin_ + "/fedctl --server " + url_ + " " + args + " 2>&1");
  }

  // Runs fedctl until its output holds `wanted` (the real server records evidence in its own
  // time), for at most 20 s; returns the last run.
  test_env::CommandResult FedctlUntil(const std::string& args, const std::string& wanted) {
    test_env::CommandResult r;
    test_env::PollUntil(std::chrono::seconds(20), std::chrono::milliseconds(100), [&] {
      r = Fedctl(args);
      return r.output.find(wanted) != std::string::npos;
    });
    return r;
  }

  // The EU residency example on the three-continents members: the placement controller
  // places payments/ledger and records it in the ledger.
  void ApplyEuResidencyExample() {
    for (const char* file :
         {"examples/three-continents/topology.yaml", "examples/three-continents/members.yaml",
          "examples/eu-residency/residency-policy.yaml", "examples/eu-residency/workload.yaml"}) {
      test_env::CommandResult r = Fedctl("apply -f " + test_env::SourceDir() + "/" + file);
      ASSERT_EQ(r.exit_code, 0) << file << ": " << r.output;
    }
  }

  // Runs `sql` with `text` bound to ?1 against the stopped server's database.
  void Sql(const std::string& sql, const std::string& text = "") {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "fed.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    if (!text.empty()) sqlite3_bind_text(stmt, 1, text.c_str(), -1, SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE) << sqlite3_errmsg(db);
    EXPECT_EQ(sqlite3_changes(db), 1) << sql;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  }

  std::string StoredEntry(uint64_t sequence) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open((dir_ / "fed.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    const std::string sql =
        "SELECT data FROM objects WHERE res = 'residencyevidences' AND name = '" +
        api::EvidenceName(sequence) + "'";
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  // POST a ComplianceReview of the whole ledger in `format` (the server runs without
  // authentication here: AlwaysAllow); the answer or the error Status, parsed.
  json ComplianceReview(const std::string& format) {
    test_env::CommandResult r = test_env::RunCommand(
        "curl -sS -X POST -H 'Content-Type: application/json' -d "
        "'{\"kind\":\"ComplianceReview\",\"spec\":{\"format\":\"" +
        format + "\"}}' " + url_ + "/apis/federation.meridian.io/v1alpha1/compliancereviews");
    json out = json::parse(r.output, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(out.is_discarded()) << r.output;
    return out;
  }

  void SetEntry(uint64_t sequence, const std::string& data) {
    Sql("UPDATE objects SET data = ?1 WHERE res = 'residencyevidences' AND name = '" +
            api::EvidenceName(sequence) + "'",
        data);
  }

  fs::path dir_;
  std::string bin_, url_;
  test_env::ChildProcess server_;
};

TEST_F(LedgerIntegrationTest, VerifyNamesTheChangedEntryAndDetectsTruncation) {
  StartServer("placement");
  ASSERT_NO_FATAL_FAILURE(ApplyEuResidencyExample());
  // The placement controller records the workload's placement (a real process: poll).
  test_env::CommandResult verified = FedctlUntil("residency verify", "verified: ");
  ASSERT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("Residency evidence verified: 1 entry"), std::string::npos)
      << verified.output;

  test_env::CommandResult report = Fedctl("residency report --since 1h -o json");
  ASSERT_EQ(report.exit_code, 0) << report.output;
  json r = json::parse(report.output);
  ASSERT_EQ(r["workloads"].size(), 1u) << r.dump(2);
  EXPECT_EQ(r["workloads"][0]["workload"], "payments/ledger");
  int64_t replicas = 0;
  for (const json& i : r["workloads"][0]["ran"]) {
    EXPECT_EQ(i["jurisdiction"], "eu") << i;
    EXPECT_TRUE(i["ongoing"].get<bool>());
    replicas += i["maxReplicas"].get<int64_t>();
  }
  EXPECT_EQ(replicas, 12);

  // The server's ComplianceReview answers the file fedctl prints for the same period, byte
  // for byte (the whole ledger up to now when nothing is given).
  // (Once the ledger is a second old: fedctl's --since takes 0s as 24h.)
  json last;
  ASSERT_TRUE(test_env::PollUntil(std::chrono::seconds(5), std::chrono::milliseconds(100), [&] {
    last = ComplianceReview("json");
    return last.value("kind", "") == "ComplianceReview" &&
           last["status"]["from"] != last["status"]["to"];
  })) << last.dump();
  for (const char* format : {"text", "json", "html"}) {
    const json answer = ComplianceReview(format);
    ASSERT_EQ(answer.value("kind", ""), "ComplianceReview") << answer.dump();
    const json& status = answer["status"];
    Timestamp from{}, to{};
    ASSERT_TRUE(ParseRfc3339(status["from"], &from) && ParseRfc3339(status["to"], &to)) << status;
    const int64_t since = std::chrono::duration_cast<std::chrono::seconds>(to - from).count();
    test_env::CommandResult same =
        Fedctl("residency report --since " + std::to_string(since) + "s --until " +
               status["to"].get<std::string>() + " -o " + format);
    ASSERT_EQ(same.exit_code, 0) << same.output;
    EXPECT_EQ(same.output, status["content"].get<std::string>()) << format;
  }
  test_env::CommandResult bad_until = Fedctl("residency report --until yesterday");
  EXPECT_EQ(bad_until.exit_code, 2);
  EXPECT_NE(bad_until.output.find("--until: \"yesterday\" is not an RFC 3339"), std::string::npos)
      << bad_until.output;
  server_.Stop();

  // One byte of entry 1 changed in the store ("eu" -> "uu" in a jurisdiction).
  const std::string original = StoredEntry(1);
  ASSERT_FALSE(original.empty());
  std::string tampered = original;
  const size_t at = tampered.find("\"jurisdiction\":\"eu\"");
  ASSERT_NE(at, std::string::npos) << original;
  tampered[at + std::string("\"jurisdiction\":\"").size()] = 'u';
  SetEntry(1, tampered);
  StartServer("none");
  test_env::CommandResult broken = Fedctl("residency verify");
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.output.find("entry 1 (00000000000000000001): changed"), std::string::npos)
      << broken.output;
  test_env::CommandResult refused = Fedctl("residency report");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.output.find("no report"), std::string::npos) << refused.output;
  // Nor does the server's ComplianceReview: 500 naming the entry.
  const json no_report = ComplianceReview("json");
  EXPECT_EQ(no_report.value("code", 0), 500) << no_report.dump();
  EXPECT_NE(
      no_report.value("message", "").find("no report: entry 1 (00000000000000000001): changed"),
      std::string::npos)
      << no_report.dump();
  server_.Stop();

  // A malformed entry: the entry and the field named.
  json malformed = json::parse(original);
  malformed["spec"]["time"] = "yesterday";
  SetEntry(1, malformed.dump());
  StartServer("none");
  broken = Fedctl("residency verify");
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.output.find("entry 1 (00000000000000000001): malformed: spec.time"),
            std::string::npos)
      << broken.output;
  server_.Stop();

  // Restored, it verifies again; then the last entry removed: truncated.
  SetEntry(1, original);
  Sql("DELETE FROM objects WHERE res = 'residencyevidences' AND name = '" + api::EvidenceName(1) +
      "'");
  StartServer("none");
  broken = Fedctl("residency verify");
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.output.find("the chain is truncated: the head records entry 1"),
            std::string::npos)
      << broken.output;
}

// fedctl reads the list pages as text and hashes each entry over its data's bytes as served
// (the fast path): --verbose counts it. The server serves dump() of what it read from the store,
// so an entry stored with other whitespace is served canonical and still takes it; a flipped
// byte in a stored entry is still found, by the fast path.
TEST_F(LedgerIntegrationTest, VerifyHashesServedBytesAndStillFindsAFlippedByte) {
  StartServer("placement");
  ASSERT_NO_FATAL_FAILURE(ApplyEuResidencyExample());
  test_env::CommandResult verified = FedctlUntil("residency verify --verbose", "verified: ");
  ASSERT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("2 objects in 1 page(s); 1 entries hashed from their served "
                                 "bytes, 1 objects parsed in full"),
            std::string::npos)
      << verified.output;
  server_.Stop();

  // Stored pretty-printed (not canonical): served canonical, so the fast path still applies.
  const std::string original = StoredEntry(1);
  ASSERT_FALSE(original.empty());
  SetEntry(1, json::parse(original).dump(2));
  StartServer("none");
  verified = Fedctl("residency verify --verbose");
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("1 entries hashed from their served bytes"), std::string::npos)
      << verified.output;
  server_.Stop();

  // One byte flipped ("eu" -> "uu"): found, by the fast path.
  std::string tampered = original;
  const size_t at = tampered.find("\"jurisdiction\":\"eu\"");
  ASSERT_NE(at, std::string::npos) << original;
  tampered[at + std::string("\"jurisdiction\":\"").size()] = 'u';
  SetEntry(1, tampered);
  StartServer("none");
  test_env::CommandResult broken = Fedctl("residency verify --verbose");
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.output.find("entry 1 (00000000000000000001): changed"), std::string::npos)
      << broken.output;
  EXPECT_NE(broken.output.find("1 entries hashed from their served bytes"), std::string::npos)
      << broken.output;
}

TEST_F(LedgerIntegrationTest, ACompactedChainVerifiesWithThePublicKeyOnly) {
  for (const char* pki : {"pki", "other"}) {
    test_env::CommandResult init = test_env::RunCommand(
        bin_ + "/fedctl admin init --dir " + (dir_ / pki).string() + " --host localhost 2>&1");
    ASSERT_EQ(init.exit_code, 0) << init.output;
  }
  const std::string key = (dir_ / "pki" / "evidence-signing.key").string();
  const std::string pub = (dir_ / "pki" / "evidence-signing.pub").string();
  const std::string other = (dir_ / "other" / "evidence-signing.pub").string();
  StartServer("placement,evidence-checkpoint",
              {"--evidence-signing-key-file", key, "--evidence-checkpoint-interval", "1s",
               "--evidence-retention", "1s"});
  ASSERT_NO_FATAL_FAILURE(ApplyEuResidencyExample());
  // Entry 1 (the placement), checkpoint 2 a second later, entry 1 compacted a second after
  // that (a real process: poll).
  test_env::CommandResult verified =
      FedctlUntil("residency verify --public-key " + pub, "were compacted");
  ASSERT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("entries 1..1 were compacted: signed checkpoint 2 seals entries "
                                 "1..1"),
            std::string::npos)
      << verified.output;

  test_env::CommandResult nokey = Fedctl("residency verify");
  EXPECT_EQ(nokey.exit_code, 1);
  EXPECT_NE(nokey.output.find("without the evidence public key (--public-key)"), std::string::npos)
      << nokey.output;
  test_env::CommandResult wrong = Fedctl("residency verify --public-key " + other);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.output.find("entry 2 (00000000000000000002): checkpoint: its signature does "
                              "not verify with the public key"),
            std::string::npos)
      << wrong.output;
  // The report still knows where the workload runs, from the checkpoint's state.
  test_env::CommandResult report =
      Fedctl("residency report --since 1h -o json --public-key " + pub);
  ASSERT_EQ(report.exit_code, 0) << report.output;
  json r = json::parse(report.output);
  EXPECT_EQ(r["evidence"]["compacted"]["checkpoint"], 2) << r["evidence"];
  ASSERT_EQ(r["workloads"].size(), 1u) << r.dump(2);
  EXPECT_EQ(r["workloads"][0]["workload"], "payments/ledger");
  server_.Stop();

  // One byte of the checkpoint changed in the store.
  std::string cp = StoredEntry(2);
  const size_t field = cp.find("\"firstTime\":\"");
  ASSERT_NE(field, std::string::npos) << cp;
  const size_t at = field + std::string("\"firstTime\":\"").size();
  cp[at] = cp[at] == '1' ? '2' : '1';
  SetEntry(2, cp);
  StartServer("none");
  test_env::CommandResult broken = Fedctl("residency verify --public-key " + pub);
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.output.find("entry 2 (00000000000000000002): changed"), std::string::npos)
      << broken.output;
}

}  // namespace
}  // namespace meridian::residency
