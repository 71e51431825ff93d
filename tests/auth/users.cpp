#include <bcast/auth/password.hpp>
#include <bcast/auth/users.hpp>

#include <auth/fast_hashing.hpp>
#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <support/assert_ok.hpp>
#include <vector>

using namespace bcast::auth;
namespace fs = std::filesystem;

namespace {

using bcast::test::fast_iterations;

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "bcast-auth-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename().string());
    return out;
  }
};

const std::string alice_hash =  // "hunter2", 1000 iterations
    "$pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g";

std::string load_error(std::string_view text) {
  auto r = user_store::parse(text, "users.json");
  REQUIRE_FALSE(r.ok());
  CHECK(r.err() == bcast::core::errc::invalid_argument);
  return r.err().detail();
}

}  // namespace

TEST_CASE("user names", "[auth][users]") {
  for (const char* ok : {"admin", "a", "0", "jateng.manager", "store-12_x"})
    CHECK(valid_user_name(ok));
  CHECK(valid_user_name(std::string(64, 'a')));
  for (const char* bad : {"", "Admin", "-admin", "_x", ".x", "a b", "a/b", "a:b", "ä", "a\n"})
    CHECK_FALSE(valid_user_name(bad));
  CHECK_FALSE(valid_user_name(std::string(65, 'a')));
}

TEST_CASE("a users file loads with defaults", "[auth][users]") {
  const std::string text = R"({
    // comments are allowed
    "users": [
      {"name": "admin", "role": "admin", "password": ")" +
                           alice_hash + R"("},
      {"name": "jateng", "role": "publisher", "targets": ["region:jateng", "store:*"],
       "tokens": ["SHA256:81C09BC490B89690AE94A20296757E81DC519628918CEE4F72D40AF08BFD26BB"]}
    ]})";
  auto store = user_store::parse(text);
  REQUIRE_OK(store);
  REQUIRE(store->size() == 2);
  const user* admin = store->find("admin");
  REQUIRE(admin);
  CHECK(admin->role == role::admin);
  CHECK(admin->targets == std::vector<std::string>{"*"});
  CHECK(admin->tokens.empty());
  const user* jateng = store->find("jateng");
  REQUIRE(jateng);
  CHECK(jateng->role == role::publisher);
  CHECK(jateng->password_hash.empty());
  CHECK(jateng->targets == std::vector<std::string>{"region:jateng", "store:*"});
  // Stored hashes are normalised to lowercase.
  CHECK(jateng->tokens ==
        std::vector<std::string>{
            "sha256:81c09bc490b89690ae94a20296757e81dc519628918cee4f72d40af08bfd26bb"});
  CHECK(store->find("nobody") == nullptr);
  CHECK(store->dummy_iterations() == 1000u);
}

TEST_CASE("users file errors name the place", "[auth][users]") {
  CHECK_THAT(load_error("{\"users\": [\n  {\"name\": \"a\",\n   \"role\": admin}]}"),
             Catch::Contains("users.json: invalid JSON") && Catch::Contains("line 3"));
  CHECK_THAT(load_error(""), Catch::Contains("invalid JSON"));
  CHECK_THAT(load_error("[]"), Catch::Contains("top level"));
  CHECK_THAT(load_error("{}"), Catch::Contains("users: missing"));
  CHECK_THAT(load_error(R"({"users": {}})"), Catch::Contains("users: expected an array"));
  CHECK_THAT(load_error(R"({"users": [], "extra": 1})"),
             Catch::Contains("users.json: extra: unknown key"));
  CHECK_THAT(load_error(R"({"users": [{"name": "a", "role": "root"}]})"),
             Catch::Contains("users[0].role: must be \"admin\" or \"publisher\"") &&
                 Catch::Contains("root"));
  CHECK_THAT(load_error(R"({"users": [{"name": "a", "role": 1}]})"),
             Catch::Contains("users[0].role"));
  CHECK_THAT(load_error(R"({"users": [{"name": "a"}]})"),
             Catch::Contains("users[0].role: missing"));
  CHECK_THAT(load_error(R"({"users": [{"role": "admin"}]})"),
             Catch::Contains("users[0].name: missing"));
  CHECK_THAT(load_error(R"({"users": [{"name": "A", "role": "admin"}]})"),
             Catch::Contains("users[0].name") && Catch::Contains("not a valid user name"));
  CHECK_THAT(
      load_error(R"({"users": [{"name": "a", "role": "admin"}, {"name": "b", "role": "admin"},
                                      {"name": "a", "role": "publisher"}]})"),
      Catch::Contains("users[2].name: duplicate user \"a\" (first at users[0])"));
  CHECK_THAT(load_error(R"({"users": [{"name": "a", "role": "admin", "password": "hunter2"}]})"),
             Catch::Contains("users[0].password: not a supported PHC hash"));
  CHECK_THAT(load_error(R"({"users": [{"name": "a", "role": "admin", "targets": "*"}]})"),
             Catch::Contains("users[0].targets: expected an array"));
  CHECK_THAT(
      load_error(R"({"users": [{"name": "a", "role": "admin", "targets": ["*", "region"]}]})"),
      Catch::Contains("users[0].targets[1]: \"region\" is not a target pattern"));
  CHECK_THAT(load_error(R"({"users": [{"name": "a", "role": "admin", "tokens": ["plaintext"]}]})"),
             Catch::Contains("users[0].tokens[0]"));
  const std::string shared =
      R"(["sha256:81c09bc490b89690ae94a20296757e81dc519628918cee4f72d40af08bfd26bb"])";
  CHECK_THAT(load_error(R"({"users": [{"name": "a", "role": "admin", "tokens": )" + shared +
                        R"(}, {"name": "b", "role": "admin", "tokens": )" + shared + "}]}"),
             Catch::Contains("users[1].tokens[0]") && Catch::Contains("already listed"));
  // A misspelt field must not silently fall back to a default such as targets ["*"].
  CHECK_THAT(
      load_error(R"({"users": [{"name": "a", "role": "publisher", "target": ["store:1"]}]})"),
      Catch::Contains("users[0].target: unknown key"));
  // nlohmann would keep the last of two equal keys; a reader of the file may see the first.
  CHECK_THAT(load_error(R"({"users": [{"name": "a", "role": "admin", "role": "publisher"}]})"),
             Catch::Contains("users[0]: duplicate key \"role\""));
  CHECK_THAT(load_error(R"({"users": [{"name": "a", "role": "admin"}], "users": []})"),
             Catch::Contains("top level: duplicate key \"users\""));
}

TEST_CASE("password login, unknown users cost the same work", "[auth][users]") {
  user_store store;
  REQUIRE(store.add(user{"alice", role::publisher, alice_hash, {"*"}, {}}).ok());
  REQUIRE(store.add(user{"bob", role::admin, hash_password("bobpass", 50000), {"*"}, {}}).ok());
  REQUIRE(store.add(user{"carol", role::admin, hash_password("carolpass", 50000), {"*"}, {}}).ok());
  REQUIRE(store.add(user{"robot", role::publisher, "", {"*"}, {}}).ok());

  CHECK(store.authenticate("alice", "hunter2") == store.find("alice"));
  CHECK(store.authenticate("alice", "hunter3") == nullptr);
  CHECK(store.authenticate("bob", "bobpass") == store.find("bob"));
  CHECK(store.authenticate("nobody", "hunter2") == nullptr);
  CHECK(store.authenticate("robot", "") == nullptr);  // no password: no password login
  CHECK(store.authenticate("", "") == nullptr);

  // The unknown-user path uses the iteration count most users have.
  CHECK(store.dummy_iterations() == 50000u);

  using clock = std::chrono::steady_clock;
  auto time_of = [](auto&& f) {
    auto best = clock::duration::max();
    for (int i = 0; i < 3; ++i) {
      const auto start = clock::now();
      f();
      best = std::min(best, clock::now() - start);
    }
    return best;
  };
  const auto wrong = time_of([&] { CHECK(store.authenticate("bob", "guess") == nullptr); });
  const auto unknown = time_of([&] { CHECK(store.authenticate("mallory", "guess") == nullptr); });
  const auto no_password = time_of([&] { CHECK(store.authenticate("robot", "guess") == nullptr); });
  CHECK(unknown * 3 > wrong);
  CHECK(no_password * 3 > wrong);
  CHECK(unknown < wrong * 3);

  CHECK(user_store{}.dummy_iterations() == pbkdf2_default_iterations);
}

TEST_CASE("bearer tokens", "[auth][users]") {
  user_store store;
  REQUIRE(store.add(user{"robot", role::publisher, "", {"store:*"}, {}}).ok());
  REQUIRE(store.add(user{"admin", role::admin, "", {"*"}, {}}).ok());

  const minted_token t = mint_token();
  CHECK(t.token.rfind("bcast_", 0) == 0);
  CHECK(t.token.size() == 6 + 43);
  CHECK(t.stored == token_hash(t.token));
  CHECK(valid_token_hash(t.stored));
  CHECK(t.stored.find(t.token) == std::string::npos);
  CHECK(mint_token().token != t.token);

  CHECK(store.find_by_token(t.token) == nullptr);
  REQUIRE(store.add_token("robot", t.stored).ok());
  CHECK(store.find_by_token(t.token) == store.find("robot"));
  CHECK(store.find_by_token(t.stored) == nullptr);  // the stored form is not a credential
  CHECK(store.find_by_token(t.token + "x") == nullptr);
  CHECK(store.find_by_token("") == nullptr);
  CHECK(store.find_by_token("bcast_test_token") == nullptr);

  CHECK_FALSE(store.add_token("admin", t.stored).ok());  // one token, one user
  CHECK_FALSE(store.add_token("nobody", mint_token().stored).ok());
  CHECK_FALSE(store.add_token("admin", "sha256:xyz").ok());

  const minted_token second = mint_token();
  REQUIRE(store.add_token("admin", second.stored).ok());
  CHECK(store.find_by_token(second.token) == store.find("admin"));
  REQUIRE(store.remove_token("robot", t.token).ok());
  CHECK(store.find_by_token(t.token) == nullptr);
  CHECK_FALSE(store.remove_token("robot", t.token).ok());
  REQUIRE(store.remove_token("admin", second.stored).ok());
  CHECK(store.find_by_token(second.token) == nullptr);
}

TEST_CASE("add, passwd, del, list", "[auth][users]") {
  user_store store;
  REQUIRE(store.add(user{"admin", role::admin, alice_hash, {"*"}, {}}).ok());
  CHECK_FALSE(store.add(user{"admin", role::publisher, "", {"*"}, {}}).ok());
  CHECK_FALSE(store.add(user{"Bad Name", role::publisher, "", {"*"}, {}}).ok());
  CHECK_FALSE(store.add(user{"x", role::publisher, "plaintext", {"*"}, {}}).ok());
  auto bad_target = store.add(user{"x", role::publisher, "", {"region"}, {}});
  REQUIRE_FALSE(bad_target.ok());
  CHECK_THAT(bad_target.err().detail(), Catch::StartsWith("targets:"));

  REQUIRE(store.add(user{"jateng", role::publisher, "", {"region:jateng", "store:*"}, {}}).ok());
  REQUIRE(store.users().size() == 2);
  CHECK(store.users()[0].name == "admin");
  CHECK(store.users()[1].name == "jateng");

  const std::string new_hash = hash_password("new pass", fast_iterations);
  REQUIRE(store.set_password("jateng", new_hash).ok());
  CHECK(store.authenticate("jateng", "new pass") == store.find("jateng"));
  CHECK_FALSE(store.set_password("jateng", "new pass").ok());  // plaintext is refused
  CHECK_FALSE(store.set_password("nobody", new_hash).ok());

  REQUIRE(store.set_role("jateng", role::admin).ok());
  CHECK(store.find("jateng")->role == role::admin);
  REQUIRE(store.set_targets("jateng", {"region:jatim"}).ok());
  CHECK(store.find("jateng")->targets == std::vector<std::string>{"region:jatim"});
  CHECK_FALSE(store.set_targets("jateng", {"jatim"}).ok());

  const user_store before = store;
  REQUIRE(store.remove("admin").ok());
  CHECK_FALSE(store.remove("admin").ok());
  CHECK(store.find("admin") == nullptr);
  CHECK(changed_users(before, store) == std::vector<std::string>{"admin"});
  CHECK(changed_users(store, store).empty());
}

TEST_CASE("atomic save and reload", "[auth][users]") {
  temp_dir dir;
  const std::string path = (dir.path / "users.json").string();

  SECTION("a missing file is an error, or an empty store when asked") {
    auto missing = user_store::load_file(path);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.err().code() == std::errc::no_such_file_or_directory);
    CHECK_THAT(missing.err().message(), Catch::Contains(path));
    auto empty = user_store::load_file(path, if_missing::empty);
    REQUIRE_OK(empty);
    CHECK(empty->empty());
  }

  SECTION("round trip, mode 0640 when new, no temp files left") {
    user_store store;
    REQUIRE(store.add(user{"admin", role::admin, alice_hash, {"*"}, {}}).ok());
    REQUIRE(
        store
            .add(user{
                "jateng", role::publisher, "", {"region:jateng", "store:*"}, {mint_token().stored}})
            .ok());
    REQUIRE(store.save_file(path).ok());

    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
    CHECK(dir.entries() == std::vector<std::string>{"users.json"});

    auto loaded = user_store::load_file(path);
    REQUIRE_OK(loaded);
    CHECK(*loaded == store);
    CHECK(loaded->authenticate("admin", "hunter2") != nullptr);

    // Overwrite: the old file is replaced, one with looser permissions by one without them.
    REQUIRE(::chmod(path.c_str(), 0666) == 0);
    REQUIRE(store.remove("jateng").ok());
    REQUIRE(store.save_file(path).ok());
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
    // One the admin made private stays private.
    REQUIRE(::chmod(path.c_str(), 0600) == 0);
    REQUIRE(store.save_file(path).ok());
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    auto reloaded = user_store::load_file(path);
    REQUIRE_OK(reloaded);
    CHECK(reloaded->size() == 1);
    CHECK(dir.entries() == std::vector<std::string>{"users.json"});

    std::ifstream in(path);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK_THAT(text, Catch::StartsWith("{\n  \"users\": [\n    {\n      \"name\": \"admin\",\n     "
                                       " \"role\": \"admin\",\n      \"password\": "));
  }

  SECTION("a bad file is refused and the caller keeps its old store") {
    std::ofstream(path) << R"({"users": [{"name": "a", "role": "superuser"}]})";
    auto r = user_store::load_file(path);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.err().message(), Catch::Contains(path + ": users[0].role"));
  }

  SECTION("saving into a missing directory fails cleanly") {
    auto r = user_store{}.save_file((dir.path / "nope" / "users.json").string());
    CHECK_FALSE(r.ok());
  }

  SECTION("a symlinked users file is replaced through the link") {
    const std::string real = (dir.path / "real.json").string();
    REQUIRE(user_store{}.save_file(real).ok());
    fs::create_symlink(real, path);
    user_store store;
    REQUIRE(store.add(user{"admin", role::admin, alice_hash, {"*"}, {}}).ok());
    REQUIRE(store.save_file(path).ok());
    CHECK(fs::is_symlink(path));
    auto loaded = user_store::load_file(real);
    REQUIRE_OK(loaded);
    CHECK(loaded->size() == 1);
  }
}
