#pragma once
// The win32 sink's MessageBox when subscriberd runs as a Windows service. A service lives in
// session 0, which has no desktop anyone sees, so the box is shown by a second process started
// in the active console session as the user logged on there (WTSQueryUserToken,
// CreateProcessAsUserW): this program again, with --popup. It reads the dialog_request as one
// JSON object on stdin, shows the box and says on stdout how it ended: `ok` or `closed`. The
// service waits for it on the dialog's own thread (threaded_dialog_sink), so the outcomes are
// those of the box in-process. Closing it (dialog_timeout, a recall, shutdown) ends the process.
// docs/ARCHITECTURE.md, "Windows", says why this design.
//
// The request's encoding is portable and tested on Linux; the rest is Windows only.

#include <bcast/sinks/win32_dialog.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#ifdef _WIN32
#include <bcast/core/win32.hpp>

#include <userenv.h>
#include <wtsapi32.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#endif

namespace bcast::sinks::win32 {

inline std::string encode_popup_request(const dialog_request& r) {
  const char* icon = r.icon == dialog_icon::warning ? "warning"
                     : r.icon == dialog_icon::error ? "error"
                                                    : "information";
  return nlohmann::json{
      {"caption", r.caption}, {"text", r.text}, {"icon", icon}, {"urgent", r.urgent}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline std::optional<dialog_request> decode_popup_request(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const auto caption = j.find("caption"), body = j.find("text"), icon = j.find("icon"),
             urgent = j.find("urgent");
  if (caption == j.end() || !caption->is_string() || body == j.end() || !body->is_string() ||
      icon == j.end() || !icon->is_string() || urgent == j.end() || !urgent->is_boolean())
    return std::nullopt;
  dialog_request r;
  r.caption = caption->get<std::string>();
  r.text = body->get<std::string>();
  r.urgent = urgent->get<bool>();
  const auto name = icon->get<std::string>();
  if (name == "information") {
    r.icon = dialog_icon::information;
  } else if (name == "warning") {
    r.icon = dialog_icon::warning;
  } else if (name == "error") {
    r.icon = dialog_icon::error;
  } else {
    return std::nullopt;
  }
  return r;
}

#ifdef _WIN32

// `subscriberd.exe --popup`: the process in the user's session. 0 with `ok` or `closed` on
// stdout; 2 for a request it cannot read; 1 when the box could not be shown.
inline int popup_main() {
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  const auto request = decode_popup_request(input);
  if (!request) {
    std::cerr << "subscriberd --popup: expected the message box's request (JSON) on stdin\n";
    return 2;
  }
  dialog_control control;
  const auto result = show_message_box(*request, control);
  switch (result.answer) {
    case dialog_answer::ok:
      std::cout << "ok\n";
      return 0;
    case dialog_answer::closed:
      std::cout << "closed\n";
      return 0;
    case dialog_answer::error:
      break;
  }
  std::cerr << result.error << "\n";
  return 1;
}

namespace detail {

struct owned_handle {
  HANDLE h = nullptr;
  owned_handle() = default;
  owned_handle(const owned_handle&) = delete;
  owned_handle& operator=(const owned_handle&) = delete;
  ~owned_handle() { reset(); }
  void reset() {
    if (h && h != INVALID_HANDLE_VALUE) CloseHandle(h);
    h = nullptr;
  }
};

inline dialog_result popup_error(const std::string& what, DWORD code = GetLastError()) {
  return {dialog_answer::error, what + ": " + core::win32::error_text(code)};
}

}  // namespace detail

// Blocks the calling thread (the dialog's) until the box in the user's session has closed.
// `popup_command` is this program, quoted, and --popup.
inline dialog_result show_in_user_session(const dialog_request& request, dialog_control& control,
                                          const std::wstring& popup_command) {
  if (control.closed_by_us) return {dialog_answer::closed, {}};
  const DWORD session = WTSGetActiveConsoleSessionId();
  if (session == 0xFFFFFFFF)
    return {dialog_answer::error,
            "nobody is logged on at this PC's screen: no session to show the box in"};
  detail::owned_handle token;
  if (!WTSQueryUserToken(session, &token.h))
    return detail::popup_error("no user logged on in session " + std::to_string(session));
  void* environment = nullptr;
  if (!CreateEnvironmentBlock(&environment, token.h, FALSE)) environment = nullptr;
  SECURITY_ATTRIBUTES inheritable{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  detail::owned_handle in_read, in_write, out_read, out_write;
  if (!CreatePipe(&in_read.h, &in_write.h, &inheritable, 0) ||
      !CreatePipe(&out_read.h, &out_write.h, &inheritable, 0)) {
    if (environment) DestroyEnvironmentBlock(environment);
    return detail::popup_error("cannot make the popup's pipes");
  }
  SetHandleInformation(in_write.h, HANDLE_FLAG_INHERIT, 0);
  SetHandleInformation(out_read.h, HANDLE_FLAG_INHERIT, 0);
  STARTUPINFOW startup{};
  startup.cb = sizeof(startup);
  wchar_t desktop[] = L"winsta0\\default";
  startup.lpDesktop = desktop;
  startup.dwFlags = STARTF_USESTDHANDLES;
  startup.hStdInput = in_read.h;
  startup.hStdOutput = out_write.h;
  startup.hStdError = out_write.h;
  PROCESS_INFORMATION process{};
  std::wstring command = popup_command;  // CreateProcessW may write into it
  const BOOL started = CreateProcessAsUserW(token.h, nullptr, command.data(), nullptr, nullptr,
                                            TRUE, CREATE_NO_WINDOW | CREATE_UNICODE_ENVIRONMENT,
                                            environment, nullptr, &startup, &process);
  const DWORD start_error = GetLastError();
  if (environment) DestroyEnvironmentBlock(environment);
  in_read.reset();
  out_write.reset();
  if (!started)
    return detail::popup_error("cannot start the popup in the user's session", start_error);
  detail::owned_handle child, child_thread;
  child.h = process.hProcess;
  child_thread.h = process.hThread;
  {
    std::lock_guard lock(control.mutex);
    control.process = child.h;
  }
  if (control.closed_by_us) TerminateProcess(child.h, 0);
  const std::string input = encode_popup_request(request);
  DWORD written = 0;
  WriteFile(in_write.h, input.data(), static_cast<DWORD>(input.size()), &written, nullptr);
  in_write.reset();
  std::string output;
  char buffer[512];
  DWORD got = 0;
  while (ReadFile(out_read.h, buffer, sizeof(buffer), &got, nullptr) && got > 0) {
    if (output.size() < 4096) output.append(buffer, got);
  }
  WaitForSingleObject(child.h, INFINITE);
  DWORD exit_code = 1;
  GetExitCodeProcess(child.h, &exit_code);
  {
    std::lock_guard lock(control.mutex);
    control.process = nullptr;
  }
  if (control.closed_by_us) return {dialog_answer::closed, {}};
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  if (exit_code == 0 && output == "ok") return {dialog_answer::ok, {}};
  if (exit_code == 0 && output == "closed") return {dialog_answer::closed, {}};
  return {dialog_answer::error, "the popup in the user's session failed (exit status " +
                                    std::to_string(exit_code) + "): " + output};
}

// Any thread: ends the popup process show_in_user_session waits for; one not started yet is not.
inline void close_in_user_session(dialog_control& control) {
  control.closed_by_us = true;
  std::lock_guard lock(control.mutex);
  if (control.process) TerminateProcess(static_cast<HANDLE>(control.process), 0);
}

#endif  // _WIN32

}  // namespace bcast::sinks::win32
