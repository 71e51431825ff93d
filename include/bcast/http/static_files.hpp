#pragma once
// Static files for the web UI, from a directory or from an in-memory map (assets embedded in the
// binary). Only GET and HEAD. Paths are checked segment by segment after percent-decoding ("..",
// "%2e%2e", NUL, backslashes and dot-files are refused), and a file found through a symlink must
// still lie under the root. Validation by ETag (and Last-Modified for files) answers 304.
//
// Files are read on the loop thread: the UI is a handful of small local files, and a cache keyed
// by (path, size, mtime) means each is read once per change.

#include <bcast/core/error.hpp>
#include <bcast/http/date.hpp>
#include <bcast/http/message.hpp>
#include <bcast/http/mime.hpp>
#include <bcast/http/responder.hpp>
#include <bcast/http/url.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bcast::http {

struct static_options {
  std::string index_file = "index.html";
  // Revalidate on every use: the UI has no build step that would put hashes in file names.
  std::string cache_control = "no-cache";
  std::size_t max_file_bytes = 8 * 1024 * 1024;
  std::size_t max_cache_bytes = 32 * 1024 * 1024;
  bool allow_dotfiles = false;
};

namespace detail {

// The decoded path segments, or nullopt when a segment could escape the root or name a hidden
// file. `trailing_slash` reports a path that names a directory.
inline std::optional<std::vector<std::string>> safe_segments(std::string_view raw_path,
                                                             bool allow_dotfiles,
                                                             bool& trailing_slash) {
  auto segments = split_path(raw_path);
  if (!segments) return std::nullopt;
  trailing_slash = segments->empty() || segments->back().empty();
  std::vector<std::string> out;
  for (auto& s : *segments) {
    if (s.empty()) continue;
    if (s == "." || s == "..") return std::nullopt;
    if (s.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos) return std::nullopt;
    if (s.front() == '.' && !allow_dotfiles) return std::nullopt;
    out.push_back(std::move(s));
  }
  return out;
}

inline bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  auto strip_weak = [](std::string_view t) { return t.substr(0, 2) == "W/" ? t.substr(2) : t; };
  bool match = false;
  for_each_item(if_none_match, ',', [&](std::string_view item) {
    if (item == "*" || strip_weak(item) == strip_weak(etag)) match = true;
  });
  return match;
}

inline bool not_modified(const request& req, std::string_view etag,
                         std::optional<std::time_t> last_modified) {
  if (auto inm = req.header("If-None-Match")) return etag_matches(*inm, etag);
  if (auto ims = req.header("If-Modified-Since"); ims && last_modified) {
    auto since = parse_http_date(*ims);
    return since && *last_modified <= *since;
  }
  return false;
}

inline std::string fnv1a_etag(std::string_view data) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
  return buf;
}

inline bool path_within(const std::filesystem::path& root, const std::filesystem::path& p) {
  auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
  (void)q;
  return r == root.end();
}

}  // namespace detail

class static_files {
 public:
  // Serves the files under `root`; fails when root is not a directory.
  static core::result<static_files> directory(const std::filesystem::path& root,
                                              static_options options = {}) {
    std::error_code ec;
    auto real = std::filesystem::canonical(root, ec);
    if (ec || !std::filesystem::is_directory(real, ec))
      return core::error(core::errc::invalid_argument, "not a directory: " + root.string());
    auto s = std::make_shared<state>();
    s->root = std::move(real);
    s->options = std::move(options);
    return static_files(std::move(s));
  }

  // Serves `files`, keyed by path relative to the mount point ("index.html", "js/app.js").
  static static_files embedded(std::map<std::string, std::string> files,
                               static_options options = {}) {
    auto s = std::make_shared<state>();
    s->options = std::move(options);
    s->in_memory = true;
    for (auto& [name, data] : files) {
      std::string key = name;
      while (!key.empty() && key.front() == '/') key.erase(0, 1);
      memory_file f;
      f.etag = detail::fnv1a_etag(data);
      f.data = std::move(data);
      s->files.emplace(std::move(key), std::move(f));
    }
    return static_files(std::move(s));
  }

  // Answers `req` for the file at `raw_path` (still percent-encoded, relative to the mount point).
  response serve(const request& req, std::string_view raw_path) const {
    if (req.method != "GET" && req.method != "HEAD") {
      response r = response::error(405, "method_not_allowed",
                                   "method " + req.method + " is not allowed here");
      r.headers.set("Allow", "GET, HEAD");
      return r;
    }
    bool trailing_slash = false;
    auto segments = detail::safe_segments(raw_path, state_->options.allow_dotfiles, trailing_slash);
    if (!segments) return not_found(req);
    return state_->in_memory ? serve_memory(req, *segments, trailing_slash)
                             : serve_file(req, *segments, trailing_slash);
  }
  response serve(const request& req) const { return serve(req, req.raw_path); }

  // A handler for router::fallback or a "{path...}" route: strips `prefix` from the request path.
  handler as_handler(std::string prefix = "") const {
    return [self = *this, prefix = std::move(prefix)](request& req, responder res) {
      std::string_view path = req.raw_path;
      if (!prefix.empty()) {
        if (path.substr(0, prefix.size()) != prefix) {
          res.send(not_found(req));
          return;
        }
        path.remove_prefix(prefix.size());
      }
      res.send(self.serve(req, path));
    };
  }

 private:
  struct memory_file {
    std::string data;
    std::string etag;
  };
  struct cached_file {
    std::string data;
    std::int64_t mtime_ns = 0;
    std::uintmax_t size = 0;
  };
  struct state {
    static_options options;
    bool in_memory = false;
    std::filesystem::path root;
    std::map<std::string, memory_file> files;
    std::unordered_map<std::string, cached_file> cache;
    std::size_t cached_bytes = 0;
  };

  explicit static_files(std::shared_ptr<state> s) : state_(std::move(s)) {}

  static response not_found(const request& req) {
    return response::error(404, "not_found", "no such resource: " + req.path);
  }

  static response redirect_to_directory(const request& req) {
    // "//evil.example/x" would be a URL of another host to a browser (so would "/\\evil"): one
    // leading slash only, the path's own segments after it.
    std::string_view path = req.raw_path;
    while (!path.empty() && (path.front() == '/' || path.front() == '\\')) path.remove_prefix(1);
    std::string location = "/" + std::string(path) + "/";
    if (!req.raw_query.empty()) location += "?" + req.raw_query;
    return response::redirect(301, std::move(location));
  }

  response make(const request& req, const std::string& data, std::string_view name,
                const std::string& etag, std::optional<std::time_t> mtime) const {
    response r(200);
    r.headers.add("ETag", etag);
    if (mtime) r.headers.add("Last-Modified", format_http_date(*mtime));
    r.headers.add("Cache-Control", state_->options.cache_control);
    if (detail::not_modified(req, etag, mtime)) {
      r.status = 304;
      return r;
    }
    r.headers.add("Content-Type", std::string(mime_type(name)));
    r.body = data;
    return r;
  }

  response serve_memory(const request& req, const std::vector<std::string>& segments,
                        bool trailing_slash) const {
    std::string key;
    for (const auto& s : segments) key += (key.empty() ? "" : "/") + s;
    const std::string& index = state_->options.index_file;
    if (trailing_slash) key += (key.empty() ? "" : "/") + index;
    auto it = state_->files.find(key);
    if (it == state_->files.end()) {
      if (!trailing_slash && state_->files.count(key + "/" + index))
        return redirect_to_directory(req);
      return not_found(req);
    }
    return make(req, it->second.data, it->first, it->second.etag, std::nullopt);
  }

  response serve_file(const request& req, const std::vector<std::string>& segments,
                      bool trailing_slash) const {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path p = state_->root;
    for (const auto& s : segments) p /= s;
    fs::path real = fs::canonical(p, ec);
    if (ec || !detail::path_within(state_->root, real)) return not_found(req);
    if (fs::is_directory(real, ec)) {
      if (!trailing_slash) return redirect_to_directory(req);
      real = fs::canonical(real / state_->options.index_file, ec);
      if (ec || !detail::path_within(state_->root, real)) return not_found(req);
    }
    struct stat st {};
    if (::stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return not_found(req);
    auto size = static_cast<std::uintmax_t>(st.st_size);
    if (size > state_->options.max_file_bytes)
      return response::error(500, "internal_error", "file too large to serve");
    std::int64_t mtime_ns =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    const std::string key = real.string();
    auto it = state_->cache.find(key);
    if (it == state_->cache.end() || it->second.mtime_ns != mtime_ns || it->second.size != size) {
      std::ifstream in(real, std::ios::binary);
      if (!in) return not_found(req);
      cached_file f;
      f.data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (in.bad()) return not_found(req);
      f.mtime_ns = mtime_ns;
      f.size = size;
      if (it != state_->cache.end()) {
        state_->cached_bytes -= it->second.data.size();
        state_->cache.erase(it);
      }
      if (state_->cached_bytes + f.data.size() > state_->options.max_cache_bytes) {
        state_->cache.clear();
        state_->cached_bytes = 0;
      }
      state_->cached_bytes += f.data.size();
      it = state_->cache.emplace(key, std::move(f)).first;
    }
    char etag[64];
    std::snprintf(etag, sizeof etag, "W/\"%jx-%llx\"", it->second.size,
                  static_cast<unsigned long long>(mtime_ns));
    return make(req, it->second.data, key, etag, static_cast<std::time_t>(st.st_mtim.tv_sec));
  }

  std::shared_ptr<state> state_;
};

}  // namespace bcast::http
