#pragma once
// The baseline: what plain hiredis does on libuv, with no bcast code on the message path. Each
// store is a redisAsyncContext attached with hiredis's own adapters/libuv.h, subscribed to the same
// three channels as the bcast store; the publisher is one more async context sending a plain
// PUBLISH of a payload as large as the bcast frame, to the same channel.

#include "phase.hpp"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace fanout {

struct plain_endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_path;
  std::string user, password;
  int db = 0;
};

// Connects, attaches to `loop` and queues AUTH/SELECT as the endpoint needs. Null with `error` set
// when hiredis cannot even start.
inline redisAsyncContext* plain_connect(uv_loop_t* loop, const plain_endpoint& ep,
                                        std::string& error) {
  redisAsyncContext* c = ep.unix_path.empty() ? redisAsyncConnect(ep.host.c_str(), ep.port)
                                              : redisAsyncConnectUnix(ep.unix_path.c_str());
  if (!c || c->err) {
    error = c ? c->errstr : "out of memory";
    if (c) redisAsyncFree(c);
    return nullptr;
  }
  redisLibuvAttach(c, loop);
  if (!ep.password.empty()) {
    if (ep.user.empty()) {
      redisAsyncCommand(c, nullptr, nullptr, "AUTH %s", ep.password.c_str());
    } else {
      redisAsyncCommand(c, nullptr, nullptr, "AUTH %s %s", ep.user.c_str(), ep.password.c_str());
    }
  }
  if (ep.db != 0) redisAsyncCommand(c, nullptr, nullptr, "SELECT %d", ep.db);
  return c;
}

class baseline_store_worker : public store_worker {
 public:
  baseline_store_worker(const plan& p, tally& t, unsigned index, std::uint32_t first,
                        std::uint32_t last, std::function<void()> on_complete, plain_endpoint ep,
                        std::function<std::vector<std::string>(std::uint32_t)> channels_of)
      : store_worker(p, t, index, first, last, std::move(on_complete)),
        endpoint_(std::move(ep)),
        channels_of_(std::move(channels_of)) {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &stop_,
                  [](uv_async_t* h) { static_cast<baseline_store_worker*>(h->data)->stop(); });
    stop_.data = this;
  }
  ~baseline_store_worker() override { uv_loop_close(&loop_); }

  void run() override {
    start_first_wave();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }

  void request_stop() override { uv_async_send(&stop_); }

 private:
  struct store {
    baseline_store_worker* worker;
    std::uint32_t index;
    std::size_t channels = 0;
    std::size_t confirmed = 0;
    redisAsyncContext* context = nullptr;
  };

  void start_store(std::uint32_t i) override {
    auto& s = stores_.emplace_back(store{this, i});
    std::string error;
    s.context = plain_connect(&loop_, endpoint_, error);
    if (!s.context) return store_failed("hiredis: " + error);
    s.context->data = &s;
    redisAsyncSetConnectCallback(s.context, [](const redisAsyncContext* c, int status) {
      if (status != REDIS_OK) {
        auto* st = static_cast<store*>(c->data);
        st->context = nullptr;
        st->worker->store_failed(std::string("hiredis connect: ") + c->errstr);
      }
    });
    redisAsyncSetDisconnectCallback(s.context, [](const redisAsyncContext* c, int) {
      static_cast<store*>(c->data)->context = nullptr;
    });
    const auto channels = channels_of_(i);
    s.channels = channels.size();
    std::vector<const char*> argv{"SUBSCRIBE"};
    std::vector<std::size_t> lengths{9};
    for (const auto& ch : channels) {
      argv.push_back(ch.c_str());
      lengths.push_back(ch.size());
    }
    redisAsyncCommandArgv(s.context, &on_reply, &s, static_cast<int>(argv.size()), argv.data(),
                          lengths.data());
  }

  static void on_reply(redisAsyncContext*, void* r, void* privdata) {
    auto* reply = static_cast<redisReply*>(r);
    auto* s = static_cast<store*>(privdata);
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
    const std::string_view kind(reply->element[0]->str, reply->element[0]->len);
    if (kind == "message") {
      s->worker->received(s->index,
                          std::string_view(reply->element[2]->str, reply->element[2]->len));
    } else if (kind == "subscribe" && ++s->confirmed == s->channels) {
      s->worker->store_subscribed();
    }
  }

  void stop() {
    for (auto& s : stores_) {
      if (s.context) redisAsyncDisconnect(s.context);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&stop_), nullptr);
  }

  uv_loop_t loop_{};
  uv_async_t stop_{};
  plain_endpoint endpoint_;
  std::function<std::vector<std::string>(std::uint32_t)> channels_of_;
  std::deque<store> stores_;
};

class baseline_publisher : public publisher {
 public:
  baseline_publisher(uv_loop_t* loop, plain_endpoint ep, std::size_t payload_size,
                     std::function<std::string(std::uint32_t)> channel_of)
      : loop_(loop),
        endpoint_(std::move(ep)),
        payload_size_(payload_size),
        channel_of_(std::move(channel_of)) {}
  ~baseline_publisher() override {
    if (!context_) return;
    context_->onDisconnect = nullptr;  // it would find this publisher gone
    redisAsyncDisconnect(context_);
  }

  void prepare(prepared done) override {
    std::string error;
    context_ = plain_connect(loop_, endpoint_, error);
    if (!context_) return done("hiredis: " + error);
    context_->data = this;
    redisAsyncSetDisconnectCallback(context_, [](const redisAsyncContext* c, int) {
      static_cast<baseline_publisher*>(c->data)->context_ = nullptr;
    });
    ready_ = std::move(done);
    redisAsyncCommand(
        context_,
        [](redisAsyncContext*, void* r, void* self) {
          auto* me = static_cast<baseline_publisher*>(self);
          auto* reply = static_cast<redisReply*>(r);
          auto done = std::move(me->ready_);
          if (!reply || reply->type == REDIS_REPLY_ERROR) {
            return done(reply ? std::string(reply->str, reply->len) : "no answer to PING");
          }
          done("");
        },
        this, "PING");
  }

  void publish(std::uint32_t k, std::int64_t now) override {
    if (!context_) return failed("hiredis publisher disconnected");
    std::string payload = format_stamp(k, now) + ' ';
    if (payload.size() < payload_size_) payload.resize(payload_size_, 'x');
    const auto channel = channel_of_(k);
    const char* argv[] = {"PUBLISH", channel.c_str(), payload.data()};
    const std::size_t lengths[] = {7, channel.size(), payload.size()};
    redisAsyncCommandArgv(
        context_,
        [](redisAsyncContext*, void* r, void* self) {
          auto* reply = static_cast<redisReply*>(r);
          if (reply && reply->type == REDIS_REPLY_ERROR) {
            static_cast<baseline_publisher*>(self)->failed(std::string(reply->str, reply->len));
          }
        },
        this, 3, argv, lengths);
  }

 private:
  uv_loop_t* loop_;
  plain_endpoint endpoint_;
  std::size_t payload_size_;
  std::function<std::string(std::uint32_t)> channel_of_;
  redisAsyncContext* context_ = nullptr;
  prepared ready_;
};

}  // namespace fanout
