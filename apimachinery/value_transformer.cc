#include "apimachinery/value_transformer.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/base64.h"

namespace meridian::apimachinery {
namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

std::string OpenSslError(const char* what) {
  char buf[256] = {0};
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  return std::string(what) + ": " + buf;
}

struct CipherCtx {
  CipherCtx() : ctx(EVP_CIPHER_CTX_new()) {}
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
  CipherCtx(const CipherCtx&) = delete;
  CipherCtx& operator=(const CipherCtx&) = delete;
  EVP_CIPHER_CTX* ctx;
};

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

class AesGcmTransformer final : public ValueTransformer {
 public:
  AesGcmTransformer(std::string name, std::string key)
      : prefix_(std::string(kEncryptedValuePrefix) + "aesgcm:v1:" + name + ":"),
        key_(std::move(key)) {
    cipher_ = key_.size() == 16   ? EVP_aes_128_gcm()
              : key_.size() == 24 ? EVP_aes_192_gcm()
                                  : EVP_aes_256_gcm();
  }

  const std::string& prefix() const override { return prefix_; }

  StatusOr<std::string> ToStorage(std::string_view plaintext,
                                  std::string_view context) const override {
    // A random nonce per write: with 96-bit random nonces, NIST's 2^32-messages-per-key bound
    // is far beyond what one federation writes before a key rotation.
    std::string sealed(kNonceBytes + plaintext.size() + kTagBytes, '\0');
    auto* out = reinterpret_cast<unsigned char*>(sealed.data());
    if (RAND_bytes(out, kNonceBytes) != 1) return InternalError(OpenSslError("RAND_bytes"));
    CipherCtx c;
    int len = 0;
    if (c.ctx == nullptr || EVP_EncryptInit_ex(c.ctx, cipher_, nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) != 1 ||
        EVP_EncryptInit_ex(c.ctx, nullptr, nullptr, Bytes(key_), out) != 1 ||
        EVP_EncryptUpdate(c.ctx, nullptr, &len, Bytes(context), static_cast<int>(context.size())) !=
            1 ||
        EVP_EncryptUpdate(c.ctx, out + kNonceBytes, &len, Bytes(plaintext),
                          static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(c.ctx, out + kNonceBytes + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes,
                            out + kNonceBytes + plaintext.size()) != 1) {
      return InternalError(OpenSslError("AES-GCM encrypt"));
    }
    return prefix_ + Base64StdEncode(sealed);
  }

  StatusOr<std::string> FromStorage(std::string_view stored,
                                    std::string_view context) const override {
    std::optional<std::string> sealed = Base64Decode(stored.substr(prefix_.size()));
    if (!sealed || sealed->size() < kNonceBytes + kTagBytes) {
      return Status(StatusCode::kDataLoss, prefix_ + ": malformed encrypted value");
    }
    const auto* in = Bytes(*sealed);
    const size_t n = sealed->size() - kNonceBytes - kTagBytes;
    std::string plaintext(n, '\0');
    auto* out = reinterpret_cast<unsigned char*>(plaintext.data());
    std::string tag = sealed->substr(kNonceBytes + n);
    CipherCtx c;
    int len = 0;
    if (c.ctx == nullptr || EVP_DecryptInit_ex(c.ctx, cipher_, nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) != 1 ||
        EVP_DecryptInit_ex(c.ctx, nullptr, nullptr, Bytes(key_), in) != 1 ||
        EVP_DecryptUpdate(c.ctx, nullptr, &len, Bytes(context), static_cast<int>(context.size())) !=
            1 ||
        EVP_DecryptUpdate(c.ctx, out, &len, in + kNonceBytes, static_cast<int>(n)) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1 ||
        EVP_DecryptFinal_ex(c.ctx, out + len, &len) != 1) {
      ERR_clear_error();
      // The usual cause is a different key under the same name; never say more about it.
      return Status(StatusCode::kDataLoss,
                    prefix_ +
                        ": the value does not decrypt with this key (wrong key or "
                        "tampered data)");
    }
    return plaintext;
  }

 private:
  std::string prefix_;
  std::string key_;
  const EVP_CIPHER* cipher_;
};

class IdentityTransformer final : public ValueTransformer {
 public:
  const std::string& prefix() const override { return prefix_; }
  StatusOr<std::string> ToStorage(std::string_view plaintext, std::string_view) const override {
    return std::string(plaintext);
  }
  StatusOr<std::string> FromStorage(std::string_view stored, std::string_view) const override {
    if (stored.starts_with(kEncryptedValuePrefix)) {
      return Status(StatusCode::kDataLoss, "identity cannot read an encrypted value");
    }
    return std::string(stored);
  }

 private:
  std::string prefix_;
};

}  // namespace

StatusOr<std::unique_ptr<ValueTransformer>> NewAesGcmTransformer(std::string name,
                                                                 std::string key) {
  if (name.empty()) return InvalidArgumentError("name: must not be empty");
  if (name.find(':') != std::string::npos) {
    return InvalidArgumentError("name: \"" + name + "\" must not contain ':'");
  }
  if (key.size() != 16 && key.size() != 24 && key.size() != 32) {
    return InvalidArgumentError("secret: key is " + std::to_string(key.size()) +
                                " bytes; AES-GCM needs 16, 24 or 32");
  }
  return std::unique_ptr<ValueTransformer>(
      std::make_unique<AesGcmTransformer>(std::move(name), std::move(key)));
}

std::unique_ptr<ValueTransformer> NewIdentityTransformer() {
  return std::make_unique<IdentityTransformer>();
}

StatusOr<ProviderChain> ProviderChain::Create(
    std::vector<std::shared_ptr<const ValueTransformer>> providers) {
  if (providers.empty()) return InvalidArgumentError("providers: at least one is needed");
  for (const auto& p : providers) {
    if (!p) return InvalidArgumentError("providers: null provider");
  }
  return ProviderChain(std::move(providers));
}

const ValueTransformer* ProviderChain::ReaderFor(std::string_view stored, size_t* index) const {
  // An encrypted value is read only by the provider of its prefix; plaintext only by identity.
  const bool encrypted = stored.starts_with(kEncryptedValuePrefix);
  for (size_t i = 0; i < providers_.size(); ++i) {
    const std::string& prefix = providers_[i]->prefix();
    if (encrypted ? (!prefix.empty() && stored.starts_with(prefix)) : prefix.empty()) {
      *index = i;
      return providers_[i].get();
    }
  }
  return nullptr;
}

StatusOr<std::string> ProviderChain::ToStorage(std::string_view plaintext,
                                               std::string_view context) const {
  return providers_.front()->ToStorage(plaintext, context);
}

StatusOr<ReadValue> ProviderChain::FromStorage(std::string_view stored,
                                               std::string_view context) const {
  size_t index = 0;
  const ValueTransformer* reader = ReaderFor(stored, &index);
  if (reader == nullptr) {
    if (!stored.starts_with(kEncryptedValuePrefix)) {
      return Status(StatusCode::kDataLoss,
                    "the value is not encrypted and the identity provider is not configured");
    }
    // Name the key it needs (prefix up to the key name), never any of the ciphertext.
    size_t end = stored.find(':', kEncryptedValuePrefix.size());
    end = end == std::string_view::npos ? end : stored.find(':', end + 1);
    end = end == std::string_view::npos ? end : stored.find(':', end + 1);
    std::string needed(
        stored.substr(0, std::min<size_t>(end == std::string_view::npos ? 64 : end + 1, 64)));
    return Status(StatusCode::kDataLoss,
                  "no configured provider reads values written as \"" + needed +
                      "\" (is that key still in the encryption configuration?)");
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::string plaintext, reader->FromStorage(stored, context));
  return ReadValue{std::move(plaintext), index != 0};
}

bool ProviderChain::ReadsPlaintext() const {
  for (const auto& p : providers_) {
    if (p->prefix().empty()) return true;
  }
  return false;
}

bool ProviderChain::IsStale(std::string_view stored) const {
  size_t index = 0;
  return ReaderFor(stored, &index) != nullptr && index != 0;
}

}  // namespace meridian::apimachinery
