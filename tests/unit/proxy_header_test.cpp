// SPDX-License-Identifier: GPL-2.0-or-later
// The PROXY header parser: the spec's examples, every way a header can be incomplete,
// and the malformed headers it must refuse.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

#include "core/protocol/ftpcmd.hpp"
#include "core/master/proxy_header.hpp"
#include "core/common/util.hpp"

namespace moat {
namespace {

std::string v2(unsigned char cmd, unsigned char fam, const std::string& body) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(0x20 | cmd);
  h += static_cast<char>(fam);
  h += static_cast<char>(body.size() >> 8);
  h += static_cast<char>(body.size() & 0xff);
  return h + body;
}

std::string v2_tcp4_body() {
  return std::string("\xc0\x00\x02\x01\x0a\x00\x00\x01\x30\x39\x00\x15", 12);  // .1:12345 -> :21
}

ProxyHeader parse_ok(const std::string& s) {
  auto r = proxy_header_parse(s);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error());
  EXPECT_TRUE(r.ok() && r->has_value());
  return r.ok() && r->has_value() ? **r : ProxyHeader{};
}

bool incomplete(const std::string& s) {
  auto r = proxy_header_parse(s);
  return r.ok() && !r->has_value();
}

bool refused(const std::string& s) { return !proxy_header_parse(s).ok(); }

TEST(ProxyHeader, V1Tcp4) {
  const std::string line = "PROXY TCP4 192.0.2.1 10.0.0.1 12345 21\r\n";
  ProxyHeader h = parse_ok(line + "USER x\r\n");
  EXPECT_EQ(h.length, line.size());
  EXPECT_FALSE(h.local);
  EXPECT_EQ(sockaddr_host_text(h.source), "192.0.2.1");
  EXPECT_EQ(sockaddr_port(h.source), 12345u);
  EXPECT_EQ(sockaddr_host_text(h.destination), "10.0.0.1");
  EXPECT_EQ(sockaddr_port(h.destination), 21u);
}

TEST(ProxyHeader, V1Tcp6) {
  ProxyHeader h = parse_ok("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n");
  EXPECT_EQ(h.source.ss_family, AF_INET6);
  EXPECT_EQ(sockaddr_host_text(h.source), "2001:db8::1");
  EXPECT_EQ(sockaddr_port(h.source), 65535u);
}

TEST(ProxyHeader, V1Unknown) {
  EXPECT_TRUE(parse_ok("PROXY UNKNOWN\r\n").local);
  const std::string line = "PROXY UNKNOWN ffff:f::1 ::2 1 2\r\n";
  ProxyHeader h = parse_ok(line + "USER x\r\n");
  EXPECT_TRUE(h.local);
  EXPECT_EQ(h.length, line.size());
}

TEST(ProxyHeader, V1IncompleteWaits) {
  const std::string line = "PROXY TCP4 192.0.2.1 10.0.0.1 12345 21\r\n";
  for (size_t n = 0; n < line.size(); ++n) EXPECT_TRUE(incomplete(line.substr(0, n))) << n;
}

TEST(ProxyHeader, V1Malformed) {
  for (const char* bad : {
           "USER anonymous\r\n", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
           "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
           "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "PROXY TCP4 ::1 ::1 1 2\r\n",
           "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY \r\n", "PROXY UNKNOWNX\r\n"})
    EXPECT_TRUE(refused(bad)) << bad;
}

TEST(ProxyHeader, V1TooLongWithoutCrlf) {
  EXPECT_TRUE(incomplete("PROXY UNKNOWN " + std::string(92, 'a')));
  EXPECT_TRUE(refused("PROXY UNKNOWN " + std::string(93, 'a')));
  EXPECT_TRUE(refused("PROXY UNKNOWN " + std::string(200, 'a') + "\r\n"));
}

TEST(ProxyHeader, V2Tcp4) {
  const std::string h2 = v2(1, 0x11, v2_tcp4_body());
  ProxyHeader h = parse_ok(h2 + "rest");
  EXPECT_EQ(h.length, 28u);
  EXPECT_EQ(sockaddr_host_text(h.source), "192.0.2.1");
  EXPECT_EQ(sockaddr_port(h.source), 12345u);
  EXPECT_EQ(sockaddr_host_text(h.destination), "10.0.0.1");
  EXPECT_EQ(sockaddr_port(h.destination), 21u);
  for (size_t n = 0; n < h2.size(); ++n) EXPECT_TRUE(incomplete(h2.substr(0, n))) << n;
}

TEST(ProxyHeader, V2Tcp6WithTlvs) {
  std::string body(36, '\0');
  body[15] = 1;  // ::1
  body[31] = 2;  // ::2
  body[32] = 0x04;
  body[33] = 0xd2;                                // port 1234
  body += std::string("\x04\x00\x02\xab\xcd", 5);  // PP2_TYPE_NOOP, 2 bytes
  body += std::string("\x20\x00\x00", 3);          // an empty SSL TLV
  ProxyHeader h = parse_ok(v2(1, 0x21, body));
  EXPECT_EQ(sockaddr_host_text(h.source), "::1");
  EXPECT_EQ(sockaddr_port(h.source), 1234u);
  EXPECT_EQ(sockaddr_host_text(h.destination), "::2");
  EXPECT_EQ(h.length, 16 + body.size());
}

TEST(ProxyHeader, V2LocalAndUnspec) {
  EXPECT_TRUE(parse_ok(v2(0, 0x00, "")).local);
  EXPECT_TRUE(parse_ok(v2(0, 0x11, v2_tcp4_body())).local);
  EXPECT_TRUE(parse_ok(v2(1, 0x00, "")).local);
}

TEST(ProxyHeader, V2Malformed) {
  std::string wrong_version = v2(1, 0x11, v2_tcp4_body());
  wrong_version[12] = 0x11;
  EXPECT_TRUE(refused(wrong_version));
  EXPECT_TRUE(refused(v2(2, 0x11, v2_tcp4_body())));             // unknown command
  EXPECT_TRUE(refused(v2(1, 0x12, v2_tcp4_body())));             // UDP
  EXPECT_TRUE(refused(v2(1, 0x31, std::string(216, 'a'))));    // AF_UNIX
  EXPECT_TRUE(refused(v2(1, 0x11, v2_tcp4_body().substr(0, 11))));  // short block
  EXPECT_TRUE(refused(v2(1, 0x21, v2_tcp4_body())));             // TCP6, 12 bytes
  EXPECT_TRUE(refused(v2(1, 0x11, v2_tcp4_body() + "\x04\x00")));      // cut TLV head
  EXPECT_TRUE(refused(v2(1, 0x11, v2_tcp4_body() + std::string("\x04\x00\x05xy", 5))));
  EXPECT_TRUE(refused(std::string("\r\n\r\n\0\r\nQUIX\n", 12)));  // bad signature
  EXPECT_TRUE(refused(v2(1, 0x11, v2_tcp4_body() + std::string(kProxyHeaderMax, '\0'))));
}

TEST(ProxyHeader, V2TooLongRefusedBeforeItArrives) {
  std::string h = v2(1, 0x11, std::string(kProxyHeaderMax, '\0')).substr(0, 16);
  EXPECT_TRUE(refused(h));
}

}  // namespace
}  // namespace moat
