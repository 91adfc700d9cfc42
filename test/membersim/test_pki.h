// A throwaway PKI for membersim's TLS tests, made in-process with OpenSSL (the approach of
// test/sync/test_certs.h): CAs, a server certificate for 127.0.0.1, client certificates, as
// PEM text, plus a helper that writes PEM files into a temporary folder (membersim reads its
// TLS material from files).
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace meridian::membersim::testing {

struct Identity {
  std::string cert_pem;
  std::string key_pem;
  std::shared_ptr<EVP_PKEY> key;
  std::shared_ptr<X509> cert;
};

namespace pki_internal {

inline std::string Pem(X509* cert, EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  int ok = cert ? PEM_write_bio_X509(bio, cert)
                : PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out = ok == 1 ? std::string(data, static_cast<size_t>(n)) : "";
  BIO_free(bio);
  if (out.empty()) ADD_FAILURE() << "PEM encoding failed";
  return out;
}

inline void Extend(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  ASSERT_NE(ext, nullptr) << value;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

}  // namespace pki_internal

// A P-256 certificate for `cn`: a CA when `issuer` is null (self-signed), else signed by
// `issuer` for `usage` ("serverAuth" with an IP SAN for 127.0.0.1, or "clientAuth").
inline Identity Issue(const std::string& cn, const Identity* issuer,
                      const std::string& usage = "") {
  static long serial = 1;
  Identity id;
  id.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
  id.cert.reset(X509_new(), X509_free);
  X509* x = id.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, id.key.get());
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer ? issuer->cert.get() : x;
  X509_set_issuer_name(x, X509_get_subject_name(signer));
  if (!issuer) {
    pki_internal::Extend(x, signer, NID_basic_constraints, "critical,CA:TRUE");
    pki_internal::Extend(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    pki_internal::Extend(x, signer, NID_basic_constraints, "CA:FALSE");
    pki_internal::Extend(x, signer, NID_ext_key_usage, usage);
    if (usage == "serverAuth")
      pki_internal::Extend(x, signer, NID_subject_alt_name, "IP:127.0.0.1");
  }
  if (X509_sign(x, issuer ? issuer->key.get() : id.key.get(), EVP_sha256()) == 0)
    ADD_FAILURE() << "signing " << cn;
  id.cert_pem = pki_internal::Pem(x, nullptr);
  id.key_pem = pki_internal::Pem(nullptr, id.key.get());
  return id;
}

// A temporary folder for PEM files, removed with the object.
class PemFolder {
 public:
  PemFolder() {
    char tmpl[] = "/tmp/membersim-pki-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    dir_ = tmpl;
  }
  ~PemFolder() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  PemFolder(const PemFolder&) = delete;
  PemFolder& operator=(const PemFolder&) = delete;

  // Writes `pem` as NAME in the folder; returns its absolute path.
  std::string Write(const std::string& name, const std::string& pem) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << pem;
    return path;
  }

 private:
  std::string dir_;
};

}  // namespace meridian::membersim::testing
