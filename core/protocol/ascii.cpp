// SPDX-License-Identifier: GPL-2.0-or-later
// ASCII-mode (TYPE A) line-ending conversion for transfers, chunk by chunk: the
// state flags let a CRLF pair straddle two network reads or file blocks.
#include "core/protocol/ascii.hpp"

namespace moat {

void ascii_lf_to_crlf(std::string_view in, std::string& out, bool& prev_cr) {
  out.reserve(out.size() + in.size() + in.size() / 16);
  size_t start = 0;
  while (start < in.size()) {
    size_t lf = in.find('\n', start);
    if (lf == std::string_view::npos) break;
    out.append(in.substr(start, lf - start));
    // The byte before this LF: in this chunk, or the last one of the previous chunk.
    bool cr_before = lf > 0 ? in[lf - 1] == '\r' : prev_cr;
    if (!cr_before) out.push_back('\r');
    out.push_back('\n');
    start = lf + 1;
  }
  out.append(in.substr(start));
  if (!in.empty()) prev_cr = in.back() == '\r';
}

void ascii_crlf_to_lf(std::string_view in, std::string& out, bool& pending_cr) {
  out.reserve(out.size() + in.size() + 1);
  size_t start = 0;
  if (pending_cr && !in.empty()) {
    // The CR held back from the last chunk survives unless this chunk starts with LF.
    if (in.front() != '\n') out.push_back('\r');
    pending_cr = false;
  }
  while (start < in.size()) {
    size_t cr = in.find('\r', start);
    if (cr == std::string_view::npos) break;
    out.append(in.substr(start, cr - start));
    if (cr + 1 == in.size()) {
      pending_cr = true;  // can't tell yet whether an LF follows
      return;
    }
    if (in[cr + 1] != '\n') out.push_back('\r');
    start = cr + 1;
  }
  out.append(in.substr(start));
}

void ascii_crlf_flush(std::string& out, bool& pending_cr) {
  if (pending_cr) out.push_back('\r');
  pending_cr = false;
}

}  // namespace moat
