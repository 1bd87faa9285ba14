#include "corral/auth/credentials.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "corral/v1/internal.pb.h"
#include "google/protobuf/util/json_util.h"

namespace corral::auth {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

absl::Status Check(const Credential& c, size_t index) {
  if (c.principal.empty())
    return absl::InvalidArgumentError(absl::StrCat("credential ", index + 1, " has no principal"));
  if (c.secret.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the credential of principal '", c.principal, "' has no secret"));
  }
  if (absl::StrContains(c.principal, ':')) {
    return absl::InvalidArgumentError(
        absl::StrCat("principal '", c.principal, "' contains ':', which HTTP Basic authentication cannot carry"));
  }
  return absl::OkStatus();
}

absl::Status JsonError(const absl::Status& st) {
  std::string why(st.message());
  why.erase(std::remove(why.begin(), why.end(), '\n'), why.end());
  return absl::InvalidArgumentError(absl::StrCat("not valid credentials JSON: ", why));
}

bool LooksLikeJson(absl::string_view text) { return absl::StartsWith(absl::StripLeadingAsciiWhitespace(text), "{"); }

// "principal secret" lines; blank lines and '#' comments are skipped.
absl::StatusOr<std::vector<Credential>> ParseLines(absl::string_view text) {
  std::vector<Credential> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, " is not 'principal secret'"));
    }
    out.push_back({std::string(fields[0]), std::string(fields[1])});
  }
  return out;
}

}  // namespace

std::string Sha256(absl::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof(out));
}

bool DigestEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string NewSecret() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // Never a guessable secret: a machine whose generator fails cannot run this.
    std::abort();
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

absl::StatusOr<std::vector<Credential>> ParseCredentials(absl::string_view text) {
  std::vector<Credential> out;
  if (LooksLikeJson(text)) {
    v1::internal::Credentials parsed;
    if (auto st = google::protobuf::util::JsonStringToMessage(std::string(text), &parsed); !st.ok()) {
      return JsonError(absl::Status(absl::StatusCode::kInvalidArgument, std::string(st.message())));
    }
    for (const v1::Credential& c : parsed.credentials()) out.push_back({c.principal(), c.secret()});
  } else {
    auto lines = ParseLines(text);
    if (!lines.ok()) return lines.status();
    out = std::move(*lines);
  }
  if (out.empty()) return absl::InvalidArgumentError("no credentials in it");
  std::map<std::string, bool> seen;
  for (size_t i = 0; i < out.size(); ++i) {
    if (absl::Status st = Check(out[i], i); !st.ok()) return st;
    if (seen[out[i].principal]) {
      return absl::InvalidArgumentError(absl::StrCat("principal '", out[i].principal, "' appears twice"));
    }
    seen[out[i].principal] = true;
  }
  return out;
}

absl::StatusOr<std::vector<Credential>> LoadCredentials(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto parsed = ParseCredentials(*text);
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", parsed.status().message()));
  return parsed;
}

absl::StatusOr<Credential> ParseCredential(absl::string_view text) {
  Credential out;
  if (LooksLikeJson(text)) {
    v1::Credential parsed;
    if (auto st = google::protobuf::util::JsonStringToMessage(std::string(text), &parsed); !st.ok()) {
      return JsonError(absl::Status(absl::StatusCode::kInvalidArgument, std::string(st.message())));
    }
    out = {parsed.principal(), parsed.secret()};
  } else {
    auto lines = ParseLines(text);
    if (!lines.ok()) return lines.status();
    if (lines->size() != 1) return absl::InvalidArgumentError("expected one 'principal secret' line");
    out = (*lines)[0];
  }
  if (absl::Status st = Check(out, 0); !st.ok()) return st;
  return out;
}

absl::StatusOr<Credential> LoadCredential(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto parsed = ParseCredential(*text);
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", parsed.status().message()));
  return parsed;
}

absl::StatusOr<std::optional<Credential>> CredentialFromEnvironment() {
  const char* principal = std::getenv("CORRAL_PRINCIPAL");
  const char* secret = std::getenv("CORRAL_SECRET");
  const char* file = std::getenv("CORRAL_CREDENTIAL");
  if (principal != nullptr || secret != nullptr) {
    if (principal == nullptr || secret == nullptr) {
      return absl::InvalidArgumentError("CORRAL_PRINCIPAL and CORRAL_SECRET must be set together");
    }
    Credential c{principal, secret};
    if (absl::Status st = Check(c, 0); !st.ok()) return absl::InvalidArgumentError(st.message());
    return std::optional<Credential>(std::move(c));
  }
  if (file != nullptr && *file != '\0') {
    auto c = LoadCredential(file);
    if (!c.ok()) return absl::InvalidArgumentError(absl::StrCat("CORRAL_CREDENTIAL: ", c.status().message()));
    return std::optional<Credential>(std::move(*c));
  }
  return std::optional<Credential>();
}

std::string BasicAuthorization(const Credential& credential) {
  return absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(credential.principal, ":", credential.secret)));
}

Authenticator::Authenticator(const std::vector<Credential>& credentials) {
  for (const Credential& c : credentials) digests_[c.principal] = Sha256(c.secret);
}

absl::StatusOr<std::string> Authenticator::Authenticate(absl::string_view authorization) const {
  if (authorization.empty()) return absl::UnauthenticatedError("no credentials were given");
  absl::string_view value = absl::StripAsciiWhitespace(authorization);
  // The scheme is case-insensitive (RFC 7617).
  if (value.size() < 6 || !absl::EqualsIgnoreCase(value.substr(0, 6), "basic ")) {
    return absl::UnauthenticatedError("only Basic authentication is supported");
  }
  std::string decoded;
  if (!absl::Base64Unescape(absl::StripLeadingAsciiWhitespace(value.substr(6)), &decoded)) {
    return absl::UnauthenticatedError("the Basic credentials are not base64");
  }
  auto colon = decoded.find(':');
  if (colon == std::string::npos) return absl::UnauthenticatedError("the Basic credentials are not principal:secret");
  std::string principal = decoded.substr(0, colon);
  // An unknown principal costs the same digest and comparison as a known one.
  static const std::string kNobody = Sha256("");
  auto it = digests_.find(principal);
  const std::string& want = it == digests_.end() ? kNobody : it->second;
  std::string got = Sha256(absl::string_view(decoded).substr(colon + 1));
  bool equal = DigestEquals(want, got);
  if (it == digests_.end() || !equal) return absl::UnauthenticatedError("wrong principal or secret");
  return principal;
}

}  // namespace corral::auth
