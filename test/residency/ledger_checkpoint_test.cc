// Signed checkpoints and compaction of the residency evidence ledger: the pure verifier over a
// compacted chain and every way of tampering with it (one byte in an entry, in a checkpoint, a
// forged checkpoint, a wrong key, entries removed without a checkpoint, the checkpoint removed,
// truncation), Ed25519 keys, and the checkpointer through the API with the FakeClock (when it
// seals, what retention deletes, what admission lets be deleted).
#include <gtest/gtest.h>

#include <functional>

#include "residency/ledger.h"
#include "residency/ledger_checkpoint.h"
#include "residency/ledger_signing.h"
#include "residency/ledger_writer.h"
#include "test/common/in_process_federation.h"

namespace meridian::residency {
namespace {

using nlohmann::json;

const Timestamp kT0 = Timestamp{} + std::chrono::seconds(1'796'000'000);

const EvidenceSigningKey& Key() {
  static const EvidenceSigningKey key = *EvidenceSigningKey::Generate();
  return key;
}

json PlacementData(int i) {
  return {{"workload", "payments/ledger"},
          {"clusters",
           json::array({{{"cluster", "eu-west-1"}, {"jurisdiction", "eu"}, {"replicas", i}}})}};
}

// A chain: `before` entries, a checkpoint (signed with `key`), `after` entries, the head last.
std::vector<json> Chain(int before, int after, const EvidenceSigningKey& key = Key()) {
  std::vector<json> objects;
  EvidenceHead head;
  std::string last_time;
  auto add = [&](const EvidenceEntry& e) {
    head = {e.sequence, e.hash, e.type == kCheckpointType ? e.sequence : head.checkpoint};
    last_time = e.time;
    objects.push_back(EvidenceObject(e));
  };
  int i = 0;
  for (; i < before; ++i) {
    add(NextEntry(head, kT0 + std::chrono::seconds(i), "Placement", PlacementData(i)));
  }
  add(NextCheckpoint(head, kT0 + std::chrono::seconds(i), last_time,
                     {{"firstTime", FormatEvidenceTime(kT0)},
                      {"previousCheckpoint", 0},
                      {"state", {{"placements", json::array({PlacementData(i)})},
                                 {"openViolations", json::array()}}}},
                     key));
  for (int j = 0; j < after; ++j) {
    ++i;
    add(NextEntry(head, kT0 + std::chrono::seconds(i), "Placement", PlacementData(i)));
  }
  objects.push_back(HeadObject(head, kT0));
  return objects;
}

// Verifies from the parsed objects and, with a second verifier, from their stored text
// (AddStored): both must find the same thing, word for word.
StatusOr<ChainSummary> VerifyAll(const std::vector<json>& objects,
                                 std::optional<EvidenceVerifyKey> key = Key().public_key()) {
  ChainVerifier v(key), from_text(std::move(key));
  StatusOr<ChainSummary> trees = [&]() -> StatusOr<ChainSummary> {
    for (const json& o : objects) {
      if (Status s = v.Add(o); !s.ok()) return s;
    }
    return v.Finish();
  }();
  StatusOr<ChainSummary> bytes = [&]() -> StatusOr<ChainSummary> {
    for (const json& o : objects) {
      if (Status s = from_text.AddStored(o.dump()); !s.ok()) return s;
    }
    return from_text.Finish();
  }();
  EXPECT_EQ(trees.status().ToString(), bytes.status().ToString());
  if (trees.ok() && bytes.ok()) {
    EXPECT_EQ(trees->entries, bytes->entries);
    EXPECT_EQ(trees->checkpoints, bytes->checkpoints);
    EXPECT_EQ(trees->anchor_checkpoint, bytes->anchor_checkpoint);
    EXPECT_EQ(trees->sealed_first_time, bytes->sealed_first_time);
  }
  return trees;
}

// Compaction as the checkpointer does it: the first `n` stored entries removed.
void Compact(std::vector<json>& c, int n) { c.erase(c.begin(), c.begin() + n); }

TEST(LedgerSigningTest, KeysRoundTripThroughPemAndSign) {
  const EvidenceSigningKey& key = Key();
  StatusOr<EvidenceSigningKey> back = EvidenceSigningKey::FromPem(key.Pem(), "test");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->key_id(), key.key_id());
  EXPECT_EQ(key.key_id().size(), 16u);
  StatusOr<EvidenceVerifyKey> pub = EvidenceVerifyKey::FromPem(key.public_key().Pem(), "test");
  ASSERT_TRUE(pub.ok()) << pub.status();
  const std::string sig = key.Sign("sealed");
  EXPECT_EQ(sig.size(), 128u);
  EXPECT_TRUE(pub->Verify("sealed", sig));
  EXPECT_FALSE(pub->Verify("sealeD", sig));
  EXPECT_FALSE(EvidenceSigningKey::Generate()->public_key().Verify("sealed", sig));
  // The private key file also gives the public key.
  EXPECT_EQ(EvidenceVerifyKey::FromPem(key.Pem(), "test")->key_id(), key.key_id());
}

TEST(LedgerSigningTest, BadKeysAreRefusedNamingTheSource) {
  StatusOr<EvidenceSigningKey> junk = EvidenceSigningKey::FromPem("not a key", "signing key file k");
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.status().message(), "signing key file k: not a PEM private key");
  StatusOr<EvidenceVerifyKey> missing = EvidenceVerifyKey::FromFile("/nonexistent/evidence.pub");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "public key file /nonexistent/evidence.pub: cannot be read");
  // An EC key is a key, but not the algorithm checkpoints use.
  const char* ec =
      "-----BEGIN PRIVATE KEY-----\n"
      "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2\n"
      "OF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r\n"
      "1RTwjmYSi9R/zpBnuQ4EiMnCqfMPWiZqB4QdbAd0E7oH50VpuZ1P087G\n"
      "-----END PRIVATE KEY-----\n";
  StatusOr<EvidenceSigningKey> wrong = EvidenceSigningKey::FromPem(ec, "signing key file k");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message().rfind("signing key file k: not an Ed25519 key", 0), 0u)
      << wrong.status();
}

TEST(LedgerCheckpointTest, ACheckpointSealsTheChainSoFar) {
  std::vector<json> c = Chain(10, 5);
  const json& cp = c[10]["spec"];
  EXPECT_EQ(cp["type"], "Checkpoint");
  EXPECT_EQ(cp["data"]["sealedSequence"], 10);
  EXPECT_EQ(cp["data"]["sealedHash"], c[9]["spec"]["hash"]);
  EXPECT_EQ(cp["previousHash"], c[9]["spec"]["hash"]);
  EXPECT_EQ(cp["data"]["lastTime"], c[9]["spec"]["time"]);
  EXPECT_EQ(cp["data"]["keyId"], Key().key_id());
  EXPECT_EQ(c.back()["spec"]["checkpoint"], 11);
  StatusOr<ChainSummary> s = VerifyAll(c);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->entries, 16u);
  EXPECT_EQ(s->checkpoints, 1u);
  EXPECT_EQ(s->first_sequence, 1u);
  EXPECT_EQ(s->anchor_checkpoint, 0u) << "not compacted: nothing rests on the checkpoint alone";
  // Without the public key an uncompacted chain still verifies by its hashes; the checkpoint
  // is counted as unchecked.
  StatusOr<ChainSummary> unchecked = VerifyAll(c, std::nullopt);
  ASSERT_TRUE(unchecked.ok()) << unchecked.status();
  EXPECT_EQ(unchecked->checkpoints_unchecked, 1u);
}

TEST(LedgerCheckpointTest, ACompactedChainVerifiesFromItsCheckpoint) {
  std::vector<json> c = Chain(10, 5);
  Compact(c, 10);
  StatusOr<ChainSummary> s = VerifyAll(c);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->first_sequence, 11u);
  EXPECT_EQ(s->entries, 6u);
  EXPECT_EQ(s->anchor_checkpoint, 11u);
  EXPECT_EQ(s->sealed_sequence, 10u);
  EXPECT_EQ(s->sealed_first_time, FormatEvidenceTime(kT0));
  EXPECT_EQ(s->sealed_last_time, FormatEvidenceTime(kT0 + std::chrono::seconds(9)));
  EXPECT_EQ(s->key_id, Key().key_id());
  EXPECT_EQ(s->head_sequence, 16u);
  // An interrupted compaction (lowest first) leaves a run that reaches the checkpoint.
  std::vector<json> partial = Chain(10, 5);
  Compact(partial, 4);
  StatusOr<ChainSummary> p = VerifyAll(partial);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->first_sequence, 5u);
  EXPECT_EQ(p->anchor_checkpoint, 11u);
  // Without the public key nothing vouches for the removed entries.
  StatusOr<ChainSummary> nokey = VerifyAll(c, std::nullopt);
  ASSERT_FALSE(nokey.ok());
  EXPECT_EQ(nokey.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(nokey.status().message().find("--public-key"), std::string::npos) << nokey.status();
}

// Each way of tampering with a compacted chain (entries 1..10 sealed by checkpoint 11 and
// removed, 12..16 after it), and the start of the error verify must give.
TEST(LedgerCheckpointTest, TamperingWithACompactedChainIsFound) {
  struct Case {
    std::string name;
    std::function<void(std::vector<json>&)> damage;
    std::string error;
    std::optional<EvidenceVerifyKey> key = Key().public_key();
  };
  // Re-signs nothing: rewrites the checkpoint's data and recomputes its hash and every later
  // link and the head, as a forger without the private key would.
  auto forge_checkpoint = [](std::vector<json>& c) {
    FieldErrors ignored;
    EvidenceEntry cp = api::DecodeResidencyEvidence(c[0], &ignored).spec;
    cp.data["firstTime"] = "2020-01-01T00:00:00.000Z";  // claim a longer history
    cp.hash = EntryHash(cp);
    c[0] = EvidenceObject(cp);
    EvidenceHead head{cp.sequence, cp.hash, cp.sequence};
    for (size_t i = 1; i + 1 < c.size(); ++i) {
      EvidenceEntry e = api::DecodeResidencyEvidence(c[i], &ignored).spec;
      e.previous_hash = head.hash;
      e.hash = EntryHash(e);
      c[i] = EvidenceObject(e);
      head = {e.sequence, e.hash, cp.sequence};
    }
    c.back() = HeadObject(head, kT0);
  };
  const std::vector<Case> cases = {
      {"one byte of an entry after the checkpoint",
       [](std::vector<json>& c) {
         std::string text = c[3].dump();
         text[text.find("eu-west-1")] = 'u';
         c[3] = json::parse(text);
       },
       "entry 14 (00000000000000000014): changed: its content no longer matches its hash"},
      {"one byte of the checkpoint",
       [](std::vector<json>& c) {
         std::string text = c[0].dump();
         const size_t at = text.find("\"signature\":\"") + 13;
         text[at] = text[at] == 'a' ? 'b' : 'a';
         c[0] = json::parse(text);
       },
       "entry 11 (00000000000000000011): changed: its content no longer matches its hash"},
      {"a forged checkpoint (hashes recomputed, signature not)", forge_checkpoint,
       "entry 11 (00000000000000000011): checkpoint: its signature does not verify with the "
       "public key"},
      {"a wrong public key", [](std::vector<json>&) {},
       "entry 11 (00000000000000000011): checkpoint: its signature does not verify with the "
       "public key",
       EvidenceSigningKey::Generate()->public_key()},
      {"the checkpoint removed too", [](std::vector<json>& c) { c.erase(c.begin()); },
       "entry 1 (00000000000000000001) is missing: the chain starts at entry 12 "
       "(00000000000000000012) and no signed checkpoint seals the entries before it"},
      {"an entry after the checkpoint removed", [](std::vector<json>& c) { c.erase(c.begin() + 2); },
       "entry 13 (00000000000000000013) is missing: entry 12 (00000000000000000012) is followed "
       "by entry 14"},
      {"truncated after compaction",
       [](std::vector<json>& c) { c.erase(c.begin() + 3, c.begin() + 6); },
       "the chain is truncated: the head records entry 16 (00000000000000000016) as the last "
       "entry, the last found is entry 13"},
  };
  for (const Case& tc : cases) {
    std::vector<json> c = Chain(10, 5);
    Compact(c, 10);
    tc.damage(c);
    StatusOr<ChainSummary> s = VerifyAll(c, tc.key);
    ASSERT_FALSE(s.ok()) << tc.name;
    EXPECT_EQ(s.status().code(), StatusCode::kDataLoss) << tc.name;
    EXPECT_EQ(s.status().message().rfind(tc.error, 0), 0u)
        << tc.name << "\n  got: " << s.status().message() << "\n want: " << tc.error;
  }
}

TEST(LedgerCheckpointTest, EntriesRemovedWithoutACheckpointAreFound) {
  std::vector<json> c = Chain(10, 5);
  c.erase(c.begin() + 10);  // no checkpoint in the chain at all: 1..10, 12..16
  // (the gap is found first)
  StatusOr<ChainSummary> gap = VerifyAll(c);
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.status().message().rfind("entry 11 (00000000000000000011) is missing", 0), 0u)
      << gap.status();
  std::vector<json> head_cut = Chain(10, 5);
  Compact(head_cut, 5);          // entries 1..5 gone ...
  head_cut.erase(head_cut.begin() + 5);  // ... and the checkpoint that would seal them
  StatusOr<ChainSummary> s = VerifyAll(head_cut);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message().rfind("entry 11 (00000000000000000011) is missing", 0), 0u)
      << s.status();
}

TEST(LedgerCheckpointTest, ACheckpointThatDoesNotSealTheEntryBeforeItIsRefused) {
  std::vector<json> c = Chain(3, 1);
  FieldErrors ignored;
  EvidenceEntry cp = api::DecodeResidencyEvidence(c[3], &ignored).spec;
  cp.data["sealedSequence"] = 2;
  cp.data["signature"] = Key().Sign(CheckpointSigningInput(cp));
  cp.hash = EntryHash(cp);
  EXPECT_EQ(CheckCheckpoint(cp, &Key().public_key()).message(),
            "entry 4 (00000000000000000004): checkpoint: data.sealedSequence must be 3");
}

// ---- Through the API: the checkpointer, retention and admission (FakeClock) ----

class CheckpointerTest : public ::testing::Test {
 protected:
  const apimachinery::ResourceInfo& Info() {
    return federation_.Info(api::kApiVersion, "ResidencyEvidence");
  }
  std::vector<json> Objects() {
    auto list = federation_.objects().List(Info(), "", {});
    EXPECT_TRUE(list.ok());
    return list.value()["items"].get<std::vector<json>>();
  }
  // `n` placement entries, `step` apart.
  void Append(int n, std::chrono::minutes step = std::chrono::minutes(1)) {
    auto ledger = EvidenceLedger::For(federation_.objects(), federation_.clock());
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(ledger->Append("Placement", PlacementData(i)).ok());
      federation_.clock().Advance(step);
    }
  }

  test_env::InProcessFederation federation_{"checkpoint"};
};

TEST_F(CheckpointerTest, SealsOnItsIntervalAndCompactsAfterTheRetention) {
  EvidenceCheckpointOptions options;
  options.interval = std::chrono::hours(1);
  options.retention = std::chrono::hours(3);
  EvidenceCheckpointer cp(federation_.objects(), federation_.clock(), Key(), options);
  EXPECT_EQ(cp.RunOnce()->checkpoint, 0u) << "nothing recorded yet";
  const std::chrono::minutes step(10);
  Append(3, step);  // 30 minutes
  EXPECT_EQ(cp.RunOnce()->checkpoint, 0u) << "the first entry is not an hour old";
  Append(4, step);
  StatusOr<EvidenceCheckpointer::Outcome> first = cp.RunOnce();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->checkpoint, 8u);
  EXPECT_EQ(first->compacted, 0u) << "the checkpoint is younger than the retention";
  EXPECT_EQ(cp.RunOnce()->checkpoint, 0u) << "the chain ends with a checkpoint";
  // Later entries, then time passes: one checkpoint per interval with entries after it.
  Append(20, step);  // 200 minutes
  StatusOr<EvidenceCheckpointer::Outcome> second = cp.RunOnce();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->checkpoint, 29u);
  // Checkpoint 8 is 200 minutes old now (> 3 h): entries 1..7 go; 8 stays as the anchor.
  EXPECT_EQ(second->compacted, 7u);
  std::vector<json> objects = Objects();
  EXPECT_EQ(objects.front()["metadata"]["name"], api::EvidenceName(8));
  ChainVerifier v(Key().public_key());
  for (const json& o : objects) ASSERT_TRUE(v.Add(o).ok()) << v.Add(o);
  StatusOr<ChainSummary> s = v.Finish();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->first_sequence, 8u);
  EXPECT_EQ(s->anchor_checkpoint, 8u);
  EXPECT_EQ(s->sealed_sequence, 7u);
  EXPECT_EQ(s->head_sequence, 29u);
  // The second checkpoint carries the chain's start and the state in force.
  const json& data = objects[29 - 8]["spec"]["data"];
  EXPECT_EQ(data["firstTime"], objects.front()["spec"]["data"]["firstTime"]);
  EXPECT_EQ(data["previousCheckpoint"], 8);
  ASSERT_EQ(data["state"]["placements"].size(), 1u);
  EXPECT_EQ(data["state"]["placements"][0]["workload"], "payments/ledger");
  EXPECT_EQ(data["state"]["placements"][0]["clusters"][0]["replicas"], 19);
  // Appends go on after compaction.
  Append(1);
  EXPECT_EQ(Objects().size(), 29u - 7u + 1u + 1u);
}

TEST_F(CheckpointerTest, AdmissionDeletesOnlyEntriesACheckpointSeals) {
  Append(5);
  auto del = [&](uint64_t n) {
    return federation_.objects().Delete(Info(), "", api::EvidenceName(n));
  };
  auto refused = del(2);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 422);
  EXPECT_NE(refused.error().message.find("can be deleted only once a checkpoint seals it"),
            std::string::npos)
      << refused.error().message;
  EvidenceCheckpointer cp(federation_.objects(), federation_.clock(), Key(), {});
  StatusOr<uint64_t> sealed = cp.CheckpointNow();
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_EQ(*sealed, 6u);
  Append(2);
  auto hole = del(3);
  ASSERT_FALSE(hole.ok()) << "sealed, but not the oldest: a hole in the middle";
  EXPECT_NE(hole.error().message.find("compaction deletes the oldest entry first"),
            std::string::npos)
      << hole.error().message;
  EXPECT_TRUE(del(1).ok());
  EXPECT_FALSE(del(7).ok()) << "after the checkpoint";
  EXPECT_FALSE(del(6).ok()) << "the checkpoint itself";
  EXPECT_FALSE(federation_.objects().Delete(Info(), "", "head").ok());
  // A compaction that finds no checkpoint old enough does nothing.
  EXPECT_EQ(*cp.CompactBefore(federation_.clock().Now() - std::chrono::hours(1)), 0u);
  EXPECT_EQ(*cp.CompactBefore(federation_.clock().Now()), 4u);  // 2..5
}

TEST_F(CheckpointerTest, NeverSealsABrokenChain) {
  Append(3);
  // A malformed entry 4 written around the writer (as a tamperer with store access would).
  EvidenceEntry bad = NextEntry({3, std::string(64, 'a')}, federation_.clock().Now(), "AuditScan",
                                json::object());
  json o = EvidenceObject(bad);
  ASSERT_TRUE(federation_.objects().store().Create(
      apimachinery::ObjectKey{{api::kGroup, "residencyevidences"}, "", api::EvidenceName(4)},
      o).ok());
  EvidenceCheckpointer cp(federation_.objects(), federation_.clock(), Key(), {});
  StatusOr<uint64_t> sealed = cp.CheckpointNow();
  ASSERT_FALSE(sealed.ok());
  EXPECT_EQ(sealed.status().code(), StatusCode::kDataLoss) << sealed.status();
}

}  // namespace
}  // namespace meridian::residency
