// core/files.hpp's append_file (the display journal's file) and the UTF-8 path helpers, on POSIX.
// Their Windows versions (core/files_win32.hpp) are tested under Wine by tests/windows/unit.

#include <bcast/core/files.hpp>

#include <support/test_support.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <string>

using namespace bcast;

TEST_CASE("append_file: each append at the end; truncate empties", "[core][files]") {
  test::temp_dir dir;
  const auto path = dir.file("shown.journal");
  {
    auto f = core::append_file::open(path, 0600);
    REQUIRE_OK(f);
    CHECK(f->is_open());
    CHECK(f->path() == path);
    REQUIRE_OK(f->append("+01J\n"));
    REQUIRE_OK(f->append("=01J\n"));
    CHECK(core::read_file_bounded(path, 100).value() == "+01J\n=01J\n");
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE_OK(f->truncate());
    REQUIRE_OK(f->append("-02K\n"));
    CHECK(core::read_file_bounded(path, 100).value() == "-02K\n");
    // Moved, it is still the one open file.
    core::append_file moved = std::move(f).value();
    REQUIRE_OK(moved.append("+03L\n"));
  }
  CHECK(core::read_file_bounded(path, 100).value() == "-02K\n+03L\n");
  // Opened again: appends after what is there.
  auto again = core::append_file::open(path, 0600);
  REQUIRE_OK(again);
  REQUIRE_OK(again->append("=03L\n"));
  CHECK(core::read_file_bounded(path, 100).value() == "-02K\n+03L\n=03L\n");

  core::append_file closed;
  CHECK_FALSE(closed.is_open());
  CHECK(closed.append("x").ok());  // nothing to write to: nothing done

  auto missing = core::append_file::open(dir.file("no/such/dir/file"), 0600);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.err().code() == std::errc::no_such_file_or_directory);
  CHECK(test::contains(missing.err().detail(), "cannot open "));
}

TEST_CASE("utf8_path and path_utf8: a UTF-8 path both ways", "[core][files]") {
  const std::string name = "/var/lib/bcast/toko \xE2\x98\x95/posisi \xF0\x9F\x8F\xAA.json";
  CHECK(core::path_utf8(core::utf8_path(name)) == name);
  CHECK(core::path_utf8(core::utf8_path("/var/lib/bcast") / "shown.journal") ==
        "/var/lib/bcast/shown.journal");
  CHECK(core::utf8_path("").empty());
}
