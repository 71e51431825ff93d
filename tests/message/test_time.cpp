#include <bcast/message/time.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>

using namespace bcast::message;
using bcast::message::time_point;
using std::chrono::day;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::month;
using std::chrono::seconds;
using std::chrono::sys_days;
using std::chrono::year;

namespace {

time_point at(int y, unsigned mo, unsigned d, int h, int mi, int s, int ms = 0) {
  return time_point{sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s} +
                    milliseconds{ms}};
}

}  // namespace

TEST_CASE("format_time writes UTC with milliseconds", "[time]") {
  CHECK(format_time(at(2026, 11, 26, 10, 0, 0, 123)) == "2026-11-26T10:00:00.123Z");
  CHECK(format_time(at(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z");
  CHECK(format_time(time_point{}) == "1970-01-01T00:00:00.000Z");
  // Truncated, not rounded.
  CHECK(format_time(at(2026, 11, 26, 23, 59, 59, 999) + microseconds{999}) ==
        "2026-11-26T23:59:59.999Z");
  // Before 1970 the millisecond still rounds down.
  CHECK(format_time(time_point{} - microseconds{1}) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("format_time agrees with gmtime and strftime across the range", "[time]") {
  // 1677-09-22 .. 2262-04-11 is what a nanosecond system_clock holds; step through it unevenly.
  const long long first_ms = -9'200'000'000'000LL, last_ms = 9'200'000'000'000LL;
  for (long long ms = first_ms; ms < last_ms; ms += 7'777'777'777LL + ms % 997) {
    const auto tp = time_point{milliseconds{ms}};
    const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    std::tm parts{};
    REQUIRE(gmtime_r(&secs, &parts) != nullptr);
    char head[32];
    std::strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &parts);
    char expected[40];
    std::snprintf(expected, sizeof expected, "%s.%03lldZ", head,
                  static_cast<long long>(ms - static_cast<long long>(secs) * 1000));
    CHECK(format_time(tp) == expected);
  }
}

TEST_CASE("parse_time reads what format_time writes", "[time]") {
  CHECK(parse_time("2026-11-26T10:00:00Z") == at(2026, 11, 26, 10, 0, 0));
  CHECK(parse_time("2026-11-26T10:00:00.123Z") == at(2026, 11, 26, 10, 0, 0, 123));
  CHECK(parse_time("2026-11-26T10:00:00.1Z") == at(2026, 11, 26, 10, 0, 0, 100));
  CHECK(parse_time("2026-11-26T10:00:00.12Z") == at(2026, 11, 26, 10, 0, 0, 120));
  CHECK(parse_time("2026-11-26T10:00:00.123456Z") == at(2026, 11, 26, 10, 0, 0, 123));
  CHECK(parse_time("2026-11-26T10:00:00.123456789Z") == at(2026, 11, 26, 10, 0, 0, 123));
  CHECK(parse_time("2024-02-29T00:00:00Z") == at(2024, 2, 29, 0, 0, 0));
  CHECK(parse_time("2000-02-29T00:00:00Z").has_value());
  for (const auto tp : {at(2026, 11, 26, 10, 0, 0, 123), at(1999, 12, 31, 23, 59, 59, 999),
                        at(2100, 3, 1, 0, 0, 0, 1)}) {
    CHECK(parse_time(format_time(tp)) == tp);
  }
}

TEST_CASE("parse_time refuses other forms", "[time]") {
  for (const char* text : {"",
                           "2026-11-26",
                           "2026-11-26T10:00Z",
                           "2026-11-26T10:00:00",
                           "2026-11-26 10:00:00Z",
                           "2026-11-26t10:00:00Z",
                           "2026-11-26T10:00:00z",
                           "2026-11-26T10:00:00+07:00",
                           "2026-11-26T10:00:00+00:00",
                           "2026-11-26T10:00:00.Z",
                           "2026-11-26T10:00:00.1234567890Z",
                           "2026-11-26T10:00:00.123ZZ",
                           "2026-11-26T10:00:00Z ",
                           " 2026-11-26T10:00:00Z",
                           "2026-13-01T00:00:00Z",
                           "2026-00-01T00:00:00Z",
                           "2026-11-00T00:00:00Z",
                           "2026-11-31T00:00:00Z",
                           "2025-02-29T00:00:00Z",
                           "1900-02-29T00:00:00Z",
                           "2026-11-26T24:00:00Z",
                           "2026-11-26T10:60:00Z",
                           "2026-11-26T10:00:60Z",
                           "2026-1-26T10:00:00Z",
                           "+026-11-26T10:00:00Z",
                           "2026-11-26T1a:00:00Z",
                           "9999-12-31T23:59:59Z",
                           "0000-01-01T00:00:00Z"}) {
    INFO(text);
    CHECK_FALSE(parse_time(text).has_value());
  }
}

TEST_CASE("parse_rfc3339 takes an offset as well as Z", "[time]") {
  CHECK(parse_rfc3339("2026-11-26T10:00:00Z") == at(2026, 11, 26, 10, 0, 0));
  CHECK(parse_rfc3339("2026-11-26T17:00:00+07:00") == at(2026, 11, 26, 10, 0, 0));
  CHECK(parse_rfc3339("2026-11-26T17:00:00.250+07:00") == at(2026, 11, 26, 10, 0, 0, 250));
  CHECK(parse_rfc3339("2026-11-26T06:30:00-03:30") == at(2026, 11, 26, 10, 0, 0));
  CHECK(parse_rfc3339("2026-11-26T10:00:00+00:00") == at(2026, 11, 26, 10, 0, 0));
  // Across a day and a year.
  CHECK(parse_rfc3339("2027-01-01T05:00:00+07:00") == at(2026, 12, 31, 22, 0, 0));
  for (const char* bad :
       {"2026-11-26T17:00:00+7:00", "2026-11-26T17:00:00+07", "2026-11-26T17:00:00+0700",
        "2026-11-26T17:00:00+24:00", "2026-11-26T17:00:00+07:60", "2026-11-26T17:00:00 07:00",
        "2026-11-26T17:00+07:00", "2026-11-26T17:00:00Z+07:00", "2026-02-30T17:00:00+07:00", ""}) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad));
  }
}
