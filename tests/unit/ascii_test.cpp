// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for TYPE A conversion, whole and split at every possible chunk boundary.
#include "core/protocol/ascii.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace moat {
namespace {

std::string to_crlf(std::string_view in) {
  std::string out;
  bool prev_cr = false;
  ascii_lf_to_crlf(in, out, prev_cr);
  return out;
}

std::string to_lf(std::string_view in) {
  std::string out;
  bool pending = false;
  ascii_crlf_to_lf(in, out, pending);
  ascii_crlf_flush(out, pending);
  return out;
}

// Feeds `in` in up to three chunks cut at i and j (i <= j).
std::string to_crlf_split(std::string_view in, size_t i, size_t j) {
  std::string out;
  bool prev_cr = false;
  ascii_lf_to_crlf(in.substr(0, i), out, prev_cr);
  ascii_lf_to_crlf(in.substr(i, j - i), out, prev_cr);
  ascii_lf_to_crlf(in.substr(j), out, prev_cr);
  return out;
}

std::string to_lf_split(std::string_view in, size_t i, size_t j) {
  std::string out;
  bool pending = false;
  ascii_crlf_to_lf(in.substr(0, i), out, pending);
  ascii_crlf_to_lf(in.substr(i, j - i), out, pending);
  ascii_crlf_to_lf(in.substr(j), out, pending);
  ascii_crlf_flush(out, pending);
  return out;
}

const std::vector<std::string> kSamples = {
    "",        "\n",       "\r",           "\r\n",       "a\nb\n",      "a\r\nb",
    "\n\n\n",  "\r\r\n",   "\r\n\r\n",     "x\ry\r",     "\r\r\r",      "line\r",
    "\n\r",    "a\r\n\nb", "mixed\r\nlf\ncr\rend", "\r\n\n\r\r\n\r"};

TEST(AsciiLfToCrlf, Whole) {
  EXPECT_EQ(to_crlf(""), "");
  EXPECT_EQ(to_crlf("abc"), "abc");
  EXPECT_EQ(to_crlf("a\nb\n"), "a\r\nb\r\n");
  EXPECT_EQ(to_crlf("\n\n"), "\r\n\r\n");
  EXPECT_EQ(to_crlf("a\r\nb"), "a\r\nb");  // an existing CRLF is not doubled
  EXPECT_EQ(to_crlf("a\rb"), "a\rb");
  EXPECT_EQ(to_crlf("\r\r\n"), "\r\r\n");
  EXPECT_EQ(to_crlf("\n\r"), "\r\n\r");
}

TEST(AsciiLfToCrlf, StateAcrossChunks) {
  std::string out;
  bool prev_cr = false;
  ascii_lf_to_crlf("a\r", out, prev_cr);
  EXPECT_TRUE(prev_cr);
  ascii_lf_to_crlf("", out, prev_cr);  // an empty chunk keeps the state
  EXPECT_TRUE(prev_cr);
  ascii_lf_to_crlf("\nb\n", out, prev_cr);
  EXPECT_FALSE(prev_cr);
  EXPECT_EQ(out, "a\r\nb\r\n");
}

TEST(AsciiLfToCrlf, EverySplitMatchesWhole) {
  for (const std::string& s : kSamples) {
    std::string whole = to_crlf(s);
    for (size_t i = 0; i <= s.size(); ++i)
      for (size_t j = i; j <= s.size(); ++j)
        ASSERT_EQ(to_crlf_split(s, i, j), whole) << "sample size " << s.size() << " at " << i
                                                 << "," << j;
  }
}

TEST(AsciiCrlfToLf, Whole) {
  EXPECT_EQ(to_lf(""), "");
  EXPECT_EQ(to_lf("abc"), "abc");
  EXPECT_EQ(to_lf("a\r\nb\r\n"), "a\nb\n");
  EXPECT_EQ(to_lf("a\rb"), "a\rb");        // lone CR kept
  EXPECT_EQ(to_lf("a\nb"), "a\nb");        // bare LF kept
  EXPECT_EQ(to_lf("\r\r\n"), "\r\n");
  EXPECT_EQ(to_lf("end\r"), "end\r");      // trailing CR emitted by the flush
  EXPECT_EQ(to_lf("\r\n\r\n"), "\n\n");
}

TEST(AsciiCrlfToLf, PendingCrAcrossChunks) {
  std::string out;
  bool pending = false;
  ascii_crlf_to_lf("a\r", out, pending);
  EXPECT_TRUE(pending);
  EXPECT_EQ(out, "a");
  ascii_crlf_to_lf("", out, pending);
  EXPECT_TRUE(pending);
  ascii_crlf_to_lf("\nb\r", out, pending);
  EXPECT_EQ(out, "a\nb");
  ascii_crlf_to_lf("c", out, pending);
  EXPECT_FALSE(pending);
  EXPECT_EQ(out, "a\nb\rc");
  ascii_crlf_flush(out, pending);
  EXPECT_EQ(out, "a\nb\rc");
}

TEST(AsciiCrlfToLf, FlushWithoutPendingDoesNothing) {
  std::string out = "x";
  bool pending = false;
  ascii_crlf_flush(out, pending);
  EXPECT_EQ(out, "x");
}

TEST(AsciiCrlfToLf, EverySplitMatchesWhole) {
  for (const std::string& s : kSamples) {
    std::string whole = to_lf(s);
    for (size_t i = 0; i <= s.size(); ++i)
      for (size_t j = i; j <= s.size(); ++j)
        ASSERT_EQ(to_lf_split(s, i, j), whole) << "sample size " << s.size() << " at " << i
                                               << "," << j;
  }
}

TEST(AsciiRoundTrip, LfTextSurvives) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "line " + std::to_string(i) + (i % 7 ? "\n" : "\n\n");
  EXPECT_EQ(to_lf(to_crlf(text)), text);
}

}  // namespace
}  // namespace moat
