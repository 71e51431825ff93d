#pragma once
// Whoever can write to Redis, in end-to-end tests: what an attacker with Redis write access does
// to a fleet, done with the library (publish an envelope as it is, rewrite a history, append a
// copy of a message).

#include "publisherd_fixture.hpp"

#include <broker/broker_helpers.hpp>

#include <bcast/broker/keys.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/message/envelope.hpp>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bcast::test {

// Whoever can write to Redis, with the library. Each write has a connection of its own: the
// test blocks on the daemons between writes, and a loop that did not run meanwhile would time its
// next command from a stale clock.
struct redis_writer {
  std::string url;

  struct connection {
    core::loop loop;
    redis::client client;
    explicit connection(const std::string& url) : client(loop, test::broker_opts(url)) {}
    redis::reply command(const std::vector<std::string>& args) {
      auto r = test::run_command(loop, client, args);
      REQUIRE_OK(r);
      return std::move(r).value();
    }
  };

  // Appends `e` to each of its targets' history and publishes it live, as it is; publisherd's
  // message log records it too, so GET /api/v1/messages/{id} shows its receipts.
  void publish(const message::envelope& e) const {
    connection c(url);
    broker::publisher publisher(c.client);
    std::optional<core::result<broker::publish_outcome>> out;
    publisher.publish(e,
                      [&](core::result<broker::publish_outcome> r) { out.emplace(std::move(r)); });
    REQUIRE(test::run_until(c.loop, [&] { return out.has_value(); }));
    REQUIRE_OK(*out);
  }

  // Rewrites `target`'s history with `edit` applied to the envelope JSON of each entry, keeping
  // every entry id: what a store reads in catch-up is then the edited text.
  void rewrite_history(
      const std::string& target,
      const std::function<void(const std::string& id, std::string& json)>& edit) const {
    connection c(url);
    const auto key = broker::history_key(target);
    const auto entries = c.command({"XRANGE", key, "-", "+"});
    c.command({"DEL", key});
    for (const auto& e : entries.elements) {
      std::vector<std::string> add{"XADD", key, e.elements[0].str};
      std::string id;
      const auto& fields = e.elements[1].elements;
      for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i].str == "id") id = fields[i + 1].str;
      }
      for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        std::string value = fields[i + 1].str;
        if (fields[i].str == "env") edit(id, value);
        add.push_back(fields[i].str);
        add.push_back(std::move(value));
      }
      c.command(add);
    }
  }

  // Appends `json` to `target`'s history as a copy of message `id`; with `live`, also publishes
  // it as a numbered frame, "<seq>:<stream id>:<message id>:<envelope>", as the publish script
  // does.
  void append_to_history(const std::string& target, const std::string& id, const std::string& json,
                         bool live = false) const {
    connection c(url);
    const auto entry =
        c.command({"XADD", broker::history_key(target), "0-*", "id", id, "env", json}).str;
    REQUIRE(entry.rfind("0-", 0) == 0);
    if (live) {
      c.command({"PUBLISH", broker::live_channel(target),
                 entry.substr(2) + ":" + entry + ":" + id + ":" + json});
    }
  }
};

}  // namespace bcast::test
