#pragma once
// The HTTP face of auth::authenticator, which sits below this layer and knows no request: what
// a request presents, the answers as responses, and handlers for guarded routes, login and
// logout.

#include <bcast/auth/authenticator.hpp>
#include <bcast/auth/sessions.hpp>
#include <bcast/http/headers.hpp>
#include <bcast/http/message.hpp>
#include <bcast/http/responder.hpp>

#include <string>
#include <string_view>
#include <utility>

namespace bcast::http {

// Views into `req`: valid while it lives.
inline auth::presented presented_by(const request& req) {
  auth::presented p;
  p.method = req.method;
  if (const auto& creds = req.credentials()) p.peer = auth::unix_peer{creds->uid, creds->gid};
  constexpr std::string_view bearer = "bearer ";
  if (auto authz = req.header("authorization");
      authz && authz->size() > bearer.size() && iequals(authz->substr(0, bearer.size()), bearer))
    p.bearer_token = authz->substr(bearer.size());
  p.session_cookie = req.cookie(auth::session_cookie_name);
  p.secure_session_cookie = req.cookie(auth::secure_session_cookie_name);
  p.csrf_token = req.header("x-csrf-token");
  p.secure_transport = req.is_tls();
  p.client_address = req.peer_address();
  // Several fields of one name are one list, in order (RFC 9110, 5.3).
  for (std::string_view field : req.headers.get_all("x-forwarded-for"))
    for_each_item(field, ',', [&](std::string_view entry) { p.forwarded_for.push_back(entry); });
  std::string_view proto;
  for (std::string_view field : req.headers.get_all("x-forwarded-proto"))
    for_each_item(field, ',', [&](std::string_view entry) { proto = entry; });
  p.forwarded_https = iequals(proto, "https");
  return p;
}

inline response to_response(const auth::refusal& why) {
  auto r = response::error(why.status, why.code, why.message);
  if (why.retry_after) r.set_header("Retry-After", std::to_string(why.retry_after->count()));
  return r;
}

inline response to_response(const auth::outcome<auth::logged_in>& login) {
  if (!login) return to_response(login.err());
  auto r = response::json(200, login->body());
  r.add_header("Set-Cookie", login->set_cookie);
  return r;
}

// A handler that calls fn(req, res, principal) for a caller with `level`, and answers anyone
// else with the refusal.
template <class F>
handler guarded(auth::authenticator& a, auth::access level, F fn) {
  return [&a, level, fn = std::move(fn)](request& req, responder res) {
    auto who = a.authorize(presented_by(req), level);
    if (!who) return res.send(to_response(who.err()));
    fn(req, std::move(res), who.value());
  };
}

// POST /api/v1/login. The body must be declared JSON: a form or a text/plain body can be sent
// across sites without a preflight, which would let another site log a browser in (login CSRF).
inline handler login_handler(auth::authenticator& a) {
  return [&a](request& req, responder res) {
    const auto type = req.header("content-type");
    if (!type || !iequals(media_type(*type), "application/json"))
      return res.error(415, "unsupported_media_type",
                       "Send the login as JSON, with Content-Type: application/json.");
    a.login(req.body, presented_by(req),
            [res](auth::outcome<auth::logged_in> r) { res.send(to_response(r)); });
  };
}

// POST /api/v1/logout: 204, and the cookie cleared, whether or not there was a session.
inline handler logout_handler(auth::authenticator& a) {
  return [&a](request& req, responder res) {
    auto r = response::no_content();
    r.add_header("Set-Cookie", a.logout(presented_by(req)));
    res.send(std::move(r));
  };
}

}  // namespace bcast::http
