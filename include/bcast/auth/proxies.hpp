#pragma once
// Where a request comes from when it passed through reverse proxies. Only the proxies the config
// lists ("trusted_proxies") are believed: their X-Forwarded-For names the client, and their
// X-Forwarded-Proto says whether the browser spoke HTTPS to them. Anyone else's forwarding
// headers are ignored, so a client cannot pick the address its logins are throttled under.

#include <bcast/core/error.hpp>
#include <bcast/core/text.hpp>
#include <bcast/net/address.hpp>

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::auth {

class trusted_proxies {
 public:
  trusted_proxies() = default;
  explicit trusted_proxies(std::vector<net::ip_range> ranges) : ranges_(std::move(ranges)) {}

  // Addresses or CIDR ranges: "127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8".
  static core::result<trusted_proxies> parse(const std::vector<std::string>& entries) {
    std::vector<net::ip_range> ranges;
    for (const auto& e : entries) {
      auto r = net::ip_range::parse(e);
      if (!r)
        return core::error(core::errc::invalid_argument,
                           core::quoted(e) + " is not an IP address or a CIDR range");
      ranges.push_back(*r);
    }
    return trusted_proxies(std::move(ranges));
  }

  bool empty() const noexcept { return ranges_.empty(); }
  const std::vector<net::ip_range>& ranges() const noexcept { return ranges_; }

  bool trusts(const net::ip_address& a) const noexcept {
    for (const auto& r : ranges_)
      if (r.contains(a)) return true;
    return false;
  }

  friend bool operator==(const trusted_proxies&, const trusted_proxies&) = default;

 private:
  std::vector<net::ip_range> ranges_;
};

struct origin {
  // The client's IP address ("192.0.2.7"), or the peer as the connection names it when that is no
  // IP address ("unix").
  std::string address;
  bool via_trusted_proxy = false;  // the peer is a trusted proxy, whose headers were read
  bool forwarded_https = false;    // ...and its X-Forwarded-Proto says https
};

// `peer` is the connection's peer ("10.0.0.2:41234"); `forwarded_for` the X-Forwarded-For
// entries as sent, left to right; `forwarded_https` whether X-Forwarded-Proto says https. Each
// proxy appends the address it saw to X-Forwarded-For, so the entries are read from the right:
// while they name trusted proxies the next one to the left is believed, and the first one that
// names no trusted proxy is the client. An entry that is no IP address ends the walk at the proxy
// that wrote it.
inline origin origin_of(std::string_view peer, std::span<const std::string_view> forwarded_for,
                        bool forwarded_https, const trusted_proxies& proxies) {
  const auto peer_ip = net::ip_address::of_peer(peer);
  if (!peer_ip) return {std::string(peer), false, false};
  origin out{peer_ip->str(), false, false};
  if (proxies.empty() || !proxies.trusts(*peer_ip)) return out;
  out.via_trusted_proxy = true;
  out.forwarded_https = forwarded_https;
  for (auto entry = forwarded_for.rbegin(); entry != forwarded_for.rend(); ++entry) {
    const auto hop = net::ip_address::of_peer(*entry);
    if (!hop) break;
    out.address = hop->str();
    if (!proxies.trusts(*hop)) break;
  }
  return out;
}

}  // namespace bcast::auth
