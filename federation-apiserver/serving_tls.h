// ServingTls: the federation-apiserver's serving certificate, private key and client CA
// (--tls-cert-file, --tls-private-key-file, --client-ca-file) for the REST listener.
//
// cpprestsdk's listener calls its ssl_context_callback for every accepted connection with a
// fresh context, so Configure() hands each new connection whatever was loaded last: Reload()
// (on SIGHUP) swaps the material without closing the listener, open connections keep the
// certificate they were handshaken with. A reload that fails (unreadable file, key not
// matching the certificate) changes nothing and returns the error naming the file.
//
// Every context allows TLS 1.2 and 1.3 only. With a client CA the handshake asks for a
// client certificate and verifies one that is sent against that CA (a foreign, self-signed
// or expired certificate fails the handshake); a client sending none still connects, so
// bearer-token clients keep working (kube-apiserver does the same).
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace boost::asio::ssl {
class context;
}

namespace meridian::apiserver {

struct TlsFiles {
  std::string cert_file;       // PEM: the serving certificate, then its chain
  std::string key_file;        // PEM private key matching cert_file
  std::string client_ca_file;  // PEM CA bundle for client certificates ("" = none asked)
};

class ServingTls {
 public:
  // Reads and checks the files: kInvalidArgument naming the flag and file when one cannot be
  // read, holds no PEM certificate/key, or the key does not match the certificate.
  static StatusOr<std::unique_ptr<ServingTls>> Load(const TlsFiles& files);
  ~ServingTls();
  ServingTls(const ServingTls&) = delete;
  ServingTls& operator=(const ServingTls&) = delete;

  // Re-reads the files; on error the previous material stays in use.
  Status Reload();

  // Sets up a new connection's context with the current material. Never throws (it runs on
  // the HTTP server's accept thread); a failure leaves the context without a certificate so
  // that the handshake fails.
  void Configure(boost::asio::ssl::context& context) const;
  // Configure() as HttpServerOptions::tls_context wants it; this object must outlive it.
  std::function<void(boost::asio::ssl::context&)> ContextCallback() const {
    return [this](boost::asio::ssl::context& context) { Configure(context); };
  }

  // The subject of the serving certificate in use ("CN=...") and its notAfter, for logs.
  std::string Describe() const;

  struct Material;  // internal

 private:
  explicit ServingTls(TlsFiles files) : files_(std::move(files)) {}
  const TlsFiles files_;
  mutable std::mutex mu_;                    // guards current_
  std::shared_ptr<const Material> current_;  // never null after Load
};

// Loads a PEM file as text; kInvalidArgument "FLAG FILE: cannot read" when it cannot be read.
StatusOr<std::string> ReadPemFile(const std::string& flag, const std::string& file);

}  // namespace meridian::apiserver
