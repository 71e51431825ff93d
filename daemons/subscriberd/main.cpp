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
#endif
    ;

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
#endif
  auto start = bcast::core::cli::parse_daemon_command_line(argc, argv, subscriberd::cli_spec(), "subscriberd", BCAST_VERSION,
                                                          usage_text);
  if (!start.args) return start.exit_status;
  auto& args = start.args;
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
  subscriberd::app app(loop, std::move(config).value(), std::move(sinks).value());
  if (auto started = app.start(); !started) {
    bcast::core::log::error(started.err().message());
    return 1;
  }
  bcast::core::run_until_signalled(
      loop, [&](std::function<void()> done) { app.shutdown(std::move(done)); });
  return 0;
}
