// The evidence ledger's pure core: canonical form and hashing, chaining, and verification
// naming the first broken entry (a changed byte, a rewritten entry, a missing entry, a
// truncated chain, a malformed entry).
#include "residency/ledger.h"

#include <gtest/gtest.h>

#include <functional>

namespace meridian::residency {
namespace {

using nlohmann::json;

const Timestamp kT0 = Timestamp{} + std::chrono::seconds(1'796'000'000);

// A chain of `n` entries as stored objects, plus its head object (last element).
std::vector<json> Chain(int n) {
  std::vector<json> objects;
  EvidenceHead head;
  for (int i = 1; i <= n; ++i) {
    EvidenceEntry e = NextEntry(
        head, kT0 + std::chrono::milliseconds(1500 * i), "Placement",
        {{"workload", "payments/ledger"},
         {"clusters",
          json::array({{{"cluster", "eu-west-1"}, {"jurisdiction", "eu"}, {"replicas", i}}})}});
    head = {e.sequence, e.hash};
    objects.push_back(EvidenceObject(e));
  }
  objects.push_back(HeadObject(head, kT0));
  return objects;
}

StatusOr<ChainSummary> VerifyTrees(const std::vector<json>& objects) {
  ChainVerifier v;
  for (const json& o : objects) {
    if (Status s = v.Add(o); !s.ok()) return s;
  }
  return v.Finish();
}

// Verifies the chain from its parsed objects and from their stored text (AddStored): both must
// find the same thing, word for word.
StatusOr<ChainSummary> VerifyAll(const std::vector<json>& objects) {
  StatusOr<ChainSummary> trees = VerifyTrees(objects);
  ChainVerifier v;
  Status stored;
  for (const json& o : objects) {
    if (stored = v.AddStored(o.dump()); !stored.ok()) break;
  }
  StatusOr<ChainSummary> bytes = stored.ok() ? v.Finish() : StatusOr<ChainSummary>(stored);
  EXPECT_EQ(trees.status().ToString(), bytes.status().ToString());
  if (trees.ok() && bytes.ok()) {
    EXPECT_EQ(trees->entries, bytes->entries);
    EXPECT_EQ(trees->head_sequence, bytes->head_sequence);
    EXPECT_EQ(trees->pending, bytes->pending);
    EXPECT_EQ(trees->first_time, bytes->first_time);
    EXPECT_EQ(trees->last_time, bytes->last_time);
  }
  return trees;
}

TEST(LedgerTest, Sha256IsTheStandardOne) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(LedgerTest, CanonicalFormSortsKeysAndHasNoWhitespace) {
  EvidenceEntry e;
  e.sequence = 3;
  e.time = "2026-12-05T00:30:00.123Z";
  e.type = "AuditScan";
  e.previous_hash = kGenesisHash;
  e.data = {{"z", 1}, {"a", {{"y", "é"}, {"b", true}}}};
  EXPECT_EQ(CanonicalForm(e),
            std::string(R"({"data":{"a":{"b":true,"y":"é"},"z":1},"previousHash":")") +
                kGenesisHash +
                R"(","sequence":3,"time":"2026-12-05T00:30:00.123Z","type":"AuditScan"})");
  // Read back from its JSON text, the entry hashes the same (what verify relies on).
  EvidenceEntry back =
      *EntryFromObject(json::parse(EvidenceObject(NextEntry({}, kT0, "AuditScan", e.data)).dump()));
  EXPECT_EQ(back.hash, EntryHash(back));
}

TEST(LedgerTest, EvidenceTimesHaveMilliseconds) {
  EXPECT_EQ(FormatEvidenceTime(Timestamp{} + std::chrono::milliseconds(1'796'000'000'042)),
            "2026-11-30T00:53:20.042Z");
}

TEST(LedgerTest, AChainVerifies) {
  StatusOr<ChainSummary> s = VerifyAll(Chain(50));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->entries, 50u);
  EXPECT_EQ(s->head_sequence, 50u);
  EXPECT_EQ(s->pending, 0u);
  EXPECT_EQ(s->first_time, FormatEvidenceTime(kT0 + std::chrono::milliseconds(1500)));
  EXPECT_TRUE(VerifyAll({}).ok());  // nothing recorded yet
}

TEST(LedgerTest, EveryEntryChainsToThePreviousOne) {
  std::vector<json> c = Chain(3);
  EXPECT_EQ(c[0]["spec"]["previousHash"], kGenesisHash);
  EXPECT_EQ(c[1]["spec"]["previousHash"], c[0]["spec"]["hash"]);
  EXPECT_EQ(c[2]["spec"]["previousHash"], c[1]["spec"]["hash"]);
  EXPECT_EQ(c[0]["metadata"]["name"], "00000000000000000001");
  EXPECT_EQ(c[3]["spec"]["hash"], c[2]["spec"]["hash"]);  // the head
}

// Each way of breaking a 10-entry chain, and the start of the error verify must give.
TEST(LedgerTest, VerifyNamesTheFirstBrokenEntry) {
  struct Case {
    std::string name;
    std::function<void(std::vector<json>&)> damage;
    std::string error;
  };
  // Rewrites entry i's data and recomputes its own hash, as a careful forger would.
  auto forge = [](json& o, int replicas) {
    FieldErrors ignored;
    api::ResidencyEvidence d = api::DecodeResidencyEvidence(o, &ignored);
    d.spec.data["clusters"][0]["replicas"] = replicas;
    d.spec.hash = EntryHash(d.spec);
    o = EvidenceObject(d.spec);
  };
  const std::vector<Case> cases = {
      {"one byte of the data changed",
       [](std::vector<json>& c) {
         std::string text = c[6].dump();
         size_t at = text.find("eu-west-1");
         text[at] = 'u';  // "uu-west-1"
         c[6] = json::parse(text);
       },
       "entry 7 (00000000000000000007): changed: its content no longer matches its hash"},
      {"the time changed",
       [](std::vector<json>& c) { c[2]["spec"]["time"] = "2026-01-01T00:00:00.000Z"; },
       "entry 3 (00000000000000000003): changed"},
      {"rewritten with its hash recomputed", [&](std::vector<json>& c) { forge(c[3], 99); },
       "entry 4 (00000000000000000004): changed: its hash"},
      {"the last entry rewritten with its hash recomputed",
       [&](std::vector<json>& c) { forge(c[9], 99); },
       "entry 10 (00000000000000000010): changed: its hash"},
      {"an entry removed", [](std::vector<json>& c) { c.erase(c.begin() + 4); },
       "entry 5 (00000000000000000005) is missing: entry 4 (00000000000000000004) is followed "
       "by entry 6"},
      {"the first entry removed", [](std::vector<json>& c) { c.erase(c.begin()); },
       "entry 1 (00000000000000000001) is missing: the chain starts at entry 2"},
      {"truncated: the last three removed",
       [](std::vector<json>& c) { c.erase(c.begin() + 7, c.begin() + 10); },
       "the chain is truncated: the head records entry 10 (00000000000000000010) as the last "
       "entry, the last found is entry 7 (00000000000000000007) (3 entries missing)"},
      {"the head removed", [](std::vector<json>& c) { c.pop_back(); },
       "the head is missing (10 entries found)"},
      {"malformed time", [](std::vector<json>& c) { c[4]["spec"]["time"] = "yesterday"; },
       "entry 5 (00000000000000000005): malformed: spec.time: must be an RFC 3339 time"},
      {"malformed type", [](std::vector<json>& c) { c[1]["spec"]["type"] = "Rumour"; },
       "entry 2 (00000000000000000002): malformed: spec.type: must be one of"},
      {"malformed hash", [](std::vector<json>& c) { c[1]["spec"]["hash"] = "abc"; },
       "entry 2 (00000000000000000002): malformed: spec.hash: must be 64 lowercase hex digits"},
      {"a fraction in data",
       [](std::vector<json>& c) { c[8]["spec"]["data"]["clusters"][0]["replicas"] = 1.5; },
       "entry 9 (00000000000000000009): malformed: spec.data.clusters[0].replicas: must not be a "
       "fraction"},
      {"missing data", [](std::vector<json>& c) { c[0]["spec"].erase("data"); },
       "entry 1 (00000000000000000001): malformed: spec.data: required"},
      {"renamed", [](std::vector<json>& c) { c[2]["metadata"]["name"] = "00000000000000000033"; },
       "entry 3 (00000000000000000003): malformed: metadata.name: must be "
       "\"00000000000000000003\""},
      {"not an object", [](std::vector<json>& c) { c[2] = json::array(); },
       "entry ?: malformed: must be a JSON object"},
      {"malformed head", [](std::vector<json>& c) { c[10]["spec"]["sequence"] = -1; },
       "the head: malformed: spec.sequence: must be >= 0"},
  };
  for (const Case& tc : cases) {
    std::vector<json> c = Chain(10);
    tc.damage(c);
    StatusOr<ChainSummary> s = VerifyAll(c);
    ASSERT_FALSE(s.ok()) << tc.name;
    EXPECT_EQ(s.status().code(), StatusCode::kDataLoss) << tc.name;
    EXPECT_EQ(s.status().message().rfind(tc.error, 0), 0u)
        << tc.name << "\n  got: " << s.status().message() << "\n want: " << tc.error;
  }
}

TEST(LedgerTest, EntriesAfterTheHeadArePendingAppends) {
  std::vector<json> c = Chain(5);
  EvidenceHead at3{3, c[2]["spec"]["hash"]};
  c.back() = HeadObject(at3, kT0);
  StatusOr<ChainSummary> s = VerifyAll(c);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->pending, 2u);
  // But the head must still match the entry it names.
  c.back() = HeadObject({3, std::string(64, 'a')}, kT0);
  EXPECT_EQ(VerifyAll(c).status().message().rfind("entry 3 (00000000000000000003): changed", 0),
            0u);
}

TEST(LedgerTest, TheHeadMayComeFirst) {
  std::vector<json> c = Chain(4);
  c.insert(c.begin(), c.back());
  c.pop_back();
  EXPECT_TRUE(VerifyAll(c).ok());
}

}  // namespace
}  // namespace meridian::residency

namespace meridian::residency {
namespace {

// Verify hands a page's parsed items over (Add(json&&) moves data out instead of copying it):
// it must find exactly what the copying path finds.
TEST(LedgerTest, TakingObjectsApartFindsTheSameProblems) {
  const std::vector<std::function<void(std::vector<json>&)>> damages = {
      [](std::vector<json>&) {},
      [](std::vector<json>& c) { c[8]["spec"]["data"]["clusters"][0]["replicas"] = 1.5; },
      [](std::vector<json>& c) { c[3]["spec"]["data"]["clusters"][0]["cluster"] = "us-east-1"; },
      [](std::vector<json>& c) { c[0]["spec"].erase("data"); },
      [](std::vector<json>& c) { c[2]["spec"]["data"] = json::array(); },
      [](std::vector<json>& c) { c[1]["spec"]["type"] = "Rumour"; },
      [](std::vector<json>& c) { c[10]["spec"]["sequence"] = -1; },
  };
  for (size_t i = 0; i < damages.size(); ++i) {
    std::vector<json> c = Chain(10);
    damages[i](c);
    ChainVerifier copying, moving;
    Status a, b;
    for (const json& o : c) {
      a = copying.Add(o);
      if (!a.ok()) break;
    }
    for (json o : c) {
      b = moving.Add(std::move(o));
      if (!b.ok()) break;
    }
    StatusOr<ChainSummary> sa = a.ok() ? copying.Finish() : StatusOr<ChainSummary>(a);
    StatusOr<ChainSummary> sb = b.ok() ? moving.Finish() : StatusOr<ChainSummary>(b);
    EXPECT_EQ(sa.ok(), sb.ok()) << i;
    EXPECT_EQ(sa.status().message(), sb.status().message()) << i;
  }
}

}  // namespace
}  // namespace meridian::residency
