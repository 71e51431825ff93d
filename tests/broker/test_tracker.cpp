// The merge logic alone, against a fake feed that answers history reads as Redis would.

#include <bcast/broker/tracker.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include <map>
#include <string>
#include <variant>
#include <vector>

using namespace bcast;
using broker::entry;
using broker::tracker_event;

namespace {

std::string sid(std::uint64_t seq) {
  return std::to_string(1000 + seq) + "-0";
}

entry make_entry(const std::string& target, std::uint64_t seq, int message) {
  return entry{target, seq, sid(seq), test::message_id(message),
               "{\"n\":" + std::to_string(message) + "}"};
}

// History per target, answering fetch requests the way the driver's XRANGE/XREVRANGE would.
struct fake_feed {
  std::map<std::string, std::vector<entry>> history;
  std::map<std::string, std::uint64_t> head;

  void append(const entry& e) {
    history[e.target].push_back(e);
    head[e.target] = e.seq;
  }
  void trim_through(const std::string& target, std::uint64_t seq) {
    auto& h = history[target];
    std::erase_if(h, [&](const entry& e) { return e.seq <= seq; });
  }

  broker::history_reply answer(const broker::fetch_request& req) {
    broker::history_reply r;
    r.head_seq = head[req.target];
    const auto& h = history[req.target];
    if (req.kind == broker::fetch_kind::head) {
      if (!h.empty()) r.entries.push_back(h.back());
      return r;
    }
    const auto after = broker::stream_id::parse(req.after).value();
    for (const auto& e : h) {
      if (*broker::stream_id::parse(e.stream_id) > after && r.entries.size() < req.count)
        r.entries.push_back(e);
    }
    return r;
  }
};

struct harness {
  broker::tracker t;
  fake_feed feed;
  std::vector<tracker_event> out;
  std::vector<broker::fetch_request> pending_fetches;
  std::vector<std::string> delivered;  // "target/seq/message"
  std::vector<std::string> duplicates;
  std::vector<broker::gap_event> gaps;
  std::vector<std::string> went_live;

  explicit harness(broker::tracker_settings s = {}) : t(s) {}

  // Sorts the effects; fetches are kept to be answered when the test says so.
  void collect() {
    auto batch = std::move(out);
    out.clear();
    for (auto& ev : batch) {
      if (auto* d = std::get_if<broker::deliver_event>(&ev)) {
        delivered.push_back(d->e.target + "/" + std::to_string(d->e.seq) + "/" +
                            d->e.message_id.substr(22));
      } else if (auto* dup = std::get_if<broker::duplicate_event>(&ev)) {
        duplicates.push_back(dup->e.target + "/" + std::to_string(dup->e.seq));
      } else if (auto* g = std::get_if<broker::gap_event>(&ev)) {
        gaps.push_back(*g);
      } else if (auto* f = std::get_if<broker::fetch_request>(&ev)) {
        pending_fetches.push_back(*f);
      } else if (auto* l = std::get_if<broker::live_event>(&ev)) {
        went_live.push_back(l->target);
      }
    }
  }

  void start(const std::string& target) {
    t.start(target, out);
    collect();
  }
  void live(const entry& e) {
    t.on_live(e, out);
    collect();
  }
  // Answers every outstanding fetch, and the ones those lead to, until none is left.
  void answer_all() {
    while (!pending_fetches.empty()) answer_one();
  }
  void answer_one() {
    auto req = pending_fetches.front();
    pending_fetches.erase(pending_fetches.begin());
    t.on_history(req, feed.answer(req), out);
    collect();
  }
};

}  // namespace

TEST_CASE(
    "tracker: a fresh channel starts at the newest entry, then hands on live messages in order") {
  harness h;
  for (int i = 1; i <= 3; ++i) h.feed.append(make_entry("all", i, i));
  h.t.add_channel("all");
  h.start("all");
  REQUIRE(h.pending_fetches.size() == 1);
  CHECK(h.pending_fetches[0].kind == broker::fetch_kind::head);
  h.answer_all();
  CHECK(h.delivered.empty());  // the backlog of a new store is not shown
  CHECK(h.went_live == std::vector<std::string>{"all"});
  CHECK(h.t.position_of("all") == broker::position{3, sid(3)});

  h.live(make_entry("all", 4, 4));
  h.live(make_entry("all", 5, 5));
  CHECK(h.delivered == std::vector<std::string>{"all/4/0004", "all/5/0005"});
  CHECK(h.t.all_live());
}

TEST_CASE("tracker: fresh_start earliest hands on the whole history") {
  broker::tracker_settings s;
  s.fresh_start = broker::fresh_start::earliest;
  harness h(s);
  for (int i = 1; i <= 3; ++i) h.feed.append(make_entry("all", i, i));
  h.t.add_channel("all");
  h.start("all");
  h.answer_all();
  CHECK(h.delivered == std::vector<std::string>{"all/1/0001", "all/2/0002", "all/3/0003"});
}

TEST_CASE("tracker: out-of-order live messages and history overlap merge in order, once") {
  broker::tracker_settings s;
  s.page_size = 2;
  harness h(s);
  for (int i = 1; i <= 6; ++i) h.feed.append(make_entry("all", i, i));
  h.t.add_channel("all", broker::position{2, sid(2)});
  h.start("all");
  // While history is read, live messages arrive, some already in history, one twice, out of order.
  h.live(make_entry("all", 7, 7));
  h.live(make_entry("all", 5, 5));
  h.live(make_entry("all", 6, 6));
  h.live(make_entry("all", 7, 7));
  h.feed.append(make_entry("all", 7, 7));
  CHECK(h.delivered.empty());
  CHECK(h.t.buffered("all") == 3);
  h.answer_all();
  CHECK(h.delivered == std::vector<std::string>{"all/3/0003", "all/4/0004", "all/5/0005",
                                                "all/6/0006", "all/7/0007"});
  CHECK(h.gaps.empty());
  CHECK(h.went_live == std::vector<std::string>{"all"});
  CHECK(h.t.buffered("all") == 0);
  h.live(make_entry("all", 7, 7));  // a late echo
  CHECK(h.delivered.size() == 5);
}

TEST_CASE("tracker: one message through two channels is handed on once") {
  harness h;
  h.t.add_channel("all", broker::position{0, "0-0"});
  h.t.add_channel("store:s1", broker::position{0, "0-0"});
  h.start("all");
  h.start("store:s1");
  h.answer_all();
  REQUIRE(h.t.all_live());
  h.live(make_entry("all", 1, 1));
  h.live(make_entry("store:s1", 1, 1));  // same message id, other channel
  h.live(make_entry("store:s1", 2, 2));
  CHECK(h.delivered == std::vector<std::string>{"all/1/0001", "store:s1/2/0002"});
  CHECK(h.duplicates == std::vector<std::string>{"store:s1/1"});
  CHECK(h.t.position_of("store:s1")->seq == 2);  // the duplicate still moved the position

  // Restored ids count too (a restart between the two channels).
  harness r;
  r.t.remember(test::message_id(9));
  r.t.add_channel("all", broker::position{0, "0-0"});
  r.start("all");
  r.answer_all();
  r.live(make_entry("all", 1, 9));
  CHECK(r.delivered.empty());
  CHECK(r.duplicates.size() == 1);
}

TEST_CASE("tracker: history trimmed past the position is reported as a gap") {
  SECTION("the first entry after the position is further on") {
    harness h;
    for (int i = 1; i <= 10; ++i) h.feed.append(make_entry("all", i, i));
    h.feed.trim_through("all", 6);
    h.t.add_channel("all", broker::position{2, sid(2)});
    h.start("all");
    h.answer_all();
    REQUIRE(h.gaps.size() == 1);
    CHECK(h.gaps[0].target == "all");
    CHECK(h.gaps[0].from == 3);
    CHECK(h.gaps[0].to == 6);
    CHECK(h.gaps[0].kind == broker::gap_kind::trimmed);
    CHECK(h.delivered ==
          std::vector<std::string>{"all/7/0007", "all/8/0008", "all/9/0009", "all/10/0010"});
  }
  SECTION("history is empty but the seq counter moved on") {
    harness h;
    for (int i = 1; i <= 9; ++i) h.feed.append(make_entry("all", i, i));
    h.feed.trim_through("all", 9);
    h.t.add_channel("all", broker::position{2, sid(2)});
    h.start("all");
    h.answer_all();
    REQUIRE(h.gaps.size() == 1);
    CHECK(h.gaps[0].from == 3);
    CHECK(h.gaps[0].to == 9);
    CHECK(h.t.position_of("all")->seq == 9);
    h.live(make_entry("all", 10, 10));
    CHECK(h.delivered == std::vector<std::string>{"all/10/0010"});
  }
}

TEST_CASE("tracker: a live message past a hole reads history for the hole") {
  harness h;
  h.t.add_channel("all", broker::position{0, "0-0"});
  h.start("all");
  h.answer_all();
  for (int i = 1; i <= 7; ++i) h.feed.append(make_entry("all", i, i));
  h.live(make_entry("all", 1, 1));
  h.live(make_entry("all", 4, 4));  // 2 and 3 never came live
  REQUIRE(h.pending_fetches.size() == 1);
  CHECK(h.pending_fetches[0].after == sid(1));
  h.live(make_entry("all", 5, 5));  // waits behind the read
  CHECK(h.delivered == std::vector<std::string>{"all/1/0001"});
  h.answer_all();
  CHECK(h.delivered == std::vector<std::string>{"all/1/0001", "all/2/0002", "all/3/0003",
                                                "all/4/0004", "all/5/0005", "all/6/0006",
                                                "all/7/0007"});
  CHECK(h.gaps.empty());

  SECTION("and reports a gap when history no longer has it") {
    h.feed.append(make_entry("all", 8, 8));
    h.feed.append(make_entry("all", 9, 9));
    h.feed.trim_through("all", 8);
    h.live(make_entry("all", 9, 9));
    h.answer_all();
    REQUIRE(h.gaps.size() == 1);
    CHECK(h.gaps[0].from == 8);
    CHECK(h.gaps[0].to == 8);
    CHECK(h.delivered.back() == "all/9/0009");
  }
}

TEST_CASE("tracker: a seq counter that went backwards (Redis lost its data) restarts the channel") {
  harness h;
  h.t.add_channel("all", broker::position{50, sid(50)});
  for (int i = 1; i <= 3; ++i) h.feed.append(make_entry("all", i, 100 + i));
  h.start("all");
  h.answer_all();
  REQUIRE(h.gaps.size() == 1);
  CHECK(h.gaps[0].kind == broker::gap_kind::reset);
  CHECK(h.gaps[0].from == 51);
  CHECK(h.delivered == std::vector<std::string>{"all/1/0101", "all/2/0102", "all/3/0103"});
  CHECK(h.t.position_of("all")->seq == 3);
}

TEST_CASE("tracker: answers to reads from before a disconnect are ignored") {
  harness h;
  for (int i = 1; i <= 3; ++i) h.feed.append(make_entry("all", i, i));
  h.t.add_channel("all", broker::position{0, "0-0"});
  h.start("all");
  auto stale = h.pending_fetches.front();
  h.pending_fetches.clear();
  h.t.disconnected();
  CHECK_FALSE(h.t.wants(stale));
  h.t.on_history(stale, h.feed.answer(stale), h.out);
  h.collect();
  CHECK(h.delivered.empty());
  h.start("all");
  h.answer_all();
  CHECK(h.delivered.size() == 3);
}

TEST_CASE("tracker: a full live buffer drops entries and reads history once more") {
  broker::tracker_settings s;
  s.max_buffered = 2;
  harness h(s);
  h.t.add_channel("all", broker::position{0, "0-0"});
  h.start("all");
  for (int i = 1; i <= 6; ++i) {
    h.feed.append(make_entry("all", i, i));
    h.live(make_entry("all", i, i));
  }
  CHECK(h.t.buffered("all") == 2);
  // The first read was answered before entries 1..6 existed in this story: it finds nothing.
  auto req = h.pending_fetches.front();
  h.pending_fetches.clear();
  broker::history_reply empty;
  h.t.on_history(req, empty, h.out);
  h.collect();
  REQUIRE(h.pending_fetches.size() == 1);  // because entries were dropped
  h.answer_all();
  CHECK(h.delivered.size() == 6);
  CHECK(h.gaps.empty());
}

TEST_CASE("recent ids: bounded, oldest forgotten first") {
  broker::recent_ids ids(3);
  CHECK(ids.insert("a"));
  CHECK(ids.insert("b"));
  CHECK_FALSE(ids.insert("a"));
  CHECK(ids.insert("c"));
  CHECK(ids.insert("d"));
  CHECK_FALSE(ids.contains("a"));
  CHECK(ids.contains("d"));
  CHECK(ids.newest(2) == std::vector<std::string>{"c", "d"});
  CHECK(ids.size() == 3);
}
