#include "federation-apiserver/serving_tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/ssl/context.hpp>
#include <fstream>
#include <sstream>
#include <vector>

namespace meridian::apiserver {

// Parsed once per (re)load, shared by every connection configured from it; OpenSSL's
// reference counts keep an object alive while a connection's context still uses it.
struct ServingTls::Material {
  X509* leaf = nullptr;
  STACK_OF(X509) * chain = nullptr;  // certificates after the leaf
  EVP_PKEY* key = nullptr;
  X509_STORE* client_ca = nullptr;           // null: no client certificates asked for
  STACK_OF(X509_NAME) * ca_names = nullptr;  // sent in the CertificateRequest

  ~Material() {
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    X509_STORE_free(client_ca);
    sk_X509_NAME_pop_free(ca_names, X509_NAME_free);
  }
};

namespace {

std::vector<X509*> ParseCertificates(const std::string& pem) {
  std::vector<X509*> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) out.push_back(x);
  BIO_free(bio);
  ERR_clear_error();  // the loop ends on "no start line"
  return out;
}

std::string NameOf(X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<size_t>(n));
  BIO_free(bio);
  return s;
}

StatusOr<std::shared_ptr<const ServingTls::Material>> Parse(const TlsFiles& files) {
  auto m = std::make_shared<ServingTls::Material>();
  MERIDIAN_ASSIGN_OR_RETURN(std::string cert_pem, ReadPemFile("--tls-cert-file", files.cert_file));
  MERIDIAN_ASSIGN_OR_RETURN(std::string key_pem,
                            ReadPemFile("--tls-private-key-file", files.key_file));
  std::vector<X509*> certs = ParseCertificates(cert_pem);
  if (certs.empty()) {
    return InvalidArgumentError("--tls-cert-file " + files.cert_file + ": no PEM certificate");
  }
  m->leaf = certs[0];
  m->chain = sk_X509_new_null();
  for (size_t i = 1; i < certs.size(); ++i) sk_X509_push(m->chain, certs[i]);
  BIO* bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  m->key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ERR_clear_error();
  if (m->key == nullptr) {
    return InvalidArgumentError("--tls-private-key-file " + files.key_file +
                                ": no PEM private key (an encrypted key is not supported)");
  }
  if (X509_check_private_key(m->leaf, m->key) != 1) {
    ERR_clear_error();
    return InvalidArgumentError("--tls-private-key-file " + files.key_file +
                                ": does not match the certificate in --tls-cert-file " +
                                files.cert_file);
  }
  if (!files.client_ca_file.empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(std::string ca_pem,
                              ReadPemFile("--client-ca-file", files.client_ca_file));
    std::vector<X509*> cas = ParseCertificates(ca_pem);
    if (cas.empty()) {
      return InvalidArgumentError("--client-ca-file " + files.client_ca_file +
                                  ": no PEM certificate");
    }
    m->client_ca = X509_STORE_new();
    m->ca_names = sk_X509_NAME_new_null();
    for (X509* ca : cas) {
      X509_STORE_add_cert(m->client_ca, ca);
      sk_X509_NAME_push(m->ca_names, X509_NAME_dup(X509_get_subject_name(ca)));
      X509_free(ca);
    }
  }
  return std::shared_ptr<const ServingTls::Material>(std::move(m));
}

}  // namespace

StatusOr<std::string> ReadPemFile(const std::string& flag, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return InvalidArgumentError(flag + " " + file + ": cannot read the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

StatusOr<std::unique_ptr<ServingTls>> ServingTls::Load(const TlsFiles& files) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return InvalidArgumentError(
        "--tls-cert-file and --tls-private-key-file must be given together");
  }
  if (files.cert_file.empty()) {
    return InvalidArgumentError("--tls-cert-file and --tls-private-key-file are required for TLS");
  }
  std::unique_ptr<ServingTls> tls(new ServingTls(files));
  MERIDIAN_ASSIGN_OR_RETURN(tls->current_, Parse(files));
  return tls;
}

ServingTls::~ServingTls() = default;

Status ServingTls::Reload() {
  MERIDIAN_ASSIGN_OR_RETURN(std::shared_ptr<const Material> fresh, Parse(files_));
  std::lock_guard lock(mu_);
  current_ = std::move(fresh);
  return Status::Ok();
}

void ServingTls::Configure(boost::asio::ssl::context& context) const {
  std::shared_ptr<const Material> m;
  {
    std::lock_guard lock(mu_);
    m = current_;
  }
  SSL_CTX* ctx = context.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // A context serves one connection, so a session ticket or cached session could never be
  // resumed: do not spend handshake time issuing them.
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // TLS 1.2 suites: forward-secret AEAD only (as Go's defaults that kube-apiserver uses).
  SSL_CTX_set_cipher_list(ctx,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  if (SSL_CTX_use_certificate(ctx, m->leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, m->key) != 1 ||
      SSL_CTX_set1_chain(ctx, m->chain) != 1) {
    ERR_clear_error();
    return;
  }
  if (m->client_ca != nullptr) {
    SSL_CTX_set1_verify_cert_store(ctx, m->client_ca);
    STACK_OF(X509_NAME)* names = SSL_dup_CA_list(m->ca_names);
    SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
    // Asked for and verified when sent; not required, so token clients still connect.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
}

std::string ServingTls::Describe() const {
  std::shared_ptr<const Material> m;
  {
    std::lock_guard lock(mu_);
    m = current_;
  }
  std::string s = NameOf(X509_get_subject_name(m->leaf));
  BIO* bio = BIO_new(BIO_s_mem());
  ASN1_TIME_print(bio, X509_get0_notAfter(m->leaf));
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  s += ", valid until " + std::string(data, static_cast<size_t>(n));
  BIO_free(bio);
  return s;
}

}  // namespace meridian::apiserver
