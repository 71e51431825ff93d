#pragma once
// IP addresses and ranges as text: what a config lists ("10.0.0.0/8", "::1") and what a
// connection's peer or an X-Forwarded-For entry says ("127.0.0.1:50312", "[::1]:80", "fd00::7").
// Pure parsing and matching, no I/O.

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bcast::net {

// An IPv4 or IPv6 address. An IPv4-mapped IPv6 address (::ffff:1.2.3.4, what a dual-stack
// listener reports for an IPv4 peer) is the IPv4 address.
class ip_address {
 public:
  // "1.2.3.4", "::1", "[::1]"; nullopt for anything else (names are not resolved).
  static std::optional<ip_address> parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
      text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    char buf[INET6_ADDRSTRLEN];
    text.copy(buf, text.size());
    buf[text.size()] = '\0';
    ip_address a;
    if (::inet_pton(AF_INET, buf, a.bytes_.data() + 12) == 1) {
      a.v4_ = true;
      return a;
    }
    if (::inet_pton(AF_INET6, buf, a.bytes_.data()) != 1) return std::nullopt;
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    a.v4_ = std::equal(a.bytes_.begin(), a.bytes_.begin() + 12, mapped);
    if (a.v4_) std::fill(a.bytes_.begin(), a.bytes_.begin() + 12, std::uint8_t{0});
    return a;
  }

  // The host of a peer address as http::request::peer_address() gives it: "1.2.3.4:80",
  // "[::1]:80", or a bare address.
  static std::optional<ip_address> of_peer(std::string_view peer) {
    if (auto bare = parse(peer)) return bare;
    const auto colon = peer.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const auto host = peer.substr(0, colon);
    if (!host.empty() && host.front() != '[' && host.find(':') != std::string_view::npos)
      return std::nullopt;  // an IPv6 address with a port must be bracketed
    return parse(host);
  }

  bool is_v4() const noexcept { return v4_; }
  unsigned bits() const noexcept { return v4_ ? 32 : 128; }

  // The first `prefix` bits kept, the rest zero.
  ip_address masked(unsigned prefix) const noexcept {
    ip_address out = *this;
    const unsigned offset = v4_ ? 96 : 0;
    for (unsigned bit = offset + prefix; bit < 128; ++bit)
      out.bytes_[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    return out;
  }

  // "1.2.3.4" or "2001:db8::1".
  std::string str() const {
    char buf[INET6_ADDRSTRLEN] = "";
    if (v4_) {
      ::inet_ntop(AF_INET, bytes_.data() + 12, buf, sizeof buf);
    } else {
      ::inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
    }
    return buf;
  }

  friend bool operator==(const ip_address&, const ip_address&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};  // IPv4 in the last four
  bool v4_ = false;
};

// An address, or a CIDR range of them: "10.0.0.5", "10.0.0.0/8", "fd00::/8".
class ip_range {
 public:
  static std::optional<ip_range> parse(std::string_view text) {
    const auto slash = text.find('/');
    auto base = ip_address::parse(text.substr(0, slash));
    if (!base) return std::nullopt;
    unsigned prefix = base->bits();
    if (slash != std::string_view::npos) {
      const auto digits = text.substr(slash + 1);
      if (digits.empty() || digits.size() > 3) return std::nullopt;
      prefix = 0;
      for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        prefix = prefix * 10 + static_cast<unsigned>(c - '0');
      }
      if (prefix > base->bits()) return std::nullopt;
    }
    return ip_range(base->masked(prefix), prefix);
  }

  bool contains(const ip_address& a) const noexcept {
    return a.is_v4() == base_.is_v4() && a.masked(prefix_) == base_;
  }

  std::string str() const { return base_.str() + "/" + std::to_string(prefix_); }
  friend bool operator==(const ip_range&, const ip_range&) = default;

 private:
  ip_range(ip_address base, unsigned prefix) : base_(base), prefix_(prefix) {}
  ip_address base_;
  unsigned prefix_ = 0;
};

}  // namespace bcast::net
