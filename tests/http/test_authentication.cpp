// http/authentication.hpp: what a request presents to the authenticator, and its answers as
// responses. The decisions themselves are tested in tests/auth/authenticator.cpp.

#include <bcast/auth/password.hpp>
#include <bcast/http/authentication.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include <memory>
#include <optional>
#include <string>

using namespace bcast;
using nlohmann::json;

namespace {

http::request make_request(std::string method,
                           std::vector<std::pair<std::string, std::string>> headers,
                           std::string body = {}) {
  http::request req;
  req.method = std::move(method);
  for (auto& [name, value] : headers) req.headers.add(std::move(name), std::move(value));
  req.body = std::move(body);
  return req;
}

struct auth_fixture {
  core::loop loop;
  core::metrics::counter failed_logins;
  auth::authenticator auth{loop, {}, failed_logins};

  auth_fixture() {
    auth::user_store users;
    REQUIRE(users.add({"admin",
                       auth::role::admin,
                       auth::hash_password("s3cret", 1000),
                       {"*"},
                       {auth::token_hash("tok")}}));
    REQUIRE(
        users.add({"pub", auth::role::publisher, {}, {"store:*"}, {auth::token_hash("pubtok")}}));
    auth.set_users(std::make_shared<const auth::user_store>(std::move(users)));
  }

  // Runs `h` on `req` and the loop until it has answered.
  http::response call(const http::handler& h, http::request req) {
    std::optional<http::response> got;
    auto res = http::responder::to_callback(std::move(req),
                                            [&](http::response&& r) { got = std::move(r); });
    h(res.req(), res);
    res = {};
    REQUIRE(test::run_until(loop, [&] { return got.has_value(); }));
    return std::move(*got);
  }
};

}  // namespace

TEST_CASE("presented_by reads the peer, the bearer token, the cookie and the CSRF header",
          "[http][authentication]") {
  auto req = make_request("POST", {{"Authorization", "BeArEr abc"},
                                   {"Cookie", "x=1; bcast_session=sid"},
                                   {"X-CSRF-Token", "csrf"},
                                   {"X-Forwarded-For", "10.0.0.1, 10.0.0.2"},
                                   {"X-Forwarded-For", "10.0.0.3"},
                                   {"X-Forwarded-Proto", "http, HTTPS"}});
  auto info = std::make_shared<http::connection_info>();
  info->peer_address = "127.0.0.1:5000";
  info->is_tls = true;
  req.connection = info;
  auto p = http::presented_by(req);
  CHECK(p.method == "POST");
  CHECK_FALSE(p.peer);
  CHECK(p.bearer_token == "abc");
  CHECK(p.session_cookie == "sid");
  CHECK(p.csrf_token == "csrf");
  CHECK(p.secure_transport);
  CHECK(p.client_address == "127.0.0.1:5000");
  // Several fields of one name are one list, in order.
  CHECK(p.forwarded_for == std::vector<std::string_view>{"10.0.0.1", "10.0.0.2", "10.0.0.3"});
  CHECK(p.forwarded_https);  // the last entry counts
  CHECK_FALSE(http::presented_by(make_request("GET", {{"X-Forwarded-Proto", "https, http"}}))
                  .forwarded_https);
  CHECK(http::presented_by(make_request("GET", {{"Cookie", "__Host-bcast_session=s2"}}))
            .secure_session_cookie == "s2");

  // Another scheme, or "Bearer " with nothing after it, is no bearer token.
  CHECK_FALSE(
      http::presented_by(make_request("GET", {{"Authorization", "Basic abc"}})).bearer_token);
  CHECK_FALSE(http::presented_by(make_request("GET", {{"Authorization", "Bearer "}})).bearer_token);

  auto unix_info = std::make_shared<http::connection_info>();
  unix_info->is_unix = true;
  unix_info->credentials = net::peer_credentials{1, 4242, 77};
  req.connection = unix_info;
  p = http::presented_by(req);
  REQUIRE(p.peer);
  CHECK(p.peer->uid == 4242);
  CHECK(p.peer->gid == 77);
}

TEST_CASE("a guarded route answers refusals as API errors and calls the handler otherwise",
          "[http][authentication]") {
  auth_fixture f;
  std::optional<auth::principal> seen;
  auto admin_only =
      http::guarded(f.auth, auth::access::admin,
                    [&](http::request&, http::responder res, const auth::principal& p) {
                      seen = p;
                      res.send(http::response::no_content());
                    });
  auto r = f.call(admin_only, make_request("GET", {}));
  CHECK(r.status == 401);
  CHECK(json::parse(r.body) ==
        json{{"error", "unauthenticated"}, {"message", "Log in first, or present a valid token."}});
  r = f.call(admin_only, make_request("GET", {{"Authorization", "Bearer pubtok"}}));
  CHECK(r.status == 403);
  CHECK(json::parse(r.body) ==
        json{{"error", "forbidden"}, {"message", "Only an admin may do this."}});
  CHECK_FALSE(seen);
  r = f.call(admin_only, make_request("GET", {{"Authorization", "Bearer tok"}}));
  CHECK(r.status == 204);
  REQUIRE(seen);
  CHECK(seen->name == "admin");
}

TEST_CASE("login, 429 with Retry-After, and logout as responses", "[http][authentication]") {
  auth_fixture f;
  auto login = http::login_handler(f.auth);
  const auto json_login = [](std::string body) {
    return make_request("POST", {{"Content-Type", "application/json; charset=utf-8"}},
                        std::move(body));
  };
  auto r = f.call(login, json_login(R"({"username":"admin","password":"s3cret"})"));
  REQUIRE(r.status == 200);
  auto body = json::parse(r.body);
  CHECK(body["user"] == json{{"name", "admin"}, {"role", "admin"}});
  const auto cookie = std::string(*r.headers.get("Set-Cookie"));
  CHECK(cookie.rfind("bcast_session=", 0) == 0);
  CHECK(r.headers.get("Content-Type") == "application/json");

  // The session works on a guarded POST with its token.
  auto post = http::guarded(f.auth, auth::access::any_user,
                            [](http::request&, http::responder res, const auth::principal&) {
                              res.send(http::response::no_content());
                            });
  const auto session = cookie.substr(0, cookie.find(';'));
  CHECK(f.call(post,
               make_request("POST", {{"Cookie", session}, {"X-CSRF-Token", body["csrf_token"]}}))
            .status == 204);
  r = f.call(post, make_request("POST", {{"Cookie", session}}));
  CHECK(r.status == 403);
  CHECK(json::parse(r.body)["message"] == "Missing or wrong X-CSRF-Token header.");

  for (int i = 0; i < 5; ++i)
    CHECK(f.call(login, json_login(R"({"username":"admin","password":"x"})")).status == 401);
  r = f.call(login, json_login(R"({"username":"admin","password":"s3cret"})"));
  CHECK(r.status == 429);
  CHECK(json::parse(r.body)["error"] == "too_many_attempts");
  REQUIRE(r.headers.get("Retry-After"));
  CHECK(std::stoi(std::string(*r.headers.get("Retry-After"))) >= 1);

  r = f.call(http::logout_handler(f.auth), make_request("POST", {{"Cookie", session}}));
  CHECK(r.status == 204);
  CHECK(r.headers.get("Set-Cookie") ==
        "bcast_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
  CHECK(f.call(post, make_request("GET", {{"Cookie", session}})).status == 401);
}

TEST_CASE("a login body must be declared JSON: 415 otherwise, before anything is checked",
          "[http][authentication]") {
  auth_fixture f;
  auto login = http::login_handler(f.auth);
  const std::string body = R"({"username":"admin","password":"s3cret"})";
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded",
                           "multipart/form-data; boundary=x", "application/jsonx", ""}) {
    INFO(type);
    auto r = f.call(login, make_request("POST", {{"Content-Type", type}}, body));
    CHECK(r.status == 415);
    CHECK(json::parse(r.body) ==
          json{{"error", "unsupported_media_type"},
               {"message", "Send the login as JSON, with Content-Type: application/json."}});
  }
  CHECK(f.call(login, make_request("POST", {}, body)).status == 415);
  CHECK(f.call(login,
               make_request("POST", {{"content-type", " Application/JSON ;charset=UTF-8"}}, body))
            .status == 200);
  CHECK(f.failed_logins.value() == 0);
}
