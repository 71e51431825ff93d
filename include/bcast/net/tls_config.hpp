#pragma once
// A TLS section of a daemon's config file: both daemons read `redis_tls` this way, and publisherd
// its `https` listeners. A misspelt key or a string where a boolean belongs is an error naming it;
// silently dropping `"verify_peer": false` or `"ca_flie"` would leave a store failing (or
// trusting) for a reason nobody can see.
//   {"ca_file": PATH, "cert_file": PATH, "key_file": PATH, "server_name": NAME,
//    "verify_peer": BOOL}

#include <bcast/core/config_file.hpp>
#include <bcast/net/tls.hpp>

namespace bcast::net {

// Reads the TLS keys of `section` over `out`; keys that are absent keep out's values.
inline void read_tls_options(core::config_section& section, tls_options& out) {
  section.text("ca_file", out.ca_file)
      .text("cert_file", out.cert_file)
      .text("key_file", out.key_file)
      .text("server_name", out.server_name)
      .flag("verify_peer", out.verify_peer);
}

// The object at `key` of `section` ("redis_tls"), read over `out`.
inline void read_tls_section(core::config_section& section, std::string_view key,
                             tls_options& out) {
  section.section(key, [&](core::config_section& tls) { read_tls_options(tls, out); });
}

}  // namespace bcast::net
