// SPDX-License-Identifier: GPL-2.0-or-later
// The control-channel TLS relay: after login on a TLS control connection the pre-login
// worker stays behind to carry the post-login worker's plaintext over TLS
// (doc/DESIGN.md §3).
#pragma once

#include <openssl/ssl.h>

#include <string>

namespace moat {

// Copies plaintext both ways between the TLS connection `ssl` (on client_fd) and
// inner_fd, a SOCK_STREAM socketpair end whose peer is the post-login worker's
// control socket, until one side ends; never returns.
//  - inner EOF (the session is over): close_notify to the client, always, then a
//    short wait for the client to close so that a pipelined command cannot make the
//    kernel reset the connection under the last reply; _exit(0).
//  - the client's close_notify, a TCP EOF or a TLS error: what was already read is
//    delivered, inner gets EOF (shutdown SHUT_WR), close_notify is answered; _exit(0).
// to_inner: plaintext already taken from `ssl` but not handled (pipelined commands
// the pre-login worker buffered), delivered to inner first.
// Both descriptors are made non-blocking. Uses only poll, read/write, recvfrom/sendto,
// fcntl, shutdown, close, rt_sigaction (SIGPIPE ignored) and exit_group: it runs under
// the pre-login seccomp profile.
[[noreturn]] void tls_relay(SSL* ssl, int client_fd, int inner_fd, std::string to_inner = {});

}  // namespace moat
