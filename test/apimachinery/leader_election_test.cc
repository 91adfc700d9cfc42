// LeaderElection (apimachinery/leader_election.h): the election state machine on a real
// ObjectService over the memory store, driven by a FakeClock: acquire, renew, lose on renew
// failure, takeover after expiry, release, a race for one lease, and a randomised schedule
// of ticks, partitions and crashes that never shows two leaders.
#include "apimachinery/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "apimachinery/core_admission.h"
#include "apimachinery/memory_store.h"

namespace meridian::apimachinery {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Transition = LeaderElection::Transition;

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.Add(NamespaceResourceInfo()).ok());
    ASSERT_TRUE(registry_.Add(LeaseResourceInfo()).ok());
    store_ = std::make_unique<MemoryStore>();
    objects_ = std::make_unique<ObjectService>(*store_, clock_, registry_);
    InstallCoreAdmission(*objects_);
    InstallLeaseValidation(*objects_);
    // Writes by a partitioned candidate fail (its renewals and takeovers never land).
    objects_->AddValidatingAdmission(
        [this](const AdmissionAttributes& attrs, const json& object, FieldErrors*) {
          if (attrs.operation == Operation::kDelete || attrs.resource->plural != "leases" ||
              !object.contains("spec") || !object["spec"].is_object() ||
              !object["spec"].contains("holderIdentity") ||
              !object["spec"]["holderIdentity"].is_string()) {
            return Status::Ok();
          }
          std::unique_lock<std::mutex> lock(mu_);
          const std::string holder = object["spec"]["holderIdentity"];
          if (!holder.empty() && blocked_ == holder) {
            ++blocked_waiters_;
            unblocked_.notify_all();
            unblocked_.wait(lock, [&] { return blocked_ != holder; });
            --blocked_waiters_;
          }
          if (partitioned_.count(holder)) return UnavailableError("partitioned: " + holder);
          return Status::Ok();
        });
    json ns = {
        {"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "meridian-system"}}}};
    ASSERT_TRUE(objects_->Create(*registry_.Find("", "v1", "namespaces"), "", ns).ok());
  }

  std::unique_ptr<LeaderElection> Candidate(const std::string& identity) {
    LeaderElectionConfig config;
    config.identity = identity;
    // client-go's defaults, which the timings below are written for (not the binary's).
    config.lease_duration = std::chrono::seconds(15);
    config.renew_deadline = std::chrono::seconds(10);
    config.retry_period = std::chrono::seconds(2);
    return std::make_unique<LeaderElection>(*objects_, clock_, config);
  }
  json Lease() {
    auto got = objects_->Get(LeaseInfo(), "meridian-system", "federation-controller-manager");
    return got.ok() ? got.value() : json();
  }
  const ResourceInfo& LeaseInfo() { return *registry_.Find("coordination.k8s.io", "v1", "leases"); }
  void Partition(const std::string& identity, bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    if (on) {
      partitioned_.insert(identity);
    } else {
      partitioned_.erase(identity);
    }
  }

  // While set, a renewal by `blocked_` waits here until it is cleared (a store call that
  // hangs for its whole timeout).
  void Block(const std::string& identity) {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_ = identity;
  }
  void Unblock() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocked_.clear();
    }
    unblocked_.notify_all();
  }

  FakeClock clock_;
  ResourceRegistry registry_;
  std::condition_variable unblocked_;
  std::string blocked_;      // guarded by mu_
  int blocked_waiters_ = 0;  // guarded by mu_
  // Waits until a write of the blocked candidate hangs in the hook.
  void WaitBlocked() {
    std::unique_lock<std::mutex> lock(mu_);
    ASSERT_TRUE(unblocked_.wait_for(lock, seconds(10), [&] { return blocked_waiters_ > 0; }));
  }
  std::unique_ptr<Store> store_;
  std::unique_ptr<ObjectService> objects_;
  std::mutex mu_;  // guards partitioned_
  std::set<std::string> partitioned_;
};

TEST_F(LeaderElectionTest, AcquiresAnAbsentLeaseAndRenewsIt) {
  auto a = Candidate("a");
  EXPECT_EQ(a->Tick(), Transition::kStartedLeading);
  EXPECT_TRUE(a->is_leader());
  json lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "a");
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 0);
  const std::string acquired = lease["spec"]["acquireTime"];
  EXPECT_EQ(lease["spec"]["renewTime"], acquired);
  EXPECT_EQ(acquired.size(), std::string("2023-11-14T22:13:20.000000Z").size()) << acquired;

  clock_.Advance(seconds(2));
  EXPECT_EQ(a->Tick(), Transition::kNone);
  EXPECT_TRUE(a->is_leader());
  json renewed = Lease();
  EXPECT_EQ(renewed["spec"]["acquireTime"], acquired);
  EXPECT_NE(renewed["spec"]["renewTime"], acquired);
  EXPECT_EQ(renewed["spec"]["leaseTransitions"], 0);
  EXPECT_NE(renewed["metadata"]["resourceVersion"], lease["metadata"]["resourceVersion"]);
}

TEST_F(LeaderElectionTest, AStandbyNeverTakesALeaseThatIsRenewed) {
  auto a = Candidate("a");
  auto b = Candidate("b");
  ASSERT_EQ(a->Tick(), Transition::kStartedLeading);
  for (int i = 0; i < 60; ++i) {
    clock_.Advance(seconds(2));
    EXPECT_EQ(b->Tick(), Transition::kNone) << "tick " << i;
    EXPECT_EQ(a->Tick(), Transition::kNone) << "tick " << i;
    EXPECT_FALSE(b->is_leader());
    EXPECT_EQ(b->observed_holder(), "a");
    EXPECT_EQ(b->last_error().code(), StatusCode::kFailedPrecondition);
  }
}

TEST_F(LeaderElectionTest, TakeoverOnlyAfterTheLeaseDurationOnTheStandbysClock) {
  auto a = Candidate("a");
  auto b = Candidate("b");
  ASSERT_EQ(a->Tick(), Transition::kStartedLeading);
  // b first sees a's record now; a then dies (no more ticks).
  EXPECT_EQ(b->Tick(), Transition::kNone);
  const Timestamp seen = clock_.Now();
  for (int i = 0; i < 7; ++i) {
    clock_.Advance(seconds(2));  // up to 14 s: not yet expired
    EXPECT_EQ(b->Tick(), Transition::kNone) << clock_.Now() - seen;
  }
  clock_.Advance(seconds(1));  // 15 s after b saw the record
  EXPECT_EQ(b->Tick(), Transition::kStartedLeading);
  json lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "b");
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
  // a comes back: it sees b's record and is not the leader.
  clock_.Advance(seconds(2));
  EXPECT_EQ(a->Tick(), Transition::kStoppedLeading);
  EXPECT_FALSE(a->is_leader());
  EXPECT_EQ(a->observed_holder(), "b");
}

TEST_F(LeaderElectionTest, ALateStandbyWaitsAWholeLeaseDurationFromItsOwnFirstLook) {
  auto a = Candidate("a");
  ASSERT_EQ(a->Tick(), Transition::kStartedLeading);
  // The record's renewTime is an hour old, but b has never seen it change: it cannot know
  // how far its clock is from a's, so it waits the whole duration from its first look.
  clock_.Advance(std::chrono::hours(1));
  auto b = Candidate("b");
  EXPECT_EQ(b->Tick(), Transition::kNone);
  clock_.Advance(milliseconds(14999));
  EXPECT_EQ(b->Tick(), Transition::kNone);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(b->Tick(), Transition::kStartedLeading);
}

TEST_F(LeaderElectionTest, ALeaderThatCannotRenewStopsAtTheRenewDeadlineBeforeTakeover) {
  auto a = Candidate("a");
  auto b = Candidate("b");
  ASSERT_EQ(a->Tick(), Transition::kStartedLeading);
  ASSERT_EQ(b->Tick(), Transition::kNone);
  const Timestamp renewed = clock_.Now();
  Partition("a", true);
  Timestamp a_stopped{}, b_started{};
  for (int i = 0; i < 20 && b_started == Timestamp{}; ++i) {
    clock_.Advance(milliseconds(500));
    if (a->is_leader()) {
      Transition t = a->Tick();
      if (t == Transition::kStoppedLeading) a_stopped = clock_.Now();
      if (clock_.Now() - renewed < seconds(10)) {
        EXPECT_EQ(t, Transition::kNone);
      }
      if (t == Transition::kNone) {
        EXPECT_EQ(a->last_error().code(), StatusCode::kUnavailable);
      }
    }
    if (b->Tick() == Transition::kStartedLeading) b_started = clock_.Now();
    EXPECT_FALSE(a->is_leader() && b->is_leader()) << "two leaders at tick " << i;
  }
  // With ticks every 0.5 s of the fake clock, the loop stops at 10 s; keep ticking b.
  for (int i = 0; i < 20 && b_started == Timestamp{}; ++i) {
    clock_.Advance(milliseconds(500));
    if (b->Tick() == Transition::kStartedLeading) b_started = clock_.Now();
  }
  EXPECT_EQ(a_stopped - renewed, seconds(10));
  EXPECT_EQ(b_started - renewed, seconds(15));
  EXPECT_FALSE(a->is_leader());
  EXPECT_TRUE(b->is_leader());
}

TEST_F(LeaderElectionTest, AFailedRenewWithinTheDeadlineKeepsLeading) {
  auto a = Candidate("a");
  ASSERT_EQ(a->Tick(), Transition::kStartedLeading);
  Partition("a", true);
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(seconds(2));
    EXPECT_EQ(a->Tick(), Transition::kNone);  // 2..8 s without a renewal
  }
  Partition("a", false);
  clock_.Advance(seconds(2));
  EXPECT_EQ(a->Tick(), Transition::kNone);  // 10 s, but this renewal lands
  EXPECT_TRUE(a->is_leader());
  EXPECT_TRUE(a->last_error().ok());
}

TEST_F(LeaderElectionTest, ReleaseLetsTheNextCandidateInAtOnce) {
  auto a = Candidate("a");
  auto b = Candidate("b");
  ASSERT_EQ(a->Tick(), Transition::kStartedLeading);
  ASSERT_EQ(b->Tick(), Transition::kNone);
  ASSERT_TRUE(a->Release().ok());
  EXPECT_FALSE(a->is_leader());
  EXPECT_EQ(Lease()["spec"]["holderIdentity"], "");
  EXPECT_EQ(b->Tick(), Transition::kStartedLeading);
  EXPECT_EQ(Lease()["spec"]["leaseTransitions"], 1);
  EXPECT_TRUE(a->Release().ok());  // not the leader: nothing to write
  EXPECT_EQ(Lease()["spec"]["holderIdentity"], "b");
}

TEST_F(LeaderElectionTest, OfManyCandidatesRacingForOneLeaseExactlyOneWins) {
  for (int round = 0; round < 20; ++round) {
    std::vector<std::unique_ptr<LeaderElection>> candidates;
    for (int i = 0; i < 6; ++i) {
      candidates.push_back(Candidate("r" + std::to_string(round) + "-" + std::to_string(i)));
    }
    // Round 0 races for an absent lease (create), later rounds for a released one (update).
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    for (auto& c : candidates) {
      threads.emplace_back([&c, &winners] {
        if (c->Tick() == Transition::kStartedLeading) ++winners;
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(winners.load(), 1) << "round " << round;
    for (auto& c : candidates) ASSERT_TRUE(c->Release().ok());
  }
}

TEST_F(LeaderElectionTest, RandomSchedulesNeverShowTwoLeaders) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::vector<std::string> names = {"a", "b", "c"};
  std::vector<std::unique_ptr<LeaderElection>> cs;
  std::vector<bool> up(names.size(), true);
  for (const std::string& n : names) cs.push_back(Candidate(n));
  int led_steps = 0;
  for (int step = 0; step < 3000; ++step) {
    // Live candidates tick at most one retry period apart (a paused process would not be
    // live: the invariant is about processes that run).
    clock_.Advance(milliseconds(std::uniform_int_distribution<int>(0, 2000)(rng)));
    std::vector<size_t> order = {0, 1, 2};
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
      if (up[i]) cs[i]->Tick();
    }
    const int r = std::uniform_int_distribution<int>(0, 99)(rng);
    const size_t who = std::uniform_int_distribution<size_t>(0, names.size() - 1)(rng);
    if (r < 3) {
      Partition(names[who], true);
    } else if (r < 8) {
      Partition(names[who], false);
    } else if (r < 10 && up[who]) {
      up[who] = false;  // crash: a fresh candidate with the same name comes back later
    } else if (r < 14 && !up[who]) {
      up[who] = true;
      cs[who] = Candidate(names[who]);
    }
    int leaders = 0;
    for (size_t i = 0; i < cs.size(); ++i) leaders += up[i] && cs[i]->is_leader();
    ASSERT_LE(leaders, 1) << "step " << step;
    led_steps += leaders;
  }
  EXPECT_GT(led_steps, 300);  // someone led for a good part of the run
}

// The shell's watchdog: a renewal blocked in the store past the renew deadline still ends
// the leadership on time (the fake clock decides; the threads only poll).
TEST_F(LeaderElectionTest, TheElectorGivesUpAtTheDeadlineWhileARenewalHangs) {
  LeaderElectionConfig config;
  config.identity = "a";
  config.lease_duration = milliseconds(3000);
  config.renew_deadline = milliseconds(2000);
  config.retry_period = milliseconds(10);  // real time between ticks: the test stays short
  std::mutex mu;
  std::condition_variable cv;
  int started = 0, stopped = 0;
  LeaderElector::Callbacks callbacks;
  callbacks.on_started_leading = [&] {
    std::lock_guard<std::mutex> lock(mu);
    ++started;
    cv.notify_all();
  };
  callbacks.on_stopped_leading = [&] {
    std::lock_guard<std::mutex> lock(mu);
    ++stopped;
    cv.notify_all();
  };
  LeaderElector elector(*objects_, clock_, config, callbacks);
  elector.Start();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, seconds(10), [&] { return started == 1; }));
  }
  EXPECT_TRUE(elector.is_leader());
  Block("a");
  ASSERT_NO_FATAL_FAILURE(WaitBlocked());
  clock_.Advance(milliseconds(1999));
  {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_FALSE(cv.wait_for(lock, milliseconds(300), [&] { return stopped > 0; }));
  }
  clock_.Advance(milliseconds(1));
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, seconds(10), [&] { return stopped == 1; }));
  }
  EXPECT_FALSE(elector.is_leader());
  // The blocked renewal then lands: the lease is still ours, so the elector leads again
  // (a new leadership, reported as such) and stopped was reported once.
  Unblock();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, seconds(10), [&] { return started == 2; }));
    EXPECT_EQ(stopped, 1);
  }
  elector.Stop(/*release=*/true);
  EXPECT_EQ(Lease()["spec"]["holderIdentity"], "");
}

TEST(LeaderElectionConfigTest, FlagsAreCheckedLikeClientGo) {
  struct Case {
    int lease, renew, retry;
    std::string identity;
    std::string error;  // "" = valid
  };
  const std::vector<Case> cases = {
      {15000, 10000, 2000, "me", ""},
      {2000, 1500, 500, "me", ""},
      {15000, 10000, 2000, "", "identity"},
      {10000, 10000, 2000, "me", "--leader-elect-lease-duration must be greater"},
      {15000, 2400, 2000, "me", "1.2"},
      {15000, 10000, 0, "me", "greater than 0"},
  };
  for (const Case& c : cases) {
    LeaderElectionConfig config;
    config.identity = c.identity;
    config.lease_duration = milliseconds(c.lease);
    config.renew_deadline = milliseconds(c.renew);
    config.retry_period = milliseconds(c.retry);
    Status st = ValidateLeaderElectionConfig(config);
    if (c.error.empty()) {
      EXPECT_TRUE(st.ok()) << st.message();
    } else {
      EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.lease << "/" << c.renew;
      EXPECT_NE(st.message().find(c.error), std::string::npos) << st.message();
    }
  }
}

TEST_F(LeaderElectionTest, MalformedLeasesAreRefusedNamingTheField) {
  struct Case {
    json spec;
    std::string field;  // "" = valid
  };
  const std::vector<Case> cases = {
      {json::object(), ""},
      {{{"holderIdentity", "x"},
        {"leaseDurationSeconds", 15},
        {"renewTime", "2026-01-01T00:00:00.000000Z"}},
       ""},
      {{{"holderIdentity", 3}}, "spec.holderIdentity"},
      {{{"leaseDurationSeconds", 0}}, "spec.leaseDurationSeconds"},
      {{{"leaseDurationSeconds", "15"}}, "spec.leaseDurationSeconds"},
      {{{"leaseTransitions", -1}}, "spec.leaseTransitions"},
      {{{"renewTime", "yesterday"}}, "spec.renewTime"},
      {{{"holder", "x"}}, "spec.holder"},
  };
  int n = 0;
  for (const Case& c : cases) {
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", "l" + std::to_string(n++)}}},
                  {"spec", c.spec}};
    auto created = objects_->Create(LeaseInfo(), "meridian-system", lease);
    if (c.field.empty()) {
      EXPECT_TRUE(created.ok()) << c.spec.dump() << ": " << created.error().message;
    } else {
      ASSERT_FALSE(created.ok()) << c.spec.dump();
      EXPECT_EQ(created.error().code, 422) << created.error().message;
      EXPECT_NE(created.error().message.find(c.field), std::string::npos)
          << created.error().message;
    }
  }
}

}  // namespace
}  // namespace meridian::apimachinery
