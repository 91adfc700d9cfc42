#include "residency/ledger_signing.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "residency/ledger.h"

namespace meridian::residency {
namespace {

std::shared_ptr<EVP_PKEY> Own(EVP_PKEY* key) { return {key, EVP_PKEY_free}; }

std::shared_ptr<BIO> MemoryBio(std::string_view pem) {
  return {BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free};
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgumentError(std::string(what) + " " + path + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

Status CheckEd25519(EVP_PKEY* key, const std::string& source) {
  if (EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
    return InvalidArgumentError(source + ": not an Ed25519 key (make one with `openssl genpkey "
                                         "-algorithm ed25519` or `fedctl admin init`)");
  }
  return Status::Ok();
}

}  // namespace

EvidenceVerifyKey::EvidenceVerifyKey(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {
  unsigned char raw[32];
  size_t n = sizeof raw;
  EVP_PKEY_get_raw_public_key(key_.get(), raw, &n);
  key_id_ = Sha256Hex(std::string_view(reinterpret_cast<const char*>(raw), n)).substr(0, 16);
}

StatusOr<EvidenceVerifyKey> EvidenceVerifyKey::FromPem(std::string_view pem,
                                                       const std::string& source) {
  std::shared_ptr<EVP_PKEY> key = Own(PEM_read_bio_PUBKEY(MemoryBio(pem).get(), nullptr, nullptr, nullptr));
  if (!key) {
    // A private key file holds the public key too.
    key = Own(PEM_read_bio_PrivateKey(MemoryBio(pem).get(), nullptr, nullptr, nullptr));
  }
  if (!key) return InvalidArgumentError(source + ": not a PEM public key");
  MERIDIAN_RETURN_IF_ERROR(CheckEd25519(key.get(), source));
  return EvidenceVerifyKey(std::move(key));
}

StatusOr<EvidenceVerifyKey> EvidenceVerifyKey::FromFile(const std::string& path) {
  MERIDIAN_ASSIGN_OR_RETURN(std::string pem, ReadFile(path, "public key file"));
  return FromPem(pem, "public key file " + path);
}

bool EvidenceVerifyKey::Verify(std::string_view message, std::string_view signature_hex) const {
  if (signature_hex.size() != 128) return false;
  unsigned char signature[64];
  for (size_t i = 0; i < 64; ++i) {
    const int hi = HexValue(signature_hex[2 * i]), lo = HexValue(signature_hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    signature[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  // Ed25519 hashes internally: no digest is named (one-shot DigestVerify only).
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), signature, sizeof signature,
                          reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

std::string EvidenceVerifyKey::Pem() const {
  std::shared_ptr<BIO> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), key_.get());
  return BioText(bio.get());
}

StatusOr<EvidenceSigningKey> EvidenceSigningKey::FromPem(std::string_view pem,
                                                         const std::string& source) {
  std::shared_ptr<EVP_PKEY> key =
      Own(PEM_read_bio_PrivateKey(MemoryBio(pem).get(), nullptr, nullptr, nullptr));
  if (!key) return InvalidArgumentError(source + ": not a PEM private key");
  MERIDIAN_RETURN_IF_ERROR(CheckEd25519(key.get(), source));
  EvidenceVerifyKey pub(key);
  return EvidenceSigningKey(std::move(key), std::move(pub));
}

StatusOr<EvidenceSigningKey> EvidenceSigningKey::FromFile(const std::string& path) {
  MERIDIAN_ASSIGN_OR_RETURN(std::string pem, ReadFile(path, "signing key file"));
  return FromPem(pem, "signing key file " + path);
}

StatusOr<EvidenceSigningKey> EvidenceSigningKey::Generate() {
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return InternalError("generating an Ed25519 key failed");
  }
  std::shared_ptr<EVP_PKEY> key = Own(raw);
  EvidenceVerifyKey pub(key);
  return EvidenceSigningKey(std::move(key), std::move(pub));
}

std::string EvidenceSigningKey::Sign(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char signature[64];
  size_t n = sizeof signature;
  EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get());
  EVP_DigestSign(ctx.get(), signature, &n, reinterpret_cast<const unsigned char*>(message.data()),
                 message.size());
  return Hex(signature, n);
}

std::string EvidenceSigningKey::Pem() const {
  std::shared_ptr<BIO> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return BioText(bio.get());
}

}  // namespace meridian::residency
