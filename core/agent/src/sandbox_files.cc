#include "corral/agent/sandbox_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace corral::sandbox_files {
namespace {

namespace fs = std::filesystem;

bool Within(const std::string& path, const std::string& root) {
  if (root.empty()) return false;
  if (path == root) return true;
  std::string prefix = root.back() == '/' ? root : root + "/";
  return path.compare(0, prefix.size(), prefix) == 0;
}

std::string Lexical(const std::string& path) {
  std::string lexical = fs::path(path).lexically_normal().string();
  if (lexical.size() > 1 && lexical.back() == '/') lexical.pop_back();
  return lexical;
}

std::string UserName(uid_t uid) {
  struct passwd pw, *out = nullptr;
  char buf[1024];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &out) == 0 && out != nullptr) return out->pw_name;
  return std::to_string(uid);
}

std::string GroupName(gid_t gid) {
  struct group gr, *out = nullptr;
  char buf[1024];
  if (getgrgid_r(gid, &gr, buf, sizeof buf, &out) == 0 && out != nullptr) return out->gr_name;
  return std::to_string(gid);
}

v1::FileInfo Info(const struct stat& st, const std::string& shown) {
  v1::FileInfo info;
  info.set_path(shown);
  info.set_nlink(static_cast<int32_t>(st.st_nlink));
  info.set_size(static_cast<uint64_t>(st.st_size));
  info.mutable_mtime()->set_nanoseconds(static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec);
  info.set_mode(st.st_mode);
  info.set_uid(UserName(st.st_uid));
  info.set_gid(GroupName(st.st_gid));
  return info;
}

// Why opening `name` under `dir` failed, as the files API answers it.
absl::Status OpenError(int dir, const std::string& name, int err, const std::string& path) {
  struct stat st;
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    return absl::PermissionDeniedError(
        absl::StrCat("'", path, "' passes through a symlink, which the files API does not follow"));
  }
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(absl::StrCat("'", path, "' does not exist"));
  return absl::PermissionDeniedError(absl::StrCat("'", path, "' cannot be opened: ", std::strerror(err)));
}

}  // namespace

OpenFile::OpenFile(OpenFile&& other) noexcept
    : fd_(other.Release()), directory_(other.directory_), name_(std::move(other.name_)) {}

OpenFile& OpenFile::operator=(OpenFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.Release();
    directory_ = other.directory_;
    name_ = std::move(other.name_);
  }
  return *this;
}

OpenFile::~OpenFile() {
  if (fd_ >= 0) ::close(fd_);
}

int OpenFile::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

int Innermost(const std::vector<std::string>& sandboxes, const std::string& path) {
  if (path.empty() || path[0] != '/') return -1;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return -1;
  }
  std::string lexical = Lexical(path);
  int root = -1;
  for (size_t i = 0; i < sandboxes.size(); ++i) {
    if (Within(lexical, sandboxes[i]) && (root < 0 || sandboxes[i].size() > sandboxes[root].size())) {
      root = static_cast<int>(i);
    }
  }
  return root;
}

absl::StatusOr<OpenFile> Open(const std::vector<std::string>& sandboxes, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("Expecting 'path' to be present");
  if (path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("'path' must be absolute (a sandbox directory from /state), got '", path, "'"));
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return absl::PermissionDeniedError(absl::StrCat("'", path, "' must not contain '..'"));
  }
  std::string lexical = Lexical(path);
  int innermost = Innermost(sandboxes, path);
  if (innermost < 0) {
    return absl::PermissionDeniedError(absl::StrCat("'", path, "' is not inside a sandbox of this agent"));
  }
  const std::string* root = &sandboxes[innermost];
  // The sandbox's own path is the agent's (its work dir may be a symlink);
  // everything below it is the task's and is walked without following links.
  int dir = ::open(root->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return absl::NotFoundError(absl::StrCat("'", path, "' does not exist"));
  OpenFile current(dir, true, fs::path(*root).filename().string());
  std::vector<std::string> parts =
      absl::StrSplit(absl::string_view(lexical).substr(std::min(root->size(), lexical.size())), '/', absl::SkipEmpty());
  for (size_t i = 0; i < parts.size(); ++i) {
    const bool last = i + 1 == parts.size();
    int flags = last ? O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int next = ::openat(current.fd(), parts[i].c_str(), flags);
    if (next < 0) return OpenError(current.fd(), parts[i], errno, path);
    current = OpenFile(next, true, parts[i]);
  }
  struct stat st;
  if (::fstat(current.fd(), &st) != 0) return absl::NotFoundError(absl::StrCat("'", path, "' does not exist"));
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    return absl::PermissionDeniedError(absl::StrCat("'", path, "' is neither a regular file nor a directory"));
  }
  return OpenFile(current.Release(), S_ISDIR(st.st_mode), current.name());
}

absl::StatusOr<std::vector<v1::FileInfo>> List(const OpenFile& file, const std::string& shown) {
  std::vector<v1::FileInfo> out;
  if (!file.directory()) {
    struct stat st;
    if (::fstat(file.fd(), &st) != 0) return absl::NotFoundError(absl::StrCat("'", shown, "' does not exist"));
    out.push_back(Info(st, shown));
    return out;
  }
  int fd = ::fcntl(file.fd(), F_DUPFD_CLOEXEC, 0);
  DIR* dir = fd < 0 ? nullptr : ::fdopendir(fd);
  if (dir == nullptr) {
    if (fd >= 0) ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot list '", shown, "': ", std::strerror(errno)));
  }
  ::rewinddir(dir);  // the duplicate shares the original's position
  std::string base = shown;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
    out.push_back(Info(st, base + "/" + name));
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end(), [](const v1::FileInfo& a, const v1::FileInfo& b) { return a.path() < b.path(); });
  return out;
}

absl::StatusOr<std::pair<std::string, uint64_t>> Read(const OpenFile& file, uint64_t offset, uint64_t length) {
  if (file.directory()) return absl::InvalidArgumentError("Cannot read a directory");
  struct stat st;
  if (::fstat(file.fd(), &st) != 0) return absl::NotFoundError("the file cannot be read");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  std::string data;
  if (offset < size) {
    uint64_t n = std::min<uint64_t>({length == 0 ? kMaxReadLength : length, kMaxReadLength, size - offset});
    data.resize(n);
    ssize_t got = ::pread(file.fd(), data.data(), n, static_cast<off_t>(offset));
    data.resize(got > 0 ? static_cast<size_t>(got) : 0);
  }
  return std::make_pair(std::move(data), size);
}

std::string ModeString(uint32_t mode) {
  std::string s = S_ISDIR(mode) ? "d" : S_ISLNK(mode) ? "l" : "-";
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) s += (mode & (1u << (8 - i))) ? rwx[i] : '-';
  return s;
}

}  // namespace corral::sandbox_files
