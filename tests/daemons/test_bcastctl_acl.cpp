// End-to-end: `bcastctl acl STORE_ID` prints a store's Redis user; loaded into a real
// redis-server the way the README says (piped into redis-cli, or as an ACL file line), it lets
// the store read its channels and write its receipts, and nothing more.

#include "publisherd_fixture.hpp"

#include <bcast/broker/keys.hpp>

#include <fstream>

using namespace bcast;

namespace {

std::string shell_word(const std::string& word) {
  return "'" + word + "'";
}

// redis-cli as `user`; the caller first checks that AUTH works, since redis-cli falls back to
// the default user when it does not.
std::string as_user(const test::redis_server& server, const std::string& user,
                    const std::string& password, const std::string& command) {
  std::string out;
  test::shell_status("redis-cli -p " + std::to_string(server.port()) + " --user " + user +
                         " --pass " + password + " --no-auth-warning " + command,
                     &out);
  return out;
}

bool denied(const std::string& reply) {
  return reply.find("NOPERM") != std::string::npos ||
         reply.find("no permissions") != std::string::npos;
}

}  // namespace

TEST_CASE("bcastctl acl: the printed store user works in redis-server with least privilege") {
  // s2 comes in through an ACL file made of bcastctl's line; the default user stays the admin.
  std::string s2_line;
  REQUIRE(test::run_bcastctl("acl s2 --password-stdin", "s2-secret\n", &s2_line) == 0);
  CHECK(s2_line.rfind("user bcast-store-s2 on #", 0) == 0);
  CHECK(s2_line.find("s2-secret") == std::string::npos);  // only its SHA-256
  test::temp_dir dir;
  std::ofstream(dir.file("users.acl")) << "user default on nopass ~* &* +@all\n" << s2_line;
  test::redis_server server({"--aclfile", dir.file("users.acl")});

  // s1 comes in on the running server: `bcastctl acl ... --setuser | redis-cli`.
  std::string setuser;
  REQUIRE(test::run_bcastctl("acl s1 --group region:jateng --password-stdin --setuser",
                             "s1-secret\n", &setuser) == 0);
  CHECK(setuser.rfind("ACL SETUSER bcast-store-s1 reset on #", 0) == 0);
  CHECK(test::shell("printf '%s' " + shell_word(setuser) + " | redis-cli -p " +
                    std::to_string(server.port())) == "OK\n");

  CHECK(server.cli("AUTH bcast-store-s1 s1-secret") == "OK\n");
  CHECK(server.cli("AUTH bcast-store-s2 s2-secret") == "OK\n");
  CHECK(server.cli("AUTH bcast-store-s1 wrong").find("WRONGPASS") != std::string::npos);

  // publisherd's side, done as the admin: one message on each of s1's channels.
  for (std::string t : {"all", "store:s1", "region:jateng", "store:s2"}) {
    server.cli("XADD " + shell_word(broker::history_key(t)) + " 0-* id 1 env hello-" + t);
  }
  auto s1 = [&](const std::string& command) {
    return as_user(server, "bcast-store-s1", "s1-secret", command);
  };

  // Allowed: its channels' history and offsets, its own receipts, subscribing to its channels.
  for (std::string t : {"all", "store:s1", "region:jateng"}) {
    INFO(t);
    CHECK(s1("XRANGE " + shell_word(broker::history_key(t)) + " - +").find("hello-" + t) !=
          std::string::npos);
    CHECK(s1("XREVRANGE " + shell_word(broker::history_key(t)) + " + - COUNT 1").rfind("0-1\n", 0) == 0);
    CHECK(server.cli("ACL DRYRUN bcast-store-s1 SUBSCRIBE " +
                     shell_word(broker::live_channel(t))) == "OK\n");
  }
  CHECK(s1("HSETNX " + shell_word(broker::receipts_key("s1")) + " 01JD:delivered 1") == "1\n");

  // Denied: publishing anywhere, another store's receipts, history and live channel, a group it
  // is not in, and writing its own channel's history.
  CHECK(denied(s1("PUBLISH " + shell_word(broker::live_channel("all")) + " fake")));
  CHECK(denied(s1("PUBLISH " + shell_word(broker::live_channel("store:s1")) + " fake")));
  CHECK(denied(s1("HSETNX " + shell_word(broker::receipts_key("s2")) + " 01JD:delivered 1")));
  CHECK(denied(s1("XRANGE " + shell_word(broker::history_key("store:s2")) + " - +")));
  CHECK(denied(s1("XADD " + shell_word(broker::history_key("store:s1")) + " 0-* id 2")));
  CHECK(denied(server.cli("ACL DRYRUN bcast-store-s1 SUBSCRIBE " +
                          shell_word(broker::live_channel("store:s2")))));
  CHECK(denied(server.cli("ACL DRYRUN bcast-store-s1 SUBSCRIBE " +
                          shell_word(broker::live_channel("region:jabar")))));

  // The ACL file line works the same for s2, which is in no group.
  auto s2 = [&](const std::string& command) {
    return as_user(server, "bcast-store-s2", "s2-secret", command);
  };
  CHECK(
      s2("XRANGE " + shell_word(broker::history_key("store:s2")) + " - +").find("hello-store:s2") !=
      std::string::npos);
  CHECK(s2("HSETNX " + shell_word(broker::receipts_key("s2")) + " 01JD:displayed 1") == "1\n");
  CHECK(denied(s2("XRANGE " + shell_word(broker::history_key("region:jateng")) + " - +")));
  CHECK(denied(s2("HSETNX " + shell_word(broker::receipts_key("s1")) + " 01JD:displayed 1")));
  CHECK(denied(s2("PUBLISH " + shell_word(broker::live_channel("store:s2")) + " fake")));
}

TEST_CASE("bcastctl acl: a bad store id or group is a usage error, and a password is required") {
  std::string out;
  CHECK(test::run_bcastctl("acl 'Bad Id' --password-stdin", "pw\n", &out) == 2);
  CHECK(out.find("store id") != std::string::npos);
  CHECK(test::run_bcastctl("acl s1 --group all --password-stdin", "pw\n", &out) == 2);
  CHECK(out.find("invalid group") != std::string::npos);
  CHECK(test::run_bcastctl("acl --password-stdin", "pw\n", &out) == 2);
  CHECK(test::run_bcastctl("acl s1 --password-stdin", "", &out) == 1);
  CHECK(out.find("no password") != std::string::npos);
}
