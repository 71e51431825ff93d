// The config reader: duplicates, unknown keys and wrong types refused at every depth, by path.

#include <bcast/core/config_file.hpp>

#include <support/test_support.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>

using namespace bcast;

namespace {

struct sample {
  std::string name = "default";
  bool enabled = true;
  std::size_t max_chars = 200;
  std::chrono::seconds max_age{60};
  std::vector<std::string> tags;
  std::vector<unsigned> ids;
  std::vector<std::string> listeners;
};

// Reads `text` the way a daemon reads its file: top-level keys, a nested object, an array of
// objects.
core::result<sample> read_sample(std::string_view text) {
  auto doc = core::parse_config_json(text, "sample.json");
  if (!doc) return doc.err();
  sample s;
  core::config_section file(*doc, "sample.json");
  file.text("name", s.name).flag("enabled", s.enabled).texts("tags", s.tags).integers("ids", s.ids);
  file.section("limits", [&](core::config_section& limits) {
    limits.integer("max_chars", s.max_chars, std::size_t{1}).duration("max_age_s", s.max_age, 0);
  });
  file.sections("listeners", [&](core::config_section& listener, std::size_t) {
    std::string listen;
    listener.require("listen").text("listen", listen);
    s.listeners.push_back(listen);
  });
  if (auto done = file.finish(); !done) return done.err();
  return s;
}

std::string problem(std::string_view text) {
  auto r = read_sample(text);
  if (r) return "(accepted)";
  CHECK(r.err() == core::errc::invalid_argument);
  return r.err().detail();
}

}  // namespace

TEST_CASE("config reader: every depth is read, comments are allowed, absent keys keep defaults") {
  auto s = read_sample(R"({
    // a comment
    "name": "hq", /* another */ "enabled": false, "tags": ["a", "b"], "ids": [0, 7],
    "limits": {"max_chars": 10, "max_age_s": 0},
    "listeners": [{"listen": "127.0.0.1:1"}, {"listen": "[::1]:2"}]
  })");
  REQUIRE_OK(s);
  CHECK(s->name == "hq");
  CHECK_FALSE(s->enabled);
  CHECK(s->tags == std::vector<std::string>{"a", "b"});
  CHECK(s->ids == std::vector<unsigned>{0, 7});
  CHECK(s->max_chars == 10);
  CHECK(s->max_age == std::chrono::seconds(0));
  CHECK(s->listeners == std::vector<std::string>{"127.0.0.1:1", "[::1]:2"});

  auto defaults = read_sample("{}");
  REQUIRE_OK(defaults);
  CHECK(defaults->name == "default");
  CHECK(defaults->max_chars == 200);
  CHECK(defaults->max_age == std::chrono::seconds(60));
}

TEST_CASE("config reader: an unknown key is refused at any depth, named by its path") {
  CHECK(test::contains(problem(R"({"nmae": "hq"})"), "sample.json: nmae: unknown key"));
  CHECK(test::contains(problem(R"({"limits": {"max_charz": 10}})"),
                       "sample.json: limits.max_charz: unknown key"));
  CHECK(test::contains(
      problem(R"({"listeners": [{"listen": "a:1"}, {"listen": "b:2", "lisen": "c:3"}]})"),
      "sample.json: listeners[1].lisen: unknown key"));
  // The keys that are known there are listed, to spot the typo.
  CHECK(test::contains(problem(R"({"limits": {"max_charz": 10}})"),
                       "(known here: max_age_s, max_chars)"));
  // A misspelt key is named before the problem it leaves behind (here a missing "listen").
  CHECK(test::contains(problem(R"({"listeners": [{"lsten": "a:1"}]})"),
                       "listeners[0].lsten: unknown key"));
}

TEST_CASE("config reader: a repeated key is refused at any depth, named by its path") {
  CHECK(problem(R"({"name": "a", "name": "b"})") ==
        R"(sample.json: top level: duplicate key "name")");
  CHECK(problem(R"({"limits": {"max_chars": 1, "max_chars": 2}})") ==
        R"(sample.json: limits: duplicate key "max_chars")");
  CHECK(problem(R"({"listeners": [{"listen": "a:1"}, {"listen": "b:2", "listen": "c:3"}]})") ==
        R"(sample.json: listeners[1]: duplicate key "listen")");
  // The same key in two different objects is not a repeat.
  CHECK(read_sample(R"({"listeners": [{"listen": "a:1"}, {"listen": "b:2"}]})").ok());
}

TEST_CASE("config reader: a value of the wrong type is refused, named by its path") {
  CHECK(problem(R"({"name": 1})") == "sample.json: name: expected a string");
  CHECK(problem(R"({"enabled": "false"})") == "sample.json: enabled: expected true or false");
  CHECK(problem(R"({"limits": {"max_chars": 0}})") ==
        "sample.json: limits.max_chars: expected a positive integer, got 0");
  CHECK(problem(R"({"limits": {"max_chars": "10"}})") ==
        R"(sample.json: limits.max_chars: expected a positive integer, got "10")");
  CHECK(problem(R"({"limits": {"max_chars": 10.5}})") ==
        "sample.json: limits.max_chars: expected a positive integer, got 10.5");
  CHECK(problem(R"({"limits": {"max_age_s": -1}})") ==
        "sample.json: limits.max_age_s: expected 0 or a positive integer, got -1");
  CHECK(problem(R"({"ids": [1, -2]})") ==
        "sample.json: ids[1]: expected an integer from 0 to 4294967295, got -2");
  CHECK(problem(R"({"ids": [4294967296]})") ==
        "sample.json: ids[0]: expected an integer from 0 to 4294967295, got 4294967296");
  CHECK(problem(R"({"tags": ["a", 2]})") == "sample.json: tags[1]: expected a string, got 2");
  CHECK(problem(R"({"tags": "a"})") == "sample.json: tags: expected an array of strings");
  CHECK(problem(R"({"limits": []})") == "sample.json: limits: expected an object");
  CHECK(problem(R"({"listeners": {"listen": "a:1"}})") ==
        "sample.json: listeners: expected an array of objects");
  CHECK(problem(R"({"listeners": ["a:1"]})") == "sample.json: listeners[0]: expected an object");
  CHECK(problem(R"({"listeners": [{}]})") == "sample.json: listeners[0].listen: missing");
  CHECK(problem("[]") == "sample.json: top level: expected an object");
}

TEST_CASE("config reader: text that is not JSON, and files that cannot be read") {
  CHECK(test::contains(problem(R"({"name": "a",})"), "sample.json: invalid JSON: "));
  // Found by fuzz/config_file.cpp: nlohmann's message quotes the bytes it last read, here a
  // stray byte of a UTF-8 sequence, which a log line or a JSON answer must not get raw.
  const auto invalid_utf8 = problem("{\"max_t\xe1rgets\": 2}");
  CHECK(test::contains(invalid_utf8, "sample.json: invalid JSON: "));
  CHECK(test::contains(invalid_utf8, "ill-formed UTF-8 byte; last read: '\"max_t\\xE1r'"));
  test::temp_dir dir;
  auto missing = core::read_config_file(dir.file("missing.json"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.err().code() == std::errc::no_such_file_or_directory);
  CHECK(test::contains(missing.err().detail(), dir.file("missing.json")));
  std::ofstream(dir.file("ok.json")) << "// comment\n{\"a\": {\"b\": [1]}}";
  auto ok = core::read_config_file(dir.file("ok.json"));
  REQUIRE_OK(ok);
  CHECK((*ok)["a"]["b"][0] == 1);
}
