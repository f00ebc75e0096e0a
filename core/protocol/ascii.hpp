// SPDX-License-Identifier: GPL-2.0-or-later
// ASCII-mode transfer conversion (TYPE A): LF <-> CRLF, streaming.
#pragma once

#include <string>
#include <string_view>

namespace moat {

// Download: bare LF becomes CRLF. `prev_cr` carries state across chunks.
void ascii_lf_to_crlf(std::string_view in, std::string& out, bool& prev_cr);
// Upload: CRLF becomes LF; a lone CR is kept. `pending_cr` carries a trailing CR
// across chunks; call ascii_crlf_flush at the end to emit it.
void ascii_crlf_to_lf(std::string_view in, std::string& out, bool& pending_cr);
void ascii_crlf_flush(std::string& out, bool& pending_cr);

}  // namespace moat
