// SPDX-License-Identifier: GPL-2.0-or-later
// The seccomp start-up self-test: it passes with the real policies on this system, and a
// policy that misses a call the workers make is refused with the call's name.
#include "core/master/seccomp_selftest.hpp"

#include <gtest/gtest.h>
#include <seccomp.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>

namespace moat {
namespace {

// The self-test works in $TMPDIR: give it a private one, so that servers started by
// other tests at the same time cannot make its clean-up look incomplete.
class PrivateTmpdir : public ::testing::Environment {
 public:
  void SetUp() override {
    char tmpl[] = "/tmp/moat-selftest-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    setenv("TMPDIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    unsetenv("TMPDIR");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};
auto* const g_tmpdir =
    static_cast<PrivateTmpdir*>(::testing::AddGlobalTestEnvironment(new PrivateTmpdir));

bool no_selftest_leftovers() {
  return std::filesystem::is_empty(g_tmpdir->dir());
}

TEST(SeccompSelfTest, WorkerPoliciesPassOnThisSystem) {
  auto policies = seccomp_worker_policies();
  ASSERT_EQ(policies.size(), 4u);
  auto st = seccomp_self_test(policies);
  EXPECT_TRUE(st.ok()) << st.error();
  EXPECT_TRUE(no_selftest_leftovers());
}

struct Missing {
  const char* name;
  SeccompPolicy policy;
  const char* policy_text;
};

const Missing kMissing[] = {
    {"getdents64", {SeccompProfile::kPostauth, false}, "post-auth (write_enable=NO)"},
    {"sendfile", {SeccompProfile::kPostauth, true}, "post-auth (write_enable=YES)"},
    {"utimensat", {SeccompProfile::kPostauth, true}, "post-auth (write_enable=YES)"},
    {"splice", {SeccompProfile::kPostauth, true}, "post-auth (write_enable=YES)"},
    {"epoll_ctl", {SeccompProfile::kPostauth, false}, "post-auth (write_enable=NO)"},
    {"accept4", {SeccompProfile::kPostauth, false}, "post-auth (write_enable=NO)"},
    {"socketpair", {SeccompProfile::kPreauth, false}, "pre-auth"},
    {"recvmsg", {SeccompProfile::kPreauth, false}, "pre-auth"},
    {"recvmsg", {SeccompProfile::kKeyHolder}, "key holder"},
    {"sendmsg", {SeccompProfile::kKeyHolder}, "key holder"},
};

void PrintTo(const Missing& m, std::ostream* os) { *os << m.name; }

// Calls that exist on x86_64 and aarch64 alike and that some worker path makes.
class SeccompSelfTestMissing : public ::testing::TestWithParam<Missing> {};

TEST_P(SeccompSelfTestMissing, NamesTheCall) {
  Missing m = GetParam();
  const int nr = seccomp_syscall_resolve_name(m.name);
  ASSERT_GE(nr, 0) << m.name;
  m.policy.omit_syscall = nr;
  auto st = seccomp_self_test(std::span(&m.policy, 1));
  ASSERT_FALSE(st.ok()) << "a policy without " << m.name << " passed the self-test";
  const std::string want = std::string("seccomp self-test: the ") + m.policy_text +
                           " policy does not allow system call " + std::to_string(nr) + " (" +
                           m.name + "); set seccomp_sandbox=NO to run without it, and report this";
  EXPECT_EQ(st.error(), want);
  EXPECT_TRUE(no_selftest_leftovers());
}

INSTANTIATE_TEST_SUITE_P(SeccompSelfTest, SeccompSelfTestMissing, ::testing::ValuesIn(kMissing),
                         [](const auto& p) {
                           const bool holder = p.param.policy.profile == SeccompProfile::kKeyHolder;
                           return (holder ? "KeyHolder_" : "") + std::string(p.param.name);
                         });

TEST(SeccompSelfTest, StopsAtTheFirstFailingPolicy) {
  auto policies = seccomp_worker_policies();
  policies[1].omit_syscall = seccomp_syscall_resolve_name("getdents64");
  policies[2].omit_syscall = seccomp_syscall_resolve_name("mkdir");
  auto st = seccomp_self_test(policies);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("write_enable=NO"), std::string::npos) << st.error();
  EXPECT_NE(st.error().find("(getdents64)"), std::string::npos) << st.error();
}

}  // namespace
}  // namespace moat
