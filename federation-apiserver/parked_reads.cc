#include "federation-apiserver/parked_reads.h"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace meridian::apiserver {

namespace rest = apimachinery::rest;

namespace {

// Threads for requests that may wait on the store (ParkedReads' blocking_threads): a queue,
// run in order; what is still queued when it is destroyed is dropped, running tasks are
// joined.
class BlockingPool {
 public:
  explicit BlockingPool(size_t threads) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~BlockingPool() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      queue_.clear();
    }
    ready_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  void Post(std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      queue_.push_back(std::move(task));
    }
    ready_.notify_one();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (true) {
      ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();
      task = nullptr;  // its captures (the request) go before the next wait
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace

// Shared with the parked reads' callbacks, which may run after ParkedReads is gone (the
// cacher answers what is still parked when it is destroyed).
struct ParkedReads::State {
  rest::RestHandler& handler;
  apimachinery::Cacher* cacher;
  bool parks;  // the cacher parks consistent reads (decided once: its options are fixed)
  std::mutex mu;
  rest::HttpPoster post;  // guarded by mu
  bool closed = false;    // guarded by mu: the handler may be gone, serve nothing more
  // What is not parked, when reads are parked and blocking threads were asked for.
  std::unique_ptr<BlockingPool> blocking;
  // With it, the rounds too are sent there (Cacher::WhenConsistent's send_rounds): the sender
  // holds its thread for each round and its hold, which one of two server threads cannot spare.
  apimachinery::Cacher::RoundRunner send_rounds;
};

ParkedReads::ParkedReads(rest::RestHandler& handler, apimachinery::Cacher* cacher,
                         size_t blocking_threads)
    : state_(new State{handler, cacher, cacher != nullptr && cacher->ParksConsistentReads()}) {
  if (state_->parks && blocking_threads > 0) {
    state_->blocking = std::make_unique<BlockingPool>(blocking_threads);
    state_->send_rounds = [pool = state_->blocking.get()](std::function<void()> send) {
      pool->Post(std::move(send));
    };
  }
}

ParkedReads::~ParkedReads() {
  {
    std::lock_guard lock(state_->mu);
    state_->closed = true;
  }
  state_->blocking.reset();  // joins its threads: nothing uses the handler after this
}

bool ParkedReads::Parks() const { return state_->parks; }

void ParkedReads::SetPoster(rest::HttpPoster post) {
  std::lock_guard lock(state_->mu);
  state_->post = std::move(post);
}

namespace {

// Serves `request` and only then answers: the request (and what filters hold for it, e.g. a
// max-in-flight slot) must be gone before the client can read the answer and send its next
// request. Not `respond(handler.Handle(std::move(request)))`: the Itanium C++ ABI destroys a
// by-value argument at the end of the caller's full expression, i.e. after `respond` returned
// and the answer was on its way (a client asking one request at a time was refused as if it
// had two in flight).
void ServeThenRespond(rest::RestHandler& handler, rest::RestRequest&& request,
                      const rest::HttpResponder& respond) {
  rest::RestResponse response = handler.Handle(std::move(request));
  respond(std::move(response));
}

}  // namespace

rest::AsyncHttpHandler ParkedReads::Handler() const {
  return [state = state_](rest::RestRequest request, rest::HttpResponder respond) {
    std::optional<apimachinery::ResourceType> type;
    if (state->parks) type = state->handler.ConsistentReadType(request);
    if (!type) {
      if (!state->blocking) return ServeThenRespond(state->handler, std::move(request), respond);
      // May wait on the store: not on one of the server's few threads.
      auto request_ptr = std::make_shared<rest::RestRequest>(std::move(request));
      state->blocking->Post([state, request_ptr, respond = std::move(respond)] {
        ServeThenRespond(state->handler, std::move(*request_ptr), respond);
      });
      return;
    }
    struct Parked {
      rest::RestRequest request;
      rest::HttpResponder respond;
    };
    auto parked = std::make_shared<Parked>(Parked{std::move(request), std::move(respond)});
    const bool waits = state->cacher->WhenConsistent(
        *type,
        [state, parked](const apimachinery::ConsistentReadProof& proof) {
          // Called where the round returned (a thread sending rounds): the read itself is
          // served on the pool, so that the next round is not held up by it.
          auto serve = [state, parked, proof] {
            apimachinery::ProvenConsistentRead proven(proof);
            ServeThenRespond(state->handler, std::move(parked->request), parked->respond);
          };
          rest::HttpPoster post;
          {
            std::lock_guard lock(state->mu);
            if (state->closed) return;  // shutting down: the connection is closed unanswered
            post = state->post;
          }
          if (post) {
            post(std::move(serve));
          } else {
            serve();
          }
        },
        state->send_rounds);
    if (!waits) ServeThenRespond(state->handler, std::move(parked->request), parked->respond);
  };
}

}  // namespace meridian::apiserver
