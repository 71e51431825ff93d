#include <bcast/auth/crypto.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace bcast::auth;

TEST_CASE("PHC base64 is standard, unpadded and strict", "[auth][crypto]") {
  CHECK(b64_encode(as_bytes("")) == "");
  CHECK(b64_encode(as_bytes("f")) == "Zg");
  CHECK(b64_encode(as_bytes("fo")) == "Zm8");
  CHECK(b64_encode(as_bytes("foo")) == "Zm9v");
  CHECK(b64_encode(as_bytes("foob")) == "Zm9vYg");
  const unsigned char hi[] = {0xfb, 0xff};
  CHECK(b64_encode(hi) == "+/8");
  CHECK(b64url_encode(hi) == "-_8");

  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    const auto back = b64_decode(b64_encode(as_bytes(s)));
    REQUIRE(back);
    CHECK(std::string(back->begin(), back->end()) == s);
  }
  CHECK_FALSE(b64_decode("Zg=="));
  CHECK_FALSE(b64_decode("Z"));
  CHECK_FALSE(b64_decode("Zh"));  // non-zero trailing bits
  CHECK_FALSE(b64_decode("Zm 9v"));
  CHECK_FALSE(b64_decode("-_8"));
  CHECK(b64url_decode("-_8"));
}

TEST_CASE("constant-time compare and random tokens", "[auth][crypto]") {
  CHECK(constant_time_equal("abc", "abc"));
  CHECK(constant_time_equal("", ""));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "abcd"));

  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string t = random_token();
    CHECK(t.size() == 43);
    CHECK(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
    seen.insert(t);
  }
  CHECK(seen.size() == 100);
}
