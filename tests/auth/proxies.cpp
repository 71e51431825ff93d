#include <bcast/auth/proxies.hpp>

#include <catch2/catch.hpp>

#include <string_view>
#include <vector>

using namespace bcast::auth;

namespace {

trusted_proxies trusting(std::vector<std::string> entries) {
  auto p = trusted_proxies::parse(entries);
  REQUIRE(p);
  return p.value();
}

}  // namespace

TEST_CASE("trusted_proxies: addresses and CIDR ranges; anything else is refused by name",
          "[auth][proxies]") {
  auto p = trusting({"127.0.0.1", "10.0.0.0/8", "fd00::/8"});
  CHECK(p.trusts(*bcast::net::ip_address::parse("10.9.8.7")));
  CHECK(p.trusts(*bcast::net::ip_address::parse("fd00::1")));
  CHECK_FALSE(p.trusts(*bcast::net::ip_address::parse("127.0.0.2")));
  auto bad = trusted_proxies::parse({"10.0.0.1", "proxy.example"});
  REQUIRE_FALSE(bad);
  CHECK(bad.err().detail() == R"("proxy.example" is not an IP address or a CIDR range)");
  CHECK(trusting({}).empty());
}

TEST_CASE("the client behind trusted proxies, and only behind them", "[auth][proxies]") {
  const auto proxies = trusting({"10.0.0.0/8"});
  using list = std::vector<std::string_view>;

  SECTION("no proxies configured: the peer, whatever the headers say") {
    auto o = origin_of("198.51.100.7:4000", list{"203.0.113.1"}, true, trusting({}));
    CHECK(o.address == "198.51.100.7");
    CHECK_FALSE(o.via_trusted_proxy);
    CHECK_FALSE(o.forwarded_https);
  }
  SECTION("an untrusted peer: its headers are ignored") {
    auto o = origin_of("198.51.100.7:4000", list{"10.0.0.1"}, true, proxies);
    CHECK(o.address == "198.51.100.7");
    CHECK_FALSE(o.forwarded_https);
  }
  SECTION("a trusted proxy: the rightmost entry it did not write itself is the client") {
    // The client claimed 1.1.1.1 itself; the proxy appended what it saw.
    auto o = origin_of("10.0.0.2:4000", list{"1.1.1.1", "198.51.100.7"}, true, proxies);
    CHECK(o.address == "198.51.100.7");
    CHECK(o.via_trusted_proxy);
    CHECK(o.forwarded_https);
  }
  SECTION("a chain of trusted proxies is walked through") {
    auto o =
        origin_of("10.0.0.2:4000", list{"1.1.1.1", "198.51.100.7", "10.0.0.9"}, false, proxies);
    CHECK(o.address == "198.51.100.7");
    CHECK_FALSE(o.forwarded_https);
  }
  SECTION("entries with ports, IPv6 in brackets") {
    CHECK(origin_of("10.0.0.2:1", list{"198.51.100.7:5555"}, false, proxies).address ==
          "198.51.100.7");
    CHECK(origin_of("10.0.0.2:1", list{"[2001:db8::7]:5555"}, false, proxies).address ==
          "2001:db8::7");
  }
  SECTION("no header, or one that is no address: the proxy itself") {
    CHECK(origin_of("10.0.0.2:1", list{}, false, proxies).address == "10.0.0.2");
    CHECK(origin_of("10.0.0.2:1", list{"198.51.100.7", "unknown"}, false, proxies).address ==
          "10.0.0.2");
    // Every entry trusted: the leftmost.
    CHECK(origin_of("10.0.0.2:1", list{"10.0.0.3"}, false, proxies).address == "10.0.0.3");
  }
  SECTION("a Unix-socket peer") {
    auto o = origin_of("unix", list{"198.51.100.7"}, true, proxies);
    CHECK(o.address == "unix");
    CHECK_FALSE(o.via_trusted_proxy);
  }
}
