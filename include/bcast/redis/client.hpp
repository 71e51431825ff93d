#pragma once
// The command client: pipelined commands over one connection, or to a Redis Cluster through a
// cluster_router (each command to the master of its key's slot), and Lua scripts run by EVALSHA
// with a fallback to EVAL when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH).

#include <bcast/core/digest.hpp>
#include <bcast/core/join.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/text.hpp>
#include <bcast/redis/cluster_router.hpp>
#include <bcast/redis/cluster_slots.hpp>
#include <bcast/redis/connection.hpp>
#include <bcast/redis/options.hpp>

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace bcast::redis {

class script {
 public:
  explicit script(std::string source)
      : source_(std::make_shared<const std::string>(std::move(source))),
        sha1_(core::to_hex(core::sha1(*source_))) {}
  const std::string& source() const noexcept { return *source_; }
  // For a fallback that may run after the script object is gone.
  std::shared_ptr<const std::string> shared_source() const noexcept { return source_; }
  const std::string& sha1() const noexcept { return sha1_; }

 private:
  std::shared_ptr<const std::string> source_;
  std::string sha1_;
};

class client {
 public:
  client(core::loop& l, options o) {
    if (o.cluster) {
      router_ = cluster_router::create(l, std::move(o));
    } else {
      conn_ = connection::create(l, std::move(o));
    }
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  // Pending callbacks are dropped uncalled: they may refer to what the owner is destroying.
  ~client() {
    if (router_) {
      router_->abandon();
    } else {
      conn_->abandon();
    }
  }

  // Connects now; otherwise the first command connects.
  void connect() {
    if (router_) {
      router_->start();
    } else {
      conn_->start();
    }
  }
  void close() {
    if (router_) {
      router_->close();
    } else {
      conn_->close();
    }
  }

  void command(std::span<const std::string_view> args, reply_handler cb) {
    if (!router_) return conn_->send(args, std::move(cb));
    router_->send(slot_of_command(args), encode_command(args), std::move(cb));
  }
  void command(std::initializer_list<std::string_view> args, reply_handler cb) {
    command(std::span<const std::string_view>(args.begin(), args.size()), std::move(cb));
  }
  void command(const std::vector<std::string>& args, reply_handler cb) {
    std::vector<std::string_view> views(args.begin(), args.end());
    command(std::span<const std::string_view>(views), std::move(cb));
  }

  // A command without a key of its own that must reach the node of `key`'s slot: WAIT after a
  // write to that slot. The same as command() on a single Redis.
  void command_at(std::string_view key, std::span<const std::string_view> args, reply_handler cb) {
    if (!router_) return conn_->send(args, std::move(cb));
    router_->send(key_slot(key), encode_command(args), std::move(cb));
  }

  // EVALSHA sha numkeys keys... args...; on NOSCRIPT the same call again as EVAL.
  void eval(const script& s, std::span<const std::string_view> keys,
            std::span<const std::string_view> args, reply_handler cb) {
    script_call fallback;
    fallback.slot = slot_of_keys(keys);
    auto resp = evalsha(s, keys, args, fallback);
    dispatch(fallback.slot, std::move(resp), with_eval_fallback(std::move(fallback), std::move(cb)));
  }

  // MULTI, the commands, EXEC, written at once: nothing else can come between them, even across
  // a reconnect. The handler gets EXEC's answer: an array of the commands' answers (a command
  // that failed as it ran is an error element; the others ran), or an error when Redis refused
  // the transaction, with the first refusal. On a cluster every key must share one slot.
  void transaction(std::initializer_list<std::span<const std::string_view>> commands,
                   reply_handler cb) {
    dispatch(slot_of_transaction(commands), encode_transaction(commands), std::move(cb),
             static_cast<std::uint32_t>(commands.size() + 1));
  }

  // Several commands written together, and one completion with all their answers
  // (client::pipeline below).
  class pipeline;

  bool cluster() const noexcept { return router_ != nullptr; }
  // On a cluster: ready while every master is (cluster_router).
  connection_state state() const noexcept { return router_ ? router_->state() : conn_->state(); }
  bool ready() const noexcept { return router_ ? router_->ready() : conn_->ready(); }
  const core::error& last_error() const noexcept {
    return router_ ? router_->last_error() : conn_->last_error();
  }
  void observe(connection::state_observer o) {
    if (router_) {
      router_->observe(std::move(o));
    } else {
      conn_->observe(std::move(o));
    }
  }
  std::size_t in_flight() const noexcept {
    return router_ ? router_->in_flight() : conn_->in_flight();
  }
  core::loop& owner_loop() noexcept {
    return router_ ? router_->owner_loop() : conn_->owner_loop();
  }
  const options& opts() const noexcept { return router_ ? router_->opts() : conn_->opts(); }
  // The connection of a single Redis; on a cluster, the one to the master of `slot` (the first
  // master without one), null before the cluster's map is known.
  std::shared_ptr<connection> connection_to(std::optional<std::uint16_t> slot = std::nullopt) {
    return router_ ? router_->master_for(slot) : conn_;
  }
  // The slot map of a cluster, for a subscriber to place its shard channels by; null otherwise.
  std::shared_ptr<cluster_router> topology() const noexcept { return router_; }
  // Every master of a cluster (a command per node: SCAN), or the one connection.
  std::vector<std::shared_ptr<connection>> nodes() {
    return router_ ? router_->masters() : std::vector<std::shared_ptr<connection>>{conn_};
  }

 private:
  // What the EVAL fallback of an EVALSHA needs: it differs from the EVALSHA only before numkeys,
  // so the bytes after the sha (`tail`) are all it keeps, not a copy of the whole script source
  // on every call.
  struct script_call {
    std::optional<std::uint16_t> slot;  // on a cluster
    std::size_t argc = 0;
    std::shared_ptr<const std::string> source;
    std::string tail;
  };

  static std::string evalsha(const script& s, std::span<const std::string_view> keys,
                             std::span<const std::string_view> args, script_call& call) {
    call.argc = 3 + keys.size() + args.size();
    call.source = s.shared_source();
    std::size_t size = 32;
    for (auto a : keys) size += a.size() + 16;
    for (auto a : args) size += a.size() + 16;
    call.tail.reserve(size);
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, keys.size()).ptr;
    append_bulk(call.tail, std::string_view(digits, static_cast<std::size_t>(end - digits)));
    for (auto k : keys) append_bulk(call.tail, k);
    for (auto a : args) append_bulk(call.tail, a);
    std::string resp;
    resp.reserve(call.tail.size() + s.sha1().size() + 32);
    detail::append_resp_header(resp, '*', call.argc);
    append_bulk(resp, "EVALSHA");
    append_bulk(resp, s.sha1());
    resp += call.tail;
    return resp;
  }

  // The answer to `call`'s EVALSHA goes to `cb`, unless it is NOSCRIPT: then the same call is
  // sent again as EVAL, and its answer goes to `cb`.
  template <class Handler>
  reply_handler with_eval_fallback(script_call call, Handler cb) {
    std::weak_ptr<connection> weak_conn = conn_;
    std::weak_ptr<cluster_router> weak_router = router_;
    return [weak_conn, weak_router, slot = call.slot, argc = call.argc,
            source = std::move(call.source), tail = std::move(call.tail),
            cb = std::move(cb)](core::result<reply> r) mutable {
      if (!r || !r.value().error_is("NOSCRIPT")) return cb(std::move(r));
      if (auto conn = weak_conn.lock()) {
        conn->send_formatted(eval_command(argc, *source, tail), std::move(cb));
      } else if (auto router = weak_router.lock()) {
        router->send(slot, eval_command(argc, *source, tail), std::move(cb));
      } else {
        cb(std::move(r));
      }
    };
  }

  void dispatch(std::optional<std::uint16_t> slot, std::string resp, reply_handler cb,
                std::uint32_t answers_before = 0) {
    if (router_) {
      router_->send(slot, std::move(resp), std::move(cb), answers_before);
    } else {
      conn_->send_formatted(std::move(resp), std::move(cb), answers_before);
    }
  }

  static std::optional<std::uint16_t> slot_of_command(std::span<const std::string_view> args) {
    auto key = command_key(args);
    return key ? std::optional<std::uint16_t>(key_slot(*key)) : std::nullopt;
  }
  static std::optional<std::uint16_t> slot_of_keys(std::span<const std::string_view> keys) {
    return keys.empty() ? std::nullopt : std::optional<std::uint16_t>(key_slot(keys.front()));
  }
  static std::optional<std::uint16_t> slot_of_transaction(
      std::initializer_list<std::span<const std::string_view>> commands) {
    for (auto c : commands) {
      if (auto slot = slot_of_command(c)) return slot;
    }
    return std::nullopt;
  }

  static std::string encode_transaction(
      std::initializer_list<std::span<const std::string_view>> commands) {
    static constexpr std::string_view multi[] = {"MULTI"};
    static constexpr std::string_view exec[] = {"EXEC"};
    std::string resp;
    append_command(resp, multi);
    for (auto c : commands) append_command(resp, c);
    append_command(resp, exec);
    return resp;
  }

  // EVAL <source> followed by the bytes an EVALSHA of the same call has after its sha.
  static std::string eval_command(std::size_t argc, const std::string& source,
                                  std::string_view tail) {
    std::string out;
    out.reserve(source.size() + tail.size() + 48);
    detail::append_resp_header(out, '*', argc);
    append_bulk(out, "EVAL");
    append_bulk(out, source);
    out += tail;
    return out;
  }

  std::shared_ptr<connection> conn_;      // a single Redis
  std::shared_ptr<cluster_router> router_;  // or a cluster
};

// Commands written together, with one completion that gets every answer in the commands' order,
// or the first error that kept an answer from coming (timeout, lost connection, closed client).
// A Redis error reply is an answer like any other, in its place: reply::checked() and the typed
// accessors turn it into an error, first_error() finds the first. The stream sends what one turn
// of the loop queued in one write; commands waiting for a connection are queued all or none.
// The completion is never called from send(), and not at all once the client is destroyed.
//
//   client::pipeline p(c);
//   p.command({"HSET", key, "f", "v"}).command({"PEXPIRE", key, "30000"});
//   p.send([](core::result<redis::replies> r) { ... });
class client::pipeline {
 public:
  // `commands`: how many will be added, when known.
  explicit pipeline(client& c, std::size_t commands = 0) : client_(c) { parts_.reserve(commands); }
  pipeline(const pipeline&) = delete;
  pipeline& operator=(const pipeline&) = delete;

  pipeline& command(std::span<const std::string_view> args) {
    part p;
    if (client_.cluster()) p.slot = slot_of_command(args);
    append_command(p.resp, args);
    parts_.push_back(std::move(p));
    return *this;
  }
  pipeline& command(std::initializer_list<std::string_view> args) {
    return command(std::span<const std::string_view>(args.begin(), args.size()));
  }
  pipeline& command(const std::vector<std::string>& args) {
    part p;
    if (client_.cluster()) {
      std::vector<std::string_view> views(args.begin(), args.end());
      p.slot = slot_of_command(views);
    }
    detail::append_resp_header(p.resp, '*', args.size());
    for (const auto& a : args) append_bulk(p.resp, a);
    parts_.push_back(std::move(p));
    return *this;
  }
  // As client::command_at.
  pipeline& command_at(std::string_view key, std::span<const std::string_view> args) {
    part p;
    if (client_.cluster()) p.slot = key_slot(key);
    append_command(p.resp, args);
    parts_.push_back(std::move(p));
    return *this;
  }
  pipeline& command_at(std::string_view key, std::initializer_list<std::string_view> args) {
    return command_at(key, std::span<const std::string_view>(args.begin(), args.size()));
  }

  // One answer: EXEC's, as client::transaction gives it.
  pipeline& transaction(std::initializer_list<std::span<const std::string_view>> commands) {
    part p;
    if (client_.cluster()) p.slot = slot_of_transaction(commands);
    p.resp = encode_transaction(commands);
    p.answers_before = static_cast<std::uint32_t>(commands.size() + 1);
    parts_.push_back(std::move(p));
    return *this;
  }

  // As client::eval: EVALSHA, and EVAL when the server answers NOSCRIPT.
  pipeline& eval(const script& s, std::span<const std::string_view> keys,
                 std::span<const std::string_view> args) {
    part p;
    p.script.emplace();
    p.script->slot = p.slot = slot_of_keys(keys);
    p.resp = evalsha(s, keys, args, *p.script);
    parts_.push_back(std::move(p));
    return *this;
  }

  std::size_t size() const noexcept { return parts_.size(); }
  bool empty() const noexcept { return parts_.empty(); }

  // Sends every command added so far and empties the pipeline. `done(core::result<replies>)`.
  // On a cluster each command goes to its own slot's master; the answers still come in order.
  template <class Done>
  void send(Done&& done) {
    struct state {
      state(std::size_t n, Done&& d) : answers(n), done(std::forward<Done>(d)) {}
      core::join<reply> answers;
      std::decay_t<Done> done;
    };
    auto st = std::make_shared<state>(parts_.size(), std::forward<Done>(done));
    auto parts = std::move(parts_);
    parts_.clear();
    auto& loop = client_.owner_loop();
    if (parts.empty()) {
      loop.defer([st] { st->done(st->answers.take()); });
      return;
    }
    // Queued all or none: a pipeline refused whole has not run at all.
    if (auto conn = client_.conn_; conn && !conn->ready() &&
                                   conn->state() != connection_state::closed &&
                                   conn->queued() + parts.size() > conn->opts().max_queued_commands) {
      loop.defer([st] {
        st->done(core::error(core::errc::queue_full, "too many commands waiting for Redis"));
      });
      return;
    }
    for (std::size_t i = 0; i < parts.size(); ++i) {
      auto answered = [st, i](core::result<reply> r) {
        if (st->answers.arrive(i, std::move(r))) st->done(st->answers.take());
      };
      auto& p = parts[i];
      if (p.script) {
        client_.dispatch(p.slot, std::move(p.resp),
                         client_.with_eval_fallback(std::move(*p.script), std::move(answered)));
      } else {
        client_.dispatch(p.slot, std::move(p.resp), std::move(answered), p.answers_before);
      }
    }
  }

 private:
  struct part {
    std::string resp;
    std::uint32_t answers_before = 0;  // a transaction's MULTI and QUEUED answers
    std::optional<script_call> script;
    std::optional<std::uint16_t> slot;  // on a cluster
  };

  client& client_;
  std::vector<part> parts_;
};

}  // namespace bcast::redis
