// The config reader (core/config_file.hpp) and the daemons' config files read through it
// (publisherd's and subscriberd's apply_file()). Invariants:
// - parse_config_json() reads what nlohmann reads (comments allowed), except that it refuses a
//   repeated key, and only then;
// - a config_section accepts a document only if every key at every depth is a known one, every
//   required key is there and every value has its type;
// - a refusal says why, in valid UTF-8, starting with the file's name.

#include "harness.hpp"

#include "../daemons/publisherd/config.hpp"
#include "../daemons/subscriberd/config.hpp"

#include <bcast/core/config_file.hpp>
#include <bcast/message/utf8.hpp>

#include <nlohmann/json.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace core = bcast::core;
using json = nlohmann::json;

void check_refusal(const core::error& e, std::string_view source) {
  const auto& why = e.detail();
  FUZZ_CHECK(why.starts_with(std::string(source) + ": "));
  FUZZ_CHECK(bcast::message::is_valid_utf8(why));
}

// Every kind of read a daemon makes, over a schema of its own.
void check_sections(const json& doc) {
  const std::set<std::string, std::less<>> top{"text",  "flag", "int",    "size",   "wait_s",
                                               "texts", "ints", "needed", "nested", "list"};
  core::config_section file(doc, "fuzz.json");
  std::string text;
  bool flag = false;
  int small = 0;
  std::size_t size = 1;
  int inner_int = 0;
  std::chrono::seconds wait{1};
  std::vector<std::string> texts;
  std::vector<int> ints;
  file.text("text", text).flag("flag", flag).integer("int", small, -5, 1000);
  file.integer("size", size, std::size_t{1}).duration("wait_s", wait).texts("texts", texts);
  file.integers("ints", ints, 0, 65535).require("needed");
  file.section("nested", [&](core::config_section& nested) {
    nested.text("text", text).section("inner", [&](core::config_section& inner) {
      inner.integer("int", inner_int);
    });
  });
  file.sections("list", [&](core::config_section& item, std::size_t) {
    item.require("name").text("name", text);
  });
  const auto finished = file.finish();
  FUZZ_CHECK(finished.ok() == file.ok());
  if (!finished) {
    check_refusal(finished.err(), "fuzz.json");
    return;
  }
  FUZZ_CHECK(doc.is_object() && doc.contains("needed"));
  for (const auto& [key, value] : doc.items()) FUZZ_CHECK(top.count(key) == 1);
  FUZZ_CHECK(small >= -5 && small <= 1000 && size >= 1 && wait.count() >= 1);
}

// A memory file that the daemons' apply_file() reads as a path.
class config_file {
 public:
  config_file() : fd_(::memfd_create("fuzz-config", MFD_CLOEXEC)) {
    FUZZ_CHECK(fd_ >= 0);
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~config_file() { ::close(fd_); }
  const std::string& write(std::string_view text) {
    FUZZ_CHECK(::ftruncate(fd_, 0) == 0);
    FUZZ_CHECK(::pwrite(fd_, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = bcast_fuzz::as_text(data, size);

  const auto parsed = core::parse_config_json(text, "fuzz.json");
  const json plain = json::parse(text, nullptr, /*allow_exceptions=*/false,
                                 /*ignore_comments=*/true);
  if (parsed) {
    FUZZ_CHECK(!plain.is_discarded() && *parsed == plain);
    check_sections(*parsed);
  } else {
    check_refusal(parsed.err(), "fuzz.json");
    // Anything else is a repeated key, which nlohmann alone accepts.
    const bool not_json = parsed.err().detail().starts_with("fuzz.json: invalid JSON: ");
    FUZZ_CHECK(plain.is_discarded() == not_json);
    if (!not_json) FUZZ_CHECK(parsed.err().detail().find(": duplicate key ") != std::string::npos);
  }

  static config_file file;
  const auto& path = file.write(text);
  publisherd::config publisher;
  if (const auto applied = publisherd::apply_file(publisher, path); !applied) {
    check_refusal(applied.err(), path);
  } else {
    FUZZ_CHECK(parsed.ok());
  }
  subscriberd::config subscriber;
  if (const auto applied = subscriberd::apply_file(subscriber, path); !applied) {
    check_refusal(applied.err(), path);
  } else {
    FUZZ_CHECK(parsed.ok());
  }
  return 0;
}
