#pragma once
// A TLS section of a daemon's JSON config file, checked: both daemons read `redis_tls` this way,
// and publisherd its `https` listeners. A misspelt key or a string where a boolean belongs is an
// error naming it; silently dropping `"verify_peer": false` or `"ca_flie"` would leave a store
// failing (or trusting) for a reason nobody can see.
//   {"ca_file": PATH, "cert_file": PATH, "key_file": PATH, "server_name": NAME,
//    "verify_peer": BOOL}

#include <bcast/core/error.hpp>
#include <bcast/net/tls.hpp>

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <string_view>

namespace bcast::net {

// `section` names the part of the file in errors ("redis_tls", "https[0]"). `also_known` lists
// keys that the caller reads from the same object itself (an https listener's "listen").
inline core::result<tls_options> tls_options_from_json(
    const nlohmann::json& j, std::string_view section, tls_options defaults = {},
    const std::set<std::string>& also_known = {}) {
  const auto bad = [&](const std::string& what) {
    return core::error(core::errc::invalid_argument, std::string(section) + ": " + what);
  };
  if (!j.is_object())
    return bad("expected an object of ca_file, cert_file, key_file, server_name, verify_peer");
  tls_options out = std::move(defaults);
  for (const auto& [key, value] : j.items()) {
    std::string* text = key == "ca_file"       ? &out.ca_file
                        : key == "cert_file"   ? &out.cert_file
                        : key == "key_file"    ? &out.key_file
                        : key == "server_name" ? &out.server_name
                                               : nullptr;
    if (text) {
      if (!value.is_string()) return bad(key + ": expected a string");
      *text = value.get<std::string>();
    } else if (key == "verify_peer") {
      if (!value.is_boolean()) return bad("verify_peer: expected true or false");
      out.verify_peer = value.get<bool>();
    } else if (!also_known.count(key)) {
      return bad("unknown key '" + key + "'");
    }
  }
  return out;
}

}  // namespace bcast::net
