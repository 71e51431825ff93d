#pragma once
// The baseline: what plain hiredis does on libuv, with no bcast code on the message path. Each
// store is a redisAsyncContext attached with hiredis's own adapters/libuv.h, subscribed to the same
// three channels as the bcast store; the publisher is one more async context sending a plain
// PUBLISH of a payload as large as the bcast frame, to the same channel.
//
// On a Redis Cluster (a `node_map` with more than one node, `sharded`) the baseline is what the
// least a cluster client must do: the slot map is read once before the run (CLUSTER SLOTS,
// environment.hpp), each store opens one connection per master that serves one of its channels
// and SSUBSCRIBEs each channel there, and the publisher keeps one connection per master and
// SPUBLISHes each payload on the master of its channel's slot. No MOVED, no refresh, no health
// checks: the floor that bcast's cluster client is measured against. hiredis 0.14's async context
// knows SUBSCRIBE and PSUBSCRIBE only (it asserts on the first smessage), so a sharded store's
// connection is a uv_tcp_t with hiredis's reader: the same parser on the same loop, without the
// async context's callback bookkeeping.

#include "phase.hpp"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
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

// Where each channel lives: one node for a single Redis; on a cluster the masters and each
// channel's master, by slot (sharded pub/sub).
struct node_map {
  std::vector<plain_endpoint> nodes;
  std::function<std::size_t(std::string_view channel)> node_of;  // an index into nodes
  bool sharded = false;

  static node_map single(plain_endpoint ep) {
    return {{std::move(ep)}, [](std::string_view) { return std::size_t{0}; }, false};
  }
};

class baseline_store_worker : public store_worker {
 public:
  baseline_store_worker(const plan& p, tally& t, unsigned index, std::uint32_t first,
                        std::uint32_t last, std::function<void()> on_complete, node_map nodes,
                        std::function<std::vector<std::string>(std::uint32_t)> channels_of)
      : store_worker(p, t, index, first, last, std::move(on_complete)),
        nodes_(std::move(nodes)),
        channels_of_(std::move(channels_of)) {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &stop_,
                  [](uv_async_t* h) { static_cast<baseline_store_worker*>(h->data)->stop(); });
    stop_.data = this;
  }
  ~baseline_store_worker() override {
    for (auto& s : stores_) {
      for (auto& l : s.links) {
        if (l.reader) redisReaderFree(l.reader);
      }
    }
    uv_loop_close(&loop_);
  }

  void run() override {
    start_first_wave();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }

  void request_stop() override { uv_async_send(&stop_); }

 private:
  struct store;
  // One connection of a store: to the single Redis, or to one master of a cluster.
  struct link {
    store* owner = nullptr;
    redisAsyncContext* context = nullptr;  // SUBSCRIBE
    // SSUBSCRIBE (see the top): the connection, what it sends once connected, and the reader.
    uv_tcp_t tcp{};
    uv_connect_t connecting{};
    uv_write_t writing{};
    std::string request;
    redisReader* reader = nullptr;
    bool tcp_open = false;
  };
  struct store {
    baseline_store_worker* worker;
    std::uint32_t index;
    std::size_t channels = 0;
    std::size_t confirmed = 0;
    std::deque<link> links;  // a deque: hiredis holds pointers to them
  };

  void start_store(std::uint32_t i) override {
    auto& s = stores_.emplace_back(store{this, i, 0, 0, {}});
    const auto channels = channels_of_(i);
    s.channels = channels.size();
    // The channels by node, in the order of their first channel.
    std::vector<std::pair<std::size_t, std::vector<const std::string*>>> by_node;
    for (const auto& ch : channels) {
      const auto n = nodes_.node_of(ch);
      auto at = std::find_if(by_node.begin(), by_node.end(), [n](auto& e) { return e.first == n; });
      if (at == by_node.end()) at = by_node.insert(by_node.end(), {n, {}});
      at->second.push_back(&ch);
    }
    for (const auto& [n, names] : by_node) {
      auto& l = s.links.emplace_back();
      l.owner = &s;
      if (nodes_.sharded) {
        start_sharded(l, nodes_.nodes[n], names);
        continue;
      }
      std::string error;
      l.context = plain_connect(&loop_, nodes_.nodes[n], error);
      if (!l.context) return store_failed("hiredis: " + error);
      l.context->data = &l;
      redisAsyncSetConnectCallback(l.context, [](const redisAsyncContext* c, int status) {
        if (status != REDIS_OK) {
          auto* ln = static_cast<link*>(c->data);
          ln->context = nullptr;
          ln->owner->worker->store_failed(std::string("hiredis connect: ") + c->errstr);
        }
      });
      redisAsyncSetDisconnectCallback(l.context, [](const redisAsyncContext* c, int) {
        static_cast<link*>(c->data)->context = nullptr;
      });
      std::vector<const char*> argv{"SUBSCRIBE"};
      std::vector<std::size_t> lengths{9};
      for (const auto* ch : names) {
        argv.push_back(ch->c_str());
        lengths.push_back(ch->size());
      }
      redisAsyncCommandArgv(l.context, &on_reply, &s, static_cast<int>(argv.size()), argv.data(),
                            lengths.data());
    }
  }

  static std::string format(std::vector<std::string_view> args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (auto a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    char* out = nullptr;
    const int n =
        redisFormatCommandArgv(&out, static_cast<int>(argv.size()), argv.data(), lengths.data());
    std::string text(out, static_cast<std::size_t>(std::max(n, 0)));
    std::free(out);
    return text;
  }

  // One connection of a sharded store: AUTH if needed, then an SSUBSCRIBE per channel (a cluster
  // node takes one slot per command), all in one write once connected.
  void start_sharded(link& l, const plain_endpoint& ep,
                     const std::vector<const std::string*>& names) {
    sockaddr_storage addr{};
    if (uv_ip4_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
        uv_ip6_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
      return store_failed("the baseline connects to numeric addresses only, not " + ep.host);
    }
    if (!ep.password.empty()) {
      l.request +=
          ep.user.empty() ? format({"AUTH", ep.password}) : format({"AUTH", ep.user, ep.password});
    }
    for (const auto* ch : names) l.request += format({"SSUBSCRIBE", *ch});
    l.reader = redisReaderCreate();
    uv_tcp_init(&loop_, &l.tcp);
    l.tcp_open = true;
    l.tcp.data = &l;
    l.connecting.data = &l;
    const int rc = uv_tcp_connect(
        &l.connecting, &l.tcp, reinterpret_cast<const sockaddr*>(&addr),
        [](uv_connect_t* req, int status) {
          auto* ln = static_cast<link*>(req->data);
          if (status == UV_ECANCELED) return;  // closed by stop()
          if (status != 0) {
            return ln->owner->worker->store_failed(std::string("connect: ") + uv_strerror(status));
          }
          auto buf = uv_buf_init(ln->request.data(), static_cast<unsigned>(ln->request.size()));
          uv_write(&ln->writing, reinterpret_cast<uv_stream_t*>(&ln->tcp), &buf, 1, nullptr);
          uv_read_start(
              reinterpret_cast<uv_stream_t*>(&ln->tcp),
              [](uv_handle_t* h, std::size_t, uv_buf_t* b) {
                auto* w = static_cast<link*>(h->data)->owner->worker;
                *b = uv_buf_init(w->read_buffer_.data(),
                                 static_cast<unsigned>(w->read_buffer_.size()));
              },
              [](uv_stream_t* h, ssize_t n, const uv_buf_t* b) {
                auto* ln = static_cast<link*>(h->data);
                if (n < 0) {
                  uv_read_stop(h);
                  if (n != UV_EOF)
                    ln->owner->worker->store_failed(std::string("read: ") +
                                                    uv_strerror(static_cast<int>(n)));
                  return;
                }
                redisReaderFeed(ln->reader, b->base, static_cast<std::size_t>(n));
                void* reply = nullptr;
                while (redisReaderGetReply(ln->reader, &reply) == REDIS_OK && reply) {
                  on_reply(nullptr, reply, ln->owner);
                  freeReplyObject(reply);
                  reply = nullptr;
                }
              });
        });
    if (rc != 0) store_failed(std::string("connect: ") + uv_strerror(rc));
  }

  static void on_reply(redisAsyncContext*, void* r, void* privdata) {
    auto* reply = static_cast<redisReply*>(r);
    auto* s = static_cast<store*>(privdata);
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
    const std::string_view kind(reply->element[0]->str, reply->element[0]->len);
    if (kind == "message" || kind == "smessage") {
      s->worker->received(s->index,
                          std::string_view(reply->element[2]->str, reply->element[2]->len));
    } else if ((kind == "subscribe" || kind == "ssubscribe") && ++s->confirmed == s->channels) {
      s->worker->store_subscribed();
    }
  }

  void stop() {
    for (auto& s : stores_) {
      for (auto& l : s.links) {
        if (l.context) redisAsyncDisconnect(l.context);
        if (l.tcp_open) uv_close(reinterpret_cast<uv_handle_t*>(&l.tcp), nullptr);
        l.tcp_open = false;
      }
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&stop_), nullptr);
  }

  uv_loop_t loop_{};
  uv_async_t stop_{};
  node_map nodes_;
  std::function<std::vector<std::string>(std::uint32_t)> channels_of_;
  std::deque<store> stores_;
  std::array<char, 65536> read_buffer_{};  // every sharded link's reads, one at a time
};

class baseline_publisher : public publisher {
 public:
  baseline_publisher(uv_loop_t* loop, node_map nodes, std::size_t payload_size,
                     std::function<std::string(std::uint32_t)> channel_of)
      : loop_(loop),
        nodes_(std::move(nodes)),
        payload_size_(payload_size),
        channel_of_(std::move(channel_of)),
        links_(nodes_.nodes.size()) {
    for (auto& l : links_) l.owner = this;
  }
  ~baseline_publisher() override {
    for (auto& l : links_) {
      if (!l.context) continue;
      l.context->onDisconnect = nullptr;  // it would find this publisher gone
      redisAsyncDisconnect(l.context);
    }
  }

  // A connection to every node, each answering a PING.
  void prepare(prepared done) override {
    ready_ = std::move(done);
    waiting_ = links_.size();
    for (std::size_t n = 0; n < links_.size(); ++n) {
      auto& l = links_[n];
      std::string error;
      l.context = plain_connect(loop_, nodes_.nodes[n], error);
      if (!l.context) return finish("hiredis: " + error);
      l.context->data = &l;
      redisAsyncSetDisconnectCallback(l.context, [](const redisAsyncContext* c, int) {
        static_cast<link*>(c->data)->context = nullptr;
      });
      redisAsyncCommand(
          l.context,
          [](redisAsyncContext*, void* r, void* self) {
            auto* me = static_cast<baseline_publisher*>(self);
            auto* reply = static_cast<redisReply*>(r);
            if (!reply || reply->type == REDIS_REPLY_ERROR) {
              return me->finish(reply ? std::string(reply->str, reply->len) : "no answer to PING");
            }
            if (--me->waiting_ == 0) me->finish("");
          },
          this, "PING");
    }
  }

  void publish(std::uint32_t k, std::int64_t now) override {
    const auto channel = channel_of_(k);
    auto* context = links_[nodes_.node_of(channel)].context;
    if (!context) return failed("hiredis publisher disconnected");
    std::string payload = format_stamp(k, now) + ' ';
    if (payload.size() < payload_size_) payload.resize(payload_size_, 'x');
    const char* command = nodes_.sharded ? "SPUBLISH" : "PUBLISH";
    const char* argv[] = {command, channel.c_str(), payload.data()};
    const std::size_t lengths[] = {std::strlen(command), channel.size(), payload.size()};
    redisAsyncCommandArgv(
        context,
        [](redisAsyncContext*, void* r, void* self) {
          auto* reply = static_cast<redisReply*>(r);
          if (reply && reply->type == REDIS_REPLY_ERROR) {
            static_cast<baseline_publisher*>(self)->failed(std::string(reply->str, reply->len));
          }
        },
        this, 3, argv, lengths);
  }

 private:
  struct link {
    baseline_publisher* owner = nullptr;
    redisAsyncContext* context = nullptr;
  };

  void finish(const std::string& problem) {
    if (auto done = std::move(ready_)) {
      ready_ = nullptr;
      done(problem);
    }
  }

  uv_loop_t* loop_;
  node_map nodes_;
  std::size_t payload_size_;
  std::function<std::string(std::uint32_t)> channel_of_;
  std::vector<link> links_;
  std::size_t waiting_ = 0;
  prepared ready_;
};

}  // namespace fanout
