#pragma once
// Who is calling, and the login that makes a session. In order: a peer on the Unix socket is
// decided by its SO_PEERCRED uid and gid alone; then a bearer token; then a session cookie, with
// the CSRF token on unsafe methods. A login is throttled per client address and per (address,
// account) before its password is hashed, and the hashing runs on a bounded pool of its own
// threads: when that is full, a login is answered 503 "busy" at once instead of queueing.
//
// Below the HTTP layer: a request's parts come in as `presented` (http/authentication.hpp reads
// them off a request), and every refusal is an answer, a status with the API's error code and
// message, that the HTTP side sends as it is.

#include <bcast/auth/peer.hpp>
#include <bcast/auth/permissions.hpp>
#include <bcast/auth/proxies.hpp>
#include <bcast/auth/sessions.hpp>
#include <bcast/auth/throttle.hpp>
#include <bcast/auth/user.hpp>
#include <bcast/auth/users.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/log.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/metrics.hpp>
#include <bcast/core/text.hpp>
#include <bcast/core/work.hpp>

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::auth {

// Who is calling: a trusted local peer, a bearer token's owner, or a logged-in user.
struct principal {
  enum class source { unix_peer, bearer_token, session };

  std::string name;  // a user name, or "uid:<n>" for a peer
  auth::role role = auth::role::publisher;
  std::vector<std::string> targets{"*"};  // the patterns this caller may send to
  source via = source::session;

  [[nodiscard]] std::optional<std::string> first_disallowed_target(
      std::span<const std::string> wanted) const {
    return auth::first_disallowed_target(targets, wanted);
  }
};

enum class access { any_user, admin };

// A peer's SO_PEERCRED identity.
struct unix_peer {
  uid_t uid = 0;
  gid_t gid = 0;
};

// What a request presents, as the HTTP side reads it. The views are into the request and valid
// for the call they are passed to.
struct presented {
  std::string_view method;                           // "GET", "POST", ...
  std::optional<unix_peer> peer;                     // set for a Unix-socket connection only
  std::optional<std::string_view> bearer_token;      // from "Authorization: Bearer <token>"
  std::optional<std::string> session_cookie;         // bcast_session (plain HTTP)
  std::optional<std::string> secure_session_cookie;  // __Host-bcast_session (HTTPS)
  std::optional<std::string_view> csrf_token;        // X-CSRF-Token
  bool secure_transport = false;                     // TLS: the session cookie gets Secure
  std::string_view client_address;                   // the peer: "127.0.0.1:50312", "unix"
  // The forwarding headers as sent; believed only from a trusted proxy (auth/proxies.hpp).
  std::vector<std::string_view> forwarded_for;  // X-Forwarded-For's entries, left to right
  bool forwarded_https = false;                 // X-Forwarded-Proto's last entry is "https"
};

// A request refused: what to answer.
struct refusal {
  int status = 401;
  std::string code;  // the API's error code: "unauthenticated", "forbidden", ...
  std::string message;
  std::optional<std::chrono::seconds> retry_after;  // with 429 and 503
};

// Either what was asked for, or the refusal to answer with.
template <class T>
using outcome = core::result<T, refusal>;

// A successful login: the session's cookie and the CSRF token the page sends back.
struct logged_in {
  std::string user_name;
  auth::role role = auth::role::publisher;
  std::string csrf_token;
  std::string set_cookie;  // the Set-Cookie value

  // {"user":{"name":...,"role":...},"csrf_token":...}
  nlohmann::json body() const {
    return {{"user", {{"name", user_name}, {"role", to_string(role)}}}, {"csrf_token", csrf_token}};
  }
};

// A login that was tried, as it ended: for an audit. `result` is "ok" or the refusal's code
// (invalid_credentials, too_many_attempts, busy).
struct login_attempt {
  std::string name;     // as the client sent it
  std::string address;  // the client's, through trusted proxies
  std::string result;
};

struct authenticator_options {
  peer_policy unix_peers;
  session_options sessions;
  trusted_proxies proxies;  // whose X-Forwarded-For and X-Forwarded-Proto are believed
};

// How much login work is let in; fixed for the authenticator's life.
struct login_limits {
  throttle_options throttle;
  core::worker_pool_options hashing;  // threads and queue for password hashes
};

class authenticator {
 public:
  using clock = std::chrono::steady_clock;

  // Failed logins are counted in `failed_logins`, which must outlive the authenticator.
  authenticator(core::loop& l, authenticator_options options, core::metrics::counter& failed_logins,
                login_limits limits = {})
      : loop_(l),
        options_(std::move(options)),
        sessions_(options_.sessions),
        throttle_(limits.throttle),
        hashing_(l, limits.hashing),
        failed_logins_(failed_logins) {}

  authenticator(const authenticator&) = delete;
  authenticator& operator=(const authenticator&) = delete;

  // Reload: applies to the next request and to existing sessions at their next use.
  void set_options(authenticator_options options) {
    options_ = std::move(options);
    sessions_.set_options(options_.sessions);
  }
  const authenticator_options& options() const noexcept { return options_; }

  // The users to check against. Sessions of users whose password, role or targets changed, or
  // who are gone, end here. A login already hashing finishes against the users it started with.
  void set_users(std::shared_ptr<const user_store> fresh) {
    if (users_)
      for (const auto& name : changed_users(*users_, *fresh)) sessions_.destroy_user(name);
    users_ = std::move(fresh);
  }
  const user_store& users() const noexcept { return *users_; }

  // Told of every login once its outcome is known (not of a request that names no user).
  void observe_logins(std::function<void(const login_attempt&)> observer) {
    login_observer_ = std::move(observer);
  }

  session_store& sessions() noexcept { return sessions_; }
  login_throttle& throttle() noexcept { return throttle_; }
  const core::worker_pool& hashing() const noexcept { return hashing_; }

  // Where the request comes from, through trusted proxies.
  [[nodiscard]] origin origin_of(const presented& p) const {
    return auth::origin_of(p.client_address, p.forwarded_for, p.forwarded_https, options_.proxies);
  }

  // Whether the browser speaks HTTPS: to us, or to a trusted proxy that says so. Its session
  // cookie is then Secure and named with the __Host- prefix.
  [[nodiscard]] bool secure(const presented& p) const {
    return p.secure_transport || (!options_.proxies.empty() && origin_of(p).forwarded_https);
  }

  // Expired sessions and forgotten login failures; call it from a periodic timer.
  void sweep(clock::time_point now) {
    sessions_.sweep(now);
    throttle_.sweep(now);
  }

  // Who presents this. A Unix-socket peer is decided by its credentials alone; a request with
  // none of peer, token or live session is 401; a session's unsafe request without its CSRF
  // token is 403.
  [[nodiscard]] outcome<principal> identify(const presented& p) {
    if (p.peer) {
      if (peer_allowed(p.peer->uid, p.peer->gid, options_.unix_peers))
        return principal{
            "uid:" + std::to_string(p.peer->uid), role::admin, {"*"}, principal::source::unix_peer};
      return unauthenticated();
    }
    if (p.bearer_token) {
      if (const user* u = users_->find_by_token(*p.bearer_token))
        return principal{u->name, u->role, u->targets, principal::source::bearer_token};
      return unauthenticated();
    }
    const auto& cookie = secure(p) ? p.secure_session_cookie : p.session_cookie;
    if (!cookie) return unauthenticated();
    auto s = sessions_.find(*cookie, clock::now());
    if (!s) return unauthenticated();
    const user* u = users_->find(s->user_name);
    if (!u) return unauthenticated();
    if (unsafe(p.method) && !(p.csrf_token && csrf_token_matches(*s, *p.csrf_token)))
      return refusal{403, "forbidden", "Missing or wrong X-CSRF-Token header.", std::nullopt};
    return principal{u->name, u->role, u->targets, principal::source::session};
  }

  // identify(), and then the role `level` needs.
  [[nodiscard]] outcome<principal> authorize(const presented& p, access level) {
    auto who = identify(p);
    if (who && level == access::admin && who->role != role::admin)
      return refusal{403, "forbidden", "Only an admin may do this.", std::nullopt};
    return who;
  }

  // A login with a JSON body {"username","password"}. `done` runs later on the loop thread,
  // never from inside this call: 400 for a bad body; 429 with Retry-After while the address or
  // the (address, name) is throttled, and 503 "busy" with Retry-After while the hashing is full
  // (the password is not checked then); 401 for a wrong name or password (the same answer for
  // both); else a new session. The attempt counts against the throttle before it is hashed.
  void login(std::string_view body, const presented& p,
             std::function<void(outcome<logged_in>)> done) {
    auto request = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!request.is_object() || !request["username"].is_string() ||
        !request["password"].is_string())
      return answer_later(
          std::move(done),
          refusal{400, "invalid_request", "Send {\"username\":\"...\",\"password\":\"...\"}.",
                  std::nullopt});
    std::string name = request["username"];
    std::string password = request["password"];
    std::string address = origin_of(p).address;
    if (auto wait = throttle_.begin(address, name, clock::now()))
      return answer_later(
          std::move(done),
          refusal{429, "too_many_attempts",
                  "Too many login attempts. Try again in " + std::to_string(wait->count()) + " s.",
                  *wait},
          login_attempt{name, address, "too_many_attempts"});
    // PBKDF2 at 600,000 iterations takes a quarter of a second: never on the loop thread.
    const bool started = hashing_.submit(
        [users = users_, name, password = std::move(password)]() -> std::optional<user> {
          const user* u = users->authenticate(name, password);
          return u ? std::optional<user>(*u) : std::nullopt;
        },
        [this, alive = alive_.watch(), name, address, secure_cookie = secure(p),
         done](std::optional<user> u) {
          if (alive.expired()) return;
          done(finish_login(name, address, u, secure_cookie));
        });
    if (!started) {
      throttle_.end(address, name, login_throttle::outcome::not_checked, clock::now());
      answer_later(std::move(done), busy(), login_attempt{name, address, "busy"});
    }
  }

  // Ends the session the request presents, if any; returns the Set-Cookie value that makes the
  // browser drop the cookie.
  [[nodiscard]] std::string logout(const presented& p) {
    const bool is_secure = secure(p);
    if (const auto& cookie = is_secure ? p.secure_session_cookie : p.session_cookie)
      sessions_.destroy(*cookie);
    return clear_session_cookie(is_secure);
  }

 private:
  static bool unsafe(std::string_view method) noexcept {
    return method != "GET" && method != "HEAD" && method != "OPTIONS";
  }

  static refusal unauthenticated() {
    return {401, "unauthenticated", "Log in first, or present a valid token.", std::nullopt};
  }

  static refusal busy() {
    return {503, "busy", "Too many logins are being checked right now. Try again in 1 s.",
            std::chrono::seconds(1)};
  }

  outcome<logged_in> finish_login(const std::string& name, const std::string& address,
                                  const std::optional<user>& u, bool secure_cookie) {
    const auto now = clock::now();
    if (!u) {
      failed_logins_.inc();
      throttle_.end(address, name, login_throttle::outcome::failed, now);
      core::log::warning("failed login for " + core::quoted(name) + " from " + address);
      tell({name, address, "invalid_credentials"});
      return refusal{401, "invalid_credentials", "Username and password do not match.",
                     std::nullopt};
    }
    throttle_.end(address, name, login_throttle::outcome::succeeded, now);
    tell({u->name, address, "ok"});
    auto s = sessions_.create(u->name, u->role, now);
    return logged_in{u->name, u->role, s.csrf_token,
                     session_cookie(s.id, secure_cookie, options_.sessions.absolute_timeout)};
  }

  void tell(const login_attempt& a) const {
    if (login_observer_) login_observer_(a);
  }

  void answer_later(std::function<void(outcome<logged_in>)> done, refusal why,
                    std::optional<login_attempt> attempt = std::nullopt) {
    loop_.defer([this, alive = alive_.watch(), done = std::move(done), why = std::move(why),
                 attempt = std::move(attempt)]() mutable {
      if (alive.expired()) return;
      if (attempt) tell(*attempt);
      done(std::move(why));
    });
  }

  core::loop& loop_;
  authenticator_options options_;
  std::shared_ptr<const user_store> users_ = std::make_shared<const user_store>();
  session_store sessions_;
  login_throttle throttle_;
  core::worker_pool hashing_;
  core::metrics::counter& failed_logins_;
  std::function<void(const login_attempt&)> login_observer_;
  core::liveness_token alive_;
};

}  // namespace bcast::auth
