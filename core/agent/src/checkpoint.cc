#include "corral/agent/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace corral {

namespace {

constexpr char kMagic[4] = {'C', 'R', 'L', '1'};
constexpr size_t kHeader = 12;  // magic, payload length, CRC-32 of the payload

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

uint32_t Crc(const std::string& data, size_t offset) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(data.data() + offset), static_cast<uInt>(data.size() - offset)));
}

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::InternalError(absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

std::string EncodeCheckpoint(const google::protobuf::MessageLite& message) {
  std::string data(kMagic, sizeof(kMagic));
  std::string payload = message.SerializeAsString();
  PutU32(&data, static_cast<uint32_t>(payload.size()));
  PutU32(&data, 0);
  data += payload;
  uint32_t crc = Crc(data, kHeader);
  for (int i = 0; i < 4; ++i) data[8 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  return data;
}

absl::Status WriteWholeFile(const std::string& path, const std::string& data, bool datasync) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("create", path);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status s = Errno("write", path);
      ::close(fd);
      ::unlink(path.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (datasync && ::fdatasync(fd) != 0) {
    absl::Status s = Errno("sync", path);
    ::close(fd);
    ::unlink(path.c_str());
    return s;
  }
  ::close(fd);
  return absl::OkStatus();
}

absl::Status WriteCheckpointFile(const std::string& path, const google::protobuf::MessageLite& message, bool sync) {
  std::string tmp = path + ".tmp";
  if (absl::Status s = WriteWholeFile(tmp, EncodeCheckpoint(message), sync); !s.ok()) return s;
  // Replacing a file needs no directory sync: after a crash the name holds
  // the old contents or the new. A new name does need one to exist at all.
  bool existed = sync && ::access(path.c_str(), F_OK) == 0;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status s = Errno("rename over", path);
    ::unlink(tmp.c_str());
    return s;
  }
  if (sync && !existed) {
    // The new name is durable once the directory is.
    std::string dir = path.substr(0, path.rfind('/'));
    int dfd = ::open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  return absl::OkStatus();
}

absl::Status ReadCheckpointFile(const std::string& path, google::protobuf::MessageLite* message) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    return absl::DataLossError(absl::StrCat("cannot read checkpoint ", path, ": ", std::strerror(errno)));
  }
  std::string data;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return absl::DataLossError(absl::StrCat("cannot read checkpoint ", path, ": ", std::strerror(e)));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto corrupt = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, " is corrupt: ", why));
  };
  if (data.size() < kHeader) return corrupt(absl::StrCat("only ", data.size(), " bytes"));
  if (std::memcmp(data.data(), kMagic, sizeof(kMagic)) != 0) return corrupt("not a Corral checkpoint file");
  uint32_t length = GetU32(data.data() + 4);
  if (data.size() - kHeader != length) {
    return corrupt(absl::StrCat("truncated or extended (", data.size() - kHeader, " of ", length, " bytes)"));
  }
  if (Crc(data, kHeader) != GetU32(data.data() + 8)) return corrupt("checksum mismatch");
  if (!message->ParseFromArray(data.data() + kHeader, static_cast<int>(length))) {
    return corrupt("its contents do not decode");
  }
  return absl::OkStatus();
}

std::string CheckpointName(absl::string_view id) {
  std::string out;
  for (size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                (c == '.' && i > 0);
    if (keep)
      out.push_back(c);
    else
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
  }
  return out;
}

}  // namespace corral
