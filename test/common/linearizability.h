// A linearizability checker for one register with compare-and-swap (Wing & Gong's search with
// Lowe's memoization, the "WGL" algorithm Knossos and Porcupine use), for Jepsen-style tests:
// clients record what they asked and what they were answered, with invocation and completion
// times from one monotonic counter, and the checker decides whether some order of the
// operations, consistent with real time (an operation that completed before another was
// invoked comes first), explains every answer.
//
// Operations whose answer never came (a timeout, a connection reset mid-request) are
// "unknown": they may have taken effect at any point after their invocation, or never. Keys
// are independent registers: check each key's history on its own (linearizability is
// compositional).
//
// Pure, header-only, test code. Exponential in the worst case: keep histories small (tens of
// operations per key, a few clients); `max_steps` bounds the search.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_set>
#include <vector>

namespace meridian::test_env {

struct RegisterOp {
  enum class Kind { kRead, kWrite, kCas };
  enum class Outcome { kOk, kFailed, kUnknown };  // kFailed: a CAS whose expectation did not hold
  int client = 0;
  Kind kind = Kind::kRead;
  int64_t value = 0;     // what a read returned; what a write or a CAS writes
  int64_t expected = 0;  // a CAS's expected current value
  Outcome outcome = Outcome::kOk;
  int64_t invoked = 0;    // when the request was sent
  int64_t completed = 0;  // when its answer arrived (ignored for kUnknown)

  std::string ToString() const {
    std::string what = kind == Kind::kRead ? "read " + std::to_string(value)
                       : kind == Kind::kWrite
                           ? "write " + std::to_string(value)
                           : "cas " + std::to_string(expected) + "->" + std::to_string(value);
    const char* out = outcome == Outcome::kOk ? "ok" : outcome == Outcome::kFailed ? "fail" : "?";
    return "client " + std::to_string(client) + " " + what + " " + out + " [" +
           std::to_string(invoked) + ", " +
           (outcome == Outcome::kUnknown ? std::string("never") : std::to_string(completed)) + "]";
  }
};

struct LinearizabilityResult {
  enum class Verdict { kLinearizable, kNotLinearizable, kGaveUp };
  Verdict verdict = Verdict::kGaveUp;
  std::string explanation;  // for a failure: the operations no order could place
};

namespace internal {

// The register's states after `op` from `state` (empty: `op` cannot happen there).
inline std::vector<int64_t> Outcomes(const RegisterOp& op, int64_t state) {
  using K = RegisterOp::Kind;
  using O = RegisterOp::Outcome;
  switch (op.kind) {
    case K::kRead:
      if (op.outcome == O::kUnknown || op.value == state) return {state};
      return {};
    case K::kWrite:
      if (op.outcome == O::kUnknown && op.value != state) return {op.value, state};
      return {op.value};
    case K::kCas:
      if (op.outcome == O::kOk)
        return state == op.expected ? std::vector<int64_t>{op.value} : std::vector<int64_t>{};
      if (op.outcome == O::kFailed)
        return state != op.expected ? std::vector<int64_t>{state} : std::vector<int64_t>{};
      // Unknown: it happened (and then succeeded exactly when the expectation held), or not.
      if (state == op.expected && op.value != state) return {op.value, state};
      return {state};
  }
  return {};
}

struct Entry {
  bool call = true;
  size_t op = 0;
  int64_t time = 0;
  Entry* match = nullptr;  // a call's return, a return's call
  Entry* prev = nullptr;
  Entry* next = nullptr;
};

struct Key {
  std::vector<uint64_t> linearized;
  int64_t state;
  bool operator==(const Key&) const = default;
};
struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h = std::hash<int64_t>()(k.state);
    for (uint64_t w : k.linearized) h = h * 1099511628211ull ^ std::hash<uint64_t>()(w);
    return h;
  }
};

}  // namespace internal

inline LinearizabilityResult CheckRegisterHistory(const std::vector<RegisterOp>& history,
                                                  int64_t initial, int64_t max_steps = 5'000'000) {
  using internal::Entry;
  const size_t n = history.size();
  // Call and return entries in time order (calls first at equal times: more permissive);
  // an unknown operation returns after everything.
  std::vector<Entry> entries(2 * n);
  for (size_t i = 0; i < n; ++i) {
    const RegisterOp& op = history[i];
    entries[2 * i] = {true, i, op.invoked};
    entries[2 * i + 1] = {false, i,
                          op.outcome == RegisterOp::Outcome::kUnknown
                              ? std::numeric_limits<int64_t>::max()
                              : std::max(op.completed, op.invoked)};
    entries[2 * i].match = &entries[2 * i + 1];
    entries[2 * i + 1].match = &entries[2 * i];
  }
  std::vector<Entry*> order;
  for (Entry& e : entries) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->time != b->time ? a->time < b->time : a->call && !b->call;
  });
  Entry head_sentinel;
  Entry* prev = &head_sentinel;
  for (Entry* e : order) {
    prev->next = e;
    e->prev = prev;
    prev = e;
  }
  auto lift = [](Entry* call) {
    for (Entry* e : {call, call->match}) {
      e->prev->next = e->next;
      if (e->next) e->next->prev = e->prev;
    }
  };
  auto unlift = [](Entry* call) {
    for (Entry* e : {call->match, call}) {
      e->prev->next = e;
      if (e->next) e->next->prev = e;
    }
  };

  struct Frame {
    Entry* call;
    int64_t state_before;
    size_t outcome;
  };
  std::vector<Frame> stack;
  std::unordered_set<internal::Key, internal::KeyHash> seen;
  internal::Key current{std::vector<uint64_t>((n + 63) / 64, 0), initial};
  size_t deepest = 0;
  std::vector<bool> deepest_set(n, false);
  Entry* entry = head_sentinel.next;
  size_t start_outcome = 0;
  for (int64_t steps = 0; head_sentinel.next != nullptr; ++steps) {
    if (steps >= max_steps) {
      return {LinearizabilityResult::Verdict::kGaveUp,
              "gave up after " + std::to_string(max_steps) + " steps"};
    }
    if (entry != nullptr && entry->call) {
      const std::vector<int64_t> outs = internal::Outcomes(history[entry->op], current.state);
      bool moved = false;
      for (size_t k = start_outcome; k < outs.size() && !moved; ++k) {
        internal::Key next = current;
        next.linearized[entry->op / 64] |= uint64_t{1} << (entry->op % 64);
        next.state = outs[k];
        if (!seen.insert(next).second) continue;
        stack.push_back({entry, current.state, k});
        current = std::move(next);
        lift(entry);
        if (stack.size() > deepest) {
          deepest = stack.size();
          for (size_t i = 0; i < n; ++i) {
            deepest_set[i] = (current.linearized[i / 64] >> (i % 64)) & 1;
          }
        }
        entry = head_sentinel.next;
        moved = true;
      }
      start_outcome = 0;
      if (!moved) entry = entry->next;
      continue;
    }
    // A return (or the end) reached with its call not placed: undo the last placement.
    if (stack.empty()) {
      std::string unplaced;
      for (size_t i = 0; i < n; ++i) {
        if (!deepest_set[i]) unplaced += "\n  " + history[i].ToString();
      }
      return {LinearizabilityResult::Verdict::kNotLinearizable,
              "no order explains the history: at best " + std::to_string(deepest) + " of " +
                  std::to_string(n) + " operations were placed; never placed then:" + unplaced};
    }
    const Frame f = stack.back();
    stack.pop_back();
    current.linearized[f.call->op / 64] &= ~(uint64_t{1} << (f.call->op % 64));
    current.state = f.state_before;
    unlift(f.call);
    entry = f.call;
    start_outcome = f.outcome + 1;
  }
  return {LinearizabilityResult::Verdict::kLinearizable, ""};
}

}  // namespace meridian::test_env
