// Throwaway PKI for TLS tests, generated in-process with OpenSSL: a CA, certificates it
// signs (server with an IP SAN, client), all as PEM text. Test-only; aborts the test (via
// gtest ADD_FAILURE + empty PEM) on OpenSSL errors.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

namespace meridian::sync::testing {

struct KeyAndCert {
  std::string key_pem;
  std::string cert_pem;
  std::shared_ptr<EVP_PKEY> key;
  std::shared_ptr<X509> cert;
};

inline std::string ToPem(const std::function<int(BIO*)>& write) {
  BIO* bio = BIO_new(BIO_s_mem());
  std::string out;
  if (write(bio) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<size_t>(n));
  } else {
    ADD_FAILURE() << "PEM encoding failed";
  }
  BIO_free(bio);
  return out;
}

inline void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) {
    ADD_FAILURE() << "extension " << value;
    return;
  }
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn` signed by `issuer` (self-signed when null). `san` like
// "IP:127.0.0.1"; `ca` marks a CA certificate.
inline KeyAndCert MakeCert(const std::string& cn, const KeyAndCert* issuer, const std::string& san,
                           bool ca, long serial) {
  KeyAndCert out;
  out.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
  out.cert.reset(X509_new(), X509_free);
  X509* x = out.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600 * 24);
  X509_set_pubkey(x, out.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer_cert = issuer ? issuer->cert.get() : x;
  X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
  AddExtension(x, issuer_cert, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (ca) AddExtension(x, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  if (!san.empty()) AddExtension(x, issuer_cert, NID_subject_alt_name, san.c_str());
  if (X509_sign(x, issuer ? issuer->key.get() : out.key.get(), EVP_sha256()) == 0) {
    ADD_FAILURE() << "signing " << cn;
  }
  out.cert_pem = ToPem([&](BIO* b) { return PEM_write_bio_X509(b, x); });
  out.key_pem = ToPem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, out.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  return out;
}

}  // namespace meridian::sync::testing
