// Ed25519 keys for the residency evidence ledger's signed checkpoints (residency/ledger.h):
// the federation-apiserver signs with the private key (--evidence-signing-key-file), anyone
// holding the public key verifies (`fedctl residency verify --public-key`). OpenSSL's EVP API;
// keys are PEM (PKCS#8 private key, SubjectPublicKeyInfo public key), as `openssl genpkey
// -algorithm ed25519` and `openssl pkey -pubout` write them. Why Ed25519: deterministic
// signatures (no nonce to get wrong), 64 bytes, and fast to verify.
//
// Pure apart from the *FromFile functions; thread-safe (OpenSSL keys are immutable once made).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace meridian::residency {

inline constexpr char kSignatureAlgorithm[] = "Ed25519";

// A public key: verifies checkpoint signatures.
class EvidenceVerifyKey {
 public:
  // From a PEM public key (or a PEM private key: its public half). `source` names the input
  // in errors ("public key file /etc/…: not an Ed25519 key"). Errors: kInvalidArgument.
  static StatusOr<EvidenceVerifyKey> FromPem(std::string_view pem, const std::string& source);
  static StatusOr<EvidenceVerifyKey> FromFile(const std::string& path);

  // Whether `signature_hex` (128 lowercase hex digits) is this key's signature of `message`.
  bool Verify(std::string_view message, std::string_view signature_hex) const;
  // The first 16 hex digits of the SHA-256 of the raw 32-byte public key: names the key in
  // checkpoints and errors without printing it.
  const std::string& key_id() const { return key_id_; }
  std::string Pem() const;

 private:
  friend class EvidenceSigningKey;  // makes the public half of its key
  explicit EvidenceVerifyKey(std::shared_ptr<EVP_PKEY> key);
  std::shared_ptr<EVP_PKEY> key_;
  std::string key_id_;
};

// A private key: signs checkpoints.
class EvidenceSigningKey {
 public:
  // From a PEM private key. Errors: kInvalidArgument naming `source` (unreadable, not PEM,
  // not Ed25519).
  static StatusOr<EvidenceSigningKey> FromPem(std::string_view pem, const std::string& source);
  static StatusOr<EvidenceSigningKey> FromFile(const std::string& path);
  // A new random key.
  static StatusOr<EvidenceSigningKey> Generate();

  // 128 lowercase hex digits: the Ed25519 signature of `message`.
  std::string Sign(std::string_view message) const;
  const EvidenceVerifyKey& public_key() const { return public_; }
  const std::string& key_id() const { return public_.key_id(); }
  // PKCS#8 PEM of the private key (what FromPem reads).
  std::string Pem() const;

 private:
  EvidenceSigningKey(std::shared_ptr<EVP_PKEY> key, EvidenceVerifyKey pub)
      : key_(std::move(key)), public_(std::move(pub)) {}
  std::shared_ptr<EVP_PKEY> key_;
  EvidenceVerifyKey public_;
};

}  // namespace meridian::residency
