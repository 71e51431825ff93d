#pragma once
// CSV as RFC 4180 writes it, for exports that people open in a spreadsheet.

#include <initializer_list>
#include <string>
#include <string_view>

namespace bcast::core {

// A field with a comma, a double quote, CR or LF is quoted, its quotes doubled. One that a
// spreadsheet would run as a formula (it starts with =, +, -, @, a tab or CR) gets a leading
// apostrophe first, and is quoted: an export must never run what a store or user wrote.
inline void append_csv_field(std::string& out, std::string_view field) {
  const bool formula = !field.empty() && std::string_view("=+-@\t\r").find(field[0]) !=
                                             std::string_view::npos;
  const bool quoted = formula || field.find_first_of(",\"\r\n") != std::string_view::npos;
  if (!quoted) {
    out += field;
    return;
  }
  out += '"';
  if (formula) out += '\'';
  for (const char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// One record, its fields separated by commas, ended by CRLF.
inline void append_csv_record(std::string& out, std::initializer_list<std::string_view> fields) {
  bool first = true;
  for (const auto field : fields) {
    if (!first) out += ',';
    first = false;
    append_csv_field(out, field);
  }
  out += "\r\n";
}

}  // namespace bcast::core
