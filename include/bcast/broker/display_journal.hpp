#pragma once
// Which messages went to the sinks since the store's position was last saved, so that a store
// killed between showing a message and saving its position does not show it again.
//
//   <state-dir>/shown.journal   "+ID\n" just before a message goes to the sinks,
//                               "=ID\n" once they have it,
//                               "-ID\n" once head office recalled it
//
// After a restart the catch-up delivers those messages again: one marked shown is skipped, and one
// only marked started (the kill fell while the sinks took it) is shown by the sinks that cannot
// say they already have it (sink::has_shown); one marked recalled is not shown at all, whatever
// else is marked and in whatever order the run meets it and its recall. Each mark is one write(2)
// to a file opened with O_APPEND (on Windows one WriteFile at its end), which a SIGKILL does not
// tear (core::append_file). The file is emptied once a saved position covers what it names. It
// is not fsynced: it guards against a killed process, and a power cut that loses it costs at most
// a repeat of what was shown after the last saved position.

#include <bcast/core/error.hpp>
#include <bcast/core/files.hpp>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace bcast::broker {

inline constexpr std::string_view display_journal_file_name = "shown.journal";

class display_journal {
 public:
  enum class mark { none, started, shown, recalled };

  // Reads what the last run left and keeps the file open for appending. The directory must exist.
  static core::result<display_journal> open(const std::filesystem::path& dir) {
    const auto path = core::path_utf8(dir / std::string(display_journal_file_name));
    display_journal j;
    auto file = core::append_file::open(path, 0600);
    if (!file) return file.err();
    j.file_ = std::move(file).value();
    auto text = core::read_file_bounded(path, max_bytes);
    if (!text) return text.err();
    j.load(*text);
    return j;
  }

  // For a state dir where the journal cannot be kept: marks nothing, so a kill at the wrong moment
  // may show a message twice.
  static display_journal none() { return display_journal(); }

  // What the last run got to with this message.
  mark status(const std::string& id) const {
    const auto it = marks_.find(id);
    return it == marks_.end() ? mark::none : it->second;
  }

  core::result<void> started(std::string_view id) { return append('+', id); }
  core::result<void> shown(std::string_view id) { return append('=', id); }
  core::result<void> recalled(std::string_view id) { return append('-', id); }

  // After a saved position covers everything marked so far.
  core::result<void> clear() {
    marks_.clear();
    return file_.truncate();
  }

 private:
  // Only marks written since the last saved position: a few batches' worth.
  static constexpr std::size_t max_bytes = 64u << 20;

  display_journal() = default;

  // A line that is not a whole mark (a power cut's torn tail) is ignored.
  void load(std::string_view text) {
    while (!text.empty()) {
      const auto end = text.find('\n');
      if (end == std::string_view::npos) break;
      const auto line = text.substr(0, end);
      text.remove_prefix(end + 1);
      if (line.size() < 2) continue;
      auto& m = marks_[std::string(line.substr(1))];
      if (line[0] == '-') {
        m = mark::recalled;
      } else if (line[0] == '=' && m != mark::recalled) {
        m = mark::shown;
      } else if (line[0] == '+' && m == mark::none) {
        m = mark::started;
      }
    }
  }

  core::result<void> append(char tag, std::string_view id) {
    if (!file_.is_open()) return {};
    std::string line;
    line.reserve(id.size() + 2);
    line += tag;
    line += id;
    line += '\n';
    return file_.append(line);
  }

  core::append_file file_;  // closed for none()
  std::unordered_map<std::string, mark> marks_;
};

}  // namespace bcast::broker
