#include "apimachinery/transforming_store.h"

#include <array>
#include <memory>
#include <mutex>
#include <utility>

namespace meridian::apimachinery {
namespace {

using nlohmann::json;

// The additional authenticated data of an object's value: its storage key, so a value moved
// onto another object (or another resource) does not decrypt.
std::string ContextOf(const ObjectKey& key) {
  return key.type.ToString() + "/" + key.ns + "/" + key.name;
}

std::string RevisionText(const json& object) {
  const json* meta =
      object.is_object() && object.contains("metadata") ? &object["metadata"] : nullptr;
  if (meta && meta->is_object() && meta->contains("resourceVersion") &&
      (*meta)["resourceVersion"].is_string()) {
    return (*meta)["resourceVersion"].get<std::string>();
  }
  return "";
}

// What stays readable of an object: enough for the store to index, select and watch it.
json Shell(const ObjectKey& key, const json& object) {
  json shell = json::object();
  for (const char* field : {"apiVersion", "kind"}) {
    if (object.contains(field)) shell[field] = object[field];
  }
  json meta = {{"name", key.name}};
  if (!key.ns.empty()) meta["namespace"] = key.ns;
  if (object.contains("metadata") && object["metadata"].is_object()) {
    const json& m = object["metadata"];
    if (m.contains("labels")) meta["labels"] = m["labels"];
    if (m.contains("resourceVersion")) meta["resourceVersion"] = m["resourceVersion"];
  }
  shell["metadata"] = std::move(meta);
  return shell;
}

}  // namespace

void RedactEncryptedObject(json& object) {
  object.erase("data");
  object.erase("stringData");
  if (object.contains("metadata") && object["metadata"].is_object()) {
    json& meta = object["metadata"];
    if (meta.contains("annotations") && meta["annotations"].is_object()) {
      meta["annotations"].erase("kubectl.kubernetes.io/last-applied-configuration");
    }
  }
}

namespace {

void Redact(json& object) { RedactEncryptedObject(object); }

// The decoded objects of the last few events, shared by the watches of one store: the inner
// store hands every watch the same stored object for one event, so it is decrypted, parsed
// and (for deletes) redacted once rather than once per watch, and every watch gets the same
// decoded object (which lets the REST layer serialize it once too). Keyed by the stored
// object's address, held alive by the entry so that the address cannot be reused meanwhile.
class DecodedEvents {
 public:
  template <class DecodeFn>
  std::shared_ptr<const json> Get(const std::shared_ptr<const json>& stored, bool redacted,
                                  DecodeFn decode) {
    {
      std::lock_guard lock(mu_);
      for (const Entry& e : entries_) {
        if (e.stored == stored && e.redacted == redacted) return e.decoded;
      }
    }
    auto decoded = std::make_shared<const json>(decode());  // outside the lock
    std::lock_guard lock(mu_);
    entries_[next_] = Entry{stored, redacted, decoded};
    next_ = (next_ + 1) % entries_.size();
    return decoded;
  }

 private:
  struct Entry {
    std::shared_ptr<const json> stored;
    bool redacted = false;
    std::shared_ptr<const json> decoded;
  };
  std::mutex mu_;  // guards entries_, next_
  std::array<Entry, 8> entries_;
  size_t next_ = 0;
};

class TransformingStore final : public Store {
 public:
  TransformingStore(std::unique_ptr<Store> inner, std::map<ResourceType, ProviderChain> chains)
      : inner_(std::move(inner)), chains_(std::move(chains)) {}

  StatusOr<json> Get(const ObjectKey& key) override {
    MERIDIAN_ASSIGN_OR_RETURN(json stored, inner_->Get(key));
    const ProviderChain* chain = ChainFor(key.type);
    return chain ? Decode(*chain, key, std::move(stored)) : stored;
  }

  StatusOr<ListResult> List(const ResourceType& type, const ListOptions& options) override {
    MERIDIAN_ASSIGN_OR_RETURN(ListResult result, inner_->List(type, options));
    const ProviderChain* chain = ChainFor(type);
    if (!chain) return result;
    for (json& item : result.items) {
      ObjectKey key{type, NamespaceOf(item), NameOf(item)};
      MERIDIAN_ASSIGN_OR_RETURN(item, Decode(*chain, key, std::move(item)));
    }
    return result;
  }

  StatusOr<json> Create(const ObjectKey& key, json object) override {
    const ProviderChain* chain = ChainFor(key.type);
    if (!chain) return inner_->Create(key, std::move(object));
    MERIDIAN_ASSIGN_OR_RETURN(json stored, Encode(*chain, key, object));
    MERIDIAN_ASSIGN_OR_RETURN(json written, inner_->Create(key, std::move(stored)));
    return WithRevisionOf(std::move(object), written);
  }

  StatusOr<json> Update(const ObjectKey& key, json object, int64_t expected) override {
    const ProviderChain* chain = ChainFor(key.type);
    if (!chain) return inner_->Update(key, std::move(object), expected);
    MERIDIAN_ASSIGN_OR_RETURN(json stored, Encode(*chain, key, object));
    MERIDIAN_ASSIGN_OR_RETURN(json written, inner_->Update(key, std::move(stored), expected));
    return WithRevisionOf(std::move(object), written);
  }

  StatusOr<json> Delete(const ObjectKey& key, int64_t expected) override {
    MERIDIAN_ASSIGN_OR_RETURN(json last, inner_->Delete(key, expected));
    const ProviderChain* chain = ChainFor(key.type);
    if (!chain) return last;
    // The object is gone either way: an undecryptable last state is not an error to report.
    StatusOr<json> plain = Decode(*chain, key, last);
    return plain.ok() ? std::move(plain).value() : Shell(key, last);
  }

  StatusOr<std::unique_ptr<Watch>> WatchFrom(const ResourceType& type, const std::string& ns,
                                             const LabelSelector& selector, int64_t from,
                                             WatchCallback callback) override {
    const ProviderChain* chain = ChainFor(type);
    if (!chain) return inner_->WatchFrom(type, ns, selector, from, std::move(callback));
    // Which replayed writes are still current: the revision of every object now, read before
    // the watch starts. Events up to that list's revision carry data only if they are the
    // object's current state; later ones are live.
    auto current = std::make_shared<std::map<std::pair<std::string, std::string>, int64_t>>();
    int64_t listed_at = 0;
    if (from > 0 && from < inner_->CurrentResourceVersion()) {
      ListOptions all;
      all.ns = ns;
      MERIDIAN_ASSIGN_OR_RETURN(ListResult now, inner_->List(type, all));
      listed_at = now.resource_version;
      for (const json& item : now.items) {
        StatusOr<int64_t> rv = ResourceVersionOf(item);
        (*current)[{NamespaceOf(item), NameOf(item)}] = rv.ok() ? *rv : 0;
      }
    }
    return inner_->WatchFrom(
        type, ns, selector, from,
        [chain, current, listed_at, decoded = decoded_,
         callback = std::move(callback)](const WatchEvent& e) {
          bool superseded = false;
          if (e.resource_version <= listed_at) {
            auto it = current->find({e.key.ns, e.key.name});
            superseded = it == current->end() || it->second != e.resource_version;
          }
          const bool redact = e.type == WatchEventType::kDeleted || superseded;
          WatchEvent out{e.type, e.key,
                         decoded->Get(e.object, redact,
                                      [&] {
                                        StatusOr<json> plain = Decode(*chain, e.key, *e.object);
                                        json object = plain.ok() ? std::move(plain).value()
                                                                 : Shell(e.key, *e.object);
                                        if (redact) Redact(object);
                                        return object;
                                      }),
                         e.resource_version};
          callback(out);
        });
  }

  int64_t CurrentResourceVersion() override { return inner_->CurrentResourceVersion(); }
  StatusOr<int64_t> LastWriteRevision(const ResourceType& type) override {
    return inner_->LastWriteRevision(type);
  }

  bool NeedsRewrite(const ObjectKey& key, const json& stored) override {
    const ProviderChain* chain = ChainFor(key.type);
    if (!chain) return inner_->NeedsRewrite(key, stored);
    StatusOr<json> raw = inner_->Get(key);
    if (!raw.ok() || RevisionText(*raw) != RevisionText(stored)) return false;
    if (raw->is_object() && raw->contains(kEncryptedEnvelopeField) &&
        (*raw)[kEncryptedEnvelopeField].is_string()) {
      return chain->IsStale((*raw)[kEncryptedEnvelopeField].get<std::string>());
    }
    return !chain->WritesPlaintext();  // plaintext while the first provider encrypts
  }

 private:
  const ProviderChain* ChainFor(const ResourceType& type) const {
    auto it = chains_.find(type);
    return it == chains_.end() ? nullptr : &it->second;
  }

  static std::string NamespaceOf(const json& object) {
    return object.contains("metadata") ? object["metadata"].value("namespace", "") : "";
  }
  static std::string NameOf(const json& object) {
    return object.contains("metadata") ? object["metadata"].value("name", "") : "";
  }

  // The plaintext object with the store's resourceVersion.
  static json WithRevisionOf(json object, const json& written) {
    if (!object.is_object()) object = json::object();
    if (!object["metadata"].is_object()) object["metadata"] = json::object();
    object["metadata"]["resourceVersion"] = RevisionText(written);
    return object;
  }

  static StatusOr<json> Encode(const ProviderChain& chain, const ObjectKey& key,
                               const json& object) {
    if (object.is_object() && object.contains(kEncryptedEnvelopeField)) {
      return InvalidArgumentError(std::string(kEncryptedEnvelopeField) +
                                  ": a reserved field (encryption at rest)");
    }
    if (chain.WritesPlaintext()) return object;
    json plain = object;
    if (plain.contains("metadata") && plain["metadata"].is_object()) {
      plain["metadata"].erase("resourceVersion");  // the store owns it (on the envelope)
    }
    MERIDIAN_ASSIGN_OR_RETURN(std::string sealed, chain.ToStorage(plain.dump(), ContextOf(key)));
    json envelope = Shell(key, object);
    envelope["metadata"].erase("resourceVersion");
    envelope[kEncryptedEnvelopeField] = std::move(sealed);
    return envelope;
  }

  static StatusOr<json> Decode(const ProviderChain& chain, const ObjectKey& key, json stored) {
    if (!stored.is_object() || !stored.contains(kEncryptedEnvelopeField)) {
      if (!chain.ReadsPlaintext()) {
        return Status(StatusCode::kDataLoss,
                      key.ToString() +
                          ": stored unencrypted and the encryption configuration has no "
                          "identity provider to read it");
      }
      return stored;
    }
    const json& sealed = stored[kEncryptedEnvelopeField];
    if (!sealed.is_string()) {
      return Status(StatusCode::kDataLoss, key.ToString() + ": malformed encrypted value");
    }
    StatusOr<ReadValue> read = chain.FromStorage(sealed.get<std::string>(), ContextOf(key));
    if (!read.ok()) return read.status().WithContext(key.ToString());
    json plain = json::parse(read->plaintext, nullptr, /*allow_exceptions=*/false);
    if (plain.is_discarded() || !plain.is_object()) {
      return Status(StatusCode::kDataLoss, key.ToString() + ": decrypted value is not an object");
    }
    return WithRevisionOf(std::move(plain), stored);
  }

  std::unique_ptr<Store> inner_;
  const std::map<ResourceType, ProviderChain> chains_;
  const std::shared_ptr<DecodedEvents> decoded_ = std::make_shared<DecodedEvents>();
};

}  // namespace

std::unique_ptr<Store> NewTransformingStore(std::unique_ptr<Store> inner,
                                            std::map<ResourceType, ProviderChain> chains) {
  return std::make_unique<TransformingStore>(std::move(inner), std::move(chains));
}

}  // namespace meridian::apimachinery
