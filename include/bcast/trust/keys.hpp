#pragma once
// Ed25519 keys (OpenSSL 3 EVP): publisherd's signing key and the public keys a store trusts, in
// PEM (PKCS#8 and SubjectPublicKeyInfo, what `openssl pkey` reads and writes), and their key ids.
//
// A key id is the first 8 bytes of the SHA-256 of the 32-byte raw public key, in lowercase hex:
// it names which key signed a message (trust/signature.hpp). Verification uses the key itself, so
// two keys sharing an id could only cost a failed check, never a forged message.

#include <bcast/core/digest.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/files.hpp>
#include <bcast/core/text.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#ifndef _WIN32
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include <array>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace bcast::trust {

inline constexpr std::size_t public_key_size = 32;
inline constexpr std::size_t key_id_size = 16;  // hex digits
// A PEM key is a few hundred bytes; anything much larger is not one.
inline constexpr std::size_t max_key_file_bytes = 16 * 1024;

inline constexpr std::string_view signing_key_file = "signing.key";
inline constexpr std::string_view public_key_file = "signing.pub";

namespace detail {

struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct bio_free {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;

struct md_ctx_free {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_free>;

enum class key_operation { sign, verify };

// A context ready for one EVP_DigestSign or EVP_DigestVerify with `key`, or null.
inline md_ctx_ptr initialised_context(EVP_PKEY* key, key_operation op) {
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  const int ok = ctx ? (op == key_operation::sign
                            ? EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key)
                            : EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key))
                     : 0;
  if (ok != 1) {
    ERR_clear_error();
    return nullptr;
  }
  return ctx;
}

// OpenSSL 3's EVP_DigestSignInit/EVP_DigestVerifyInit fetch the algorithm from the provider and
// set the key up on every call, a few us more than copying a context initialised once
// (bench_message: bm_raw_verify against bm_verify_bytes; docs/PERFORMANCE.md, "Signed
// messages"). So each key initialises one context when it is made and never uses it itself:
// every signature or verification works on a copy. The prepared context is only read after that
// (EVP_MD_CTX_copy_ex takes it as const, which openssl-threads(7) makes safe to share between
// threads), so copies of a key share it, as they share the key.
class prepared_context {
 public:
  prepared_context() = default;
  prepared_context(EVP_PKEY* key, key_operation op)
      : op_(op), prepared_(initialised_context(key, op).release(), md_ctx_free{}) {}

  // A context ready for one operation with `key`, the key this was made for; null if OpenSSL
  // cannot make one.
  md_ctx_ptr ready(EVP_PKEY* key) const {
    if (prepared_) {
      md_ctx_ptr ctx(EVP_MD_CTX_new());
      if (ctx && EVP_MD_CTX_copy_ex(ctx.get(), prepared_.get()) == 1) return ctx;
      ERR_clear_error();
    }
    return initialised_context(key, op_);
  }

 private:
  key_operation op_ = key_operation::verify;
  std::shared_ptr<const EVP_MD_CTX> prepared_;
};

// Failed OpenSSL calls leave entries on the thread's error queue, which TLS code on the same
// thread reads through SSL_get_error: never leave them behind.
inline core::error key_error(std::string what) {
  ERR_clear_error();
  return core::error(core::errc::invalid_argument, std::move(what));
}

// An encrypted PEM key would make OpenSSL ask for a passphrase on the terminal; say no instead.
inline int no_passphrase(char*, int, int, void*) {
  return -1;
}

inline std::string bio_text(BIO* b) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

inline bool is_ed25519(const EVP_PKEY* k) noexcept {
  return EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519;
}

}  // namespace detail

inline std::string key_id_of(std::span<const unsigned char> raw_public_key) {
  const auto digest = core::sha256(raw_public_key);
  return core::to_hex(std::span<const unsigned char>(digest.data(), key_id_size / 2));
}

inline bool is_valid_key_id(std::string_view id) noexcept {
  if (id.size() != key_id_size) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// An Ed25519 public key. Copies share the OpenSSL key, which is immutable and safe to use from
// several threads.
class public_key {
 public:
  [[nodiscard]] static core::result<public_key> from_pem(std::string_view pem,
                                                         std::string_view origin = "key") {
    detail::bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return detail::key_error(std::string(origin) + ": out of memory");
    EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, detail::no_passphrase, nullptr);
    if (!key) {
      if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
        return detail::key_error(std::string(origin) +
                                 " is a private key; a store needs only the public key "
                                 "(signing.pub), and the private key must stay at head office");
      }
      return detail::key_error(std::string(origin) + " is not a PEM public key");
    }
    return from_owned(key, origin);
  }

  [[nodiscard]] static core::result<public_key> load(const std::string& path) {
    auto text = core::read_file_bounded(path, max_key_file_bytes);
    if (!text) return text.err();
    return from_pem(*text, path);
  }

  [[nodiscard]] static core::result<public_key> from_raw(std::span<const unsigned char> raw) {
    EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size());
    if (!key) return detail::key_error("not an Ed25519 public key");
    return from_owned(key, "key");
  }

  const std::string& id() const noexcept { return id_; }
  const std::array<unsigned char, public_key_size>& raw() const noexcept { return raw_; }
  EVP_PKEY* get() const noexcept { return key_.get(); }
  // A context ready for one EVP_DigestVerify with this key, or null.
  detail::md_ctx_ptr verify_context() const { return verify_.ready(key_.get()); }

  std::string pem() const {
    detail::bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
      ERR_clear_error();
      return {};
    }
    return detail::bio_text(bio.get());
  }

  friend bool operator==(const public_key& a, const public_key& b) noexcept {
    return a.raw_ == b.raw_;
  }

 private:
  friend class signing_key;

  static core::result<public_key> from_owned(EVP_PKEY* key, std::string_view origin) {
    std::shared_ptr<EVP_PKEY> owned(key, detail::pkey_free{});
    if (!detail::is_ed25519(key)) {
      return detail::key_error(std::string(origin) + " is not an Ed25519 key");
    }
    public_key out;
    std::size_t len = out.raw_.size();
    if (EVP_PKEY_get_raw_public_key(key, out.raw_.data(), &len) != 1 || len != out.raw_.size()) {
      return detail::key_error(std::string(origin) + ": cannot read the public key");
    }
    out.key_ = std::move(owned);
    out.id_ = key_id_of(out.raw_);
    out.verify_ = detail::prepared_context(key, detail::key_operation::verify);
    return out;
  }

  std::shared_ptr<EVP_PKEY> key_;
  std::array<unsigned char, public_key_size> raw_{};
  std::string id_;
  detail::prepared_context verify_;
};

// publisherd's Ed25519 private key, with its public half.
class signing_key {
 public:
  [[nodiscard]] static core::result<signing_key> generate() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (!key) return detail::key_error("cannot make an Ed25519 key");
    return from_owned(key, "new key");
  }

  // The key whose 32-byte private seed is `seed`: test vectors only.
  [[nodiscard]] static core::result<signing_key> from_seed(std::span<const unsigned char> seed) {
    EVP_PKEY* key =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size());
    if (!key) return detail::key_error("not an Ed25519 private key seed");
    return from_owned(key, "seed");
  }

  [[nodiscard]] static core::result<signing_key> from_pem(std::string_view pem,
                                                          std::string_view origin = "key") {
    detail::bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return detail::key_error(std::string(origin) + ": out of memory");
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, detail::no_passphrase, nullptr);
    if (!key) {
      return detail::key_error(std::string(origin) +
                               " is not an unencrypted PEM private key (PKCS#8); make one with "
                               "`bcastctl key gen`");
    }
    return from_owned(key, origin);
  }

  // Refuses a file that other users may read: whoever reads the key can sign messages. A public
  // key given here is named as such (before its mode, which is rightly 0644).
  [[nodiscard]] static core::result<signing_key> load(const std::string& path) {
    auto text = core::read_file_bounded(path, max_key_file_bytes);
    if (!text) return text.err();
    if (public_key::from_pem(*text, path))
      return core::error(core::errc::invalid_argument,
                         "signing key " + path +
                             " is a public key (the stores' signing.pub); publisherd needs the "
                             "private key, signing.key, from the same `bcastctl key gen`");
    std::error_code ec;
    const auto perms = std::filesystem::status(path, ec).permissions();
    if (!ec && (perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) !=
                   std::filesystem::perms::none) {
      OPENSSL_cleanse(text->data(), text->size());
      return core::error(core::errc::invalid_argument,
                         "signing key " + path +
                             " may be read by other users; make it readable by its owner only "
                             "(chmod 600)");
    }
    auto key = from_pem(*text, path);
    OPENSSL_cleanse(text->data(), text->size());
    return key;
  }

  const public_key& public_half() const noexcept { return public_; }
  const std::string& id() const noexcept { return public_.id(); }
  EVP_PKEY* get() const noexcept { return key_.get(); }
  // A context ready for one EVP_DigestSign with this key, or null.
  detail::md_ctx_ptr sign_context() const { return sign_.ready(key_.get()); }

  // PKCS#8, unencrypted: the file is protected by its mode (and by systemd's credentials).
  std::string private_pem() const {
    detail::bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr,
                                         nullptr) != 1) {
      ERR_clear_error();
      return {};
    }
    return detail::bio_text(bio.get());
  }

 private:
  static core::result<signing_key> from_owned(EVP_PKEY* key, std::string_view origin) {
    std::shared_ptr<EVP_PKEY> owned(key, detail::pkey_free{});
    if (!detail::is_ed25519(key)) {
      return detail::key_error(std::string(origin) + " is not an Ed25519 key");
    }
    auto pub = public_key::from_owned(EVP_PKEY_dup(key), origin);
    if (!pub) return pub.err();
    signing_key out;
    out.key_ = std::move(owned);
    out.public_ = std::move(pub).value();
    out.sign_ = detail::prepared_context(key, detail::key_operation::sign);
    return out;
  }

  std::shared_ptr<EVP_PKEY> key_;
  public_key public_;
  detail::prepared_context sign_;
};

namespace detail {

// Creates `path` with `mode`, refusing to replace a file that is there.
inline core::result<void> write_new_file(const std::filesystem::path& path, std::string_view data,
                                         mode_t mode) {
#ifdef _WIN32
  (void)mode;  // the directory's inherited ACL
  return core::win32::write_new_file(core::path_utf8(path), data);
#else
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    if (errno == EEXIST) {
      return core::error(std::make_error_code(std::errc::file_exists),
                         path.string() + " exists; not replacing a key");
    }
    return core::io_error(errno, "cannot create " + path.string());
  }
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return core::io_error(err, "cannot write " + path.string());
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    return core::io_error(errno, "cannot write " + path.string());
  return {};
#endif
}

}  // namespace detail

// `dir`/signing.key (mode 0600) and `dir`/signing.pub (0644) for `key`; `dir` is made (0700) if
// missing. Existing files are never replaced.
[[nodiscard]] inline core::result<void> write_key_pair(const std::filesystem::path& dir,
                                                       const signing_key& key) {
  std::error_code ec;
  if (std::filesystem::create_directories(dir, ec)) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  if (ec) return core::error(ec, "cannot create " + dir.string());
  const auto priv = dir / signing_key_file;
  const auto pub = dir / public_key_file;
  for (const auto& p : {priv, pub}) {
    if (std::filesystem::symlink_status(p, ec).type() != std::filesystem::file_type::not_found) {
      return core::error(std::make_error_code(std::errc::file_exists),
                         p.string() + " exists; not replacing a key");
    }
  }
  auto pem = key.private_pem();
  if (pem.empty()) return detail::key_error("cannot write the private key as PEM");
  auto written = detail::write_new_file(priv, pem, 0600);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!written) return written;
  if (auto w = detail::write_new_file(pub, key.public_half().pem(), 0644); !w) {
    std::filesystem::remove(priv, ec);
    return w;
  }
  return {};
}

}  // namespace bcast::trust
