#include <bcast/net/address.hpp>

#include <catch2/catch.hpp>

using bcast::net::ip_address;
using bcast::net::ip_range;

TEST_CASE("IP addresses from config text and from peer addresses", "[net][address]") {
  CHECK(ip_address::parse("192.0.2.7")->str() == "192.0.2.7");
  CHECK(ip_address::parse("192.0.2.7")->is_v4());
  CHECK(ip_address::parse("2001:DB8::1")->str() == "2001:db8::1");
  CHECK(ip_address::parse("[::1]")->str() == "::1");
  // What a dual-stack listener reports for an IPv4 peer is that IPv4 address.
  CHECK(ip_address::parse("::ffff:192.0.2.7") == ip_address::parse("192.0.2.7"));
  for (const char* bad :
       {"", "localhost", "192.0.2", "192.0.2.256", "1.2.3.4 ", "::1/64", "[::1", "1.2.3.4:80"})
    CHECK_FALSE(ip_address::parse(bad));

  CHECK(ip_address::of_peer("127.0.0.1:50312")->str() == "127.0.0.1");
  CHECK(ip_address::of_peer("[::1]:80")->str() == "::1");
  CHECK(ip_address::of_peer("::1")->str() == "::1");
  CHECK(ip_address::of_peer("10.1.2.3")->str() == "10.1.2.3");
  CHECK_FALSE(ip_address::of_peer("unix"));
  CHECK_FALSE(ip_address::of_peer("2001:db8::1:80:99x"));
  CHECK_FALSE(ip_address::of_peer("example.com:80"));
}

TEST_CASE("IP ranges: a single address or CIDR, of one family", "[net][address]") {
  auto ten = ip_range::parse("10.0.0.0/8");
  REQUIRE(ten);
  CHECK(ten->contains(*ip_address::parse("10.255.1.2")));
  CHECK_FALSE(ten->contains(*ip_address::parse("11.0.0.1")));
  CHECK_FALSE(ten->contains(*ip_address::parse("::ffff:11.0.0.1")));
  CHECK(ten->contains(*ip_address::parse("::ffff:10.0.0.1")));
  CHECK_FALSE(ten->contains(*ip_address::parse("::a00:1")));    // IPv6, not 10.0.0.1
  CHECK(ip_range::parse("10.1.2.3/8")->str() == "10.0.0.0/8");  // host bits are dropped

  auto one = ip_range::parse("192.0.2.7");
  REQUIRE(one);
  CHECK(one->str() == "192.0.2.7/32");
  CHECK(one->contains(*ip_address::parse("192.0.2.7")));
  CHECK_FALSE(one->contains(*ip_address::parse("192.0.2.8")));

  auto v6 = ip_range::parse("fd00::/8");
  REQUIRE(v6);
  CHECK(v6->contains(*ip_address::parse("fd12:3456::1")));
  CHECK_FALSE(v6->contains(*ip_address::parse("fe80::1")));
  CHECK(ip_range::parse("::/0")->contains(*ip_address::parse("2001:db8::1")));
  CHECK(ip_range::parse("0.0.0.0/0")->contains(*ip_address::parse("198.51.100.1")));

  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/-1", "10/8",
                          "fd00::/0008", "host/8"})
    CHECK_FALSE(ip_range::parse(bad));
}
