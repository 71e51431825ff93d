#pragma once
// TLS on OpenSSL 3 memory BIOs: the socket I/O stays with libuv, OpenSSL only transforms bytes.

#include <bcast/core/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

namespace bcast::net {

struct ssl_ctx_deleter {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct ssl_deleter {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_deleter>;
using ssl_ptr = std::unique_ptr<SSL, ssl_deleter>;

// The queued OpenSSL errors as one line, and the queue cleared.
inline std::string openssl_error_text() {
  std::string text;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? "unknown TLS failure" : text;
}

struct tls_options {
  std::string ca_file;         // client: trust anchors; server: CA for client certificates
  std::string cert_file;       // server certificate, or client certificate
  std::string key_file;
  bool verify_peer = true;     // client: verify the server; server: require a client certificate
  std::string server_name;     // client: SNI and the name the certificate must match

  friend bool operator==(const tls_options&, const tls_options&) = default;
};

enum class tls_role { client, server };

// The cipher suites both roles allow in TLS 1.2 (OpenSSL's syntax).
inline constexpr const char* tls12_ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL";

class tls_context {
 public:
  static core::result<std::shared_ptr<tls_context>> create(tls_role role, const tls_options& options) {
    ERR_clear_error();
    ssl_ctx_ptr ctx(SSL_CTX_new(role == tls_role::client ? TLS_client_method() : TLS_server_method()));
    if (!ctx) return core::error(core::errc::tls_error, openssl_error_text());
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    // TLS 1.2 offers only forward-secret AEAD suites (TLS 1.3 has no others): no CBC with its
    // padding oracles, no static RSA key exchange.
    if (SSL_CTX_set_cipher_list(ctx.get(), tls12_ciphers) != 1)
      return core::error(core::errc::tls_error, openssl_error_text());
    // Renegotiation lets a client make the server redo its most expensive step at will.
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (!options.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(ctx.get(), options.cert_file.c_str()) != 1)
        return core::error(core::errc::tls_error, "certificate " + options.cert_file + ": " + openssl_error_text());
      const std::string& key = options.key_file.empty() ? options.cert_file : options.key_file;
      if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1)
        return core::error(core::errc::tls_error, "private key " + key + ": " + openssl_error_text());
      if (SSL_CTX_check_private_key(ctx.get()) != 1)
        return core::error(core::errc::tls_error, "private key does not match certificate: " + openssl_error_text());
    }
    if (!options.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1)
        return core::error(core::errc::tls_error, "CA file " + options.ca_file + ": " + openssl_error_text());
    } else if (role == tls_role::client) {
      SSL_CTX_set_default_verify_paths(ctx.get());
    }
    if (options.verify_peer) {
      int mode = SSL_VERIFY_PEER;
      if (role == tls_role::server) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      SSL_CTX_set_verify(ctx.get(), mode, nullptr);
    }
    auto self = std::shared_ptr<tls_context>(new tls_context(role, std::move(ctx)));
    self->server_name_ = options.server_name;
    return self;
  }

  tls_role role() const noexcept { return role_; }
  SSL_CTX* native() const noexcept { return ctx_.get(); }
  const std::string& server_name() const noexcept { return server_name_; }

 private:
  tls_context(tls_role role, ssl_ctx_ptr ctx) : role_(role), ctx_(std::move(ctx)) {}
  tls_role role_;
  ssl_ctx_ptr ctx_;
  std::string server_name_;
};

// One TLS connection's state: ciphertext in through feed(), plaintext out through read(); plaintext
// in through write(), ciphertext out through take_output().
class tls_session {
 public:
  // `host` is the name to check the server certificate against (client only); empty skips SNI.
  static core::result<std::unique_ptr<tls_session>> create(const tls_context& ctx, std::string_view host) {
    ERR_clear_error();
    ssl_ptr ssl(SSL_new(ctx.native()));
    if (!ssl) return core::error(core::errc::tls_error, openssl_error_text());
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in, -1);
    SSL_set_bio(ssl.get(), in, out);
    if (ctx.role() == tls_role::client) {
      SSL_set_connect_state(ssl.get());
      std::string name(host);
      if (!name.empty()) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
        ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
        if (ip) {
          ASN1_OCTET_STRING_free(ip);
          X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
        } else {
          SSL_set_tlsext_host_name(ssl.get(), name.c_str());
          X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
          X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
        }
      }
    } else {
      SSL_set_accept_state(ssl.get());
    }
    return std::unique_ptr<tls_session>(new tls_session(std::move(ssl), in, out));
  }

  enum class step { again, done, failed };

  // Ciphertext from the peer.
  void feed(std::string_view data) { BIO_write(in_, data.data(), static_cast<int>(data.size())); }

  // Advances the handshake; check take_output() afterwards for bytes to send.
  step handshake() {
    if (established_) return step::done;
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_.get());
    if (rc == 1) {
      established_ = true;
      return step::done;
    }
    int e = SSL_get_error(ssl_.get(), rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return step::again;
    failure_ = describe_failure();
    return step::failed;
  }

  bool established() const noexcept { return established_; }
  const std::string& failure() const noexcept { return failure_; }

  // Plaintext available from what was fed so far, appended to `out`. False on a fatal error.
  bool read(std::string& out) {
    char buf[16 * 1024];
    for (;;) {
      ERR_clear_error();
      int n = SSL_read(ssl_.get(), buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      int e = SSL_get_error(ssl_.get(), n);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
      if (e == SSL_ERROR_ZERO_RETURN) {
        peer_closed_ = true;
        return true;
      }
      failure_ = describe_failure();
      return false;
    }
  }
  bool peer_closed() const noexcept { return peer_closed_; }

  // Encrypts plaintext; the ciphertext is then in take_output().
  bool write(std::string_view plain) {
    while (!plain.empty()) {
      ERR_clear_error();
      int n = SSL_write(ssl_.get(), plain.data(), static_cast<int>(plain.size()));
      if (n <= 0) {
        failure_ = describe_failure();
        return false;
      }
      plain.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  void take_output(std::string& out) {
    char* data = nullptr;
    long n = BIO_get_mem_data(out_, &data);
    if (n > 0) {
      out.append(data, static_cast<std::size_t>(n));
      (void)BIO_reset(out_);
    }
  }

  void shutdown() {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
  }

 private:
  tls_session(ssl_ptr ssl, BIO* in, BIO* out) : ssl_(std::move(ssl)), in_(in), out_(out) {}

  std::string describe_failure() {
    long verify = SSL_get_verify_result(ssl_.get());
    if (verify != X509_V_OK) return std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify);
    return openssl_error_text();
  }

  ssl_ptr ssl_;
  BIO* in_;   // owned by ssl_
  BIO* out_;  // owned by ssl_
  bool established_ = false;
  bool peer_closed_ = false;
  std::string failure_;
};

}  // namespace bcast::net
