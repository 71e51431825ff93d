#pragma once
// Counters, gauges and histograms, and their Prometheus text exposition (format 0.0.4).
//
// Registering a metric (at start-up) returns a reference that stays valid as long as the
// registry: the hot path keeps it and increments a number, with no lookup and no allocation.
// Label values known only per request (a route and a status) are found with one hash lookup
// of string views, allocating only the first time a combination is seen.
//
// A registry and its metrics belong to one loop thread, like everything else on that loop.

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bcast::core::metrics {

// The Content-Type of registry::exposition().
inline constexpr std::string_view exposition_content_type = "text/plain; version=0.0.4";

// Counts up from 0. Usable alone too (a component that counts without a registry).
class counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_ += n; }
  std::uint64_t value() const noexcept { return value_; }

 private:
  std::uint64_t value_ = 0;
};

class gauge {
 public:
  void set(double v) noexcept { value_ = v; }
  void inc(double d = 1) noexcept { value_ += d; }
  void dec(double d = 1) noexcept { value_ -= d; }
  double value() const noexcept { return value_; }

 private:
  double value_ = 0;
};

// Fixed upper bounds, ascending; a last bucket (+Inf) takes what is above them.
class histogram {
 public:
  explicit histogram(std::span<const double> upper_bounds)
      : bounds_(upper_bounds), counts_(upper_bounds.size() + 1, 0) {}

  void observe(double v) noexcept {
    std::size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += v;
  }

  std::span<const double> upper_bounds() const noexcept { return bounds_; }
  // Observations in bucket i alone (not cumulative); i == upper_bounds().size() is +Inf.
  std::uint64_t bucket_count(std::size_t i) const noexcept { return counts_[i]; }
  std::uint64_t count() const noexcept {
    std::uint64_t n = 0;
    for (auto c : counts_) n += c;
    return n;
  }
  double sum() const noexcept { return sum_; }

 private:
  std::span<const double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
};

namespace detail {

inline bool valid_metric_name(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

inline bool valid_label_name(std::string_view s) noexcept {
  return valid_metric_name(s) && s.find(':') == std::string_view::npos && s.substr(0, 2) != "__";
}

// HELP text escapes backslash and newline; label values also escape the double quote.
inline void append_escaped(std::string& out, std::string_view text, bool quote_too) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote_too) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// Shortest text that reads back as the same double; Prometheus's spellings of the specials.
inline void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc() ? end : buf);
}

inline void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc() ? end : buf);
}

template <class Metric>
inline constexpr std::string_view type_name = "counter";
template <>
inline constexpr std::string_view type_name<gauge> = "gauge";
template <>
inline constexpr std::string_view type_name<histogram> = "histogram";

class family_base {
 public:
  family_base(std::string name, std::string help)
      : name_(std::move(name)), help_(std::move(help)) {}
  virtual ~family_base() = default;
  family_base(const family_base&) = delete;
  family_base& operator=(const family_base&) = delete;

  const std::string& name() const noexcept { return name_; }
  virtual std::string_view type() const noexcept = 0;
  virtual void expose(std::string& out) const = 0;

 protected:
  void expose_header(std::string& out) const {
    out += "# HELP ";
    out += name_;
    out += ' ';
    append_escaped(out, help_, false);
    out += "\n# TYPE ";
    out += name_;
    out += ' ';
    out += type();
    out += '\n';
  }

  // name{a="x",b="y"} or name{a="x",le="0.5"}; just name when there are no labels at all.
  void append_series(std::string& out, std::string_view suffix, std::span<const std::string> names,
                     std::span<const std::string> values, std::string_view le = {}) const {
    out += name_;
    out += suffix;
    if (!names.empty() || !le.empty()) {
      out += '{';
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += ',';
        out += names[i];
        out += "=\"";
        append_escaped(out, values[i], true);
        out += '"';
      }
      if (!le.empty()) {
        if (!names.empty()) out += ',';
        out += "le=\"";
        out += le;
        out += '"';
      }
      out += '}';
    }
    out += ' ';
  }

 private:
  std::string name_;
  std::string help_;
};

}  // namespace detail

// One metric name with `Labels` label names; one series (a Metric) per combination of values.
template <class Metric, std::size_t Labels>
class family final : public detail::family_base {
 public:
  using label_values = std::array<std::string_view, Labels>;

  family(std::string name, std::string help, std::array<std::string, Labels> label_names,
         std::size_t max_series, std::vector<double> upper_bounds = {})
      : family_base(std::move(name), std::move(help)),
        label_names_(std::move(label_names)),
        upper_bounds_(std::move(upper_bounds)),
        max_series_(std::max<std::size_t>(max_series, 1)) {}

  // The series for these label values, created at zero the first time. The reference stays
  // valid as long as the family. Past max_series different combinations, new ones all share
  // one series whose every label value is "_other", so that a label fed from outside cannot
  // grow the registry without bound.
  Metric& with(const label_values& values) {
    if (auto it = index_.find(values); it != index_.end()) return *it->second;
    if (series_.size() >= max_series_) return other();
    return add(values);
  }

  std::size_t size() const noexcept { return series_.size(); }

  std::string_view type() const noexcept override { return detail::type_name<Metric>; }

  // Series are written sorted by their label values, whatever order they were created in.
  void expose(std::string& out) const override {
    expose_header(out);
    std::vector<const entry*> sorted;
    sorted.reserve(series_.size());
    for (const auto& e : series_) sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(),
              [](const entry* a, const entry* b) { return a->values < b->values; });
    for (const entry* e : sorted) expose_one(out, *e);
  }

 private:
  struct entry {
    std::array<std::string, Labels> values;
    Metric metric;
  };

  struct values_hash {
    std::size_t operator()(const label_values& values) const noexcept {
      std::size_t h = 0;
      for (auto v : values) h = h * 31 + std::hash<std::string_view>{}(v);
      return h;
    }
  };

  Metric make() const {
    if constexpr (std::is_same_v<Metric, histogram>) {
      return histogram(upper_bounds_);
    } else {
      return Metric{};
    }
  }

  Metric& add(const label_values& values) {
    entry& e = series_.emplace_back(entry{{}, make()});
    label_values key{};
    for (std::size_t i = 0; i < Labels; ++i) {
      e.values[i] = std::string(values[i]);
      key[i] = e.values[i];  // a deque never moves its elements, so these views stay valid
    }
    index_.emplace(key, &e.metric);
    return e.metric;
  }

  Metric& other() {
    label_values others{};
    others.fill("_other");
    if (auto it = index_.find(others); it != index_.end()) return *it->second;
    return add(others);
  }

  void expose_one(std::string& out, const entry& e) const {
    if constexpr (std::is_same_v<Metric, histogram>) {
      const histogram& h = e.metric;
      std::uint64_t cumulative = 0;
      std::string le;
      for (std::size_t i = 0; i < upper_bounds_.size(); ++i) {
        cumulative += h.bucket_count(i);
        le.clear();
        detail::append_number(le, upper_bounds_[i]);
        append_series(out, "_bucket", label_names_, e.values, le);
        detail::append_number(out, cumulative);
        out += '\n';
      }
      cumulative += h.bucket_count(upper_bounds_.size());
      append_series(out, "_bucket", label_names_, e.values, "+Inf");
      detail::append_number(out, cumulative);
      out += '\n';
      append_series(out, "_sum", label_names_, e.values);
      detail::append_number(out, h.sum());
      out += '\n';
      append_series(out, "_count", label_names_, e.values);
      detail::append_number(out, cumulative);
      out += '\n';
    } else {
      append_series(out, "", label_names_, e.values);
      detail::append_number(out, e.metric.value());
      out += '\n';
    }
  }

  std::array<std::string, Labels> label_names_;
  std::vector<double> upper_bounds_;
  std::size_t max_series_;
  std::deque<entry> series_;
  std::unordered_map<label_values, Metric*, values_hash> index_;
};

// The metrics of one process, exposed in the order they were registered. Registration is
// start-up work: a name that is not a valid Prometheus name, or one registered twice, throws
// std::invalid_argument.
class registry {
 public:
  static constexpr std::size_t default_max_series = 1000;

  registry() = default;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  counter& add_counter(std::string name, std::string help) {
    return add_counter_family<0>(std::move(name), std::move(help), {}).with({});
  }
  gauge& add_gauge(std::string name, std::string help) {
    return add_gauge_family<0>(std::move(name), std::move(help), {}).with({});
  }
  histogram& add_histogram(std::string name, std::string help, std::vector<double> upper_bounds) {
    return add_histogram_family<0>(std::move(name), std::move(help), {}, std::move(upper_bounds))
        .with({});
  }

  template <std::size_t Labels>
  family<counter, Labels>& add_counter_family(std::string name, std::string help,
                                              std::array<std::string, Labels> label_names,
                                              std::size_t max_series = default_max_series) {
    return add<counter, Labels>(std::move(name), std::move(help), std::move(label_names),
                                max_series, {});
  }
  template <std::size_t Labels>
  family<gauge, Labels>& add_gauge_family(std::string name, std::string help,
                                          std::array<std::string, Labels> label_names,
                                          std::size_t max_series = default_max_series) {
    return add<gauge, Labels>(std::move(name), std::move(help), std::move(label_names), max_series,
                              {});
  }
  // Upper bounds strictly ascending and finite; the +Inf bucket is always there.
  template <std::size_t Labels>
  family<histogram, Labels>& add_histogram_family(std::string name, std::string help,
                                                  std::array<std::string, Labels> label_names,
                                                  std::vector<double> upper_bounds,
                                                  std::size_t max_series = default_max_series) {
    if (upper_bounds.empty() || !std::is_sorted(upper_bounds.begin(), upper_bounds.end()) ||
        std::adjacent_find(upper_bounds.begin(), upper_bounds.end()) != upper_bounds.end() ||
        !std::all_of(upper_bounds.begin(), upper_bounds.end(),
                     [](double b) { return std::isfinite(b); }))
      throw std::invalid_argument("histogram " + name +
                                  ": bucket bounds must be finite and strictly ascending");
    for (const auto& l : label_names)
      if (l == "le")
        throw std::invalid_argument("histogram " + name + ": 'le' is not a label name");
    return add<histogram, Labels>(std::move(name), std::move(help), std::move(label_names),
                                  max_series, std::move(upper_bounds));
  }

  // Every family in the text format 0.0.4: HELP, TYPE, then its series.
  std::string exposition() const {
    std::string out;
    for (const auto& f : families_) f->expose(out);
    return out;
  }

 private:
  template <class Metric, std::size_t Labels>
  family<Metric, Labels>& add(std::string name, std::string help,
                              std::array<std::string, Labels> label_names, std::size_t max_series,
                              std::vector<double> upper_bounds) {
    if (!detail::valid_metric_name(name))
      throw std::invalid_argument("not a metric name: '" + name + "'");
    for (const auto& f : families_)
      if (f->name() == name) throw std::invalid_argument("metric " + name + " registered twice");
    for (std::size_t i = 0; i < Labels; ++i) {
      if (!detail::valid_label_name(label_names[i]))
        throw std::invalid_argument("metric " + name + ": not a label name: '" + label_names[i] +
                                    "'");
      for (std::size_t j = 0; j < i; ++j)
        if (label_names[j] == label_names[i])
          throw std::invalid_argument("metric " + name + ": label " + label_names[i] + " twice");
    }
    auto f = std::make_unique<family<Metric, Labels>>(std::move(name), std::move(help),
                                                      std::move(label_names), max_series,
                                                      std::move(upper_bounds));
    auto& out = *f;
    families_.push_back(std::move(f));
    return out;
  }

  std::vector<std::unique_ptr<detail::family_base>> families_;
};

}  // namespace bcast::core::metrics
