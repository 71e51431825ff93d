#pragma once
// The users file and the operations bcastctl and publisherd need on it.
//
//   {"users":[{"name":"admin","role":"admin","password":"$pbkdf2-sha256$i=600000,l=32$...$...",
//              "targets":["*"],"tokens":["sha256:<64 hex>"]}]}
//
// name     required, [a-z0-9][a-z0-9_.-]{0,63}, unique
// role     required, "admin" or "publisher"
// password optional PHC string (pbkdf2-sha256 or scrypt); absent = no password login
// targets  optional target patterns, default ["*"]; [] allows nothing
// tokens   optional SHA-256 hashes of bearer tokens, unique across all users
// Unknown and duplicate keys are errors: a misspelt "targets" must not silently mean "*".
// Comments (// and /* */) are accepted when loading; saving writes plain JSON without them.
//
// Loading returns a result and never throws, so that a SIGHUP reload can refuse a bad file and
// keep the old store.

#include <bcast/auth/crypto.hpp>
#include <bcast/auth/password.hpp>
#include <bcast/auth/user.hpp>
#include <bcast/core/config_file.hpp>
#include <bcast/core/error.hpp>
#include <bcast/core/files.hpp>

#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace bcast::auth {

inline constexpr std::size_t users_file_max_bytes = 16u << 20;
inline constexpr std::string_view bearer_token_prefix = "bcast_";

struct minted_token {
  std::string token;   // show once, never store
  std::string stored;  // "sha256:<hex>", goes into the user's "tokens"
};

// A new bearer token: "bcast_" + 43 base64url characters (32 random bytes). The prefix lets
// secret scanners and humans recognise it.
inline minted_token mint_token() {
  minted_token out;
  out.token = std::string(bearer_token_prefix) + random_token(32);
  out.stored = token_hash(out.token);
  return out;
}

enum class if_missing { fail, empty };

namespace detail {

using core::json_quote;

}  // namespace detail

class user_store {
 public:
  user_store() = default;

  // Parses users-file text. `source` names the file in error messages.
  static core::result<user_store> parse(std::string_view text,
                                        std::string_view source = "users file") {
    auto doc = core::parse_config_json(text, source);
    if (!doc) return doc.err();
    return from_json(*doc, source);
  }

  // Errors carry errno codes for I/O failures (std::errc::no_such_file_or_directory for a
  // missing file unless `missing` is if_missing::empty) and errc::invalid_argument for content.
  static core::result<user_store> load_file(const std::string& path,
                                            if_missing missing = if_missing::fail) {
    auto text = core::read_file_bounded(path, users_file_max_bytes);
    if (!text) {
      if (missing == if_missing::empty && text.err().code() == std::errc::no_such_file_or_directory)
        return user_store{};
      return text.err();
    }
    return parse(*text, path);
  }

  std::string to_json() const {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& u : users_) {
      nlohmann::ordered_json entry;
      entry["name"] = u.name;
      entry["role"] = std::string(to_string(u.role));
      if (!u.password_hash.empty()) entry["password"] = u.password_hash;
      entry["targets"] = u.targets;
      if (!u.tokens.empty()) entry["tokens"] = u.tokens;
      list.push_back(std::move(entry));
    }
    nlohmann::ordered_json doc;
    doc["users"] = std::move(list);
    return doc.dump(2) + "\n";
  }

  // Atomic replace. The file holds password hashes: owner read-write, and group read only when
  // the file had it (a users file shared with publisherd's group, root:bcast 0640 under systemd)
  // or is new (in /etc/bcast, a setgid directory of group bcast); never more.
  core::result<void> save_file(const std::string& path) const {
    struct stat old {};
    const mode_t mode = ::stat(path.c_str(), &old) == 0 ? (0600 | (old.st_mode & 0040)) : 0640;
    return core::write_file_atomic(path, to_json(), mode);
  }

  // Pointers returned by the lookups stay valid until the store is modified or destroyed.
  const std::vector<user>& users() const noexcept { return users_; }
  std::size_t size() const noexcept { return users_.size(); }
  bool empty() const noexcept { return users_.empty(); }

  const user* find(std::string_view name) const noexcept {
    for (const auto& u : users_)
      if (u.name == name) return &u;
    return nullptr;
  }

  // Looks up the user owning a bearer token by its SHA-256; every stored hash is compared, in
  // constant time, whether or not an earlier one matched.
  [[nodiscard]] const user* find_by_token(std::string_view token) const {
    if (token.empty() || token.size() > 512) return nullptr;
    const std::string presented = token_hash(token);
    const user* found = nullptr;
    for (const auto& u : users_)
      for (const auto& stored : u.tokens)
        if (constant_time_equal(presented, stored) && found == nullptr) found = &u;
    return found;
  }

  // The user if name and password match, else nullptr. An unknown name or a user without a
  // password costs one PBKDF2 run at the iteration count most users have, like a wrong password.
  [[nodiscard]] const user* authenticate(std::string_view name, std::string_view password) const {
    const user* u = find(name);
    if (u == nullptr || u->password_hash.empty()) {
      burn_equivalent_work(password, dummy_iterations_);
      return nullptr;
    }
    return verify_password(password, u->password_hash) ? u : nullptr;
  }

  // Every password hash meets the storage policy (hash_meets_policy: PBKDF2-HMAC-SHA256 with at
  // least 600,000 iterations, or scrypt), or an error naming the users whose hash does not. A
  // daemon refuses such a file; loading alone accepts it, so that bcastctl can set new passwords.
  core::result<void> check_password_policy(std::string_view source = "users file") const {
    std::string weak;
    for (const auto& u : users_)
      if (!u.password_hash.empty() && !hash_meets_policy(u.password_hash))
        weak += (weak.empty() ? "" : ", ") + detail::json_quote(u.name);
    if (weak.empty()) return {};
    return core::error(core::errc::invalid_argument,
                       std::string(source) + ": the password hash of " + weak +
                           " is weaker than the policy (PBKDF2-HMAC-SHA256 with at least " +
                           std::to_string(pbkdf2_min_iterations) +
                           " iterations, or scrypt); set a new password with: bcastctl user "
                           "passwd --users FILE NAME");
  }

  // The PBKDF2 iteration count used for the unknown-user path.
  unsigned dummy_iterations() const noexcept { return dummy_iterations_; }

  core::result<void> add(user u) {
    if (auto check = validate(u); !check) return check;
    if (find(u.name) != nullptr)
      return core::error(core::errc::invalid_argument,
                         "user " + detail::json_quote(u.name) + " already exists");
    for (const auto& t : u.tokens)
      if (token_owner(t) != nullptr)
        return core::error(core::errc::invalid_argument,
                           "token is already assigned to another user");
    users_.push_back(std::move(u));
    refresh();
    return {};
  }

  core::result<void> remove(std::string_view name) {
    const auto it =
        std::find_if(users_.begin(), users_.end(), [&](const user& u) { return u.name == name; });
    if (it == users_.end()) return no_such_user(name);
    users_.erase(it);
    refresh();
    return {};
  }

  // `phc` must be a hash verify_password understands (make it with hash_password), or empty to
  // disable password login.
  core::result<void> set_password(std::string_view name, std::string phc) {
    user* u = find_mutable(name);
    if (u == nullptr) return no_such_user(name);
    if (!phc.empty() && !is_supported_hash(phc))
      return core::error(core::errc::invalid_argument, "password: not a supported PHC hash string");
    u->password_hash = std::move(phc);
    refresh();
    return {};
  }

  core::result<void> set_role(std::string_view name, role r) {
    user* u = find_mutable(name);
    if (u == nullptr) return no_such_user(name);
    u->role = r;
    return {};
  }

  core::result<void> set_targets(std::string_view name, std::vector<std::string> targets) {
    user* u = find_mutable(name);
    if (u == nullptr) return no_such_user(name);
    for (const auto& t : targets)
      if (!valid_target_pattern(t)) return bad_target(t);
    u->targets = std::move(targets);
    return {};
  }

  // `stored` is minted_token::stored.
  core::result<void> add_token(std::string_view name, std::string stored) {
    user* u = find_mutable(name);
    if (u == nullptr) return no_such_user(name);
    if (!valid_token_hash(stored))
      return core::error(core::errc::invalid_argument,
                         "tokens: expected \"sha256:<64 lowercase hex digits>\"");
    if (token_owner(stored) != nullptr)
      return core::error(core::errc::invalid_argument, "token is already assigned");
    u->tokens.push_back(std::move(stored));
    return {};
  }

  // Accepts the stored form or the token itself.
  core::result<void> remove_token(std::string_view name, std::string_view token_or_stored) {
    user* u = find_mutable(name);
    if (u == nullptr) return no_such_user(name);
    const std::string stored = valid_token_hash(token_or_stored) ? std::string(token_or_stored)
                                                                 : token_hash(token_or_stored);
    const auto it = std::find(u->tokens.begin(), u->tokens.end(), stored);
    if (it == u->tokens.end())
      return core::error(core::errc::invalid_argument,
                         "user " + detail::json_quote(name) + " has no such token");
    u->tokens.erase(it);
    return {};
  }

  // Checks one user's fields; the error detail starts with the field name.
  static core::result<void> validate(const user& u) {
    if (!valid_user_name(u.name))
      return core::error(core::errc::invalid_argument,
                         "name: " + detail::json_quote(u.name) +
                             " is not a valid user name ([a-z0-9][a-z0-9_.-]{0,63})");
    if (!u.password_hash.empty() && !is_supported_hash(u.password_hash))
      return core::error(core::errc::invalid_argument, "password: not a supported PHC hash string");
    for (const auto& t : u.targets)
      if (!valid_target_pattern(t)) return bad_target(t);
    for (std::size_t i = 0; i < u.tokens.size(); ++i) {
      if (!valid_token_hash(u.tokens[i]))
        return core::error(core::errc::invalid_argument,
                           "tokens: expected \"sha256:<64 lowercase hex digits>\"");
      for (std::size_t j = 0; j < i; ++j)
        if (u.tokens[j] == u.tokens[i])
          return core::error(core::errc::invalid_argument,
                             "tokens: the same token is listed twice");
    }
    return {};
  }

  bool operator==(const user_store& other) const { return users_ == other.users_; }

 private:
  static core::result<user_store> from_json(const nlohmann::json& doc, std::string_view source) {
    user_store store;
    std::map<std::string, std::size_t, std::less<>> first_seen_name;
    std::map<std::string, std::size_t, std::less<>> first_seen_token;
    core::config_section file(doc, std::string(source));
    file.require("users").sections("users", [&](core::config_section& entry, std::size_t index) {
      user u;
      std::string role;
      std::vector<std::string> tokens;
      entry.require("name").require("role");
      entry.text("name", u.name).text("role", role).text("password", u.password_hash);
      entry.texts("targets", u.targets).texts("tokens", tokens);
      if (!entry.ok()) return;
      if (!valid_user_name(u.name))
        entry.refuse("name", detail::json_quote(u.name) +
                                 " is not a valid user name ([a-z0-9][a-z0-9_.-]{0,63})");
      if (const auto r = parse_role(role)) {
        u.role = *r;
      } else {
        entry.refuse("role",
                     "must be \"admin\" or \"publisher\" (got " + detail::json_quote(role) + ")");
      }
      if (entry.has("password") && !is_supported_hash(u.password_hash))
        entry.refuse("password",
                     "not a supported PHC hash string "
                     "($pbkdf2-sha256$i=N,l=32$salt$hash or $scrypt$ln=N,r=N,p=N$salt$hash)");
      for (std::size_t t = 0; t < u.targets.size(); ++t) {
        if (!valid_target_pattern(u.targets[t]))
          entry.refuse(
              "targets[" + std::to_string(t) + "]",
              detail::json_quote(u.targets[t]) +
                  " is not a target pattern (\"*\", \"all\", \"kind:*\" or \"kind:name\")");
      }
      for (std::size_t t = 0; t < tokens.size(); ++t) {
        const std::string at = "tokens[" + std::to_string(t) + "]";
        std::string text = std::move(tokens[t]);
        std::transform(text.begin(), text.end(), text.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (!valid_token_hash(text)) {
          entry.refuse(
              at, "expected \"sha256:<64 hex digits>\" (the hash of the token, not the token)");
        } else if (const auto [seen, inserted] = first_seen_token.emplace(text, index); !inserted) {
          entry.refuse(at, "the same token hash is already listed for users[" +
                               std::to_string(seen->second) + "]");
        }
        u.tokens.push_back(std::move(text));
      }
      if (const auto [seen, inserted] = first_seen_name.emplace(u.name, index); !inserted)
        entry.refuse("name", "duplicate user " + detail::json_quote(u.name) + " (first at users[" +
                                 std::to_string(seen->second) + "])");
      store.users_.push_back(std::move(u));
    });
    if (auto done = file.finish(); !done) return done.err();
    store.refresh();
    return store;
  }

  user* find_mutable(std::string_view name) noexcept {
    for (auto& u : users_)
      if (u.name == name) return &u;
    return nullptr;
  }

  const user* token_owner(std::string_view stored) const noexcept {
    for (const auto& u : users_)
      for (const auto& t : u.tokens)
        if (t == stored) return &u;
    return nullptr;
  }

  static core::error no_such_user(std::string_view name) {
    return {core::errc::invalid_argument, "no user " + detail::json_quote(name)};
  }

  static core::error bad_target(std::string_view t) {
    return {core::errc::invalid_argument,
            "targets: " + detail::json_quote(t) +
                " is not a target pattern (\"*\", \"all\", \"kind:*\" or \"kind:name\")"};
  }

  // The unknown-user path should cost what a real check costs: use the iteration count most
  // password hashes in the file have, or the default when there are none.
  void refresh() {
    std::map<unsigned, std::size_t> counts;
    for (const auto& u : users_)
      if (const auto i = pbkdf2_iterations(u.password_hash)) ++counts[*i];
    dummy_iterations_ = pbkdf2_default_iterations;
    std::size_t best = 0;
    for (const auto& [iterations, count] : counts)
      if (count > best) {
        best = count;
        dummy_iterations_ = iterations;
      }
  }

  std::vector<user> users_;
  unsigned dummy_iterations_ = pbkdf2_default_iterations;
};

// Names of users that were removed or whose password, role, targets or tokens differ between
// two versions of the file: after a reload, their sessions should be destroyed.
inline std::vector<std::string> changed_users(const user_store& before, const user_store& after) {
  std::vector<std::string> out;
  for (const auto& old_user : before.users()) {
    const user* now = after.find(old_user.name);
    if (now == nullptr || !(*now == old_user)) out.push_back(old_user.name);
  }
  return out;
}

}  // namespace bcast::auth
