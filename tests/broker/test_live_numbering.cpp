// Counted frames get their seqs: the numbering logic alone (test_catchup.cpp drives it through
// real Redis).

#include <bcast/broker/live_numbering.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include <optional>
#include <string>
#include <vector>

using namespace bcast;
using broker::entry;
using broker::lookup_request;

namespace {

// Frames hold views: this keeps what they view alive.
struct frames {
  std::vector<std::string> ids, jsons, sids;

  broker::frame counted(int n) { return make(n, 0); }
  broker::frame numbered(int n, std::uint64_t seq) { return make(n, seq); }

 private:
  broker::frame make(int n, std::uint64_t seq) {
    ids.reserve(64);
    jsons.reserve(64);
    sids.reserve(64);
    ids.push_back(test::message_id(n));
    jsons.push_back("{\"n\":" + std::to_string(n) + "}");
    broker::frame f;
    f.seq = seq;
    f.message_id = ids.back();
    f.envelope_json = jsons.back();
    if (seq != 0) {
      sids.push_back("0-" + std::to_string(seq));
      f.stream_id = sids.back();
    }
    return f;
  }
};

std::vector<std::pair<std::uint64_t, std::string>> seqs(const std::vector<entry>& es) {
  std::vector<std::pair<std::uint64_t, std::string>> out;
  for (const auto& e : es) {
    CHECK(e.stream_id == "0-" + std::to_string(e.seq));
    out.emplace_back(e.seq, e.message_id);
  }
  return out;
}

using numbered = std::vector<std::pair<std::uint64_t, std::string>>;

struct numbering {
  broker::live_numbering n;
  frames f;
  std::vector<entry> ready;
  std::vector<lookup_request> ask;
};

}  // namespace

TEST_CASE_METHOD(numbering,
                 "live numbering: after a numbered frame, counted frames are one more each") {
  n.on_frame("all", f.numbered(1, 7), ready, ask);
  n.on_frame("all", f.counted(2), ready, ask);
  n.on_frame("all", f.counted(3), ready, ask);
  CHECK(ask.empty());
  CHECK(seqs(ready) ==
        numbered{{7, test::message_id(1)}, {8, test::message_id(2)}, {9, test::message_id(3)}});

  // A channel counts on its own.
  ready.clear();
  n.on_frame("store:s1", f.numbered(4, 2), ready, ask);
  n.on_frame("all", f.counted(5), ready, ask);
  n.on_frame("store:s1", f.counted(6), ready, ask);
  CHECK(seqs(ready) ==
        numbered{{2, test::message_id(4)}, {10, test::message_id(5)}, {3, test::message_id(6)}});

  // A numbered frame is the truth: the count follows it.
  ready.clear();
  n.on_frame("all", f.numbered(7, 20), ready, ask);
  n.on_frame("all", f.counted(8), ready, ask);
  CHECK(seqs(ready) == numbered{{20, test::message_id(7)}, {21, test::message_id(8)}});
}

TEST_CASE_METHOD(
    numbering, "live numbering: the first counted frames wait for one lookup, then are numbered") {
  n.on_frame("all", f.counted(1), ready, ask);
  n.on_frame("all", f.counted(2), ready, ask);
  n.on_frame("all", f.counted(3), ready, ask);
  CHECK(ready.empty());
  CHECK(n.waiting("all") == 3);
  REQUIRE(ask.size() == 1);  // one lookup, for the first
  CHECK(ask[0].target == "all");
  CHECK(ask[0].message_id == test::message_id(1));
  CHECK(n.wants(ask[0]));

  CHECK_FALSE(n.on_lookup(ask[0], 41, ready));
  CHECK(seqs(ready) ==
        numbered{{41, test::message_id(1)}, {42, test::message_id(2)}, {43, test::message_id(3)}});
  CHECK_FALSE(n.wants(ask[0]));
  ready.clear();
  n.on_frame("all", f.counted(4), ready, ask);
  CHECK(seqs(ready) == numbered{{44, test::message_id(4)}});
  CHECK(ask.size() == 1);

  SECTION("a second answer to the same lookup changes nothing") {
    ready.clear();
    CHECK_FALSE(n.on_lookup(ask[0], 100, ready));
    CHECK(ready.empty());
  }
}

TEST_CASE_METHOD(numbering,
                 "live numbering: a numbered frame while waiting numbers the frames before it") {
  n.on_frame("all", f.counted(1), ready, ask);
  n.on_frame("all", f.counted(2), ready, ask);
  n.on_frame("all", f.numbered(3, 12), ready, ask);
  CHECK(seqs(ready) ==
        numbered{{10, test::message_id(1)}, {11, test::message_id(2)}, {12, test::message_id(3)}});
  ready.clear();
  CHECK_FALSE(n.on_lookup(ask.at(0), 10, ready));  // stale now
  CHECK(ready.empty());
}

TEST_CASE_METHOD(numbering, "live numbering: an undecodable frame still uses up a seq") {
  SECTION("while counting") {
    n.on_frame("all", f.numbered(1, 5), ready, ask);
    n.on_frame("all", std::nullopt, ready, ask);
    n.on_frame("all", f.counted(2), ready, ask);
    CHECK(seqs(ready) == numbered{{5, test::message_id(1)},
                                  {7, test::message_id(2)}});  // the tracker reads 6 from history
  }
  SECTION("while waiting, even as the first: the lookup is for the first it can name") {
    n.on_frame("all", std::nullopt, ready, ask);
    n.on_frame("all", f.counted(1), ready, ask);
    n.on_frame("all", f.counted(2), ready, ask);
    REQUIRE(ask.size() == 1);
    CHECK(ask[0].message_id == test::message_id(1));
    CHECK_FALSE(n.on_lookup(ask[0], 9, ready));
    CHECK(seqs(ready) == numbered{{9, test::message_id(1)}, {10, test::message_id(2)}});
  }
}

TEST_CASE_METHOD(
    numbering,
    "live numbering: a lookup that finds nothing drops the waiting frames and asks again") {
  n.on_frame("all", f.counted(1), ready, ask);
  n.on_frame("all", f.counted(2), ready, ask);
  CHECK(n.on_lookup(ask.at(0), std::nullopt, ready));  // dropped: history has them
  CHECK(ready.empty());
  CHECK(n.waiting("all") == 0);
  n.on_frame("all", f.counted(3), ready, ask);
  REQUIRE(ask.size() == 2);
  CHECK(ask[1].message_id == test::message_id(3));
  CHECK_FALSE(n.on_lookup(ask[1], 30, ready));
  CHECK(seqs(ready) == numbered{{30, test::message_id(3)}});

  SECTION("a seq that cannot be (the first would be 0) counts as not found") {
    n.reset();
    ready.clear();
    n.on_frame("all", std::nullopt, ready, ask);
    n.on_frame("all", f.counted(4), ready, ask);
    CHECK(n.on_lookup(ask.back(), 1, ready));
    CHECK(ready.empty());
  }
}

TEST_CASE_METHOD(numbering,
                 "live numbering: a lost subscription forgets the count and any lookup") {
  n.on_frame("all", f.numbered(1, 5), ready, ask);
  n.on_frame("store:s1", f.counted(2), ready, ask);
  REQUIRE(ask.size() == 1);
  n.reset();
  CHECK_FALSE(n.wants(ask[0]));
  CHECK(n.waiting("store:s1") == 0);
  ready.clear();
  n.on_frame("all", f.counted(3), ready, ask);  // 6 would be a guess: it asks instead
  CHECK(ready.empty());
  CHECK(ask.size() == 2);
  CHECK_FALSE(n.on_lookup(ask[0], 9, ready));
  CHECK(ready.empty());
}
