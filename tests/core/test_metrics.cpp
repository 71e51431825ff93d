#include <bcast/core/metrics.hpp>

#include <catch2/catch.hpp>

#include <limits>
#include <sstream>
#include <string>
#include <vector>

using namespace bcast::core::metrics;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  REQUIRE((text.empty() || text.back() == '\n'));
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("counters and gauges are exposed with HELP and TYPE, in registration order",
          "[core][metrics]") {
  registry r;
  counter& failures = r.add_counter("bcast_login_failures_total", "Failed logins.");
  gauge& up = r.add_gauge("bcast_redis_up", "Whether the Redis connection is ready.");
  CHECK(lines_of(r.exposition()) ==
        std::vector<std::string>{
            "# HELP bcast_login_failures_total Failed logins.",
            "# TYPE bcast_login_failures_total counter",
            "bcast_login_failures_total 0",
            "# HELP bcast_redis_up Whether the Redis connection is ready.",
            "# TYPE bcast_redis_up gauge",
            "bcast_redis_up 0",
        });
  failures.inc();
  failures.inc(41);
  up.set(1);
  CHECK(failures.value() == 42);
  const auto lines = lines_of(r.exposition());
  CHECK(lines[2] == "bcast_login_failures_total 42");
  CHECK(lines[5] == "bcast_redis_up 1");

  up.set(0.25);
  up.inc(2);
  up.dec(0.5);
  CHECK(up.value() == 1.75);
  CHECK(lines_of(r.exposition())[5] == "bcast_redis_up 1.75");
  up.set(-3);
  CHECK(lines_of(r.exposition())[5] == "bcast_redis_up -3");
}

TEST_CASE("a labelled family: one series per combination, sorted, handles stay valid",
          "[core][metrics]") {
  registry r;
  auto& requests = r.add_counter_family<2>(
      "bcast_http_requests_total", "HTTP requests by route and status.", {"route", "status"});
  counter& posted = requests.with({"/api/v1/messages", "201"});
  // Many more series: the deque behind the family never moves the first one.
  for (int i = 0; i < 500; ++i) requests.with({"/r" + std::to_string(i), "200"}).inc();
  posted.inc();
  posted.inc();
  requests.with({"/api/v1/messages", "201"}).inc();  // the same series, found again
  CHECK(&requests.with({"/api/v1/messages", "201"}) == &posted);
  CHECK(posted.value() == 3);
  requests.with({"/api/v1/health", "503"}).inc();
  CHECK(requests.size() == 502);

  const auto lines = lines_of(r.exposition());
  REQUIRE(lines.size() == 2 + 502);
  CHECK(lines[0] == "# HELP bcast_http_requests_total HTTP requests by route and status.");
  CHECK(lines[1] == "# TYPE bcast_http_requests_total counter");
  CHECK(lines[2] == R"(bcast_http_requests_total{route="/api/v1/health",status="503"} 1)");
  CHECK(lines[3] == R"(bcast_http_requests_total{route="/api/v1/messages",status="201"} 3)");
  CHECK(lines[4] == R"(bcast_http_requests_total{route="/r0",status="200"} 1)");
}

TEST_CASE("a family with no series yet shows HELP and TYPE only", "[core][metrics]") {
  registry r;
  r.add_counter_family<1>("bcast_messages_published_total", "Messages published, by result.",
                          {"result"});
  CHECK(lines_of(r.exposition()) ==
        std::vector<std::string>{
            "# HELP bcast_messages_published_total Messages published, by result.",
            "# TYPE bcast_messages_published_total counter"});
}

TEST_CASE("label values escape backslash, quote and newline; HELP escapes backslash and newline",
          "[core][metrics]") {
  registry r;
  auto& f = r.add_gauge_family<2>("odd", "A \"help\" with \\ and\nnewline.", {"a", "b"});
  f.with({"back\\slash \"quoted\"", "line\nbreak"}).set(1);
  CHECK(lines_of(r.exposition()) == std::vector<std::string>{
                                        R"(# HELP odd A "help" with \\ and\nnewline.)",
                                        "# TYPE odd gauge",
                                        R"(odd{a="back\\slash \"quoted\"",b="line\nbreak"} 1)",
                                    });
}

TEST_CASE("a histogram: cumulative buckets, +Inf, _sum and _count", "[core][metrics]") {
  registry r;
  histogram& h = r.add_histogram("bcast_publish_duration_seconds",
                                 "Time from accepted request to Redis answer.",
                                 {0.001, 0.0025, 0.005, 0.01, 0.5, 1, 2.5});
  h.observe(0.0005);  // first bucket
  h.observe(0.001);   // a bound is inclusive
  h.observe(0.003);
  h.observe(0.75);
  h.observe(7);  // above every bound: +Inf only
  CHECK(h.count() == 5);
  CHECK(h.bucket_count(0) == 2);
  CHECK(h.bucket_count(7) == 1);
  CHECK(lines_of(r.exposition()) ==
        std::vector<std::string>{
            "# HELP bcast_publish_duration_seconds Time from accepted request to Redis answer.",
            "# TYPE bcast_publish_duration_seconds histogram",
            R"(bcast_publish_duration_seconds_bucket{le="0.001"} 2)",
            R"(bcast_publish_duration_seconds_bucket{le="0.0025"} 2)",
            R"(bcast_publish_duration_seconds_bucket{le="0.005"} 3)",
            R"(bcast_publish_duration_seconds_bucket{le="0.01"} 3)",
            R"(bcast_publish_duration_seconds_bucket{le="0.5"} 3)",
            R"(bcast_publish_duration_seconds_bucket{le="1"} 4)",
            R"(bcast_publish_duration_seconds_bucket{le="2.5"} 4)",
            R"(bcast_publish_duration_seconds_bucket{le="+Inf"} 5)",
            "bcast_publish_duration_seconds_sum 7.7545",
            "bcast_publish_duration_seconds_count 5",
        });
}

TEST_CASE("a labelled histogram puts le after its own labels", "[core][metrics]") {
  registry r;
  auto& f = r.add_histogram_family<1>("d", "D.", {"sink"}, {1});
  f.with({"zenity"}).observe(2);
  CHECK(lines_of(r.exposition()) == std::vector<std::string>{
                                        "# HELP d D.",
                                        "# TYPE d histogram",
                                        R"(d_bucket{sink="zenity",le="1"} 0)",
                                        R"(d_bucket{sink="zenity",le="+Inf"} 1)",
                                        R"(d_sum{sink="zenity"} 2)",
                                        R"(d_count{sink="zenity"} 1)",
                                    });
}

TEST_CASE("special values use Prometheus's spellings", "[core][metrics]") {
  registry r;
  gauge& g = r.add_gauge("g", "G.");
  g.set(std::numeric_limits<double>::infinity());
  CHECK(lines_of(r.exposition())[2] == "g +Inf");
  g.set(-std::numeric_limits<double>::infinity());
  CHECK(lines_of(r.exposition())[2] == "g -Inf");
  g.set(std::numeric_limits<double>::quiet_NaN());
  CHECK(lines_of(r.exposition())[2] == "g NaN");
  g.set(1e-7);
  CHECK(lines_of(r.exposition())[2] == "g 1e-07");
  counter& c = r.add_counter("c_total", "C.");
  c.inc(std::numeric_limits<std::uint64_t>::max());
  CHECK(lines_of(r.exposition())[5] == "c_total 18446744073709551615");
}

TEST_CASE("past max_series, new label values share one _other series", "[core][metrics]") {
  registry r;
  auto& f = r.add_counter_family<1>("by_peer_total", "By peer.", {"peer"}, 2);
  f.with({"a"}).inc();
  f.with({"b"}).inc();
  f.with({"c"}).inc();
  f.with({"d"}).inc();
  f.with({"a"}).inc();  // an existing series is still its own
  CHECK(f.size() == 3);
  CHECK(lines_of(r.exposition()) == std::vector<std::string>{
                                        "# HELP by_peer_total By peer.",
                                        "# TYPE by_peer_total counter",
                                        R"(by_peer_total{peer="_other"} 2)",
                                        R"(by_peer_total{peer="a"} 2)",
                                        R"(by_peer_total{peer="b"} 1)",
                                    });
}

TEST_CASE("bad names, twice-registered names and bad buckets are refused at registration",
          "[core][metrics]") {
  registry r;
  r.add_counter("ok_total", "Ok.");
  CHECK_THROWS_AS(r.add_gauge("ok_total", "Again."), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("", "Empty."), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("9lives", "Digit first."), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter("has-dash", "Dash."), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter_family<1>("x_total", "X.", {"has:colon"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter_family<1>("y_total", "Y.", {"__reserved"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_counter_family<2>("z_total", "Z.", {"a", "a"}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h1", "H.", {}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h2", "H.", {2, 1}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h3", "H.", {1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram("h4", "H.", {1, std::numeric_limits<double>::infinity()}),
                  std::invalid_argument);
  CHECK_THROWS_AS(r.add_histogram_family<1>("h5", "H.", {"le"}, {1}), std::invalid_argument);
  CHECK_NOTHROW(r.add_counter("ns:sub_total", "Colons are fine in metric names."));
  // Nothing refused was registered.
  CHECK(lines_of(r.exposition()).size() == 6);
}

TEST_CASE("a counter counts without a registry too", "[core][metrics]") {
  counter c;
  c.inc();
  c.inc(2);
  CHECK(c.value() == 3);
}
