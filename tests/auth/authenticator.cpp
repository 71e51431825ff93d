#include <bcast/auth/authenticator.hpp>
#include <bcast/auth/password.hpp>

#include <auth/fast_hashing.hpp>
#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

using namespace bcast;
using namespace std::chrono_literals;
using auth::principal;

namespace {

using bcast::test::fast_iterations;

const std::string admin_token = "bcast_admin_token_for_tests";

std::shared_ptr<const auth::user_store> make_users() {
  auth::user_store users;
  REQUIRE(users.add({"admin",
                     auth::role::admin,
                     auth::hash_password("s3cret", fast_iterations),
                     {"*"},
                     {auth::token_hash(admin_token)}}));
  REQUIRE(users.add({"jateng",
                     auth::role::publisher,
                     auth::hash_password("regional", fast_iterations),
                     {"region:jateng", "store:*"},
                     {}}));
  return std::make_shared<const auth::user_store>(std::move(users));
}

// A peer policy that allows uid 4242 and gid 77 only: not root, not this process's own uid.
auth::peer_policy strict_peers() {
  auth::peer_policy p;
  p.allow_own_uid = false;
  p.allow_root = false;
  p.uids = {4242};
  p.gids = {77};
  return p;
}

auth::presented login_request(std::string_view client_address = "127.0.0.1:50000") {
  auth::presented p;
  p.method = "POST";
  p.client_address = client_address;
  return p;
}

struct fixture {
  core::loop loop;
  core::metrics::counter failed_logins;
  auth::authenticator auth;

  explicit fixture(auth::login_limits limits = {})
      : auth(loop, {strict_peers(), {}, {}}, failed_logins, limits) {
    auth.set_users(make_users());
  }

  // Runs a login to its answer, checking that the answer comes after the call, not inside it.
  auth::outcome<auth::logged_in> login(const std::string& body, bool secure = false) {
    auto p = login_request();
    p.secure_transport = secure;
    return login(body, p);
  }

  auth::outcome<auth::logged_in> login(const std::string& body, const auth::presented& p) {
    std::optional<auth::outcome<auth::logged_in>> answer;
    auth.login(body, p, [&](auth::outcome<auth::logged_in> r) { answer.emplace(std::move(r)); });
    CHECK_FALSE(answer);
    REQUIRE(test::run_until(loop, [&] { return answer.has_value(); }));
    return std::move(*answer);
  }

  auth::outcome<principal> with_cookie(std::string cookie, std::string_view method = "GET",
                                       std::optional<std::string_view> csrf = std::nullopt) {
    auth::presented p;
    p.method = method;
    p.session_cookie = std::move(cookie);
    p.csrf_token = csrf;
    return auth.identify(p);
  }
};

auth::presented from_peer(uid_t uid, gid_t gid) {
  auth::presented p;
  p.method = "POST";
  p.peer = auth::unix_peer{uid, gid};
  p.client_address = "unix";
  return p;
}

auth::presented with_token(std::string_view token) {
  auth::presented p;
  p.method = "POST";
  p.bearer_token = token;
  return p;
}

void check_unauthenticated(const auth::outcome<principal>& r) {
  REQUIRE_FALSE(r);
  CHECK(r.err().status == 401);
  CHECK(r.err().code == "unauthenticated");
  CHECK(r.err().message == "Log in first, or present a valid token.");
  CHECK_FALSE(r.err().retry_after);
}

void check_csrf_refused(const auth::outcome<principal>& r) {
  REQUIRE_FALSE(r);
  CHECK(r.err().status == 403);
  CHECK(r.err().code == "forbidden");
  CHECK(r.err().message == "Missing or wrong X-CSRF-Token header.");
}

}  // namespace

TEST_CASE("a Unix-socket peer is decided by its uid and gid alone", "[auth][authenticator]") {
  fixture f;
  SECTION("an allowed uid is an admin for every target") {
    auto r = f.auth.identify(from_peer(4242, 1000));
    REQUIRE(r);
    CHECK(r->name == "uid:4242");
    CHECK(r->role == auth::role::admin);
    CHECK(r->targets == std::vector<std::string>{"*"});
    CHECK(r->via == principal::source::unix_peer);
  }
  SECTION("an allowed primary gid") {
    auto r = f.auth.identify(from_peer(1000, 77));
    REQUIRE(r);
    CHECK(r->name == "uid:1000");
  }
  SECTION("anyone else is refused, even with a valid token: the socket is not a login") {
    check_unauthenticated(f.auth.identify(from_peer(1000, 1000)));
    auto p = from_peer(0, 0);  // root, not allowed by this policy
    p.bearer_token = admin_token;
    check_unauthenticated(f.auth.identify(p));
  }
  SECTION("the policy follows a reload") {
    auth::peer_policy own;  // the defaults: root and this process's own uid
    f.auth.set_options({own, {}, {}});
    CHECK(f.auth.identify(from_peer(::geteuid(), 12345)));
    CHECK(f.auth.identify(from_peer(0, 0)));
    check_unauthenticated(f.auth.identify(from_peer(4242, 1000)));
  }
}

TEST_CASE("a bearer token names its owner, with the owner's role and targets",
          "[auth][authenticator]") {
  fixture f;
  auto r = f.auth.identify(with_token(admin_token));
  REQUIRE(r);
  CHECK(r->name == "admin");
  CHECK(r->role == auth::role::admin);
  CHECK(r->via == principal::source::bearer_token);
  check_unauthenticated(f.auth.identify(with_token("bcast_wrong")));
  check_unauthenticated(f.auth.identify(with_token("")));
  // A token needs no CSRF header, whatever the method.
  auto p = with_token(admin_token);
  p.method = "DELETE";
  CHECK(f.auth.identify(p));
  // A wrong token is not rescued by a valid session cookie.
  auto s = f.auth.sessions().create("admin", auth::role::admin, auth::authenticator::clock::now());
  p = with_token("bcast_wrong");
  p.method = "GET";
  p.session_cookie = s.id;
  check_unauthenticated(f.auth.identify(p));
}

TEST_CASE("nothing presented is 401", "[auth][authenticator]") {
  fixture f;
  auth::presented p;
  p.method = "GET";
  check_unauthenticated(f.auth.identify(p));
  check_unauthenticated(f.auth.authorize(p, auth::access::admin));
}

TEST_CASE("a session cookie: live, expired, unknown, or of a user who is gone",
          "[auth][authenticator]") {
  fixture f;
  const auto now = auth::authenticator::clock::now();
  auto s = f.auth.sessions().create("jateng", auth::role::publisher, now);

  auto r = f.with_cookie(s.id);
  REQUIRE(r);
  CHECK(r->name == "jateng");
  CHECK(r->role == auth::role::publisher);
  CHECK(r->targets == std::vector<std::string>{"region:jateng", "store:*"});
  CHECK(r->via == principal::source::session);
  CHECK(r->first_disallowed_target(std::vector<std::string>{"store:7", "all"}) == "all");
  CHECK_FALSE(r->first_disallowed_target(std::vector<std::string>{"region:jateng", "store:7"}));

  SECTION("idle past the timeout") {
    auto old = f.auth.sessions().create("jateng", auth::role::publisher, now - 31min);
    check_unauthenticated(f.with_cookie(old.id));
  }
  SECTION("past the absolute timeout") {
    f.auth.set_options({strict_peers(), {.idle_timeout = 10min, .absolute_timeout = 20min}, {}});
    auto old = f.auth.sessions().create("jateng", auth::role::publisher, now - 21min);
    check_unauthenticated(f.with_cookie(old.id));
  }
  SECTION("unknown id") {
    check_unauthenticated(f.with_cookie(std::string(auth::session_token_chars, 'A')));
    check_unauthenticated(f.with_cookie("garbage"));
  }
  SECTION("a session whose user is not in the users file") {
    auto ghost = f.auth.sessions().create("ghost", auth::role::admin, now);
    check_unauthenticated(f.with_cookie(ghost.id));
  }
  SECTION("a reload that changes the user ends the session; an unchanged user keeps it") {
    auto admin_session = f.auth.sessions().create("admin", auth::role::admin, now);
    auth::user_store changed = f.auth.users();
    REQUIRE(changed.set_role("jateng", auth::role::admin));
    f.auth.set_users(std::make_shared<const auth::user_store>(std::move(changed)));
    check_unauthenticated(f.with_cookie(s.id));
    CHECK(f.with_cookie(admin_session.id));
  }
}

TEST_CASE("a session's unsafe request needs its CSRF token; a safe one does not",
          "[auth][authenticator]") {
  fixture f;
  auto s = f.auth.sessions().create("admin", auth::role::admin, auth::authenticator::clock::now());
  auto other =
      f.auth.sessions().create("admin", auth::role::admin, auth::authenticator::clock::now());
  for (std::string_view method : {"GET", "HEAD", "OPTIONS"}) CHECK(f.with_cookie(s.id, method));
  for (std::string_view method : {"POST", "PUT", "PATCH", "DELETE"}) {
    INFO(method);
    check_csrf_refused(f.with_cookie(s.id, method));                    // missing
    check_csrf_refused(f.with_cookie(s.id, method, ""));                // empty
    check_csrf_refused(f.with_cookie(s.id, method, "wrong"));           // wrong
    check_csrf_refused(f.with_cookie(s.id, method, other.csrf_token));  // another session's
    CHECK(f.with_cookie(s.id, method, s.csrf_token));
  }
  // An unknown session is 401 before any CSRF question.
  auto r = f.with_cookie(std::string(auth::session_token_chars, 'B'), "POST");
  check_unauthenticated(r);
}

TEST_CASE("admin-only access", "[auth][authenticator]") {
  fixture f;
  auto s =
      f.auth.sessions().create("jateng", auth::role::publisher, auth::authenticator::clock::now());
  auth::presented p;
  p.method = "GET";
  p.session_cookie = s.id;
  CHECK(f.auth.authorize(p, auth::access::any_user));
  auto r = f.auth.authorize(p, auth::access::admin);
  REQUIRE_FALSE(r);
  CHECK(r.err().status == 403);
  CHECK(r.err().code == "forbidden");
  CHECK(r.err().message == "Only an admin may do this.");
  CHECK(f.auth.authorize(with_token(admin_token), auth::access::admin));
  CHECK(f.auth.authorize(from_peer(4242, 0), auth::access::admin));
  // The CSRF refusal comes before the role's.
  p.method = "POST";
  check_csrf_refused(f.auth.authorize(p, auth::access::admin));
}

TEST_CASE("a login makes a session, with its cookie and CSRF token", "[auth][authenticator]") {
  fixture f;
  auto r = f.login(R"({"username":"admin","password":"s3cret"})");
  REQUIRE(r);
  CHECK(r->user_name == "admin");
  CHECK(r->role == auth::role::admin);
  CHECK(r->csrf_token.size() == auth::session_token_chars);
  CHECK(r->body() == nlohmann::json{{"user", {{"name", "admin"}, {"role", "admin"}}},
                                    {"csrf_token", r->csrf_token}});
  const std::string prefix = "bcast_session=";
  REQUIRE(r->set_cookie.rfind(prefix, 0) == 0);
  CHECK(r->set_cookie.find("; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict") !=
        std::string::npos);
  CHECK(r->set_cookie.find("Secure") == std::string::npos);
  CHECK(f.failed_logins.value() == 0);

  // The cookie is the session: it identifies, and its POSTs need the returned token.
  const std::string id = r->set_cookie.substr(prefix.size(), auth::session_token_chars);
  CHECK(f.with_cookie(id, "POST", r->csrf_token));
  check_csrf_refused(f.with_cookie(id, "POST"));

  // Over TLS the cookie is Secure, with the __Host- prefix; it is read back from that name only.
  auto tls = f.login(R"({"username":"jateng","password":"regional"})", true);
  REQUIRE(tls);
  CHECK(tls->set_cookie.rfind("__Host-bcast_session=", 0) == 0);
  CHECK(tls->set_cookie.find("; Secure") != std::string::npos);
  const std::string tls_id = tls->set_cookie.substr(std::string("__Host-bcast_session=").size(),
                                                    auth::session_token_chars);
  auth::presented secure_get;
  secure_get.method = "GET";
  secure_get.secure_transport = true;
  secure_get.secure_session_cookie = tls_id;
  CHECK(f.auth.identify(secure_get));
  secure_get.secure_session_cookie.reset();
  secure_get.session_cookie = tls_id;  // a plain-named cookie over HTTPS: planted, not ours
  check_unauthenticated(f.auth.identify(secure_get));

  SECTION("logout ends it and clears the cookie") {
    auth::presented p;
    p.method = "POST";
    p.session_cookie = id;
    CHECK(f.auth.logout(p) == "bcast_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    check_unauthenticated(f.with_cookie(id));
    p.secure_transport = true;
    CHECK(f.auth.logout(p) ==
          "__Host-bcast_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure");
  }
}

TEST_CASE("a wrong login is 401, the same for a wrong password and an unknown user",
          "[auth][authenticator]") {
  fixture f;
  auto wrong_password = f.login(R"({"username":"admin","password":"nope"})");
  auto unknown_user = f.login(R"({"username":"nobody","password":"nope"})");
  for (const auto* r : {&wrong_password, &unknown_user}) {
    REQUIRE_FALSE(*r);
    CHECK(r->err().status == 401);
    CHECK(r->err().code == "invalid_credentials");
    CHECK(r->err().message == "Username and password do not match.");
  }
  CHECK(f.failed_logins.value() == 2);
  CHECK(f.auth.sessions().size() == 0);
}

TEST_CASE("a login body that is not {username, password} is 400", "[auth][authenticator]") {
  fixture f;
  for (const char* body :
       {"{not json", "[]", R"({"username":"admin"})", R"({"username":"admin","password":5})", ""}) {
    INFO(body);
    auto r = f.login(body);
    REQUIRE_FALSE(r);
    CHECK(r.err().status == 400);
    CHECK(r.err().code == "invalid_request");
    CHECK(r.err().message == R"(Send {"username":"...","password":"..."}.)");
  }
  CHECK(f.failed_logins.value() == 0);
}

TEST_CASE("five failed logins lock the name: 429 with Retry-After, even for the right password",
          "[auth][authenticator]") {
  fixture f;
  for (int i = 0; i < 5; ++i)
    CHECK(f.login(R"({"username":"jateng","password":"x"})").err().status == 401);
  CHECK(f.failed_logins.value() == 5);
  auto locked = f.login(R"({"username":"jateng","password":"regional"})");
  REQUIRE_FALSE(locked);
  CHECK(locked.err().status == 429);
  CHECK(locked.err().code == "too_many_attempts");
  REQUIRE(locked.err().retry_after);
  CHECK(*locked.err().retry_after >= 1s);
  CHECK(locked.err().message == "Too many login attempts. Try again in " +
                                    std::to_string(locked.err().retry_after->count()) + " s.");
  CHECK(f.failed_logins.value() == 5);  // a throttled attempt checks no password
  // Other names are not locked, and neither is this name from another address.
  CHECK(f.login(R"({"username":"admin","password":"s3cret"})"));
  CHECK(f.login(R"({"username":"jateng","password":"regional"})", login_request("10.1.1.1:4000")));

  SECTION("the lock passes; a sweep forgets the failures once they are old") {
    const auto later = auth::authenticator::clock::now() + 16min;
    CHECK_FALSE(f.auth.throttle().check("127.0.0.1", "jateng", later));
    f.auth.sweep(later);
    CHECK(f.auth.throttle().size() == 0);
  }
}

TEST_CASE("an authenticator destroyed while a password is hashed answers nothing",
          "[auth][authenticator]") {
  core::loop loop;
  core::metrics::counter failed;
  bool answered = false;
  {
    auth::authenticator a(loop, {}, failed);
    a.set_users(make_users());
    auto p = login_request();
    a.login(R"({"username":"admin","password":"s3cret"})", p,
            [&](auth::outcome<auth::logged_in>) { answered = true; });
    a.login("{not json", p, [&](auth::outcome<auth::logged_in>) { answered = true; });
  }
  loop.run();  // the pool job and the deferred answer finish
  CHECK_FALSE(answered);
}

TEST_CASE("a burst of logins is throttled as it arrives, before any password is hashed",
          "[auth][authenticator]") {
  fixture f;
  std::vector<auth::outcome<auth::logged_in>> answers;
  for (int i = 0; i < 10; ++i)
    f.auth.login(R"({"username":"jateng","password":"x"})", login_request(),
                 [&](auth::outcome<auth::logged_in> r) { answers.push_back(std::move(r)); });
  REQUIRE(test::run_until(f.loop, [&] { return answers.size() == 10; }));
  int unauthorized = 0, throttled = 0;
  for (const auto& a : answers) {
    REQUIRE_FALSE(a);
    if (a.err().status == 401) ++unauthorized;
    if (a.err().status == 429) ++throttled;
  }
  // Four of one address are hashed at a time; the others are refused at once, uncounted.
  CHECK(unauthorized == 4);
  CHECK(throttled == 6);
  CHECK(f.failed_logins.value() == 4);
}

TEST_CASE("when the hashing is full a login is 503 busy with Retry-After, and counts nothing",
          "[auth][authenticator]") {
  auth::login_limits limits;
  limits.hashing = {.threads = 1, .queue = 1};
  fixture f(limits);
  std::vector<auth::outcome<auth::logged_in>> answers;
  const auto collect = [&](auth::outcome<auth::logged_in> r) { answers.push_back(std::move(r)); };
  // Three addresses at once: one is hashed, one waits, the third finds no room.
  f.auth.login(R"({"username":"jateng","password":"x"})", login_request("10.0.0.1:1"), collect);
  f.auth.login(R"({"username":"jateng","password":"x"})", login_request("10.0.0.2:1"), collect);
  CHECK(f.auth.hashing().in_flight() == 2);
  f.auth.login(R"({"username":"admin","password":"s3cret"})", login_request("10.0.0.3:1"), collect);
  REQUIRE(test::run_until(f.loop, [&] { return answers.size() == 3; }));
  int unauthorized = 0, busy = 0;
  for (const auto& a : answers) {
    REQUIRE_FALSE(a);
    if (a.err().status == 401) ++unauthorized;
    if (a.err().status != 503) continue;
    ++busy;
    CHECK(a.err().code == "busy");
    CHECK(a.err().retry_after == 1s);
  }
  CHECK(unauthorized == 2);
  CHECK(busy == 1);
  CHECK(f.failed_logins.value() == 2);
  CHECK(f.auth.hashing().in_flight() == 0);
  // The busy attempt left no trace in the throttle: it logs in now.
  CHECK(f.login(R"({"username":"admin","password":"s3cret"})", login_request("10.0.0.3:1")));
}

TEST_CASE("behind a trusted proxy: its X-Forwarded-For names the client, X-Forwarded-Proto https",
          "[auth][authenticator]") {
  fixture f;
  auto proxies = auth::trusted_proxies::parse({"10.0.0.0/8"});
  REQUIRE(proxies);
  f.auth.set_options({strict_peers(), {}, proxies.value()});
  const auto via = [](std::string_view peer, std::string_view client, bool https) {
    auto p = login_request(peer);
    p.forwarded_for = {"203.0.113.50", client};  // the first one is whatever the client claimed
    p.forwarded_https = https;
    return p;
  };
  const std::string wrong = R"({"username":"admin","password":"x"})";
  const std::string right = R"({"username":"admin","password":"s3cret"})";
  // The answer's status, 200 for a session.
  const auto status = [&](const std::string& body, const auth::presented& p) {
    auto r = f.login(body, p);
    return r ? 200 : r.err().status;
  };
  SECTION("the client, not the proxy, is throttled") {
    for (int i = 0; i < 5; ++i)
      CHECK(status(wrong, via("10.0.0.2:1", "198.51.100.7", true)) == 401);
    CHECK(status(right, via("10.0.0.2:1", "198.51.100.7", true)) == 429);
    CHECK(status(right, via("10.0.0.2:1", "198.51.100.8", true)) == 200);
  }
  SECTION("an untrusted peer's forwarding headers are ignored") {
    for (int i = 0; i < 5; ++i)
      CHECK(status(wrong, via("192.0.2.1:1", "198.51.100." + std::to_string(i), true)) == 401);
    CHECK(status(right, via("192.0.2.1:1", "198.51.100.99", true)) == 429);
    auto r = f.login(right, via("192.0.2.2:1", "x", true));
    REQUIRE(r);
    CHECK(r->set_cookie.rfind("bcast_session=", 0) == 0);
    CHECK(r->set_cookie.find("Secure") == std::string::npos);
  }
  SECTION("HTTPS at the proxy: a Secure __Host- cookie, read back through the proxy only") {
    auto r = f.login(R"({"username":"admin","password":"s3cret"})",
                     via("10.0.0.2:1", "198.51.100.7", true));
    REQUIRE(r);
    CHECK(r->set_cookie.rfind("__Host-bcast_session=", 0) == 0);
    CHECK(r->set_cookie.find("; Secure") != std::string::npos);
    auth::presented get = via("10.0.0.2:1", "198.51.100.7", true);
    get.method = "GET";
    get.secure_session_cookie = r->set_cookie.substr(std::string("__Host-bcast_session=").size(),
                                                     auth::session_token_chars);
    CHECK(f.auth.identify(get));
    get.forwarded_https = false;
    check_unauthenticated(f.auth.identify(get));
    // Plain HTTP at the proxy: the plain cookie, as without a proxy.
    auto plain = f.login(R"({"username":"admin","password":"s3cret"})",
                         via("10.0.0.2:1", "198.51.100.7", false));
    REQUIRE(plain);
    CHECK(plain->set_cookie.rfind("bcast_session=", 0) == 0);
  }
}
