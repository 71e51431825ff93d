#pragma once
// `win32`: a MessageBox per message on Windows builds. A message box blocks the thread that shows
// it, so each runs on a thread of its own (not libuv's pool, whose four threads also serve DNS
// and file I/O and must not sit under an open dialog for an hour) and reports back through a
// uv_async_t, which also keeps the loop alive meanwhile.
//
// threaded_dialog_sink is that machinery for any blocking dialog function; it is portable and
// tested on Linux with a dialog made of a condition variable. Outcomes, as for zenity: `displayed`
// after display_settle with the box still up (or when it closes before that), OK with
// require_ack is `acknowledged`, a box closed by dialog_timeout or close() is displayed only.
// MessageBox has no button label of ours: the words (words.hpp) go into caption and text; the
// icon follows the priority, and an urgent box is system modal.

#include <bcast/core/error.hpp>
#include <bcast/core/lifetime.hpp>
#include <bcast/core/loop.hpp>
#include <bcast/core/timer.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/sinks/queue.hpp>
#include <bcast/sinks/sink.hpp>
#include <bcast/sinks/text.hpp>
#include <bcast/sinks/win32_dialog.hpp>
#include <bcast/sinks/win32_session.hpp>
#include <bcast/sinks/words.hpp>

#include <uv.h>

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace bcast::sinks {

// Runs on the dialog's own thread and blocks while the dialog is up.
using blocking_dialog =
    std::function<win32::dialog_result(const win32::dialog_request&, win32::dialog_control&)>;
// Called on the loop thread to close a dialog that is up (or about to be).
using dialog_closer = std::function<void(win32::dialog_control&)>;

// The caption is the title and the category label, as zenity's window title; MessageBox has no
// button label of ours, so a message that needs confirming says which button confirms it.
inline win32::dialog_request dialog_request_for(const message::envelope& e,
                                                language lang = language::en,
                                                unsigned reminder = 0) {
  const auto& w = words_for(lang);
  const auto title = reminder_title(w, text::without_controls(e.title, false), reminder);
  win32::dialog_request r;
  r.caption = title + " \u2014 " + text::without_controls(category_label(lang, e.category), false);
  r.text = title + "\n\n" + text::without_controls(e.body, true);
  if (e.priority != message::priority::normal)
    r.text = std::string(priority_label(w, e.priority)) + "\n\n" + r.text;
  if (e.require_ack) r.text += "\n\n" + std::string(w.press_ok_to_confirm);
  r.urgent = e.priority == message::priority::urgent;
  switch (e.priority) {
    case message::priority::normal:
      r.icon = win32::dialog_icon::information;
      break;
    case message::priority::high:
      r.icon = win32::dialog_icon::warning;
      break;
    case message::priority::urgent:
      r.icon = win32::dialog_icon::error;
      break;
  }
  return r;
}

namespace detail {

// Held by libuv (its uv_async_t) until the dialog's thread has been joined and the handle closed.
struct dialog_thread final : core::held_by_uv<dialog_thread> {
  uv_async_t async{};
  uv_thread_t thread{};
  std::shared_ptr<job> j;
  std::shared_ptr<const blocking_dialog> show;
  win32::dialog_request request;
  win32::dialog_result result;
  std::shared_ptr<win32::dialog_control> control = std::make_shared<win32::dialog_control>();
  std::unique_ptr<core::timer> settle;
  std::unique_ptr<core::timer> deadline;

  // False (the thread did not start, the object lets go of itself) with `rc` set.
  bool start(core::loop& l, int& rc) {
    uv_async_init(l.uv(), &async, on_done);
    async.data = this;
    hold();
    rc = uv_thread_create(&thread, run, this);
    if (rc == 0) return true;
    close();
    return false;
  }

  void close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&async),
             [](uv_handle_t* closed) { static_cast<dialog_thread*>(closed->data)->release(); });
  }

  static void run(void* arg) {
    auto* self = static_cast<dialog_thread*>(arg);
    try {
      self->result = (*self->show)(self->request, *self->control);
    } catch (const std::exception& ex) {
      self->result = {win32::dialog_answer::error, ex.what()};
    } catch (...) {
      self->result = {win32::dialog_answer::error, "the dialog failed"};
    }
    uv_async_send(&self->async);
  }

  static void on_done(uv_async_t* h) {
    auto* self = static_cast<dialog_thread*>(h->data);
    uv_thread_join(&self->thread);
    self->settle.reset();
    self->deadline.reset();
    auto& jb = *self->j;
    switch (self->result.answer) {
      case win32::dialog_answer::ok:
        jb.displayed();
        if (jb.envelope().require_ack && !self->control->closed_by_us) jb.acknowledged();
        break;
      case win32::dialog_answer::closed:
        jb.displayed();
        break;
      case win32::dialog_answer::error:
        jb.failed(self->result.error);
        break;
    }
    auto keep = self->j;
    self->close();
    keep->finish();
  }
};

}  // namespace detail

class threaded_dialog_sink final : public queued_sink {
 public:
  threaded_dialog_sink(core::loop& l, std::string name, const sink_options& options,
                       blocking_dialog show, dialog_closer close)
      : queued_sink(l, std::move(name), options.max_running, options.max_queued,
                    [o = std::make_shared<const sink_options>(options),
                     show = std::make_shared<const blocking_dialog>(std::move(show)),
                     close = std::make_shared<const dialog_closer>(std::move(close))](
                        const std::shared_ptr<job>& j) { start(j, *o, show, close); }) {}

  bool acknowledges() const noexcept override { return true; }

 private:
  static void start(const std::shared_ptr<job>& j, const sink_options& o,
                    const std::shared_ptr<const blocking_dialog>& show,
                    const std::shared_ptr<const dialog_closer>& close) {
    auto t = std::make_shared<detail::dialog_thread>();
    t->j = j;
    t->show = show;
    t->request = dialog_request_for(j->envelope(), o.language, j->reminder());
    if (int rc = 0; !t->start(j->loop(), rc)) {
      j->failed(std::string("cannot start a dialog thread: ") + uv_strerror(rc));
      j->finish();
      return;
    }
    if (o.display_settle.count() > 0) {
      t->settle = std::make_unique<core::timer>(j->loop());
      t->settle->start(o.display_settle, [j] { j->displayed(); });
    }
    const auto close_it = [control = t->control, close] { (*close)(*control); };
    if (o.dialog_timeout.count() > 0) {
      t->deadline = std::make_unique<core::timer>(j->loop());
      t->deadline->start(o.dialog_timeout, close_it);
    }
    j->set_cancel(close_it);
  }
};

#ifdef _WIN32
inline std::unique_ptr<sink> make_win32_sink(core::loop& l, const sink_options& options) {
  if (options.popup_command.empty()) {
    return std::make_unique<threaded_dialog_sink>(l, "win32", options, win32::show_message_box,
                                                  win32::close_message_box);
  }
  auto command = core::win32::to_wide_lossy(options.popup_command);
  return std::make_unique<threaded_dialog_sink>(
      l, "win32", options,
      [command](const win32::dialog_request& r, win32::dialog_control& c) {
        return win32::show_in_user_session(r, c, command);
      },
      win32::close_in_user_session);
}
#endif

}  // namespace bcast::sinks
