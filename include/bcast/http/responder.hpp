#pragma once
// The handle a handler answers through, now or later. publisherd answers a POST only once Redis
// has replied, so a responder may outlive the handler call; when the client is gone by then,
// sending is a harmless no-op. A responder dropped without an answer sends a 500, so a forgotten
// path in a handler cannot stall the connection's pipeline forever.

#include <bcast/http/message.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

namespace bcast::http {

namespace detail {

struct exchange;

// The connection side of an exchange.
class exchange_owner {
 public:
  virtual ~exchange_owner() = default;
  virtual void complete(exchange& ex) = 0;
  virtual bool is_open() const noexcept = 0;
};

// One request and, once answered, its response.
struct exchange {
  http::request request;
  std::optional<http::response> response;
  std::weak_ptr<exchange_owner> owner;  // expired once the connection is gone
  std::function<void(http::response&&)>
      on_response;  // instead of an owner (tests, in-process calls)
  bool completed = false;
};

inline void complete_exchange(exchange& ex, http::response r) {
  if (ex.completed) return;
  ex.completed = true;
  if (ex.on_response) {
    auto fn = std::move(ex.on_response);
    fn(std::move(r));
    return;
  }
  ex.response = std::move(r);
  if (auto owner = ex.owner.lock()) owner->complete(ex);
}

struct responder_state {
  std::shared_ptr<exchange> ex;
  explicit responder_state(std::shared_ptr<exchange> e) : ex(std::move(e)) {}
  responder_state(const responder_state&) = delete;
  responder_state& operator=(const responder_state&) = delete;
  ~responder_state() {
    if (!ex || ex->completed) return;
    try {
      complete_exchange(*ex,
                        response::error(500, "internal_error", "the request was not answered"));
    } catch (...) {  // NOLINT: a destructor must not throw; the connection then just closes
    }
  }
};

}  // namespace detail

class responder {
 public:
  responder() = default;
  explicit responder(std::shared_ptr<detail::exchange> ex)
      : state_(std::make_shared<detail::responder_state>(std::move(ex))) {}

  // A responder bound to no connection: the response goes to `on_response`. For tests, and for
  // calling a handler in-process.
  static responder to_callback(request req, std::function<void(response&&)> on_response) {
    auto ex = std::make_shared<detail::exchange>();
    ex->request = std::move(req);
    ex->on_response = std::move(on_response);
    return responder(std::move(ex));
  }

  bool valid() const noexcept { return state_ != nullptr; }

  // The request being answered; it lives as long as any copy of this responder.
  request& req() const noexcept { return state_->ex->request; }

  // Answers the request. Only the first answer counts; later ones are ignored. Loop thread only.
  void send(response r) const {
    if (state_) detail::complete_exchange(*state_->ex, std::move(r));
  }
  void json(int status, const nlohmann::json& body) const { send(response::json(status, body)); }
  void error(int status, std::string_view code, std::string_view message,
             std::string_view field = {}) const {
    send(response::error(status, code, message, field));
  }

  bool done() const noexcept { return !state_ || state_->ex->completed; }

  // False once the client has gone: an answer would be dropped, so expensive work may stop.
  bool connection_open() const noexcept {
    if (!state_) return false;
    if (state_->ex->on_response) return true;
    auto owner = state_->ex->owner.lock();
    return owner && owner->is_open();
  }

 private:
  std::shared_ptr<detail::responder_state> state_;
};

// A handler gets the request and a responder; it answers now or later. The request reference
// stays valid as long as a copy of the responder does (it is responder::req()).
using handler = std::function<void(request&, responder)>;

}  // namespace bcast::http
