// Installing: the users example loads, and the Debian packages built from this tree (as a fleet
// builds them, dpkg-buildpackage) hold every file in its place, with daemons that run.

#include "publisherd_fixture.hpp"

#include <bcast/auth/password.hpp>
#include <bcast/auth/users.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <support/assert_ok.hpp>

using namespace bcast;
namespace fs = std::filesystem;

namespace {

fs::path source_root() {
  return std::getenv("BCAST_SOURCE_ROOT");
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The files under `dir` (recursively), relative to it.
std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir));
  }
  return out;
}

// The source tree as git sees it (tracked and new files; no build directories), copied to `to`.
void copy_source_tree(const fs::path& from, const fs::path& to) {
  auto listing = test::shell("git -C '" + from.string() + "' ls-files -z -co --exclude-standard");
  for (std::size_t at = 0, end; at < listing.size(); at = end + 1) {
    end = listing.find('\0', at);
    if (end == std::string::npos) end = listing.size();
    const fs::path name = listing.substr(at, end - at);
    if (!fs::is_regular_file(from / name)) continue;  // deleted but not yet committed
    fs::create_directories((to / name).parent_path());
    fs::copy_file(from / name, to / name);  // keeps the mode (debian/rules is executable)
  }
}

std::string example(const std::string& name) {
  return (source_root() / "config" / name).string();
}

}  // namespace

TEST_CASE("config/users.example.json loads, and its hashes open no obvious password") {
  std::string out;
  test::temp_dir dir;
  const auto key =
      test::make_key_pair(dir.file("keys"));  // the example's is /etc/bcast/signing.key
  const int status = test::shell_status(
      "'" + test::build_path("daemons/publisherd/publisherd") + "' --check-config --config '" +
          example("publisherd.example.json") + "' --users '" + example("users.example.json") +
          "' --signing-key " + key.private_key,
      &out);
  INFO(out);
  CHECK(status == 0);
  CHECK(out.find("configuration OK") != std::string::npos);

  auto users = auth::user_store::load_file(example("users.example.json"));
  REQUIRE_OK(users);
  REQUIRE(users->size() == 3);
  const auto* admin = users->find("admin");
  REQUIRE(admin);
  CHECK(admin->role == auth::role::admin);
  CHECK(users->find("jateng")->targets == std::vector<std::string>{"region:jateng", "store:*"});
  CHECK(users->find("pos-sync")->password_hash.empty());
  CHECK(users->find("pos-sync")->tokens.size() == 1);
  for (const auto* u : {admin, users->find("jateng")}) {
    INFO(u->name);
    CHECK(auth::hash_meets_policy(u->password_hash));
    for (std::string guess : {u->name, std::string("change-me"), std::string("password")}) {
      CHECK_FALSE(auth::verify_password(guess, u->password_hash));
    }
  }
}

// Hidden from the daemons suite: tests/meson.build runs it as the test "deb", once, outside the
// sanitizer build (it builds the daemons again, for ~2 minutes, and ASan adds nothing to it).
TEST_CASE("the .deb builds with dpkg-buildpackage and installs every file in its place", "[.deb]") {
  test::temp_dir dir;
  const fs::path tree = dir.path() / "bcast";  // dpkg-buildpackage writes ../*.deb, inside `dir`
  copy_source_tree(source_root(), tree);
  std::string out;
  const int built = test::shell_status(
      "cd '" + tree.string() +
          "' && DEB_BUILD_OPTIONS=\"nocheck parallel=$(nproc)\" dpkg-buildpackage -us -uc -b "
          ">build.log 2>&1 || { tail -n 60 build.log; exit 1; }",
      &out);
  INFO(out);
  REQUIRE(built == 0);

  auto first_line = [](std::string text) { return text.substr(0, text.find('\n')); };
  const auto version =
      first_line(test::shell("cd '" + tree.string() + "' && dpkg-parsechangelog -S Version"));
  const auto arch = first_line(test::shell("dpkg --print-architecture"));
  const fs::path bin_deb = dir.path() / ("bcast_" + version + "_" + arch + ".deb");
  const fs::path dev_deb = dir.path() / ("libbcast-dev_" + version + "_all.deb");
  REQUIRE(fs::exists(bin_deb));
  REQUIRE(fs::exists(dev_deb));
  const fs::path root = dir.path() / "root";
  test::shell("dpkg -x '" + bin_deb.string() + "' '" + root.string() + "' && dpkg -x '" +
              dev_deb.string() + "' '" + root.string() + "'");

  // Every file that the tree has for installing is in the package, where Debian expects it.
  std::vector<fs::path> expected{"usr/bin/publisherd",
                                 "usr/bin/subscriberd",
                                 "usr/bin/bcastctl",
                                 "usr/share/doc/bcast/README.md",
                                 "usr/share/doc/bcast/copyright",
                                 "usr/share/pkgconfig/bcast.pc"};
  for (const auto& unit : {"publisherd.service", "publisherd.socket", "subscriberd@.service"})
    expected.push_back(fs::path("lib/systemd/system") / unit);
  expected.push_back("usr/lib/systemd/user/subscriberd.service");
  for (const auto& f : files_under(source_root() / "daemons/publisherd/web"))
    expected.push_back("usr/share/bcast/web" / f);
  for (const auto& f : files_under(source_root() / "include/bcast"))
    expected.push_back("usr/include/bcast" / f);
  for (const auto& f : files_under(source_root() / "config")) {
    if (f.string().find(".example") != std::string::npos)
      expected.push_back("usr/share/doc/bcast/examples" / f);
  }
  CHECK(expected.size() > 40);
  for (const auto& f : expected) {
    INFO(f);
    CHECK(fs::is_regular_file(root / f));
  }
  CHECK(fs::is_directory(root / "etc/bcast"));
  // The daemons read /etc/bcast through the group bcast, which the package creates.
  const fs::path control = dir.path() / "control";
  test::shell("dpkg-deb -e '" + bin_deb.string() + "' '" + control.string() + "'");
  const auto postinst = read_file(control / "postinst");
  CHECK(postinst.find("addgroup --system --quiet bcast") != std::string::npos);
  // publisherd.socket's SocketGroup=
  CHECK(postinst.find("addgroup --system --quiet bcast-admin") != std::string::npos);
  CHECK(postinst.find("dpkg-statoverride --update --add root bcast 2750 /etc/bcast") != std::string::npos);
  // A signing key on first install, never replaced (bcastctl refuses to), and where the .pub goes.
  CHECK(postinst.find("/usr/bin/bcastctl key gen --out /etc/bcast") != std::string::npos);
  CHECK(postinst.find("[ ! -e /etc/bcast/signing.key ]") != std::string::npos);
  const auto unit = read_file(root / "lib/systemd/system/publisherd.service");
  CHECK(unit.find("/usr/bin/publisherd") != std::string::npos);
  CHECK(unit.find("LoadCredential=signing.key:/etc/bcast/signing.key") != std::string::npos);
  CHECK(unit.find("--signing-key %d/signing.key") != std::string::npos);

  // The packaged programs run, report the package's version, and take the packaged examples.
  const std::string bin = (root / "usr/bin").string() + "/";
  const std::string examples = (root / "usr/share/doc/bcast/examples").string() + "/";
  CHECK(test::shell(bin + "publisherd --version") == "publisherd " + version + "\n");
  // The signing key, as the postinst makes it (run there as root, on /etc/bcast); the
  // subscriberd example names its .pub, /etc/bcast/signing.pub, which this one stands in for.
  const fs::path keys = dir.path() / "keys";
  REQUIRE(test::shell_status(bin + "bcastctl key gen --out '" + keys.string() + "'", &out) == 0);
  for (std::string check :
       {"publisherd --check-config --config " + examples + "publisherd.example.json --users " +
            examples + "users.example.json --signing-key " + (keys / "signing.key").string(),
        "subscriberd --check-config --sink terminal --config " + examples +
            "subscriberd.example.json --trusted-key " + (keys / "signing.pub").string()}) {
    const int status = test::shell_status(bin + check, &out);
    INFO(check << "\n" << out);
    CHECK(status == 0);
  }
  CHECK(test::shell("echo pw | " + bin + "bcastctl acl s1").rfind("user bcast-store-s1 on #", 0) ==
        0);
  // publisherd's default web root is where the package put the UI.
  CHECK(read_file(root / "usr/bin/publisherd").find("/usr/share/bcast/web") != std::string::npos);
  CHECK(test::shell("dpkg-deb -f '" + bin_deb.string() + "' Depends").find("libuv1") !=
        std::string::npos);

  // libbcast-dev: a program built with nothing but the packaged headers and pkg-config file.
  std::ofstream(dir.file("use.cpp")) << "#include <bcast/broker/acl.hpp>\n"
                                        "int main() { return bcast::broker::store_acl_user(\"s1\") "
                                        "== \"bcast-store-s1\" ? 0 : 1; }\n";
  const int used =
      test::shell_status("cd '" + dir.path().string() + "' && PKG_CONFIG_PATH='" +
                             (root / "usr/share/pkgconfig").string() +
                             "' && export PKG_CONFIG_PATH && c++ -o use use.cpp "
                             "$(pkg-config --define-prefix --cflags --libs bcast) && ./use",
                         &out);
  INFO(out);
  CHECK(used == 0);
}
