#pragma once
// A real redis-server, a users file made with the real bcastctl, and the real publisherd.

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

struct publisherd_fixture {
  temp_dir dir;
  std::unique_ptr<redis_server> redis;
  std::uint16_t port = free_port();
  std::string users = dir.file("users.json");
  std::string socket = dir.file("publisherd.sock");
  std::unique_ptr<daemon_process> daemon;

  explicit publisherd_fixture(std::vector<std::string> extra_args = {}, std::vector<std::string> redis_args = {})
      : redis(std::make_unique<redis_server>(std::move(redis_args))) {
    REQUIRE(run_bcastctl("user add --users " + users + " admin --role admin --password-stdin", "s3cret\n") == 0);
    REQUIRE(run_bcastctl("user add --users " + users + " jateng --role publisher --targets 'region:jateng' "
                         "--targets 'store:*' --password-stdin",
                         "regional\n") == 0);
    std::vector<std::string> args{"--redis", redis->url(), "--http", "127.0.0.1:" + std::to_string(port),
                                  "--users", users, "--unix-socket", socket};
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

  http_result send(const session& s, const nlohmann::json& body) {
    return call("POST", "/api/v1/messages", body.dump(), {{"Cookie", s.cookie}, {"X-CSRF-Token", s.csrf}});
  }
};

inline nlohmann::json simple_message(const std::string& title = "Promo minggu ini") {
  return {{"targets", {"all"}}, {"category", "discount_info"}, {"title", title}, {"body", "Diskon 20% untuk semua minuman."}};
}

}  // namespace bcast::test
