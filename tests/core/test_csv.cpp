#include <bcast/core/csv.hpp>

#include <catch2/catch.hpp>

#include <string>

using bcast::core::append_csv_field;
using bcast::core::append_csv_record;

namespace {

std::string field(std::string_view text) {
  std::string out;
  append_csv_field(out, text);
  return out;
}

}  // namespace

TEST_CASE("csv: a field is quoted only when it must be, its quotes doubled (RFC 4180)", "[csv]") {
  CHECK(field("s1") == "s1");
  CHECK(field("") == "");
  CHECK(field("toko-01.a_b") == "toko-01.a_b");
  CHECK(field("Toko Semarang, Jl. Pemuda") == "\"Toko Semarang, Jl. Pemuda\"");
  CHECK(field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(field("two\r\nlines") == "\"two\r\nlines\"");
  CHECK(field("one\nline") == "\"one\nline\"");
  CHECK(field("Rp 34.900 \xe2\x82\xac") == "Rp 34.900 \xe2\x82\xac");  // UTF-8 as it is
}

TEST_CASE("csv: what a spreadsheet would run as a formula is defused", "[csv]") {
  CHECK(field("=HYPERLINK(\"http://x\")") == "\"'=HYPERLINK(\"\"http://x\"\")\"");
  CHECK(field("+1") == "\"'+1\"");
  CHECK(field("-1") == "\"'-1\"");
  CHECK(field("@SUM(A1)") == "\"'@SUM(A1)\"");
  CHECK(field("\tx") == "\"'\tx\"");
  CHECK(field("a=b") == "a=b");  // only at the start
}

TEST_CASE("csv: records end in CRLF, fields separated by commas", "[csv]") {
  std::string out;
  append_csv_record(out, {"store", "state", "at"});
  append_csv_record(out, {"s,1", "pending", ""});
  CHECK(out == "store,state,at\r\n\"s,1\",pending,\r\n");
}
