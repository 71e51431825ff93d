// Ed25519 key files: made, read back, readable by openssl, and the mistakes refused clearly.

#include <bcast/core/files.hpp>
#include <bcast/trust/keys.hpp>

#include <catch2/catch.hpp>
#include <support/assert_ok.hpp>
#include <support/test_support.hpp>

#include <sys/stat.h>

#include <string>

using namespace bcast;

namespace {

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("a key pair is written as PEM that openssl reads, and read back", "[trust][keys]") {
  test::temp_dir tmp;
  const auto dir = tmp.file("keys");
  auto key = trust::signing_key::generate();
  REQUIRE_OK(key);
  REQUIRE_OK(trust::write_key_pair(dir, *key));
  const auto priv = dir + "/signing.key", pub = dir + "/signing.pub";
  CHECK(mode_of(priv) == 0600);
  CHECK(mode_of(pub) == 0644);
  CHECK(mode_of(dir) == 0700);
  CHECK(test::shell("openssl pkey -in '" + priv + "' -noout -text").find("ED25519 Private-Key") !=
        std::string::npos);
  CHECK(test::shell("openssl pkey -pubin -in '" + pub + "' -noout -text")
            .find("ED25519 Public-Key") != std::string::npos);
  CHECK(test::contains(test::shell("head -1 '" + priv + "'"), "BEGIN PRIVATE KEY"));  // PKCS#8

  auto loaded = trust::signing_key::load(priv);
  REQUIRE_OK(loaded);
  CHECK(loaded->id() == key->id());
  auto loaded_pub = trust::public_key::load(pub);
  REQUIRE_OK(loaded_pub);
  CHECK(*loaded_pub == key->public_half());
  CHECK(trust::is_valid_key_id(key->id()));

  SECTION("an existing key is never replaced") {
    auto other = trust::signing_key::generate();
    REQUIRE_OK(other);
    auto again = trust::write_key_pair(dir, *other);
    REQUIRE_FALSE(again);
    CHECK(test::contains(again.err().message(), "exists"));
    CHECK(trust::signing_key::load(priv)->id() == key->id());
  }
  SECTION("a signing key others may read is refused") {
    REQUIRE(::chmod(priv.c_str(), 0640) == 0);
    auto r = trust::signing_key::load(priv);
    REQUIRE_FALSE(r);
    CHECK(test::contains(r.err().message(), "chmod 600"));
  }
  SECTION("the private key given where a public key belongs says so") {
    auto r = trust::public_key::load(priv);
    REQUIRE_FALSE(r);
    CHECK(test::contains(r.err().message(), "is a private key"));
  }
  SECTION("the public key given where the signing key belongs says so, whatever its mode") {
    auto r = trust::signing_key::load(pub);
    REQUIRE_FALSE(r);
    CHECK(test::contains(r.err().message(), "is a public key"));
    CHECK_FALSE(test::contains(r.err().message(), "chmod"));
  }
  SECTION("openssl's own Ed25519 key is read; other kinds of key and other files are not") {
    const auto ossl = tmp.file("ossl.key"), rsa = tmp.file("rsa.key"), junk = tmp.file("junk");
    REQUIRE(test::shell_status("umask 077; openssl genpkey -algorithm ed25519 -out '" + ossl +
                               "'") == 0);
    CHECK(trust::signing_key::load(ossl));
    REQUIRE(test::shell_status(
                "umask 077; openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out '" +
                rsa + "'") == 0);
    auto ec = trust::signing_key::load(rsa);
    REQUIRE_FALSE(ec);
    CHECK(test::contains(ec.err().message(), "not an Ed25519 key"));
    REQUIRE(test::shell_status("umask 077; head -c 300 /dev/urandom > '" + junk + "'") == 0);
    CHECK_FALSE(trust::signing_key::load(junk));
    CHECK_FALSE(trust::public_key::load(junk));
    CHECK_FALSE(trust::public_key::load(tmp.file("missing.pub")));
  }
}
