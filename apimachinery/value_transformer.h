// ValueTransformer: how a stored value is encrypted at rest, as kube-apiserver's
// EncryptionConfiguration providers do it (k8s.io/apiserver/pkg/storage/value).
//
// A transformer turns the plaintext bytes of one object into what is stored and back.
// `ProviderChain` is the configured list of providers: the first one writes, every one can
// read what it wrote, so keys rotate by putting a new key first, rewriting every object, then
// dropping the old key. Stored values carry their provider's prefix, as in Kubernetes:
//   aesgcm:   "k8s:enc:aesgcm:v1:<keyname>:" + base64(nonce[12] + ciphertext + tag[16])
//   identity: the plaintext itself (data written before encryption was turned on)
// (Kubernetes stores the nonce and ciphertext raw; our stores hold JSON text, hence base64.)
//
// AES-GCM uses a fresh random 12-byte nonce per write (OpenSSL's RAND_bytes) and the object's
// storage key as additional authenticated data, so a ciphertext copied onto another object
// does not decrypt. AES-128/192/256 by key length (16/24/32 bytes).
//
// Thread-safety: every transformer is immutable after construction; all methods may be called
// from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace meridian::apimachinery {

// Every encrypted value starts with this; identity refuses to read such values as plaintext.
inline constexpr std::string_view kEncryptedValuePrefix = "k8s:enc:";

// What a read gives back.
struct ReadValue {
  std::string plaintext;
  // Written by a provider other than the chain's first (an older key, or identity): the value
  // should be rewritten so it is stored with the current key (see ProviderChain).
  bool stale = false;
};

// One provider (one aesgcm key, or identity).
class ValueTransformer {
 public:
  virtual ~ValueTransformer() = default;
  // The prefix that marks values this provider wrote ("" for identity).
  virtual const std::string& prefix() const = 0;
  // Encrypts `plaintext`; `context` is authenticated (not stored): the same context must be
  // given to read it back. kInternal if the crypto library fails.
  virtual StatusOr<std::string> ToStorage(std::string_view plaintext,
                                          std::string_view context) const = 0;
  // Decrypts a value that starts with prefix(). kDataLoss when it does not authenticate
  // (tampered, another key of the same name, another context) or is malformed.
  virtual StatusOr<std::string> FromStorage(std::string_view stored,
                                            std::string_view context) const = 0;
};

// AES-GCM with `key` (16, 24 or 32 bytes; kInvalidArgument otherwise) named `name` (non-empty,
// no ':'; kInvalidArgument otherwise).
StatusOr<std::unique_ptr<ValueTransformer>> NewAesGcmTransformer(std::string name, std::string key);
// Stores plaintext; reads anything not starting with kEncryptedValuePrefix.
std::unique_ptr<ValueTransformer> NewIdentityTransformer();

// The providers configured for one resource, in order.
class ProviderChain {
 public:
  // `providers` must not be empty (kInvalidArgument).
  static StatusOr<ProviderChain> Create(
      std::vector<std::shared_ptr<const ValueTransformer>> providers);

  // Written by the first provider.
  StatusOr<std::string> ToStorage(std::string_view plaintext, std::string_view context) const;
  // Read by the provider whose prefix the value carries (identity when it carries none).
  // Errors: kDataLoss when no configured provider has the value's prefix (the key it was
  // written with is not configured: the message names the prefix), when the value is
  // plaintext and identity is not configured, or when decryption fails.
  StatusOr<ReadValue> FromStorage(std::string_view stored, std::string_view context) const;
  // True when the first provider writes plaintext (identity): nothing is encrypted.
  bool WritesPlaintext() const { return providers_.front()->prefix().empty(); }
  // True when identity is configured: values stored unencrypted can be read.
  bool ReadsPlaintext() const;
  // True when a value with this stored form would be rewritten by another provider than the
  // one that wrote it (see ReadValue::stale); false for values no provider can read.
  bool IsStale(std::string_view stored) const;

 private:
  explicit ProviderChain(std::vector<std::shared_ptr<const ValueTransformer>> providers)
      : providers_(std::move(providers)) {}
  // The provider for `stored`, or nullptr.
  const ValueTransformer* ReaderFor(std::string_view stored, size_t* index) const;

  std::vector<std::shared_ptr<const ValueTransformer>> providers_;
};

}  // namespace meridian::apimachinery
