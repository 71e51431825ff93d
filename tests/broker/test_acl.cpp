// The generated ACL rules on a real server: a store's user can do its job and nothing else, and
// publisherd's user can do all of its job.

#include <bcast/broker/acl.hpp>
#include <bcast/broker/catchup.hpp>
#include <bcast/broker/idempotency.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/broker/presence.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/broker/receipt_aggregator.hpp>
#include <bcast/broker/receipt_writer.hpp>
#include <bcast/redis/subscriber.hpp>

#include "broker_helpers.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <support/assert_ok.hpp>
#include <vector>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

std::string shell_quoted(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) out += " '" + a + "'";
  return out;
}

void set_user(test::redis_server& server, const std::string& user, const std::string& password,
              const std::vector<std::string>& rules) {
  auto args = broker::acl_setuser_args(user, password, rules);
  CHECK(server.cli(shell_quoted(args)) == "OK\n");
}

std::string url_for(const test::redis_server& server, const std::string& user,
                    const std::string& password) {
  return "redis://" + user + ":" + password + "@127.0.0.1:" + std::to_string(server.port());
}

bool denied(const core::result<redis::reply>& r) {
  return r.ok() && r->error_is("NOPERM");
}

std::filesystem::path source_root() {
  if (const char* root = std::getenv("BCAST_SOURCE_ROOT"); root && *root) return root;
  std::vector<std::filesystem::path> starts{std::filesystem::current_path()};
  std::error_code ec;
  if (auto exe = std::filesystem::read_symlink("/proc/self/exe", ec); !ec)
    starts.push_back(exe.parent_path());
  for (auto dir : starts) {
    for (; !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
      if (std::filesystem::exists(dir / "config/redis-acl.example")) return dir;
    }
  }
  return {};
}

}  // namespace

TEST_CASE("acl: rule text") {
  const std::vector<std::string> groups{"region:jateng"};
  auto rules = broker::store_acl_rules("s1", groups);
  auto line = broker::acl_setuser_command(broker::store_acl_user("s1"), "pw", rules);
  CHECK(line.rfind("ACL SETUSER bcast-store-s1 reset on #", 0) == 0);
  CHECK(line.find("pw ") == std::string::npos);  // only the hash
  CHECK(line.find(" ~bcast:{store:s1}:receipts ") != std::string::npos);
  CHECK(line.find(" %R~bcast:{region:jateng}:history ") != std::string::npos);
  CHECK(line.find(" &bcast:{all}:live ") != std::string::npos);
  CHECK(line.find("~bcast:{store:s1}:*") ==
        std::string::npos);  // its channel's history stays read-only
  CHECK(line.find("+publish") == std::string::npos);
  CHECK(line.find("+eval") == std::string::npos);
  CHECK(broker::acl_file_line("u", "pw", rules).rfind("user u on #", 0) == 0);
  // sha256("pw")
  CHECK(broker::acl_password_rule("pw") ==
        "#30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4");
}

TEST_CASE("acl: a store's user reads its channels and writes its own keys, and nothing else") {
  test::redis_server server;
  core::loop l;
  const std::vector<std::string> groups{"region:jateng"};
  set_user(server, broker::store_acl_user("s1"), "store-secret",
           broker::store_acl_rules("s1", groups));
  set_user(server, std::string(broker::publisher_acl_user), "pub-secret",
           broker::publisher_acl_rules());

  // publisherd, as its own user, publishes a little history for s1 and s2.
  redis::client pc(
      l, test::broker_opts(url_for(server, std::string(broker::publisher_acl_user), "pub-secret")));
  broker::publisher pub(pc);
  auto publish = [&](const message::envelope& e) {
    std::optional<core::result<broker::publish_outcome>> out;
    pub.publish(e, [&](auto r) { out.emplace(std::move(r)); });
    REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
    INFO((out->ok() ? std::string() : out->err().message()));
    REQUIRE(out->ok());
  };
  publish(test::make_test_envelope({"all", "store:s1", "store:s2", "region:jateng"}));

  auto sopts = test::broker_opts(url_for(server, broker::store_acl_user("s1"), "store-secret"));
  redis::client sc(l, sopts);
  auto cmd = [&](std::vector<std::string> args) { return test::run_command(l, sc, args); };

  // Allowed: its channels' history, its own receipts, presence and profile.
  for (const auto& t : {"all", "store:s1", "region:jateng"}) {
    auto r = cmd({"XRANGE", broker::history_key(t), "-", "+"});
    REQUIRE_OK(r);
    CHECK(r->elements.size() == 1);
    CHECK(cmd({"XREVRANGE", broker::history_key(t), "+", "-", "COUNT", "1"})->elements.size() == 1);
  }
  broker::receipt_writer w(l, sc, "s1");
  std::optional<core::result<void>> wrote;
  w.record(test::make_test_envelope({"all"}).id, broker::receipt_state::delivered,
           std::chrono::system_clock::now(),
           [&](core::result<void> r) { wrote.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return wrote.has_value(); }));
  CHECK(wrote->ok());
  std::optional<core::result<void>> trimmed;
  w.trim([&](core::result<void> r) { trimmed.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return trimmed.has_value(); }));
  CHECK(trimmed->ok());
  std::optional<core::result<void>> gap;
  w.record_gap("all", 1, 2, std::chrono::system_clock::now(),
               [&](core::result<void> r) { gap.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return gap.has_value(); }));
  CHECK(gap->ok());
  broker::heartbeat hb(l, sc, broker::store_profile{"s1", groups, "0.1.0"});
  std::optional<core::result<void>> beat;
  hb.beat([&](core::result<void> r) { beat.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return beat.has_value(); }));
  CHECK(beat->ok());

  // Denied: publishing, other stores' keys, other channels, its own channel's history, scripts,
  // administration.
  CHECK(denied(cmd({"PUBLISH", broker::live_channel("all"), "fake"})));
  CHECK(denied(cmd({"PUBLISH", broker::live_channel("store:s1"), "fake"})));
  CHECK(denied(cmd({"XRANGE", broker::history_key("store:s2"), "-", "+"})));
  CHECK(denied(cmd({"XRANGE", broker::history_key("region:jabar"), "-", "+"})));
  CHECK(denied(cmd({"HSETNX", broker::receipts_key("s2"), "x:delivered", "t"})));
  CHECK(denied(cmd({"HSET", broker::presence_key("s2"), "id", "s2"})));
  CHECK(denied(cmd({"HGETALL", broker::receipts_key("s2")})));
  CHECK(denied(cmd({"XADD", broker::history_key("store:s1"), "0-*", "id", "9"})));
  CHECK(denied(cmd({"XTRIM", broker::history_key("store:s1"), "MAXLEN", "0"})));
  CHECK(denied(cmd({"DEL", broker::history_key("all")})));
  CHECK(denied(cmd({"GET", "bcast:{all}:anything"})));
  CHECK(denied(cmd({"EVAL", "return 1", "0"})));
  CHECK(denied(cmd({"KEYS", "*"})));
  CHECK(denied(cmd({"SCAN", "0"})));
  CHECK(denied(cmd({"FLUSHALL"})));
  CHECK(denied(cmd({"CONFIG", "GET", "*"})));
  CHECK(denied(cmd({"ACL", "LIST"})));

  // The whole receiving side works as this user: subscribe, catch up, go live.
  broker::store_state start;
  for (const auto& t : broker::store_targets("s1", groups))
    start.channels[t] = broker::position{0, "0-0"};
  broker::catchup_driver driver(l, sc, sopts, broker::store_targets("s1", groups), start);
  std::vector<std::string> got;
  std::vector<std::string> problems;
  driver.on_message([&](const broker::entry&, const message::envelope& e) { got.push_back(e.id); });
  driver.on_problem([&](const core::error& e) { problems.push_back(e.message()); });
  driver.start();
  REQUIRE(test::run_until(l, [&] { return driver.live(); }));
  CHECK(got.size() == 1);
  publish(test::make_test_envelope({"region:jateng"}));
  REQUIRE(test::run_until(l, [&] { return got.size() == 2; }));
  CHECK(problems.empty());

  // A store subscribing to someone else's channel is refused.
  redis::subscriber spy(l, sopts);
  spy.subscribe({broker::live_channel("store:s2")});
  test::run_for(l, 100ms);
  CHECK_FALSE(spy.is_confirmed(broker::live_channel("store:s2")));

  // publisherd's user sees the stores and their receipts and lists messages.
  broker::presence_directory dir(pc);
  std::optional<core::result<std::vector<broker::store_presence>>> stores;
  dir.list([&](auto r) { stores.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return stores.has_value(); }));
  REQUIRE(stores->ok());
  REQUIRE(stores->value().size() == 1);
  CHECK(stores->value()[0].online);
  broker::message_log log(pc);
  std::optional<core::result<std::vector<broker::message_record>>> listed;
  log.list(10, "", [&](auto r) { listed.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return listed.has_value(); }));
  REQUIRE(listed->ok());
  CHECK(listed->value().size() == 2);
  broker::receipt_aggregator agg(pc);
  std::optional<core::result<broker::receipt_summary>> summary;
  agg.summarize(listed->value()[1], broker::known_stores(stores->value()),
                [&](auto r) { summary.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return summary.has_value(); }));
  REQUIRE(summary->ok());
  CHECK(summary->value().expected == 1);
  // A send under an Idempotency-Key files its record by script, which this user may run.
  std::optional<core::result<broker::publish_outcome>> keyed;
  broker::publish_with_key(pub, log, test::make_test_envelope({"all"}), {},
                           [&](auto r) { keyed.emplace(std::move(r)); });
  REQUIRE(test::run_until(l, [&] { return keyed.has_value(); }));
  INFO((keyed->ok() ? std::string() : keyed->err().message()));
  CHECK(keyed->ok());
  // publisherd's user has no dangerous commands either.
  CHECK(denied(test::run_command(l, pc, {"FLUSHALL"})));
  CHECK(denied(test::run_command(l, pc, {"KEYS", "*"})));
  CHECK(denied(test::run_command(l, pc, {"SET", "other:key", "x"})));
}

TEST_CASE("acl: config/redis-acl.example holds the generated lines and loads into redis-server") {
  const auto example = source_root() / "config/redis-acl.example";
  std::ifstream in(example);
  REQUIRE(in.good());
  test::temp_dir dir;
  const auto aclfile = dir.file("users.acl");
  std::ofstream out(aclfile);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;  // Redis takes no comments in an ACL file
    out << line << "\n";
    lines.push_back(line);
  }
  out.close();
  const std::vector<std::string> groups{"region:jateng", "format:minimarket"};
  const auto store_line = broker::acl_file_line(broker::store_acl_user("s1"), "change-me",
                                                broker::store_acl_rules("s1", groups));
  const auto publisher_line =
      broker::acl_file_line(broker::publisher_acl_user, "change-me", broker::publisher_acl_rules());
  CHECK(std::find(lines.begin(), lines.end(), store_line) != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), publisher_line) != lines.end());

  test::redis_server server({"--aclfile", aclfile});
  core::loop l;
  redis::client store(l, test::broker_opts(url_for(server, "bcast-store-s1", "change-me")));
  CHECK(test::run_command(l, store, {"XRANGE", broker::history_key("format:minimarket"), "-", "+"})
            .ok());
  CHECK(denied(test::run_command(l, store, {"PUBLISH", broker::live_channel("all"), "x"})));
  redis::client pub(l, test::broker_opts(url_for(server, "bcast-publisher", "change-me")));
  CHECK(test::run_command(l, pub, {"XADD", broker::history_key("all"), "0-*", "id", "x"})->str ==
        "0-1");
  auto o = test::broker_opts(server.url());
  o.command_timeout = 300ms;
  redis::client anonymous(l, o);
  auto r = test::run_command(l, anonymous, {"PING"});
  CHECK((!r.ok() || r->is_error()));  // the default user is off
}

TEST_CASE("acl: a publisher user without +multi +exec still publishes, through the script") {
  test::redis_server server;
  core::loop l;
  auto rules = broker::publisher_acl_rules();
  std::erase_if(rules, [](const std::string& r) { return r == "+multi" || r == "+exec"; });
  set_user(server, std::string(broker::publisher_acl_user), "pub-secret", rules);
  redis::client pc(
      l, test::broker_opts(url_for(server, std::string(broker::publisher_acl_user), "pub-secret")));
  broker::publisher pub(pc);
  redis::subscriber watch(l, test::broker_opts(server.url()));
  std::vector<std::string> frames;
  watch.on_message([&](std::string_view, std::string_view p) { frames.emplace_back(p); });
  watch.subscribe({broker::live_channel("all")});
  REQUIRE(test::run_until(l, [&] { return watch.all_confirmed(); }));

  for (int i = 0; i < 4; ++i) {
    std::optional<core::result<broker::publish_outcome>> out;
    pub.publish(test::make_test_envelope({"all"}), [&](auto r) { out.emplace(std::move(r)); });
    REQUIRE(test::run_until(l, [&] { return out.has_value(); }));
    INFO((out->ok() ? std::string() : out->err().message()));
    REQUIRE(out->ok());
    CHECK(out->value().targets[0].seq == static_cast<std::uint64_t>(i + 1));
  }
  // The first is the script's; the second's MULTI was refused, so its XADD and PUBLISH ran on
  // their own (a counted frame with its entry) and the script's search found the entry; the
  // rest are the script's. Each message once in history, each frame with its own entry.
  REQUIRE(test::run_until(l, [&] { return frames.size() == 4; }));
  test::run_for(l, 50ms);
  REQUIRE(frames.size() == 4);
  int counted = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    auto f = broker::decode_frame(frames[i]);
    REQUIRE_OK(f);
    if (f->seq == 0) ++counted;
    if (f->seq != 0) CHECK(f->seq == i + 1);
  }
  CHECK(counted <= 1);
  CHECK(server.cli("XLEN " + broker::history_key("all")) == "4\n");
}
