#include <bcast/net/tls_config.hpp>

#include <catch2/catch.hpp>
#include <support/assert_ok.hpp>

using namespace bcast;
using nlohmann::json;

namespace {

// The file {"redis_tls": <section>} read over `defaults`.
core::result<net::tls_options> read_redis_tls(const std::string& section,
                                              net::tls_options defaults = {}) {
  const auto doc = json::parse(R"({"redis_tls": )" + section + "}");
  core::config_section file(doc);
  file.section("redis_tls", [&](core::config_section& s) { net::read_tls_options(s, defaults); });
  if (auto done = file.finish(); !done) return done.err();
  return defaults;
}

}  // namespace

TEST_CASE("read_tls_options: every key is read, and verify_peer can be turned off") {
  auto t = read_redis_tls(R"({"ca_file": "/etc/bcast/ca.crt", "cert_file": "c.pem",
      "key_file": "k.pem", "server_name": "redis.hq.example", "verify_peer": false})");
  REQUIRE_OK(t);
  CHECK(t->ca_file == "/etc/bcast/ca.crt");
  CHECK(t->cert_file == "c.pem");
  CHECK(t->key_file == "k.pem");
  CHECK(t->server_name == "redis.hq.example");
  CHECK_FALSE(t->verify_peer);
}

TEST_CASE("read_tls_options: absent keys keep the caller's defaults") {
  CHECK(read_redis_tls("{}")->verify_peer);
  net::tls_options server;
  server.verify_peer = false;
  auto t = read_redis_tls(R"({"cert_file": "s.pem"})", server);
  REQUIRE_OK(t);
  CHECK_FALSE(t->verify_peer);
  CHECK(t->cert_file == "s.pem");
}

TEST_CASE("read_tls_options: a misspelt key or a wrong type is an error naming its path") {
  auto typo = read_redis_tls(R"({"ca_flie": "/etc/bcast/ca.crt"})");
  REQUIRE_FALSE(typo.ok());
  CHECK(typo.err() == core::errc::invalid_argument);
  CHECK(typo.err().detail().starts_with("redis_tls.ca_flie: unknown key"));

  auto quoted = read_redis_tls(R"({"verify_peer": "false"})");
  REQUIRE_FALSE(quoted.ok());
  CHECK(quoted.err().detail() == "redis_tls.verify_peer: expected true or false");

  auto number = read_redis_tls(R"({"ca_file": 1})");
  REQUIRE_FALSE(number.ok());
  CHECK(number.err().detail() == "redis_tls.ca_file: expected a string");

  auto text = read_redis_tls(R"("/etc/bcast/ca.crt")");
  REQUIRE_FALSE(text.ok());
  CHECK(text.err().detail() == "redis_tls: expected an object");
  // "listen" is only known where the caller reads it (an https listener).
  CHECK_FALSE(read_redis_tls(R"({"listen": "0.0.0.0:8443"})").ok());
}
