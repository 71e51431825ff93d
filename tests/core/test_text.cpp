#include <bcast/core/digest.hpp>
#include <bcast/core/text.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace bcast;
using namespace std::string_literals;

TEST_CASE("parse_int reads the whole text as one decimal integer", "[core][text]") {
  int i = 7;
  CHECK(core::parse_int("42", i));
  CHECK(i == 42);
  CHECK(core::parse_int("-42", i));
  CHECK(i == -42);
  CHECK(core::parse_int("0", i));
  CHECK(i == 0);

  SECTION("empty, signs, spaces and trailing junk are refused and leave the output alone") {
    int out = 7;
    for (const char* bad : {"", "+1", " 1", "1 ", "1x", "0x10", "1.5", "-", "--1", "1e3", "١"}) {
      INFO(bad);
      CHECK_FALSE(core::parse_int(bad, out));
      CHECK(out == 7);
    }
    unsigned u = 7;
    CHECK_FALSE(core::parse_int("-1", u));
    CHECK_FALSE(core::parse_int("-0", u));
    CHECK(u == 7);
  }

  SECTION("the type's bounds, and one past them") {
    std::uint16_t port = 1;
    CHECK(core::parse_int("65535", port));
    CHECK(port == 65535);
    CHECK_FALSE(core::parse_int("65536", port));
    CHECK(port == 65535);

    std::uint64_t big = 0;
    CHECK(core::parse_int("18446744073709551615", big));
    CHECK(big == std::numeric_limits<std::uint64_t>::max());
    CHECK_FALSE(core::parse_int("18446744073709551616", big));
    CHECK_FALSE(core::parse_int("99999999999999999999999", big));

    std::int64_t s = 0;
    CHECK(core::parse_int("-9223372036854775808", s));
    CHECK(s == std::numeric_limits<std::int64_t>::min());
    CHECK_FALSE(core::parse_int("-9223372036854775809", s));
    CHECK_FALSE(core::parse_int("9223372036854775808", s));
  }

  SECTION("leading zeros are the caller's rule") {
    int out = 0;
    CHECK(core::parse_int("007", out));
    CHECK(out == 7);
  }
}

TEST_CASE("hex round-trips every byte, in either case", "[core][text]") {
  std::vector<unsigned char> all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<unsigned char>(b));
  const auto lower = core::to_hex(all);
  const auto upper = core::to_hex(all, core::hex_case::upper);
  CHECK(lower.size() == 512);
  CHECK(lower.substr(0, 8) == "00010203");
  CHECK(lower.substr(504) == "fcfdfeff");
  CHECK(upper.substr(504) == "FCFDFEFF");
  CHECK(core::from_hex(lower) == all);
  CHECK(core::from_hex(upper) == all);

  CHECK(core::to_hex(std::vector<unsigned char>{}).empty());
  CHECK(core::from_hex("") == std::vector<unsigned char>{});
  CHECK(core::from_hex("00ff10Ab") == std::vector<unsigned char>{0x00, 0xff, 0x10, 0xab});
  CHECK_FALSE(core::from_hex("abc"));  // odd length
  CHECK_FALSE(core::from_hex("zz"));
  CHECK_FALSE(core::from_hex("0g"));
  CHECK_FALSE(core::from_hex(" 0"));
  CHECK_FALSE(core::from_hex("-1"));

  for (char c = '0'; c <= '9'; ++c) CHECK(core::hex_value(c) == c - '0');
  CHECK(core::hex_value('a') == 10);
  CHECK(core::hex_value('F') == 15);
  CHECK(core::hex_value('g') == -1);
  CHECK(core::hex_value('/') == -1);
  CHECK(core::hex_value('\0') == -1);
}

TEST_CASE("percent_decode reads RFC 3986 escapes and refuses malformed ones", "[core][text]") {
  CHECK(core::percent_decode("") == "");
  CHECK(core::percent_decode("a%20b+c") == "a b+c");  // '+' is itself outside form bodies
  CHECK(core::percent_decode("%2F%2f%41") == "//A");
  CHECK(core::percent_decode("%C3%BC") == "\xC3\xBC");
  CHECK(core::percent_decode("%00") == "\0"s);
  CHECK(core::percent_decode("100%25") == "100%");
  for (const char* bad : {"%", "%2", "a%", "%g0", "%0g", "%%", "%-1", "%+1", "% 1", "%2%41"}) {
    INFO(bad);
    CHECK_FALSE(core::percent_decode(bad));
  }
}

TEST_CASE("the lenient decoders keep a malformed escape as written", "[core][text]") {
  CHECK(core::percent_decode_lenient("p%40ss") == "p@ss");
  CHECK(core::percent_decode_lenient("a+b") == "a+b");
  CHECK(core::percent_decode_lenient("100%") == "100%");
  CHECK(core::percent_decode_lenient("%zz%41") == "%zzA");
  CHECK(core::percent_decode_lenient("%-1") == "%-1");  // from_chars would have read -1
  CHECK(core::percent_decode_lenient("%4") == "%4");

  CHECK(core::form_decode("x+y%21") == "x y!");
  CHECK(core::form_decode("%2B+") == "+ ");
  CHECK(core::form_decode("a%zz") == "a%zz");
  CHECK(core::form_decode("") == "");
}

TEST_CASE("percent_encode escapes all but unreserved characters, and decodes back",
          "[core][text]") {
  CHECK(core::percent_encode("a b/ü") == "a%20b%2F%C3%BC");
  CHECK(core::percent_encode("AZaz09-._~") == "AZaz09-._~");
  CHECK(core::percent_encode("+%&=?#") == "%2B%25%26%3D%3F%23");
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  CHECK(core::percent_decode(core::percent_encode(all)) == all);
  CHECK(core::form_decode(core::percent_encode(all)) == all);
}

TEST_CASE("printable and quoted keep echoed input printable ASCII", "[core][text]") {
  CHECK(core::quoted("Region:X") == "\"Region:X\"");
  CHECK(core::quoted("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(core::quoted("\xFF\n") == "\"\\xFF\\x0A\"");
  CHECK(core::quoted(std::string(100, 'a'), 10) == "\"aaaaaaaaaa...\"");
  CHECK(core::printable("a\"b") == "a\"b");
  CHECK(core::printable("\x7F\x80") == "\\x7F\\x80");
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  for (const auto c : core::quoted(all, 256)) CHECK((c >= 0x20 && c < 0x7F));
}

TEST_CASE("SHA-256 and SHA-1 match the FIPS 180 examples", "[core][digest]") {
  CHECK(core::to_hex(core::sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(core::to_hex(core::sha256("")) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(core::to_hex(core::sha256(core::as_bytes("abc"))) == core::to_hex(core::sha256("abc")));
  CHECK(core::to_hex(core::sha1("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(core::to_hex(core::sha1("")) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}
