#pragma once
// Several --sink flags: one message fans out to every sink, and each reports on its own (the
// outcome_event names the sink). How the outcomes of several sinks make one receipt is the
// caller's choice.

#include <bcast/core/loop.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/sinks/sink.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::sinks {

class sink_set final : public sink {
 public:
  explicit sink_set(core::loop& l) : loop_(l) {}

  void add(std::unique_ptr<sink> s) {
    if (!name_.empty()) name_ += ' ';
    name_ += s->name();
    sinks_.push_back(std::move(s));
  }
  std::size_t size() const noexcept { return sinks_.size(); }
  bool empty() const noexcept { return sinks_.empty(); }
  sink& operator[](std::size_t i) { return *sinks_[i]; }

  const std::string& name() const noexcept override { return name_; }

  void show(const message::envelope& e, reporter report) override {
    for (auto& s : sinks_) s->show(e, report);
  }

  // After a crash that fell while the sinks took `e`: shows it in each sink that does not have it
  // yet. Returns how many did not.
  std::size_t show_where_missing(const message::envelope& e, reporter report) {
    std::size_t shown = 0;
    for (auto& s : sinks_) {
      if (s->has_shown(e)) continue;
      s->show(e, report);
      ++shown;
    }
    return shown;
  }

  bool has_shown(const message::envelope& e) const override {
    for (const auto& s : sinks_) {
      if (!s->has_shown(e)) return false;
    }
    return !sinks_.empty();
  }

  bool acknowledges() const noexcept override {
    return std::any_of(sinks_.begin(), sinks_.end(),
                       [](const auto& s) { return s->acknowledges(); });
  }

  // To the sinks that can take an acknowledgement; to every sink when none can.
  void remind(const message::envelope& e, unsigned count, reporter report) override {
    const bool only_acknowledging = acknowledges();
    for (auto& s : sinks_) {
      if (!only_acknowledging || s->acknowledges()) s->remind(e, count, report);
    }
  }

  void recall(const message::envelope& by, std::string_view id) override {
    for (auto& s : sinks_) s->recall(by, id);
  }

  void close(std::function<void()> done) override {
    auto left = std::make_shared<std::size_t>(sinks_.size());
    if (sinks_.empty()) {
      if (done) loop_.defer(std::move(done));
      return;
    }
    auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
    for (auto& s : sinks_) {
      s->close([left, shared_done] {
        if (--*left == 0 && *shared_done) (*shared_done)();
      });
    }
  }

  std::size_t pending() const noexcept override {
    std::size_t n = 0;
    for (const auto& s : sinks_) n += s->pending();
    return n;
  }

 private:
  core::loop& loop_;
  std::string name_;
  std::vector<std::unique_ptr<sink>> sinks_;
};

}  // namespace bcast::sinks
