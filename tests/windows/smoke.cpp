// The Windows libraries (scripts/mingw_deps.sh) at work in one static .exe, run under Wine by
// tests/windows/smoke.sh: a libuv loop with a timer and an async handle woken from a std::thread
// (the posix thread model), hiredis's reply parser, Ed25519 and SHA-256 through EVP, and a TLS 1.3
// handshake between two SSL objects in memory in which the client verifies the server's
// certificate, sends SNI and checks the host name. Not part of ./dev test.

// libuv first: its Windows headers include <winsock2.h>, which must come before <windows.h>.
#include <uv.h>

#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  if (!ok) {
    ++failures;
    ERR_print_errors_fp(stdout);
  }
}

std::string hex(const unsigned char* p, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

// --- hiredis: a reply tree built with our own object functions, as bcast/redis/reply.hpp does.
struct node {
  int type = 0;
  std::string str;
  long long integer = 0;
  std::vector<node*> elements;
  ~node() {
    for (auto* e : elements) delete e;
  }
};

void* attach(const redisReadTask* task, node* n) {
  if (task->parent) static_cast<node*>(task->parent->obj)->elements[task->idx] = n;
  return n;
}
void* create_string(const redisReadTask* task, char* s, std::size_t len) {
  auto* n = new node;
  n->type = task->type;
  n->str.assign(s, len);
  return attach(task, n);
}
void* create_array(const redisReadTask* task, int elements) {
  auto* n = new node;
  n->type = REDIS_REPLY_ARRAY;
  n->elements.assign(static_cast<std::size_t>(elements), nullptr);
  return attach(task, n);
}
void* create_integer(const redisReadTask* task, long long value) {
  auto* n = new node;
  n->type = REDIS_REPLY_INTEGER;
  n->integer = value;
  return attach(task, n);
}
void* create_nil(const redisReadTask* task) {
  auto* n = new node;
  n->type = REDIS_REPLY_NIL;
  return attach(task, n);
}
void free_object(void* p) {
  delete static_cast<node*>(p);
}

void hiredis_parser() {
  static redisReplyObjectFunctions functions{create_string, create_array, create_integer,
                                             create_nil, free_object};
  redisReader* reader = redisReaderCreateWithFunctions(&functions);
  const std::string resp = "*4\r\n$7\r\nmessage\r\n$5\r\nbcast\r\n:42\r\n$-1\r\n+OK\r\n";
  // In two pieces, split inside a bulk string, as a socket may deliver it.
  redisReaderFeed(reader, resp.data(), 20);
  void* reply = nullptr;
  check(redisReaderGetReply(reader, &reply) == REDIS_OK && reply == nullptr,
        "hiredis: half a reply is not a reply yet");
  redisReaderFeed(reader, resp.data() + 20, resp.size() - 20);
  check(redisReaderGetReply(reader, &reply) == REDIS_OK && reply != nullptr,
        "hiredis: the array arrives once complete");
  std::unique_ptr<node> root(static_cast<node*>(reply));
  check(root && root->type == REDIS_REPLY_ARRAY && root->elements.size() == 4 &&
            root->elements[0]->str == "message" && root->elements[1]->str == "bcast" &&
            root->elements[2]->integer == 42 && root->elements[3]->type == REDIS_REPLY_NIL,
        "hiredis: *4 [\"message\", \"bcast\", 42, nil]");
  check(redisReaderGetReply(reader, &reply) == REDIS_OK && reply != nullptr &&
            static_cast<node*>(reply)->type == REDIS_REPLY_STATUS &&
            static_cast<node*>(reply)->str == "OK",
        "hiredis: then +OK");
  free_object(reply);
  redisReaderFeed(reader, "?bad\r\n", 6);
  check(redisReaderGetReply(reader, &reply) == REDIS_ERR, "hiredis: a protocol error is one");
  redisReaderFree(reader);
}

// --- OpenSSL: Ed25519 and SHA-256 through EVP.
bool ed25519_round_trip() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!key) return false;
  const std::string message = "bcast: a signed broadcast";
  unsigned char signature[64];
  std::size_t signature_len = sizeof signature;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok =
      EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
      EVP_DigestSign(ctx, signature, &signature_len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1 &&
      signature_len == 64;
  // Verify with a key made from the raw public key only, as a subscriber holds it.
  unsigned char raw[32];
  std::size_t raw_len = sizeof raw;
  ok = ok && EVP_PKEY_get_raw_public_key(key, raw, &raw_len) == 1;
  EVP_PKEY* pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw, raw_len);
  auto verify = [&](const std::string& m) {
    EVP_MD_CTX* v = EVP_MD_CTX_new();
    const bool good =
        EVP_DigestVerifyInit(v, nullptr, nullptr, nullptr, pub) == 1 &&
        EVP_DigestVerify(v, signature, signature_len,
                         reinterpret_cast<const unsigned char*>(m.data()), m.size()) == 1;
    EVP_MD_CTX_free(v);
    return good;
  };
  ok = ok && pub && verify(message) && !verify(message + "!");
  ERR_clear_error();  // the failed verification's
  EVP_PKEY_free(pub);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

std::string sha256(const std::string& s) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  return hex(md, len);
}

// --- libuv: a timer, and an async handle a std::thread wakes when its work (the crypto) is done.
struct loop_state {
  uv_timer_t timer;
  uv_async_t async;
  std::mutex mutex;
  bool crypto_ok = false;  // guarded by mutex
  bool timer_fired = false;
  bool async_fired = false;
};

void libuv_loop() {
  uv_loop_t loop;
  uv_loop_init(&loop);
  loop_state state;
  state.timer.data = state.async.data = &state;
  uv_timer_init(&loop, &state.timer);
  uv_async_init(&loop, &state.async, [](uv_async_t* a) {
    auto* s = static_cast<loop_state*>(a->data);
    s->async_fired = true;
    uv_close(reinterpret_cast<uv_handle_t*>(a), nullptr);
  });
  const auto start = uv_now(&loop);
  uv_timer_start(
      &state.timer,
      [](uv_timer_t* t) {
        static_cast<loop_state*>(t->data)->timer_fired = true;
        uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
      },
      50, 0);
  std::thread worker([&state] {
    const bool ok = ed25519_round_trip();
    {
      std::lock_guard lock(state.mutex);
      state.crypto_ok = ok;
    }
    uv_async_send(&state.async);
  });
  uv_run(&loop, UV_RUN_DEFAULT);
  worker.join();
  const auto elapsed = uv_now(&loop) - start;
  check(state.timer_fired && elapsed >= 49,
        "libuv: a 50 ms timer fired after " + std::to_string(elapsed) + " ms");
  check(state.async_fired, "libuv: uv_async_send from a std::thread woke the loop");
  {
    std::lock_guard lock(state.mutex);
    check(state.crypto_ok, "OpenSSL: Ed25519 sign, verify, and a tampered message refused");
  }
  check(uv_loop_close(&loop) == 0, "libuv: the loop closes with nothing left");
}

// --- OpenSSL: a TLS handshake in memory, the client verifying as bcast's does.
struct certificate {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~certificate() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

bool make_certificate(certificate& c, const char* host) {
  c.key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  c.cert = X509_new();
  if (!c.key || !c.cert) return false;
  X509_set_version(c.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c.cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(c.cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(c.cert), 3600);
  X509_set_pubkey(c.cert, c.key);
  X509_NAME* name = X509_get_subject_name(c.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(host),
                             -1, -1, 0);
  X509_set_issuer_name(c.cert, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, c.cert, c.cert, nullptr, nullptr, 0);
  const std::string san = std::string("DNS:") + host;
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, san.c_str()},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    if (!ext) return false;
    X509_add_ext(c.cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  return X509_sign(c.cert, c.key, EVP_sha256()) > 0;
}

// Returns the client's verify result, or -1 if the handshake did not complete.
long handshake(const certificate& server_cert, const char* host, std::string& sni_seen) {
  SSL_CTX* server_ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate(server_ctx, server_cert.cert);
  SSL_CTX_use_PrivateKey(server_ctx, server_cert.key);
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(client_ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, nullptr);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx), server_cert.cert);

  SSL* server = SSL_new(server_ctx);
  SSL* client = SSL_new(client_ctx);
  BIO *client_bio = nullptr, *server_bio = nullptr;
  BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
  SSL_set_bio(client, client_bio, client_bio);
  SSL_set_bio(server, server_bio, server_bio);
  SSL_set_connect_state(client);
  SSL_set_accept_state(server);
  SSL_set_tlsext_host_name(client, host);
  X509_VERIFY_PARAM* param = SSL_get0_param(client);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  X509_VERIFY_PARAM_set1_host(param, "bcast.test", 0);

  bool client_done = false, server_done = false, failed = false;
  for (int round = 0; round < 20 && !(client_done && server_done) && !failed; ++round) {
    for (auto [ssl, done] : {std::pair{client, &client_done}, std::pair{server, &server_done}}) {
      if (*done) continue;
      const int rc = SSL_do_handshake(ssl);
      if (rc == 1) {
        *done = true;
      } else {
        const int e = SSL_get_error(ssl, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) failed = true;
      }
    }
  }
  long result = -1;
  if (client_done && server_done) {
    result = SSL_get_verify_result(client);
    const char* sni = SSL_get_servername(server, TLSEXT_NAMETYPE_host_name);
    sni_seen = sni ? sni : "";
    std::printf("    %s, %s\n", SSL_get_version(client), SSL_get_cipher_name(client));
  } else {
    result = SSL_get_verify_result(client);
    if (result == X509_V_OK) result = -1;
  }
  ERR_clear_error();
  SSL_free(client);
  SSL_free(server);
  SSL_CTX_free(client_ctx);
  SSL_CTX_free(server_ctx);
  return result;
}

void tls() {
  certificate right, wrong;
  check(make_certificate(right, "bcast.test") && make_certificate(wrong, "other.test"),
        "OpenSSL: self-signed P-256 certificates for bcast.test and other.test");
  std::string sni;
  check(handshake(right, "bcast.test", sni) == X509_V_OK,
        "TLS: the client verifies bcast.test's certificate");
  check(sni == "bcast.test", "TLS: the server saw SNI " + sni);
  const long mismatch = handshake(wrong, "bcast.test", sni);
  check(mismatch == X509_V_ERR_HOSTNAME_MISMATCH,
        std::string("TLS: other.test's certificate is refused for bcast.test: ") +
            X509_verify_cert_error_string(mismatch));
}

}  // namespace

int main() {
  std::printf("libuv %s, %s, hiredis %d.%d.%d\n", uv_version_string(),
              OpenSSL_version(OPENSSL_VERSION), HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
  std::printf("%s\n", OpenSSL_version(OPENSSL_DIR));
  check(sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "OpenSSL: SHA-256(\"abc\")");
  libuv_loop();
  hiredis_parser();
  tls();
  std::printf(failures ? "smoke: %d FAILED\n" : "smoke: all ok\n", failures);
  return failures ? 1 : 0;
}
