#pragma once
// A real redis-server, a users file made with the real bcastctl, and the real publisherd.

#include <bcast/broker/presence.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/redis/client.hpp>
#include <support/daemon_support.hpp>
#include <support/test_support.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>

#include <sys/stat.h>
#include <string>

namespace bcast::test {

inline int run_bcastctl(const std::string& args, const std::string& stdin_text = {}, std::string* output = nullptr) {
  std::string cmd = "printf '%s' '" + stdin_text + "' | '" + build_path("daemons/bcastctl/bcastctl") + "' " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = ::pclose(p);
  if (output) *output = out;
  return WEXITSTATUS(status);
}

// bcastctl run through `wrapper` (e.g. setpriv to drop to another user).
// The binary is copied to `dir` first, since the other user may not reach the build tree.
inline int run_bcastctl_as(const std::string& wrapper, const temp_dir& dir, const std::string& args,
                           std::string& output) {
  std::string copy = dir.file("bcastctl");
  std::filesystem::copy_file(build_path("daemons/bcastctl/bcastctl"), copy,
                             std::filesystem::copy_options::overwrite_existing);
  ::chmod(copy.c_str(), 0755);
  std::string cmd = wrapper + " '" + copy + "' " + args + " 2>&1 </dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  output.clear();
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  return WEXITSTATUS(::pclose(p));
}

// A signing key pair made by the real bcastctl (`key gen --out dir`): the private key for
// publisherd's --signing-key, the public one for the stores that trust it.
struct key_pair {
  std::string private_key;  // dir/signing.key, 0600
  std::string public_key;   // dir/signing.pub
  std::string id;           // as bcastctl printed it
};

inline key_pair make_key_pair(const std::string& dir) {
  std::string out;
  REQUIRE(run_bcastctl("key gen --out '" + dir + "'", {}, &out) == 0);
  INFO(out);
  REQUIRE(out.rfind("key id ", 0) == 0);
  return {dir + "/signing.key", dir + "/signing.pub", out.substr(7, out.find('\n') - 7)};
}

// publisherd run to its end (--check-config, or a refused start): its exit status, and in
// `output` what it printed.
inline int run_publisherd(const std::string& args, std::string& output) {
  return shell_status("'" + build_path("daemons/publisherd/publisherd") + "' " + args, &output);
}

struct publisherd_fixture {
  // unsigned_messages: no --signing-key; the config given in extra_args must allow_unsigned.
  enum class signing { with_key, unsigned_messages };

  temp_dir dir;
  std::unique_ptr<redis_server> redis;
  std::uint16_t port = free_port();
  std::string users = dir.file("users.json");
  std::string socket = dir.file("publisherd.sock");
  // This publisherd's signing key (key.private_key, made in dir/keys); stores trust `public_key`
  // (subscriberd --trusted-key).
  key_pair key;
  std::string public_key;
  std::unique_ptr<daemon_process> daemon;

  explicit publisherd_fixture(std::vector<std::string> extra_args = {},
                              std::vector<std::string> redis_args = {},
                              signing sign = signing::with_key)
      : redis(std::make_unique<redis_server>(std::move(redis_args))),
        key(make_key_pair(dir.file("keys"))),
        public_key(key.public_key) {
    REQUIRE(run_bcastctl("user add --users " + users + " admin --role admin --password-stdin", "s3cret\n") == 0);
    REQUIRE(run_bcastctl("user add --users " + users + " jateng --role publisher --targets 'region:jateng' "
                         "--targets 'store:*' --password-stdin",
                         "regional\n") == 0);
    std::vector<std::string> args{"--redis", redis->url(), "--http", "127.0.0.1:" + std::to_string(port),
                                  "--users", users, "--unix-socket", socket};
    if (sign == signing::with_key) args.insert(args.end(), {"--signing-key", key.private_key});
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    daemon = std::make_unique<daemon_process>(build_path("daemons/publisherd/publisherd"), args);
    REQUIRE(daemon->wait_for_log("connected to Redis"));
  }

  http_result call(const std::string& method, const std::string& target, const std::string& body = {},
                   std::map<std::string, std::string> headers = {}) {
    return http_call(port, method, target, body, std::move(headers));
  }

  struct session {
    std::string cookie;
    std::string csrf;
  };

  session login(const std::string& user = "admin", const std::string& password = "s3cret") {
    auto r = call("POST", "/api/v1/login", nlohmann::json{{"username", user}, {"password", password}}.dump());
    REQUIRE(r.status == 200);
    auto set_cookie = r.header("set-cookie");
    return {set_cookie.substr(0, set_cookie.find(';')), nlohmann::json::parse(r.body)["csrf_token"]};
  }

  // A new bearer token of `user`, made with bcastctl; publisherd reloads its users to know it.
  std::string bearer_token(const std::string& user = "admin") {
    std::string token;
    REQUIRE(run_bcastctl("user token --users " + users + " " + user, {}, &token) == 0);
    daemon->signal(SIGHUP);
    REQUIRE(daemon->wait_for_log("users reloaded"));
    return token.substr(0, token.find('\n'));
  }

  // What a store's heartbeat writes, written by the library's own heartbeat.
  void store_seen(const std::string& id, std::vector<std::string> groups) {
    core::loop l;
    redis::client c(l, redis::parse_url(redis->url()).value());
    broker::heartbeat beat(l, c, broker::store_profile{id, std::move(groups), "test"});
    std::optional<core::result<void>> done;
    beat.beat([&](core::result<void> r) { done.emplace(std::move(r)); });
    REQUIRE(run_until(l, [&] { return done.has_value(); }));
    REQUIRE(done->ok());
  }

  http_result send(const session& s, const nlohmann::json& body) {
    return call("POST", "/api/v1/messages", body.dump(), {{"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf}});
  }
};

inline nlohmann::json simple_message(const std::string& title = "Promo minggu ini") {
  return {{"targets", {"all"}}, {"category", "discount_info"}, {"title", title}, {"body", "Diskon 20% untuk semua minuman."}};
}

}  // namespace bcast::test
