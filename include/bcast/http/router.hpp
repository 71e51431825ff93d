#pragma once
// Method + path routing. Patterns are literal segments, `{name}` for one segment, and a final
// `{name...}` for the rest of the path: "/api/v1/messages/{id}", "/static/{file...}". The most
// specific pattern wins (literal over parameter over rest), then the first added. A path that
// matches only with other methods gets 405 and an Allow header; HEAD is served by GET routes;
// OPTIONS is answered from the routes when no route claims it.

#include <bcast/http/message.hpp>
#include <bcast/http/responder.hpp>
#include <bcast/http/url.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace bcast::http {

class router {
 public:
  struct match_result {
    const handler* fn = nullptr;  // null when no route has this path and method
    std::string_view pattern;     // the matched pattern, or the first one that has this path
    param_map params;
    std::vector<std::string> allowed;  // methods this path has, when fn is null
  };

  // `fn` is void(request&, responder), which may answer later, or response(request&), which
  // answers at once. A malformed pattern throws std::invalid_argument (start-up time only).
  template <class F>
  router& add(std::string_view method, std::string_view pattern, F&& fn) {
    route r;
    r.method = std::string(method);
    r.pattern = std::string(pattern);
    r.segments = parse_pattern(pattern);
    for (const auto& s : r.segments) r.rank.push_back(static_cast<int>(s.k));
    // A pattern that ends here outranks one whose {rest...} would match the same path.
    if (r.segments.empty() || r.segments.back().k != kind::rest) r.rank.push_back(1);
    r.fn = wrap(std::forward<F>(fn));
    routes_.push_back(std::move(r));
    return *this;
  }
  template <class F>
  router& get(std::string_view pattern, F&& fn) {
    return add("GET", pattern, std::forward<F>(fn));
  }
  template <class F>
  router& post(std::string_view pattern, F&& fn) {
    return add("POST", pattern, std::forward<F>(fn));
  }
  template <class F>
  router& put(std::string_view pattern, F&& fn) {
    return add("PUT", pattern, std::forward<F>(fn));
  }
  template <class F>
  router& patch(std::string_view pattern, F&& fn) {
    return add("PATCH", pattern, std::forward<F>(fn));
  }
  template <class F>
  router& del(std::string_view pattern, F&& fn) {
    return add("DELETE", pattern, std::forward<F>(fn));
  }

  // Runs for paths that no route has (static files, say). Without one: 404 with a JSON error.
  // `name` is what request::route says for these requests.
  template <class F>
  router& fallback(F&& fn, std::string name = "fallback") {
    fallback_ = wrap(std::forward<F>(fn));
    fallback_name_ = std::move(name);
    return *this;
  }

  match_result match(std::string_view method, std::string_view raw_path) const {
    match_result out;
    auto segments = split_path(raw_path);
    if (!segments) return out;
    const route* best = nullptr;
    bool best_exact = false;
    for (const route& r : routes_) {
      if (!matches(r, *segments)) continue;
      if (out.pattern.empty()) out.pattern = r.pattern;
      bool exact = r.method == method;
      if (!exact && !(method == "HEAD" && r.method == "GET")) {
        add_allowed(out.allowed, r.method);
        continue;
      }
      if (!best || r.rank > best->rank || (r.rank == best->rank && exact && !best_exact)) {
        best = &r;
        best_exact = exact;
      }
    }
    if (best) {
      out.fn = &best->fn;
      out.pattern = best->pattern;
      out.allowed.clear();
      extract(*best, *segments, out.params);
    } else if (!out.allowed.empty()) {
      add_allowed(out.allowed, "OPTIONS");
      std::sort(out.allowed.begin(), out.allowed.end());
    }
    return out;
  }

  void dispatch(request& req, responder res) const {
    match_result m = match(req.method, req.raw_path);
    if (m.fn) {
      req.params = std::move(m.params);
      req.route = std::string(m.pattern);
      (*m.fn)(req, std::move(res));
      return;
    }
    if (!m.allowed.empty()) {
      req.route = std::string(m.pattern);
      std::string allow;
      for (const auto& a : m.allowed) allow += (allow.empty() ? "" : ", ") + a;
      response r = req.method == "OPTIONS"
                       ? response::no_content()
                       : response::error(405, "method_not_allowed",
                                         "method " + req.method + " is not allowed here");
      r.headers.set("Allow", std::move(allow));
      res.send(std::move(r));
      return;
    }
    if (fallback_) {
      req.route = fallback_name_;
      fallback_(req, std::move(res));
      return;
    }
    res.send(not_found(req));
  }

  static response not_found(const request& req) {
    return response::error(404, "not_found", "no such resource: " + req.path);
  }

  std::size_t size() const noexcept { return routes_.size(); }

 private:
  enum class kind { rest = 0, param = 2, literal = 3 };
  struct segment {
    kind k;
    std::string text;  // the literal, or the parameter's name
  };
  struct route {
    std::string method;
    std::string pattern;
    std::vector<segment> segments;
    std::vector<int> rank;
    handler fn;
  };

  template <class F>
  static handler wrap(F&& fn) {
    using fn_type = std::decay_t<F>;
    if constexpr (std::is_invocable_v<fn_type&, request&, responder>) {
      return handler(std::forward<F>(fn));
    } else {
      static_assert(std::is_invocable_r_v<response, fn_type&, request&>,
                    "a handler is void(request&, responder) or response(request&)");
      return [f = std::forward<F>(fn)](request& req, responder res) mutable { res.send(f(req)); };
    }
  }

  static std::vector<segment> parse_pattern(std::string_view pattern) {
    if (pattern.empty() || pattern.front() != '/')
      throw std::invalid_argument("route pattern must start with '/': " + std::string(pattern));
    std::vector<segment> out;
    pattern.remove_prefix(1);
    if (pattern.empty()) return out;
    for (;;) {
      std::size_t slash = pattern.find('/');
      std::string_view s = pattern.substr(0, slash);
      if (s.size() >= 2 && s.front() == '{' && s.back() == '}') {
        std::string_view name = s.substr(1, s.size() - 2);
        if (name.size() > 3 && name.substr(name.size() - 3) == "...") {
          if (slash != std::string_view::npos)
            throw std::invalid_argument("{name...} must be the last segment: " +
                                        std::string(pattern));
          out.push_back({kind::rest, std::string(name.substr(0, name.size() - 3))});
        } else if (!name.empty()) {
          out.push_back({kind::param, std::string(name)});
        } else {
          throw std::invalid_argument("empty parameter name in route pattern");
        }
      } else {
        out.push_back({kind::literal, std::string(s)});
      }
      if (slash == std::string_view::npos) break;
      pattern.remove_prefix(slash + 1);
    }
    return out;
  }

  static bool matches(const route& r, const std::vector<std::string>& segs) {
    std::size_t i = 0;
    for (const segment& s : r.segments) {
      if (s.k == kind::rest) return true;
      if (i >= segs.size()) return false;
      if (s.k == kind::literal ? segs[i] != s.text : segs[i].empty()) return false;
      ++i;
    }
    return i == segs.size();
  }

  static void extract(const route& r, const std::vector<std::string>& segs, param_map& out) {
    std::size_t i = 0;
    for (const segment& s : r.segments) {
      if (s.k == kind::rest) {
        std::string rest;
        for (std::size_t j = i; j < segs.size(); ++j) rest += (j > i ? "/" : "") + segs[j];
        out.add(s.text, std::move(rest));
        return;
      }
      if (s.k == kind::param) out.add(s.text, segs[i]);
      ++i;
    }
  }

  static void add_allowed(std::vector<std::string>& allowed, std::string_view method) {
    auto add = [&](std::string_view m) {
      if (std::find(allowed.begin(), allowed.end(), m) == allowed.end()) allowed.emplace_back(m);
    };
    add(method);
    if (method == "GET") add("HEAD");
  }

  std::vector<route> routes_;
  handler fallback_;
  std::string fallback_name_;
};

}  // namespace bcast::http
