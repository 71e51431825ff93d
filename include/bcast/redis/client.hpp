#pragma once
// The command client: pipelined commands over one connection, and Lua scripts run by EVALSHA with
// a fallback to EVAL when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH).

#include <bcast/core/digest.hpp>
#include <bcast/core/join.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/text.hpp>
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
  client(core::loop& l, options o) : conn_(connection::create(l, std::move(o))) {}
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  // Pending callbacks are dropped uncalled: they may refer to what the owner is destroying.
  ~client() { conn_->abandon(); }

  // Connects now; otherwise the first command connects.
  void connect() { conn_->start(); }
  void close() { conn_->close(); }

  void command(std::span<const std::string_view> args, reply_handler cb) {
    conn_->send(args, std::move(cb));
  }
  void command(std::initializer_list<std::string_view> args, reply_handler cb) {
    conn_->send(args, std::move(cb));
  }
  void command(const std::vector<std::string>& args, reply_handler cb) {
    std::vector<std::string_view> views(args.begin(), args.end());
    conn_->send(views, std::move(cb));
  }

  // EVALSHA sha numkeys keys... args...; on NOSCRIPT the same call again as EVAL.
  void eval(const script& s, std::span<const std::string_view> keys,
            std::span<const std::string_view> args, reply_handler cb) {
    script_call fallback;
    auto resp = evalsha(s, keys, args, fallback);
    conn_->send_formatted(std::move(resp), with_eval_fallback(std::move(fallback), std::move(cb)));
  }

  // MULTI, the commands, EXEC, written at once: nothing else can come between them, even across
  // a reconnect. The handler gets EXEC's answer: an array of the commands' answers (a command
  // that failed as it ran is an error element; the others ran), or an error when Redis refused
  // the transaction, with the first refusal.
  void transaction(std::initializer_list<std::span<const std::string_view>> commands,
                   reply_handler cb) {
    conn_->send_formatted(encode_transaction(commands), std::move(cb),
                          static_cast<std::uint32_t>(commands.size() + 1));
  }

  // Several commands written together, and one completion with all their answers
  // (client::pipeline below).
  class pipeline;

  connection_state state() const noexcept { return conn_->state(); }
  bool ready() const noexcept { return conn_->ready(); }
  const core::error& last_error() const noexcept { return conn_->last_error(); }
  void observe(connection::state_observer o) { conn_->observe(std::move(o)); }
  std::size_t in_flight() const noexcept { return conn_->in_flight(); }
  connection& raw() noexcept { return *conn_; }

 private:
  // What the EVAL fallback of an EVALSHA needs: it differs from the EVALSHA only before numkeys,
  // so the bytes after the sha (`tail`) are all it keeps, not a copy of the whole script source
  // on every call.
  struct script_call {
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
    std::weak_ptr<connection> weak = conn_;
    return [weak, argc = call.argc, source = std::move(call.source), tail = std::move(call.tail),
            cb = std::move(cb)](core::result<reply> r) mutable {
      auto conn = weak.lock();
      if (conn && r && r.value().error_is("NOSCRIPT")) {
        conn->send_formatted(eval_command(argc, *source, tail), std::move(cb));
        return;
      }
      cb(std::move(r));
    };
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

  std::shared_ptr<connection> conn_;
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
    append_command(p.resp, args);
    parts_.push_back(std::move(p));
    return *this;
  }
  pipeline& command(std::initializer_list<std::string_view> args) {
    return command(std::span<const std::string_view>(args.begin(), args.size()));
  }
  pipeline& command(const std::vector<std::string>& args) {
    part p;
    detail::append_resp_header(p.resp, '*', args.size());
    for (const auto& a : args) append_bulk(p.resp, a);
    parts_.push_back(std::move(p));
    return *this;
  }

  // One answer: EXEC's, as client::transaction gives it.
  pipeline& transaction(std::initializer_list<std::span<const std::string_view>> commands) {
    part p;
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
    p.resp = evalsha(s, keys, args, *p.script);
    parts_.push_back(std::move(p));
    return *this;
  }

  std::size_t size() const noexcept { return parts_.size(); }
  bool empty() const noexcept { return parts_.empty(); }

  // Sends every command added so far and empties the pipeline. `done(core::result<replies>)`.
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
    auto& conn = *client_.conn_;
    if (parts.empty()) {
      conn.owner_loop().defer([st] { st->done(st->answers.take()); });
      return;
    }
    // Queued all or none: a pipeline refused whole has not run at all.
    if (!conn.ready() && conn.state() != connection_state::closed &&
        conn.queued() + parts.size() > conn.opts().max_queued_commands) {
      conn.owner_loop().defer([st] {
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
        conn.send_formatted(std::move(p.resp),
                            client_.with_eval_fallback(std::move(*p.script), std::move(answered)));
      } else {
        conn.send_formatted(std::move(p.resp), std::move(answered), p.answers_before);
      }
    }
  }

 private:
  struct part {
    std::string resp;
    std::uint32_t answers_before = 0;  // a transaction's MULTI and QUEUED answers
    std::optional<script_call> script;
  };

  client& client_;
  std::vector<part> parts_;
};

}  // namespace bcast::redis
