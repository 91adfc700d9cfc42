// Test-only OIDC issuer: an RSA (RS256) or P-256 (ES256) key made with OpenSSL, its JWK Set,
// and compact JWS tokens signed with it, so that tests exercise the verifier against tokens
// produced independently of it.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/base64.h"

namespace meridian::apiserver::testing {

class JwtSigner {
 public:
  enum class Alg { kRS256, kES256 };

  JwtSigner(Alg alg, std::string kid) : alg_(alg), kid_(std::move(kid)) {
    key_.reset(alg == Alg::kRS256 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"));
  }

  // {"kty":..., "kid":..., ...} public part.
  nlohmann::json Jwk() const {
    if (alg_ == Alg::kRS256) {
      return {{"kty", "RSA"},
              {"kid", kid_},
              {"use", "sig"},
              {"alg", "RS256"},
              {"n", Bn(OSSL_PKEY_PARAM_RSA_N)},
              {"e", Bn(OSSL_PKEY_PARAM_RSA_E)}};
    }
    unsigned char point[65];
    size_t len = 0;
    EVP_PKEY_get_octet_string_param(key_.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point),
                                    &len);
    return {{"kty", "EC"},
            {"kid", kid_},
            {"crv", "P-256"},
            {"x", Base64UrlEncode(std::string_view(reinterpret_cast<char*>(point) + 1, 32))},
            {"y", Base64UrlEncode(std::string_view(reinterpret_cast<char*>(point) + 33, 32))}};
  }

  // header.payload.signature over `claims`.
  std::string Sign(const nlohmann::json& claims) const {
    nlohmann::json header = {
        {"alg", alg_ == Alg::kRS256 ? "RS256" : "ES256"}, {"typ", "JWT"}, {"kid", kid_}};
    std::string input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get());
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    if (alg_ == Alg::kES256) {  // DER -> r||s
      const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
      ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
      unsigned char raw[64];
      BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
      ECDSA_SIG_free(es);
      sig.assign(reinterpret_cast<char*>(raw), 64);
    }
    return input + "." + Base64UrlEncode(sig);
  }

 private:
  std::string Bn(const char* name) const {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(key_.get(), name, &bn);
    std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(bn);
    return Base64UrlEncode(bytes);
  }

  struct Free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  Alg alg_;
  std::string kid_;
  std::unique_ptr<EVP_PKEY, Free> key_;
};

}  // namespace meridian::apiserver::testing
