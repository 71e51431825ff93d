// bcast-bench at a small size against a real redis-server: it finishes, loses nothing, and writes
// a well-formed result.json and an SVG. No speeds are asserted; speeds belong in benchmarks.

#include "publisherd_fixture.hpp"

#include <fstream>
#include <sstream>

using namespace bcast;
using nlohmann::json;

namespace {

// Runs bcast-bench with `args` plus --out DIR; returns its exit status, and its output in `log`.
int run_bench(const std::string& args, const test::temp_dir& out, std::string& log) {
  const auto cmd = "'" + test::build_path("daemons/bcast-bench") + "' " + args + " --out '" +
                   out.path().string() + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) log.append(buf, n);
  return WEXITSTATUS(::pclose(p));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void check_side(const json& side, unsigned stores, unsigned messages) {
  CHECK(side.at("stores") == stores);
  CHECK(side.at("messages") == messages);
  CHECK(side.at("lost") == 0);
  CHECK(side.at("duplicates") == 0);
  for (const auto* key : {"p50", "p90", "p99", "p999", "max"}) {
    CHECK(side.at("delivery_us").at(key).is_number());
  }
  for (const auto* key : {"p50", "p99", "max"}) CHECK(side.at("fanout_us").at(key).is_number());
  CHECK(side.at("throughput").at("messages_per_s").is_number());
}

// The run succeeded and its files are complete.
void check_outputs(const test::temp_dir& out, unsigned stores, unsigned messages,
                   unsigned expected_deliveries) {
  const auto result = json::parse(read_file(out.file("result.json")));
  check_side(result, stores, messages);
  check_side(result.at("baseline"), stores, messages);
  CHECK(result.at("expected_deliveries") == expected_deliveries);
  CHECK(result.at("ratio").at("delivery_p50").is_number());
  CHECK(result.at("ratio").at("fanout_p50").is_number());
  const auto svg = read_file(out.file("latency_cdf.svg"));
  CHECK(svg.starts_with("<svg"));
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(svg.find("<polyline") != std::string::npos);
}

}  // namespace

TEST_CASE("bcast-bench: 50 stores, 20 messages to all and to groups, nothing lost") {
  test::redis_server redis;
  SECTION("all") {
    test::temp_dir out;
    std::string log;
    const int status =
        run_bench("--stores 50 --messages 20 --target all --redis " + redis.url(), out, log);
    INFO(log);
    REQUIRE(status == 0);
    CHECK(log.find("delivery p50") != std::string::npos);
    check_outputs(out, 50, 20, 50 * 20);
  }
  SECTION("groups, open loop, two store threads") {
    test::temp_dir out;
    std::string log;
    const int status = run_bench(
        "--stores 50 --groups 4 --messages 20 --target group --rate 500 "
        "--threads 2 --redis " +
            redis.url(),
        out, log);
    INFO(log);
    REQUIRE(status == 0);
    // Messages k go to group k % 4; groups 0 and 1 have 13 stores, 2 and 3 have 12.
    check_outputs(out, 50, 20, 5 * (13 + 13 + 12 + 12));
  }
  SECTION("stores through the catch-up driver, as subscriberd receives") {
    test::temp_dir out;
    std::string log;
    const int status = run_bench(
        "--stores 50 --messages 20 --target all --receive full --redis " + redis.url(), out, log);
    INFO(log);
    REQUIRE(status == 0);
    check_outputs(out, 50, 20, 50 * 20);
  }
}

// The stores trust only the run's key and refuse unsigned messages: a signed phase that lost
// nothing had every message signed by that key and verified.
TEST_CASE("bcast-bench --sign: unsigned and signed in one run, with the sign and verify costs") {
  test::redis_server redis;
  test::temp_dir out;
  std::string log;
  const int status = run_bench(
      "--stores 5 --messages 20 --target all --receive full --sign --redis " + redis.url(), out,
      log);
  INFO(log);
  REQUIRE(status == 0);
  CHECK(log.find("signed adds") != std::string::npos);
  check_outputs(out, 5, 20, 5 * 20);
  const auto result = json::parse(read_file(out.file("result.json")));
  CHECK(result.at("signed") == true);
  check_side(result.at("unsigned"), 5, 20);
  const auto& signing = result.at("signing");
  CHECK(signing.at("samples") == 500);
  CHECK(signing.at("sign_us").get<double>() > 0);
  CHECK(signing.at("verify_us").get<double>() > 0);
  CHECK(signing.at("delivery_p50_signed_us") == result.at("delivery_us").at("p50"));
  CHECK(signing.at("delivery_p50_unsigned_us") ==
        result.at("unsigned").at("delivery_us").at("p50"));
  CHECK(signing.at("added_over_sign_verify").is_number());
  // In the phases: a publish call that signs takes longer than one that does not, and a display
  // pipeline that verifies longer than one that only checks the targets.
  const auto& in_path = signing.at("in_path");
  INFO(in_path.dump());
  CHECK(in_path.at("publish_call_us").at(0).get<double>() >
        in_path.at("publish_call_us").at(1).get<double>());
  CHECK(in_path.at("pipeline_us").at(0).get<double>() >
        in_path.at("pipeline_us").at(1).get<double>());
  CHECK(in_path.at("sign_us").get<double>() > 0);
  CHECK(in_path.at("verify_us").get<double>() > 0);
  CHECK(in_path.at("added_over_sign_verify").is_number());
  // The signed, the unsigned and the baseline's CDF.
  const auto svg = read_file(out.file("latency_cdf.svg"));
  std::size_t curves = 0;
  for (auto at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1))
    ++curves;
  CHECK(curves == 3);
}

namespace {

// The values of the report's last row named `label`, joined by spaces: the recall table is printed
// last, so its row when there is one.
std::string table_row(const std::string& log, const std::string& label) {
  std::istringstream lines(log);
  std::string line, found;
  while (std::getline(lines, line)) {
    if (!line.starts_with(label + " ")) continue;
    std::istringstream words(line.substr(label.size()));
    std::string word;
    found.clear();
    while (words >> word) found += (found.empty() ? "" : " ") + word;
  }
  return found;
}

void check_recall(const json& recall, unsigned stores, unsigned messages) {
  check_side(recall, stores, messages);
  CHECK(recall.at("expected_deliveries") == stores * messages);
  for (const auto* key : {"delivery_p50", "delivery_p90", "delivery_p99", "fanout_p50"}) {
    CHECK(recall.at("ratio_to_message").at(key).get<double>() > 0);
  }
}

}  // namespace

// Each store's pipeline takes every message down through its sink once the notice comes: a run
// that lost no recall had every notice accepted (signed by the run's key with --sign) and acted on.
TEST_CASE("bcast-bench --recall: every message recalled, the recalls beside the messages") {
  test::redis_server redis;
  SECTION("unsigned") {
    test::temp_dir out;
    std::string log;
    const int status = run_bench(
        "--stores 5 --messages 20 --target all --receive full --recall --redis " + redis.url(), out,
        log);
    INFO(log);
    REQUIRE(status == 0);
    // The recall table's rows, recall first, then message.
    CHECK(log.find("recall        message") != std::string::npos);
    CHECK(table_row(log, "arrived") == "100 100");
    CHECK(table_row(log, "lost") == "0 0");
    check_outputs(out, 5, 20, 5 * 20);
    check_recall(json::parse(read_file(out.file("result.json"))).at("recall"), 5, 20);
  }
  SECTION("signed, to groups") {
    test::temp_dir out;
    std::string log;
    const int status = run_bench(
        "--stores 8 --groups 2 --messages 10 --target group --receive full --recall --sign "
        "--redis " +
            redis.url(),
        out, log);
    INFO(log);
    REQUIRE(status == 0);
    const auto result = json::parse(read_file(out.file("result.json")));
    // Message k goes to group k % 2, 4 stores each.
    for (const auto* side : {&result.at("recall"), &result.at("unsigned").at("recall")}) {
      CHECK(side->at("lost") == 0);
      CHECK(side->at("expected_deliveries") == 10 * 4);
    }
  }
}

TEST_CASE("bcast-bench: through publisherd's API with a bearer token") {
  test::publisherd_fixture f;
  const auto token = f.bearer_token();
  test::temp_dir out;
  std::string log;
  const int status =
      run_bench("--stores 5 --messages 10 --target store --via api --api http://127.0.0.1:" +
                    std::to_string(f.port) + " --token " + token + " --redis " + f.redis->url(),
                out, log);
  INFO(log);
  REQUIRE(status == 0);
  check_outputs(out, 5, 10, 10);
}

TEST_CASE("bcast-bench: bad options exit 2 with the reason") {
  test::temp_dir out;
  std::string log;
  CHECK(run_bench("--target nowhere", out, log) == 2);
  CHECK(log.find("--target is all, group or store") != std::string::npos);
  log.clear();
  CHECK(run_bench("--via api --redis redis://127.0.0.1:1", out, log) == 2);
  CHECK(log.find("--via api needs") != std::string::npos);
  log.clear();
  CHECK(run_bench("--sign", out, log) == 2);
  CHECK(log.find("--sign needs --receive full") != std::string::npos);
  log.clear();
  CHECK(run_bench("--sign --receive full --via api --api http://127.0.0.1:1 --token t --redis "
                  "redis://127.0.0.1:1",
                  out, log) == 2);
  CHECK(log.find("--sign signs through broker::publisher") != std::string::npos);
  log.clear();
  CHECK(run_bench("--recall", out, log) == 2);
  CHECK(log.find("--recall needs --receive full") != std::string::npos);
  log.clear();
  CHECK(run_bench("--recall --receive full --via frame", out, log) == 2);
  CHECK(log.find("--recall publishes recall notices through broker::publisher") !=
        std::string::npos);
}
