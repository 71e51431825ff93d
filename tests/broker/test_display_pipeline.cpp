// The exactly-once display pipeline without a process or Redis: a tracker fed by hand as the
// catch-up driver would feed it, sinks that keep what they are given, receipts kept in a list, and
// a temp state dir. A kill is a copy of the state dir taken while a sink takes a message: what a
// SIGKILL at that moment leaves on disk. Head office signs what it publishes; the store trusts its
// key, and what anyone else writes is rejected.

#include <bcast/broker/display_journal.hpp>
#include <bcast/broker/display_pipeline.hpp>
#include <bcast/broker/store_state.hpp>
#include <bcast/broker/tracker.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/lifecycle.hpp>
#include <bcast/sinks/sink_set.hpp>
#include <bcast/trust/keys.hpp>
#include <bcast/trust/signature.hpp>
#include <bcast/trust/store_policy.hpp>

#include "broker_helpers.hpp"

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <support/assert_ok.hpp>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

using namespace bcast;
using broker::receipt_state;
using sinks::outcome;

namespace {

const std::vector<std::string> channels{"all", "store:s1"};

const trust::signing_key& head_office_key() {
  static const auto key = trust::signing_key::generate().value();
  return key;
}

message::envelope signed_by(const trust::signing_key& key, message::envelope e) {
  REQUIRE_OK(trust::sign(key, e));
  return e;
}

// Store s1's policy: head office's key, nothing unsigned.
trust::store_policy trusting_head_office(bool allow_unsigned = false) {
  return trust::store_policy(trust::keyring({head_office_key().public_half()}), allow_unsigned,
                             channels);
}

// A sink that records what it is given and reports only when the test says so. `kept`, when
// given, is what a sink that keeps what it showed has (the jsonl sink's file): it outlives the
// run, and has_shown() answers from it. Without it the sink is a popup that cannot tell.
class test_sink final : public sinks::sink {
 public:
  test_sink(core::loop& l, std::string name, std::set<std::string>* kept = nullptr)
      : loop_(l), name_(std::move(name)), kept_(kept) {}

  const std::string& name() const noexcept override { return name_; }
  void show(const message::envelope& e, sinks::reporter report) override {
    shown.push_back(e.id);
    if (kept_) kept_->insert(e.id);
    reporters_.emplace(e.id, std::move(report));
    if (on_show) on_show(e);
  }
  void close(std::function<void()> done) override {
    if (done) loop_.defer(std::move(done));
  }
  std::size_t pending() const noexcept override { return 0; }
  bool has_shown(const message::envelope& e) const override {
    return kept_ && kept_->count(e.id) != 0;
  }
  void recall(const message::envelope& by, std::string_view id) override {
    recalls.emplace_back(by.id, id);
    if (on_recall) on_recall(by, id);
  }

  void report(const std::string& id, outcome kind, std::string reason = {}) {
    REQUIRE(reporters_.count(id) == 1);
    reporters_.at(id)(sinks::outcome_event{kind, name_, std::move(reason)});
  }

  std::vector<std::string> shown;  // message ids, in the order given
  std::function<void(const message::envelope&)> on_show;
  std::vector<std::pair<std::string, std::string>> recalls;  // (by, recalled id), in order
  std::function<void(const message::envelope&, std::string_view)> on_recall;

 private:
  core::loop& loop_;
  std::string name_;
  std::set<std::string>* kept_;
  std::map<std::string, sinks::reporter> reporters_;
};

struct receipt_list final : broker::receipt_recorder {
  std::vector<std::pair<std::string, receipt_state>> receipts;
  std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t>> gaps;

  void record(std::string_view id, receipt_state s) override { receipts.emplace_back(id, s); }
  void record_gap(std::string_view target, std::uint64_t from, std::uint64_t to) override {
    gaps.emplace_back(target, from, to);
  }
  std::vector<receipt_state> of(const std::string& id) const {
    std::vector<receipt_state> out;
    for (const auto& [m, s] : receipts) {
      if (m == id) out.push_back(s);
    }
    return out;
  }
};

// Each channel's history, as Redis holds it, shared by every run of the store. An entry's stream
// id is "<seq>-0", so a read after a stream id starts after the seq it names.
struct histories {
  std::map<std::string, std::map<std::uint64_t, broker::entry>> by_seq;
  std::map<std::string, std::uint64_t> head;

  // What head office publishes: `e` signed with its key.
  broker::entry append(const std::string& target, const message::envelope& e) {
    return append_as_is(target, signed_by(head_office_key(), e));
  }
  // What anyone who can write to Redis can add: `e` as it is, signed or not.
  broker::entry append_as_is(const std::string& target, const message::envelope& e) {
    const auto seq = ++head[target];
    return by_seq[target][seq] = {target, seq, std::to_string(seq) + "-0", e.id,
                                  message::encode(e)};
  }
  void trim_through(const std::string& target, std::uint64_t seq) {
    auto& h = by_seq[target];
    h.erase(h.begin(), h.upper_bound(seq));
  }
  // Range reads only: every run here starts from a saved position.
  broker::history_reply answer(const broker::fetch_request& req) {
    REQUIRE(req.kind == broker::fetch_kind::range);
    broker::history_reply r;
    r.head_seq = head[req.target];
    const auto& h = by_seq[req.target];
    for (auto it = h.upper_bound(broker::stream_id::parse(req.after).value().ms);
         it != h.end() && r.entries.size() < req.count; ++it) {
      r.entries.push_back(it->second);
    }
    return r;
  }
};

// What one test works with: a state dir, a loop, the channels' histories, and the file of the
// sink that keeps what it showed.
struct fixture {
  test::temp_dir dir;
  core::loop l;
  histories h;
  std::set<std::string> kept;
};

broker::store_state from_the_start() {
  broker::store_state s;
  for (const auto& c : channels) s.channels[c] = broker::position{};
  return s;
}

// One run of store s1: the pipeline with a sink that keeps what it showed (first) and a popup
// (second), driven by a tracker on `all` and `store:s1` as catchup_driver drives it.
struct store_run {
  core::loop& loop;
  receipt_list receipts;
  test_sink* jsonl;  // keeps what it showed
  test_sink* popup;  // keeps it too when given a set
  broker::display_pipeline pipeline;
  broker::tracker tracker;
  std::vector<broker::tracker_event> events;
  std::map<std::string, broker::fetch_request> reads;  // waiting for an answer, by channel
  int changes = 0;
  std::optional<core::result<void>> last_checkpoint;

  store_run(core::loop& l, const std::filesystem::path& dir, std::set<std::string>& kept,
            std::set<std::string>* popup_kept = nullptr,
            trust::store_policy policy = trusting_head_office())
      : loop(l),
        pipeline({"s1", dir}, std::move(policy), make_sinks(l, kept, popup_kept), receipts) {
    pipeline.on_change([this] { ++changes; });
  }

  std::unique_ptr<sinks::sink_set> make_sinks(core::loop& l, std::set<std::string>& kept,
                                              std::set<std::string>* popup_kept) {
    auto set = std::make_unique<sinks::sink_set>(l);
    auto k = std::make_unique<test_sink>(l, "jsonl", &kept);
    auto p = std::make_unique<test_sink>(l, "popup", popup_kept);
    jsonl = k.get();
    popup = p.get();
    set->add(std::move(k));
    set->add(std::move(p));
    return set;
  }

  // Opens the state dir and subscribes every channel from the position it held.
  void start() {
    auto opened = pipeline.open_state();
    REQUIRE_OK(opened);
    start_from(opened->position);
  }
  void start_from(const broker::store_state& s) {
    broker::restore(tracker, channels, s);
    for (const auto& c : channels) tracker.start(c, events);
    process();
  }
  // From seq 0 of every channel, through all of `h`, to live.
  void catch_up(histories& h) {
    start_from(from_the_start());
    for (const auto& c : channels) answer(c, h);
  }
  // The history read of `channel` is answered (until it is live).
  void answer(const std::string& channel, histories& h) {
    while (reads.count(channel)) {
      auto req = reads.at(channel);
      reads.erase(channel);
      tracker.on_history(req, h.answer(req), events);
      process();
    }
  }
  // Live messages arriving together, as one batch of frames.
  void live(const std::vector<broker::entry>& entries) {
    for (const auto& e : entries) tracker.on_live(e, events);
    process();
  }

  // catchup_driver::process, with subscriberd's checkpoint on progress and on going live.
  void process() {
    bool moved = false;
    while (!events.empty()) {
      auto batch = std::move(events);
      events.clear();
      for (auto& ev : batch) {
        if (auto* d = std::get_if<broker::deliver_event>(&ev)) {
          moved = true;
          pipeline.on_message(message::decode(d->e.envelope_json).value());
        } else if (std::holds_alternative<broker::duplicate_event>(ev)) {
          moved = true;
        } else if (auto* g = std::get_if<broker::gap_event>(&ev)) {
          moved = true;
          pipeline.on_gap(*g);
        } else if (auto* r = std::get_if<broker::fetch_request>(&ev)) {
          reads.insert_or_assign(r->target, *r);
        } else if (std::holds_alternative<broker::live_event>(ev)) {
          moved = true;
        }
      }
    }
    if (moved) last_checkpoint = pipeline.checkpoint(tracker);
  }
};

std::uintmax_t journal_size(const std::filesystem::path& dir) {
  return std::filesystem::file_size(dir / std::string(broker::display_journal_file_name));
}

broker::store_state saved_position(const std::filesystem::path& dir) {
  auto loaded = broker::load_store_state(dir);
  REQUIRE_OK(loaded);
  REQUIRE(loaded->has_value());
  return **loaded;
}

}  // namespace

TEST_CASE_METHOD(
    fixture, "display pipeline: nothing is shown while catching up, then all of it in id order") {
  // Sent in this order, each to one channel: per channel the order differs from the global one.
  std::vector<message::envelope> sent;
  for (int i = 0; i < 4; ++i) sent.push_back(test::make_test_envelope({"all"}));
  h.append("store:s1", sent[1]);
  h.append("store:s1", sent[3]);
  h.append("all", sent[0]);
  h.append("all", sent[2]);

  store_run s(l, dir.path(), kept);
  s.start_from(from_the_start());
  s.answer("store:s1", h);
  CHECK(s.popup->shown.empty());
  CHECK(s.jsonl->shown.empty());
  CHECK(s.pipeline.waiting() == 2);
  CHECK(s.pipeline.counters().received == 2);
  CHECK(s.receipts.of(sent[1].id) == std::vector{receipt_state::delivered});
  CHECK_FALSE(std::filesystem::exists(broker::state_file_path(dir.path())));

  s.answer("all", h);
  const std::vector<std::string> in_id_order{sent[0].id, sent[1].id, sent[2].id, sent[3].id};
  CHECK(s.popup->shown == in_id_order);
  CHECK(s.jsonl->shown == in_id_order);
  CHECK(s.pipeline.waiting() == 0);
  CHECK(s.pipeline.counters().shown == 4);
  REQUIRE(s.last_checkpoint);
  CHECK(s.last_checkpoint->ok());

  // Live messages arriving in one batch are shown in id order as well.
  const auto later = test::make_test_envelope({"all"});
  const auto earlier_id = later.id;
  const auto last = test::make_test_envelope({"all"});
  s.live({h.append("store:s1", last), h.append("all", later)});
  REQUIRE(s.popup->shown.size() == 6);
  CHECK(s.popup->shown[4] == earlier_id);
  CHECK(s.popup->shown[5] == last.id);
}

TEST_CASE_METHOD(
    fixture, "display pipeline: a message that expired before it arrived is recorded, not shown") {
  auto expired = test::make_test_envelope({"all"});
  expired.expires_at = "2020-01-01T00:00:00.000Z";
  auto current = test::make_test_envelope({"all"});
  current.expires_at = "2099-01-01T00:00:00.000Z";
  h.append("all", expired);
  h.append("all", current);

  store_run s(l, dir.path(), kept);
  s.catch_up(h);
  CHECK(s.popup->shown == std::vector{current.id});
  CHECK(s.receipts.of(expired.id) == std::vector{receipt_state::delivered, receipt_state::expired});
  CHECK(s.receipts.of(current.id) == std::vector{receipt_state::delivered});
  CHECK(s.pipeline.counters().received == 2);
  CHECK(s.pipeline.counters().expired == 1);
  CHECK(s.pipeline.counters().shown == 1);
}

TEST_CASE_METHOD(fixture, "display pipeline: the sinks' outcomes become receipts") {
  const auto m = test::make_test_envelope({"all"});
  h.append("all", m);
  store_run s(l, dir.path(), kept);
  s.catch_up(h);
  REQUIRE(s.popup->shown == std::vector{m.id});
  const auto changes = s.changes;

  s.jsonl->report(m.id, outcome::displayed);
  s.popup->report(m.id, outcome::displayed);
  s.popup->report(m.id, outcome::acknowledged);
  CHECK(s.receipts.of(m.id) == std::vector{receipt_state::delivered, receipt_state::displayed,
                                           receipt_state::displayed, receipt_state::acknowledged});
  CHECK(s.pipeline.counters().failed == 0);
  CHECK(s.changes == changes);

  s.popup->report(m.id, outcome::failed, "no display");
  CHECK(s.receipts.of(m.id).back() == receipt_state::failed);
  CHECK(s.pipeline.counters().failed == 1);
  CHECK(s.changes == changes + 1);  // the status shows the failure at once
}

TEST_CASE_METHOD(
    fixture, "display pipeline: the position is saved after the batch, and the journal emptied") {
  const auto m1 = test::make_test_envelope({"all"});
  const auto m2 = test::make_test_envelope({"store:s1"});
  h.append("all", m1);
  h.append("store:s1", m2);

  store_run s(l, dir.path(), kept);
  std::vector<std::uintmax_t> journal_while_showing;
  s.popup->on_show = [&](const message::envelope&) {
    journal_while_showing.push_back(journal_size(dir.path()));
    CHECK_FALSE(std::filesystem::exists(broker::state_file_path(dir.path())));
  };
  REQUIRE(s.pipeline.open_state().ok());
  s.catch_up(h);
  REQUIRE(s.popup->shown.size() == 2);
  // While the sinks took each message, its start mark was in the journal ("+ID\n"), and the
  // earlier message's end mark ("=ID\n") too.
  REQUIRE(journal_while_showing.size() == 2);
  CHECK(journal_while_showing[0] == m1.id.size() + 2);
  CHECK(journal_while_showing[1] == 3 * (m1.id.size() + 2));
  // Then the position covering both was saved and the journal emptied.
  const auto saved = saved_position(dir.path());
  CHECK(saved.store_id == "s1");
  CHECK(saved.channels.at("all").seq == 1);
  CHECK(saved.channels.at("store:s1").seq == 1);
  CHECK(saved.recent_ids == std::vector{m1.id, m2.id});
  CHECK(journal_size(dir.path()) == 0);
}

TEST_CASE_METHOD(fixture,
                 "display pipeline: after a kill while the sinks took a batch, the next run shows "
                 "nothing twice and loses nothing") {
  test::temp_dir killed;
  const auto at_kill = killed.path() / "state";  // the state dir as the kill left it
  // The popup is the second sink; in the second run of this test it keeps what it showed as well,
  // in a file that survives the kill as the jsonl sink's (`kept`) does.
  std::set<std::string> second_file;
  const bool both_keep = GENERATE(false, true);
  INFO("both sinks can say what they showed: " << both_keep);
  auto* second = both_keep ? &second_file : nullptr;
  const auto m1 = test::make_test_envelope({"all"});
  const auto m2 = test::make_test_envelope({"all"});
  const auto m3 = test::make_test_envelope({"all"});

  // The first run goes live and saves its position; then three messages arrive in one batch, and
  // the kill falls while the popup, the second sink, takes m2.
  store_run first(l, dir.path(), kept, second);
  REQUIRE(first.pipeline.open_state().ok());
  first.catch_up(h);
  REQUIRE(first.last_checkpoint);
  REQUIRE(first.last_checkpoint->ok());
  first.popup->on_show = [&](const message::envelope& e) {
    if (e.id == m2.id) std::filesystem::copy(dir.path(), at_kill);
  };
  first.live({h.append("all", m1), h.append("all", m2), h.append("all", m3)});
  REQUIRE(std::filesystem::exists(at_kill));
  REQUIRE(first.popup->shown == std::vector{m1.id, m2.id, m3.id});

  store_run next(l, at_kill, kept, second);
  next.start();
  CHECK(next.tracker.position_of("all")->seq == 0);  // the position saved before the batch
  for (const auto& c : channels) next.answer(c, h);
  // m1 was marked shown: shown nowhere again, and its receipt still says displayed.
  CHECK(next.receipts.of(m1.id) == std::vector{receipt_state::delivered, receipt_state::displayed});
  // m2 was only marked started: shown by the sinks that cannot say they have it.
  CHECK(next.jsonl->shown == std::vector{m3.id});
  if (both_keep) {
    CHECK(next.popup->shown == std::vector{m3.id});
    CHECK(next.receipts.of(m2.id) ==
          std::vector{receipt_state::delivered, receipt_state::displayed});
  } else {
    CHECK(next.popup->shown == std::vector{m2.id, m3.id});
    CHECK(next.receipts.of(m2.id) == std::vector{receipt_state::delivered});
    next.popup->report(m2.id, outcome::displayed);
    CHECK(next.receipts.of(m2.id).back() == receipt_state::displayed);
  }
  CHECK(next.pipeline.counters().shown == 1);  // m3: the run that started m2 counted it
  REQUIRE(next.last_checkpoint);
  CHECK(next.last_checkpoint->ok());
  CHECK(saved_position(at_kill).channels.at("all").seq == 3);
  CHECK(journal_size(at_kill) == 0);
}

TEST_CASE_METHOD(fixture, "display pipeline: a state dir that cannot be written") {
  const auto m = test::make_test_envelope({"all"});
  h.append("all", m);

  SECTION("it cannot be created: the store does not start") {
    std::ofstream(dir.file("not-a-dir")) << "a file";
    store_run s(l, dir.path() / "not-a-dir" / "state", kept);
    auto opened = s.pipeline.open_state();
    REQUIRE_FALSE(opened.ok());
    CHECK(test::contains(opened.err().message(), "not-a-dir"));
  }

  SECTION("no journal: the store runs without it, every message still shown once") {
    std::filesystem::create_directories(dir.path() /
                                        std::string(broker::display_journal_file_name));
    store_run s(l, dir.path(), kept);
    auto opened = s.pipeline.open_state();
    REQUIRE_OK(opened);
    CHECK(opened->journal_problem);
    CHECK_FALSE(opened->position_problem);
    s.catch_up(h);
    CHECK(s.popup->shown == std::vector{m.id});
    REQUIRE(s.last_checkpoint);
    CHECK(s.last_checkpoint->ok());
    CHECK(saved_position(dir.path()).channels.at("all").seq == 1);
  }

  SECTION("the position cannot be saved: shown anyway, and the journal keeps it from a repeat") {
    // rename(2) cannot replace a directory that holds something with the new position file.
    std::filesystem::create_directories(broker::state_file_path(dir.path()) / "in-the-way");
    store_run s(l, dir.path(), kept);
    REQUIRE(s.pipeline.open_state().ok());
    s.start_from(from_the_start());
    s.answer("store:s1", h);
    const auto changes = s.changes;
    s.answer("all", h);
    CHECK(s.popup->shown == std::vector{m.id});
    REQUIRE(s.last_checkpoint);
    REQUIRE_FALSE(s.last_checkpoint->ok());
    CHECK(test::contains(s.last_checkpoint->err().detail(),
                         "cannot save the position in " + dir.path().string()));
    CHECK(s.changes > changes);
    // Not emptied: a restart that gets the message again skips it.
    auto journal = broker::display_journal::open(dir.path());
    REQUIRE_OK(journal);
    CHECK(journal->status(m.id) == broker::display_journal::mark::shown);
  }
}

TEST_CASE_METHOD(
    fixture,
    "display pipeline: history lost to the store is counted, and a trimmed stretch recorded") {
  std::vector<message::envelope> sent;
  for (int i = 0; i < 3; ++i) {
    sent.push_back(test::make_test_envelope({"all"}));
    h.append("all", sent.back());
  }
  h.trim_through("all", 2);
  store_run s(l, dir.path(), kept);
  s.catch_up(h);
  CHECK(s.popup->shown == std::vector{sent[2].id});
  CHECK(s.pipeline.counters().gaps == 1);
  CHECK(s.receipts.gaps ==
        std::vector{std::tuple<std::string, std::uint64_t, std::uint64_t>{"all", 1, 2}});

  // Seqs that went backwards (Redis lost its data) are counted, with no range to record.
  const auto changes = s.changes;
  s.pipeline.on_gap(broker::gap_event{"all", 4, 0, broker::gap_kind::reset});
  CHECK(s.pipeline.counters().gaps == 2);
  CHECK(s.receipts.gaps.size() == 1);
  CHECK(s.changes == changes + 1);
}

namespace {

// The lines the pipeline writes about rejected messages.
struct kept_log {
  std::vector<std::string> lines;
  core::log::writer writer() {
    return [this](core::log::level, std::string_view text) { lines.emplace_back(text); };
  }
  bool has(const std::string& text) const {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return test::contains(l, text); });
  }
};

}  // namespace

TEST_CASE_METHOD(fixture,
                 "display pipeline: only what head office signed for this store is shown; anything "
                 "else is rejected once, with a receipt and the reason, and passed") {
  const auto stranger = trust::signing_key::generate().value();
  const auto before = test::make_test_envelope({"all"}, "before");
  const auto unsigned_message = test::make_test_envelope({"all"}, "unsigned");
  const auto foreign = signed_by(stranger, test::make_test_envelope({"all"}, "another key"));
  // Genuine, then one byte of a signed field changed.
  auto altered_title = signed_by(head_office_key(), test::make_test_envelope({"all"}, "Rp 1000"));
  altered_title.title = "Rp 9000";
  auto altered_body = signed_by(head_office_key(), test::make_test_envelope({"all"}, "body"));
  altered_body.body.back() = '!';
  auto altered_targets =
      signed_by(head_office_key(), test::make_test_envelope({"store:s9"}, "targets"));
  altered_targets.targets = {"store:s1"};
  auto expiring = test::make_test_envelope({"all"}, "expiry");
  expiring.expires_at = "2099-01-01T00:00:00.000Z";
  auto altered_expiry = signed_by(head_office_key(), expiring);
  altered_expiry.expires_at = "2019-01-01T00:00:00.000Z";  // and so expired: rejected comes first
  // Genuine, but for another store, copied into `all`.
  const auto elsewhere =
      signed_by(head_office_key(), test::make_test_envelope({"store:s9"}, "for s9"));
  const auto after = test::make_test_envelope({"store:s1"}, "after");

  h.append("all", before);
  using forged = std::initializer_list<const message::envelope*>;
  for (const auto* e :
       forged{&unsigned_message, &foreign, &altered_title, &altered_expiry, &elsewhere})
    h.append_as_is("all", *e);
  for (const auto* e : forged{&altered_body, &altered_targets, &foreign})
    h.append_as_is("store:s1", *e);
  h.append("store:s1", after);

  store_run s(l, dir.path(), kept);
  kept_log log;
  s.pipeline.limit_rejection_log({100, std::chrono::hours(1)}, log.writer());
  s.catch_up(h);
  CHECK(s.popup->shown == std::vector{before.id, after.id});
  CHECK(s.jsonl->shown == std::vector{before.id, after.id});
  const std::string mismatch = "its signature does not match its content";
  const std::vector<std::pair<std::string, std::string>> rejected{
      {unsigned_message.id, "it is not signed"},
      {foreign.id, "it is signed by a key this store does not trust (key id " + stranger.id()},
      {altered_title.id, mismatch},
      {altered_body.id, mismatch},
      {altered_targets.id, mismatch},
      {altered_expiry.id, mismatch},
      {elsewhere.id, "it is not addressed to this store (its targets: store:s9)"}};
  for (const auto& [id, why] : rejected) {
    INFO(id << ": " << why);
    CHECK(s.receipts.of(id) == std::vector{receipt_state::rejected});
    CHECK(log.has("message " + id + " rejected: " + why));
  }
  // `foreign` came on both channels: verified, rejected and logged once.
  CHECK(log.lines.size() == rejected.size());
  CHECK(s.receipts.of(before.id) == std::vector{receipt_state::delivered});
  CHECK(s.pipeline.counters().received == 9);
  CHECK(s.pipeline.counters().rejected == 7);
  CHECK(s.pipeline.counters().shown == 2);
  CHECK(s.pipeline.counters().expired == 0);
  // The position is past every one of them.
  CHECK(saved_position(dir.path()).channels.at("all").seq == 6);
  CHECK(saved_position(dir.path()).channels.at("store:s1").seq == 4);

  // The next run starts past them: nothing is read again, so nothing is rejected again.
  store_run next(l, dir.path(), kept);
  next.start();
  for (const auto& c : channels) next.answer(c, h);
  CHECK(next.pipeline.counters().received == 0);
  CHECK(next.receipts.receipts.empty());

  // Live alike: a forgery is rejected, and the next genuine message shown.
  auto live_forgery = signed_by(head_office_key(), test::make_test_envelope({"all"}, "live"));
  live_forgery.title = "live!";
  const auto live_genuine = test::make_test_envelope({"all"}, "live genuine");
  next.live({h.append_as_is("all", live_forgery)});
  next.live({h.append("all", live_genuine)});
  CHECK(next.popup->shown == std::vector{live_genuine.id});
  CHECK(next.receipts.of(live_forgery.id) == std::vector{receipt_state::rejected});
  CHECK(next.pipeline.counters().rejected == 1);
  CHECK(saved_position(dir.path()).channels.at("all").seq == 8);
}

TEST_CASE_METHOD(fixture,
                 "display pipeline: the log names at most N rejected messages a window, then how "
                 "many more") {
  store_run s(l, dir.path(), kept);
  kept_log log;
  s.pipeline.limit_rejection_log({3, std::chrono::hours(1)}, log.writer());
  s.catch_up(h);
  std::vector<broker::entry> forged;
  for (int i = 0; i < 10; ++i) {
    forged.push_back(
        h.append_as_is("all", test::make_test_envelope({"all"}, "forged " + std::to_string(i))));
  }
  const auto changes = s.changes;
  s.live(forged);
  CHECK(s.popup->shown.empty());
  CHECK(s.pipeline.counters().rejected == 10);
  CHECK(s.changes > changes);  // the status line shows the count at once
  REQUIRE(log.lines.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(log.lines[i] == "message " + forged[i].message_id + " rejected: it is not signed");
  }
  s.pipeline.flush_log();  // the window is not over: nothing yet
  CHECK(log.lines.size() == 3);
  s.pipeline.flush_log(std::chrono::steady_clock::now() + std::chrono::hours(1));
  REQUIRE(log.lines.size() == 4);
  CHECK(log.lines[3] == "... and 7 more rejected messages (the log names at most 3 per 3600 s)");
  s.pipeline.flush_log(std::chrono::steady_clock::now() + std::chrono::hours(3));
  CHECK(log.lines.size() == 4);  // told once

  // A new window names them again; a store that stops tells what it held back at once.
  std::vector<broker::entry> more;
  for (int i = 0; i < 5; ++i)
    more.push_back(h.append_as_is("all", test::make_test_envelope({"all"})));
  s.live(more);
  CHECK(log.lines.size() == 7);
  s.pipeline.finish_log();
  REQUIRE(log.lines.size() == 8);
  CHECK(log.lines[7] == "... and 2 more rejected messages (the log names at most 3 per 3600 s)");
}

TEST_CASE_METHOD(fixture,
                 "display pipeline: allow_unsigned shows unsigned messages, but a signature that "
                 "is there must verify") {
  const auto stranger = trust::signing_key::generate().value();
  const auto plain = test::make_test_envelope({"all"}, "plain");
  const auto foreign = signed_by(stranger, test::make_test_envelope({"all"}, "another key"));
  const auto genuine = test::make_test_envelope({"all"}, "genuine");
  h.append_as_is("all", plain);
  h.append_as_is("all", foreign);
  h.append("all", genuine);
  store_run s(l, dir.path(), kept, nullptr, trusting_head_office(true));
  s.catch_up(h);
  CHECK(s.popup->shown == std::vector{plain.id, genuine.id});
  CHECK(s.receipts.of(foreign.id) == std::vector{receipt_state::rejected});
  CHECK(s.pipeline.counters().rejected == 1);
}

namespace {

// Head office's recall notice for `x`, unsigned (histories::append signs it).
message::envelope recall_of(const message::envelope& x) {
  auto notice =
      message::make_recall_notice(x, test::test_ids(), "admin", std::chrono::system_clock::now());
  REQUIRE_OK(notice);
  return std::move(notice).value();
}

message::envelope correction_of(const message::envelope& x, std::string title) {
  auto y = test::make_test_envelope(x.targets, std::move(title));
  y.supersedes = x.id;
  return y;
}

using recall_list = std::vector<std::pair<std::string, std::string>>;

}  // namespace

TEST_CASE_METHOD(fixture,
                 "display pipeline: a message recalled before the store showed it is never shown") {
  const auto x = test::make_test_envelope({"all"}, "recalled");
  const auto other = test::make_test_envelope({"all"}, "other");
  const auto notice = recall_of(x);
  REQUIRE(x.id < notice.id);

  SECTION("in one catch-up: the message is dropped from the batch") {
    h.append("all", x);
    h.append("all", other);
    h.append("all", notice);
    store_run s(l, dir.path(), kept);
    REQUIRE(s.pipeline.open_state().ok());
    s.catch_up(h);
    CHECK(s.popup->shown == std::vector{other.id});
    CHECK(s.jsonl->shown == std::vector{other.id});
    CHECK(s.popup->recalls.empty());  // nothing of it was ever handed to a sink
    CHECK(s.receipts.of(x.id) == std::vector{receipt_state::delivered, receipt_state::recalled});
    CHECK(s.receipts.of(notice.id).empty());
    CHECK(s.pipeline.counters().received == 3);
    CHECK(s.pipeline.counters().recalled == 1);
    CHECK(s.pipeline.counters().shown == 1);
    CHECK(saved_position(dir.path()).channels.at("all").seq == 3);
  }

  SECTION(
      "the notice comes first, through another channel: the message that follows is not shown") {
    // X's entry in store:s1 was trimmed; the notice went to both of X's targets.
    auto both = test::make_test_envelope({"all", "store:s1"}, "both");
    const auto notice_of_both = recall_of(both);
    h.append("all", both);
    h.append("store:s1", notice_of_both);
    store_run s(l, dir.path(), kept);
    s.start_from(from_the_start());
    s.answer("store:s1", h);
    CHECK(s.pipeline.counters().recalled == 1);
    CHECK(s.popup->recalls == recall_list{{notice_of_both.id, both.id}});  // for all it knows
    s.answer("all", h);
    CHECK(s.popup->shown.empty());
    CHECK(s.receipts.of(both.id) == std::vector{receipt_state::recalled});
    CHECK(s.pipeline.counters().shown == 0);
  }
}

TEST_CASE_METHOD(fixture,
                 "display pipeline: a recall of a message on the screen goes to every sink, once") {
  const auto x = test::make_test_envelope({"all"}, "shown, then recalled");
  store_run s(l, dir.path(), kept);
  REQUIRE(s.pipeline.open_state().ok());
  s.catch_up(h);
  s.live({h.append("all", x)});
  REQUIRE(s.popup->shown == std::vector{x.id});
  s.popup->report(x.id, outcome::displayed);
  const auto changes = s.changes;

  const auto notice = recall_of(x);
  s.live({h.append("all", notice)});
  const recall_list expected{{notice.id, x.id}};
  CHECK(s.popup->recalls == expected);
  CHECK(s.jsonl->recalls == expected);
  CHECK(s.popup->shown == std::vector{x.id});  // the notice is not shown
  CHECK(s.receipts.of(x.id) ==
        std::vector{receipt_state::delivered, receipt_state::displayed, receipt_state::recalled});
  CHECK(s.receipts.of(notice.id).empty());
  CHECK(s.pipeline.counters().recalled == 1);
  CHECK(s.changes > changes);
  CHECK(saved_position(dir.path()).channels.at("all").seq == 2);
}

TEST_CASE_METHOD(fixture,
                 "display pipeline: a notice head office did not sign for this store is rejected, "
                 "and the message stays") {
  const auto stranger = trust::signing_key::generate().value();
  const auto x = test::make_test_envelope({"all"}, "stays");
  h.append("all", x);
  const auto unsigned_notice = recall_of(x);
  const auto foreign_notice = signed_by(stranger, recall_of(x));
  auto elsewhere_notice = recall_of(x);  // genuine, for store s9, copied into `all`
  elsewhere_notice.targets = {"store:s9"};
  elsewhere_notice = signed_by(head_office_key(), elsewhere_notice);
  auto altered_notice = signed_by(head_office_key(), recall_of(test::make_test_envelope({"all"})));
  altered_notice.recalls = x.id;  // another message's genuine notice, pointed at this one
  auto forged_correction = correction_of(x, "forged correction");
  h.append_as_is("all", unsigned_notice);
  h.append_as_is("all", foreign_notice);
  h.append_as_is("all", elsewhere_notice);
  h.append_as_is("all", altered_notice);
  h.append_as_is("all", forged_correction);

  store_run s(l, dir.path(), kept);
  kept_log log;
  s.pipeline.limit_rejection_log({100, std::chrono::hours(1)}, log.writer());
  s.catch_up(h);
  CHECK(s.popup->shown == std::vector{x.id});
  CHECK(s.popup->recalls.empty());
  CHECK(s.receipts.of(x.id) == std::vector{receipt_state::delivered});
  for (const auto* n : std::initializer_list<const message::envelope*>{
           &unsigned_notice, &foreign_notice, &elsewhere_notice, &altered_notice,
           &forged_correction}) {
    CHECK(s.receipts.of(n->id) == std::vector{receipt_state::rejected});
  }
  CHECK(log.has("message " + elsewhere_notice.id +
                " rejected: it is not addressed to this store (its targets: store:s9)"));
  CHECK(s.pipeline.counters().rejected == 5);
  CHECK(s.pipeline.counters().recalled == 0);

  // Live alike, after the message is on the screen.
  auto live_forgery = signed_by(head_office_key(), recall_of(test::make_test_envelope({"all"})));
  live_forgery.recalls = x.id;
  s.live({h.append_as_is("all", live_forgery)});
  CHECK(s.popup->recalls.empty());
  CHECK(s.receipts.of(x.id) == std::vector{receipt_state::delivered});
}

TEST_CASE_METHOD(fixture,
                 "display pipeline: a correction takes the message down and shows in its place") {
  const auto x = test::make_test_envelope({"all"}, "Rp 1000");

  SECTION("the message is on the screen") {
    store_run s(l, dir.path(), kept);
    s.catch_up(h);
    s.live({h.append("all", x)});
    const auto y = correction_of(x, "Rp 9000");
    s.live({h.append("all", y)});
    CHECK(s.popup->recalls == recall_list{{y.id, x.id}});
    CHECK(s.popup->shown == std::vector{x.id, y.id});
    CHECK(s.receipts.of(x.id) == std::vector{receipt_state::delivered, receipt_state::recalled});
    CHECK(s.receipts.of(y.id) == std::vector{receipt_state::delivered});
    CHECK(s.pipeline.counters().recalled == 1);
    CHECK(s.pipeline.counters().shown == 2);
  }

  SECTION("head office's notice came first: the sinks are told once") {
    store_run s(l, dir.path(), kept);
    s.catch_up(h);
    s.live({h.append("all", x)});
    const auto notice = recall_of(x);
    const auto y = correction_of(x, "Rp 9000");
    s.live({h.append("all", notice), h.append("all", y)});
    CHECK(s.popup->recalls == recall_list{{notice.id, x.id}});
    CHECK(s.popup->shown == std::vector{x.id, y.id});
    CHECK(s.pipeline.counters().recalled == 1);
  }

  SECTION("both in one catch-up: only the correction is shown") {
    const auto y = correction_of(x, "Rp 9000");
    h.append("all", x);
    h.append("all", recall_of(x));
    h.append("all", y);
    store_run s(l, dir.path(), kept);
    s.catch_up(h);
    CHECK(s.popup->shown == std::vector{y.id});
    CHECK(s.popup->recalls.empty());
    CHECK(s.receipts.of(x.id) == std::vector{receipt_state::delivered, receipt_state::recalled});
  }
}

TEST_CASE_METHOD(fixture,
                 "display pipeline: after a kill, a recalled message is not shown again by the "
                 "journal's restart path") {
  test::temp_dir killed;
  const auto at_kill = killed.path() / "state";
  const auto x = test::make_test_envelope({"all"}, "recalled while being shown");
  const auto notice = recall_of(x);

  // The kill falls after the sinks took X and the notice took it down again, before the
  // position past X was saved: the state dir holds the old position and a journal with "+X" and
  // "-X". (The notice is handed over while the sinks take X, which no catch-up does, so that
  // the kill can fall in between.)
  store_run first(l, dir.path(), kept);
  REQUIRE(first.pipeline.open_state().ok());
  first.catch_up(h);
  first.popup->on_show = [&](const message::envelope& e) {
    if (e.id == x.id) first.pipeline.on_message(signed_by(head_office_key(), notice));
  };
  first.popup->on_recall = [&](const message::envelope&, std::string_view) {
    std::filesystem::copy(dir.path(), at_kill);
  };
  first.live({h.append("all", x)});
  REQUIRE(std::filesystem::exists(at_kill));
  CHECK(first.popup->recalls == recall_list{{notice.id, x.id}});

  // The next run gets X again, and not the notice (it never reached the history here): the
  // journal keeps X off the screen, and no sink is told again.
  store_run next(l, at_kill, kept);
  next.start();
  for (const auto& c : channels) next.answer(c, h);
  CHECK(next.popup->shown.empty());
  CHECK(next.jsonl->shown.empty());
  CHECK(next.popup->recalls.empty());
  CHECK(next.receipts.of(x.id).empty());
  REQUIRE(next.last_checkpoint);
  CHECK(next.last_checkpoint->ok());
  CHECK(next.pipeline.counters().shown == 0);
}
