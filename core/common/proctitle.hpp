// SPDX-License-Identifier: GPL-2.0-or-later
// Process titles as ps shows them ("moatftpd: 203.0.113.7: alice: RETR x.iso"), written
// over the argv and environ strings as vsftpd and sshd do. Setting a title is a memory
// write only, so a worker inside its seccomp sandbox needs no system call for it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace moat {

// Claims the argv/environ area; call first thing in main. environ moves to the heap.
void proctitle_init(int argc, char** argv);

// Sets the title; a longer one is cut to the area's size. No system call.
void proctitle_set(std::string_view title);

// Client-supplied text (user names, paths) made safe for a title: bytes outside
// printable ASCII, backslash, and (field=true) ':' become \xNN, so no text can end a
// field early or start a line of its own.
std::string proctitle_escape(std::string_view text, bool field = false);

// The titles' common shape, in one place for the processes that set them and for the
// master that reads them back (--who).
std::string proctitle_session(std::string_view client,
                              std::string_view user);  // user "" : connected
std::string proctitle_worker(std::string_view client, std::string_view user, std::string_view verb,
                             std::string_view arg, int64_t bytes);  // verb "": IDLE; bytes<0: none
// The user field of a login: the escaped name, or <anonymous>.
std::string proctitle_user(std::string_view name, bool anonymous);

// A title read back from /proc/PID/cmdline, split into its fields.
struct TitleFields {
  std::string user;    // "" before login
  std::string state;   // "connected", "IDLE", or a verb
  std::string arg;     // the verb's argument, escaped
  int64_t bytes = -1;  // bytes of the running transfer; -1 when none
};
bool proctitle_parse(std::string_view title, TitleFields& out);

}  // namespace moat
