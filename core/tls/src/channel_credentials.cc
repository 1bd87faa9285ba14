#include "corral/tls/channel_credentials.h"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include <grpcpp/security/credentials.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace corral::tls {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  if (!absl::StrContains(text.str(), "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", path, " holds no PEM block"));
  }
  return text.str();
}

// The certificates of a CA directory (*.pem, *.crt), in name order.
absl::StatusOr<std::string> ReadPemDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return absl::InvalidArgumentError(absl::StrCat("CA directory: cannot open ", dir));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (absl::EndsWith(name, ".pem") || absl::EndsWith(name, ".crt")) names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  std::string all;
  for (const auto& name : names) {
    auto pem = ReadPem("CA directory", absl::StrCat(dir, "/", name));
    if (!pem.ok()) return pem.status();
    absl::StrAppend(&all, *pem, "\n");
  }
  if (all.empty()) return absl::InvalidArgumentError(absl::StrCat("CA directory ", dir, " holds no certificates"));
  return all;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const TlsOptions& options) {
  if (!options.enabled) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    auto pem = ReadPem("CA file", options.ca_file);
    if (!pem.ok()) return pem.status();
    ssl.pem_root_certs = std::move(*pem);
  } else if (!options.ca_dir.empty()) {
    auto pem = ReadPemDir(options.ca_dir);
    if (!pem.ok()) return pem.status();
    ssl.pem_root_certs = std::move(*pem);
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError("a client certificate needs both a certificate file and a key file");
  }
  if (!options.cert_file.empty()) {
    auto cert = ReadPem("certificate file", options.cert_file);
    if (!cert.ok()) return cert.status();
    auto key = ReadPem("key file", options.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = std::move(*cert);
    ssl.pem_private_key = std::move(*key);
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace corral::tls
