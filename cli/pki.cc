#include "cli/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/base64.h"
#include "residency/ledger_signing.h"

namespace meridian::cli {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;

std::string OpenSslError(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = {0};
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return what + (e != 0 ? std::string(": ") + buf : "");
}

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string CertPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

bool AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

std::string Join(const std::vector<std::string>& parts, const std::string& prefix) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ",") + prefix + p;
  return out;
}

Status WritePrivateFile(const std::string& path, const std::string& content) {
  // Created 0600 from the start (no window in which another user could open it).
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return UnavailableError(path + ": cannot write: " + std::strerror(errno));
  ::fchmod(fd, 0600);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      return UnavailableError(path + ": write failed: " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return UnavailableError(path + ": close failed: " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

StatusOr<KeyAndCertificate> IssueCertificate(const CertificateSpec& spec,
                                             const KeyAndCertificate* issuer) {
  for (const std::string& ip : spec.ip_addresses) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip.c_str(), buf) != 1 && inet_pton(AF_INET6, ip.c_str(), buf) != 1) {
      return InvalidArgumentError("\"" + ip + "\" is not an IP address");
    }
  }
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return InternalError(OpenSslError("generating a P-256 key"));

  PkeyPtr issuer_key;
  X509Ptr issuer_cert;
  if (issuer != nullptr) {
    BIO* kb = BIO_new_mem_buf(issuer->key_pem.data(), static_cast<int>(issuer->key_pem.size()));
    issuer_key.reset(PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr));
    BIO_free(kb);
    BIO* cb = BIO_new_mem_buf(issuer->certificate_pem.data(),
                              static_cast<int>(issuer->certificate_pem.size()));
    issuer_cert.reset(PEM_read_bio_X509(cb, nullptr, nullptr, nullptr));
    BIO_free(cb);
    if (!issuer_key || !issuer_cert) {
      return InvalidArgumentError(OpenSslError("the issuer's key or certificate does not parse"));
    }
  }

  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  RAND_bytes(serial, sizeof(serial));
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()),
                std::chrono::system_clock::to_time_t(spec.not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                std::chrono::system_clock::to_time_t(spec.not_after));
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const std::string& o : spec.organizations) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), issuer_cert ? X509_get_subject_name(issuer_cert.get()) : name);

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert ? issuer_cert.get() : cert.get(), cert.get(), nullptr, nullptr,
                 0);
  bool ok = AddExtension(cert.get(), &ctx, NID_basic_constraints,
                         spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
            AddExtension(cert.get(), &ctx, NID_key_usage,
                         spec.is_ca ? "critical,keyCertSign,cRLSign,digitalSignature"
                                    : "critical,digitalSignature,keyEncipherment") &&
            AddExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  if (ok && issuer_cert) {
    ok = AddExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  }
  std::vector<std::string> usages;
  if (spec.server_auth) usages.push_back("serverAuth");
  if (spec.client_auth) usages.push_back("clientAuth");
  if (ok && !usages.empty())
    ok = AddExtension(cert.get(), &ctx, NID_ext_key_usage, Join(usages, ""));
  std::string san = Join(spec.dns_names, "DNS:");
  const std::string ips = Join(spec.ip_addresses, "IP:");
  if (!ips.empty()) san += (san.empty() ? "" : ",") + ips;
  if (ok && !san.empty()) ok = AddExtension(cert.get(), &ctx, NID_subject_alt_name, san);
  if (!ok) return InternalError(OpenSslError("building the certificate's extensions"));

  if (X509_sign(cert.get(), issuer_key ? issuer_key.get() : key.get(), EVP_sha256()) == 0) {
    return InternalError(OpenSslError("signing the certificate"));
  }
  return KeyAndCertificate{KeyPem(key.get()), CertPem(cert.get())};
}

StatusOr<AdminPkiFiles> WriteAdminPki(const AdminPkiOptions& options, const Clock& clock) {
  if (options.dir.empty()) return InvalidArgumentError("--dir: required");
  if (options.hosts.empty()) return InvalidArgumentError("--host: at least one host name or IP");
  if (options.valid_days <= 0) return InvalidArgumentError("--valid-days: must be positive");
  std::vector<std::string> dns = {"localhost"}, ips = {"127.0.0.1"};
  for (const std::string& h : options.hosts) {
    if (h.empty()) return InvalidArgumentError("--host: empty name");
    unsigned char buf[16];
    const bool ip =
        inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
    std::vector<std::string>& list = ip ? ips : dns;
    if (std::find(list.begin(), list.end(), h) == list.end()) list.push_back(h);
  }
  if (::mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("--dir " + options.dir + ": cannot create: " + std::strerror(errno));
  }
  AdminPkiFiles files;
  const std::string d = options.dir + "/";
  files.ca_certificate = d + "ca.crt";
  files.ca_key = d + "ca.key";
  files.serving_certificate = d + "apiserver.crt";
  files.serving_key = d + "apiserver.key";
  files.admin_certificate = d + "admin.crt";
  files.admin_key = d + "admin.key";
  files.kubeconfig = d + "admin.kubeconfig";
  files.token_file = d + "tokens.csv";
  files.evidence_signing_key = d + "evidence-signing.key";
  files.evidence_public_key = d + "evidence-signing.pub";
  if (::access(files.ca_key.c_str(), F_OK) == 0) {
    return AlreadyExistsError(
        files.ca_key + ": a CA already exists here; remove the folder's files to start over");
  }

  const Timestamp now = clock.Now();
  // Backdated a little: a client whose clock runs slightly behind still accepts them.
  const Timestamp from = now - std::chrono::minutes(5);
  const Timestamp until = now + std::chrono::hours(24) * options.valid_days;
  CertificateSpec ca_spec{.common_name = "meridian-ca",
                          .is_ca = true,
                          .not_before = from,
                          .not_after = now + std::chrono::hours(24) * 3650};
  MERIDIAN_ASSIGN_OR_RETURN(KeyAndCertificate ca, IssueCertificate(ca_spec, nullptr));
  CertificateSpec serving_spec{.common_name = "meridian-apiserver",
                               .dns_names = dns,
                               .ip_addresses = ips,
                               .server_auth = true,
                               .not_before = from,
                               .not_after = until};
  MERIDIAN_ASSIGN_OR_RETURN(KeyAndCertificate serving, IssueCertificate(serving_spec, &ca));
  CertificateSpec admin_spec{.common_name = "admin",
                             .organizations = {"system:masters"},
                             .client_auth = true,
                             .not_before = from,
                             .not_after = until};
  MERIDIAN_ASSIGN_OR_RETURN(KeyAndCertificate admin, IssueCertificate(admin_spec, &ca));

  // The REST listener (cpprestsdk) cannot tell a request which client certificate its
  // connection presented, so over REST the admin is known by this token; gRPC uses the
  // certificate. Both name the same user.
  unsigned char random[32];
  if (RAND_bytes(random, sizeof(random)) != 1) return InternalError(OpenSslError("RAND_bytes"));
  const std::string token =
      Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(random), sizeof(random)));
  const std::string server =
      options.server.empty() ? "https://" + options.hosts[0] + ":8443" : options.server;
  const std::string kubeconfig =
      "apiVersion: v1\n"
      "kind: Config\n"
      "clusters:\n"
      "- name: meridian\n"
      "  cluster:\n"
      "    server: " +
      server +
      "\n"
      "    certificate-authority-data: " +
      Base64StdEncode(ca.certificate_pem) +
      "\n"
      "users:\n"
      "- name: admin\n"
      "  user:\n"
      "    client-certificate-data: " +
      Base64StdEncode(admin.certificate_pem) +
      "\n"
      "    client-key-data: " +
      Base64StdEncode(admin.key_pem) +
      "\n"
      "    token: " +
      token +
      "\n"
      "contexts:\n"
      "- name: admin@meridian\n"
      "  context:\n"
      "    cluster: meridian\n"
      "    user: admin\n"
      "current-context: admin@meridian\n";
  MERIDIAN_ASSIGN_OR_RETURN(residency::EvidenceSigningKey evidence_key,
                            residency::EvidenceSigningKey::Generate());
  for (const auto& [path, content] : std::vector<std::pair<std::string, std::string>>{
           {files.evidence_signing_key, evidence_key.Pem()},
           {files.evidence_public_key, evidence_key.public_key().Pem()},
           {files.ca_key, ca.key_pem},
           {files.ca_certificate, ca.certificate_pem},
           {files.serving_key, serving.key_pem},
           {files.serving_certificate, serving.certificate_pem},
           {files.admin_key, admin.key_pem},
           {files.admin_certificate, admin.certificate_pem},
           {files.kubeconfig, kubeconfig},
           {files.token_file, token + ",admin,admin,\"system:masters\"\n"}}) {
    MERIDIAN_RETURN_IF_ERROR(WritePrivateFile(path, content));
  }
  return files;
}

}  // namespace meridian::cli
