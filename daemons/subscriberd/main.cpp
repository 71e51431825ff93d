// subscriberd: see README.md and docs/ARCHITECTURE.md.

#include "app.hpp"

#include <bcast/core/daemon.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#ifdef _WIN32
#include <bcast/core/win32.hpp>
#include <bcast/core/win32_service.hpp>
#include <bcast/sinks/win32_session.hpp>

#include <filesystem>
#endif

namespace {

const char* usage_text =
    "usage: subscriberd [--config FILE] [--redis URL] [--store ID] [--group G]...\n"
    "                   [--sink SPEC]... [--state-dir DIR] [--trusted-key FILE]...\n"
    "                   [--language en|id] [--allow-unsigned] [--check-config] [--version]\n"
    "                   [--help]\n"
    "Sinks: zenity, notify-send, win32, terminal, exec:CMD, jsonl:PATH (several may be given).\n"
    "--trusted-key: head office's public key (signing.pub); only messages it signed are shown.\n"
    "--language: the words around a message, en (English, the default) or id (Bahasa Indonesia).\n"
#ifdef _WIN32
    "Windows: --config defaults to %ProgramData%\\bcast\\subscriberd.json (when it exists) and\n"
    "--state-dir to %ProgramData%\\bcast. Sinks there: win32, terminal, exec:CMD (cmd.exe /c),\n"
    "jsonl:PATH. Ctrl+C or Ctrl+Break stops.\n"
    "--install-service: checks the configuration, then registers the Windows service\n"
    "bcast-subscriberd (automatic start, restarted on failure) with the other options given;\n"
    "its log is subscriberd.log in the state dir. --uninstall-service stops and removes it.\n"
#endif
    ;

#ifdef _WIN32
constexpr const char* service_name = "bcast-subscriberd";
#endif

}  // namespace

int main(int argc, char** argv) {
#ifdef _WIN32
  // The arguments in UTF-8 (argv is in the ANSI code page), and UTF-8 to the console.
  auto utf8_args = bcast::core::win32::utf8_arguments();
  if (!utf8_args) {
    std::cerr << "subscriberd: the command line is not valid UTF-16\n";
    return 2;
  }
  std::vector<char*> utf8_argv;
  for (auto& a : *utf8_args) utf8_argv.push_back(a.data());
  utf8_argv.push_back(nullptr);
  argc = static_cast<int>(utf8_args->size());
  argv = utf8_argv.data();
  SetConsoleOutputCP(CP_UTF8);
  // The C runtime buffers stderr when it is not a console; a log line must be out at once.
  std::setvbuf(stderr, nullptr, _IONBF, 0);
  // The service's MessageBox, in the user's session (sinks/win32_session.hpp).
  if (argc == 2 && std::string_view(argv[1]) == "--popup") return bcast::sinks::win32::popup_main();
#endif
  auto start = bcast::core::cli::parse_daemon_command_line(
      argc, argv, subscriberd::cli_spec(), "subscriberd", BCAST_VERSION, usage_text);
  if (!start.args) return start.exit_status;
  auto& args = start.args;
#ifdef _WIN32
  if (args->has("uninstall-service")) {
    if (auto removed = bcast::core::win32::uninstall_service(service_name); !removed) {
      std::cerr << "subscriberd: " << removed.err().detail() << "\n";
      return 1;
    }
    std::cout << "subscriberd: the service " << service_name << " is stopped and removed\n";
    return 0;
  }
#endif
  auto config = subscriberd::load(*args);
  if (!config) {
    std::cerr << "subscriberd: " << config.err().detail() << "\n" << usage_text;
    return 2;
  }
  bcast::core::log::config().threshold = *bcast::core::log::parse_level(config->log_level);
  if (auto warning = bcast::redis::transport_warning(
          bcast::redis::parse_url(config->redis_url).value(), config->allow_plaintext_redis))
    bcast::core::log::warning(*warning);
#ifndef _WIN32
  std::signal(SIGPIPE, SIG_IGN);
#endif

  bcast::core::loop loop;
  bcast::sinks::sink_options sink_options;
  sink_options.dialog_timeout = config->dialog_timeout;
  sink_options.child_env = config->sink_env;
  sink_options.language = config->words;
#ifdef _WIN32
  const bool as_service = args->has("service");
  const std::string state_dir = config->state_dir;
  if (as_service) {
    auto popup = bcast::core::win32::this_program_command({"--popup"});
    if (!popup) return 1;
    sink_options.popup_command = *popup;
  }
#endif
  auto sinks = bcast::sinks::make_sinks(loop, config->sinks, sink_options);
  if (!sinks) {
    std::cerr << "subscriberd: " << sinks.err().detail() << "\n";
    return 2;
  }
  if (args->has("check-config")) {
    std::cout << "subscriberd: configuration OK";
    for (const auto& k : config->keys.keys()) std::cout << "; trusts key " << k.id();
    std::cout << "\n";
    if (config->allow_unsigned) std::cerr << "subscriberd: warning: allow_unsigned is on\n";
    return 0;
  }
#ifdef _WIN32
  if (args->has("install-service")) {
    // This program with --service and the options it was installed with.
    std::vector<std::string> service_args{"--service"};
    for (int i = 1; i < argc; ++i) {
      if (std::string_view(argv[i]) != "--install-service") service_args.emplace_back(argv[i]);
    }
    auto command = bcast::core::win32::this_program_command(service_args);
    if (!command) {
      std::cerr << "subscriberd: cannot find this program's own path\n";
      return 1;
    }
    const bcast::core::win32::service_definition service{
        service_name, "bcast store (subscriberd)",
        "Shows head office's messages at this store and reports what was read (bcast).", *command};
    // What the service keeps (its config, with the Redis password; its position) is for SYSTEM
    // and the Administrators only, not the users at the till.
    std::error_code ec;
    std::filesystem::create_directories(bcast::core::utf8_path(state_dir), ec);
    std::vector<std::string> kept{state_dir};
    if (auto file = args->value("config")) kept.push_back(*file);
    for (const auto& path : kept) {
      if (auto locked = bcast::core::win32::restrict_to_administrators(path); !locked) {
        std::cerr << "subscriberd: " << locked.err().detail() << "\n";
        return 1;
      }
    }
    auto installed = bcast::core::win32::install_service(service);
    if (!installed) {
      std::cerr << "subscriberd: " << installed.err().detail() << "\n";
      return 1;
    }
    std::cout << "subscriberd: installed the service " << service_name << ": " << *command << "\n";
    for (const auto& path : kept)
      std::cout << "subscriberd: " << path << ": SYSTEM and Administrators only\n";
    if (!installed->restarts_after_error_exit)
      std::cerr
          << "subscriberd: warning: this system restarts the service after a crash only, not "
             "after it exits with an error (SERVICE_CONFIG_FAILURE_ACTIONS_FLAG is unknown)\n";
    return 0;
  }
#endif
  subscriberd::app app(loop, std::move(config).value(), std::move(sinks).value());
  const auto run = [&](std::function<void(std::function<void()>)> expose_stop) {
    if (auto started = app.start(); !started) {
      bcast::core::log::error(started.err().message());
      return 1;
    }
    bcast::core::run_until_signalled(
        loop, [&](std::function<void()> done) { app.shutdown(std::move(done)); }, {},
        std::move(expose_stop));
    return 0;
  };
#ifdef _WIN32
  if (as_service) {
    auto status = bcast::core::win32::run_as_service(
        service_name, [&](bcast::core::win32::service_context& service) {
          // A service has no console: its log goes to the state dir.
          if (!bcast::core::log::to_file(bcast::core::utf8_path(state_dir) / "subscriberd.log",
                                         10u * 1024 * 1024))
            return 1;
          return run([&](std::function<void()> stop) {
            if (!stop) return service.on_stop(nullptr);
            service.on_stop([&loop, stop] { loop.post(stop); });
          });
        });
    if (!status) {
      std::cerr << "subscriberd: " << status.err().detail() << "\n";
      return 2;
    }
    return *status;
  }
#endif
  return run({});
}
