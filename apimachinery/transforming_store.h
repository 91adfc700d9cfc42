// TransformingStore: encryption at rest for chosen resources (Secrets), as a Store that wraps
// any backend (SQLite, etcd, memory), so no backend ever sees the plaintext of those objects.
// kube-apiserver does the same between its registry and etcd (value transformers).
//
// An object of a configured resource is stored, when the chain's first provider encrypts, as
// an envelope the wrapped store can still index and watch:
//   {"apiVersion", "kind", "metadata": {"name", "namespace", "labels"},
//    "k8s:enc": "<ProviderChain::ToStorage(the whole object as JSON)>"}
// Names, namespaces and labels stay readable (the store selects by labels, as etcd keys
// show names); everything else, annotations included, is encrypted, and so is every copy in
// the store's revision history. With identity first, objects are stored as they are.
// Reads decrypt with whichever configured provider wrote them (value_transformer.h).
//
// Watches of a configured resource never hand out a credential that is gone: a DELETED
// event carries the object without `data`/`stringData` (nor kubectl's last-applied
// annotation), and events replayed from an old resourceVersion carry them only when that
// write is still the object's current state. A watch from an old revision therefore never
// replays a deleted or replaced Secret's data (kube-apiserver would replay it, from etcd's
// history, until compaction).
//
// Errors: what the wrapped store returns, plus kDataLoss when a stored value cannot be
// decrypted (its key is no longer configured, or it was tampered with; the message names the
// object and the provider prefix, never data), and kInvalidArgument for an object that uses
// the reserved top-level field "k8s:enc". Watch events that cannot be decrypted are delivered
// as the envelope's name, namespace and labels only.
//
// Thread-safety: as Store (everything here is immutable or the wrapped store's).
#pragma once

#include <map>
#include <memory>

#include "apimachinery/store.h"
#include "apimachinery/value_transformer.h"

namespace meridian::apimachinery {

// The reserved top-level field of an envelope.
inline constexpr const char* kEncryptedEnvelopeField = "k8s:enc";

// A Secret without what it protects: `data`, `stringData` and kubectl's last-applied
// annotation removed (what deleted and superseded watch events carry). The watch cache
// (cacher.h) applies it to the events it replays, as this store does.
void RedactEncryptedObject(nlohmann::json& object);

// Wraps `inner`; objects of the resources in `chains` go through their chain, all others pass
// through unchanged.
std::unique_ptr<Store> NewTransformingStore(std::unique_ptr<Store> inner,
                                            std::map<ResourceType, ProviderChain> chains);

}  // namespace meridian::apimachinery
