#include "corral/framework/rest_auth.h"

#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "corral/common/logging.h"

namespace corral::framework {

absl::StatusOr<std::shared_ptr<const auth::Authenticator>> RestAuthenticator(const std::string& http_credentials,
                                                                             const std::string& file) {
  std::vector<auth::Credential> credentials;
  if (!http_credentials.empty()) {
    auto colon = http_credentials.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == http_credentials.size()) {
      return absl::InvalidArgumentError("--http_credentials: expected user:password");
    }
    credentials.push_back({http_credentials.substr(0, colon), http_credentials.substr(colon + 1)});
  }
  if (!file.empty()) {
    auto loaded = auth::LoadCredentials(file);
    if (!loaded.ok())
      return absl::InvalidArgumentError(absl::StrCat("--http_credentials_file: ", loaded.status().message()));
    credentials.insert(credentials.end(), loaded->begin(), loaded->end());
  }
  if (credentials.empty()) return std::shared_ptr<const auth::Authenticator>();
  return std::shared_ptr<const auth::Authenticator>(std::make_shared<auth::Authenticator>(credentials));
}

http::Handler Guarded(http::Handler inner, std::shared_ptr<const auth::Authenticator> authenticator,
                      std::set<std::string> open_paths) {
  if (!authenticator) return inner;
  return [inner = std::move(inner), authenticator = std::move(authenticator), open = std::move(open_paths)](
             const http::Request& req, http::Responder& r) {
    if (open.count(req.path) == 0) {
      auto principal = authenticator->Authenticate(req.header("authorization"));
      if (!principal.ok()) {
        CORRAL_LOG(WARNING) << "Refused " << req.method << " " << req.path << " from "
                            << (req.peer.empty() ? "unknown" : req.peer) << ": " << principal.status().message();
        http::Response res = http::Response::Json(
            absl::StrCat(R"({"message":"Unauthorized: )", principal.status().message(), R"("})"), 401);
        res.headers.emplace_back("WWW-Authenticate", auth::kBasicChallenge);
        return r.Reply(std::move(res));
      }
    }
    inner(req, r);
  };
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " is empty"));
  return secret;
}

}  // namespace corral::framework
