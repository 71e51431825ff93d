#pragma once
// Redis replies, and hiredis's redisReader driven with our own object functions: the reader builds
// our reply tree directly (no second conversion), and enforces our size limits while it parses.
// The one place that knows the differences between hiredis 0.14 and 1.x.

#include <bcast/core/error.hpp>

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bcast::redis {

struct reply {
  enum class kind { string, array, integer, nil, status, error, number, boolean, map, set, push, verbatim };

  kind type = kind::nil;
  std::string str;            // string, status, error, verbatim; the text of a double
  long long integer = 0;      // integer, boolean
  std::vector<reply> elements;  // array, map (key, value, ...), set, push

  bool is_error() const noexcept { return type == kind::error; }
  bool is_nil() const noexcept { return type == kind::nil; }
  bool is_string() const noexcept { return type == kind::string || type == kind::status || type == kind::verbatim; }
  bool is_array() const noexcept {
    return type == kind::array || type == kind::map || type == kind::set || type == kind::push;
  }
  bool is_integer() const noexcept { return type == kind::integer; }
  // "OK" status and friends.
  bool is_status(std::string_view s) const noexcept { return type == kind::status && str == s; }
  // Error replies start with a code word: "NOSCRIPT No matching script", "WRONGPASS ...".
  bool error_is(std::string_view code) const noexcept {
    return is_error() && str.size() >= code.size() && std::string_view(str).substr(0, code.size()) == code &&
           (str.size() == code.size() || str[code.size()] == ' ');
  }

  // Typed access. A Redis error reply is an error (server_error, with Redis's text), and so is a
  // reply of another type than asked for (protocol_error, saying what was expected and what came).
  [[nodiscard]] core::result<void> checked() const {
    if (is_error()) return refused();
    return {};
  }
  [[nodiscard]] core::result<std::string_view> as_string() const {
    if (is_string()) return std::string_view(str);
    return unexpected("a string");
  }
  [[nodiscard]] core::result<long long> as_integer() const {
    if (is_integer()) return integer;
    return unexpected("an integer");
  }
  [[nodiscard]] core::result<std::span<const reply>> as_array() const {
    if (is_array()) return std::span<const reply>(elements);
    return unexpected("an array");
  }
  // Exactly `n` elements.
  [[nodiscard]] core::result<std::span<const reply>> as_array(std::size_t n) const {
    if (is_array() && elements.size() == n) return std::span<const reply>(elements);
    return unexpected("an array of " + std::to_string(n));
  }
  // Elements whose strings the caller may move out.
  [[nodiscard]] core::result<std::span<reply>> as_array() {
    if (is_array()) return std::span<reply>(elements);
    return unexpected("an array");
  }
  [[nodiscard]] core::result<std::span<reply>> as_array(std::size_t n) {
    if (is_array() && elements.size() == n) return std::span<reply>(elements);
    return unexpected("an array of " + std::to_string(n));
  }

  // A short rendering for logs and error messages.
  std::string describe() const {
    switch (type) {
      case kind::nil: return "(nil)";
      case kind::integer: return "(integer) " + std::to_string(integer);
      case kind::error: return "(error) " + str;
      case kind::array:
      case kind::map:
      case kind::set:
      case kind::push: return "(array of " + std::to_string(elements.size()) + ")";
      case kind::boolean: return integer ? "(true)" : "(false)";
      default: return str;
    }
  }

 private:
  core::error refused() const { return core::error(core::errc::server_error, "Redis: " + str); }
  core::error unexpected(const std::string& expected) const {
    if (is_error()) return refused();
    return core::error(core::errc::protocol_error,
                       "expected " + expected + " from Redis, got " + describe());
  }
};

// All the answers of a pipeline, in the order of its commands; a Redis error reply among them
// is one of them.
using replies = std::vector<reply>;

// The first Redis error reply among `rs`, as checked() reports it.
[[nodiscard]] inline core::result<void> first_error(const replies& rs) {
  for (const auto& r : rs) {
    if (r.is_error()) return r.checked();
  }
  return {};
}

// A pipeline's outcome as one: its transport error, or the first Redis error reply.
[[nodiscard]] inline core::result<void> first_error(const core::result<replies>& r) {
  if (!r) return r.err();
  return first_error(*r);
}

// "<doing>: <why>", keeping why's code: the one way a failed step says what it was doing. A Redis
// error reply or an unexpected one says all in its detail ("Redis: WRONGTYPE ..."); a transport
// error keeps its code's words too ("timed out: Redis at ... not reachable").
[[nodiscard]] inline core::error failed(std::string_view doing, const core::error& why) {
  const bool said_by_reply = why == core::errc::server_error || why == core::errc::protocol_error;
  return core::error(why.code(),
                     std::string(doing) + ": " +
                         (said_by_reply && !why.detail().empty() ? why.detail() : why.message()));
}

// The reply when it is not a Redis error reply, else the error; a transport error stays as it is.
[[nodiscard]] inline core::result<reply> checked(core::result<reply> r) {
  if (r && r->is_error()) return r->checked().err();
  return r;
}

// What one reply may cost while it is parsed. The server (or whoever sits between it and us)
// chooses what it announces, and "*1048576" nested seven deep is 70 bytes. So every aggregate is
// charged sizeof(reply) per element the moment it is announced, every string its length, and the
// unread bytes buffered for the reply count as well; past max_reply_bytes the reply fails with
// limit_exceeded (the connection then drops it). An aggregate reserves at most 1024 elements
// ahead (a page of legitimate replies in one allocation; growing them cost 4x in parsing), so a
// huge announcement within the budget takes memory only as its elements really come.
// The largest legitimate replies are a page of 1000 message-log records or 500 history entries
// (a few tens of MB with the largest envelopes); 64 MiB leaves them room.
struct reader_limits {
  std::size_t max_reply_bytes = 64 * 1024 * 1024;  // the memory budget of one reply
  std::size_t max_elements = 1024 * 1024;          // elements in one aggregate
};

namespace detail {

struct reader_state {
  reader_limits limits;
  std::size_t charged = 0;  // by the reply being parsed: announced elements, strings
  std::string limit_hit;    // why a create function refused, when one did

  std::size_t left() const noexcept {
    return limits.max_reply_bytes - std::min(charged, limits.max_reply_bytes);
  }
  // False, and limit_hit says why, when `bytes` more for what() would pass the budget.
  template <class What>
  bool charge(std::size_t bytes, What&& what) {
    if (bytes <= left()) {
      charged += bytes;
      return true;
    }
    limit_hit = what() + " would take the reply past its budget of " +
                std::to_string(limits.max_reply_bytes) + " bytes";
    return false;
  }
};

inline reply::kind kind_of(int hiredis_type) noexcept {
  switch (hiredis_type) {
    case REDIS_REPLY_STRING: return reply::kind::string;
    case REDIS_REPLY_ARRAY: return reply::kind::array;
    case REDIS_REPLY_INTEGER: return reply::kind::integer;
    case REDIS_REPLY_STATUS: return reply::kind::status;
    case REDIS_REPLY_ERROR: return reply::kind::error;
#ifdef REDIS_REPLY_DOUBLE
    case REDIS_REPLY_DOUBLE: return reply::kind::number;
    case REDIS_REPLY_BOOL: return reply::kind::boolean;
    case REDIS_REPLY_MAP: return reply::kind::map;
    case REDIS_REPLY_SET: return reply::kind::set;
    case REDIS_REPLY_PUSH: return reply::kind::push;
    case REDIS_REPLY_VERB: return reply::kind::verbatim;
#endif
    default: return reply::kind::nil;
  }
}

// Children are appended to their parent's elements (hiredis fills an aggregate in order and
// keeps no pointer to a finished sibling); only the root is heap allocated.
inline void* place(const redisReadTask* task, reply&& value) {
  if (task->parent) {
    auto& elements = static_cast<reply*>(task->parent->obj)->elements;
    if (std::cmp_not_equal(task->idx, elements.size())) return nullptr;
    elements.push_back(std::move(value));
    return &elements.back();
  }
  return new reply(std::move(value));
}

// Only hiredis 1.x has RESP3 doubles and booleans; a template so that 0.14 never sees the members.
template <class Functions>
void add_resp3_functions(Functions& f) {
  if constexpr (requires { f.createDouble; }) {
    f.createDouble = [](const redisReadTask* task, double, char* str, std::size_t len) -> void* {
      reply r;
      r.type = reply::kind::number;
      r.str.assign(str, len);
      return place(task, std::move(r));
    };
    f.createBool = [](const redisReadTask* task, int value) -> void* {
      reply r;
      r.type = reply::kind::boolean;
      r.integer = value;
      return place(task, std::move(r));
    };
  }
}

inline redisReplyObjectFunctions* object_functions() {
  static redisReplyObjectFunctions functions = [] {
    redisReplyObjectFunctions f{};
    f.createString = [](const redisReadTask* task, char* str, std::size_t len) -> void* {
      auto* state = static_cast<reader_state*>(task->privdata);
      if (!state->charge(len, [&] { return "a string of " + std::to_string(len) + " bytes"; }))
        return nullptr;
      reply r;
      r.type = kind_of(task->type);
      r.str.assign(str, len);
      return place(task, std::move(r));
    };
    // hiredis 0.14 passes the element count as int, 1.x as size_t: a generic lambda fits both.
    f.createArray = [](const redisReadTask* task, auto elements) -> void* {
      auto* state = static_cast<reader_state*>(task->privdata);
      if (std::cmp_less(elements, 0) || std::cmp_greater(elements, state->limits.max_elements)) {
        state->limit_hit = "an aggregate of " + std::to_string(elements) + " elements (at most " +
                           std::to_string(state->limits.max_elements) + ")";
        return nullptr;
      }
      const auto n = static_cast<std::size_t>(elements);
      if (!state->charge(n * sizeof(reply),
                         [&] { return "an aggregate of " + std::to_string(n) + " elements"; }))
        return nullptr;
      reply r;
      r.type = kind_of(task->type);
      r.elements.reserve(std::min<std::size_t>(n, 1024));
      return place(task, std::move(r));
    };
    f.createInteger = [](const redisReadTask* task, long long value) -> void* {
      reply r;
      r.type = reply::kind::integer;
      r.integer = value;
      return place(task, std::move(r));
    };
    f.createNil = [](const redisReadTask* task) -> void* { return place(task, reply{}); };
    add_resp3_functions(f);
    // hiredis frees only the root (or an orphan it could not attach), never a placed child.
    f.freeObject = [](void* obj) { delete static_cast<reply*>(obj); };
    return f;
  }();
  return &functions;
}

}  // namespace detail

// Incremental RESP parser: feed bytes, take complete replies.
class reply_reader {
 public:
  explicit reply_reader(reader_limits limits = {}) : state_(std::make_unique<detail::reader_state>()) {
    state_->limits = limits;
    reader_ = redisReaderCreateWithFunctions(detail::object_functions());
    reader_->privdata = state_.get();
  }
  reply_reader(const reply_reader&) = delete;
  reply_reader& operator=(const reply_reader&) = delete;
  ~reply_reader() { redisReaderFree(reader_); }

  [[nodiscard]] core::result<void> feed(std::string_view bytes) {
    if (redisReaderFeed(reader_, bytes.data(), bytes.size()) != REDIS_OK) return failure();
    return {};
  }

  enum class status { reply, need_more, failed };

  // On `reply`, `out` holds the next complete reply.
  status next(reply& out, core::error& err) {
    void* obj = nullptr;
    if (redisReaderGetReply(reader_, &obj) != REDIS_OK) {
      err = failure().err();
      return status::failed;
    }
    if (!obj) {
      if (buffered_bytes() > state_->left()) {
        err = core::error(core::errc::limit_exceeded,
                          "reply larger than its budget of " +
                              std::to_string(state_->limits.max_reply_bytes) + " bytes (" +
                              std::to_string(buffered_bytes()) + " bytes unread)");
        return status::failed;
      }
      return status::need_more;
    }
    state_->charged = 0;
    std::unique_ptr<reply> owned(static_cast<reply*>(obj));
    out = std::move(*owned);
    return status::reply;
  }

  std::size_t buffered_bytes() const noexcept { return reader_->len - reader_->pos; }
  // What the reply being parsed has been charged so far (reader_limits).
  std::size_t charged_bytes() const noexcept { return state_->charged; }

  // Feeds `bytes` and hands every complete reply to on_reply(reply&&); stops early when on_reply
  // returns false. hiredis moves the unread rest of its buffer after each reply, so feeding a
  // large read at once costs O(n^2); slices of a few KiB keep that move small.
  template <class OnReply>
  core::result<void> consume(std::string_view bytes, OnReply&& on_reply) {
    constexpr std::size_t slice = 4096;
    reply r;
    core::error err;
    while (!bytes.empty()) {
      auto part = bytes.substr(0, slice);
      bytes.remove_prefix(part.size());
      if (auto fed = feed(part); !fed) return fed;
      for (;;) {
        auto st = next(r, err);
        if (st == status::failed) return err;
        if (st == status::need_more) break;
        if (!on_reply(std::move(r))) return {};
      }
    }
    return {};
  }

 private:
  core::result<void> failure() const {
    if (!state_->limit_hit.empty())
      return core::error(core::errc::limit_exceeded, state_->limit_hit);
    return core::error(core::errc::protocol_error, reader_->errstr);
  }

  std::unique_ptr<detail::reader_state> state_;
  redisReader* reader_;
};

namespace detail {

// "*<n>\r\n" or "$<n>\r\n".
inline void append_resp_header(std::string& out, char kind, std::size_t n) {
  char digits[24];
  digits[0] = kind;
  auto end = std::to_chars(digits + 1, digits + sizeof digits - 2, n).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out.append(digits, static_cast<std::size_t>(end - digits));
}

}  // namespace detail

// One bulk string: $len, the bytes, CRLF.
inline void append_bulk(std::string& out, std::string_view a) {
  detail::append_resp_header(out, '$', a.size());
  out.append(a);
  out += "\r\n";
}

// RESP for one command: *N, then $len and the bytes of each argument. What
// redisFormatCommandArgv writes, without its sprintf and its allocation per command.
inline void append_command(std::string& out, std::span<const std::string_view> args) {
  std::size_t size = 16;
  for (auto a : args) size += a.size() + 16;
  out.reserve(out.size() + size);
  detail::append_resp_header(out, '*', args.size());
  for (auto a : args) append_bulk(out, a);
}

inline std::string encode_command(std::span<const std::string_view> args) {
  std::string out;
  append_command(out, args);
  return out;
}

}  // namespace bcast::redis
