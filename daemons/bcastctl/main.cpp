// bcastctl: the admin CLI. Messages and stores through publisherd's Unix socket (the peer's uid or
// gid is the credential); users directly on the users file.
// Exit status: 0 success, 1 refused (with the server's message), 2 usage error.

#include <bcast/auth/password.hpp>
#include <bcast/auth/users.hpp>
#include <bcast/broker/acl.hpp>
#include <bcast/core/cli.hpp>
#include <bcast/core/text.hpp>
#include <bcast/http/client.hpp>
#include <bcast/message/target.hpp>
#include <bcast/trust/keys.hpp>

#include <termios.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

using nlohmann::json;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_refused = 1;
constexpr int exit_usage = 2;

const char* usage_text =
    "usage: bcastctl [--socket PATH] send --target T [--target T]... --category C --title T\n"
    "                [--priority normal|high|urgent] [--require-ack] [--expires-at ISO8601]\n"
    "                [--at TIME] [--supersedes ID] [--repeat-every DURATION]\n"
    "                [--escalate-after DURATION] BODY|-\n"
    "                (--at: send later, RFC 3339 like 2026-12-03T09:00:00+07:00; --supersedes: a\n"
    "                correction, which recalls message ID and takes its place)\n"
    "                (--repeat-every: shown again until acknowledged, at least 10s;\n"
    "                --escalate-after: publisherd's escalation runs for the stores that have\n"
    "                not acknowledged by then; both need --require-ack; DURATION is seconds,\n"
    "                or a number with s, m or h: 90s, 5m, 1h)\n"
    "       bcastctl [--socket PATH] list [--limit N] [--before ID]\n"
    "       bcastctl [--socket PATH] show ID [--csv]   (--csv: each expected store's receipt,\n"
    "                store,state,at)\n"
    "       bcastctl [--socket PATH] recall ID     (stores that have not shown it never do; open\n"
    "                popups of it close)\n"
    "       bcastctl [--socket PATH] scheduled [--limit N]\n"
    "       bcastctl [--socket PATH] cancel ID     (a scheduled message that is not sent yet)\n"
    "       bcastctl [--socket PATH] stores\n"
    "       bcastctl [--socket PATH] audit [--limit N] [--before CURSOR]   (admins; newest first)\n"
    "       bcastctl user add|passwd|del|list|token --users FILE [NAME] [--role admin|publisher]\n"
    "                [--targets PATTERN]... [--password-stdin]\n"
    "       bcastctl acl STORE_ID [--group G]... [--password-stdin] [--setuser]\n"
    "       bcastctl key gen --out DIR     (DIR/signing.key for publisherd, DIR/signing.pub for "
    "stores)\n"
    "       bcastctl key id FILE           (the key id of a signing.key or signing.pub)\n"
    "The socket defaults to $BCAST_SOCKET or /run/bcast/publisherd.sock.\n";

int usage(const std::string& problem) {
  std::cerr << "bcastctl: " << problem << "\n" << usage_text;
  return exit_usage;
}

int refused(const std::string& message) {
  std::cerr << "bcastctl: " << message << "\n";
  return exit_refused;
}

// Calls publisherd; on success returns the body as it came, otherwise prints why (the server's
// JSON error) and sets `status`.
std::optional<std::string> call_raw(const std::string& socket, const std::string& method,
                                    const std::string& target, const std::string& body,
                                    const char* accept, int& status) {
  bcast::net::endpoint publisherd;
  publisherd.unix_path = socket;
  bcast::http::header_map headers;
  headers.add("Accept", accept);
  auto response = bcast::http::call(publisherd, method, target, body, headers);
  if (!response) {
    status = refused("cannot reach publisherd at " + socket + ": " + response.err().message());
    return std::nullopt;
  }
  if (response->status >= 400) {
    json parsed = json::parse(response->body, nullptr, false);
    std::string message = parsed.is_object() && parsed.contains("message")
                              ? parsed["message"].get<std::string>()
                              : "HTTP " + std::to_string(response->status);
    if (parsed.is_object() && parsed.contains("field"))
      message += " (field: " + parsed["field"].get<std::string>() + ")";
    status = refused(message);
    return std::nullopt;
  }
  return std::move(response->body);
}

// call_raw for a JSON answer, parsed.
std::optional<json> call(const std::string& socket, const std::string& method,
                         const std::string& target, const std::string& body, int& status) {
  auto answer = call_raw(socket, method, target, body, "application/json", status);
  if (!answer) return std::nullopt;
  if (answer->empty()) return json::object();
  json parsed = json::parse(*answer, nullptr, false);
  if (parsed.is_discarded()) {
    status = refused("publisherd answered with something that is not JSON");
    return std::nullopt;
  }
  return parsed;
}

std::string join(const json& array, const char* sep = ",") {
  std::string out;
  for (const auto& v : array) {
    if (!out.empty()) out += sep;
    out += v.get<std::string>();
  }
  return out;
}

// A DURATION option: whole seconds, or a number with s, m or h ("90", "90s", "5m", "1h").
std::optional<std::uint32_t> parse_duration(std::string_view text) {
  std::uint32_t scale = 1;
  if (text.ends_with('h'))
    scale = 3600;
  else if (text.ends_with('m'))
    scale = 60;
  if (scale != 1 || text.ends_with('s')) text.remove_suffix(1);
  std::uint32_t n = 0;
  if (!bcast::core::parse_int(text, n)) return std::nullopt;
  if (n > std::numeric_limits<std::uint32_t>::max() / scale) return std::nullopt;
  return n * scale;
}

std::string read_all_stdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

int cmd_send(const std::string& socket, const bcast::core::cli::arguments& a) {
  auto targets = a.values("target");
  if (targets.empty()) return usage("send needs at least one --target");
  if (!a.value("category")) return usage("send needs --category");
  if (!a.value("title")) return usage("send needs --title");
  if (a.positional().size() != 2)
    return usage("send needs exactly one BODY (or - to read it from stdin)");
  std::string body = a.positional()[1] == "-" ? read_all_stdin() : a.positional()[1];
  json request{{"targets", targets},
               {"category", *a.value("category")},
               {"title", *a.value("title")},
               {"body", body}};
  if (auto p = a.value("priority")) request["priority"] = *p;
  if (auto e = a.value("expires-at")) request["expires_at"] = *e;
  if (a.has("require-ack")) request["require_ack"] = true;
  if (auto at = a.value("at")) request["send_at"] = *at;
  if (auto old = a.value("supersedes")) request["supersedes"] = *old;
  // The server checks the rest (at least 10 s, with --require-ack) and names the field.
  for (auto [option, field] : {std::pair{"repeat-every", "repeat_every_s"},
                               std::pair{"escalate-after", "escalate_after_s"}}) {
    if (auto text = a.value(option)) {
      auto seconds = parse_duration(*text);
      if (!seconds)
        return usage("--" + std::string(option) + " takes seconds, or a number with s, m or h");
      request[field] = *seconds;
    }
  }
  int status = exit_ok;
  std::string encoded;
  try {
    encoded = request.dump();
  } catch (const json::exception&) {
    return refused("the title or body is not valid UTF-8");
  }
  auto reply = call(socket, "POST", "/api/v1/messages", encoded, status);
  if (!reply) return status;
  if (reply->value("state", "") == "scheduled") {
    std::cout << "scheduled " << reply->value("id", "") << " for " << reply->value("send_at", "")
              << "\n";
  } else {
    std::cout << "sent " << reply->value("id", "") << "\n";
  }
  return exit_ok;
}

// POST /api/v1/<path with ID>, no body to speak of: recall and cancel.
int cmd_on_message(const std::string& socket, const bcast::core::cli::arguments& a,
                   const std::string& collection, const std::string& action) {
  if (a.positional().size() != 2) return usage(a.positional()[0] + " needs a message ID");
  const std::string& id = a.positional()[1];
  int status = exit_ok;
  auto reply = call(socket, "POST",
                    "/api/v1/" + collection + "/" + bcast::core::percent_encode(id) + "/" + action,
                    "{}", status);
  if (!reply) return status;
  return exit_ok;
}

int cmd_recall(const std::string& socket, const bcast::core::cli::arguments& a) {
  if (int status = cmd_on_message(socket, a, "messages", "recall"); status != exit_ok)
    return status;
  std::cout << "recalled " << a.positional()[1] << "\n";
  return exit_ok;
}

int cmd_cancel(const std::string& socket, const bcast::core::cli::arguments& a) {
  if (int status = cmd_on_message(socket, a, "scheduled", "cancel"); status != exit_ok)
    return status;
  std::cout << "cancelled " << a.positional()[1] << "\n";
  return exit_ok;
}

int cmd_scheduled(const std::string& socket, const bcast::core::cli::arguments& a) {
  if (a.positional().size() != 1) return usage("scheduled takes no ID");
  int status = exit_ok;
  auto reply = call(socket, "GET", "/api/v1/scheduled?limit=" + a.value("limit").value_or("200"),
                    {}, status);
  if (!reply) return status;
  for (const auto& m : (*reply)["scheduled"]) {
    std::printf("%s  %s  %-9s %-13s %-30s %-12s %s\n", m.value("id", "").c_str(),
                m.value("send_at", "").c_str(), m.value("state", "").c_str(),
                m.value("category", "").c_str(), join(m["targets"]).c_str(),
                m.value("sender", "").c_str(), m.value("title", "").c_str());
  }
  return exit_ok;
}

// The audit log as a table, newest first; the cursor of the next page last, if there is one.
int cmd_audit(const std::string& socket, const bcast::core::cli::arguments& a) {
  if (a.positional().size() != 1) return usage("audit takes no ID: page with --before CURSOR");
  std::string target = "/api/v1/audit?limit=" + a.value("limit").value_or("100");
  if (auto before = a.value("before")) target += "&before=" + bcast::core::percent_encode(*before);
  int status = exit_ok;
  auto reply = call(socket, "GET", target, {}, status);
  if (!reply) return status;
  const auto text = [](const json& e, const char* name) {
    const auto it = e.find(name);
    return it != e.end() && it->is_string() ? it->get<std::string>() : std::string("-");
  };
  std::printf("%-24s  %-16s %-15s %-14s %-26s %-18s %s\n", "AT", "ACTOR", "ADDRESS", "ACTION",
              "MESSAGE", "RESULT", "DETAIL");
  for (const auto& e : (*reply)["entries"]) {
    std::printf("%-24s  %-16s %-15s %-14s %-26s %-18s %s\n", text(e, "at").c_str(),
                text(e, "actor").c_str(), text(e, "address").c_str(), text(e, "action").c_str(),
                text(e, "message_id").c_str(), text(e, "result").c_str(),
                text(e, "detail").c_str());
  }
  if (const auto next = reply->find("next"); next != reply->end() && next->is_string())
    std::cout << "more: bcastctl audit --before " << next->get<std::string>() << "\n";
  return exit_ok;
}

int cmd_list(const std::string& socket, const bcast::core::cli::arguments& a) {
  std::string target = "/api/v1/messages?limit=" + a.value("limit").value_or("50");
  if (auto before = a.value("before")) target += "&before=" + bcast::core::percent_encode(*before);
  int status = exit_ok;
  auto reply = call(socket, "GET", target, {}, status);
  if (!reply) return status;
  for (const auto& m : (*reply)["messages"]) {
    std::printf("%s  %s  %-13s %-7s %-30s %s\n", m.value("id", "").c_str(),
                m.value("sent_at", "").c_str(), m.value("category", "").c_str(),
                m.value("priority", "").c_str(), join(m["targets"]).c_str(),
                m.value("title", "").c_str());
  }
  return exit_ok;
}

int cmd_show(const std::string& socket, const bcast::core::cli::arguments& a) {
  if (a.positional().size() != 2) return usage("show needs a message ID");
  int status = exit_ok;
  if (a.has("csv")) {
    auto csv = call_raw(
        socket, "GET",
        "/api/v1/messages/" + bcast::core::percent_encode(a.positional()[1]) + "/receipts.csv", {},
        "text/csv", status);
    if (!csv) return status;
    std::cout << *csv << std::flush;
    return exit_ok;
  }
  auto reply =
      call(socket, "GET", "/api/v1/messages/" + bcast::core::percent_encode(a.positional()[1]), {},
           status);
  if (!reply) return status;
  const auto& m = (*reply)["message"];
  const auto& r = (*reply)["receipts"];
  std::printf(
      "id:        %s\nsent:      %s by %s\ntargets:   %s\ncategory:  %s\npriority:  %s\ntitle:     "
      "%s\n",
      m.value("id", "").c_str(), m.value("sent_at", "").c_str(), m.value("sender", "").c_str(),
      join(m["targets"], ", ").c_str(), m.value("category", "").c_str(),
      m.value("priority", "").c_str(), m.value("title", "").c_str());
  std::printf("body:\n  %s\n", m.value("body", "").c_str());
  auto expected = r.value("expected", 0);
  auto bar = [expected](int n) {
    int width = 20;
    int filled = expected > 0 ? n * width / expected : 0;
    return "[" + std::string(static_cast<std::size_t>(filled), '#') +
           std::string(static_cast<std::size_t>(width - filled), '.') + "]";
  };
  for (const char* k : {"delivered", "displayed", "acknowledged"}) {
    int n = r.value(k, 0);
    std::printf("%-13s %s %d/%d\n", k, bar(n).c_str(), n, expected);
  }
  if (int rejected = r.value("rejected", 0); rejected > 0) {
    std::printf("%-13s %d (refused a copy: bad or missing signature, or not addressed to them)\n",
                "rejected", rejected);
  }
  if (const auto& recall = (*reply)["recall"]; recall.is_object()) {
    std::printf("RECALLED      at %s by %s%s\n", recall.value("at", "").c_str(),
                recall.value("by", "").c_str(),
                recall["superseded_by"].is_string()
                    ? (", corrected by " + recall["superseded_by"].get<std::string>()).c_str()
                    : "");
  }
  if (r.contains("stores")) {
    std::printf("\n%-24s %-13s %s\n", "STORE", "STATE", "AT");
    for (const auto& s : r["stores"]) {
      std::printf("%-24s %-13s %s\n", s.value("store", "").c_str(), s.value("state", "").c_str(),
                  s["at"].is_string() ? s["at"].get<std::string>().c_str() : "-");
    }
  }
  return exit_ok;
}

int cmd_stores(const std::string& socket) {
  int status = exit_ok;
  auto reply = call(socket, "GET", "/api/v1/stores", {}, status);
  if (!reply) return status;
  std::printf("%-24s %-8s %-26s %s\n", "STORE", "STATE", "LAST SEEN", "GROUPS");
  for (const auto& s : (*reply)["stores"]) {
    std::printf("%-24s %-8s %-26s %s\n", s.value("id", "").c_str(),
                s.value("online", false) ? "online" : "offline",
                s["last_seen"].is_string() ? s["last_seen"].get<std::string>().c_str() : "-",
                join(s["groups"]).c_str());
  }
  return exit_ok;
}

std::optional<std::string> read_password(bool from_stdin) {
  std::string password;
  if (from_stdin || !::isatty(STDIN_FILENO)) {
    if (!std::getline(std::cin, password)) return std::nullopt;
    return password;
  }
  termios old{};
  ::tcgetattr(STDIN_FILENO, &old);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  std::string again;
  std::cerr << "Password: " << std::flush;
  ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  std::getline(std::cin, password);
  std::cerr << "\nRepeat: " << std::flush;
  std::getline(std::cin, again);
  ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
  std::cerr << "\n";
  if (password != again) {
    std::cerr << "bcastctl: the passwords differ\n";
    return std::nullopt;
  }
  return password;
}

int cmd_user(const bcast::core::cli::arguments& a) {
  namespace auth = bcast::auth;
  const auto& pos = a.positional();
  if (pos.size() < 2) return usage("user needs add, passwd, del, list or token");
  const std::string& action = pos[1];
  auto file = a.value("users");
  if (!file) return usage("user " + action + " needs --users FILE");
  bool needs_name = action != "list";
  if (needs_name && pos.size() != 3) return usage("user " + action + " needs exactly one NAME");
  if (!needs_name && pos.size() != 2) return usage("user list takes no NAME");
  if (action != "add" && action != "passwd" && action != "del" && action != "list" &&
      action != "token")
    return usage("unknown user action '" + action + "'");

  auto store = auth::user_store::load_file(
      *file, action == "add" ? auth::if_missing::empty : auth::if_missing::fail);
  if (!store) return refused(store.err().message());

  if (action == "list") {
    for (const auto& u : store->users()) {
      std::string targets;
      for (const auto& t : u.targets) targets += (targets.empty() ? "" : ",") + t;
      std::printf("%-24s %-10s %-30s %s\n", u.name.c_str(),
                  std::string(auth::to_string(u.role)).c_str(), targets.c_str(),
                  u.password_hash.empty() ? "(no password)"
                  : auth::hash_meets_policy(u.password_hash)
                      ? ""
                      : "(weak password hash: run user passwd)");
    }
    return exit_ok;
  }
  const std::string& name = pos[2];
  bcast::core::result<void> changed;
  if (action == "add") {
    auth::user u;
    u.name = name;
    auto role = auth::parse_role(a.value("role").value_or("publisher"));
    if (!role) return usage("--role must be admin or publisher");
    u.role = *role;
    if (auto targets = a.values("targets"); !targets.empty()) u.targets = targets;
    auto password = read_password(a.has("password-stdin"));
    if (!password || password->empty()) return refused("no password given");
    u.password_hash = auth::hash_password(*password);
    changed = store->add(std::move(u));
  } else if (action == "passwd") {
    auto password = read_password(a.has("password-stdin"));
    if (!password || password->empty()) return refused("no password given");
    changed = store->set_password(name, auth::hash_password(*password));
    if (changed) {
      if (auto role = a.value("role")) {
        auto r = auth::parse_role(*role);
        if (!r) return usage("--role must be admin or publisher");
        changed = store->set_role(name, *r);
      }
    }
    if (changed && !a.values("targets").empty())
      changed = store->set_targets(name, a.values("targets"));
  } else if (action == "del") {
    changed = store->remove(name);
  } else {  // token: a new bearer token for automation, shown once
    auto minted = auth::mint_token();
    changed = store->add_token(name, minted.stored);
    if (changed) std::cout << minted.token << "\n";
  }
  if (!changed) return refused(changed.err().message());
  if (auto saved = store->save_file(*file); !saved) return refused(saved.err().message());
  if (action != "token") std::cerr << "bcastctl: user " << name << ": " << action << " done\n";
  return exit_ok;
}

// A store's Redis user, least privilege (broker/acl.hpp): a line for an ACL file, or with
// --setuser the ACL SETUSER command for `redis-cli`. Only the password's SHA-256 is printed.
int cmd_acl(const bcast::core::cli::arguments& a) {
  const auto& pos = a.positional();
  if (pos.size() != 2) return usage("acl needs exactly one STORE_ID");
  const std::string& store = pos[1];
  if (auto t = bcast::message::parse_target("store:" + store); !t) return usage(t.err().detail());
  const auto groups = a.values("group");
  for (const auto& g : groups) {
    if (auto parsed = bcast::message::parse_group(g); !parsed) return usage(parsed.err().detail());
  }
  auto password = read_password(a.has("password-stdin"));
  if (!password || password->empty()) return refused("no password given");
  const auto user = bcast::broker::store_acl_user(store);
  const auto rules = bcast::broker::store_acl_rules(store, groups);
  std::cout << (a.has("setuser") ? bcast::broker::acl_setuser_command(user, *password, rules)
                                 : bcast::broker::acl_file_line(user, *password, rules))
            << "\n";
  return exit_ok;
}

// Message signing keys (README, "Signed messages"): a new Ed25519 pair, or the id of a key file.
int cmd_key(const bcast::core::cli::arguments& a) {
  namespace trust = bcast::trust;
  const auto& pos = a.positional();
  if (pos.size() < 2) return usage("key needs gen or id");
  if (pos[1] == "id") {
    if (pos.size() != 3) return usage("key id needs exactly one FILE");
    // A public key is what a store has; a private one names the same id.
    auto pub = trust::public_key::load(pos[2]);
    if (pub) {
      std::cout << pub->id() << "\n";
      return exit_ok;
    }
    auto priv = trust::signing_key::load(pos[2]);
    if (!priv) return refused(pub.err().message() + "; as a private key: " + priv.err().message());
    std::cout << priv->id() << "\n";
    return exit_ok;
  }
  if (pos[1] != "gen") return usage("unknown key action '" + pos[1] + "'");
  if (pos.size() != 2) return usage("key gen takes no NAME; give the directory with --out DIR");
  const auto dir = a.value("out");
  if (!dir) return usage("key gen needs --out DIR");
  auto key = trust::signing_key::generate();
  if (!key) return refused(key.err().message());
  if (auto written = trust::write_key_pair(*dir, *key); !written)
    return refused(written.err().message());
  const std::filesystem::path out(*dir);
  std::cout << "key id " << key->id() << "\n"
            << "  " << (out / trust::signing_key_file).string()
            << "  private, 0600: stays with publisherd (--signing-key FILE, config signing_key); "
               "never copy it to a store\n"
            << "  " << (out / trust::public_key_file).string()
            << "  public: copy it to every store (subscriberd --trusted-key FILE, config "
               "trusted_keys)\n";
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  bcast::core::cli::spec spec{
      {"socket", "target", "category", "title", "priority", "expires-at", "limit", "before",
       "users", "role", "targets", "group", "out", "at", "supersedes", "repeat-every",
       "escalate-after"},
      {"require-ack", "password-stdin", "setuser", "csv", "help", "version"}};
  auto args = bcast::core::cli::parse(argc, argv, spec);
  if (!args) return usage(args.err().detail());
  if (args->has("help")) {
    std::cout << usage_text;
    return exit_ok;
  }
  if (args->has("version")) {
    std::cout << "bcastctl " << BCAST_VERSION << "\n";
    return exit_ok;
  }
  if (args->positional().empty()) return usage("no command given");
  std::string socket = args->value("socket").value_or(
      std::getenv("BCAST_SOCKET") ? std::getenv("BCAST_SOCKET") : "/run/bcast/publisherd.sock");
  const std::string& command = args->positional()[0];
  if (command == "send") return cmd_send(socket, *args);
  if (command == "list") return cmd_list(socket, *args);
  if (command == "show") return cmd_show(socket, *args);
  if (command == "stores") return cmd_stores(socket);
  if (command == "audit") return cmd_audit(socket, *args);
  if (command == "recall") return cmd_recall(socket, *args);
  if (command == "scheduled") return cmd_scheduled(socket, *args);
  if (command == "cancel") return cmd_cancel(socket, *args);
  if (command == "user") return cmd_user(*args);
  if (command == "acl") return cmd_acl(*args);
  if (command == "key") return cmd_key(*args);
  return usage("unknown command '" + command + "'");
}
