#include "corral/agent/sandbox_files.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

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

absl::StatusOr<v1::FileInfo> Stat(const std::string& real, const std::string& shown) {
  struct stat st;
  if (::lstat(real.c_str(), &st) != 0) return absl::NotFoundError(absl::StrCat("'", shown, "' does not exist"));
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

}  // namespace

absl::StatusOr<std::string> Resolve(const std::vector<std::string>& sandboxes, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("Expecting 'path' to be present");
  if (path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("'path' must be absolute (a sandbox directory from /state), got '", path, "'"));
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return absl::PermissionDeniedError(absl::StrCat("'", path, "' must not contain '..'"));
  }
  std::string lexical = fs::path(path).lexically_normal().string();
  if (lexical.size() > 1 && lexical.back() == '/') lexical.pop_back();
  std::vector<const std::string*> claimed;  // the sandboxes the path names
  for (const std::string& root : sandboxes) {
    if (Within(lexical, root)) claimed.push_back(&root);
  }
  if (claimed.empty()) {
    return absl::PermissionDeniedError(absl::StrCat("'", path, "' is not inside a sandbox of this agent"));
  }
  std::error_code ec;
  std::string real = fs::canonical(lexical, ec).string();
  if (ec) return absl::NotFoundError(absl::StrCat("'", path, "' does not exist"));
  // Symlinks inside a sandbox may point anywhere: where they lead counts. A
  // canonical path has no symlinks, so a sandbox path it starts with has
  // none either; a sandbox reached through a symlinked work dir is compared
  // by its own canonical path.
  bool inside = std::any_of(sandboxes.begin(), sandboxes.end(), [&](const std::string& r) { return Within(real, r); });
  for (size_t i = 0; !inside && i < claimed.size(); ++i) {
    std::string root = fs::canonical(*claimed[i], ec).string();
    inside = !ec && Within(real, root);
  }
  if (!inside) return absl::PermissionDeniedError(absl::StrCat("'", path, "' leads outside its sandbox"));
  return real;
}

absl::StatusOr<std::vector<v1::FileInfo>> List(const std::string& real, const std::string& shown) {
  std::error_code ec;
  std::vector<v1::FileInfo> out;
  if (!fs::is_directory(real, ec)) {
    auto one = Stat(real, shown);
    if (!one.ok()) return one.status();
    out.push_back(*one);
    return out;
  }
  std::string base = shown;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  for (fs::directory_iterator it(real, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    auto info = Stat(it->path().string(), base + "/" + name);
    if (info.ok()) out.push_back(*info);
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list '", shown, "': ", ec.message()));
  std::sort(out.begin(), out.end(), [](const v1::FileInfo& a, const v1::FileInfo& b) { return a.path() < b.path(); });
  return out;
}

absl::StatusOr<std::pair<std::string, uint64_t>> Read(const std::string& real, uint64_t offset, uint64_t length) {
  std::error_code ec;
  if (fs::is_directory(real, ec)) return absl::InvalidArgumentError("Cannot read a directory");
  std::ifstream in(real, std::ios::binary);
  if (!in) return absl::NotFoundError("the file cannot be opened");
  in.seekg(0, std::ios::end);
  uint64_t size = static_cast<uint64_t>(in.tellg());
  std::string data;
  if (offset < size) {
    uint64_t n = std::min<uint64_t>({length == 0 ? kMaxReadLength : length, kMaxReadLength, size - offset});
    data.resize(n);
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(data.data(), static_cast<std::streamsize>(n));
    data.resize(static_cast<size_t>(in.gcount()));
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
