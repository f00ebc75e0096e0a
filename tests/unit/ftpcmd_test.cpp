// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for control-connection parsing: commands, Telnet, UTF-8 and the address
// arguments of PORT, EPRT and EPSV.
#include "core/protocol/ftpcmd.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

namespace moat {
namespace {

sockaddr_storage v4(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
  return ss;
}

sockaddr_storage v6(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
  return ss;
}

TEST(FtpcmdTelnet, PlainTextUnchanged) {
  EXPECT_EQ(telnet_strip("RETR file.txt"), "RETR file.txt");
  EXPECT_EQ(telnet_strip(""), "");
}

TEST(FtpcmdTelnet, DropsIpDmBeforeAbor) {
  EXPECT_EQ(telnet_strip("\xff\xf4\xff\xf2" "ABOR"), "ABOR");
}

TEST(FtpcmdTelnet, IacIacIsOneFF) {
  EXPECT_EQ(telnet_strip("RETR a\xff\xff" "b"), "RETR a\xff" "b");
  EXPECT_EQ(telnet_strip("\xff\xff\xff\xff"), "\xff\xff");
}

TEST(FtpcmdTelnet, DropsOptionNegotiation) {
  EXPECT_EQ(telnet_strip("\xff\xfb\x01NOOP"), "NOOP");  // WILL ECHO
  EXPECT_EQ(telnet_strip("NO\xff\xfe\x03OP"), "NOOP");  // DONT SGA
  EXPECT_EQ(telnet_strip("\xff\xfc\x01\xff\xfd\x01X"), "X");
}

TEST(FtpcmdTelnet, TruncatedSequencesAtEnd) {
  EXPECT_EQ(telnet_strip("NOOP\xff"), "NOOP");
  EXPECT_EQ(telnet_strip("NOOP\xff\xfb"), "NOOP");
  EXPECT_EQ(telnet_strip("NOOP\xff\xf4"), "NOOP");
}

TEST(FtpcmdParse, VerbOnly) {
  auto c = command_parse("NOOP");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->verb, "NOOP");
  EXPECT_EQ(c->arg, "");
}

TEST(FtpcmdParse, UpperCasesVerb) {
  auto c = command_parse("rEtR x");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->verb, "RETR");
  EXPECT_EQ(c->arg, "x");
}

TEST(FtpcmdParse, KeepsSpacesInArgument) {
  auto c = command_parse("RETR  leading space.txt ");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->arg, " leading space.txt ");
  auto d = command_parse("STOR ");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->verb, "STOR");
  EXPECT_EQ(d->arg, "");
}

TEST(FtpcmdParse, EightLetterVerbOk) {
  auto c = command_parse("ABCDEFGH arg");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->verb, "ABCDEFGH");
}

TEST(FtpcmdParse, KeepsNonAsciiArgument) {
  auto c = command_parse("CWD caf\xc3\xa9");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->arg, "caf\xc3\xa9");
}

TEST(FtpcmdParse, RejectsBadVerbs) {
  EXPECT_FALSE(command_parse("").ok());
  EXPECT_FALSE(command_parse(" NOOP").ok());
  EXPECT_FALSE(command_parse("ABCDEFGHI").ok());
  EXPECT_FALSE(command_parse("RE7R x").ok());
  EXPECT_FALSE(command_parse("RETR\tx").ok());
  EXPECT_FALSE(command_parse("R\xc3\xa9TR x").ok());
  EXPECT_FALSE(command_parse("NOOP\r").ok());
}

TEST(FtpcmdParse, RejectsNulAnywhere) {
  EXPECT_FALSE(command_parse(std::string("RETR a\0b", 8)).ok());
  EXPECT_FALSE(command_parse(std::string("NO\0OP", 5)).ok());
  EXPECT_FALSE(command_parse(std::string("\0", 1)).ok());
}

TEST(FtpcmdParse, RejectsOverlongLine) {
  EXPECT_TRUE(command_parse("RETR " + std::string(kMaxCommandLine - 5, 'a')).ok());
  EXPECT_FALSE(command_parse("RETR " + std::string(kMaxCommandLine, 'a')).ok());
}

TEST(FtpcmdUtf8, AcceptsWellFormed) {
  EXPECT_TRUE(utf8_valid(""));
  EXPECT_TRUE(utf8_valid("plain ascii"));
  EXPECT_TRUE(utf8_valid("caf\xc3\xa9"));             // U+00E9
  EXPECT_TRUE(utf8_valid("\xe2\x82\xac"));            // U+20AC
  EXPECT_TRUE(utf8_valid("\xed\x9f\xbf"));            // U+D7FF, just below surrogates
  EXPECT_TRUE(utf8_valid("\xee\x80\x80"));            // U+E000, just above surrogates
  EXPECT_TRUE(utf8_valid("\xf0\x9f\x98\x80"));        // U+1F600
  EXPECT_TRUE(utf8_valid("\xf4\x8f\xbf\xbf"));        // U+10FFFF
  EXPECT_TRUE(utf8_valid("\xc2\x80\xdf\xbf"));        // U+0080, U+07FF
  EXPECT_TRUE(utf8_valid("\xe0\xa0\x80\xef\xbf\xbf"));  // U+0800, U+FFFF
  EXPECT_TRUE(utf8_valid("\xf0\x90\x80\x80"));        // U+10000
}

TEST(FtpcmdUtf8, RejectsMalformed) {
  EXPECT_FALSE(utf8_valid("\x80"));                 // lone continuation
  EXPECT_FALSE(utf8_valid("\xc3"));                 // truncated
  EXPECT_FALSE(utf8_valid("\xe2\x82"));             // truncated
  EXPECT_FALSE(utf8_valid("\xc3\x28"));             // bad continuation
  EXPECT_FALSE(utf8_valid("\xe2\x28\xa1"));         // bad second
  EXPECT_FALSE(utf8_valid("\xe2\x82\x28"));         // bad third
  EXPECT_FALSE(utf8_valid("\xf0\x9f\x98\x28"));     // bad fourth
  EXPECT_FALSE(utf8_valid("\xc0\xaf"));             // overlong '/'
  EXPECT_FALSE(utf8_valid("\xc1\xbf"));             // overlong
  EXPECT_FALSE(utf8_valid("\xe0\x80\xaf"));         // overlong 3-byte
  EXPECT_FALSE(utf8_valid("\xe0\x9f\xbf"));         // overlong 3-byte
  EXPECT_FALSE(utf8_valid("\xf0\x80\x80\xaf"));     // overlong 4-byte
  EXPECT_FALSE(utf8_valid("\xf0\x8f\xbf\xbf"));     // overlong 4-byte
  EXPECT_FALSE(utf8_valid("\xed\xa0\x80"));         // U+D800 surrogate
  EXPECT_FALSE(utf8_valid("\xed\xbf\xbf"));         // U+DFFF surrogate
  EXPECT_FALSE(utf8_valid("\xf4\x90\x80\x80"));     // U+110000
  EXPECT_FALSE(utf8_valid("\xf5\x80\x80\x80"));     // lead beyond F4
  EXPECT_FALSE(utf8_valid("\xff"));
  EXPECT_FALSE(utf8_valid("\xfe"));
  EXPECT_FALSE(utf8_valid("ok\xc3\xa9then\xe9"));   // Latin-1 byte at the end
}

TEST(FtpcmdPort, ParsesAddressAndPort) {
  auto r = parse_port_arg("192,168,1,2,4,1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ss_family, AF_INET);
  EXPECT_EQ(sockaddr_host_text(*r), "192.168.1.2");
  EXPECT_EQ(sockaddr_port(*r), 4 * 256 + 1);
  auto z = parse_port_arg("0,0,0,0,255,255");
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(sockaddr_port(*z), 65535);
  auto p = parse_port_arg("127,000,0,001,0,21");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(sockaddr_host_text(*p), "127.0.0.1");
}

TEST(FtpcmdPort, RejectsMalformed) {
  for (const char* bad :
       {"", "1,2,3,4,5", "1,2,3,4,5,6,7", "256,1,1,1,1,1", "1,1,1,1,1,256", "1,1,1,1,1,",
        ",1,1,1,1,1", "1,,1,1,1,1", "1,1,1,1,1,-1", "1,1,1,1,1,+1", " 1,1,1,1,1,1",
        "1,1,1,1,1,1 ", "1, 1,1,1,1,1", "1,1,1,1,1,0001", "a,b,c,d,e,f", "1.1.1.1,1,1",
        "127,0,0,1,0,0", "99999999999,1,1,1,1,1"}) {
    EXPECT_FALSE(parse_port_arg(bad).ok()) << bad;
  }
}

TEST(FtpcmdEprt, ParsesIpv4) {
  auto r = parse_eprt_arg("|1|132.235.1.2|6275|");
  ASSERT_EQ(r.status, EprtArg::kOk);
  EXPECT_EQ(r.addr.ss_family, AF_INET);
  EXPECT_EQ(sockaddr_host_text(r.addr), "132.235.1.2");
  EXPECT_EQ(sockaddr_port(r.addr), 6275);
}

TEST(FtpcmdEprt, ParsesIpv6AndOtherDelimiters) {
  auto r = parse_eprt_arg("|2|1080::8:800:200C:417A|5282|");
  ASSERT_EQ(r.status, EprtArg::kOk);
  EXPECT_EQ(r.addr.ss_family, AF_INET6);
  EXPECT_EQ(sockaddr_host_text(r.addr), "1080::8:800:200c:417a");
  EXPECT_EQ(sockaddr_port(r.addr), 5282);
  auto s = parse_eprt_arg("!1!10.0.0.1!65535!");
  ASSERT_EQ(s.status, EprtArg::kOk);
  EXPECT_EQ(sockaddr_port(s.addr), 65535);
  EXPECT_EQ(parse_eprt_arg("~2~::1~1~").status, EprtArg::kOk);
}

TEST(FtpcmdEprt, UnsupportedFamily) {
  EXPECT_EQ(parse_eprt_arg("|3|1.2.3.4|21|").status, EprtArg::kUnsupportedFamily);
  EXPECT_EQ(parse_eprt_arg("|0|1.2.3.4|21|").status, EprtArg::kUnsupportedFamily);
  EXPECT_EQ(parse_eprt_arg("|99|x|y|").status, EprtArg::kUnsupportedFamily);
}

TEST(FtpcmdEprt, RejectsMalformed) {
  for (const char* bad :
       {"", "|", "||||", "|1|1.2.3.4|21", "1|1.2.3.4|21|", "|1|1.2.3.4|21||",
        "|1|1.2.3.4|0|", "|1|1.2.3.4|65536|", "|1|1.2.3.4|-1|", "|1|1.2.3.4| 21|",
        "|1|1.2.3.4|21a|", "|1|1.2.3|21|", "|1|::1|21|", "|2|1.2.3.4|21|",
        "|2|fe80::1%eth0|21|", "|x|1.2.3.4|21|", "||1.2.3.4|21|", "|1||21|",
        "1111.2.3.41211", " 1 1.2.3.4 21 ", "\x7f" "1\x7f" "1.2.3.4\x7f" "21\x7f",
        "|1|1.2.3.4|21|x", "|1|1.2.3.4 |21|", "|1|1.2.3.4|000021|"}) {
    EXPECT_EQ(parse_eprt_arg(bad).status, EprtArg::kSyntax) << bad;
  }
}

TEST(FtpcmdEpsv, Arguments) {
  EXPECT_EQ(parse_epsv_arg(""), EpsvArg::kAny);
  EXPECT_EQ(parse_epsv_arg("1"), EpsvArg::kIpv4);
  EXPECT_EQ(parse_epsv_arg("2"), EpsvArg::kIpv6);
  EXPECT_EQ(parse_epsv_arg("ALL"), EpsvArg::kAll);
  EXPECT_EQ(parse_epsv_arg("aLl"), EpsvArg::kAll);
  EXPECT_EQ(parse_epsv_arg("3"), EpsvArg::kUnsupported);
  EXPECT_EQ(parse_epsv_arg("12345678901234567890"), EpsvArg::kUnsupported);
  EXPECT_EQ(parse_epsv_arg("ALLX"), EpsvArg::kSyntax);
  EXPECT_EQ(parse_epsv_arg(" 1"), EpsvArg::kSyntax);
  EXPECT_EQ(parse_epsv_arg("-1"), EpsvArg::kSyntax);
  EXPECT_EQ(parse_epsv_arg("AL"), EpsvArg::kSyntax);
}

TEST(FtpcmdReply, PasvAndEpsv) {
  in_addr a{};
  ASSERT_EQ(inet_pton(AF_INET, "10.1.2.3", &a), 1);
  EXPECT_EQ(format_pasv_reply(a, 50001), "227 Entering Passive Mode (10,1,2,3,195,81).");
  EXPECT_EQ(format_pasv_reply(a, 0), "227 Entering Passive Mode (10,1,2,3,0,0).");
  EXPECT_EQ(format_epsv_reply(50001), "229 Entering Extended Passive Mode (|||50001|)");
}

TEST(FtpcmdReply, Quote257) {
  EXPECT_EQ(quote_257("/pub"), "/pub");
  EXPECT_EQ(quote_257("/a\"b"), "/a\"\"b");
  EXPECT_EQ(quote_257("\"\""), "\"\"\"\"");
  EXPECT_EQ(quote_257(""), "");
}

TEST(FtpcmdAddr, SameHost) {
  EXPECT_TRUE(same_host(v4("127.0.0.1", 1), v4("127.0.0.1", 2)));
  EXPECT_FALSE(same_host(v4("127.0.0.1", 1), v4("127.0.0.2", 1)));
  EXPECT_TRUE(same_host(v6("::1", 1), v6("::1", 9)));
  EXPECT_FALSE(same_host(v6("::1", 1), v6("::2", 1)));
  EXPECT_TRUE(same_host(v6("::ffff:10.0.0.1", 1), v4("10.0.0.1", 5)));
  EXPECT_TRUE(same_host(v4("10.0.0.1", 5), v6("::ffff:10.0.0.1", 1)));
  EXPECT_FALSE(same_host(v6("::ffff:10.0.0.2", 1), v4("10.0.0.1", 5)));
  EXPECT_FALSE(same_host(v6("::10.0.0.1", 1), v4("10.0.0.1", 5)));  // compat, not mapped
  sockaddr_storage none{};
  EXPECT_FALSE(same_host(none, none));
}

TEST(FtpcmdAddr, PortAndText) {
  EXPECT_EQ(sockaddr_port(v4("1.2.3.4", 2121)), 2121);
  EXPECT_EQ(sockaddr_port(v6("::1", 65535)), 65535);
  EXPECT_EQ(sockaddr_host_text(v4("1.2.3.4", 1)), "1.2.3.4");
  EXPECT_EQ(sockaddr_host_text(v6("::1", 1)), "::1");
  sockaddr_storage none{};
  EXPECT_EQ(sockaddr_port(none), 0);
  EXPECT_EQ(sockaddr_host_text(none), "");
}

TEST(FtpcmdVerbListed, CommaSeparatedExactAsVsftpd) {
  EXPECT_TRUE(verb_listed("PASV,RETR,QUIT", "RETR"));
  EXPECT_TRUE(verb_listed("PASV,RETR,QUIT", "PASV"));
  EXPECT_FALSE(verb_listed("pasv,retr,quit", "RETR"));
  EXPECT_FALSE(verb_listed("PASV, RETR", "RETR"));
  EXPECT_TRUE(verb_listed("QUIT", "QUIT"));
  EXPECT_FALSE(verb_listed("PASV,RETR,QUIT", "RET"));
  EXPECT_FALSE(verb_listed("PASV,RETRX", "RETR"));
  EXPECT_FALSE(verb_listed("", "RETR"));
  EXPECT_FALSE(verb_listed(",,", "RETR"));
}

}  // namespace
}  // namespace moat
