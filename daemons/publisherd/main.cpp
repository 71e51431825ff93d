// publisherd: see README.md and docs/ARCHITECTURE.md.

#include "app.hpp"

#include <bcast/core/daemon.hpp>

#include <csignal>
#include <iostream>

namespace {

const char* usage_text =
    "usage: publisherd [--config FILE] [--redis URL] [--http HOST:PORT]... [--unix-socket PATH]\n"
    "                  [--users FILE] [--signing-key FILE] [--check-config] [--version] [--help]\n"
    "Redis URL: redis://[user:pass@]host:port[/db], rediss://... (TLS), unix:///path.sock[?db=N];\n"
    "           plain redis:// only to this machine unless the config says allow_plaintext_redis.\n"
    "Signing key: make one with `bcastctl key gen --out DIR` (DIR/signing.key).\n";

}  // namespace

int main(int argc, char** argv) {
  auto start = bcast::core::cli::parse_daemon_command_line(argc, argv, publisherd::cli_spec(), "publisherd", BCAST_VERSION,
                                                          usage_text);
  if (!start.args) return start.exit_status;
  auto& args = start.args;
  auto config = publisherd::load(*args);
  if (!config) {
    std::cerr << "publisherd: " << config.err().detail() << "\n";
    return 2;
  }
  if (!config->users_file.empty()) {
    if (auto users = publisherd::app::read_users(config->users_file); !users) {
      std::cerr << "publisherd: " << users.err().detail() << "\n";
      return 2;
    }
  }
  auto keys = publisherd::load_signing_keys(*config);
  if (!keys) {
    std::cerr << "publisherd: " << keys.err().detail() << "\n";
    return 2;
  }
  if (args->has("check-config")) {
    std::string keys_in_use = " (allow_unsigned: no signing key)";
    if (keys->current) {
      keys_in_use = " (signing key id " + keys->current->id();
      for (std::size_t k = 0; k < keys->previous.size(); ++k)
        keys_in_use += (k == 0 ? "; previous key ids " : ", ") + keys->previous.keys()[k].id();
      keys_in_use += ")";
    }
    std::cout << "publisherd: configuration OK" << keys_in_use << "\n";
    return 0;
  }
  std::signal(SIGPIPE, SIG_IGN);

  bcast::core::loop loop;
  publisherd::app app(loop, std::move(config).value());
  if (auto started = app.start(); !started) {
    bcast::core::log::error(started.err().message());
    return 1;
  }
  bcast::core::run_until_signalled(
      loop, [&](std::function<void()> done) { app.shutdown(std::move(done)); },
      [&] { app.reload(publisherd::load(*args)); });
  return 0;
}
