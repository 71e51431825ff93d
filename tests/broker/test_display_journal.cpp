#include <bcast/broker/display_journal.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include <filesystem>
#include <fstream>
#include <string>

using namespace bcast;
using mark = broker::display_journal::mark;

namespace {

const std::string first = "01JD5Q8W3V6X4Y2Z0A1B2C3D4E";
const std::string second = "01JD5Q8W3V6X4Y2Z0A1B2C3D4F";
const std::string third = "01JD5Q8W3V6X4Y2Z0A1B2C3D4G";

std::filesystem::path journal_path(const test::temp_dir& dir) {
  return dir.path() / std::string(broker::display_journal_file_name);
}

}  // namespace

TEST_CASE("display journal: what one run marked, the next run reads") {
  test::temp_dir dir;
  {
    auto j = broker::display_journal::open(dir.path());
    REQUIRE_OK(j);
    CHECK(j->status(first) == mark::none);
    REQUIRE(j->started(first).ok());
    REQUIRE(j->shown(first).ok());
    REQUIRE(j->started(second).ok());  // killed while the sinks took it
    // Marks of this run do not change what it sees: they are for the next one.
    CHECK(j->status(first) == mark::none);
  }
  auto next = broker::display_journal::open(dir.path());
  REQUIRE_OK(next);
  CHECK(next->status(first) == mark::shown);
  CHECK(next->status(second) == mark::started);
  CHECK(next->status(third) == mark::none);
}

TEST_CASE("display journal: a recalled message stays recalled, whatever else is marked") {
  test::temp_dir dir;
  {
    auto j = broker::display_journal::open(dir.path());
    REQUIRE_OK(j);
    REQUIRE(j->started(first).ok());
    REQUIRE(j->recalled(first).ok());  // while the sinks took it
    REQUIRE(j->shown(first).ok());
    REQUIRE(j->recalled(second).ok());  // before it came
    REQUIRE(j->started(second).ok());
    CHECK(j->status(first) == mark::none);
  }
  auto next = broker::display_journal::open(dir.path());
  REQUIRE_OK(next);
  CHECK(next->status(first) == mark::recalled);
  CHECK(next->status(second) == mark::recalled);
  CHECK(next->status(third) == mark::none);
}

TEST_CASE("display journal: cleared once a saved position covers it") {
  test::temp_dir dir;
  {
    auto j = broker::display_journal::open(dir.path());
    REQUIRE_OK(j);
    REQUIRE(j->started(first).ok());
    REQUIRE(j->shown(first).ok());
  }
  auto j = broker::display_journal::open(dir.path());
  REQUIRE_OK(j);
  CHECK(j->status(first) == mark::shown);
  REQUIRE(j->clear().ok());
  CHECK(j->status(first) == mark::none);
  CHECK(std::filesystem::file_size(journal_path(dir)) == 0);
  REQUIRE(j->started(third).ok());  // appends after the truncation, no hole of zeros before it
  CHECK(std::filesystem::file_size(journal_path(dir)) == third.size() + 2);
  auto reopened = broker::display_journal::open(dir.path());
  REQUIRE_OK(reopened);
  CHECK(reopened->status(first) == mark::none);
  CHECK(reopened->status(third) == mark::started);
}

TEST_CASE("display journal: a torn last line is ignored, the whole marks before it are kept") {
  test::temp_dir dir;
  { std::ofstream(journal_path(dir)) << "+" << first << "\n=" << first << "\n+" << second.substr(0, 9); }
  auto j = broker::display_journal::open(dir.path());
  REQUIRE_OK(j);
  CHECK(j->status(first) == mark::shown);
  CHECK(j->status(second) == mark::none);
}

TEST_CASE("display journal: a state dir that cannot hold it is a clear error") {
  test::temp_dir dir;
  auto j = broker::display_journal::open(dir.path() / "missing");
  REQUIRE_FALSE(j.ok());
  CHECK(j.err().message().find("cannot open") != std::string::npos);
}

TEST_CASE("display journal: none() marks nothing and never fails") {
  auto j = broker::display_journal::none();
  CHECK(j.started(first).ok());
  CHECK(j.shown(first).ok());
  CHECK(j.status(first) == mark::none);
  CHECK(j.clear().ok());
}
