#include "corral/fetcher/fetcher.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace corral::fetcher {
namespace {

namespace fs = std::filesystem;

bool IsHttp(const std::string& v) { return absl::StartsWith(v, "http://") || absl::StartsWith(v, "https://"); }

// The local path a file:// URI or a plain path names, or "" for other URIs.
std::string LocalPath(const std::string& v) {
  if (absl::StartsWith(v, "file://")) return v.substr(7);
  if (absl::StartsWith(v, "/")) return v;
  return "";
}

bool IsArchive(const std::string& name) {
  for (const char* ext : {".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".zip"}) {
    if (absl::EndsWith(name, ext)) return true;
  }
  return false;
}

// A stable key for the cache (FNV-1a, 64 bits): the same URI always maps to
// the same file, across agent restarts.
std::string CacheKey(const std::string& uri) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : uri) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

size_t WriteToFile(char* data, size_t size, size_t n, void* file) {
  return std::fwrite(data, size, n, static_cast<FILE*>(file)) * size;
}

absl::Status Download(const std::string& url, const std::string& dest, const FetchOptions& options) {
  FILE* out = std::fopen(dest.c_str(), "wb");
  if (out == nullptr) return absl::InternalError(absl::StrCat("cannot write ", dest, ": ", std::strerror(errno)));
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, WriteToFile);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, out);
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 30L);
  // A download that moves less than 1 byte/s for stall_timeout is abandoned.
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.stall_timeout));
  CURLcode rc = curl_easy_perform(curl.get());
  long http = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &http);
  bool closed = std::fclose(out) == 0;
  absl::Status s;
  if (rc != CURLE_OK) {
    s = absl::UnavailableError(absl::StrCat(error[0] ? error : curl_easy_strerror(rc)));
  } else if (http >= 400) {
    s = absl::NotFoundError(absl::StrCat("HTTP status ", http));
  } else if (!closed) {
    s = absl::InternalError(absl::StrCat("cannot write ", dest, ": ", std::strerror(errno)));
  }
  if (!s.ok()) ::unlink(dest.c_str());
  return s;
}

absl::Status CopyLocal(const std::string& path, const std::string& dest) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return absl::NotFoundError(absl::StrCat(path, " is not a file on this agent"));
  fs::copy_file(path, dest, fs::copy_options::overwrite_existing, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot copy ", path, ": ", ec.message()));
  return absl::OkStatus();
}

// Gets the URI's bytes into `dest` (no cache).
absl::Status Retrieve(const std::string& value, const std::string& dest, const FetchOptions& options) {
  if (IsHttp(value)) return Download(value, dest, options);
  std::string path = LocalPath(value);
  if (!path.empty()) return CopyLocal(path, dest);
  return absl::InvalidArgumentError("only http://, https://, file:// and absolute paths can be fetched");
}

absl::Status Extract(const std::string& archive_path, const std::string& into) {
  std::unique_ptr<struct archive, int (*)(struct archive*)> in(archive_read_new(), archive_read_free);
  std::unique_ptr<struct archive, int (*)(struct archive*)> out(archive_write_disk_new(), archive_write_free);
  archive_read_support_filter_all(in.get());
  archive_read_support_format_all(in.get());
  // Entries with "..", absolute names (refused below), or paths through
  // symlinks are refused: an archive cannot write outside the sandbox.
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  archive_write_disk_set_standard_lookup(out.get());
  if (archive_read_open_filename(in.get(), archive_path.c_str(), 64 * 1024) != ARCHIVE_OK) {
    return absl::InvalidArgumentError(absl::StrCat("cannot open the archive: ", archive_error_string(in.get())));
  }
  struct archive_entry* entry;
  while (true) {
    int r = archive_read_next_header(in.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read the archive: ", archive_error_string(in.get())));
    }
    std::string name = archive_entry_pathname(entry);
    const char* link = archive_entry_hardlink(entry);
    if (fs::path(name).is_absolute() || (link != nullptr && fs::path(link).is_absolute())) {
      return absl::InvalidArgumentError(absl::StrCat("refusing '", name, "': absolute paths may not be extracted"));
    }
    archive_entry_set_pathname(entry, (fs::path(into) / name).c_str());
    if (link != nullptr) archive_entry_set_hardlink(entry, (fs::path(into) / link).c_str());
    if (archive_write_header(out.get(), entry) < ARCHIVE_WARN) {
      return absl::InvalidArgumentError(absl::StrCat("cannot extract '", name, "': ", archive_error_string(out.get())));
    }
    const void* buf;
    size_t size;
    la_int64_t offset;
    while ((r = archive_read_data_block(in.get(), &buf, &size, &offset)) == ARCHIVE_OK) {
      if (archive_write_data_block(out.get(), buf, size, offset) < ARCHIVE_WARN) {
        return absl::InternalError(absl::StrCat("cannot write '", name, "': ", archive_error_string(out.get())));
      }
    }
    if (r < ARCHIVE_WARN) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read '", name, "': ", archive_error_string(in.get())));
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN) {
      return absl::InternalError(absl::StrCat("cannot finish '", name, "': ", archive_error_string(out.get())));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> OutputName(const v1::CommandInfo::URI& uri) {
  if (uri.has_output_file()) {
    const std::string& f = uri.output_file();
    fs::path p(f);
    if (f.empty() || p.is_absolute()) {
      return absl::InvalidArgumentError("'output_file' must be a relative path in the sandbox");
    }
    for (const auto& part : p) {
      if (part == "..") return absl::InvalidArgumentError("'output_file' must not contain '..'");
    }
    return f;
  }
  std::string v = uri.value();
  size_t cut = v.find_first_of("?#");
  if (cut != std::string::npos) v.resize(cut);
  std::string name = fs::path(v).filename().string();
  if (name.empty() || name == "." || name == "..") {
    return absl::InvalidArgumentError("the URI names no file; set 'output_file'");
  }
  return name;
}

absl::Status FetchUri(const v1::CommandInfo::URI& uri, const FetchOptions& options) {
  auto fail = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("fetching '", uri.value(), "': ", s.message()));
  };
  if (uri.value().empty()) return absl::InvalidArgumentError("'uri.value' is empty");
  auto name = OutputName(uri);
  if (!name.ok()) return fail(name.status());
  fs::path dest = fs::path(options.sandbox) / *name;
  std::error_code ec;
  fs::create_directories(dest.parent_path(), ec);

  if (uri.cache() && !options.cache_dir.empty()) {
    // Keyed by the URI alone (its own file name is kept for whoever looks).
    v1::CommandInfo::URI plain;
    plain.set_value(uri.value());
    auto base = OutputName(plain);
    fs::path cached = fs::path(options.cache_dir) / absl::StrCat(CacheKey(uri.value()), "-", base.ok() ? *base : "uri");
    if (!fs::exists(cached, ec)) {
      // Download beside the entry and rename: a concurrent fetch of the same
      // URI never sees a partial file.
      std::string tmp = absl::StrCat(cached.string(), ".partial-", ::getpid());
      if (auto s = Retrieve(uri.value(), tmp, options); !s.ok()) return fail(s);
      fs::rename(tmp, cached, ec);
      if (ec) return fail(absl::InternalError(absl::StrCat("cannot fill the cache: ", ec.message())));
    }
    if (auto s = CopyLocal(cached.string(), dest.string()); !s.ok()) return fail(s);
  } else if (auto s = Retrieve(uri.value(), dest.string(), options); !s.ok()) {
    return fail(s);
  }

  if (uri.executable()) {
    if (::chmod(dest.c_str(), 0755) != 0) {
      return fail(absl::InternalError(absl::StrCat("cannot make it executable: ", std::strerror(errno))));
    }
  } else if (uri.extract() && IsArchive(*name)) {
    if (auto s = Extract(dest.string(), options.sandbox); !s.ok()) return fail(s);
  }
  return absl::OkStatus();
}

absl::Status FetchAll(const v1::CommandInfo& command, const FetchOptions& options) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  for (const auto& uri : command.uris()) {
    if (auto s = FetchUri(uri, options); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace corral::fetcher
