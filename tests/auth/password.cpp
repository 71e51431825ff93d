#include <bcast/auth/crypto.hpp>
#include <bcast/auth/password.hpp>
#include <bcast/core/text.hpp>

#include <auth/fast_hashing.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace bcast::auth;

namespace {

using bcast::test::fast_iterations;

std::string hex_of(const std::vector<unsigned char>& v) {
  return bcast::core::to_hex(v);
}

}  // namespace

TEST_CASE("PBKDF2-HMAC-SHA256 matches the RFC 7914 test vectors", "[auth][password]") {
  CHECK(hex_of(pbkdf2_sha256("passwd", as_bytes("salt"), 1, 64)) ==
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
  CHECK(hex_of(pbkdf2_sha256("Password", as_bytes("NaCl"), 80000, 64)) ==
        "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
  CHECK(pbkdf2_sha256("x", as_bytes("salt"), 0, 32).empty());
}

TEST_CASE("hash_password refuses iteration counts verify would refuse", "[auth][password]") {
  CHECK(hash_password("x", 0).empty());
  CHECK(hash_password("x", pbkdf2_max_iterations + 1).empty());
}

TEST_CASE("hash and verify round-trip", "[auth][password]") {
  const std::string phc = hash_password("correct horse", fast_iterations);
  CHECK(phc.rfind("$pbkdf2-sha256$i=1000,l=32$", 0) == 0);
  CHECK(verify_password("correct horse", phc));
  CHECK_FALSE(verify_password("correct horsE", phc));
  CHECK_FALSE(verify_password("", phc));
  CHECK(is_supported_hash(phc));
  CHECK(pbkdf2_iterations(phc) == fast_iterations);
  CHECK_FALSE(hash_meets_policy(phc));

  SECTION("salts are random: the same password hashes differently") {
    CHECK(hash_password("correct horse", fast_iterations) != phc);
  }
  SECTION("salt is 16 bytes and hash 32 bytes, unpadded base64") {
    const auto salt_start = phc.find('$', 1 + phc.find('$', 1)) + 1;
    const auto salt_end = phc.find('$', salt_start);
    CHECK(salt_end - salt_start == 22);          // 16 bytes
    CHECK(phc.size() - salt_end - 1 == 43);      // 32 bytes
    CHECK(phc.find('=') == phc.find("i=") + 1);  // only the parameter '=' signs
  }
  SECTION("empty and binary passwords work") {
    const std::string empty = hash_password("", fast_iterations);
    CHECK(verify_password("", empty));
    CHECK_FALSE(verify_password(" ", empty));
    const std::string binary("a\0b\xff", 4);
    CHECK(verify_password(binary, hash_password(binary, fast_iterations)));
    CHECK_FALSE(
        verify_password(std::string("a\0c\xff", 4), hash_password(binary, fast_iterations)));
  }
}

TEST_CASE("hashes made elsewhere verify (interop)", "[auth][password]") {
  // Made with Python's hashlib.
  CHECK(verify_password("hunter2",
                        "$pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
                        "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g"));
  CHECK(verify_password("hunter2",
                        "$pbkdf2-sha256$i=1000$MDEyMzQ1Njc4OWFiY2RlZg$"
                        "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g"));
  const std::string scrypt =
      "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$xhygCB++/lnqkJuXyqpuqIwyXp1fZuC+q3d168khIUA";
  CHECK(verify_password("hunter2", scrypt));
  CHECK_FALSE(verify_password("hunter3", scrypt));
  CHECK(hash_meets_policy(scrypt));
  CHECK_FALSE(pbkdf2_iterations(scrypt));
}

TEST_CASE("malformed PHC strings never verify", "[auth][password]") {
  const std::string good =
      "$pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g";
  REQUIRE(verify_password("hunter2", good));
  const char* bad[] = {
      "",
      "$",
      "hunter2",
      "pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha1$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$i=0,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$i=01000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$i=-1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$i=99999999999,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$i=4000000000$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$l=32,i=1000$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$i=1000,l=31$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$i=1000,l=32,x=1$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$i=1000,$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$$MDEyMzQ1Njc4OWFiY2RlZg$pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg==$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g=",
      "$pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2h",  // trailing bits
      "$pbkdf2-sha256$i=1000,l=32$MDEy*zQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$i=1000,l=32$$pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$",
      "$pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g$",
      "$pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g$x",
      " $pbkdf2-sha256$i=1000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$"
      "pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g",
      "$scrypt$ln=10,r=8$MDEyMzQ1Njc4OWFiY2RlZg$xhygCB++/lnqkJuXyqpuqIwyXp1fZuC+q3d168khIUA",
      "$scrypt$ln=30,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$xhygCB++/"
      "lnqkJuXyqpuqIwyXp1fZuC+q3d168khIUA",
      "$scrypt$ln=20,r=64,p=1$MDEyMzQ1Njc4OWFiY2RlZg$xhygCB++/"
      "lnqkJuXyqpuqIwyXp1fZuC+q3d168khIUA",  // 8 GiB
  };
  for (const char* phc : bad) {
    INFO(phc);
    CHECK_FALSE(verify_password("hunter2", phc));
  }
  CHECK_FALSE(is_supported_hash(
      "$pbkdf2-sha256$i=1000,l=32$MDEy$pj4T35D2v4tYmC1sTJ1y5tcMADOdtnQGvuHmyYDQh2g"));
}

TEST_CASE("default hashes use 600,000 iterations and verify", "[auth][password][slow]") {
  const std::string phc = hash_password("a real password");
  CHECK(phc.rfind("$pbkdf2-sha256$i=600000,l=32$", 0) == 0);
  CHECK(pbkdf2_iterations(phc) >= pbkdf2_min_iterations);
  CHECK(hash_meets_policy(phc));
  CHECK(verify_password("a real password", phc));
}

TEST_CASE("the dummy hash is well formed and costs real work", "[auth][password]") {
  const std::string dummy = dummy_hash(50000);
  CHECK(is_supported_hash(dummy));
  CHECK(pbkdf2_iterations(dummy) == 50000u);
  CHECK_FALSE(verify_password("", dummy));
  CHECK_FALSE(verify_password("password", dummy));
  CHECK(pbkdf2_iterations(dummy_hash()) == pbkdf2_default_iterations);

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
  const std::string real = hash_password("secret", 50000);
  const auto wrong = time_of([&] { CHECK_FALSE(verify_password("guess", real)); });
  const auto burn = time_of([&] { burn_equivalent_work("guess", 50000); });
  const auto nothing = time_of([&] { burn_equivalent_work("guess", 1); });
  // Generous bounds: the machine is shared, but 50,000 iterations against 1 is a large gap.
  CHECK(burn * 3 > wrong);
  CHECK(nothing * 10 < burn);
}
