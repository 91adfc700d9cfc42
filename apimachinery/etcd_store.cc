#include "apimachinery/etcd_store.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include "apimachinery/internal/etcd/rpc.grpc.pb.h"
#include "apimachinery/store_compaction.h"
#include "apimachinery/write_fence.h"
#include "apimachinery/write_precondition.h"
#include "common/base64.h"

namespace meridian::apimachinery {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// One etcd member's client URL and the stubs on its channel.
struct Endpoint {
  std::string url;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
};

std::chrono::system_clock::time_point ToSystem(Clock::time_point t) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(t - Clock::now());
}

// gRPC's codes are the ones StatusCode mirrors (common/status.h), so the mapping is the value.
Status FromGrpc(const grpc::Status& st, const std::string& what) {
  if (st.ok()) return Status::Ok();
  return Status(static_cast<StatusCode>(st.error_code()), what + ": " + st.error_message());
}

bool IsCompacted(const grpc::Status& st) {
  return st.error_code() == grpc::StatusCode::OUT_OF_RANGE &&
         st.error_message().find("compacted") != std::string::npos;
}

// The endpoints and the failover policy, shared by the store and its watches (a watch may
// outlive the store object).
class Connection {
 public:
  Connection(std::vector<Endpoint> endpoints, const EtcdStoreOptions& options)
      : endpoints_(std::move(endpoints)), options_(options) {}

  size_t size() const { return endpoints_.size(); }
  const Endpoint& endpoint(size_t i) const { return endpoints_[i]; }
  const EtcdStoreOptions& options() const { return options_; }

  // Waits up to the dial timeout (bounded by `deadline`) for endpoint i to be connected.
  bool Dial(size_t i, Clock::time_point deadline) const {
    const Endpoint& ep = endpoints_[i];
    if (ep.channel->GetState(true) == GRPC_CHANNEL_READY) return true;
    Clock::time_point until = std::min(deadline, Clock::now() + options_.dial_timeout);
    return ep.channel->WaitForConnected(ToSystem(until));
  }

  // Runs `rpc(endpoint, context)` with the request deadline, starting at the endpoint that
  // answered last and moving on when one cannot be reached. A call that was sent and failed
  // with UNAVAILABLE is retried elsewhere only if `idempotent`: a write may have been applied.
  // `what` names the operation in errors.
  template <typename Rpc>
  Status Call(const std::string& what, bool idempotent, Rpc&& rpc) {
    const Clock::time_point deadline = Clock::now() + options_.request_timeout;
    const size_t start = current_.load();
    std::string errors;
    bool connected_any = false;
    for (size_t attempt = 0; Clock::now() < deadline; ++attempt) {
      if (attempt > 0 && attempt % endpoints_.size() == 0) {
        // A full round failed (e.g. a member that has lost its leader): pause before the next.
        std::this_thread::sleep_for(
            std::min<Clock::duration>(std::chrono::milliseconds(100), deadline - Clock::now()));
      }
      const size_t i = (start + attempt) % endpoints_.size();
      const Endpoint& ep = endpoints_[i];
      if (!Dial(i, deadline)) {
        if (errors.find(ep.url + ": cannot connect") == std::string::npos) {
          errors += "; " + ep.url + ": cannot connect";
        }
        continue;
      }
      connected_any = true;
      grpc::ClientContext ctx;
      ctx.set_deadline(ToSystem(deadline));
      grpc::Status st = rpc(ep, ctx);
      if (st.ok()) {
        current_.store(i);
        return Status::Ok();
      }
      if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        return DeadlineExceededError("etcd " + what + ": no answer from " + ep.url + " within " +
                                     std::to_string(options_.request_timeout.count()) + " ms");
      }
      if (st.error_code() != grpc::StatusCode::UNAVAILABLE) {
        current_.store(i);
        return FromGrpc(st, "etcd " + what + " at " + ep.url);
      }
      errors += "; " + ep.url + ": " + st.error_message();
      if (!idempotent) {
        return UnavailableError("etcd " + what + " at " + ep.url + ": " + st.error_message() +
                                " (the write may or may not have been applied)");
      }
    }
    if (errors.empty()) errors = "; no attempt fit in the deadline";
    if (!connected_any) {
      return UnavailableError("etcd " + what + ": no endpoint reachable within " +
                              std::to_string(options_.request_timeout.count()) + " ms" + errors);
    }
    return DeadlineExceededError("etcd " + what + ": no endpoint answered within " +
                                 std::to_string(options_.request_timeout.count()) + " ms" + errors);
  }

  // The endpoint a new watch stream should use: the current one if it connects, else the
  // next that does. -1 when none connects within the dial timeout.
  int PickForStream() {
    const size_t start = current_.load();
    for (size_t k = 0; k < endpoints_.size(); ++k) {
      size_t i = (start + k) % endpoints_.size();
      if (Dial(i, Clock::now() + options_.dial_timeout)) return static_cast<int>(i);
    }
    return -1;
  }
  // Moves calls off endpoint i (its stream broke).
  void MarkBroken(size_t i) {
    size_t expected = i;
    current_.compare_exchange_strong(expected, (i + 1) % endpoints_.size());
  }

 private:
  const std::vector<Endpoint> endpoints_;
  const EtcdStoreOptions options_;
  std::atomic<size_t> current_{0};
};

std::string RangeEnd(const std::string& prefix) {
  // Every key with this prefix is < prefix with its last byte incremented (our prefixes end
  // with '/', so there is no 0xff to carry).
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  return end;
}

std::string TypePrefix(const std::string& prefix, const ResourceType& type) {
  return prefix + "/" + (type.group.empty() ? std::string("core") : type.group) + "/" +
         type.resource + "/";
}

Status ValidateSegment(const std::string& what, const std::string& value, bool may_be_empty) {
  if (value.empty() && !may_be_empty) return InvalidArgumentError(what + " must not be empty");
  if (value.find('/') != std::string::npos || value.find('\0') != std::string::npos) {
    return InvalidArgumentError(what + " \"" + value + "\" must not contain '/'");
  }
  return Status::Ok();
}

Status ValidateType(const ResourceType& type) {
  MERIDIAN_RETURN_IF_ERROR(ValidateSegment("group", type.group, true));
  return ValidateSegment("resource", type.resource, false);
}

Status ValidateKey(const ObjectKey& key) {
  MERIDIAN_RETURN_IF_ERROR(ValidateType(key.type));
  MERIDIAN_RETURN_IF_ERROR(ValidateSegment("namespace", key.ns, true));
  return ValidateSegment("object name", key.name, false);
}

void SetResourceVersion(json& object, int64_t rv) {
  object["metadata"]["resourceVersion"] = std::to_string(rv);
}

// The stored value: compact JSON without resourceVersion (it is the key's mod_revision).
StatusOr<std::string> Encode(json object) {
  if (!object.is_object()) return InvalidArgumentError("object must be a JSON object");
  auto meta = object.find("metadata");
  if (meta != object.end() && !meta->is_null()) {
    if (!meta->is_object()) return InvalidArgumentError("metadata must be a JSON object");
    meta->erase("resourceVersion");
  }
  return object.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Parses a stored value; kDataLoss when it is not a JSON object (a key written by hand).
StatusOr<json> Decode(const std::string& key, const std::string& value, int64_t rv) {
  json object = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object() ||
      (object.contains("metadata") && !object["metadata"].is_object())) {
    return Status(StatusCode::kDataLoss,
                  "etcd key " + key + " does not hold a JSON object (written outside Meridian?)");
  }
  SetResourceVersion(object, rv);
  return object;
}

// The object a DELETE event reports when the deleted value is unknown or unreadable.
json Tombstone(const ObjectKey& key, int64_t rv) {
  json meta = {{"name", key.name}, {"resourceVersion", std::to_string(rv)}};
  if (!key.ns.empty()) meta["namespace"] = key.ns;
  return {{"metadata", meta}};
}

// Splits the part of a key after its type prefix into (namespace, name).
bool ParseRest(const std::string& rest, std::string* ns, std::string* name) {
  size_t slash = rest.find('/');
  if (slash == std::string::npos) {
    ns->clear();
    *name = rest;
  } else {
    *ns = rest.substr(0, slash);
    *name = rest.substr(slash + 1);
  }
  return !name->empty() && name->find('/') == std::string::npos;
}

std::string EncodeContinue(int64_t rv, const std::string& start) {
  return Base64UrlEncode(json({{"rv", rv}, {"start", start}}).dump());
}

Status DecodeContinue(const std::string& text, int64_t* rv, std::string* start) {
  std::string raw;
  if (!Base64UrlDecode(text, &raw)) {
    return InvalidArgumentError("continue key is not valid: illegal base64 data");
  }
  json token = json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (!token.is_object() || !token.contains("rv") || !token["rv"].is_number_integer() ||
      !token.contains("start") || !token["start"].is_string() || token["rv"].get<int64_t>() <= 0) {
    return InvalidArgumentError("continue key is not valid: malformed token");
  }
  *rv = token["rv"].get<int64_t>();
  *start = token["start"].get<std::string>();
  return Status::Ok();
}

bool SelectorMatches(const LabelSelector& selector, const json* object) {
  if (selector.Empty()) return true;
  return object != nullptr && selector.Matches(LabelsOf(*object));
}

// One watch: its stream runs on its own thread; Cancel stops it and waits for it.
struct WatchState {
  std::shared_ptr<Connection> conn;
  ResourceType type;
  std::string type_prefix;  // the keys' common prefix before "<ns>/<name>"
  std::string begin, end;   // watched key range
  LabelSelector selector;
  int64_t next_revision = 0;  // the first revision not yet delivered (watch thread only)

  std::atomic<bool> cancelled{false};
  std::mutex mu;  // guards ctx and wakes the reconnect pause
  std::condition_variable cv;
  std::shared_ptr<grpc::ClientContext> ctx;

  std::mutex delivery_mu;  // held while the callback runs, so Cancel can wait for it
  WatchCallback callback;

  void Deliver(const WatchEvent& ev) {
    std::lock_guard lock(delivery_mu);
    if (cancelled.load() || !callback) return;
    callback(ev);
  }

  // Translates one etcd event; label-selector transitions as Kubernetes does them (an object
  // that stops matching is DELETED for this watch, one that starts matching is ADDED).
  void Handle(const mvccpb::Event& e) {
    const mvccpb::KeyValue& kv = e.kv();
    const int64_t rv = kv.mod_revision();
    next_revision = std::max(next_revision, rv + 1);
    ObjectKey key{type, "", ""};
    if (kv.key().rfind(type_prefix, 0) != 0 ||
        !ParseRest(kv.key().substr(type_prefix.size()), &key.ns, &key.name)) {
      spdlog::warn("etcd watch {}: skipping key {} (not <ns>/<name> under the type's prefix)",
                   type.ToString(), kv.key());
      return;
    }
    std::shared_ptr<const json> prev;
    if (e.has_prev_kv()) {
      StatusOr<json> p = Decode(e.prev_kv().key(), e.prev_kv().value(), e.prev_kv().mod_revision());
      if (p.ok()) prev = std::make_shared<const json>(std::move(p).value());
    }
    WatchEvent ev{WatchEventType::kModified, key, nullptr, rv};
    if (e.type() == mvccpb::Event::DELETE) {
      ev.type = WatchEventType::kDeleted;
      json last = prev ? *prev : Tombstone(key, rv);
      SetResourceVersion(last, rv);
      ev.object = std::make_shared<const json>(std::move(last));
    } else {
      StatusOr<json> obj = Decode(kv.key(), kv.value(), rv);
      if (!obj.ok()) {
        spdlog::warn("etcd watch {}: skipping revision {}: {}", type.ToString(), rv,
                     obj.status().message());
        return;
      }
      ev.type = kv.create_revision() == rv ? WatchEventType::kAdded : WatchEventType::kModified;
      ev.object = std::make_shared<const json>(std::move(obj).value());
    }
    const bool now = SelectorMatches(
        selector, ev.type == WatchEventType::kDeleted ? prev.get() : ev.object.get());
    if (ev.type == WatchEventType::kModified && !selector.Empty()) {
      const bool before = SelectorMatches(selector, prev.get());
      if (!before && !now) return;
      if (before && !now) ev.type = WatchEventType::kDeleted;
      if (!before && now) ev.type = WatchEventType::kAdded;
    } else if (!now) {
      return;
    }
    Deliver(ev);
  }

  // Waits `d` unless cancelled first.
  void Pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, d, [&] { return cancelled.load(); });
  }

  // The watch thread: streams from next_revision, and after a broken stream resumes on the
  // next endpoint that connects. Ends on Cancel or when the needed history was compacted.
  static void Run(const std::shared_ptr<WatchState>& self) {
    while (!self->cancelled.load()) {
      int i = self->conn->PickForStream();
      if (i < 0) {
        spdlog::warn("etcd watch {}: no endpoint reachable; retrying", self->type.ToString());
        self->Pause(std::chrono::milliseconds(500));
        continue;
      }
      const Endpoint& ep = self->conn->endpoint(static_cast<size_t>(i));
      auto ctx = std::make_shared<grpc::ClientContext>();
      {
        std::lock_guard lock(self->mu);
        if (self->cancelled.load()) return;
        self->ctx = ctx;
      }
      auto stream = ep.watch->Watch(ctx.get());
      etcdserverpb::WatchRequest req;
      auto* create = req.mutable_create_request();
      create->set_key(self->begin);
      create->set_range_end(self->end);
      create->set_start_revision(self->next_revision);
      create->set_prev_kv(true);
      bool compacted = false;
      bool stopped_early = false;  // we left a live stream (cancel response or Cancel)
      if (stream->Write(req)) {
        etcdserverpb::WatchResponse resp;
        while (stream->Read(&resp)) {
          if (resp.canceled()) {
            if (resp.compact_revision() > 0) {
              spdlog::error(
                  "etcd watch {}: revision {} was compacted (oldest kept {}); the watch ends "
                  "and its client must list again",
                  self->type.ToString(), self->next_revision, resp.compact_revision());
              compacted = true;
            } else {
              spdlog::warn("etcd watch {} at {} cancelled by etcd: {}", self->type.ToString(),
                           ep.url, resp.cancel_reason());
            }
            stopped_early = true;
            break;
          }
          for (const mvccpb::Event& e : resp.events()) {
            if (self->cancelled.load()) break;
            self->Handle(e);
          }
          if (self->cancelled.load()) {
            stopped_early = true;
            break;
          }
        }
      }
      // Finish would wait on a stream we walked away from; one that ended by itself reports
      // why (a dead member, a keepalive timeout).
      if (stopped_early) ctx->TryCancel();
      grpc::Status st = stream->Finish();
      {
        std::lock_guard lock(self->mu);
        self->ctx.reset();
      }
      if (self->cancelled.load() || compacted) return;
      spdlog::warn("etcd watch {}: stream to {} ended ({}); resuming from revision {}",
                   self->type.ToString(), ep.url, st.error_message(), self->next_revision);
      self->conn->MarkBroken(static_cast<size_t>(i));
      self->Pause(std::chrono::milliseconds(100));
    }
  }
};

class EtcdWatch final : public Watch {
 public:
  explicit EtcdWatch(std::shared_ptr<WatchState> state) : state_(std::move(state)) {
    thread_ = std::thread([s = state_] { WatchState::Run(s); });
  }
  ~EtcdWatch() override { Cancel(); }

  void Cancel() override {
    state_->cancelled.store(true);
    {
      std::lock_guard lock(state_->mu);
      if (state_->ctx) state_->ctx->TryCancel();
    }
    state_->cv.notify_all();
    if (!thread_.joinable()) return;
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();  // called from our own callback: the thread ends after it returns
      return;
    }
    thread_.join();
    std::lock_guard lock(state_->delivery_mu);
    state_->callback = nullptr;  // drops the callback's captures now
  }

 private:
  std::shared_ptr<WatchState> state_;
  std::thread thread_;
};

class EtcdStore final : public Store, public CompactableStore, public WriteFencedStore {
 public:
  EtcdStore(std::shared_ptr<Connection> conn, int64_t revision)
      : conn_(std::move(conn)), prefix_(conn_->options().prefix), revision_(revision) {}

  ~EtcdStore() override {
    std::lock_guard lock(watches_mu_);
    for (const auto& weak : watches_) {
      if (auto w = weak.lock()) {
        w->cancelled.store(true);
        std::lock_guard wlock(w->mu);
        if (w->ctx) w->ctx->TryCancel();
        w->cv.notify_all();
      }
    }
  }

  StatusOr<json> Get(const ObjectKey& key) override {
    MERIDIAN_RETURN_IF_ERROR(ValidateKey(key));
    const std::string k = Key(key);
    etcdserverpb::RangeRequest req;
    req.set_key(k);
    etcdserverpb::RangeResponse resp;
    MERIDIAN_RETURN_IF_ERROR(conn_->Call("get " + key.ToString(), true, [&](auto& ep, auto& ctx) {
      return ep.kv->Range(&ctx, req, &resp);
    }));
    Seen(resp.header().revision());
    if (resp.kvs_size() == 0) return NotFoundError(key.ToString() + " not found");
    return Decode(k, resp.kvs(0).value(), resp.kvs(0).mod_revision());
  }

  StatusOr<ListResult> List(const ResourceType& type, const ListOptions& options) override {
    MERIDIAN_RETURN_IF_ERROR(ValidateType(type));
    MERIDIAN_RETURN_IF_ERROR(ValidateSegment("namespace", options.ns, true));
    if (options.limit < 0) return InvalidArgumentError("limit must be >= 0");
    const std::string type_prefix = TypePrefix(prefix_, type);
    const std::string begin = options.ns.empty() ? type_prefix : type_prefix + options.ns + "/";
    const std::string end = RangeEnd(begin);
    int64_t rv = 0;
    std::string from = begin;
    if (!options.continue_token.empty()) {
      std::string start;
      MERIDIAN_RETURN_IF_ERROR(DecodeContinue(options.continue_token, &rv, &start));
      from = type_prefix + start;
      if (from < begin || from >= end) {
        return InvalidArgumentError("continue key is not valid: not from this list");
      }
    }

    ListResult result;
    for (;;) {
      etcdserverpb::RangeRequest req;
      req.set_key(from);
      req.set_range_end(end);
      req.set_revision(rv);
      if (options.limit > 0) req.set_limit(options.limit);
      etcdserverpb::RangeResponse resp;
      grpc::Status raw;
      Status st = conn_->Call("list " + type.ToString(), true, [&](auto& ep, auto& ctx) {
        raw = ep.kv->Range(&ctx, req, &resp);
        return raw;
      });
      if (IsCompacted(raw)) {
        return OutOfRangeError(
            "The provided continue parameter is too old to display a "
            "consistent list result. You can start a new list without the "
            "continue parameter.");
      }
      MERIDIAN_RETURN_IF_ERROR(st);
      if (rv == 0) rv = resp.header().revision();  // later chunks and pages read at this one
      Seen(resp.header().revision());
      for (int i = 0; i < resp.kvs_size(); ++i) {
        const mvccpb::KeyValue& kv = resp.kvs(i);
        StatusOr<json> obj = Decode(kv.key(), kv.value(), kv.mod_revision());
        if (!obj.ok()) {
          spdlog::warn("etcd list {}: skipping: {}", type.ToString(), obj.status().message());
        } else if (SelectorMatches(options.selector, &*obj)) {
          result.items.push_back(std::move(obj).value());
        }
        if (options.limit > 0 && static_cast<int64_t>(result.items.size()) >= options.limit) {
          if (i + 1 < resp.kvs_size() || resp.more()) {
            result.continue_token =
                EncodeContinue(rv, kv.key().substr(type_prefix.size()) + std::string(1, '\0'));
            if (options.selector.Empty()) result.remaining_item_count = resp.count() - (i + 1);
          }
          result.resource_version = rv;
          return result;
        }
      }
      if (!resp.more() || resp.kvs_size() == 0) break;
      from = resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0');
    }
    result.resource_version = rv;
    return result;
  }

  StatusOr<json> Create(const ObjectKey& key, json object) override {
    MERIDIAN_RETURN_IF_ERROR(ValidateKey(key));
    MERIDIAN_ASSIGN_OR_RETURN(std::string value, Encode(object));
    const std::string k = Key(key);
    etcdserverpb::TxnRequest txn;
    auto* cmp = txn.add_compare();
    cmp->set_key(k);
    cmp->set_target(etcdserverpb::Compare::CREATE);
    cmp->set_result(etcdserverpb::Compare::EQUAL);
    cmp->set_create_revision(0);
    auto* put = txn.add_success()->mutable_request_put();
    put->set_key(k);
    put->set_value(std::move(value));
    MarkWritten(key.type, &txn);
    MERIDIAN_ASSIGN_OR_RETURN(etcdserverpb::TxnResponse resp,
                              ConditionalTxn("create " + key.ToString(), txn));
    if (!resp.succeeded()) return AlreadyExistsError(key.ToString() + " already exists");
    SetResourceVersion(object, resp.header().revision());
    return object;
  }

  StatusOr<json> Update(const ObjectKey& key, json object, int64_t expected) override {
    MERIDIAN_RETURN_IF_ERROR(ValidateKey(key));
    MERIDIAN_ASSIGN_OR_RETURN(std::string value, Encode(object));
    const std::string k = Key(key);
    etcdserverpb::TxnRequest txn;
    Guard(k, expected, &txn);
    auto* put = txn.add_success()->mutable_request_put();
    put->set_key(k);
    put->set_value(std::move(value));
    MarkWritten(key.type, &txn);
    txn.add_failure()->mutable_request_range()->set_key(k);
    MERIDIAN_ASSIGN_OR_RETURN(etcdserverpb::TxnResponse resp,
                              ConditionalTxn("update " + key.ToString(), txn));
    if (!resp.succeeded()) return GuardFailure(key, expected, resp);
    SetResourceVersion(object, resp.header().revision());
    return object;
  }

  StatusOr<json> Delete(const ObjectKey& key, int64_t expected) override {
    MERIDIAN_RETURN_IF_ERROR(ValidateKey(key));
    const std::string k = Key(key);
    etcdserverpb::TxnRequest txn;
    Guard(k, expected, &txn);
    auto* del = txn.add_success()->mutable_request_delete_range();
    del->set_key(k);
    del->set_prev_kv(true);
    MarkWritten(key.type, &txn);
    txn.add_failure()->mutable_request_range()->set_key(k);
    MERIDIAN_ASSIGN_OR_RETURN(etcdserverpb::TxnResponse resp,
                              ConditionalTxn("delete " + key.ToString(), txn));
    if (!resp.succeeded()) return GuardFailure(key, expected, resp);
    const int64_t rv = resp.header().revision();
    json last = Tombstone(key, rv);
    if (resp.responses_size() > 0 &&
        resp.responses(0).response_delete_range().prev_kvs_size() > 0) {
      const mvccpb::KeyValue& prev = resp.responses(0).response_delete_range().prev_kvs(0);
      StatusOr<json> obj = Decode(k, prev.value(), rv);
      if (obj.ok()) {
        last = std::move(obj).value();
      } else {
        spdlog::warn("etcd delete {}: {}; deleted anyway", key.ToString(), obj.status().message());
      }
    }
    return last;
  }

  StatusOr<std::unique_ptr<Watch>> WatchFrom(const ResourceType& type, const std::string& ns,
                                             const LabelSelector& selector, int64_t from,
                                             WatchCallback callback) override {
    MERIDIAN_RETURN_IF_ERROR(ValidateType(type));
    MERIDIAN_RETURN_IF_ERROR(ValidateSegment("namespace", ns, true));
    if (from < 0) return InvalidArgumentError("resource version must be >= 0");
    auto state = std::make_shared<WatchState>();
    state->conn = conn_;
    state->type = type;
    state->type_prefix = TypePrefix(prefix_, type);
    state->begin = ns.empty() ? state->type_prefix : state->type_prefix + ns + "/";
    state->end = RangeEnd(state->begin);
    state->selector = selector;
    state->callback = std::move(callback);

    // Check the start revision now, so a compacted one is an error here rather than a watch
    // that ends at once. A revision newer than etcd's is fine: the watch waits for it.
    etcdserverpb::RangeRequest req;
    req.set_key(state->begin);
    req.set_range_end(state->end);
    req.set_count_only(true);
    req.set_revision(from);
    etcdserverpb::RangeResponse resp;
    grpc::Status raw;
    Status st = conn_->Call("watch " + type.ToString(), true, [&](auto& ep, auto& ctx) {
      raw = ep.kv->Range(&ctx, req, &resp);
      return raw;
    });
    if (IsCompacted(raw)) {
      return OutOfRangeError("too old resource version: " + std::to_string(from) + " (" +
                             raw.error_message() + ")");
    }
    if (!st.ok() && !(raw.error_code() == grpc::StatusCode::OUT_OF_RANGE &&
                      raw.error_message().find("future") != std::string::npos)) {
      return st;
    }
    if (st.ok()) Seen(resp.header().revision());
    state->next_revision = (from == 0 ? resp.header().revision() : from) + 1;
    {
      std::lock_guard lock(watches_mu_);
      std::erase_if(watches_, [](const std::weak_ptr<WatchState>& w) { return w.expired(); });
      watches_.push_back(state);
    }
    return std::unique_ptr<Watch>(std::make_unique<EtcdWatch>(std::move(state)));
  }

  StatusOr<int64_t> RaiseFence(const std::string& name, const std::string& holder) override {
    if (name.empty()) return InvalidArgumentError("fence name must not be empty");
    // '!' cannot start an API group (a DNS subdomain), so no object key is ever here.
    const std::string k = prefix_ + "/!fences/" + name;
    etcdserverpb::TxnRequest txn;
    auto* put = txn.add_success()->mutable_request_put();
    put->set_key(k);
    put->set_value(holder);
    etcdserverpb::TxnResponse resp;
    MERIDIAN_RETURN_IF_ERROR(Txn("raise fence " + name, txn, &resp));
    const int64_t rv = resp.header().revision();
    std::lock_guard lock(fence_mu_);
    fence_ = Fence{k, rv};
    return rv;
  }

  StatusOr<int64_t> LastWriteRevision(const ResourceType& type) override {
    MERIDIAN_RETURN_IF_ERROR(ValidateType(type));
    etcdserverpb::RangeRequest req;  // linearizable (etcd's default): a raft read index
    req.set_key(WriteMarker(type));
    etcdserverpb::RangeResponse resp;
    MERIDIAN_RETURN_IF_ERROR(
        conn_->Call("read the last write of " + type.ToString(), true,
                    [&](auto& ep, auto& ctx) { return ep.kv->Range(&ctx, req, &resp); }));
    Seen(resp.header().revision());
    // No marker: no write to the type since markers were written (etcd_store.h).
    return resp.kvs_size() > 0 ? resp.kvs(0).mod_revision() : 0;
  }

  int64_t CurrentResourceVersion() override {
    etcdserverpb::RangeRequest req;
    req.set_key(prefix_ + "/");
    req.set_count_only(true);
    etcdserverpb::RangeResponse resp;
    Status st = conn_->Call("read the revision", true,
                            [&](auto& ep, auto& ctx) { return ep.kv->Range(&ctx, req, &resp); });
    if (!st.ok()) {
      // The interface has no error here; the newest revision we saw is the best answer.
      spdlog::warn("{}; answering the last revision seen", st.message());
    } else {
      Seen(resp.header().revision());
    }
    return revision_.load();
  }

 private:
  std::string Key(const ObjectKey& key) const {
    return TypePrefix(prefix_, key.type) + (key.ns.empty() ? "" : key.ns + "/") + key.name;
  }

  // The key whose mod_revision is the revision of the newest write to `type`: put (empty) in
  // the Txn of every write, so it moves atomically with the object. '!' cannot start an API
  // group, so no object key is ever here, and no watch or list of a type covers it.
  std::string WriteMarker(const ResourceType& type) const {
    return prefix_ + "/!writes/" + (type.group.empty() ? std::string("core") : type.group) + "/" +
           type.resource;
  }
  void MarkWritten(const ResourceType& type, etcdserverpb::TxnRequest* txn) const {
    txn->add_success()->mutable_request_put()->set_key(WriteMarker(type));
  }

  void Seen(int64_t rv) {
    int64_t cur = revision_.load();
    while (rv > cur && !revision_.compare_exchange_weak(cur, rv)) {
    }
  }

  struct Fence {
    std::string key;  // empty: no fence raised
    int64_t revision = 0;
  };

  // A key the write needs unchanged since it was read: the raised fence's, or the write
  // precondition's object's (write_precondition.h). `index` is the failure branch's read of it.
  struct KeyAt {
    std::string key;
    int64_t revision = 0;  // its mod_revision when read; 0 when it did not exist
    int index = -1;
  };
  // Makes `txn` conditional on `key` still being at `revision` (etcd compares an absent key's
  // mod_revision as 0) and reads the key in the failure branch, to tell why it failed.
  static KeyAt AddUnchanged(const std::string& key, int64_t revision,
                            etcdserverpb::TxnRequest* txn) {
    auto* cmp = txn->add_compare();
    cmp->set_key(key);
    cmp->set_target(etcdserverpb::Compare::MOD);
    cmp->set_result(etcdserverpb::Compare::EQUAL);
    cmp->set_mod_revision(revision);
    KeyAt at{key, revision, txn->failure_size()};
    txn->add_failure()->mutable_request_range()->set_key(key);
    return at;
  }
  // Whether a failed Txn failed (also) because `at` moved.
  static bool Moved(const KeyAt& at, const etcdserverpb::TxnResponse& resp) {
    if (at.index < 0 || resp.responses_size() <= at.index) return false;
    const auto& range = resp.responses(at.index).response_range();
    return (range.kvs_size() > 0 ? range.kvs(0).mod_revision() : 0) != at.revision;
  }

  // How many times a write re-reads its precondition's object when it moved between the read
  // and the Txn (a Lease renewal does, about once per retry period) before giving up.
  static constexpr int kPreconditionAttempts = 5;

  // Runs a write's Txn (its own compare, success and failure operations already in `txn`)
  // under the raised fence (if any) and the write precondition of this thread (if any): the
  // precondition's object is read, checked, and compared unchanged in the same Txn, so a write
  // lands only while it holds. Returns the Txn's response when the write happened or failed
  // only on its own compare; the fence's error (kFailedPrecondition) or the precondition's
  // otherwise. A precondition whose object keeps moving under kPreconditionAttempts reads
  // is kAborted.
  StatusOr<etcdserverpb::TxnResponse> ConditionalTxn(const std::string& what,
                                                     const etcdserverpb::TxnRequest& txn) {
    std::shared_ptr<const WritePrecondition> precondition = WritePreconditionScope::Current();
    for (int attempt = 1;; ++attempt) {
      etcdserverpb::TxnRequest conditional = txn;
      const KeyAt fence = AddFence(&conditional);
      KeyAt read;
      if (precondition) {
        MERIDIAN_ASSIGN_OR_RETURN(read, CheckPrecondition(*precondition, &conditional));
      }
      etcdserverpb::TxnResponse resp;
      MERIDIAN_RETURN_IF_ERROR(Txn(what, conditional, &resp));
      if (resp.succeeded()) return resp;
      MERIDIAN_RETURN_IF_ERROR(FenceFailure(fence, resp));
      if (!Moved(read, resp)) return resp;
      if (attempt == kPreconditionAttempts) {
        return AbortedError("etcd " + what + ": " + precondition->key.ToString() +
                            ", which the write is conditional on, changed under each of " +
                            std::to_string(kPreconditionAttempts) + " attempts; try again");
      }
    }
  }

  // Reads the precondition's object, checks the condition on it (its error when it does not
  // hold), and makes `txn` conditional on the object staying as read.
  StatusOr<KeyAt> CheckPrecondition(const WritePrecondition& precondition,
                                    etcdserverpb::TxnRequest* txn) {
    MERIDIAN_RETURN_IF_ERROR(ValidateKey(precondition.key));
    const std::string k = Key(precondition.key);
    etcdserverpb::RangeRequest req;
    req.set_key(k);
    etcdserverpb::RangeResponse resp;
    MERIDIAN_RETURN_IF_ERROR(
        conn_->Call("read " + precondition.key.ToString() + " for a write precondition", true,
                    [&](auto& ep, auto& ctx) { return ep.kv->Range(&ctx, req, &resp); }));
    Seen(resp.header().revision());
    const bool exists = resp.kvs_size() > 0;
    MERIDIAN_RETURN_IF_ERROR(
        CheckWritePrecondition(precondition, exists ? &resp.kvs(0).value() : nullptr));
    return AddUnchanged(k, exists ? resp.kvs(0).mod_revision() : 0, txn);
  }

  // Makes the write conditional on the raised fence (if any). Returns the fence's compare
  // (an empty key when none is raised).
  KeyAt AddFence(etcdserverpb::TxnRequest* txn) {
    Fence fence;
    {
      std::lock_guard lock(fence_mu_);
      fence = fence_;
    }
    if (fence.key.empty()) return KeyAt{};
    return AddUnchanged(fence.key, fence.revision, txn);
  }
  // kFailedPrecondition when a failed write failed because the fence moved; OK otherwise.
  static Status FenceFailure(const KeyAt& fence, const etcdserverpb::TxnResponse& resp) {
    if (fence.key.empty() || !Moved(fence, resp)) return Status::Ok();
    const auto& range = resp.responses(fence.index).response_range();
    const std::string holder = range.kvs_size() > 0 ? range.kvs(0).value() : "";
    return FailedPreconditionError(
        "write refused: the leader's fence " + fence.key + " (raised at revision " +
        std::to_string(fence.revision) + ") was raised again" +
        (holder.empty() ? std::string() : " by " + holder) + "; this process no longer leads");
  }

  // The write's condition: mod_revision == expected, or (expected 0) that the key exists.
  static void Guard(const std::string& k, int64_t expected, etcdserverpb::TxnRequest* txn) {
    auto* cmp = txn->add_compare();
    cmp->set_key(k);
    if (expected != 0) {
      cmp->set_target(etcdserverpb::Compare::MOD);
      cmp->set_result(etcdserverpb::Compare::EQUAL);
      cmp->set_mod_revision(expected);
    } else {
      cmp->set_target(etcdserverpb::Compare::CREATE);
      cmp->set_result(etcdserverpb::Compare::GREATER);
      cmp->set_create_revision(0);
    }
  }

  // Why a guarded write did not happen, from the failure branch's read of the key.
  static Status GuardFailure(const ObjectKey& key, int64_t expected,
                             const etcdserverpb::TxnResponse& resp) {
    if (resp.responses_size() == 0 || resp.responses(0).response_range().kvs_size() == 0) {
      return NotFoundError(key.ToString() + " not found");
    }
    return AbortedError(key.ToString() + ": resourceVersion " + std::to_string(expected) +
                        " does not match the stored " +
                        std::to_string(resp.responses(0).response_range().kvs(0).mod_revision()));
  }

  Status Txn(const std::string& what, const etcdserverpb::TxnRequest& txn,
             etcdserverpb::TxnResponse* resp) {
    MERIDIAN_RETURN_IF_ERROR(
        conn_->Call(what, false, [&](auto& ep, auto& ctx) { return ep.kv->Txn(&ctx, txn, resp); }));
    Seen(resp->header().revision());
    if (resp->succeeded()) MaybeCompact(resp->header().revision());
    return Status::Ok();
  }

  Status CompactBefore(int64_t revision) override {
    std::lock_guard lock(compact_mu_);
    const int64_t target = std::min(revision, revision_.load());
    if (target <= compacted_) return Status::Ok();
    etcdserverpb::CompactionRequest req;
    req.set_revision(target);
    etcdserverpb::CompactionResponse resp;
    grpc::Status raw;
    Status st = conn_->Call("compact", true, [&](auto& ep, auto& ctx) {
      raw = ep.kv->Compact(&ctx, req, &resp);
      return raw;
    });
    if (!st.ok() && !IsCompacted(raw)) return st;
    compacted_ = target;  // done by us, or already further by another replica
    return Status::Ok();
  }

  // Keeps etcd's history to about history_revisions (between 1x and 2x of it), compacting in
  // steps so that not every write pays for a compaction.
  void MaybeCompact(int64_t rv) {
    const int64_t keep = conn_->options().history_revisions;
    if (keep <= 0) return;
    std::unique_lock lock(compact_mu_, std::try_to_lock);
    if (!lock.owns_lock() || rv - compacted_ < 2 * keep) return;
    etcdserverpb::CompactionRequest req;
    req.set_revision(rv - keep);
    etcdserverpb::CompactionResponse resp;
    grpc::Status raw;
    Status st = conn_->Call("compact", true, [&](auto& ep, auto& ctx) {
      raw = ep.kv->Compact(&ctx, req, &resp);
      return raw;
    });
    if (st.ok() || IsCompacted(raw)) {
      compacted_ = rv - keep;  // done by us, or already further by another replica
    } else {
      spdlog::warn("{}", st.message());
    }
  }

  const std::shared_ptr<Connection> conn_;
  const std::string prefix_;
  std::atomic<int64_t> revision_;

  std::mutex fence_mu_;  // guards fence_
  Fence fence_;

  std::mutex compact_mu_;  // guards compacted_; held while one compaction runs
  int64_t compacted_ = 0;

  std::mutex watches_mu_;  // guards watches_ (to stop them when the store goes away)
  std::vector<std::weak_ptr<WatchState>> watches_;
};

StatusOr<std::string> ReadPem(const std::string& option, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgumentError(option + ": cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN") == std::string::npos) {
    return InvalidArgumentError(option + ": " + path + " is not a PEM file");
  }
  return text.str();
}

}  // namespace

StatusOr<std::vector<std::string>> ParseEtcdEndpoints(const std::string& storage_flag) {
  const std::string scheme = "etcd:";
  if (storage_flag.rfind(scheme, 0) != 0 || storage_flag.size() == scheme.size()) {
    return InvalidArgumentError("--storage: \"" + storage_flag + "\" is not etcd:URL[,URL...]");
  }
  std::vector<std::string> urls;
  std::stringstream list(storage_flag.substr(scheme.size()));
  std::string url;
  while (std::getline(list, url, ',')) {
    const bool http = url.rfind("http://", 0) == 0, https = url.rfind("https://", 0) == 0;
    const std::string hostport = url.substr(http ? 7 : https ? 8 : 0);
    const size_t colon = hostport.rfind(':');
    const bool port_ok = colon != std::string::npos && colon > 0 && colon + 1 < hostport.size() &&
                         hostport.find_first_not_of("0123456789", colon + 1) == std::string::npos &&
                         hostport.find('/') == std::string::npos;
    if ((!http && !https) || !port_ok) {
      return InvalidArgumentError("--storage: etcd endpoint \"" + url +
                                  "\" is not http://HOST:PORT or https://HOST:PORT");
    }
    if (!urls.empty() && (urls.front().rfind("https://", 0) == 0) != https) {
      return InvalidArgumentError("--storage: etcd endpoints mix http and https (\"" +
                                  urls.front() + "\", \"" + url + "\")");
    }
    urls.push_back(url);
  }
  if (urls.empty())
    return InvalidArgumentError("--storage: no etcd endpoint in \"" + storage_flag + "\"");
  return urls;
}

StatusOr<std::unique_ptr<Store>> OpenEtcdStore(const EtcdStoreOptions& options) {
  if (options.endpoints.empty()) return InvalidArgumentError("etcd: no endpoints");
  if (options.prefix.empty() || options.prefix[0] != '/' || options.prefix.back() == '/') {
    return InvalidArgumentError("etcd prefix \"" + options.prefix +
                                "\" must start with '/' and not end with one");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return InvalidArgumentError("--etcd-certfile and --etcd-keyfile must be given together");
  }
  const bool tls = options.endpoints.front().rfind("https://", 0) == 0;
  if (!tls && (!options.ca_file.empty() || !options.cert_file.empty())) {
    return InvalidArgumentError(
        "--etcd-cafile/--etcd-certfile/--etcd-keyfile need https:// etcd endpoints");
  }
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      MERIDIAN_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem("--etcd-cafile", options.ca_file));
    }
    if (!options.cert_file.empty()) {
      MERIDIAN_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPem("--etcd-certfile", options.cert_file));
      MERIDIAN_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPem("--etcd-keyfile", options.key_file));
    }
    creds = grpc::SslCredentials(ssl);
  }

  std::vector<Endpoint> endpoints;
  for (const std::string& url : options.endpoints) {
    MERIDIAN_ASSIGN_OR_RETURN(auto parsed, ParseEtcdEndpoints("etcd:" + url));
    (void)parsed;
    grpc::ChannelArguments args;
    // Reconnect quickly after a member comes back (gRPC's default backoff reaches minutes).
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetMaxReceiveMessageSize(-1);  // a LIST of a whole collection is one response
    // Notice a dead member under an idle watch stream.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    const std::string target = url.substr(url.find("://") + 3);
    Endpoint ep;
    ep.url = url;
    ep.channel = grpc::CreateCustomChannel(target, creds, args);
    ep.kv = etcdserverpb::KV::NewStub(ep.channel);
    ep.watch = etcdserverpb::Watch::NewStub(ep.channel);
    endpoints.push_back(std::move(ep));
  }

  // Ask each endpoint in turn until one answers, so the error names every endpoint and why.
  auto conn = std::make_shared<Connection>(std::move(endpoints), options);
  const Clock::time_point deadline = Clock::now() + options.request_timeout;
  std::string errors;
  for (size_t i = 0; i < conn->size(); ++i) {
    const Endpoint& ep = conn->endpoint(i);
    // When the endpoint does not connect, the call below still runs: it fails at once with
    // gRPC's reason for the last failed connection, which tells "refused" from "HTTP/1 server"
    // from "TLS handshake".
    const bool connected = conn->Dial(i, deadline);
    grpc::ClientContext ctx;
    ctx.set_deadline(ToSystem(std::min(deadline, Clock::now() + options.dial_timeout)));
    etcdserverpb::RangeRequest req;
    req.set_key(options.prefix + "/");
    req.set_count_only(true);
    etcdserverpb::RangeResponse resp;
    grpc::Status st = ep.kv->Range(&ctx, req, &resp);
    if (st.ok()) {
      return std::unique_ptr<Store>(std::make_unique<EtcdStore>(conn, resp.header().revision()));
    }
    const std::string& msg = st.error_message();
    if (st.error_code() == grpc::StatusCode::UNIMPLEMENTED ||
        msg.find("http1") != std::string::npos || msg.find("HTTP/1") != std::string::npos) {
      return FailedPreconditionError(ep.url + " is not an etcd v3 server: " + msg);
    }
    errors += "; " + ep.url + ": " + (connected ? msg : "cannot connect (" + msg + ")");
    if (tls && !connected) {
      errors +=
          " (a refused TLS handshake looks like this: check --etcd-cafile, "
          "--etcd-certfile, --etcd-keyfile and that the member's certificate names "
          "this host)";
    }
  }
  return UnavailableError("etcd unreachable within " +
                          std::to_string(options.request_timeout.count()) + " ms" + errors);
}

}  // namespace meridian::apimachinery
