#include <bcast/broker/reminders.hpp>
#include <bcast/message/time.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

using namespace bcast;
using namespace std::chrono_literals;

namespace {

message::envelope must_read(std::string id, std::uint32_t every) {
  message::envelope e;
  e.id = std::move(id);
  e.targets = {"all"};
  e.category = "announcement";
  e.title = "Stok opname malam ini";
  e.body = "Semua toko";
  e.sent_at = "2026-12-03T01:00:00.000Z";
  e.sender = "admin";
  e.require_ack = true;
  e.repeat_every_s = every;
  return e;
}

const message::time_point start = *message::parse_time("2026-12-03T01:00:00.000Z");
const std::string first_id = "01JD5Q8W3V6X4Y2Z0A1B2C3D4E";
const std::string second_id = "01JD5Q8W3V6X4Y2Z0A1B2C3D4F";

}  // namespace

TEST_CASE("reminders: due every interval from the last showing, until forgotten") {
  broker::reminder_book book;
  REQUIRE(book.add(must_read(first_id, 30), start).ok());
  REQUIRE(book.add(must_read(first_id, 30), start + 5s).ok());  // shown again after a crash: once
  CHECK(book.size() == 1);
  CHECK(book.next_due() == start + 30s);

  core::result<void> saved;
  CHECK(book.take_due(start + 29s, saved).empty());
  auto due = book.take_due(start + 31s, saved);
  REQUIRE(due.size() == 1);
  CHECK(due[0].count == 1);
  CHECK(due[0].envelope.id == first_id);
  CHECK(book.next_due() == start + 61s);  // from when it was shown again
  // A store that was off through several intervals shows it once, not once per interval.
  due = book.take_due(start + 300s, saved);
  REQUIRE(due.size() == 1);
  CHECK(due[0].count == 2);

  REQUIRE(book.forget(first_id).ok());
  CHECK(book.size() == 0);
  CHECK(!book.next_due());
}

TEST_CASE(
    "reminders: only a must-read message, at the store's minimum interval, until it expires") {
  broker::reminder_book book;
  auto plain = must_read(first_id, 30);
  plain.require_ack = false;
  REQUIRE(book.add(plain, start).ok());
  auto once = must_read(first_id, 30);
  once.repeat_every_s.reset();
  REQUIRE(book.add(once, start).ok());
  CHECK(book.size() == 0);

  // Signed with a shorter interval than a send may ask for: held to the minimum.
  REQUIRE(book.add(must_read(first_id, 2), start).ok());
  CHECK(book.next_due() == start + std::chrono::seconds(message::min_repeat_every_s));

  auto expiring = must_read(second_id, 60);
  expiring.expires_at = "2026-12-03T01:01:30.000Z";
  REQUIRE(book.add(expiring, start).ok());
  core::result<void> saved;
  CHECK(book.take_due(start + 61s, saved).size() == 2);
  auto due = book.take_due(start + 200s, saved);
  REQUIRE(due.size() == 1);  // the expired one left the book instead
  CHECK(due[0].envelope.id == first_id);
  CHECK(!book.contains(second_id));
}

TEST_CASE("reminders: the book outlives a restart in the state dir") {
  test::temp_dir dir;
  {
    auto book = broker::reminder_book::open(dir.path());
    REQUIRE_OK(book);
    CHECK(book->size() == 0);
    auto e = must_read(first_id, 45);
    e.title = "Harga \"baru\" \xF0\x9F\x9B\x92";
    REQUIRE(book->add(e, start).ok());
    REQUIRE(book->add(must_read(second_id, 20), start).ok());
    core::result<void> saved;
    REQUIRE(book->take_due(start + 21s, saved).size() == 1);
    REQUIRE(saved.ok());
  }
  auto again = broker::reminder_book::open(dir.path());
  REQUIRE_OK(again);
  CHECK(again->size() == 2);
  CHECK(again->next_due() == start + 41s);
  core::result<void> saved;
  auto due = again->take_due(start + 46s, saved);
  REQUIRE(due.size() == 2);
  for (const auto& r : due) {
    if (r.envelope.id == first_id) {
      CHECK(r.count == 1);
      CHECK(r.envelope.title == "Harga \"baru\" \xF0\x9F\x9B\x92");
      CHECK(r.envelope.repeat_every_s == 45u);
    } else {
      CHECK(r.count == 2);
    }
  }
  REQUIRE(again->forget(first_id).ok());
  auto third = broker::reminder_book::open(dir.path());
  REQUIRE_OK(third);
  CHECK(third->size() == 1);
  CHECK(!third->contains(first_id));
}

TEST_CASE("reminders: a damaged file is refused with its path, and the book starts empty") {
  test::temp_dir dir;
  const auto path = dir.path() / std::string(broker::reminders_file_name);
  for (const std::string bad : {"{not json", R"({"reminders":{}})",
                                R"({"reminders":[{"envelope":{},"due_ms":1,"count":0}]})",
                                R"({"reminders":[{"envelope":{"v":1},"due_ms":"x","count":0}]})"}) {
    std::ofstream(path) << bad;
    auto book = broker::reminder_book::open(dir.path());
    REQUIRE(!book);
    CHECK(book.err().detail().find(path.string()) != std::string::npos);
  }
}
