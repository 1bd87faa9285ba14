// The fetcher against real files, archives (made here with libarchive) and
// a real HTTP server on loopback (Python's http.server).
#include "corral/fetcher/fetcher.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

namespace corral::fetcher {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// An archive of `files` (name -> contents) in `format` ("gnutar+gzip", "zip", ...).
void MakeArchive(const fs::path& path, const std::string& format, const std::map<std::string, std::string>& files) {
  fs::create_directories(path.parent_path());
  struct archive* a = archive_write_new();
  if (format == "zip") {
    archive_write_set_format_zip(a);
  } else {
    archive_write_set_format_gnutar(a);
    if (format == "gnutar+gzip") archive_write_add_filter_gzip(a);
    if (format == "gnutar+xz") archive_write_add_filter_xz(a);
  }
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& [name, body] : files) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(body.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    archive_write_data(a, body.data(), body.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

class FetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/corral-fetcher-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    options_.sandbox = (root_ / "sandbox").string();
    options_.cache_dir = (root_ / "cache").string();
    fs::create_directories(options_.sandbox);
    fs::create_directories(options_.cache_dir);
  }
  void TearDown() override {
    if (server_ > 0) {
      ::kill(server_, SIGTERM);
      ::waitpid(server_, nullptr, 0);
    }
    fs::remove_all(root_);
  }
  static v1::CommandInfo::URI Uri(const std::string& value) {
    v1::CommandInfo::URI u;
    u.set_value(value);
    return u;
  }
  // Serves root_/www over HTTP on loopback; returns the base URL.
  std::string Serve() {
    fs::create_directories(root_ / "www");
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(s, reinterpret_cast<sockaddr*>(&addr), len);
    ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
    int port = ntohs(addr.sin_port);
    ::close(s);
    int banner[2];
    if (::pipe(banner) != 0) return "";
    std::string dir = (root_ / "www").string(), p = std::to_string(port);
    server_ = ::fork();
    if (server_ == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(banner[1], 1);
      ::dup2(devnull, 2);
      ::execlp("python3", "python3", "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir.c_str(),
               p.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(banner[1]);
    // It prints "Serving HTTP on ..." once it listens; wait for that line,
    // for 10 s at most.
    pollfd pfd{banner[0], POLLIN, 0};
    std::string line;
    char c;
    while (line.find('\n') == std::string::npos && ::poll(&pfd, 1, 10000) == 1 && ::read(banner[0], &c, 1) == 1) {
      line += c;
    }
    ::close(banner[0]);
    if (line.find("Serving HTTP") == std::string::npos) {
      ADD_FAILURE() << "the HTTP server did not start: " << line;
      return "";
    }
    return "http://127.0.0.1:" + std::to_string(port);
  }

  fs::path root_;
  FetchOptions options_;
  pid_t server_ = 0;
};

TEST_F(FetcherTest, CopiesLocalFilesByPathAndFileUrl) {
  Write(root_ / "src" / "a.txt", "alpha");
  ASSERT_TRUE(FetchUri(Uri((root_ / "src" / "a.txt").string()), options_).ok());
  EXPECT_EQ(Read(fs::path(options_.sandbox) / "a.txt"), "alpha");
  auto u = Uri("file://" + (root_ / "src" / "a.txt").string());
  u.set_output_file("sub/renamed.txt");
  ASSERT_TRUE(FetchUri(u, options_).ok());
  EXPECT_EQ(Read(fs::path(options_.sandbox) / "sub" / "renamed.txt"), "alpha");
}

TEST_F(FetcherTest, MakesFilesExecutable) {
  Write(root_ / "src" / "run.sh", "#!/bin/sh\necho hi\n");
  auto u = Uri((root_ / "src" / "run.sh").string());
  u.set_executable(true);
  ASSERT_TRUE(FetchUri(u, options_).ok());
  struct stat st;
  ASSERT_EQ(::stat((fs::path(options_.sandbox) / "run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755);
}

TEST_F(FetcherTest, ExtractsTarGzTarXzAndZipUnlessAskedNotTo) {
  MakeArchive(root_ / "src" / "app.tar.gz", "gnutar+gzip", {{"app/bin/run", "r"}, {"app/conf.ini", "c"}});
  MakeArchive(root_ / "src" / "data.tar.xz", "gnutar+xz", {{"data.csv", "1,2"}});
  MakeArchive(root_ / "src" / "web.zip", "zip", {{"web/index.html", "<p>"}});
  for (const char* f : {"app.tar.gz", "data.tar.xz", "web.zip"}) {
    absl::Status st = FetchUri(Uri((root_ / "src" / f).string()), options_);
    ASSERT_TRUE(st.ok()) << st;
  }
  fs::path sb = options_.sandbox;
  EXPECT_EQ(Read(sb / "app" / "bin" / "run"), "r");
  EXPECT_EQ(Read(sb / "app" / "conf.ini"), "c");
  EXPECT_EQ(Read(sb / "data.csv"), "1,2");
  EXPECT_EQ(Read(sb / "web" / "index.html"), "<p>");
  EXPECT_TRUE(fs::exists(sb / "app.tar.gz"));  // the archive itself stays, as in Mesos

  fs::remove_all(sb / "data.csv");
  auto keep = Uri((root_ / "src" / "data.tar.xz").string());
  keep.set_extract(false);
  ASSERT_TRUE(FetchUri(keep, options_).ok());
  EXPECT_FALSE(fs::exists(sb / "data.csv"));
}

TEST_F(FetcherTest, AnArchiveCannotWriteOutsideTheSandbox) {
  MakeArchive(root_ / "src" / "evil.tar", "gnutar", {{"../escaped.txt", "x"}});
  absl::Status s = FetchUri(Uri((root_ / "src" / "evil.tar").string()), options_);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("evil.tar"), std::string::npos) << s;
  EXPECT_FALSE(fs::exists(root_ / "escaped.txt"));
}

TEST_F(FetcherTest, CachedUrisAreServedFromTheCacheLater) {
  Write(root_ / "src" / "big.bin", "payload");
  auto u = Uri((root_ / "src" / "big.bin").string());
  u.set_cache(true);
  ASSERT_TRUE(FetchUri(u, options_).ok());
  fs::remove(root_ / "src" / "big.bin");
  fs::remove(fs::path(options_.sandbox) / "big.bin");
  ASSERT_TRUE(FetchUri(u, options_).ok());  // the source is gone; the cache has it
  EXPECT_EQ(Read(fs::path(options_.sandbox) / "big.bin"), "payload");
  u.set_output_file("nested/dir/copy.bin");  // a cache entry is one flat file all the same
  ASSERT_TRUE(FetchUri(u, options_).ok());
  EXPECT_EQ(Read(fs::path(options_.sandbox) / "nested" / "dir" / "copy.bin"), "payload");
  u.clear_output_file();
  u.set_cache(false);
  EXPECT_FALSE(FetchUri(u, options_).ok());
}

TEST_F(FetcherTest, DownloadsOverHttpAndNamesTheStatusOnFailure) {
  std::string base = Serve();
  ASSERT_FALSE(base.empty());
  MakeArchive(root_ / "www" / "pkg.tgz", "gnutar+gzip", {{"pkg/VERSION", "1.2.3"}});
  Write(root_ / "www" / "notes.txt", "remote");
  ASSERT_TRUE(FetchUri(Uri(base + "/notes.txt?token=abc"), options_).ok());
  EXPECT_EQ(Read(fs::path(options_.sandbox) / "notes.txt"), "remote");
  absl::Status pkg = FetchUri(Uri(base + "/pkg.tgz"), options_);
  ASSERT_TRUE(pkg.ok()) << pkg;
  EXPECT_EQ(Read(fs::path(options_.sandbox) / "pkg" / "VERSION"), "1.2.3");

  absl::Status missing = FetchUri(Uri(base + "/nope.tar.gz"), options_);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find(base + "/nope.tar.gz"), std::string::npos) << missing;
  EXPECT_NE(missing.message().find("HTTP status 404"), std::string::npos) << missing;
  EXPECT_FALSE(fs::exists(fs::path(options_.sandbox) / "nope.tar.gz"));  // no partial file left
}

TEST_F(FetcherTest, BadUrisAreRefusedWithTheReason) {
  auto relative = FetchUri(Uri("relative/path.txt"), options_);
  EXPECT_NE(relative.message().find("absolute paths"), std::string::npos) << relative;
  auto ftp = FetchUri(Uri("ftp://example.invalid/x"), options_);
  EXPECT_FALSE(ftp.ok());
  auto missing = FetchUri(Uri("/no/such/file.txt"), options_);
  EXPECT_NE(missing.message().find("'/no/such/file.txt'"), std::string::npos) << missing;
  auto up = Uri("/etc/hostname");
  up.set_output_file("../outside");
  EXPECT_NE(FetchUri(up, options_).message().find("'..'"), std::string::npos);
  EXPECT_FALSE(OutputName(Uri("http://host/")).ok());
}

}  // namespace
}  // namespace corral::fetcher
