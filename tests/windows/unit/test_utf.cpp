// UTF-8 <-> UTF-16 at the Win32 boundary (core/win32.hpp), and the files that go through it
// (core/files_win32.hpp), built for Windows and run under Wine (meson test in a Windows cross
// build; tests/windows/wine_store.sh builds it). Exact UTF-16 code units, round trips, and invalid
// UTF-8 refused; Indonesian text and emoji in a file name that Windows itself lists back.
// No Catch2 in the Windows prefix: a check() that counts, as tests/windows/smoke.cpp.

#include <bcast/core/files.hpp>
#include <bcast/core/win32.hpp>
#include <bcast/core/win32_service.hpp>
#include <bcast/sinks/jsonl.hpp>
#include <bcast/sinks/win32_dialog.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  if (!ok) ++failures;
}

using bcast::core::win32::to_utf8;
using bcast::core::win32::to_wide;
using bcast::core::win32::to_wide_lossy;

// Indonesian, as the stores read it, with an em dash, a rupiah amount and emoji (a surrogate pair).
const std::string harga = "Harga minyak goreng turun \xE2\x80\x94 Rp 14.000/liter";
const std::string salam = "Selamat pagi, Ibu! \xE2\x98\x95 Toko buka pukul 07.00 \xF0\x9F\x8E\x89";
const std::string pengumuman = "Pengumuman \xF0\x9F\x93\xA2: \xC3\xA9\xC3\xA8 \xE2\x82\xAC";

void conversions() {
  check(to_wide("") == std::wstring() && to_utf8(L"") == std::string(), "empty text both ways");
  check(to_wide("Toko") == std::wstring(L"Toko"), "ASCII is one code unit a byte");

  // Exact code units: U+2014 is one unit, U+1F389 (party popper) the pair D83C DF89.
  const auto w = to_wide(salam);
  check(w.has_value(), "Indonesian with emoji converts");
  const std::u16string expected = u"Selamat pagi, Ibu! \u2615 Toko buka pukul 07.00 \xD83C\xDF89";
  check(w && std::u16string(w->begin(), w->end()) == expected,
        "Selamat pagi ... U+2615 ... U+1F389 as the exact UTF-16 code units");
  check(w && w->size() == 45, "45 code units (the emoji is two)");
  const auto dash = to_wide(harga);
  check(dash && (*dash)[26] == 0x2014 && dash->size() == harga.size() - 2,
        "the em dash is one code unit (three bytes)");
  const auto megaphone = to_wide(pengumuman);
  check(megaphone && (*megaphone)[11] == 0xD83D && (*megaphone)[12] == 0xDCE2,
        "U+1F4E2 is the pair D83D DCE2");

  for (const auto& s : {harga, salam, pengumuman}) {
    const auto back = to_wide(s) ? to_utf8(*to_wide(s)) : std::nullopt;
    check(back && *back == s, "round trip: " + s);
  }
  // The other way round from UTF-16 code units.
  const std::wstring units = {0x0053, 0x0065, 0x006C, 0x0061, 0x006D,
                              0x0061, 0x0074, 0x0020, 0xD83D, 0xDE00};
  check(to_utf8(units) == std::string("Selamat \xF0\x9F\x98\x80"),
        "UTF-16 with a surrogate pair to UTF-8");

  // Invalid UTF-8 is an error, never a guess.
  const std::vector<std::pair<std::string, std::string>> invalid = {
      {"a\x80z", "a stray continuation byte"},  {"\xC0\xAF", "an overlong '/'"},
      {"\xED\xA0\x80", "an encoded surrogate"}, {"Harga \xE2\x82", "a sequence cut short"},
      {"\xF4\x90\x80\x80", "past U+10FFFF"},    {"\xFF", "a byte that is never UTF-8"},
  };
  for (const auto& [bytes, what] : invalid)
    check(!to_wide(bytes), "invalid UTF-8 refused: " + what);
  check(!to_utf8(std::wstring(1, wchar_t(0xD800))), "an unpaired surrogate refused");
  check(to_wide_lossy("a\x80z") == std::wstring(L"a\uFFFDz"),
        "lossy (what a person reads): U+FFFD for a bad byte");
  check(bcast::sinks::win32::to_wide("Harga \xE2\x82\xAC turun \xF0\x9F\x98\x80").size() == 16,
        "the MessageBox text: 16 code units");
}

// libstdc++ on Windows reads a narrow std::filesystem::path in the ANSI code page (as MSVC does),
// not as UTF-8: the broker's std::filesystem calls on a UTF-8 state dir go through core::utf8_path
// and core::path_utf8 (core/files.hpp), which go by char8_t.
void filesystem_paths() {
  const auto p = bcast::core::utf8_path(salam);
  check(to_wide(salam) && p.wstring() == *to_wide(salam),
        "core::utf8_path(UTF-8) is that UTF-16 inside");
  check(bcast::core::path_utf8(p) == salam, "and core::path_utf8 gives the UTF-8 back");
  check(bcast::core::path_utf8(p / "posisi.json") == salam + "\\posisi.json", "also once joined");
}

std::string read_text(const std::string& path) {
  auto text = bcast::core::read_file_bounded(path, 1 << 20);
  return text ? *text : "(unreadable: " + text.err().message() + ")";
}

std::string temp_dir() {
  wchar_t buf[MAX_PATH + 1];
  const DWORD n = GetTempPathW(MAX_PATH + 1, buf);
  std::wstring dir(buf, n);
  dir += L"bcast-utf-" + std::to_wstring(GetCurrentProcessId()) + L"-" +
         std::to_wstring(GetTickCount64()) + L"-\u2615";
  if (!CreateDirectoryW(dir.c_str(), nullptr)) return "";
  return to_utf8(dir).value_or("");
}

// The names Windows itself has in `dir`, as UTF-8.
std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> names;
  WIN32_FIND_DATAW found{};
  HANDLE h = FindFirstFileW((*to_wide(dir) + L"\\*").c_str(), &found);
  if (h == INVALID_HANDLE_VALUE) return names;
  do {
    const std::wstring name = found.cFileName;
    if (name != L"." && name != L"..") names.push_back(to_utf8(name).value_or("?"));
  } while (FindNextFileW(h, &found));
  FindClose(h);
  return names;
}

void files() {
  const std::string dir = temp_dir();
  check(!dir.empty() && std::filesystem::is_directory(bcast::core::utf8_path(dir)),
        "a temp dir with U+2615 in its name: " + dir);
  const std::string name = "posisi toko \xF0\x9F\x8F\xAA.json";  // U+1F3EA, a convenience store
  const std::string path = dir + "\\" + name;

  auto w1 = bcast::core::write_file_atomic(path, salam, 0600);
  check(w1.ok(), "write_file_atomic to a file with an emoji in its name" +
                     (w1 ? std::string() : ": " + w1.err().message()));
  auto w2 = bcast::core::write_file_atomic(path, harga, 0600);
  check(w2.ok(),
        "and replaces it (MoveFileExW)" + (w2 ? std::string() : ": " + w2.err().message()));
  const auto names = listing(dir);
  check(names == std::vector<std::string>{name},
        "Windows lists exactly that name, and no temp file is left (" +
            std::to_string(names.size()) + ")");
  const auto read = bcast::core::read_file_bounded(path, 1 << 20);
  check(read && *read == harga, "read_file_bounded gives the new content");
  const auto small = bcast::core::read_file_bounded(path, 4);
  check(!small && small.err() == bcast::core::errc::limit_exceeded,
        "past max_bytes: limit_exceeded");
  const auto missing = bcast::core::read_file_bounded(dir + "\\tidak ada", 100);
  check(!missing && missing.err().code() == std::errc::no_such_file_or_directory,
        "a missing file is no_such_file_or_directory, as on POSIX");
  check(!bcast::core::read_file_bounded("bad \xC0\xAF name", 100),
        "a path that is not UTF-8 is refused");

  // The display journal's file and the jsonl sink's appends.
  const std::string journal_path = dir + "\\shown.journal";
  {
    auto journal = bcast::core::append_file::open(journal_path, 0600);
    check(journal.ok(), "append_file opens (creates) a file");
    if (journal) {
      check(journal->append("+01J\n").ok() && journal->append("=01J\n").ok(), "two appends");
      check(read_text(journal_path) == "+01J\n=01J\n",
            "both lines, in order, while it is open (shared for reading)");
      check(journal->truncate().ok() && journal->append("-02K\n").ok(), "truncate, append again");
      check(read_text(journal_path) == "-02K\n", "only the line after the truncation");
    }
  }
  const std::string jsonl = dir + "\\pesan \xF0\x9F\x93\xA2.jsonl";
  check(bcast::sinks::detail::append_line(jsonl, "{\"id\":\"one\"}\n").empty() &&
            bcast::sinks::detail::append_line(jsonl, "{\"id\":\"two\"}\n").empty(),
        "the jsonl sink appends to a file with an emoji in its name");
  check(bcast::sinks::detail::tail_contains(jsonl, "\"id\":\"two\"", 1 << 20) &&
            bcast::sinks::detail::tail_contains(jsonl, "\"id\":\"one\"", 1 << 20) &&
            !bcast::sinks::detail::tail_contains(jsonl, "\"id\":\"one\"", 14),
        "and reads its tail back (within the window only)");
  check(!bcast::sinks::detail::append_line(dir, "x\n").empty(), "a directory is refused");

  std::error_code ec;
  std::filesystem::remove_all(bcast::core::utf8_path(dir), ec);
  check(!ec && !std::filesystem::exists(bcast::core::utf8_path(dir)), "the temp dir is removed");
}

void environment_and_arguments(int argc) {
  SetEnvironmentVariableW(L"BCAST_UTF_TEST", L"Selamat \u2615 \U0001F389");
  check(bcast::core::win32::environment_variable("BCAST_UTF_TEST") ==
            std::string("Selamat \xE2\x98\x95 \xF0\x9F\x8E\x89"),
        "an environment variable with emoji, as UTF-8");
  check(!bcast::core::win32::environment_variable("BCAST_UTF_TEST_UNSET"),
        "an unset one is nullopt");
  const auto program_data = bcast::core::win32::program_data_dir();
  check(program_data && !program_data->empty(), "%ProgramData%: " + program_data.value_or("?"));
  // meson test passes "Selamat pagi ☕ 🎉" (tests/windows/unit/meson.build).
  const auto args = bcast::core::win32::utf8_arguments();
  check(args && static_cast<int>(args->size()) == argc,
        "the UTF-16 command line has argc arguments");
  if (argc > 1 && args && args->size() > 1) {
    check((*args)[1] == "Selamat pagi \xE2\x98\x95 \xF0\x9F\x8E\x89",
          "argument 1 arrives as UTF-8: " + (*args)[1]);
  }
}

// core::win32::this_program_command (quoted_argument for each): what CommandLineToArgvW (as the
// C runtime) reads back is each argument as it was, for the service's command line (subscriberd
// --install-service).
void quoted_arguments() {
  const std::vector<std::string> odd{
      "plain",      "",
      "with space", "C:\\Program Files\\bcast\\",
      "say \"hi\"", "back\\\\\"quote",
      "tab\there",  "Z:\\tmp\\\xC3\xA9tat toko \xE2\x98\x95\\subscriberd.json"};
  const auto line = bcast::core::win32::this_program_command(odd);
  check(line.has_value(), "this_program_command: this program's path");
  int count = 0;
  wchar_t** parsed = CommandLineToArgvW(to_wide(line.value_or("")).value_or(L"").c_str(), &count);
  check(parsed && count == static_cast<int>(odd.size()) + 1, "quoted: as many arguments back");
  check(parsed && count > 0 && to_utf8(parsed[0]) == bcast::core::win32::program_path(),
        "argument 0 is this program");
  for (int i = 1; parsed && i < count && i <= static_cast<int>(odd.size()); ++i) {
    const auto& want = odd[static_cast<std::size_t>(i - 1)];
    check(to_utf8(parsed[i]) == want, "quoted and read back: " + want);
  }
  if (parsed) LocalFree(parsed);
}

// What a service keeps is for SYSTEM and Administrators only (subscriberd --install-service):
// the DACL means that (SDDL read and written back by Windows), and it can be set on a directory
// with a file in it. (Wine keeps no file ACLs, so what it does to the users is seen on Windows.)
void service_files() {
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  wchar_t* text = nullptr;
  const bool parsed = ConvertStringSecurityDescriptorToSecurityDescriptorW(
      bcast::core::win32::service_files_dacl, SDDL_REVISION_1, &descriptor, nullptr);
  const bool written =
      parsed && ConvertSecurityDescriptorToStringSecurityDescriptorW(
                    descriptor, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &text, nullptr);
  const auto sddl = written ? to_utf8(text) : std::nullopt;
  check(sddl == "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)",
        "the service's files: protected, SYSTEM and Administrators full control, inherited: " +
            sddl.value_or("?"));
  if (text) LocalFree(text);
  if (descriptor) LocalFree(descriptor);
  const std::string dir = std::filesystem::temp_directory_path().string() + "\\bcast-dacl-" +
                          std::to_string(GetCurrentProcessId());
  std::filesystem::create_directories(dir);
  check(bcast::core::write_file_atomic(dir + "\\subscriberd.json", "{}", 0600).ok(),
        "a config file in it");
  const auto locked = bcast::core::win32::restrict_to_administrators(dir);
  check(locked.ok(), "restrict_to_administrators on it" +
                         (locked ? std::string() : ": " + locked.err().detail()));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace

int main(int argc, char**) {
  SetConsoleOutputCP(CP_UTF8);
  conversions();
  filesystem_paths();
  files();
  environment_and_arguments(argc);
  quoted_arguments();
  service_files();
  std::printf(failures ? "test_utf: %d FAILED\n" : "test_utf: all ok\n", failures);
  return failures ? 1 : 0;
}
