// End-to-end: head office and a store reach Redis only over TLS (rediss://, the `redis_tls`
// config section), as stores do across a WAN; a store that does not trust the server's
// certificate says why and shows nothing.

#include "publisherd_fixture.hpp"

#include <filesystem>
#include <fstream>
#include <thread>

using namespace bcast;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string write_json(const test::temp_dir& dir, const std::string& name, const json& doc) {
  auto path = dir.file(name);
  std::ofstream(path) << doc.dump(2);
  return path;
}

}  // namespace

TEST_CASE(
    "redis_tls: publisherd and subscriberd deliver over a TLS-only Redis; an untrusted server is "
    "refused") {
  test::temp_dir dir;
  test::temp_dir certdir;
  auto certs = test::test_certificates::make(certdir);
  test::temp_dir otherdir;
  auto other = test::test_certificates::make(otherdir);  // a CA that did not sign the server
  const auto tls_port = std::to_string(test::free_port());
  // --port 0: no plaintext listener, so nothing can pass without TLS.
  test::redis_server redis({"--port", "0", "--tls-port", tls_port, "--tls-cert-file",
                            certs.server_cert, "--tls-key-file", certs.server_key,
                            "--tls-ca-cert-file", certs.ca_cert, "--tls-auth-clients", "no"});
  const std::string url = "rediss://localhost:" + tls_port;

  const auto users = dir.file("users.json");
  REQUIRE(test::run_bcastctl("user add --users " + users + " admin --role admin --password-stdin",
                             "s3cret\n") == 0);
  const auto socket = dir.file("publisherd.sock");
  // The stores trust hq_key.public_key.
  const auto hq_key = test::make_key_pair(dir.file("keys"));
  const auto hq_config = write_json(dir, "publisherd.json",
                                    {{"redis", url},
                                     {"redis_tls", {{"ca_file", certs.ca_cert}}},
                                     {"signing_key", hq_key.private_key}});
  test::daemon_process hq(
      test::build_path("daemons/publisherd/publisherd"),
      {"--config", hq_config, "--http", "127.0.0.1:" + std::to_string(test::free_port()), "--users",
       users, "--unix-socket", socket});
  REQUIRE(hq.wait_for_log("connected to Redis"));

  auto store_config = [&](const std::string& id, const std::string& ca) {
    std::filesystem::create_directories(dir.file(id));
    return write_json(dir, id + ".json",
                      {{"redis", url},
                       {"redis_tls", {{"ca_file", ca}}},
                       {"store", id},
                       {"state_dir", dir.file(id + "/state")},
                       {"sinks", {"jsonl:" + dir.file(id + "/shown.jsonl")}},
                       {"trusted_keys", {hq_key.public_key}}});
  };
  test::daemon_process store(test::build_path("daemons/subscriberd/subscriberd"),
                             {"--config", store_config("s1", certs.ca_cert)});
  REQUIRE(store.wait_for_log("is live on"));
  test::daemon_process stranger(test::build_path("daemons/subscriberd/subscriberd"),
                                {"--config", store_config("s2", other.ca_cert)});
  if (!stranger.wait_for_log("certificate verification failed")) FAIL(stranger.log());

  json body{{"targets", {"all"}},
            {"category", "announcement"},
            {"title", "Lewat TLS"},
            {"body", "Isi pesan"}};
  auto sent = test::http_call(0, "POST", "/api/v1/messages", body.dump(), {}, socket);
  REQUIRE(sent.status == 201);
  const std::string id = json::parse(sent.body)["id"];

  auto shown_by = [&](const std::string& store_id) {
    std::ifstream in(dir.file(store_id + "/shown.jsonl"));
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!test::contains(shown_by("s1"), id) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(test::contains(shown_by("s1"), "\"title\":\"Lewat TLS\""));
  CHECK(shown_by("s2").empty());
  CHECK_FALSE(stranger.wait_for_log("is live on", 200ms));
}

TEST_CASE("redis_tls: a misspelt key or a quoted boolean stops either daemon at start, naming it") {
  test::temp_dir dir;
  std::string said;
  const auto typo =
      write_json(dir, "typo.json", {{"redis_tls", {{"ca_flie", "/etc/bcast/ca.crt"}}}});
  CHECK(test::shell_status("'" + test::build_path("daemons/subscriberd/subscriberd") +
                               "' --config '" + typo +
                               "' --store s1 --state-dir /tmp/x --check-config 2>&1",
                           &said) == 2);
  CHECK(test::contains(said, "redis_tls.ca_flie: unknown key"));

  const auto quoted = write_json(dir, "quoted.json", {{"redis_tls", {{"verify_peer", "false"}}}});
  CHECK(test::shell_status("'" + test::build_path("daemons/publisherd/publisherd") +
                               "' --config '" + quoted + "' --check-config 2>&1",
                           &said) == 2);
  CHECK(test::contains(said, "redis_tls.verify_peer: expected true or false"));

  const auto https = write_json(dir, "https.json",
                                {{"https", {{{"listen", "127.0.0.1:8443"}, {"cert", "s.pem"}}}}});
  CHECK(test::shell_status("'" + test::build_path("daemons/publisherd/publisherd") +
                               "' --config '" + https + "' --check-config 2>&1",
                           &said) == 2);
  CHECK(test::contains(said, "https[0].cert: unknown key"));
}

namespace {

// A plain redis:// URL to a host that is not this machine (TEST-NET-1, RFC 5737: nothing answers).
const std::string remote_plaintext = "redis://192.0.2.10:6379";

}  // namespace

TEST_CASE(
    "transport policy: both daemons refuse plain redis:// to a host that is not loopback, at start "
    "and in --check-config, unless allow_plaintext_redis; then they start and log a warning") {
  test::temp_dir dir;
  const auto key = test::make_key_pair(dir.file("keys"));
  const auto publisherd = "'" + test::build_path("daemons/publisherd/publisherd") + "'";
  const auto subscriberd = "'" + test::build_path("daemons/subscriberd/subscriberd") + "'";
  const auto http = "127.0.0.1:" + std::to_string(test::free_port());
  const auto hq_args = " --signing-key " + key.private_key + " --http " + http;
  const auto store_args = " --store s1 --sink terminal --state-dir " + dir.file("s1") +
                          " --trusted-key " + key.public_key;
  const auto allowing = write_json(dir, "allowing.json",
                                   {{"redis", remote_plaintext}, {"allow_plaintext_redis", true}});
  std::string said;
  for (const auto& daemon_args : {publisherd + hq_args, subscriberd + store_args}) {
    INFO(daemon_args);
    for (const auto& mode : {std::string(), std::string(" --check-config")}) {
      INFO(mode);
      CHECK(test::shell_status(daemon_args + mode + " --redis " + remote_plaintext, &said) == 2);
      CHECK(test::contains(said, "Redis at " + remote_plaintext +
                                     " would be reached in plain text over the network"));
      CHECK(test::contains(said, "use rediss://"));
      CHECK(test::contains(said, "\"allow_plaintext_redis\": true"));
    }
    // Loopback, TLS and Unix sockets are fine without it.
    for (const auto& url : {"redis://localhost:6379", "redis://127.0.0.2:6379",
                            "rediss://192.0.2.10:6380", "unix:///run/redis/redis.sock"}) {
      INFO(url);
      CHECK(test::shell_status(daemon_args + " --check-config --redis " + url, &said) == 0);
    }
    CHECK(test::shell_status(daemon_args + " --check-config --config " + allowing, &said) == 0);
    CHECK(test::contains(said, "configuration OK"));
  }

  // Allowed: each starts, with a warning naming the risk (Redis itself is not reachable).
  const auto warning = "allow_plaintext_redis: Redis at " + remote_plaintext +
                       " is reached in plain text over the network";
  test::daemon_process hq(test::build_path("daemons/publisherd/publisherd"),
                          {"--config", allowing, "--signing-key", key.private_key, "--http", http});
  CHECK(hq.wait_for_log(warning));
  CHECK(hq.wait_for_log("listening on http://"));
  test::daemon_process store(test::build_path("daemons/subscriberd/subscriberd"),
                             {"--config", allowing, "--store", "s1", "--sink", "terminal",
                              "--state-dir", dir.file("s1"), "--trusted-key", key.public_key});
  CHECK(store.wait_for_log(warning));
  // Both keep running while Redis cannot be reached, and stop cleanly.
  CHECK(hq.wait_for_log("Redis unreachable"));
  CHECK(store.wait_for_log("broker unreachable"));
  hq.signal(SIGTERM);
  store.signal(SIGTERM);
  CHECK(hq.wait_exit() == 0);
  CHECK(store.wait_exit() == 0);
}
