#pragma once
// The command client: pipelined commands over one connection, and Lua scripts run by EVALSHA with
// a fallback to EVAL when the server answers NOSCRIPT (after a restart or SCRIPT FLUSH).

#include <bcast/core/digest.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/text.hpp>
#include <bcast/redis/connection.hpp>
#include <bcast/redis/options.hpp>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
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
    std::vector<std::string_view> argv;
    argv.reserve(3 + keys.size() + args.size());
    std::string numkeys = std::to_string(keys.size());
    argv.push_back("EVALSHA");
    argv.push_back(s.sha1());
    argv.push_back(numkeys);
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    std::string evalsha = encode_command(argv);
    // The EVAL fallback is built only when NOSCRIPT comes: it differs from the EVALSHA only before
    // numkeys, so the tail is all it needs, not a copy of the whole script source on every call.
    std::string tail = evalsha.substr(evalsha.find(s.sha1()) + s.sha1().size() + 2);
    std::weak_ptr<connection> weak = conn_;
    auto on_reply = [weak, argc = argv.size(), source = s.shared_source(), tail = std::move(tail),
                     cb = std::move(cb)](core::result<reply> r) mutable {
      auto conn = weak.lock();
      if (conn && r && r.value().error_is("NOSCRIPT")) {
        conn->send_formatted(eval_command(argc, *source, tail), std::move(cb));
        return;
      }
      cb(std::move(r));
    };
    conn_->send_formatted(std::move(evalsha), std::move(on_reply));
  }

  // MULTI, the commands, EXEC, written at once: nothing else can come between them, even across
  // a reconnect. The handler gets EXEC's answer: an array of the commands' answers (a command
  // that failed as it ran is an error element; the others ran), or an error when Redis refused
  // the transaction, with the first refusal.
  void transaction(std::initializer_list<std::span<const std::string_view>> commands,
                   reply_handler cb) {
    static constexpr std::string_view multi[] = {"MULTI"};
    static constexpr std::string_view exec[] = {"EXEC"};
    std::string resp;
    append_command(resp, multi);
    for (auto c : commands) append_command(resp, c);
    append_command(resp, exec);
    conn_->send_formatted(std::move(resp), std::move(cb),
                          static_cast<std::uint32_t>(commands.size() + 1));
  }

  connection_state state() const noexcept { return conn_->state(); }
  bool ready() const noexcept { return conn_->ready(); }
  const core::error& last_error() const noexcept { return conn_->last_error(); }
  void observe(connection::state_observer o) { conn_->observe(std::move(o)); }
  std::size_t in_flight() const noexcept { return conn_->in_flight(); }
  connection& raw() noexcept { return *conn_; }

 private:
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

}  // namespace bcast::redis
