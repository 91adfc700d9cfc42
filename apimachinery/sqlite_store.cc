#include "apimachinery/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "apimachinery/store_compaction.h"
#include "apimachinery/write_precondition.h"

namespace meridian::apimachinery {
namespace {

using nlohmann::json;

// One connection's prepared statements, each prepared once (SQLITE_PREPARE_PERSISTENT) and
// reused. Why: every write ran five to eight statements and prepared each anew; parsing and
// planning them was ~18 % of a group commit's samples (docs/performance.md, issue 18).
// A connection is used by one thread at a time (the writer under write_mu_, a reader while
// borrowed), so its cache needs no lock of its own. Statements are finalized before the
// connection is closed (the destructor; the owner closes the connection after).
class StatementCache {
 public:
  explicit StatementCache(sqlite3* db) : db_(db) {}
  ~StatementCache() {
    for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
  }
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  sqlite3* db() const { return db_; }

  // The statement for `sql`, prepared on first use; nullptr when it does not prepare (the
  // caller reports sqlite3_errmsg). Nothing failed is cached, so a later call tries again.
  sqlite3_stmt* Prepared(const char* sql) {
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return nullptr;
    }
    stmts_.emplace(sql, stmt);
    return stmt;
  }

 private:
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> stmts_;
};

// One use of a prepared statement: either prepared for this use and finalized after, or
// borrowed from a connection's StatementCache and reset (bindings cleared) after, so the next
// use starts clean and no read stays open into the next transaction.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      sqlite3_finalize(stmt_);
      stmt_ = nullptr;
    }
  }
  Stmt(StatementCache& cache, const char* sql)
      : db_(cache.db()), stmt_(cache.Prepared(sql)), cached_(true) {}
  ~Stmt() {
    if (!cached_) {
      sqlite3_finalize(stmt_);
    } else if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Stmt& Bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  // A statement that did not prepare steps to SQLITE_MISUSE (sqlite3_step(nullptr)), which
  // every caller treats as an error and reports with Error().
  int Step() { return sqlite3_step(stmt_); }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col))
             : std::string();
  }
  std::string Error() const { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  bool cached_ = false;
};

Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return InternalError(std::string("sqlite: ") + msg + " in: " + sql);
  }
  return Status::Ok();
}

// Exec for a statement run often (BEGIN, COMMIT): prepared once in the connection's cache.
Status ExecCached(StatementCache& cache, const char* sql) {
  Stmt s(cache, sql);
  if (const int rc = s.Step(); rc != SQLITE_DONE && rc != SQLITE_ROW) {
    return InternalError("sqlite: " + s.Error() + " in: " + sql);
  }
  return Status::Ok();
}

StatusOr<sqlite3*> OpenConnection(const std::string& path, bool read_only) {
  sqlite3* db = nullptr;
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;  // each connection is used by one thread at a time (we lock)
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return UnavailableError("opening " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

void SetResourceVersion(json& object, int64_t rv) {
  if (!object.is_object()) object = json::object();
  json& meta = object["metadata"];
  if (!meta.is_object()) meta = json::object();
  meta["resourceVersion"] = std::to_string(rv);
}

// Continue tokens are "<namespace>\x1f<name>" of the last item returned, hex-encoded so they
// are URL-safe and opaque.
std::string EncodeContinue(const std::string& ns, const std::string& name) {
  static const char* kHex = "0123456789abcdef";
  std::string raw = ns + '\x1f' + name, out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

bool DecodeContinue(const std::string& token, std::string* ns, std::string* name) {
  if (token.size() % 2) return false;
  std::string raw;
  for (size_t i = 0; i < token.size(); i += 2) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nib(token[i]), lo = nib(token[i + 1]);
    if (hi < 0 || lo < 0) return false;
    raw += static_cast<char>(hi * 16 + lo);
  }
  size_t sep = raw.find('\x1f');
  if (sep == std::string::npos) return false;
  *ns = raw.substr(0, sep);
  *name = raw.substr(sep + 1);
  return true;
}

class SqliteStore;

// One registered watch. Delivery state is guarded by the store's dispatch mutex.
struct WatchState {
  ResourceType type;
  std::string ns;
  LabelSelector selector;
  WatchCallback callback;
  std::deque<WatchEvent> pending;
  bool cancelled = false;
  bool delivering = false;
};

class SqliteWatch final : public Watch {
 public:
  SqliteWatch(SqliteStore* store, std::shared_ptr<WatchState> state)
      : store_(store), state_(std::move(state)) {}
  ~SqliteWatch() override { Cancel(); }
  void Cancel() override;

 private:
  SqliteStore* store_;
  std::shared_ptr<WatchState> state_;
};

constexpr char kGetSql[] = "SELECT data FROM objects WHERE grp=?1 AND res=?2 AND ns=?3 AND name=?4";

class SqliteStore final : public Store, public CompactableStore {
 public:
  SqliteStore(SqliteStoreOptions options, sqlite3* writer, std::vector<sqlite3*> readers,
              int64_t revision, int64_t oldest_kept)
      : options_(std::move(options)),
        writer_(writer),
        revision_(revision),
        oldest_kept_(oldest_kept),
        readers_(std::move(readers)),
        writer_stmts_(std::make_unique<StatementCache>(writer_)) {
    // GET by name is the hottest read: preparing its statement on every call cost as much
    // as running it (docs/performance.md, "What security costs"), so each connection keeps
    // its statements prepared (StatementCache), the writer's too.
    for (sqlite3* r : readers_) reader_stmts_[r] = std::make_unique<StatementCache>(r);
    dispatcher_ = std::thread([this] { DispatchLoop(); });
  }

  ~SqliteStore() override {
    {
      std::lock_guard lock(dispatch_mu_);
      stopping_ = true;
    }
    dispatch_cv_.notify_all();
    dispatcher_.join();
    // Statements first: a connection with statements left is not closed (SQLITE_BUSY).
    reader_stmts_.clear();
    writer_stmts_.reset();
    for (sqlite3* r : readers_) sqlite3_close(r);
    sqlite3_close(writer_);
  }

  StatusOr<json> Get(const ObjectKey& key) override {
    ReadConnection conn(this);
    StatementCache& cache = *reader_stmts_.at(conn.db);
    // The connection is ours for this call, and so is its statement. Bound without a copy
    // (SQLITE_STATIC): the key outlives the step.
    if (sqlite3_stmt* stmt = cache.Prepared(kGetSql)) {
      struct Reset {
        sqlite3_stmt* stmt;
        ~Reset() {
          sqlite3_reset(stmt);
          sqlite3_clear_bindings(stmt);
        }
      } reset{stmt};
      int i = 1;
      for (const std::string* v : {&key.type.group, &key.type.resource, &key.ns, &key.name}) {
        sqlite3_bind_text(stmt, i++, v->data(), static_cast<int>(v->size()), SQLITE_STATIC);
      }
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW) {
        const unsigned char* p = sqlite3_column_text(stmt, 0);
        std::string data = p ? std::string(reinterpret_cast<const char*>(p),
                                           static_cast<size_t>(sqlite3_column_bytes(stmt, 0)))
                             : std::string();
        return ParseStored(data, key);
      }
      if (rc == SQLITE_DONE) return NotFoundError(key.ToString() + " not found");
      return InternalError("sqlite get: " + std::string(sqlite3_errmsg(conn.db)));
    }
    Stmt s(conn.db, kGetSql);
    if (!s.ok()) return InternalError("sqlite: " + std::string(sqlite3_errmsg(conn.db)));
    s.Bind(1, key.type.group).Bind(2, key.type.resource).Bind(3, key.ns).Bind(4, key.name);
    int rc = s.Step();
    if (rc == SQLITE_ROW) return ParseStored(s.Text(0), key);
    if (rc == SQLITE_DONE) return NotFoundError(key.ToString() + " not found");
    return InternalError("sqlite get: " + s.Error());
  }

  StatusOr<ListResult> List(const ResourceType& type, const ListOptions& options) override {
    std::string after_ns, after_name;
    bool paged = !options.continue_token.empty();
    if (paged && !DecodeContinue(options.continue_token, &after_ns, &after_name)) {
      return InvalidArgumentError("continue: malformed continue token");
    }
    ReadConnection conn(this);
    // One read transaction so the revision and the rows are the same snapshot.
    StatementCache& cache = *reader_stmts_.at(conn.db);
    MERIDIAN_RETURN_IF_ERROR(ExecCached(cache, "BEGIN"));
    struct EndTxn {
      StatementCache& cache;
      ~EndTxn() { (void)ExecCached(cache, "COMMIT"); }
    } end{cache};

    ListResult result;
    {
      Stmt rev(cache, "SELECT value FROM meta WHERE key='revision'");
      result.resource_version = rev.Step() == SQLITE_ROW ? rev.Int(0) : 0;
    }
    Stmt s(cache,
           "SELECT ns, name, data FROM objects WHERE grp=?1 AND res=?2"
           " AND (?3 = '' OR ns = ?3)"
           " AND (?4 = 0 OR ns > ?5 OR (ns = ?5 AND name > ?6))"
           " ORDER BY ns, name");
    if (!s.ok()) return InternalError("sqlite list: " + std::string(sqlite3_errmsg(conn.db)));
    s.Bind(1, type.group).Bind(2, type.resource).Bind(3, options.ns).Bind(4, int64_t{paged});
    s.Bind(5, after_ns).Bind(6, after_name);
    int64_t matched_after_page = 0;
    std::string last_ns, last_name;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      bool full = options.limit > 0 && static_cast<int64_t>(result.items.size()) >= options.limit;
      if (full && options.selector.Empty()) {
        ++matched_after_page;
        continue;  // counting only; no need to parse
      }
      std::string ns = s.Text(0), name = s.Text(1);
      StatusOr<json> obj = ParseStored(s.Text(2), ObjectKey{type, ns, name});
      if (!obj.ok()) return obj.status();
      if (!options.selector.Empty() && !options.selector.Matches(LabelsOf(*obj))) continue;
      if (full) {
        ++matched_after_page;
        continue;
      }
      last_ns = std::move(ns);
      last_name = std::move(name);
      result.items.push_back(std::move(obj).value());
    }
    if (rc != SQLITE_DONE) return InternalError("sqlite list: " + s.Error());
    if (matched_after_page > 0) {
      result.continue_token = EncodeContinue(last_ns, last_name);
      result.remaining_item_count = matched_after_page;
    }
    return result;
  }

  StatusOr<json> Create(const ObjectKey& key, json object) override {
    QueuedWrite w{key, WatchEventType::kAdded, std::move(object), 0};
    return Write(w);
  }

  StatusOr<json> Update(const ObjectKey& key, json object, int64_t expected) override {
    QueuedWrite w{key, WatchEventType::kModified, std::move(object), expected};
    return Write(w);
  }

  StatusOr<json> Delete(const ObjectKey& key, int64_t expected) override {
    QueuedWrite w{key, WatchEventType::kDeleted, nullptr, expected};
    return Write(w);
  }

  StatusOr<std::unique_ptr<Watch>> WatchFrom(const ResourceType& type, const std::string& ns,
                                             const LabelSelector& selector, int64_t from,
                                             WatchCallback callback) override {
    auto state = std::make_shared<WatchState>();
    state->type = type;
    state->ns = ns;
    state->selector = selector;
    state->callback = std::move(callback);
    // Holding the write lock while replaying history and registering means no write can
    // fall between the replayed history and the live stream.
    std::lock_guard lock(write_mu_);
    std::vector<WatchEvent> history;
    if (from > 0 && from < revision_) {
      if (from < oldest_kept_ - 1) {
        return OutOfRangeError("too old resource version: " + std::to_string(from) + " (" +
                               std::to_string(oldest_kept_ - 1) + ")");
      }
      Stmt s(*writer_stmts_,
             "SELECT rev, type, ns, name, data FROM events WHERE rev > ?1 AND grp=?2 AND res=?3"
             " AND (?4 = '' OR ns = ?4) ORDER BY rev");
      s.Bind(1, from).Bind(2, type.group).Bind(3, type.resource).Bind(4, ns);
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) {
        ObjectKey key{type, s.Text(2), s.Text(3)};
        MERIDIAN_ASSIGN_OR_RETURN(json obj, ParseStored(s.Text(4), key));
        SetResourceVersion(obj, s.Int(0));
        history.push_back(WatchEvent{static_cast<WatchEventType>(s.Int(1)), key,
                                     std::make_shared<const json>(std::move(obj)), s.Int(0)});
      }
      if (rc != SQLITE_DONE) return InternalError("sqlite watch history: " + s.Error());
    }
    {
      std::lock_guard dlock(dispatch_mu_);
      for (WatchEvent& e : history) {
        if (Matches(*state, e)) state->pending.push_back(std::move(e));
      }
      watches_.push_back(state);
    }
    dispatch_cv_.notify_all();
    return std::unique_ptr<Watch>(std::make_unique<SqliteWatch>(this, state));
  }

  // Without the write lock: a watch starting (TransformingStore::WatchFrom asks) must not wait
  // behind a write's fsync. The value is stored once the write is committed.
  int64_t CurrentResourceVersion() override { return revision_.load(); }

  void CancelWatch(const std::shared_ptr<WatchState>& state) {
    std::unique_lock lock(dispatch_mu_);
    state->cancelled = true;
    state->pending.clear();
    if (std::this_thread::get_id() != dispatcher_.get_id()) {
      dispatch_cv_.wait(lock, [&] { return !state->delivering; });
    }
    watches_.remove(state);
  }

 private:
  // A read connection borrowed from the pool for the scope of one call.
  struct ReadConnection {
    explicit ReadConnection(SqliteStore* s) : store(s) {
      std::unique_lock lock(s->pool_mu_);
      s->pool_cv_.wait(lock, [&] { return !s->readers_.empty(); });
      db = s->readers_.back();
      s->readers_.pop_back();
    }
    ~ReadConnection() {
      {
        std::lock_guard lock(store->pool_mu_);
        store->readers_.push_back(db);
      }
      store->pool_cv_.notify_one();
    }
    SqliteStore* store;
    sqlite3* db;
  };

  static StatusOr<json> ParseStored(const std::string& text, const ObjectKey& key) {
    json obj = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (obj.is_discarded()) return Status(StatusCode::kDataLoss, "corrupt object " + key.ToString());
    return obj;
  }

  static bool Matches(const WatchState& w, const WatchEvent& e) {
    if (w.type != e.key.type) return false;
    if (!w.ns.empty() && w.ns != e.key.ns) return false;
    return w.selector.Empty() || w.selector.Matches(LabelsOf(*e.object));
  }

  // Inside a write transaction: removes the revision log before `new_oldest` and records
  // the new oldest kept revision (both the count trim and CompactBefore).
  Status DropEventsBeforeLocked(int64_t new_oldest) {
    Stmt trim(*writer_stmts_, "DELETE FROM events WHERE rev < ?1");
    trim.Bind(1, new_oldest);
    if (trim.Step() != SQLITE_DONE) return InternalError("sqlite trim: " + trim.Error());
    Stmt oldest(*writer_stmts_, "UPDATE meta SET value=?1 WHERE key='oldest'");
    oldest.Bind(1, new_oldest);
    if (oldest.Step() != SQLITE_DONE) return InternalError("sqlite meta: " + oldest.Error());
    return Status::Ok();
  }

  Status CompactBefore(int64_t revision) override {
    std::lock_guard lock(write_mu_);
    const int64_t new_oldest = std::min(revision, revision_.load());
    if (new_oldest <= oldest_kept_) return Status::Ok();
    MERIDIAN_RETURN_IF_ERROR(ExecCached(*writer_stmts_, "BEGIN IMMEDIATE"));
    Status st = DropEventsBeforeLocked(new_oldest);
    if (st.ok()) st = ExecCached(*writer_stmts_, "COMMIT");
    if (!st.ok()) {
      (void)ExecCached(*writer_stmts_, "ROLLBACK");
      return st;
    }
    oldest_kept_ = new_oldest;
    // The deleted rows are zeroed (secure_delete), but the WAL still holds the pages as they
    // were: copy it into the database and truncate it. A reader in the middle of a long read
    // can keep part of the WAL alive; the next compaction finishes the job.
    sqlite3_wal_checkpoint_v2(writer_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    return Status::Ok();
  }

  // Inside the write's transaction: the writer's write precondition (write_precondition.h)
  // on the object as stored now; OK when there is none or it holds.
  Status CheckPreconditionInTransaction(
      const std::shared_ptr<const WritePrecondition>& precondition) {
    if (!precondition) return Status::Ok();
    const ObjectKey& key = precondition->key;
    Stmt s(*writer_stmts_, kGetSql);
    s.Bind(1, key.type.group).Bind(2, key.type.resource).Bind(3, key.ns).Bind(4, key.name);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return CheckWritePrecondition(*precondition, nullptr);
    if (rc != SQLITE_ROW) return InternalError("sqlite write precondition: " + s.Error());
    const std::string stored = s.Text(0);
    return CheckWritePrecondition(*precondition, &stored);
  }

  // One write waiting for its group commit. The caller's thread owns it; the leader fills in
  // `result` and sets `done` (both under queue_mu_).
  struct QueuedWrite {
    const ObjectKey& key;
    WatchEventType type;
    json object;       // Create/Update: what to store; Delete: filled with the last state
    int64_t expected;  // Update/Delete: the resourceVersion it must have (0: any)
    // The caller's write precondition (write_precondition.h is per thread; the leader's
    // thread is not the caller's).
    std::shared_ptr<const WritePrecondition> precondition = WritePreconditionScope::Current();
    int64_t rev = 0;            // the revision it was written at
    bool check_failed = false;  // `result` is its own error, not the group's
    Status precondition_outcome;  // what `precondition` answered, when it was checked
    StatusOr<json> result = InternalError("sqlite: write not applied");
    bool done = false;
  };

  // Group commit: a write joins the queue; the first in line (the leader) takes every write
  // queued so far and applies them in one transaction, in queue order, with one COMMIT (one
  // fsync), then acknowledges each. A write is acknowledged only after the fsync that made it
  // durable; one that fails its checks (exists, resourceVersion, precondition) fails alone and
  // takes no revision. Why: with WAL and synchronous=FULL every commit waits for the disk
  // (4-7 ms for a 13 KB object here, measured), and writes were serialised one fsync each, so
  // five controllers writing statuses at once waited ~80 ms per write (docs/performance.md,
  // "Group commit"); etcd batches its raft log the same way.
  StatusOr<json> Write(QueuedWrite& w) {
    std::unique_lock queue(queue_mu_);
    queue_.push_back(&w);
    queue_cv_.wait(queue, [&] { return w.done || (!leading_ && queue_.front() == &w); });
    // The leader checked the precondition on its thread: the writer's thread must know.
    auto done = [&w] {
      if (w.precondition) RecordWritePreconditionOutcome(w.precondition_outcome);
      return std::move(w.result);
    };
    if (w.done) return done();
    leading_ = true;
    const size_t n = std::min(queue_.size(), kMaxWritesPerCommit);
    std::vector<QueuedWrite*> group(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
    queue.unlock();
    CommitGroup(group);
    queue.lock();
    for (QueuedWrite* g : group) g->done = true;
    leading_ = false;
    queue.unlock();
    queue_cv_.notify_all();
    return done();
  }

  // The checks of one queued write, inside the group's transaction (so they see the writes
  // before it in the group). Fills a delete's `object` with the last state.
  Status CheckLocked(QueuedWrite& w) {
    const ObjectKey& key = w.key;
    // One lookup of the stored row: its revision, and for a delete its last state.
    Stmt s(*writer_stmts_,
           w.type == WatchEventType::kDeleted
               ? "SELECT rev, data FROM objects WHERE grp=?1 AND res=?2 AND ns=?3 AND name=?4"
               : "SELECT rev FROM objects WHERE grp=?1 AND res=?2 AND ns=?3 AND name=?4");
    s.Bind(1, key.type.group).Bind(2, key.type.resource).Bind(3, key.ns).Bind(4, key.name);
    const int rc = s.Step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return InternalError("sqlite read: " + s.Error());
    const bool stored = rc == SQLITE_ROW;
    if (w.type == WatchEventType::kAdded) {
      if (stored) return AlreadyExistsError(key.ToString() + " already exists");
    } else {
      if (!stored) return NotFoundError(key.ToString() + " not found");
      if (w.expected != 0 && s.Int(0) != w.expected) {
        return AbortedError(key.ToString() + ": resourceVersion " + std::to_string(w.expected) +
                            " does not match the stored " + std::to_string(s.Int(0)));
      }
      if (w.type == WatchEventType::kDeleted) {
        MERIDIAN_ASSIGN_OR_RETURN(w.object, ParseStored(s.Text(1), key));
      }
    }
    if (!w.precondition) return Status::Ok();
    w.precondition_outcome = CheckPreconditionInTransaction(w.precondition);
    return w.precondition_outcome;
  }

  // Writes one checked write at revision `rev` (objects and the revision log).
  Status ApplyLocked(QueuedWrite& w, int64_t rev) {
    const ObjectKey& key = w.key;
    w.rev = rev;
    SetResourceVersion(w.object, rev);
    const std::string data = w.object.dump();
    if (w.type == WatchEventType::kDeleted) {
      Stmt del(*writer_stmts_, "DELETE FROM objects WHERE grp=?1 AND res=?2 AND ns=?3 AND name=?4");
      del.Bind(1, key.type.group).Bind(2, key.type.resource).Bind(3, key.ns).Bind(4, key.name);
      if (del.Step() != SQLITE_DONE) return InternalError("sqlite delete: " + del.Error());
    } else {
      Stmt put(*writer_stmts_,
               "INSERT OR REPLACE INTO objects(grp, res, ns, name, rev, data)"
               " VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
      put.Bind(1, key.type.group).Bind(2, key.type.resource).Bind(3, key.ns).Bind(4, key.name);
      put.Bind(5, rev).Bind(6, data);
      if (put.Step() != SQLITE_DONE) return InternalError("sqlite put: " + put.Error());
    }
    Stmt ev(*writer_stmts_,
            "INSERT INTO events(rev, type, grp, res, ns, name, data) VALUES(?1,?2,?3,?4,?5,?6,?7)");
    ev.Bind(1, rev).Bind(2, static_cast<int64_t>(w.type)).Bind(3, key.type.group);
    ev.Bind(4, key.type.resource).Bind(5, key.ns).Bind(6, key.name).Bind(7, data);
    if (ev.Step() != SQLITE_DONE) return InternalError("sqlite event: " + ev.Error());
    return Status::Ok();
  }

  // Applies `group` in one durable transaction, then queues the watch events in revision
  // order. A write whose checks fail gets its error; any other failure (the disk) fails every
  // write of the group, none of which is then stored.
  void CommitGroup(const std::vector<QueuedWrite*>& group) {
    std::lock_guard lock(write_mu_);
    if (Status begun = ExecCached(*writer_stmts_, "BEGIN IMMEDIATE"); !begun.ok()) {
      for (QueuedWrite* w : group) w->result = begun;
      return;
    }
    int64_t rev = revision_;
    std::vector<QueuedWrite*> applied;
    Status st = [&]() -> Status {
      for (QueuedWrite* w : group) {
        if (Status checked = CheckLocked(*w); !checked.ok()) {
          w->result = checked;
          w->check_failed = true;
          continue;
        }
        MERIDIAN_RETURN_IF_ERROR(ApplyLocked(*w, rev + 1));
        ++rev;
        applied.push_back(w);
      }
      if (applied.empty()) return Status::Ok();
      Stmt meta(*writer_stmts_, "UPDATE meta SET value=?1 WHERE key='revision'");
      meta.Bind(1, rev);
      if (meta.Step() != SQLITE_DONE) return InternalError("sqlite meta: " + meta.Error());
      // Trim the revision log in small steps so no single write pays for a big delete.
      if (rev - oldest_kept_ + 1 > options_.history_events) {
        MERIDIAN_RETURN_IF_ERROR(DropEventsBeforeLocked(rev - options_.history_events + 1));
      }
      return Status::Ok();
    }();
    if (st.ok()) st = ExecCached(*writer_stmts_, applied.empty() ? "ROLLBACK" : "COMMIT");
    if (!st.ok()) {
      (void)ExecCached(*writer_stmts_, "ROLLBACK");
      for (QueuedWrite* w : group) {
        if (!w->check_failed) w->result = st;
      }
      return;
    }
    if (applied.empty()) return;
    revision_ = rev;
    if (rev - oldest_kept_ + 1 > options_.history_events) {
      oldest_kept_ = rev - options_.history_events + 1;
    }
    {
      std::lock_guard dlock(dispatch_mu_);
      for (QueuedWrite* w : applied) {
        WatchEvent event{w->type, w->key, std::make_shared<const json>(w->object), w->rev};
        for (const auto& watch : watches_) {
          if (!watch->cancelled && Matches(*watch, event)) watch->pending.push_back(event);
        }
      }
    }
    for (QueuedWrite* w : applied) w->result = std::move(w->object);
    dispatch_cv_.notify_all();
    if (options_.on_commit) options_.on_commit(applied.size());
  }

  void DispatchLoop() {
    std::unique_lock lock(dispatch_mu_);
    while (true) {
      std::shared_ptr<WatchState> ready;
      for (const auto& w : watches_) {
        if (!w->cancelled && !w->pending.empty()) {
          ready = w;
          break;
        }
      }
      if (!ready) {
        if (stopping_) return;
        dispatch_cv_.wait(lock);
        continue;
      }
      // Deliver this watch's backlog without holding the lock during callbacks.
      ready->delivering = true;
      while (!ready->cancelled && !ready->pending.empty()) {
        WatchEvent e = std::move(ready->pending.front());
        ready->pending.pop_front();
        lock.unlock();
        ready->callback(e);
        lock.lock();
      }
      ready->delivering = false;
      dispatch_cv_.notify_all();
      // Move the served watch to the back so one busy watch cannot starve the others.
      watches_.remove(ready);
      if (!ready->cancelled) watches_.push_back(ready);
    }
  }

  const SqliteStoreOptions options_;

  // Writes waiting for a group commit, oldest first (see Write); one leader at a time.
  static constexpr size_t kMaxWritesPerCommit = 256;
  std::mutex queue_mu_;  // guards queue_, leading_, and every QueuedWrite's result and done
  std::condition_variable queue_cv_;
  std::deque<QueuedWrite*> queue_;
  bool leading_ = false;

  std::mutex write_mu_;  // guards writer_, writer_stmts_, oldest_kept_, and writes of revision_
  sqlite3* writer_;
  std::atomic<int64_t> revision_;  // read without the lock by CurrentResourceVersion
  int64_t oldest_kept_;

  std::mutex pool_mu_;  // guards readers_
  std::condition_variable pool_cv_;
  std::vector<sqlite3*> readers_;
  // The writer's prepared statements (used under write_mu_).
  std::unique_ptr<StatementCache> writer_stmts_;
  // Each reader's prepared statements; the map is filled by the constructor and read-only
  // afterwards, a cache is used only by the thread that borrowed its connection.
  std::map<sqlite3*, std::unique_ptr<StatementCache>> reader_stmts_;

  std::mutex dispatch_mu_;  // guards watches_, every WatchState's delivery fields, stopping_
  std::condition_variable dispatch_cv_;
  std::list<std::shared_ptr<WatchState>> watches_;
  bool stopping_ = false;
  std::thread dispatcher_;
};

void SqliteWatch::Cancel() {
  if (state_) {
    store_->CancelWatch(state_);
    state_.reset();
  }
}

// The store holds member credentials: only its owner may read it. SQLite creates the -wal and
// -shm files with the database file's mode, so creating that 0600 covers all three; files
// left readable by an older version are tightened.
Status RestrictToOwner(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return UnavailableError("opening " + path + ": " + std::strerror(errno));
  ::close(fd);
  for (const std::string& p : {path, path + "-wal", path + "-shm"}) {
    struct stat st;
    if (::stat(p.c_str(), &st) == 0 && (st.st_mode & 077) != 0 &&
        ::chmod(p.c_str(), st.st_mode & 0700) != 0) {
      return UnavailableError("chmod 0600 " + p + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES('schema', 1), ('revision', 0), ('oldest', 1);
CREATE TABLE IF NOT EXISTS objects(
  grp TEXT NOT NULL, res TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
  rev INTEGER NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY(grp, res, ns, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(
  rev INTEGER PRIMARY KEY, type INTEGER NOT NULL, grp TEXT NOT NULL, res TEXT NOT NULL,
  ns TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL);
)sql";

}  // namespace

StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options) {
  MERIDIAN_RETURN_IF_ERROR(RestrictToOwner(options.path));
  MERIDIAN_ASSIGN_OR_RETURN(sqlite3 * writer, OpenConnection(options.path, false));
  auto fail = [&](Status st) {
    sqlite3_close(writer);
    return st;
  };
  // WAL + synchronous=FULL: every COMMIT is on disk before it returns.
  // secure_delete: deleted and replaced rows (old revisions, a Secret's value before it was
  // re-encrypted) are overwritten with zeros rather than left in free space.
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=OFF",
        "PRAGMA wal_autocheckpoint=4000", "PRAGMA secure_delete=ON"}) {
    Status st = Exec(writer, pragma);
    if (!st.ok()) return fail(Status(StatusCode::kDataLoss, st.message() + " (" + options.path + ")"));
  }
  Status st = Exec(writer, kSchema);
  if (!st.ok()) return fail(Status(StatusCode::kDataLoss, st.message()));
  int64_t revision = 0, oldest = 1, schema = 0;
  {
    Stmt s(writer, "SELECT key, value FROM meta");
    while (s.Step() == SQLITE_ROW) {
      std::string k = s.Text(0);
      if (k == "revision") revision = s.Int(1);
      if (k == "oldest") oldest = s.Int(1);
      if (k == "schema") schema = s.Int(1);
    }
  }
  if (schema != 1) {
    return fail(Status(StatusCode::kDataLoss,
                       options.path + ": unsupported store schema " + std::to_string(schema)));
  }
  std::vector<sqlite3*> readers;
  for (int i = 0; i < std::max(1, options.read_connections); ++i) {
    StatusOr<sqlite3*> r = OpenConnection(options.path, true);
    if (!r.ok()) {
      for (sqlite3* c : readers) sqlite3_close(c);
      return fail(r.status());
    }
    readers.push_back(*r);
  }
  return std::unique_ptr<Store>(
      std::make_unique<SqliteStore>(options, writer, std::move(readers), revision, oldest));
}

}  // namespace meridian::apimachinery
