#include "corral/auth/credentials.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace corral::auth {
namespace {

TEST(CredentialsTest, ReadsMesosJsonAndTextForms) {
  auto json = ParseCredentials(R"({"credentials": [{"principal": "ops", "secret": "s1"},
                                                   {"principal": "web", "secret": "s2"}]})");
  ASSERT_TRUE(json.ok()) << json.status();
  ASSERT_EQ(json->size(), 2u);
  EXPECT_EQ((*json)[1].principal, "web");
  EXPECT_EQ((*json)[1].secret, "s2");

  auto text = ParseCredentials("# operators\nops s1\n\nweb\ts2\n");
  ASSERT_TRUE(text.ok()) << text.status();
  ASSERT_EQ(text->size(), 2u);
  EXPECT_EQ((*text)[0].principal, "ops");
  EXPECT_EQ((*text)[0].secret, "s1");
}

TEST(CredentialsTest, BadFilesAreRefusedNamingWhatIsWrongButNoSecret) {
  EXPECT_EQ(ParseCredentials("").status().message(), "no credentials in it");
  EXPECT_EQ(ParseCredentials("ops\n").status().message(), "line 1 is not 'principal secret'");
  EXPECT_EQ(ParseCredentials("ops s1\nops s2").status().message(), "principal 'ops' appears twice");
  EXPECT_EQ(ParseCredentials(R"({"credentials": [{"principal": "ops"}]})").status().message(),
            "the credential of principal 'ops' has no secret");
  EXPECT_EQ(ParseCredentials("a:b s1").status().message(),
            "principal 'a:b' contains ':', which HTTP Basic authentication cannot carry");
  auto bad_json = ParseCredentials(R"({"credentials": [{"principal": "ops", "secret": "hunter2",)");
  EXPECT_TRUE(absl::StartsWith(bad_json.status().message(), "not valid credentials JSON")) << bad_json.status();
  EXPECT_FALSE(absl::StrContains(bad_json.status().message(), "hunter2"));
  EXPECT_EQ(LoadCredentials("/nonexistent/credentials").status().message(), "cannot read /nonexistent/credentials");
}

TEST(CredentialsTest, OneCredentialInEitherForm) {
  auto json = ParseCredential(R"({"principal": "agent", "secret": "s"})");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->principal, "agent");
  auto text = ParseCredential("agent s\n");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->secret, "s");
  EXPECT_EQ(ParseCredential("a s\nb t").status().message(), "expected one 'principal secret' line");
}

TEST(CredentialsTest, TheEnvironmentGivesAClientItsCredential) {
  unsetenv("CORRAL_PRINCIPAL");
  unsetenv("CORRAL_SECRET");
  unsetenv("CORRAL_CREDENTIAL");
  auto none = CredentialFromEnvironment();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  setenv("CORRAL_PRINCIPAL", "web", 1);
  EXPECT_EQ(CredentialFromEnvironment().status().message(), "CORRAL_PRINCIPAL and CORRAL_SECRET must be set together");
  setenv("CORRAL_SECRET", "s2", 1);
  auto both = CredentialFromEnvironment();
  ASSERT_TRUE(both.ok() && both->has_value());
  EXPECT_EQ((*both)->principal, "web");
  unsetenv("CORRAL_PRINCIPAL");
  unsetenv("CORRAL_SECRET");

  std::string path = (std::filesystem::temp_directory_path() / "corral_auth_test_credential").string();
  std::ofstream(path) << R"({"principal": "batch", "secret": "s3"})";
  setenv("CORRAL_CREDENTIAL", path.c_str(), 1);
  auto file = CredentialFromEnvironment();
  ASSERT_TRUE(file.ok() && file->has_value()) << file.status();
  EXPECT_EQ((*file)->principal, "batch");
  EXPECT_EQ((*file)->secret, "s3");
  unsetenv("CORRAL_CREDENTIAL");
  std::filesystem::remove(path);
}

TEST(AuthenticatorTest, BasicHeadersProveAPrincipalOnlyWithItsSecret) {
  Authenticator auth({{"ops", "s1"}, {"web", "pa:ss"}});
  auto ops = auth.Authenticate(BasicAuthorization({"ops", "s1"}));
  ASSERT_TRUE(ops.ok()) << ops.status();
  EXPECT_EQ(*ops, "ops");
  // A secret may hold ':'; only the first one separates.
  auto web = auth.Authenticate(BasicAuthorization({"web", "pa:ss"}));
  ASSERT_TRUE(web.ok()) << web.status();
  EXPECT_EQ(*web, "web");
  // The scheme is case-insensitive: "basic" as pymesos's requests sends "Basic".
  EXPECT_TRUE(auth.Authenticate("basic b3BzOnMx").ok());

  auto wrong = auth.Authenticate(BasicAuthorization({"ops", "s2"}));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(wrong.status().message(), "wrong principal or secret");
  // An unknown principal reads the same as a wrong secret.
  EXPECT_EQ(auth.Authenticate(BasicAuthorization({"eve", "s1"})).status().message(), "wrong principal or secret");
  EXPECT_EQ(auth.Authenticate(BasicAuthorization({"ops", "s1x"})).status().message(), "wrong principal or secret");
  EXPECT_EQ(auth.Authenticate(BasicAuthorization({"ops", ""})).status().message(), "wrong principal or secret");
  EXPECT_EQ(auth.Authenticate("").status().message(), "no credentials were given");
  EXPECT_EQ(auth.Authenticate("Bearer abc").status().message(), "only Basic authentication is supported");
  EXPECT_EQ(auth.Authenticate("Basic !!!").status().message(), "the Basic credentials are not base64");
  EXPECT_EQ(auth.Authenticate("Basic b3Bz").status().message(), "the Basic credentials are not principal:secret");
}

}  // namespace
}  // namespace corral::auth
