#pragma once
// A daemon as a Windows service: registering it with the Service Control Manager (started at
// boot as LocalSystem, restarted when it fails), removing it, and running under the SCM. Empty
// on other systems. docs/ARCHITECTURE.md, "Windows", says why a service and how its popups reach
// the logged-on user.

#ifdef _WIN32

#include <bcast/core/error.hpp>
#include <bcast/core/files.hpp>
#include <bcast/core/win32.hpp>

#include <aclapi.h>
#include <sddl.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace bcast::core::win32 {

struct service_definition {
  std::string name;          // the SCM's key, e.g. "bcast-subscriberd"
  std::string display_name;  // what services.msc lists
  std::string description;
  std::string command_line;  // the program, quoted, and its arguments
};

// The SCM restarts a failed service after each of these, then waits this long without a failure
// before it counts from the first again.
inline constexpr std::chrono::seconds service_restart_delays[] = {
    std::chrono::seconds(5), std::chrono::seconds(10), std::chrono::seconds(30)};
inline constexpr std::chrono::hours service_failure_reset{24};

namespace detail {

class sc_handle {
 public:
  explicit sc_handle(SC_HANDLE h = nullptr) noexcept : h_(h) {}
  sc_handle(const sc_handle&) = delete;
  sc_handle& operator=(const sc_handle&) = delete;
  ~sc_handle() {
    if (h_) CloseServiceHandle(h_);
  }
  SC_HANDLE get() const noexcept { return h_; }
  explicit operator bool() const noexcept { return h_ != nullptr; }

 private:
  SC_HANDLE h_;
};

inline core::result<std::wstring> wide(const std::string& text, const char* what) {
  auto w = to_wide(text);
  if (!w) return core::error(core::errc::invalid_argument, std::string(what) + " is not UTF-8");
  return std::move(*w);
}

// Restart on failure, a crash or an exit with an error alike. False: the system knows only the
// first (Wine: ERROR_INVALID_LEVEL for SERVICE_CONFIG_FAILURE_ACTIONS_FLAG).
inline core::result<bool> set_recovery(SC_HANDLE service) {
  SC_ACTION actions[std::size(service_restart_delays)];
  for (std::size_t i = 0; i < std::size(service_restart_delays); ++i) {
    actions[i].Type = SC_ACTION_RESTART;
    actions[i].Delay = static_cast<DWORD>(
        std::chrono::duration_cast<std::chrono::milliseconds>(service_restart_delays[i]).count());
  }
  SERVICE_FAILURE_ACTIONSW recovery{};
  recovery.dwResetPeriod = static_cast<DWORD>(
      std::chrono::duration_cast<std::chrono::seconds>(service_failure_reset).count());
  recovery.cActions = static_cast<DWORD>(std::size(actions));
  recovery.lpsaActions = actions;
  if (!ChangeServiceConfig2W(service, SERVICE_CONFIG_FAILURE_ACTIONS, &recovery))
    return last_error("setting the service's recovery (restart on failure)");
  SERVICE_FAILURE_ACTIONS_FLAG on_error_exit{};
  on_error_exit.fFailureActionsOnNonCrashFailures = TRUE;
  if (!ChangeServiceConfig2W(service, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &on_error_exit)) {
    if (GetLastError() == ERROR_INVALID_LEVEL) return false;
    return last_error("setting the service's recovery after an exit with an error");
  }
  return true;
}

}  // namespace detail

struct installed_service {
  bool restarts_after_error_exit = true;  // false where only a crash restarts it (see set_recovery)
};

// Registers the service, or updates it when it is there (an installer run again). Needs an
// administrator.
inline core::result<installed_service> install_service(const service_definition& d) {
  auto name = detail::wide(d.name, "the service name");
  auto display = detail::wide(d.display_name, "the service's display name");
  auto command = detail::wide(d.command_line, "the service's command line");
  auto about = detail::wide(d.description, "the service's description");
  for (const auto* text : {&name, &display, &command, &about}) {
    if (!*text) return text->err();
  }
  detail::sc_handle scm(
      OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE));
  if (!scm) return last_error("opening the Service Control Manager (run as an administrator)");
  const bool existed = [&] {
    detail::sc_handle created(CreateServiceW(
        scm.get(), name->c_str(), display->c_str(), SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
        SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, command->c_str(), nullptr, nullptr, nullptr,
        nullptr /* LocalSystem */, nullptr));
    return !created && GetLastError() == ERROR_SERVICE_EXISTS;
  }();
  detail::sc_handle service(OpenServiceW(scm.get(), name->c_str(), SERVICE_ALL_ACCESS));
  if (!service)
    return last_error((existed ? "opening the service " : "creating the service ") + d.name);
  if (existed && !ChangeServiceConfigW(service.get(), SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                       SERVICE_ERROR_NORMAL, command->c_str(), nullptr, nullptr,
                                       nullptr, nullptr, nullptr, display->c_str()))
    return last_error("updating the service " + d.name);
  SERVICE_DESCRIPTIONW description{about->data()};
  if (!ChangeServiceConfig2W(service.get(), SERVICE_CONFIG_DESCRIPTION, &description))
    return last_error("setting the service's description");
  auto recovery = detail::set_recovery(service.get());
  if (!recovery) return recovery.err();
  return installed_service{*recovery};
}

// Who may read and change what the service keeps: SYSTEM and the Administrators, nobody else
// (the users at the till may not read the Redis password). An SDDL DACL, protected (nothing
// inherited from %ProgramData%, which lets every user read), inherited by what a directory holds.
inline constexpr const wchar_t* service_files_dacl = L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

// Gives `path` (a file, or a directory and everything in it) service_files_dacl.
inline core::result<void> restrict_to_administrators(const std::string& path) {
  auto wide_path = detail::wide(path, "the path");
  if (!wide_path) return wide_path.err();
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(service_files_dacl, SDDL_REVISION_1,
                                                            &descriptor, nullptr))
    return last_error("making the security descriptor for " + path);
  BOOL present = FALSE, defaulted = FALSE;
  PACL dacl = nullptr;
  GetSecurityDescriptorDacl(descriptor, &present, &dacl, &defaulted);
  const DWORD rc =
      SetNamedSecurityInfoW(wide_path->data(), SE_FILE_OBJECT,
                            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                            nullptr, nullptr, dacl, nullptr);
  LocalFree(descriptor);
  if (rc != ERROR_SUCCESS)
    return windows_error(rc, "letting only SYSTEM and Administrators at " + path);
  return {};
}

// Stops the service (waiting up to `patience` for it) and removes it. A service that is not
// there is an error that says so.
inline core::result<void> uninstall_service(
    const std::string& service_name, std::chrono::seconds patience = std::chrono::seconds(30)) {
  auto name = detail::wide(service_name, "the service name");
  if (!name) return name.err();
  detail::sc_handle scm(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
  if (!scm) return last_error("opening the Service Control Manager (run as an administrator)");
  detail::sc_handle service(
      OpenServiceW(scm.get(), name->c_str(), SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE));
  if (!service) return last_error("opening the service " + service_name);
  SERVICE_STATUS status{};
  if (ControlService(service.get(), SERVICE_CONTROL_STOP, &status)) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (status.dwCurrentState != SERVICE_STOPPED &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (!QueryServiceStatus(service.get(), &status)) break;
    }
  }
  if (!DeleteService(service.get())) return last_error("removing the service " + service_name);
  return {};
}

// What a daemon does under the SCM: `run` is its main, on the service's thread. It calls
// `on_stop` once with what stops it (called on another thread when the SCM says stop or the
// machine shuts down; it must only post to the loop), and `on_stop({})` before it returns.
// Its return value is the exit status: not 0 is a failure, which the SCM's recovery restarts.
struct service_context {
  std::function<void(std::function<void()> stop)> on_stop;
};
using service_main = std::function<int(service_context&)>;

namespace detail {

struct running_service {
  std::wstring name;
  service_main run;
  SERVICE_STATUS_HANDLE status_handle = nullptr;
  SERVICE_STATUS status{};
  std::mutex mutex;  // stop, set by the service's thread, called on the SCM's
  std::function<void()> stop;
  int exit_status = 0;

  void report(DWORD state, DWORD wait_hint_ms = 0) {
    status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    status.dwCurrentState = state;
    status.dwControlsAccepted =
        state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    status.dwWaitHint = wait_hint_ms;
    if (state == SERVICE_STOPPED && exit_status != 0) {
      status.dwWin32ExitCode = ERROR_SERVICE_SPECIFIC_ERROR;
      status.dwServiceSpecificExitCode = static_cast<DWORD>(exit_status);
    }
    SetServiceStatus(status_handle, &status);
  }
};

inline running_service*& current_service() {
  static running_service* s = nullptr;
  return s;
}

inline DWORD WINAPI on_control(DWORD control, DWORD, void*, void* context) {
  auto& s = *static_cast<running_service*>(context);
  switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN: {
      s.report(SERVICE_STOP_PENDING, 30000);
      std::lock_guard lock(s.mutex);
      if (s.stop) s.stop();
      return NO_ERROR;
    }
    case SERVICE_CONTROL_INTERROGATE:
      return NO_ERROR;
    default:
      return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

inline void WINAPI service_entry(DWORD, LPWSTR*) {
  auto& s = *current_service();
  s.status_handle = RegisterServiceCtrlHandlerExW(s.name.c_str(), on_control, &s);
  if (!s.status_handle) return;
  s.report(SERVICE_RUNNING);
  service_context context;
  context.on_stop = [&s](std::function<void()> stop) {
    std::lock_guard lock(s.mutex);
    s.stop = std::move(stop);
  };
  s.exit_status = s.run(context);
  {
    std::lock_guard lock(s.mutex);
    s.stop = nullptr;
  }
  s.report(SERVICE_STOPPED);
}

}  // namespace detail

// Hands this process to the SCM, which calls `run` on a thread of its own; returns once the
// service has stopped, with `run`'s status. A program started by hand, not by the SCM, gets an
// error that says so (ERROR_FAILED_SERVICE_CONTROLLER_CONNECT).
inline core::result<int> run_as_service(const std::string& service_name, service_main run) {
  auto name = detail::wide(service_name, "the service name");
  if (!name) return name.err();
  detail::running_service s;
  s.name = std::move(*name);
  s.run = std::move(run);
  detail::current_service() = &s;
  SERVICE_TABLE_ENTRYW table[] = {{s.name.data(), detail::service_entry}, {nullptr, nullptr}};
  const BOOL dispatched = StartServiceCtrlDispatcherW(table);
  detail::current_service() = nullptr;
  if (!dispatched) {
    const DWORD code = GetLastError();
    if (code == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
      return windows_error(
          code, "--service is for the Service Control Manager; to run it by hand leave it out");
    return windows_error(code, "starting the service dispatcher");
  }
  return s.exit_status;
}

}  // namespace bcast::core::win32

#endif  // _WIN32
