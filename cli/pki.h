// PKI bootstrap for `fedctl admin init` (like kubeadm's certificate phases): a CA, a serving
// certificate for the federation-apiserver, an admin client certificate and an admin
// kubeconfig, made with OpenSSL's C API. Keys are ECDSA P-256.
//
// Also the building blocks (IssueCertificate) so that tests can mint the certificates they
// need (a foreign CA, an expired client certificate) the same way.
//
// Pure apart from WriteAdminPki's files; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace meridian::cli {

struct KeyAndCertificate {
  std::string key_pem;
  std::string certificate_pem;
};

struct CertificateSpec {
  std::string common_name;
  std::vector<std::string> organizations;  // O= entries (Kubernetes groups for clients)
  std::vector<std::string> dns_names;      // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;   // subjectAltName IP entries (v4 or v6 text)
  bool is_ca = false;
  bool server_auth = false;  // extendedKeyUsage serverAuth
  bool client_auth = false;  // extendedKeyUsage clientAuth
  Timestamp not_before;
  Timestamp not_after;
};

// A new key and a certificate for it, signed by `issuer` (nullptr: self-signed). Errors are
// kInvalidArgument (a malformed IP address, an issuer PEM that does not parse) or kInternal.
StatusOr<KeyAndCertificate> IssueCertificate(const CertificateSpec& spec,
                                             const KeyAndCertificate* issuer);

struct AdminPkiOptions {
  std::string dir;                 // created if missing (0700)
  std::vector<std::string> hosts;  // serving SANs (names or IPs); localhost, 127.0.0.1 added
  std::string server;              // the kubeconfig's server URL
  int valid_days = 365;            // serving and admin certificates; the CA gets 10 years
};

// The files written, 0600 each, in `dir`.
struct AdminPkiFiles {
  std::string ca_certificate, ca_key;            // ca.crt, ca.key
  std::string serving_certificate, serving_key;  // apiserver.crt, apiserver.key
  std::string admin_certificate, admin_key;      // admin.crt, admin.key (CN=admin,
                                                 // O=system:masters)
  std::string kubeconfig;                        // admin.kubeconfig (embedded data)
  // tokens.csv (--token-auth-file format): a random token for the same admin user, also in
  // the kubeconfig, because the REST listener cannot see client certificates (see
  // federation-apiserver/authentication.h); gRPC authenticates the certificate.
  std::string token_file;
  // evidence-signing.key (Ed25519, for the federation-apiserver's
  // --evidence-signing-key-file) and evidence-signing.pub (for `fedctl residency verify
  // --public-key`): the residency evidence ledger's checkpoints (residency/ledger_signing.h).
  std::string evidence_signing_key, evidence_public_key;
};

// Writes the CA, the serving and admin certificates and the admin kubeconfig. Refuses
// (kAlreadyExists, naming the file) to overwrite an existing ca.key, so a second run cannot
// silently replace a CA clients already trust. kInvalidArgument for no hosts or a bad one.
StatusOr<AdminPkiFiles> WriteAdminPki(const AdminPkiOptions& options, const Clock& clock);

}  // namespace meridian::cli
