#include <bcast/message/utf8.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <string>

using namespace bcast::message;
using namespace std::string_literals;

TEST_CASE("valid UTF-8 is accepted", "[utf8]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ASCII"));
  CHECK(is_valid_utf8("\0"s));                  // NUL is a valid code point
  CHECK(is_valid_utf8("Diskon 50% \xC3\xA9"));  // é
  CHECK(is_valid_utf8("\xE2\x82\xAC"));         // €
  CHECK(is_valid_utf8("\xF0\x9F\x98\x80"));     // U+1F600
  CHECK(is_valid_utf8("\xC2\x80"));             // U+0080, smallest 2-byte
  CHECK(is_valid_utf8("\xDF\xBF"));             // U+07FF
  CHECK(is_valid_utf8("\xE0\xA0\x80"));         // U+0800, smallest 3-byte
  CHECK(is_valid_utf8("\xED\x9F\xBF"));         // U+D7FF, below surrogates
  CHECK(is_valid_utf8("\xEE\x80\x80"));         // U+E000, above surrogates
  CHECK(is_valid_utf8("\xEF\xBF\xBF"));         // U+FFFF
  CHECK(is_valid_utf8("\xF0\x90\x80\x80"));     // U+10000, smallest 4-byte
  CHECK(is_valid_utf8("\xF4\x8F\xBF\xBF"));     // U+10FFFF, the last
}

TEST_CASE("invalid UTF-8 is rejected", "[utf8]") {
  CHECK_FALSE(is_valid_utf8("\x80"));  // stray continuation
  CHECK_FALSE(
      is_valid_utf8("a\xBF"
                    "b"));
  CHECK_FALSE(is_valid_utf8("\xC0\x80"));          // overlong NUL
  CHECK_FALSE(is_valid_utf8("\xC1\xBF"));          // overlong
  CHECK_FALSE(is_valid_utf8("\xE0\x80\x80"));      // overlong 3-byte
  CHECK_FALSE(is_valid_utf8("\xE0\x9F\xBF"));      // overlong U+07FF
  CHECK_FALSE(is_valid_utf8("\xF0\x80\x80\x80"));  // overlong 4-byte
  CHECK_FALSE(is_valid_utf8("\xF0\x8F\xBF\xBF"));  // overlong U+FFFF
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));      // U+D800
  CHECK_FALSE(is_valid_utf8("\xED\xBF\xBF"));      // U+DFFF
  CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // U+110000
  CHECK_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\xFF"));
  CHECK_FALSE(is_valid_utf8("\xFE"));
  CHECK_FALSE(is_valid_utf8("\xC3"));  // truncated at the end
  CHECK_FALSE(is_valid_utf8("\xE2\x82"));
  CHECK_FALSE(is_valid_utf8("\xF0\x9F\x98"));
  CHECK_FALSE(
      is_valid_utf8("\xE2\x82"
                    "A"));  // truncated in the middle
  CHECK_FALSE(
      is_valid_utf8("\xF0\x9F\x98"
                    "A"));
  CHECK_FALSE(is_valid_utf8("\xC3\xC3\xA9"));
}

TEST_CASE("utf8_length counts code points", "[utf8]") {
  CHECK(utf8_length("") == 0);
  CHECK(utf8_length("abc") == 3);
  CHECK(utf8_length("\xC3\xA9t\xC3\xA9") == 3);
  CHECK(utf8_length("\xE2\x82\xAC\xF0\x9F\x98\x80") == 2);
  CHECK(utf8_length(std::string(200, 'x')) == 200);
}

TEST_CASE("is_blank sees white space and zero-width characters", "[utf8]") {
  CHECK(is_blank(""));
  CHECK(is_blank(" \t\r\n"));
  CHECK(is_blank("\xC2\xA0"));       // no-break space
  CHECK(is_blank("\xE3\x80\x80 "));  // ideographic space
  CHECK(is_blank("\xE2\x80\x8B"));   // zero-width space
  CHECK(is_blank("\xEF\xBB\xBF\xE2\x80\x83"));
  CHECK_FALSE(is_blank(" x "));
  CHECK_FALSE(is_blank("\xC3\xA9"));
  CHECK_FALSE(is_blank("."));
}

TEST_CASE("has_control_chars", "[utf8]") {
  CHECK_FALSE(has_control_chars("Promo hari ini"));
  CHECK(has_control_chars("a\nb"));
  CHECK_FALSE(has_control_chars("a\nb\tc\r\n", "\t\n\r"));
  CHECK(has_control_chars("a\x1b[31mred", "\t\n\r"));  // terminal escape
  CHECK(has_control_chars("a\0b"s, "\t\n\r"));
  CHECK(has_control_chars("\x7f"));
  CHECK(has_control_chars("\xC2\x9B"));  // C1 CSI
  CHECK_FALSE(has_control_chars("\xC2\xA0\xC3\xA9"));
}

TEST_CASE("the text helpers stay inside invalid input", "[utf8]") {
  // Results are not meaningful, but nothing is read past the end. Each text is copied to a heap
  // block of its exact size so that the sanitizer build would see such a read.
  const auto check = [](std::string_view text, bool blank, bool control) {
    const auto copy = std::make_unique<char[]>(text.size());
    std::memcpy(copy.get(), text.data(), text.size());
    const std::string_view exact(copy.get(), text.size());
    CHECK(is_blank(exact) == blank);
    CHECK(has_control_chars(exact) == control);
  };
  check("\xF0", false, false);
  check(" \xE2\x80", false, false);
  check("\xF0\x9F\x98", false, false);
  check("\xC2", false, false);
  check("\x01\xF0", false, true);
}
