#include "federation-apiserver/parked_reads.h"

#include <mutex>
#include <optional>
#include <utility>

namespace meridian::apiserver {

namespace rest = apimachinery::rest;

// Shared with the parked reads' callbacks, which may run after ParkedReads is gone (the
// cacher answers what is still parked when it is destroyed).
struct ParkedReads::State {
  rest::RestHandler& handler;
  apimachinery::Cacher* cacher;
  bool parks;  // the cacher parks consistent reads (decided once: its options are fixed)
  std::mutex mu;
  rest::HttpPoster post;  // guarded by mu
  bool closed = false;    // guarded by mu: the handler may be gone, serve nothing more
};

ParkedReads::ParkedReads(rest::RestHandler& handler, apimachinery::Cacher* cacher)
    : state_(new State{handler, cacher, cacher != nullptr && cacher->ParksConsistentReads()}) {}

ParkedReads::~ParkedReads() {
  std::lock_guard lock(state_->mu);
  state_->closed = true;
}

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
    if (!type) return ServeThenRespond(state->handler, std::move(request), respond);
    struct Parked {
      rest::RestRequest request;
      rest::HttpResponder respond;
    };
    auto parked = std::make_shared<Parked>(Parked{std::move(request), std::move(respond)});
    const bool waits = state->cacher->WhenConsistent(
        *type, [state, parked](const apimachinery::ConsistentReadProof& proof) {
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
        });
    if (!waits) ServeThenRespond(state->handler, std::move(parked->request), parked->respond);
  };
}

}  // namespace meridian::apiserver
