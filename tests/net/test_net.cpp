#include <bcast/net/connect.hpp>
#include <bcast/net/listener.hpp>
#include <bcast/net/stream.hpp>
#include <bcast/net/tls.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

// A server that echoes everything back; keeps its streams alive.
struct echo_server {
  std::vector<std::shared_ptr<net::stream>> clients;
  net::listener::accept_handler handler() {
    return [this](std::shared_ptr<net::stream> s) {
      net::stream* raw = s.get();
      s->on_data([raw](std::string_view d) { (void)raw->write(d); });
      s->start_reading();
      clients.push_back(std::move(s));
    };
  }
  void close_all() {
    for (auto& c : clients) c->abort();
  }
};

struct echo_result {
  std::shared_ptr<net::stream> stream;
  std::string received;
  std::optional<core::error> failure;
};

void connect_and_send(core::loop& l, net::endpoint ep, net::connect_options o, std::string payload, echo_result& out) {
  net::connect(l, std::move(ep), std::move(o), [&out, payload](core::result<std::shared_ptr<net::stream>> r) {
    if (!r) {
      out.failure = r.err();
      return;
    }
    out.stream = r.value();
    out.stream->on_data([&out](std::string_view d) { out.received.append(d); });
    out.stream->start_reading();
    (void)out.stream->write(payload);
  });
}

}  // namespace

TEST_CASE("TCP: connect, echo, and a clean close reported to both sides") {
  core::loop l;
  echo_server server;
  auto lis = net::listener::listen_tcp(l, "127.0.0.1", 0, server.handler());
  REQUIRE_OK(lis);
  REQUIRE(lis.value()->port() != 0);
  echo_result r;
  connect_and_send(l, {"127.0.0.1", lis.value()->port(), {}}, {}, "hello over tcp", r);
  REQUIRE(test::run_until(l, [&] { return r.received == "hello over tcp" || r.failure; }));
  CHECK(r.stream->peer_address().rfind("127.0.0.1:", 0) == 0);
  bool closed = false;
  r.stream->on_close([&](const core::error& e) { closed = !e; });
  r.stream->close();
  REQUIRE(test::run_until(l, [&] { return closed; }));
  server.close_all();
  lis.value()->close();
  l.run();
}

TEST_CASE("many writes in one loop iteration arrive whole and in order") {
  core::loop l;
  echo_server server;
  auto lis = net::listener::listen_tcp(l, "127.0.0.1", 0, server.handler());
  REQUIRE_OK(lis);
  echo_result r;
  std::string expected;
  net::connect(l, {"127.0.0.1", lis.value()->port(), {}}, {}, [&](core::result<std::shared_ptr<net::stream>> s) {
    REQUIRE_OK(s);
    r.stream = s.value();
    r.stream->on_data([&](std::string_view d) { r.received.append(d); });
    r.stream->start_reading();
    for (int i = 0; i < 20000; ++i) {
      std::string piece = std::to_string(i) + ",";
      expected += piece;
      REQUIRE_FALSE(r.stream->write(piece));
    }
  });
  REQUIRE(test::run_until(l, [&] { return !expected.empty() && r.received.size() >= expected.size(); }));
  CHECK(r.received == expected);
  r.stream->abort();
  server.close_all();
  lis.value()->close();
  l.run();
}

TEST_CASE("Unix socket: echo, and the peer's credentials are the caller's") {
  core::loop l;
  test::temp_dir dir;
  std::optional<net::peer_credentials> seen;
  std::vector<std::shared_ptr<net::stream>> clients;
  auto lis = net::listener::listen_unix(l, dir.file("s.sock"), [&](std::shared_ptr<net::stream> s) {
    seen = s->credentials();
    net::stream* raw = s.get();
    s->on_data([raw](std::string_view d) { (void)raw->write(d); });
    s->start_reading();
    clients.push_back(s);
  });
  REQUIRE_OK(lis);
  echo_result r;
  connect_and_send(l, {{}, 0, dir.file("s.sock")}, {}, "over unix", r);
  REQUIRE(test::run_until(l, [&] { return r.received == "over unix" || r.failure; }));
  REQUIRE(seen);
  CHECK(seen->uid == ::getuid());
  CHECK(seen->gid == ::getgid());
  CHECK(seen->pid == ::getpid());
  r.stream->abort();
  for (auto& c : clients) c->abort();
  lis.value()->close();
  l.run();
}

TEST_CASE("Unix socket: its file never allows more than the mode asked for, not even at bind") {
  core::loop l;
  test::temp_dir dir;
  auto mode_of = [](const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
  };
  // With no umask at all, a socket bound the usual way would appear as 0777 until a chmod.
  const mode_t saved = ::umask(0);
  auto fd = net::listener::bind_unix_socket(dir.file("bound.sock"), 0600);
  ::umask(saved);
  REQUIRE_OK(fd);
  CHECK(mode_of(dir.file("bound.sock")) == 0600);
  ::close(*fd);
  // A umask that takes more than the mode: the listener puts the mode's bits back after bind.
  ::umask(077);
  auto lis = net::listener::listen_unix(
      l, dir.file("listening.sock"), [](std::shared_ptr<net::stream> s) { s->abort(); }, 0660);
  ::umask(saved);
  REQUIRE_OK(lis);
  CHECK(mode_of(dir.file("listening.sock")) == 0660);
  // A path that is not a stale socket is not replaced.
  std::ofstream(dir.file("plain")) << "x";
  CHECK_FALSE(net::listener::listen_unix(l, dir.file("plain"), {}).ok());
  lis.value()->close();
  l.run();
  CHECK_FALSE(std::filesystem::exists(dir.file("listening.sock")));
}

TEST_CASE("writes past the queued-bytes bound are refused, not buffered without limit") {
  core::loop l;
  std::vector<std::shared_ptr<net::stream>> accepted;
  // A peer that never reads: the client's queue can only grow.
  auto lis = net::listener::listen_tcp(l, "127.0.0.1", 0, [&](std::shared_ptr<net::stream> s) { accepted.push_back(s); });
  REQUIRE_OK(lis);
  net::connect_options o;
  o.limits.max_queued_write_bytes = 1024 * 1024;
  std::shared_ptr<net::stream> client;
  net::connect(l, {"127.0.0.1", lis.value()->port(), {}}, o, [&](core::result<std::shared_ptr<net::stream>> s) { client = s.value(); });
  REQUIRE(test::run_until(l, [&] { return client && !accepted.empty(); }));
  std::string chunk(64 * 1024, 'x');
  std::error_code refused;
  for (int i = 0; i < 10000 && !refused; ++i) {
    refused = client->write(chunk);
    if (i % 16 == 0) uv_run(l.uv(), UV_RUN_NOWAIT);  // let the kernel take what it can
  }
  CHECK(refused == core::errc::backpressure);
  CHECK(client->queued_bytes() <= o.limits.max_queued_write_bytes);
  client->abort();
  for (auto& a : accepted) a->abort();
  lis.value()->close();
  l.run();
}

TEST_CASE("connecting to a closed port fails with a clear error") {
  core::loop l;
  echo_result r;
  connect_and_send(l, {"127.0.0.1", test::free_port(), {}}, {}, "x", r);
  REQUIRE(test::run_until(l, [&] { return r.failure.has_value(); }));
  CHECK(r.failure->message().find("connection refused") != std::string::npos);
}

TEST_CASE("a name that does not resolve fails with a clear error") {
  core::loop l;
  echo_result r;
  connect_and_send(l, {"no-such-host.invalid", 80, {}}, {}, "x", r);
  REQUIRE(test::run_until(l, [&] { return r.failure.has_value(); }));
  CHECK(r.failure->message().find("no-such-host.invalid") != std::string::npos);
}

TEST_CASE("connect gives up after its timeout") {
  core::loop l;
  // A listener with a full backlog is not available everywhere; a TLS server that never answers
  // the handshake is: the TCP connect succeeds, the handshake never completes.
  std::vector<std::shared_ptr<net::stream>> silent;
  auto lis = net::listener::listen_tcp(l, "127.0.0.1", 0, [&](std::shared_ptr<net::stream> s) { silent.push_back(s); });
  REQUIRE_OK(lis);
  auto ctx = net::tls_context::create(net::tls_role::client, {});
  REQUIRE_OK(ctx);
  net::connect_options o;
  o.timeout = 200ms;
  o.tls = ctx.value();
  echo_result r;
  auto started = std::chrono::steady_clock::now();
  connect_and_send(l, {"127.0.0.1", lis.value()->port(), {}}, o, "x", r);
  REQUIRE(test::run_until(l, [&] { return r.failure.has_value(); }));
  CHECK(*r.failure == core::errc::timeout);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  for (auto& s : silent) s->abort();
  lis.value()->close();
  l.run();
}

TEST_CASE("TLS: verified echo, hostname mismatch refused, client certificate required") {
  core::loop l;
  test::temp_dir dir;
  auto certs = test::test_certificates::make(dir);

  const net::tls_options server_opts = certs.server_tls();
  auto server_ctx = net::tls_context::create(net::tls_role::server, server_opts);
  REQUIRE_OK(server_ctx);
  echo_server server;
  auto lis = net::listener::listen_tcp(l, "127.0.0.1", 0, server.handler(), server_ctx.value());
  REQUIRE_OK(lis);
  net::endpoint ep{"127.0.0.1", lis.value()->port(), {}};

  const net::tls_options client_opts = certs.client_tls();
  auto client_ctx = net::tls_context::create(net::tls_role::client, client_opts);
  REQUIRE_OK(client_ctx);

  SECTION("the certificate matches the name") {
    net::connect_options o;
    o.tls = client_ctx.value();
    o.tls_server_name = "localhost";
    echo_result r;
    connect_and_send(l, ep, o, "secret hello", r);
    REQUIRE(test::run_until(l, [&] { return r.received == "secret hello" || r.failure; }));
    INFO((r.failure ? r.failure->message() : std::string()));
    REQUIRE_FALSE(r.failure);
    CHECK(r.stream->is_tls());
    r.stream->abort();
  }
  SECTION("the certificate does not match the name") {
    net::connect_options o;
    o.tls = client_ctx.value();
    o.tls_server_name = "redis.example.com";
    echo_result r;
    connect_and_send(l, ep, o, "x", r);
    REQUIRE(test::run_until(l, [&] { return r.failure.has_value(); }));
    INFO(r.failure->message());
    CHECK(*r.failure == core::errc::tls_error);
    CHECK(r.failure->message().find("hostname mismatch") != std::string::npos);
  }
  SECTION("an untrusted CA is refused") {
    net::connect_options o;
    auto untrusting = net::tls_context::create(net::tls_role::client, net::tls_options{dir.file("server.crt"), {}, {}, true, {}});
    REQUIRE_OK(untrusting);
    o.tls = untrusting.value();
    o.tls_server_name = "localhost";
    echo_result r;
    connect_and_send(l, ep, o, "x", r);
    REQUIRE(test::run_until(l, [&] { return r.failure.has_value(); }));
    CHECK(*r.failure == core::errc::tls_error);
  }
  server.close_all();
  lis.value()->close();
  l.run();

  SECTION("a server that requires client certificates") {
    core::loop l2;
    net::tls_options mtls = server_opts;
    mtls.ca_file = certs.ca_cert;
    mtls.verify_peer = true;
    auto mtls_ctx = net::tls_context::create(net::tls_role::server, mtls);
    REQUIRE_OK(mtls_ctx);
    echo_server s2;
    auto lis2 = net::listener::listen_tcp(l2, "127.0.0.1", 0, s2.handler(), mtls_ctx.value());
    REQUIRE_OK(lis2);
    net::tls_options with_cert = client_opts;
    with_cert.cert_file = certs.client_cert;
    with_cert.key_file = certs.client_key;
    auto ok_ctx = net::tls_context::create(net::tls_role::client, with_cert);
    REQUIRE_OK(ok_ctx);
    echo_result good;
    connect_and_send(l2, {"127.0.0.1", lis2.value()->port(), {}}, net::connect_options{5s, ok_ctx.value(), "localhost", {}}, "mtls", good);
    REQUIRE(test::run_until(l2, [&] { return good.received == "mtls" || good.failure; }));
    good.stream->abort();

    echo_result bad;
    connect_and_send(l2, {"127.0.0.1", lis2.value()->port(), {}}, net::connect_options{5s, client_ctx.value(), "localhost", {}}, "nocert", bad);
    // TLS 1.3 completes the client side before the server checks; the server then drops the peer.
    REQUIRE(test::run_until(l2, [&] { return bad.failure || (bad.stream && !bad.stream->is_open()); }));
    CHECK(bad.received.empty());
    if (bad.stream) bad.stream->abort();
    s2.close_all();
    lis2.value()->close();
    l2.run();
  }
}

TEST_CASE("a peer that half-closes still gets the answer when the owner handles EOF") {
  core::loop l;
  std::vector<std::shared_ptr<net::stream>> accepted;
  auto lis = net::listener::listen_tcp(l, "127.0.0.1", 0, [&](std::shared_ptr<net::stream> s) {
    net::stream* raw = s.get();
    auto got = std::make_shared<std::string>();
    s->on_data([got](std::string_view d) { got->append(d); });
    s->on_eof([raw, got] {
      (void)raw->write("answer to " + *got);
      raw->close();
    });
    s->start_reading();
    accepted.push_back(s);
  });
  REQUIRE_OK(lis);
  std::shared_ptr<net::stream> client;
  std::string received;
  bool closed = false;
  net::connect(l, {"127.0.0.1", lis.value()->port(), {}}, {}, [&](core::result<std::shared_ptr<net::stream>> r) {
    client = r.value();
    client->on_data([&](std::string_view d) { received.append(d); });
    client->on_close([&](const core::error&) { closed = true; });
    client->start_reading();
    (void)client->write("question");
    l.at_end_of_tick([&] { ::shutdown(client->fd(), SHUT_WR); });
  });
  REQUIRE(test::run_until(l, [&] { return closed; }));
  CHECK(received == "answer to question");
  lis.value()->close();
  l.run();
}

TEST_CASE("TLS 1.2 offers only forward-secret AEAD suites, as server and as client") {
  core::loop l;
  test::temp_dir dir;
  auto certs = test::test_certificates::make(dir);
  // A peer made to speak TLS 1.2 with the given suites only.
  auto tls12_with = [](std::shared_ptr<net::tls_context> ctx, const char* ciphers) {
    REQUIRE(SSL_CTX_set_max_proto_version(ctx->native(), TLS1_2_VERSION) == 1);
    REQUIRE(SSL_CTX_set_cipher_list(ctx->native(), ciphers) == 1);
    return ctx;
  };
  auto handshake = [&](std::shared_ptr<net::tls_context> server,
                       std::shared_ptr<net::tls_context> client) {
    echo_server echo;
    auto lis = net::listener::listen_tcp(l, "127.0.0.1", 0, echo.handler(), server);
    REQUIRE_OK(lis);
    echo_result r;
    connect_and_send(l, {"127.0.0.1", lis.value()->port(), {}},
                     net::connect_options{5s, client, "localhost", {}}, "hi", r);
    REQUIRE(test::run_until(l, [&] { return r.received == "hi" || r.failure; }));
    if (r.stream) r.stream->abort();
    echo.close_all();
    lis.value()->close();
    l.run();
    return !r.failure.has_value();
  };
  auto ours = [&](net::tls_role role) {
    return test::value_or_throw(net::tls_context::create(
        role, role == net::tls_role::server ? certs.server_tls() : certs.client_tls()));
  };
  const char* cbc = "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:AES128-SHA:AES256-SHA256";
  CHECK_FALSE(handshake(ours(net::tls_role::server), tls12_with(ours(net::tls_role::client), cbc)));
  CHECK_FALSE(handshake(tls12_with(ours(net::tls_role::server), cbc), ours(net::tls_role::client)));
  // The AEAD suites still meet, in TLS 1.2 too.
  CHECK(handshake(ours(net::tls_role::server),
                  tls12_with(ours(net::tls_role::client), "ECDHE-RSA-AES128-GCM-SHA256")));
  CHECK(handshake(tls12_with(ours(net::tls_role::server), "ECDHE-RSA-CHACHA20-POLY1305"),
                  ours(net::tls_role::client)));
}
