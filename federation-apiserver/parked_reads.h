// ParkedReads: the federation-apiserver's HTTP handler when consistent reads can be parked
// (several writers: etcd). A GET or LIST without resourceVersion of a cached resource waits
// for its round as a continuation (Cacher::WhenConsistent) instead of a blocked server
// thread: with blocking reads the 8 HTTP threads capped a round at ~4 readers and 43 % of the
// server's cycles were context switches (docs/performance.md, issue 13). When the round
// returns, the request is handed to the server's pool (HttpServer::Poster) and served by the
// ordinary synchronous handler under the round's proof (ProvenConsistentRead), so every filter,
// the audit and the response are exactly those of a blocking read; the cacher's Get/List then
// skip a round of their own. Everything else is served at once (or on the blocking threads,
// below), and every request when the cacher does not park (SQLite, memory) as before.
//
// What recognises a consistent read (RestHandler::ConsistentReadType) only decides whether to
// wait first: a read it misses takes the blocking path, one it wrongly parks costs a round.
// Parked reads are not yet counted by max-requests-inflight (the filters run when the read is
// served) and cost a closure each; the server's connection cap bounds them.
//
// Threads: the thread that parks a read when no round is in flight becomes the resource's
// round sender (Cacher::WhenConsistent) — with blocking threads, one of those, not the
// server's — and sends rounds, holding each next one briefly for the reads the last one
// answered (CacherOptions::consistent_read_hold), until none is needed. Each round is bounded
// by the store's deadline (etcd: 5 s), so a parked read waits at most two rounds and a hold,
// then is answered (a failed round: its error, 503/504).
//
// Requests that may wait on the store (writes, and every request that is not parked) can be
// served on threads of their own (`blocking_threads`), so that the server's own threads, as
// few as the cores, only do the network and the reads served from memory: with 8 server
// threads on 2 cores each parked read cost pool threads a sleep and a wake (51 % of the
// server's cycles at 8 connections, docs/performance.md h13f), while with 2 a write holding
// its thread for its etcd round trip would stall every read. Only where reads are parked:
// on SQLite every request is served at once on the server's threads, as before.
//
// A thin shell: the decisions are the cacher's (cacher.h) and the handler's.
#pragma once

#include <memory>

#include "apimachinery/cacher.h"
#include "apimachinery/rest/http_server.h"
#include "apimachinery/rest/rest_handler.h"

namespace meridian::apiserver {

class ParkedReads {
 public:
  // `handler` must outlive this object; `cacher` (null: no watch cache) too. When reads are
  // parked and `blocking_threads` > 0, what is not parked is served on that many threads of
  // this object's own (see above).
  ParkedReads(apimachinery::rest::RestHandler& handler, apimachinery::Cacher* cacher,
              size_t blocking_threads = 0);
  // Parked reads answered later are dropped (their connections are the server's to close);
  // so are requests still queued for the blocking threads, whose running ones are waited for
  // (each bounded by the store's deadline). Stop the server first.
  ~ParkedReads();

  // Whether consistent reads are parked (several writers: etcd), i.e. whether the server's
  // threads only serve the network and memory when blocking_threads > 0.
  bool Parks() const;
  ParkedReads(const ParkedReads&) = delete;
  ParkedReads& operator=(const ParkedReads&) = delete;

  // For HttpServer::StartAsync. May be used before SetPoster (a round's reads are then
  // served on the thread that completes it).
  apimachinery::rest::AsyncHttpHandler Handler() const;
  // The server's pool, once it is started.
  void SetPoster(apimachinery::rest::HttpPoster post);

  struct State;  // internal

 private:
  std::shared_ptr<State> state_;
};

}  // namespace meridian::apiserver
