#pragma once
// Turns a phase's tally into figures, and the figures of both phases into the table, result.json
// and latency_cdf.svg.

#include "phase.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fanout {

struct figures {
  std::string name;
  std::vector<double> delivery_us;  // sorted
  std::vector<double> fanout_us;    // sorted, messages that reached all their stores
  std::uint64_t expected = 0, delivered = 0, lost = 0, duplicates = 0, strays = 0;
  std::uint64_t publish_errors = 0;
  std::string first_publish_error;
  double duration_s = 0;  // first send to last receipt
  // Medians: a publish call on the publisher's loop, and a message in a store's display
  // pipeline (that one with --sign only, else 0).
  double publish_call_us = 0;
  double pipeline_us = 0;

  double messages_per_s(std::uint32_t messages) const {
    return duration_s > 0 ? messages / duration_s : 0;
  }
  double deliveries_per_s() const { return duration_s > 0 ? delivered / duration_s : 0; }
};

// Nearest-rank percentile of sorted values.
inline double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank =
      static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// The median of nanosecond timings, in µs (0 without any).
inline double median_us(std::vector<std::int64_t> ns) {
  if (ns.empty()) return 0;
  const auto mid = ns.begin() + static_cast<std::ptrdiff_t>(ns.size() / 2);
  std::nth_element(ns.begin(), mid, ns.end());
  return static_cast<double>(*mid) / 1e3;
}

inline figures summarize(std::string name, const plan& p, const tally& t, const phase_outcome& o,
                         const publisher& pub) {
  figures f;
  f.name = std::move(name);
  std::vector<std::int64_t> pipeline_ns;
  for (const auto& counts : t.per_thread()) {
    for (auto ns : counts.latencies_ns) f.delivery_us.push_back(static_cast<double>(ns) / 1e3);
    pipeline_ns.insert(pipeline_ns.end(), counts.pipeline_ns.begin(), counts.pipeline_ns.end());
    f.duplicates += counts.duplicates;
    f.strays += counts.strays;
  }
  f.pipeline_us = median_us(std::move(pipeline_ns));
  f.publish_call_us = median_us(o.publish_call_ns);
  std::int64_t last_receipt = o.first_send_ns;
  for (std::uint32_t k = 0; k < p.messages(); ++k) {
    const auto got = t.received(k);
    f.expected += p.expected(k);
    f.delivered += got;
    if (got == p.expected(k) && k < o.sent) {
      f.fanout_us.push_back(static_cast<double>(t.last_receipt_ns(k) - t.sent_ns(k)) / 1e3);
    }
    last_receipt = std::max(last_receipt, t.last_receipt_ns(k));
  }
  f.lost = f.expected - f.delivered;
  f.publish_errors = pub.errors();
  f.first_publish_error = pub.first_error();
  f.duration_s = static_cast<double>(last_receipt - o.first_send_ns) / 1e9;
  std::sort(f.delivery_us.begin(), f.delivery_us.end());
  std::sort(f.fanout_us.begin(), f.fanout_us.end());
  return f;
}

inline nlohmann::json to_json(const figures& f, const plan& p) {
  const auto& d = f.delivery_us;
  const auto& fo = f.fanout_us;
  const auto round1 = [](double v) { return std::round(v * 10) / 10; };
  return {
      {"stores", p.stores()},
      {"messages", p.messages()},
      {"lost", f.lost},
      {"expected_deliveries", f.expected},
      {"duplicates", f.duplicates},
      {"strays", f.strays},
      {"publish_errors", f.publish_errors},
      {"delivery_us",
       {{"p50", round1(percentile(d, 50))},
        {"p90", round1(percentile(d, 90))},
        {"p99", round1(percentile(d, 99))},
        {"p999", round1(percentile(d, 99.9))},
        {"max", round1(d.empty() ? 0 : d.back())}}},
      {"fanout_us",
       {{"p50", round1(percentile(fo, 50))},
        {"p99", round1(percentile(fo, 99))},
        {"max", round1(fo.empty() ? 0 : fo.back())}}},
      {"throughput",
       {{"messages_per_s", round1(f.messages_per_s(p.messages()))},
        {"deliveries_per_s", round1(f.deliveries_per_s())},
        {"duration_s", f.duration_s}}},
  };
}

inline double ratio(double ours, double theirs) {
  return theirs > 0 ? std::round(ours / theirs * 1000) / 1000 : 0;
}

// One row of a table: two sides and their ratio.
inline void print_row(const char* what, double a, double b, const char* unit) {
  std::printf("%-24s %14.1f %14.1f %8.3f  %s\n", what, a, b, b > 0 ? a / b : 0.0, unit);
}

// The latency rows of two sides (`with_p999`: the delivery p99.9 too).
inline void latency_rows(const figures& a, const figures& b, bool with_p999) {
  const auto& d = a.delivery_us;
  const auto& bd = b.delivery_us;
  print_row("delivery p50", percentile(d, 50), percentile(bd, 50), "us");
  print_row("delivery p90", percentile(d, 90), percentile(bd, 90), "us");
  print_row("delivery p99", percentile(d, 99), percentile(bd, 99), "us");
  if (with_p999) print_row("delivery p99.9", percentile(d, 99.9), percentile(bd, 99.9), "us");
  print_row("delivery max", d.empty() ? 0 : d.back(), bd.empty() ? 0 : bd.back(), "us");
  print_row("fan-out p50", percentile(a.fanout_us, 50), percentile(b.fanout_us, 50), "us");
  print_row("fan-out p99", percentile(a.fanout_us, 99), percentile(b.fanout_us, 99), "us");
}

inline void print_table(const figures& bcast, const figures& base, const plan& p) {
  std::printf("%-24s %14s %14s %8s\n", "", bcast.name.c_str(), base.name.c_str(), "ratio");
  latency_rows(bcast, base, true);
  print_row("throughput", bcast.messages_per_s(p.messages()), base.messages_per_s(p.messages()),
            "messages/s");
  print_row("deliveries", bcast.deliveries_per_s(), base.deliveries_per_s(), "deliveries/s");
  std::printf("%-24s %14llu %14llu\n", "lost", static_cast<unsigned long long>(bcast.lost),
              static_cast<unsigned long long>(base.lost));
  std::printf("%-24s %14llu %14llu\n", "duplicates",
              static_cast<unsigned long long>(bcast.duplicates),
              static_cast<unsigned long long>(base.duplicates));
  std::printf("%-24s %14llu %14llu\n", "publish errors",
              static_cast<unsigned long long>(bcast.publish_errors),
              static_cast<unsigned long long>(base.publish_errors));
}

// --sign: the signed delivery against the unsigned one of the same run, and what signing and
// verifying cost. The goal (issue 14): the signed p50 adds at most 1.1 x (sign + verify) to the
// unsigned p50. Sign and verify are measured twice: in the phases, as the median publish call and
// display pipeline of the signed phase less those of the unsigned one ("in_path"), and apart, one
// after the other right after the phases (measure_signing: "sign_us", "verify_us").
inline nlohmann::json signing_json(const figures& signed_side, const figures& unsigned_side,
                                   const signing_costs& costs) {
  const auto round1 = [](double v) { return std::round(v * 10) / 10; };  // as to_json()
  const double signed_p50 = percentile(signed_side.delivery_us, 50);
  const double unsigned_p50 = percentile(unsigned_side.delivery_us, 50);
  const double added = signed_p50 - unsigned_p50;
  const auto over = [added](double cost) {
    return cost > 0 ? std::round(added / cost * 1000) / 1000 : 0;
  };
  const double in_path_sign = signed_side.publish_call_us - unsigned_side.publish_call_us;
  const double in_path_verify = signed_side.pipeline_us - unsigned_side.pipeline_us;
  return {{"samples", costs.samples},
          {"sign_us", round1(costs.sign_us)},
          {"verify_us", round1(costs.verify_us)},
          {"delivery_p50_signed_us", round1(signed_p50)},
          {"delivery_p50_unsigned_us", round1(unsigned_p50)},
          {"added_p50_us", round1(added)},
          {"added_over_sign_verify", over(costs.sign_us + costs.verify_us)},
          {"in_path",
           {{"publish_call_us",
             {round1(signed_side.publish_call_us), round1(unsigned_side.publish_call_us)}},
            {"pipeline_us", {round1(signed_side.pipeline_us), round1(unsigned_side.pipeline_us)}},
            {"sign_us", round1(in_path_sign)},
            {"verify_us", round1(in_path_verify)},
            {"added_over_sign_verify", over(in_path_sign + in_path_verify)}}}};
}

inline void print_signing(const figures& signed_side, const figures& unsigned_side,
                          const signing_costs& costs) {
  const auto j = signing_json(signed_side, unsigned_side, costs);
  std::printf("%-24s %14.1f %14.1f %8.3f  us (signed, unsigned, ratio)\n", "delivery p50 signed",
              j["delivery_p50_signed_us"].get<double>(),
              j["delivery_p50_unsigned_us"].get<double>(),
              ratio(j["delivery_p50_signed_us"].get<double>(),
                    j["delivery_p50_unsigned_us"].get<double>()));
  const auto& in_path = j["in_path"];
  std::printf("%-24s %14.1f %14.1f           us (in the phases: signed less unsigned)\n",
              "sign, verify", in_path["sign_us"].get<double>(), in_path["verify_us"].get<double>());
  std::printf("%-24s %14.1f %14.1f           us (apart, after the phases: medians of %u)\n",
              "sign, verify apart", j["sign_us"].get<double>(), j["verify_us"].get<double>(),
              costs.samples);
  std::printf(
      "%-24s %14.1f %14.3f %8.3f  us, x (sign + verify) in the phases, apart; goal <= 1.1\n",
      "signed adds", j["added_p50_us"].get<double>(),
      in_path["added_over_sign_verify"].get<double>(), j["added_over_sign_verify"].get<double>());
}

// --recall: the recall notices of a phase against its messages. The goal (issue 17): a recall
// reaches the stores as fast as a message, so the ratios are recall over message, near 1.
inline nlohmann::json recall_json(const figures& messages, const figures& recalls, const plan& p) {
  auto j = to_json(recalls, p);
  const auto of = [](const figures& f, bool fan, double pct) {
    return percentile(fan ? f.fanout_us : f.delivery_us, pct);
  };
  j["ratio_to_message"] = {{"delivery_p50", ratio(of(recalls, false, 50), of(messages, false, 50))},
                           {"delivery_p90", ratio(of(recalls, false, 90), of(messages, false, 90))},
                           {"delivery_p99", ratio(of(recalls, false, 99), of(messages, false, 99))},
                           {"fanout_p50", ratio(of(recalls, true, 50), of(messages, true, 50))},
                           {"fanout_p99", ratio(of(recalls, true, 99), of(messages, true, 99))}};
  return j;
}

inline void print_recall(const figures& messages, const figures& recalls) {
  std::printf("%-24s %14s %14s %8s\n", messages.name.c_str(), "recall", "message", "ratio");
  latency_rows(recalls, messages, false);
  std::printf("%-24s %14llu %14llu\n", "arrived",
              static_cast<unsigned long long>(recalls.delivered),
              static_cast<unsigned long long>(messages.delivered));
  std::printf("%-24s %14llu %14llu\n", "lost", static_cast<unsigned long long>(recalls.lost),
              static_cast<unsigned long long>(messages.lost));
}

// Latency CDF, log-scale x axis, one line per side.
inline std::string cdf_svg(const std::vector<const figures*>& sides) {
  constexpr double width = 760, height = 440, left = 70, right = 20, top = 40, bottom = 60;
  constexpr double plot_w = width - left - right, plot_h = height - top - bottom;
  double lo = 1e18, hi = 0;
  for (const auto* f : sides) {
    if (f->delivery_us.empty()) continue;
    lo = std::min(lo, std::max(1.0, f->delivery_us.front()));
    hi = std::max(hi, f->delivery_us.back());
  }
  if (hi <= 0) lo = 1, hi = 10;
  const double lo_dec = std::floor(std::log10(lo)),
               hi_dec = std::max(lo_dec + 1, std::ceil(std::log10(hi)));
  const auto x_of = [&](double us) {
    return left + (std::log10(std::max(us, 1.0)) - lo_dec) / (hi_dec - lo_dec) * plot_w;
  };
  const auto y_of = [&](double fraction) { return top + (1 - fraction) * plot_h; };
  std::ostringstream svg;
  svg.setf(std::ios::fixed);
  svg.precision(1);
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << width << ' ' << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << width / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">"
      << "Delivery latency, publish to store (CDF)</text>\n";
  for (double dec = lo_dec; dec <= hi_dec; ++dec) {
    const double x = x_of(std::pow(10, dec));
    svg << "<line x1=\"" << x << "\" y1=\"" << top << "\" x2=\"" << x << "\" y2=\"" << top + plot_h
        << "\" stroke=\"#ddd\"/>\n<text x=\"" << x << "\" y=\"" << top + plot_h + 18
        << "\" text-anchor=\"middle\">"
        << (dec < 3 ? std::to_string(static_cast<int>(std::pow(10, dec))) + " us"
                    : std::to_string(static_cast<long long>(std::pow(10, dec - 3))) + " ms")
        << "</text>\n";
  }
  for (int i = 0; i <= 10; i += 2) {
    const double y = y_of(i / 10.0);
    svg << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << left + plot_w << "\" y2=\""
        << y << "\" stroke=\"#ddd\"/>\n<text x=\"" << left - 8 << "\" y=\"" << y + 4
        << "\" text-anchor=\"end\">" << i * 10 << "%</text>\n";
  }
  svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << plot_w << "\" height=\""
      << plot_h << "\" fill=\"none\" stroke=\"#333\"/>\n"
      << "<text x=\"" << left + plot_w / 2 << "\" y=\"" << height - 15
      << "\" text-anchor=\"middle\">latency (log scale)</text>\n"
      << "<text transform=\"translate(18 " << top + plot_h / 2
      << ") rotate(-90)\" text-anchor=\"middle\">deliveries at or below</text>\n";
  const char* colours[] = {"#d62728", "#1f77b4", "#2ca02c"};
  for (std::size_t s = 0; s < sides.size(); ++s) {
    const auto& d = sides[s]->delivery_us;
    svg << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" << colours[s % 3]
        << "\" points=\"";
    const std::size_t points = std::min<std::size_t>(d.size(), 400);
    for (std::size_t i = 1; i <= points; ++i) {
      const auto index = (d.size() * i) / points - 1;
      svg << x_of(d[index]) << ','
          << y_of(static_cast<double>(index + 1) / static_cast<double>(d.size())) << ' ';
    }
    svg << "\"/>\n";
    const double ly = top + 16 + 18 * static_cast<double>(s);
    svg << "<line x1=\"" << left + 12 << "\" y1=\"" << ly << "\" x2=\"" << left + 36 << "\" y2=\""
        << ly << "\" stroke-width=\"2\" stroke=\"" << colours[s % 3] << "\"/>\n<text x=\""
        << left + 42 << "\" y=\"" << ly + 4 << "\">" << sides[s]->name << " (p50 "
        << percentile(d, 50) << " us, p99 " << percentile(d, 99) << " us)</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace fanout
