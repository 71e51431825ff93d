#pragma once
// A directory of our own under $TMPDIR, removed with everything in it when the owner goes: for a
// private redis-server's socket, and for the tests' scratch files.

#include <bcast/core/error.hpp>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace bcast::core {

class temp_dir {
 public:
  // A new empty directory named `<prefix>XXXXXX`.
  static result<temp_dir> make(std::string_view prefix = "bcast-") {
    std::error_code ec;
    const auto parent = std::filesystem::temp_directory_path(ec);
    if (ec) return error(ec, "no temporary directory");
    std::string pattern = (parent / (std::string(prefix) + "XXXXXX")).string();
    if (!::mkdtemp(pattern.data()))
      return error(std::error_code(errno, std::system_category()), "mkdtemp " + pattern);
    return temp_dir(std::filesystem::path(pattern));
  }

  temp_dir(temp_dir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  temp_dir& operator=(temp_dir&& other) noexcept {
    if (this != &other) {
      remove();
      path_ = std::exchange(other.path_, {});
    }
    return *this;
  }
  ~temp_dir() { remove(); }

  const std::filesystem::path& path() const noexcept { return path_; }
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  explicit temp_dir(std::filesystem::path path) : path_(std::move(path)) {}

  void remove() noexcept {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    path_.clear();
  }

  std::filesystem::path path_;
};

}  // namespace bcast::core
