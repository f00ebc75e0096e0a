// Tests for core/transfer's plain uploads: read straight from the socket into the
// file (splice, or reads for TYPE A and APPE), and a rate limit that arrives midway,
// which moves the rest of the upload onto a throttled bufferevent.
#include "core/session/transfer.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace moat {
namespace {

struct Base {
  void operator()(event_base* b) const { event_base_free(b); }
};

// A connected loopback TCP pair: {client, server}.
std::pair<UniqueFd, UniqueFd> tcp_pair() {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(listener.get(), reinterpret_cast<sockaddr*>(&a), len);
  listen(listener.get(), 1);
  getsockname(listener.get(), reinterpret_cast<sockaddr*>(&a), &len);
  UniqueFd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&a), len), 0);
  UniqueFd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  return {std::move(client), std::move(server)};
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 + i / 4096);
  return s;
}

class Upload : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/moat-transfer-XXXXXX";
    file_.reset(mkstemp(tmpl));
    path_ = tmpl;
    ASSERT_TRUE(file_);
  }
  void TearDown() override { unlink(path_.c_str()); }

  std::string contents() const {
    std::string out;
    UniqueFd fd(open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    char buf[65536];
    ssize_t n;
    while ((n = read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

  // Sends `first`, runs the loop until the server has all of it, calls midway(),
  // sends `second` and ends; returns the final reply code.
  template <class Midway>
  int run(bool ascii, const std::string& first, const std::string& second, Midway midway) {
    std::unique_ptr<event_base, Base> base(event_base_new());
    auto [client, server] = tcp_pair();
    TransferSpec spec;
    spec.kind = TransferSpec::kRecvFile;
    spec.file = std::move(file_);
    spec.ascii = ascii;
    int code = 0;
    Transfer x(base.get(), std::move(spec), 30, [&](bool, int c, const std::string&) { code = c; });
    x.start(server.release());
    EXPECT_EQ(write(client.get(), first.data(), first.size()), static_cast<ssize_t>(first.size()));
    while (x.bytes() < first.size()) event_base_loop(base.get(), EVLOOP_ONCE);
    midway(x);
    EXPECT_EQ(write(client.get(), second.data(), second.size()), static_cast<ssize_t>(second.size()));
    shutdown(client.get(), SHUT_WR);
    while (code == 0) event_base_loop(base.get(), EVLOOP_ONCE);
    return code;
  }

  UniqueFd file_;
  std::string path_;
};

TEST_F(Upload, BinaryArrivesWhole) {
  const std::string a = pattern(3 << 20), b = pattern(1 << 20);
  EXPECT_EQ(run(false, a, b, [](Transfer&) {}), 226);
  EXPECT_TRUE(contents() == a + b);
}

TEST_F(Upload, AsciiConvertsAcrossReads) {
  EXPECT_EQ(run(true, "one\r\ntwo\r", "\nthree\r\n", [](Transfer&) {}), 226);
  EXPECT_EQ(contents(), "one\ntwo\nthree\n");
}

TEST_F(Upload, AppendedFileIsWrittenByReads) {
  ASSERT_EQ(write(file_.get(), "old", 3), 3);
  fcntl(file_.get(), F_SETFL, O_APPEND);  // APPE: splice refuses O_APPEND files
  EXPECT_EQ(run(false, "new", "er", [](Transfer&) {}), 226);
  EXPECT_EQ(contents(), "oldnewer");
}

// A module's host->rate_limit during a direct upload: nothing lost, nothing reordered.
TEST_F(Upload, RateLimitMidwayKeepsEveryByte) {
  const std::string a = pattern(1 << 20), b = pattern(200 * 1024);
  EXPECT_EQ(run(false, a, b, [](Transfer& x) { x.set_rate_limit(10 << 20); }), 226);
  const std::string got = contents();
  EXPECT_EQ(got.size(), a.size() + b.size());
  EXPECT_TRUE(got == a + b);
}

}  // namespace
}  // namespace moat
