#include <bcast/broker/store_state.hpp>
#include <bcast/broker/tracker.hpp>

#include <catch2/catch.hpp>
#include <support/test_support.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using namespace bcast;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

broker::store_state sample() {
  broker::store_state s;
  s.store_id = "s1";
  s.channels["all"] = broker::position{12, "1764151200123-0"};
  s.channels["region:jateng"] = broker::position{3, "1764151200999-4"};
  s.recent_ids = {"01JD5Q8W3V6X4Y2Z0A1B2C3D4E", "01JD5Q8W3V6X4Y2Z0A1B2C3D4F"};
  return s;
}

}  // namespace

TEST_CASE("store state: save and load round trip") {
  test::temp_dir dir;
  const auto state_dir = dir.path() / "state" / "nested";
  auto none = broker::load_store_state(state_dir);
  REQUIRE_OK(none);
  CHECK_FALSE(none->has_value());

  REQUIRE(broker::save_store_state(state_dir, sample()).ok());  // creates the directory
  auto loaded = broker::load_store_state(state_dir);
  REQUIRE_OK(loaded);
  REQUIRE(loaded->has_value());
  CHECK(**loaded == sample());

  struct stat st {};
  REQUIRE(::stat(broker::state_file_path(state_dir).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("store state: a save replaces the file by rename, never writes into it") {
  test::temp_dir dir;
  REQUIRE(broker::save_store_state(dir.path(), sample()).ok());
  const auto file = broker::state_file_path(dir.path());
  const auto before = slurp(file);
  // A second name for the old file: an in-place write would change what it shows too.
  const auto witness = dir.path() / "witness";
  REQUIRE(::link(file.c_str(), witness.c_str()) == 0);

  auto next = sample();
  next.channels["all"].seq = 13;
  REQUIRE(broker::save_store_state(dir.path(), next).ok());
  CHECK(slurp(witness) == before);
  CHECK(slurp(file) != before);
  CHECK(broker::load_store_state(dir.path())->value() == next);
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  CHECK(files == 2);
}

TEST_CASE("store state: a corrupt file is reported, moved aside, and the store starts fresh") {
  test::temp_dir dir;
  const auto file = broker::state_file_path(dir.path());
  for (const std::string& bad :
       {std::string("{\"version\":1,\"channels\":{\"all\":{\"seq\":1"), std::string("[]"),
        std::string("{\"version\":2,\"channels\":{}}"),
        std::string("{\"version\":1,\"channels\":{\"ALL\":{\"seq\":1,\"stream_id\":\"1-0\"}}}"),
        std::string("{\"version\":1,\"channels\":{\"all\":{\"seq\":-1,\"stream_id\":\"1-0\"}}}"),
        std::string("{\"version\":1,\"channels\":{\"all\":{\"seq\":1,\"stream_id\":\"x\"}}}"),
        std::string("{\"version\":1,\"channels\":{},\"recent_ids\":[\"nope\"]}"),
        std::string("\x01\x02\xff")}) {
    INFO(bad);
    spit(file, bad);
    auto direct = broker::load_store_state(dir.path());
    REQUIRE_FALSE(direct.ok());
    CHECK(direct.err().message().find(file.string()) != std::string::npos);

    auto loaded = broker::load_store_state_or_fresh(dir.path());
    CHECK(loaded.state == broker::store_state{});
    REQUIRE(loaded.problem);
    CHECK(loaded.problem.message().find("starting from the newest messages") != std::string::npos);
    CHECK(loaded.problem.message().find(".corrupt") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(file));
    CHECK(slurp(file.string() + ".corrupt") == bad);
  }
  // Missing is not a problem.
  auto fresh = broker::load_store_state_or_fresh(dir.path());
  CHECK_FALSE(fresh.problem);
}

TEST_CASE("store state: restore into a tracker and snapshot back") {
  broker::tracker t;
  broker::restore(t, {"all", "store:s1"}, sample());  // region:jateng is no longer listened to
  CHECK(t.position_of("all") == broker::position{12, "1764151200123-0"});
  CHECK_FALSE(t.position_of("store:s1"));
  CHECK_FALSE(t.has_channel("region:jateng"));
  auto snap = broker::snapshot(t, "s1");
  CHECK(snap.channels.size() == 1);
  CHECK(snap.recent_ids == sample().recent_ids);
  CHECK(snap.store_id == "s1");
}

