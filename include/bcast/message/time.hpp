#pragma once
// Times in envelopes are ISO 8601 in UTC with milliseconds: 2026-11-26T10:00:00.123Z.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace bcast::message {

using time_point = std::chrono::system_clock::time_point;

// Always with three fraction digits; the time is truncated to the millisecond.
inline std::string format_time(time_point tp) {
  using namespace std::chrono;
  // system_clock counts nanoseconds in 64 bits here (years 1677..2262), so the year has 4 digits.
  const auto ms = floor<milliseconds>(tp);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  // Digits written in place: snprintf was a visible share of publisherd's time per POST.
  std::string out = "0000-00-00T00:00:00.000Z";
  const auto put = [&out](std::size_t at, std::size_t width, auto value) {
    auto v = static_cast<unsigned long long>(value);
    for (std::size_t i = width; i > 0; --i, v /= 10)
      out[at + i - 1] = static_cast<char>('0' + v % 10);
  };
  put(0, 4, static_cast<int>(ymd.year()));
  put(5, 2, static_cast<unsigned>(ymd.month()));
  put(8, 2, static_cast<unsigned>(ymd.day()));
  put(11, 2, hms.hours().count());
  put(14, 2, hms.minutes().count());
  put(17, 2, hms.seconds().count());
  put(20, 3, hms.subseconds().count());
  return out;
}

// Parses "YYYY-MM-DDTHH:MM:SSZ" and "YYYY-MM-DDTHH:MM:SS.fffZ". One to nine fraction digits are
// accepted (other producers write microseconds) and truncated to milliseconds. Only 'Z': an
// offset would be a second spelling of the same instant. Nothing for anything else, including
// impossible dates, leap seconds and years that a time_point cannot hold.
inline std::optional<time_point> parse_time(std::string_view text) noexcept {
  using namespace std::chrono;
  const auto digits = [&](std::size_t at, std::size_t count) -> std::optional<int> {
    if (at + count > text.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = at; i < at + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':') {
    return std::nullopt;
  }
  const auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2);
  const auto h = digits(11, 2), mi = digits(14, 2), s = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !s || *h > 23 || *mi > 59 || *s > 59) return std::nullopt;
  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)},
                           day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;

  std::size_t pos = 19;
  int millis = 0;
  if (text[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (pos - start < 3) millis = millis * 10 + (text[pos] - '0');
      ++pos;
    }
    const std::size_t count = pos - start;
    if (count < 1 || count > 9) return std::nullopt;
    for (std::size_t k = count; k < 3; ++k) millis *= 10;
  }
  if (pos + 1 != text.size() || text[pos] != 'Z') return std::nullopt;
  const sys_time<milliseconds> parsed =
      sys_days{ymd} + hours{*h} + minutes{*mi} + seconds{*s} + milliseconds{millis};
  // Beyond what time_point can hold (about 1677..2262), converting would overflow.
  if (parsed < floor<milliseconds>(time_point::min()) + milliseconds{1} ||
      parsed > floor<milliseconds>(time_point::max()) - milliseconds{1}) {
    return std::nullopt;
  }
  return time_point_cast<time_point::duration>(parsed);
}

// RFC 3339 as a person or a script writes it: parse_time()'s forms, or the same with an offset
// instead of 'Z' ("2026-12-03T09:00:00+07:00", "...T09:00:00.5-03:30"). For times given in a
// request (send_at); envelopes keep to parse_time()'s one spelling.
inline std::optional<time_point> parse_rfc3339(std::string_view text) noexcept {
  if (auto utc = parse_time(text)) return utc;
  if (text.size() < 25) return std::nullopt;
  const auto offset = text.substr(text.size() - 6);
  if ((offset[0] != '+' && offset[0] != '-') || offset[3] != ':') return std::nullopt;
  int hh = 0, mm = 0;
  for (std::size_t i : {1u, 2u, 4u, 5u}) {
    if (offset[i] < '0' || offset[i] > '9') return std::nullopt;
  }
  hh = (offset[1] - '0') * 10 + (offset[2] - '0');
  mm = (offset[4] - '0') * 10 + (offset[5] - '0');
  if (hh > 23 || mm > 59) return std::nullopt;
  std::string as_utc(text.substr(0, text.size() - 6));
  as_utc += 'Z';
  const auto local = parse_time(as_utc);
  if (!local) return std::nullopt;
  const auto shift = std::chrono::hours(hh) + std::chrono::minutes(mm);
  return offset[0] == '+' ? *local - shift : *local + shift;
}

}  // namespace bcast::message
