// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for privsep/master_link: what the master accepts from a helper (only a
// well-formed LoginFailed without descriptors), end of link, and the helper's sender.
#include "privsep/master_link.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace moat {
namespace {

TEST(MasterLink, PairHasANonBlockingMasterEnd) {
  auto pair = master_link_pair();
  ASSERT_TRUE(pair.ok()) << pair.error();
  EXPECT_TRUE(fcntl(pair->master.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_FALSE(fcntl(pair->helper.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(fcntl(pair->master.get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_FALSE(master_link_readable(pair->master.get()));
}

TEST(MasterLink, HelperReportsAFailedLogin) {
  auto pair = master_link_pair();
  ASSERT_TRUE(pair.ok());
  master_link_login_failed("nobody-yet");  // no link adopted: nothing sent, no crash
  EXPECT_FALSE(master_link_readable(pair->master.get()));
  master_link_adopt(std::move(pair->helper));
  EXPECT_GE(master_link_fd(), 0);
  EXPECT_TRUE(fcntl(master_link_fd(), F_GETFL) & O_NONBLOCK);
  master_link_login_failed("mallory");
  master_link_login_failed(std::string(kMaxUserLen + 50, 'u'));  // cut, not dropped
  ASSERT_TRUE(master_link_readable(pair->master.get()));
  auto first = master_link_receive(pair->master.get());
  ASSERT_TRUE(first.ok()) << first.error();
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->user, "mallory");
  auto second = master_link_receive(pair->master.get());
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((*second)->user, std::string(kMaxUserLen, 'u'));
  master_link_adopt(UniqueFd());  // the helper's end closes: the master sees the end
  EXPECT_EQ(master_link_fd(), -1);
  ASSERT_TRUE(master_link_readable(pair->master.get()));
  auto end = master_link_receive(pair->master.get());
  ASSERT_TRUE(end.ok()) << end.error();
  EXPECT_FALSE(end->has_value());
}

TEST(MasterLink, MasterRefusesAnythingElse) {
  auto pair = master_link_pair();
  ASSERT_TRUE(pair.ok());
  const int h = pair->helper.get();
  const int m = pair->master.get();
  ASSERT_TRUE(ipc_send(h, MsgType::kLogin, encode(LoginRequest{"a", "b"})).ok());
  auto wrong = master_link_receive(m);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error(), "unexpected message type 1");
  const int fds[] = {0};
  ASSERT_TRUE(ipc_send(h, MsgType::kLoginFailed, encode(LoginFailed{"a"}), fds).ok());
  auto with_fd = master_link_receive(m);
  ASSERT_FALSE(with_fd.ok());
  EXPECT_EQ(with_fd.error(), "message with a descriptor");
  std::vector<uint8_t> junk{1, 2, 3};
  ASSERT_TRUE(ipc_send(h, MsgType::kLoginFailed, junk).ok());
  EXPECT_FALSE(master_link_receive(m).ok());
  const uint8_t garbage[] = {6, 0};
  ASSERT_EQ(write(h, garbage, sizeof garbage), 2);
  auto short_header = master_link_receive(m);
  ASSERT_FALSE(short_header.ok());
  EXPECT_NE(short_header.error().find("ipc:"), std::string::npos);
}

}  // namespace
}  // namespace moat
