#pragma once
// Store boxes for end-to-end tests: the real subscriberd as a child process, with head office
// (publisherd_fixture) on the same Redis. Every test starts its stores through store_box, so what
// every store needs (head office's public key) is given in one place.

#include "publisherd_fixture.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace bcast::test {

// One store box: subscriberd with the terminal sink (its stdout is the log we wait on) and a
// jsonl sink (the exact record of what it showed).
struct store_box {
  std::string id;
  std::vector<std::string> groups;
  std::string dir;
  std::string redis_url;
  std::vector<std::string> extra_sinks;
  bool with_terminal = true;  // the terminal sink's output is the log we wait on
  // Head office's public keys (--trusted-key), and --allow-unsigned.
  std::vector<std::string> trusted_keys;
  bool allow_unsigned = false;
  std::vector<std::string> extra_args;  // "--language", "id", ...
  std::vector<std::string> env;         // "DISPLAY=:99", ...
  std::unique_ptr<daemon_process> process;

  std::string jsonl() const { return dir + "/shown.jsonl"; }

  std::vector<std::string> arguments() const {
    std::vector<std::string> args{"--redis",     redis_url,      "--store", id,
                                  "--state-dir", dir + "/state", "--sink",  "jsonl:" + jsonl()};
    if (with_terminal) args.insert(args.end(), {"--sink", "terminal"});
    for (const auto& g : groups) args.insert(args.end(), {"--group", g});
    for (const auto& s : extra_sinks) args.insert(args.end(), {"--sink", s});
    for (const auto& k : trusted_keys) args.insert(args.end(), {"--trusted-key", k});
    if (allow_unsigned) args.emplace_back("--allow-unsigned");
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    return args;
  }
  // Runs subscriberd; start() also waits until it is live.
  void launch() {
    process = std::make_unique<daemon_process>(build_path("daemons/subscriberd/subscriberd"),
                                               arguments(), env);
  }
  void start() {
    launch();
    REQUIRE(process->wait_for_log("is live on"));
  }
  void stop() {
    process->signal(SIGTERM);
    REQUIRE(process->wait_exit() == 0);
  }
  // The terminal sink's line says it was shown; the jsonl sink, a separate queue, may write its
  // line a moment later, so wait for that too before reading the record.
  bool wait_shown(const std::string& title) {
    if (with_terminal && !process->wait_for_log("\n" + title + "\n")) return false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    const std::string needle = "\"title\":" + nlohmann::json(title).dump();
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(jsonl());
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (text.find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  std::vector<nlohmann::json> shown() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(jsonl());
    std::string line;
    while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
    return out;
  }
  std::vector<std::string> shown_titles() const {
    std::vector<std::string> out;
    for (const auto& e : shown()) out.push_back(e["title"]);
    return out;
  }
};

// Head office and its stores on one Redis.
struct fleet {
  publisherd_fixture hq;
  std::vector<std::unique_ptr<store_box>> stores;

  explicit fleet(std::vector<std::string> publisherd_args = {},
                 std::vector<std::string> redis_args = {})
      : hq(std::move(publisherd_args), std::move(redis_args)) {}

  // What every store of the fleet trusts: the key head office signs with.
  void trust_head_office(store_box& box) const { box.trusted_keys = {hq.public_key}; }

  // A store box that trusts head office, not started yet.
  store_box& prepare(const std::string& id, std::vector<std::string> groups) {
    auto box = std::make_unique<store_box>();
    box->id = id;
    box->groups = std::move(groups);
    box->dir = hq.dir.file("store-" + id);
    box->redis_url = hq.redis->url();
    trust_head_office(*box);
    std::filesystem::create_directories(box->dir);
    stores.push_back(std::move(box));
    return *stores.back();
  }

  store_box& add(const std::string& id, std::vector<std::string> groups,
                 std::vector<std::string> extra_sinks = {}, bool with_terminal = true) {
    auto& box = prepare(id, std::move(groups));
    box.extra_sinks = std::move(extra_sinks);
    box.with_terminal = with_terminal;
    box.start();
    return box;
  }
  // Through the Unix socket: the local peer is trusted (SO_PEERCRED).
  http_result try_send(std::vector<std::string> targets, const std::string& title,
                       nlohmann::json extra = nlohmann::json::object()) {
    nlohmann::json body{{"targets", targets},
                        {"category", "announcement"},
                        {"title", title},
                        {"body", "Isi pesan " + title}};
    body.update(extra);
    return http_call(0, "POST", "/api/v1/messages", body.dump(), {}, hq.socket);
  }
  nlohmann::json send(std::vector<std::string> targets, const std::string& title,
                      nlohmann::json extra = nlohmann::json::object()) {
    auto r = try_send(std::move(targets), title, std::move(extra));
    REQUIRE(r.status == 201);
    return nlohmann::json::parse(r.body);
  }

  nlohmann::json receipts(const std::string& id) {
    auto r = http_call(0, "GET", "/api/v1/messages/" + id, {}, {}, hq.socket);
    REQUIRE(r.status == 200);
    return nlohmann::json::parse(r.body)["receipts"];
  }

  // The store's receipt for message `id` through publisherd's API, once it is `state`.
  nlohmann::json wait_for_receipt(const std::string& id, const std::string& store,
                                  const std::string& state) {
    nlohmann::json r;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      r = receipts(id);
      for (const auto& s : r["stores"]) {
        if (s["store"] == store && s["state"] == state) return r;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        FAIL("no receipt " << state << " from " << store << " for " << id << ": " << r.dump());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  nlohmann::json stores_api() {
    auto r = http_call(0, "GET", "/api/v1/stores", {}, {}, hq.socket);
    REQUIRE(r.status == 200);
    return nlohmann::json::parse(r.body)["stores"];
  }
};

}  // namespace bcast::test
