#pragma once
// The Windows half of the `win32` sink: a MessageBoxW on the thread that calls it. It needs only
// <windows.h> (through core/win32.hpp) and the standard library (no libuv), so a test compiles
// and links it with mingw-w64 on Linux. The UTF-8 to UTF-16 conversion is portable and tested
// natively.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#ifdef _WIN32
#include <bcast/core/win32.hpp>
#endif

namespace bcast::sinks::win32 {

enum class dialog_icon { information, warning, error };

struct dialog_request {
  std::string caption;  // UTF-8
  std::string text;     // UTF-8
  dialog_icon icon = dialog_icon::information;
  bool urgent = false;  // system modal: stays above every window until answered
};

enum class dialog_answer { ok, closed, error };

struct dialog_result {
  dialog_answer answer = dialog_answer::error;
  std::string error;  // for dialog_answer::error
};

// Shared by the loop thread, which may close the dialog, and the thread that shows it.
struct dialog_control {
  std::atomic<std::uint32_t> thread_id{0};
  std::atomic<bool> closed_by_us{false};
  // The popup process in the user's session, while it runs (win32_session.hpp), under `mutex`.
  std::mutex mutex;
  void* process = nullptr;
};

// Invalid UTF-8 (a stray continuation byte, an overlong form, a surrogate, a truncated sequence)
// becomes U+FFFD, one per maximal bad subpart.
inline std::u16string utf8_to_utf16(std::string_view in) {
  std::u16string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    const auto b0 = static_cast<unsigned char>(in[i]);
    if (b0 < 0x80) {
      out += static_cast<char16_t>(b0);
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range (Unicode table 3-7)
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      len = 2;
      cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      len = 3;
      cp = b0 & 0x0f;
      if (b0 == 0xe0) lo = 0xa0;
      if (b0 == 0xed) hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      len = 4;
      cp = b0 & 0x07;
      if (b0 == 0xf0) lo = 0x90;
      if (b0 == 0xf4) hi = 0x8f;
    } else {
      out += u'\xfffd';
      ++i;
      continue;
    }
    std::size_t k = 1;
    for (; k < len && i + k < in.size(); ++k) {
      const auto b = static_cast<unsigned char>(in[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) break;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (k < len) {
      out += u'\xfffd';
      i += k;
      continue;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += static_cast<char16_t>(0xd800 + (cp >> 10));
      out += static_cast<char16_t>(0xdc00 + (cp & 0x3ff));
    } else {
      out += static_cast<char16_t>(cp);
    }
    i += len;
  }
  return out;
}

#ifdef _WIN32

// What the box shows: MultiByteToWideChar, with U+FFFD for what is not UTF-8 (as utf8_to_utf16).
inline std::wstring to_wide(std::string_view utf8) {
  return core::win32::to_wide_lossy(utf8);
}

// Every box comes to the front and stays above other windows; an urgent one is also system modal.
inline UINT message_box_style(const dialog_request& request) {
  UINT type = MB_OK | MB_SETFOREGROUND | MB_TOPMOST;
  if (request.urgent) type |= MB_SYSTEMMODAL;
  switch (request.icon) {
    case dialog_icon::information:
      type |= MB_ICONINFORMATION;
      break;
    case dialog_icon::warning:
      type |= MB_ICONWARNING;
      break;
    case dialog_icon::error:
      type |= MB_ICONERROR;
      break;
  }
  return type;
}

// Blocks the calling thread while the box is up; run it off the loop thread.
inline dialog_result show_message_box(const dialog_request& request, dialog_control& control) {
  control.thread_id = static_cast<std::uint32_t>(GetCurrentThreadId());
  if (control.closed_by_us) return {dialog_answer::closed, {}};
  const UINT type = message_box_style(request);
  const auto text = to_wide(request.text);
  const auto caption = to_wide(request.caption);
  const int rc = MessageBoxW(nullptr, text.c_str(), caption.c_str(), type);
  if (rc == 0) {
    return {dialog_answer::error,
            "MessageBoxW failed with error " + std::to_string(GetLastError())};
  }
  // A box whose only button is OK answers IDOK however it was closed, WM_CLOSE included.
  if (control.closed_by_us) return {dialog_answer::closed, {}};
  return {rc == IDOK ? dialog_answer::ok : dialog_answer::closed, {}};
}

namespace detail {
inline BOOL CALLBACK post_close(HWND window, LPARAM) {
  PostMessageW(window, WM_CLOSE, 0, 0);
  return TRUE;
}
}  // namespace detail

// Any thread: closes the box that show_message_box has up. A box not up yet is not shown.
inline void close_message_box(dialog_control& control) {
  control.closed_by_us = true;
  if (const DWORD thread = control.thread_id; thread != 0) {
    EnumThreadWindows(thread, detail::post_close, 0);
  }
}

#endif  // _WIN32

}  // namespace bcast::sinks::win32
