// SqliteStore: the embedded, durable Store backend (the federation-apiserver's default).
//
// Layout: one `objects` table keyed by (group, resource, namespace, name) and an `events`
// table that is the revision log (revision = its INTEGER PRIMARY KEY). Every write touches
// both inside one transaction (shared with the writes committed with it, below), in WAL mode
// with synchronous=FULL, so a write is durable on disk before it is acknowledged, and a crash
// leaves either the whole transaction or none of it.
// Watch history survives restarts because it is read back from `events`; the log is trimmed
// to the newest `history_events` entries (older resume points answer 410 Gone).
//
// Concurrency: writes go through one connection (SQLite has one writer anyway) with group
// commit: the writes that queue up while a transaction commits are applied together in the
// next one, in arrival order, each checked on its own (exists, resourceVersion, precondition;
// a failed check takes no revision), and acknowledged after its one fsync. Reads use a small
// pool of read-only connections and run in parallel with writes (WAL snapshots).
// Watch callbacks run on one dispatcher thread owned by the store.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "apimachinery/store.h"

namespace meridian::apimachinery {

struct SqliteStoreOptions {
  std::string path;                // database file; parent directory must exist
  int64_t history_events = 100000; // revision-log entries kept for watch resume
  int read_connections = 4;
  // Called after each durable transaction with how many writes it carried (group commit),
  // on the committing thread: for a metric. Must be quick and must not call the store.
  std::function<void(size_t writes)> on_commit;
};

// Opens (creating if needed) the database. Errors: kUnavailable if the file cannot be opened,
// kDataLoss if it is not a Meridian store or is corrupt.
StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options);

}  // namespace meridian::apimachinery
