// The register linearizability checker (test/common/linearizability.h): histories it must
// accept, histories it must reject (with the operations no order could place), unknown
// outcomes, and random concurrent histories built from a known linearization.
#include "test/common/linearizability.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace meridian::test_env {
namespace {

using K = RegisterOp::Kind;
using O = RegisterOp::Outcome;
using V = LinearizabilityResult::Verdict;

RegisterOp Op(int client, K kind, int64_t value, O outcome, int64_t invoked, int64_t completed,
              int64_t expected = 0) {
  RegisterOp op;
  op.client = client;
  op.kind = kind;
  op.value = value;
  op.expected = expected;
  op.outcome = outcome;
  op.invoked = invoked;
  op.completed = completed;
  return op;
}
RegisterOp Cas(int client, int64_t from, int64_t to, O outcome, int64_t invoked,
               int64_t completed) {
  return Op(client, K::kCas, to, outcome, invoked, completed, from);
}

TEST(LinearizabilityTest, AcceptsWhatSomeOrderInsideTheIntervalsExplains) {
  struct Case {
    const char* what;
    std::vector<RegisterOp> history;
  };
  const std::vector<Case> cases = {
      {"empty", {}},
      {"sequential",
       {Op(0, K::kWrite, 1, O::kOk, 0, 1), Op(1, K::kRead, 1, O::kOk, 2, 3),
        Cas(0, 1, 2, O::kOk, 4, 5), Cas(1, 1, 3, O::kFailed, 6, 7),
        Op(1, K::kRead, 2, O::kOk, 8, 9)}},
      {"a read concurrent with a write may see either value",
       {Op(0, K::kWrite, 1, O::kOk, 0, 10), Op(1, K::kRead, 0, O::kOk, 1, 2),
        Op(2, K::kRead, 1, O::kOk, 3, 4), Op(1, K::kRead, 1, O::kOk, 5, 12)}},
      {"concurrent CASes from the same value: one wins, the other fails",
       {Cas(0, 0, 1, O::kOk, 0, 10), Cas(1, 0, 2, O::kFailed, 1, 9),
        Op(2, K::kRead, 1, O::kOk, 11, 12)}},
      {"an unknown CAS that took effect later",
       {Cas(0, 0, 5, O::kUnknown, 0, 0), Op(1, K::kRead, 0, O::kOk, 1, 2),
        Op(1, K::kRead, 5, O::kOk, 100, 101)}},
      {"an unknown CAS that never took effect",
       {Cas(0, 0, 5, O::kUnknown, 0, 0), Op(1, K::kRead, 0, O::kOk, 100, 101)}},
      {"an unknown write, never seen", {Op(0, K::kWrite, 7, O::kUnknown, 0, 0)}},
  };
  for (const Case& c : cases) {
    LinearizabilityResult r = CheckRegisterHistory(c.history, 0);
    EXPECT_EQ(r.verdict, V::kLinearizable) << c.what << ": " << r.explanation;
  }
}

TEST(LinearizabilityTest, RejectsWhatNoOrderExplains) {
  struct Case {
    const char* what;
    std::vector<RegisterOp> history;
    std::string unplaced;  // in the explanation
  };
  const std::vector<Case> cases = {
      {"a stale read after a completed write",
       {Op(0, K::kWrite, 1, O::kOk, 0, 1), Op(1, K::kRead, 0, O::kOk, 2, 3)},
       "read 0 ok"},
      {"a lost update: two CASes from the same value both succeed",
       {Cas(0, 0, 1, O::kOk, 0, 10), Cas(1, 0, 2, O::kOk, 1, 9)},
       "cas 0->"},
      {"a CAS that failed although its expectation held",
       {Op(0, K::kWrite, 3, O::kOk, 0, 1), Cas(1, 3, 4, O::kFailed, 2, 3)},
       "cas 3->4 fail"},
      {"a value read before anyone could have written it",
       {Op(1, K::kRead, 5, O::kOk, 0, 1), Cas(0, 0, 5, O::kUnknown, 2, 0)},
       "read 5 ok"},
      {"reads going back in time",
       {Op(0, K::kWrite, 1, O::kOk, 0, 10), Op(1, K::kRead, 1, O::kOk, 1, 2),
        Op(2, K::kRead, 0, O::kOk, 3, 4)},
       "read 0 ok"},
  };
  for (const Case& c : cases) {
    LinearizabilityResult r = CheckRegisterHistory(c.history, 0);
    EXPECT_EQ(r.verdict, V::kNotLinearizable) << c.what;
    EXPECT_NE(r.explanation.find(c.unplaced), std::string::npos) << c.what << ": " << r.explanation;
  }
}

// Histories made linearizable by construction: each operation takes effect at one instant
// inside its interval, on a sequential register; the checker must accept all of them, and
// reject each after one successful CAS's answer is flipped to failed (or a read's value
// changed) where that makes it impossible.
TEST(LinearizabilityTest, RandomHistoriesFromAKnownOrder) {
  std::mt19937 random(13);
  int rejected = 0;
  for (int round = 0; round < 200; ++round) {
    const int ops = 12;
    std::vector<RegisterOp> history;
    int64_t state = 0;
    int64_t next_value = 1;
    for (int i = 0; i < ops; ++i) {
      const int64_t at = 10 * i + 5;  // the instant it takes effect
      const int64_t invoked = at - static_cast<int64_t>(random() % 25);
      const int64_t completed = at + static_cast<int64_t>(random() % 25);
      const int client = i % 3;
      switch (random() % 3) {
        case 0:
          history.push_back(Op(client, K::kRead, state, O::kOk, invoked, completed));
          break;
        case 1:
          state = next_value++;
          history.push_back(Op(client, K::kWrite, state, O::kOk, invoked, completed));
          break;
        default: {
          const int64_t from = random() % 2 ? state : state + 1000;
          const bool ok = from == state;
          if (ok) state = next_value++;
          history.push_back(Cas(client, from, ok ? state : next_value++, ok ? O::kOk : O::kFailed,
                                invoked, completed));
        }
      }
    }
    LinearizabilityResult r = CheckRegisterHistory(history, 0);
    ASSERT_EQ(r.verdict, V::kLinearizable) << "round " << round << ": " << r.explanation;
    // Every value is written once, so a read of a value never written cannot be explained.
    for (RegisterOp& op : history) {
      if (op.kind != K::kRead) continue;
      op.value = 999'999;
      EXPECT_EQ(CheckRegisterHistory(history, 0).verdict, V::kNotLinearizable);
      ++rejected;
      break;
    }
  }
  EXPECT_GT(rejected, 100);
}

}  // namespace
}  // namespace meridian::test_env
