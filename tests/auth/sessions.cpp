#include <bcast/auth/sessions.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>

using namespace bcast::auth;
using namespace std::chrono_literals;

namespace {
const session_store::clock::time_point t0 = session_store::clock::time_point{} + 1000h;
}

TEST_CASE("a login creates a fresh session", "[auth][sessions]") {
  session_store store;
  const session a = store.create("alice", role::admin, t0);
  CHECK(a.id.size() == session_token_chars);
  CHECK(a.csrf_token.size() == session_token_chars);
  CHECK(a.id != a.csrf_token);
  CHECK(a.user_name == "alice");
  CHECK(a.role == role::admin);

  // Logging in again regenerates: new id and new CSRF token; the old session stays valid.
  const session b = store.create("alice", role::admin, t0);
  CHECK(b.id != a.id);
  CHECK(b.csrf_token != a.csrf_token);
  CHECK(store.size() == 2);

  auto found = store.find(a.id, t0 + 1s);
  REQUIRE(found);
  CHECK(found->id == a.id);
  CHECK(found->user_name == "alice");
  CHECK(found->csrf_token == a.csrf_token);
  CHECK(found->created == t0);
  CHECK(found->last_seen == t0 + 1s);

  CHECK_FALSE(store.find("", t0));
  CHECK_FALSE(store.find(a.csrf_token, t0));  // the CSRF token is not a session id
  CHECK_FALSE(store.find(std::string(43, 'A'), t0));
  CHECK_FALSE(store.find(a.id + "x", t0));
  CHECK_FALSE(store.find(a.id.substr(0, 42) + "!", t0));
}

TEST_CASE("idle timeout slides, absolute timeout does not", "[auth][sessions]") {
  session_store store;  // 30 min idle, 12 h absolute
  const session s = store.create("alice", role::publisher, t0);

  SECTION("idle expiry") {
    CHECK(store.find(s.id, t0 + 29min));
    CHECK(store.find(s.id, t0 + 58min));        // 29 min after the last use
    CHECK_FALSE(store.find(s.id, t0 + 88min));  // 30 min idle
    CHECK(store.size() == 0);
    CHECK_FALSE(store.find(s.id, t0 + 88min));
  }
  SECTION("absolute expiry despite activity") {
    auto now = t0;
    while (now + 20min < t0 + 12h) {
      now += 20min;
      REQUIRE(store.find(s.id, now));
    }
    CHECK_FALSE(store.find(s.id, t0 + 12h));
    CHECK(store.size() == 0);
  }
  SECTION("custom timeouts") {
    session_store short_lived(session_options{10s, 60s, 100, 10});
    const session x = short_lived.create("bob", role::publisher, t0);
    CHECK(short_lived.find(x.id, t0 + 9s));
    CHECK_FALSE(short_lived.find(x.id, t0 + 19s));
  }
}

TEST_CASE("destroy, destroy_user and sweep", "[auth][sessions]") {
  session_store store;
  const session a1 = store.create("alice", role::admin, t0);
  const session a2 = store.create("alice", role::admin, t0);
  const session b = store.create("bob", role::publisher, t0 + 20min);

  CHECK(store.destroy(a1.id));
  CHECK_FALSE(store.destroy(a1.id));
  CHECK_FALSE(store.find(a1.id, t0 + 1s));
  CHECK(store.find(a2.id, t0 + 1s));

  const session a3 = store.create("alice", role::admin, t0 + 2s);
  CHECK(store.destroy_user("alice") == 2);
  CHECK_FALSE(store.find(a2.id, t0 + 3s));
  CHECK_FALSE(store.find(a3.id, t0 + 3s));
  CHECK(store.size() == 1);

  store.create("carol", role::publisher, t0);
  CHECK(store.sweep(t0 + 31min) == 1);  // carol idle for 31 min, bob for 11
  CHECK(store.size() == 1);
  CHECK(store.find(b.id, t0 + 31min));
  CHECK(store.sweep(t0 + 31min + 29min) == 0);
  CHECK(store.sweep(t0 + 31min + 30min) == 1);
  CHECK(store.size() == 0);
}

TEST_CASE("bounded size: the least recently used session goes first", "[auth][sessions]") {
  session_store store(session_options{30min, 12h, 3, 3});
  const session a = store.create("a", role::publisher, t0);
  const session b = store.create("b", role::publisher, t0 + 1s);
  const session c = store.create("c", role::publisher, t0 + 2s);
  REQUIRE(store.find(a.id, t0 + 3s));  // a is now the most recent
  const session d = store.create("d", role::publisher, t0 + 4s);
  CHECK(store.size() == 3);
  CHECK_FALSE(store.find(b.id, t0 + 5s));
  CHECK(store.find(a.id, t0 + 5s));
  CHECK(store.find(c.id, t0 + 5s));
  CHECK(store.find(d.id, t0 + 5s));

  SECTION("one user cannot push everyone else out") {
    session_store per_user(session_options{30min, 12h, 100, 2});
    const session other = per_user.create("other", role::publisher, t0);
    const session s1 = per_user.create("loop", role::publisher, t0 + 1s);
    const session s2 = per_user.create("loop", role::publisher, t0 + 2s);
    const session s3 = per_user.create("loop", role::publisher, t0 + 3s);
    CHECK(per_user.size() == 3);
    CHECK_FALSE(per_user.find(s1.id, t0 + 4s));
    CHECK(per_user.find(s2.id, t0 + 4s));
    CHECK(per_user.find(s3.id, t0 + 4s));
    CHECK(per_user.find(other.id, t0 + 4s));
  }
}

TEST_CASE("session ids are unique", "[auth][sessions]") {
  session_store store;
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) ids.insert(store.create("u", role::publisher, t0).id);
  CHECK(ids.size() == 200);
}

TEST_CASE("CSRF tokens compare exactly", "[auth][sessions]") {
  session_store store;
  const session s = store.create("alice", role::admin, t0);
  CHECK(csrf_token_matches(s, s.csrf_token));
  CHECK_FALSE(csrf_token_matches(s, ""));
  CHECK_FALSE(csrf_token_matches(s, s.id));
  std::string flipped = s.csrf_token;
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  CHECK_FALSE(csrf_token_matches(s, flipped));
  CHECK_FALSE(csrf_token_matches(s, s.csrf_token.substr(1)));
  CHECK_FALSE(csrf_token_matches(s, s.csrf_token + "A"));
  session blank;
  CHECK_FALSE(csrf_token_matches(blank, ""));
}

TEST_CASE("session cookies", "[auth][sessions]") {
  CHECK(session_cookie("abc", false, 12h) ==
        "bcast_session=abc; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict");
  // Over HTTPS: the __Host- prefix, which needs Secure, Path=/ and no Domain.
  CHECK(session_cookie("abc", true, 12h) ==
        "__Host-bcast_session=abc; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict; Secure");
  CHECK(clear_session_cookie(false) ==
        "bcast_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
  CHECK(clear_session_cookie(true) ==
        "__Host-bcast_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure");
}
