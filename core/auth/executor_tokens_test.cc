#include "corral/auth/executor_tokens.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"

namespace corral::auth {
namespace {

const std::string kKey(32, 'k');

TEST(ExecutorTokensTest, ATokenProvesTheContainerItWasIssuedTo) {
  auto tokens = ExecutorTokens::FromKey(kKey);
  ASSERT_TRUE(tokens.ok());
  std::string token = tokens->Issue({"F1", "E1", "C1"});
  ASSERT_FALSE(token.empty());
  auto claims = tokens->Verify("Bearer " + token);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->framework_id, "F1");
  EXPECT_EQ(claims->executor_id, "E1");
  EXPECT_EQ(claims->container_id, "C1");
}

TEST(ExecutorTokensTest, AnythingElseIsRefused) {
  auto tokens = ExecutorTokens::FromKey(kKey);
  auto other = ExecutorTokens::FromKey(std::string(32, 'o'));
  ASSERT_TRUE(tokens.ok() && other.ok());
  std::string token = tokens->Issue({"F1", "E1", "C1"});
  EXPECT_EQ(tokens->Verify("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(tokens->Verify(token).status().message(), "executor calls take a Bearer token");
  EXPECT_EQ(other->Verify("Bearer " + token).status().message(), "the executor token is not one this agent signed");
  EXPECT_EQ(tokens->Verify("Bearer not.a.token").status().message(), "the executor token is not one this agent signed");
  // Claims changed after signing: the signature no longer holds.
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  ASSERT_EQ(parts.size(), 3u);
  std::string forged_claims = absl::WebSafeBase64Escape(R"({"cid":"C2","eid":"E1","fid":"F1"})");
  EXPECT_FALSE(tokens->Verify("Bearer " + parts[0] + "." + forged_claims + "." + parts[2]).ok());
  // An unsigned token ("alg": "none") proves nothing.
  std::string none = absl::WebSafeBase64Escape(R"({"alg":"none","typ":"JWT"})") + "." + forged_claims + ".";
  EXPECT_FALSE(tokens->Verify("Bearer " + none).ok());
  EXPECT_EQ(ExecutorTokens::FromKey("short").status().message(), "the key is 5 bytes; it must be at least 32");
}

}  // namespace
}  // namespace corral::auth
