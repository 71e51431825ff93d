#include <bcast/net/tls_config.hpp>

#include <catch2/catch.hpp>

using namespace bcast;
using nlohmann::json;

TEST_CASE("tls_options_from_json: every key is read, and verify_peer can be turned off") {
  auto t = net::tls_options_from_json(
      json::parse(R"({"ca_file": "/etc/bcast/ca.crt", "cert_file": "c.pem",
      "key_file": "k.pem", "server_name": "redis.hq.example", "verify_peer": false})"),
      "redis_tls");
  REQUIRE(t.ok());
  CHECK(t->ca_file == "/etc/bcast/ca.crt");
  CHECK(t->cert_file == "c.pem");
  CHECK(t->key_file == "k.pem");
  CHECK(t->server_name == "redis.hq.example");
  CHECK_FALSE(t->verify_peer);
}

TEST_CASE("tls_options_from_json: absent keys keep the caller's defaults") {
  CHECK(net::tls_options_from_json(json::object(), "redis_tls")->verify_peer);
  net::tls_options server;
  server.verify_peer = false;
  auto t =
      net::tls_options_from_json(json::parse(R"({"listen": "0.0.0.0:8443", "cert_file": "s.pem"})"),
                                 "https", server, {"listen"});
  REQUIRE(t.ok());
  CHECK_FALSE(t->verify_peer);
  CHECK(t->cert_file == "s.pem");
}

TEST_CASE("tls_options_from_json: a misspelt key or a wrong type is an error naming it") {
  auto typo =
      net::tls_options_from_json(json::parse(R"({"ca_flie": "/etc/bcast/ca.crt"})"), "redis_tls");
  REQUIRE_FALSE(typo.ok());
  CHECK(typo.err() == core::errc::invalid_argument);
  CHECK(typo.err().detail() == "redis_tls: unknown key 'ca_flie'");

  auto quoted = net::tls_options_from_json(json::parse(R"({"verify_peer": "false"})"), "redis_tls");
  REQUIRE_FALSE(quoted.ok());
  CHECK(quoted.err().detail() == "redis_tls: verify_peer: expected true or false");

  auto number = net::tls_options_from_json(json::parse(R"({"ca_file": 1})"), "redis_tls");
  REQUIRE_FALSE(number.ok());
  CHECK(number.err().detail() == "redis_tls: ca_file: expected a string");

  CHECK_FALSE(net::tls_options_from_json(json::parse(R"("/etc/bcast/ca.crt")"), "redis_tls").ok());
  // "listen" is only known where the caller reads it.
  CHECK_FALSE(
      net::tls_options_from_json(json::parse(R"({"listen": "0.0.0.0:8443"})"), "redis_tls").ok());
}
