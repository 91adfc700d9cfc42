// The evidence ledger through the API (an in-process federation-apiserver): the writer appends
// and moves the head, several writers stay one chain, an append interrupted before its head
// move is adopted, the API keeps entries append-only and refuses malformed ones, and the audit
// and placement controllers record what changed (and only that, plus the coverage heartbeat).
#include <gtest/gtest.h>

#include <thread>

#include "residency/audit_controller.h"
#include "residency/ledger_writer.h"
#include "scheduling/placement_controller.h"
#include "sync/testing/fake_member_client.h"
#include "test/common/in_process_federation.h"
#include "test/common/interrupting_store.h"

namespace meridian::residency {
namespace {

using nlohmann::json;
using sync::testing::FakeMemberClient;

const sync::GroupVersionResource kDeployments{"apps", "v1", "deployments"};

class EvidenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* file : {"topology.yaml", "members.yaml"}) {
      federation_.ApplyFile(std::string("examples/three-continents/") + file);
    }
    federation_.ApplyFile("examples/eu-residency/residency-policy.yaml");
  }

  const apimachinery::ResourceInfo& Info() {
    return federation_.Info(api::kApiVersion, "ResidencyEvidence");
  }

  // Every ResidencyEvidence object, in name order (the head last).
  std::vector<json> Objects() {
    auto list = federation_.objects().List(Info(), "", {});
    EXPECT_TRUE(list.ok());
    return list.value()["items"].get<std::vector<json>>();
  }

  // The entries' types in order, after checking the chain.
  std::vector<std::string> VerifiedTypes() {
    ChainVerifier v;
    std::vector<std::string> types;
    for (const json& o : Objects()) {
      EXPECT_TRUE(v.Add(o).ok()) << v.Add(o);
      if (o["metadata"]["name"] != "head") types.push_back(o["spec"]["type"]);
    }
    StatusOr<ChainSummary> s = v.Finish();
    EXPECT_TRUE(s.ok()) << s.status();
    return types;
  }

  std::vector<json> EntriesOf(const std::string& type) {
    std::vector<json> out;
    for (const json& o : Objects()) {
      if (o["spec"]["type"] == type) out.push_back(o["spec"]["data"]);
    }
    return out;
  }

  // A fake client for each member of examples/three-continents (in fakes_), and the factory
  // that hands them out.
  sync::MemberClientFactory FakeMembers() {
    for (const char* name : {"us-east-1", "us-west-1", "eu-west-1", "eu-central-1", "ap-south-1"}) {
      FakeMemberClient::Options o;
      o.member = name;
      fakes_[name] = std::make_shared<FakeMemberClient>(o);
    }
    return [this](const api::MemberCluster& m) -> StatusOr<std::shared_ptr<sync::MemberClient>> {
      return std::shared_ptr<sync::MemberClient>(fakes_.at(m.metadata.name));
    };
  }

  test_env::InProcessFederation federation_{"evidence"};
  std::map<std::string, std::shared_ptr<FakeMemberClient>> fakes_;

  // Two writers of one chain: `loser` writes through `store`, where a hook can run right
  // before its next create (another writer's append slipped in: a lost race); `other` writes
  // to the federation directly.
  struct Race {
    Race(test_env::InProcessFederation& f, const apimachinery::ResourceInfo& info)
        : store(f.objects().store()),
          objects(store, f.clock(), f.server().registry()),
          loser(objects, info, f.clock()),
          other(EvidenceLedger::For(f.objects(), f.clock())) {}
    void BeforeLosersNextCreate(std::function<void()> hook) {
      store.BeforeNextWrite("create", "residencyevidences", std::move(hook));
    }
    test_env::InterruptingStore store;
    apimachinery::ObjectService objects;
    EvidenceLedger loser;
    std::shared_ptr<EvidenceLedger> other;
  };
};

TEST_F(EvidenceTest, AppendsChainAndMoveTheHead) {
  auto ledger = EvidenceLedger::For(federation_.objects(), federation_.clock());
  ASSERT_NE(ledger, nullptr);
  for (int i = 0; i < 5; ++i) {
    StatusOr<EvidenceEntry> e = ledger->Append("AuditScan", {{"n", i}});
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->sequence, static_cast<uint64_t>(i + 1));
  }
  EXPECT_EQ(VerifiedTypes().size(), 5u);
  auto head = federation_.objects().Get(Info(), "", "head");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head.value()["spec"]["sequence"], 5);
}

TEST_F(EvidenceTest, OneWriterPerProcess) {
  auto a = EvidenceLedger::For(federation_.objects(), federation_.clock());
  EXPECT_EQ(a, EvidenceLedger::For(federation_.objects(), federation_.clock()));
}

// Two writers as two API replicas would have them: they race through the store.
TEST_F(EvidenceTest, SeveralWritersMakeOneChain) {
  auto a = std::make_unique<EvidenceLedger>(federation_.objects(), Info(), federation_.clock());
  auto b = std::make_unique<EvidenceLedger>(federation_.objects(), Info(), federation_.clock());
  // Interleaved: each writer's cached head is stale every other time.
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE((i % 2 ? a : b)->Append("AuditScan", {{"i", i}}).ok());
  }
  // And racing from two threads.
  auto run = [](EvidenceLedger* l, int n, std::atomic<int>* failures) {
    for (int i = 0; i < n; ++i) {
      StatusOr<EvidenceEntry> e = l->Append("AuditScan", {{"i", i}});
      if (!e.ok()) {
        ADD_FAILURE() << e.status();
        ++*failures;
      }
    }
  };
  std::atomic<int> failures{0};
  std::thread t1(run, a.get(), 15, &failures), t2(run, b.get(), 15, &failures);
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(VerifiedTypes().size(), 36u);
}

// A writer that loses many races in a row (other writers appending in a burst while it
// re-reads; a loaded machine keeps it off the CPU) still appends: every loss is someone
// else's progress. It gave up after 32 and the evidence was lost
// (SeveralWritersMakeOneChain failed so under load). Here "another writer" appends right
// before each of its creates, 40 times.
TEST_F(EvidenceTest, AnAppendOutlastsABurstOfOtherWriters) {
  Race race(federation_, Info());
  int wins_left = 40;
  std::function<void()> win_first = [&] {
    ASSERT_TRUE(race.other->Append("AuditScan", {{"other", wins_left}}).ok());
    if (--wins_left > 0) race.BeforeLosersNextCreate(win_first);
  };
  race.BeforeLosersNextCreate(win_first);
  StatusOr<EvidenceEntry> e = race.loser.Append("AuditScan", {{"loser", true}});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(wins_left, 0);
  EXPECT_EQ(e->sequence, 41u);
  EXPECT_EQ(VerifiedTypes().size(), 41u);
}

// One that cannot win for the whole deadline (30 s of its clock) fails, whole: nothing of it
// is written, and the error says so, for the caller to keep the entry and retry.
TEST_F(EvidenceTest, AnAppendThatNeverWinsFailsWholeAfterTheDeadline) {
  Race race(federation_, Info());
  int wins = 0;
  std::function<void()> win_first = [&] {
    ASSERT_TRUE(race.other->Append("AuditScan", {{"other", ++wins}}).ok());
    federation_.clock().Advance(std::chrono::seconds(4));
    race.BeforeLosersNextCreate(win_first);
  };
  race.BeforeLosersNextCreate(win_first);
  StatusOr<EvidenceEntry> e = race.loser.Append("AuditScan", {{"loser", true}});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kAborted);
  EXPECT_NE(e.status().message().find("nothing was written"), std::string::npos) << e.status();
  EXPECT_GE(wins, 8);
  EXPECT_EQ(EntriesOf("AuditScan").size(), static_cast<size_t>(wins));
  EXPECT_EQ(VerifiedTypes().size(), static_cast<size_t>(wins));
}

TEST_F(EvidenceTest, AnAppendWhoseHeadMoveWasLostIsAdopted) {
  auto ledger = EvidenceLedger::For(federation_.objects(), federation_.clock());
  ASSERT_TRUE(ledger->Append("AuditScan", {{"n", 1}}).ok());
  // A writer that died between creating entry 2 and moving the head.
  auto head = HeadFromObject(federation_.objects().Get(Info(), "", "head").value());
  ASSERT_TRUE(head.ok());
  EvidenceEntry orphan = NextEntry(*head, federation_.clock().Now(), "AuditScan", {{"n", 2}});
  ASSERT_TRUE(federation_.objects().Create(Info(), "", EvidenceObject(orphan)).ok());
  EXPECT_EQ(VerifiedTypes().size(), 2u) << "pending, not broken";
  auto next = EvidenceLedger::For(federation_.objects(), federation_.clock());
  StatusOr<EvidenceEntry> e = next->Append("AuditScan", {{"n", 3}});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->sequence, 3u);
  EXPECT_EQ(e->previous_hash, orphan.hash);
  EXPECT_EQ(VerifiedTypes().size(), 3u);
}

TEST_F(EvidenceTest, TheApiKeepsEntriesAppendOnlyAndRefusesMalformedOnes) {
  auto ledger = EvidenceLedger::For(federation_.objects(), federation_.clock());
  ASSERT_TRUE(ledger->Append("AuditScan", {{"n", 1}}).ok());
  const std::vector<json> before = Objects();
  json entry = before[0];
  entry["spec"]["data"]["n"] = 2;
  auto updated = federation_.objects().Update(Info(), "", entry["metadata"]["name"], entry);
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.error().code, 422);
  EXPECT_NE(updated.error().message.find("metadata.name"), std::string::npos);
  EXPECT_NE(updated.error().message.find("append-only"), std::string::npos)
      << updated.error().message;
  for (const char* name : {"00000000000000000001", "head"}) {
    auto deleted = federation_.objects().Delete(Info(), "", name);
    ASSERT_FALSE(deleted.ok()) << name;
    EXPECT_EQ(deleted.error().code, 422) << name;
  }
  // A malformed entry: refused with the field, nothing stored.
  EvidenceEntry bad = NextEntry({}, federation_.clock().Now(), "AuditScan", {{"share", 1}});
  json object = EvidenceObject(bad);
  object["metadata"]["name"] = api::EvidenceName(7);
  object["spec"]["sequence"] = 7;
  object["spec"]["data"]["share"] = 0.5;
  auto created = federation_.objects().Create(Info(), "", object);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, 422);
  EXPECT_NE(created.error().message.find("spec.data.share"), std::string::npos)
      << created.error().message;
  EXPECT_EQ(Objects(), before);
}

TEST_F(EvidenceTest, TheAuditRecordsChangesViolationsAndAHeartbeat) {
  sync::MemberClientFactory factory = FakeMembers();
  ResidencyAuditController::Options options;
  options.evidence_heartbeat = std::chrono::seconds(60);
  ResidencyAuditController audit(federation_.objects(), federation_.clock(), factory, options);
  ASSERT_TRUE(audit.ScanOnce().ok());
  EXPECT_EQ(VerifiedTypes(), (std::vector<std::string>{"PolicyChange", "AuditScan"}));
  EXPECT_EQ(EntriesOf("PolicyChange")[0]["change"], "Observed");
  EXPECT_EQ(EntriesOf("PolicyChange")[0]["jurisdictions"], json::array({"eu"}));
  EXPECT_EQ(EntriesOf("AuditScan")[0]["membersVerified"].size(), 5u);

  // The same outcome again: nothing new. Until the heartbeat is due.
  federation_.clock().Advance(std::chrono::seconds(30));
  ASSERT_TRUE(audit.ScanOnce().ok());
  EXPECT_EQ(VerifiedTypes().size(), 2u);
  federation_.clock().Advance(std::chrono::seconds(31));
  ASSERT_TRUE(audit.ScanOnce().ok());
  EXPECT_EQ(VerifiedTypes().size(), 3u);

  // A violation: opened, and the scan outcome changed.
  fakes_["us-east-1"]->Apply(kDeployments,
                            {{"apiVersion", "apps/v1"},
                             {"kind", "Deployment"},
                             {"metadata", {{"name", "rogue"}, {"namespace", "payments"}}},
                             {"spec", {{"replicas", 1}}}});
  ASSERT_TRUE(audit.ScanOnce().ok());
  std::vector<std::string> types = VerifiedTypes();
  ASSERT_EQ(types.size(), 5u);
  EXPECT_EQ(types[3], "ViolationOpened");
  EXPECT_EQ(types[4], "AuditScan");
  const json opened = EntriesOf("ViolationOpened")[0];
  EXPECT_EQ(opened["member"], "us-east-1");
  EXPECT_EQ(opened["jurisdiction"], "us");
  EXPECT_EQ(opened["name"], "rogue");

  // An unreachable member: unverified, recorded with why.
  fakes_["ap-south-1"]->FailEverything(UnavailableError("connection refused"));
  ASSERT_TRUE(audit.ScanOnce().ok());
  json scan = EntriesOf("AuditScan").back();
  ASSERT_EQ(scan["membersUnverified"].size(), 1u);
  EXPECT_EQ(scan["membersUnverified"][0]["member"], "ap-south-1");
  EXPECT_EQ(scan["membersVerified"].size(), 4u);

  // Resolved.
  fakes_["us-east-1"]->Remove(kDeployments, "payments", "rogue");
  ASSERT_TRUE(audit.ScanOnce().ok());
  EXPECT_EQ(EntriesOf("ViolationResolved").size(), 1u);
  EXPECT_EQ(EntriesOf("ViolationResolved")[0]["key"], opened["key"]);

  // A policy change: recorded with what it allows now.
  json policy =
      federation_.objects()
          .Get(federation_.Info(api::kApiVersion, "ResidencyPolicy"), "", "payments-eu-only")
          .value();
  policy["spec"]["namespaces"] = json::array({"payments", "billing"});
  ASSERT_TRUE(federation_.objects()
                  .Update(federation_.Info(api::kApiVersion, "ResidencyPolicy"), "",
                          "payments-eu-only", policy)
                  .ok());
  ASSERT_TRUE(audit.ScanOnce().ok());
  EXPECT_EQ(EntriesOf("PolicyChange").back()["change"], "Updated");
  EXPECT_EQ(EntriesOf("PolicyChange").back()["namespaces"], json::array({"payments", "billing"}));
}

// A ViolationOpened entry that cannot be written when the violation is found (the store
// refused it) is not lost: the violation is open from then on and never "new" again, so the
// controller keeps the entry and writes it on the next pass, saying when it was seen. It was
// logged and dropped.
TEST_F(EvidenceTest, AViolationWhoseEvidenceFailedIsRecordedOnTheNextPass) {
  std::atomic<bool> refuse{false};
  federation_.objects().AddValidatingAdmission(
      [&](const apimachinery::AdmissionAttributes& a, const json& o, FieldErrors*) {
        if (refuse && a.operation == apimachinery::Operation::kCreate &&
            a.resource->plural == "residencyevidences" &&
            o.value("spec", json::object()).value("type", "") == "ViolationOpened") {
          return UnavailableError("the store is down (test)");
        }
        return Status::Ok();
      });
  sync::MemberClientFactory factory = FakeMembers();
  ResidencyAuditController audit(federation_.objects(), federation_.clock(), factory, {});
  ASSERT_TRUE(audit.ScanOnce().ok());
  fakes_["us-east-1"]->Apply(kDeployments,
                            {{"apiVersion", "apps/v1"},
                             {"kind", "Deployment"},
                             {"metadata", {{"name", "rogue"}, {"namespace", "payments"}}},
                             {"spec", {{"replicas", 1}}}});
  refuse = true;
  const std::string seen = FormatRfc3339(federation_.clock().Now());
  ASSERT_TRUE(audit.ScanOnce().ok());
  EXPECT_TRUE(EntriesOf("ViolationOpened").empty());
  refuse = false;
  federation_.clock().Advance(std::chrono::seconds(5));
  ASSERT_TRUE(audit.ScanOnce().ok());
  std::vector<json> opened = EntriesOf("ViolationOpened");
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(opened[0]["name"], "rogue");
  EXPECT_EQ(opened[0]["observedAt"], seen);
  VerifiedTypes();
}

TEST_F(EvidenceTest, PlacementRecordsWhatChangedOnly) {
  federation_.ApplyFile("examples/eu-residency/workload.yaml");
  scheduling::PlacementController placement(federation_.objects(), federation_.clock());
  ASSERT_TRUE(placement.ReconcileAll().ok());
  std::vector<json> placed = EntriesOf("Placement");
  ASSERT_EQ(placed.size(), 1u);
  EXPECT_EQ(placed[0]["workload"], "payments/ledger");
  int64_t total = 0;
  for (const json& c : placed[0]["clusters"]) {
    EXPECT_EQ(c["jurisdiction"], "eu") << c;
    total += c["replicas"].get<int64_t>();
  }
  EXPECT_EQ(total, 12);
  ASSERT_TRUE(placement.ReconcileAll().ok());
  EXPECT_EQ(EntriesOf("Placement").size(), 1u) << "an unchanged pass records nothing";

  // Deleted: recorded with no clusters.
  ASSERT_TRUE(
      federation_.objects()
          .Delete(federation_.Info(api::kApiVersion, "FederatedWorkload"), "payments", "ledger")
          .ok());
  // Its cleanup finalizer (propagation) keeps it until the members are cleaned: drop it.
  auto w = federation_.objects().Get(federation_.Info(api::kApiVersion, "FederatedWorkload"),
                                     "payments", "ledger");
  if (w.ok()) {
    json o = w.value();
    o["metadata"].erase("finalizers");
    ASSERT_TRUE(federation_.objects()
                    .Update(federation_.Info(api::kApiVersion, "FederatedWorkload"), "payments",
                            "ledger", o)
                    .ok());
  }
  ASSERT_TRUE(placement.ReconcileAll().ok());
  placed = EntriesOf("Placement");
  ASSERT_EQ(placed.size(), 2u);
  EXPECT_EQ(placed[1]["deleted"], true);
  EXPECT_TRUE(placed[1]["clusters"].empty());
  VerifiedTypes();
}

}  // namespace
}  // namespace meridian::residency
