#pragma once
// Content types by file extension, for the static files of the web UI.

#include <bcast/http/headers.hpp>

#include <string_view>

namespace bcast::http {

inline std::string_view mime_type(std::string_view path) noexcept {
  struct entry {
    std::string_view ext;
    std::string_view type;
  };
  static constexpr entry table[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"webmanifest", "application/manifest+json"},
      {"txt", "text/plain; charset=utf-8"},
      {"xml", "application/xml"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"avif", "image/avif"},
      {"ico", "image/x-icon"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
      {"ttf", "font/ttf"},
      {"otf", "font/otf"},
      {"wasm", "application/wasm"},
      {"pdf", "application/pdf"},
  };
  std::size_t slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  std::string_view ext = name.substr(dot + 1);
  for (const auto& e : table)
    if (iequals(e.ext, ext)) return e.type;
  return "application/octet-stream";
}

}  // namespace bcast::http
