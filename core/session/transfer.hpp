// SPDX-License-Identifier: GPL-2.0-or-later
// One transfer over an established data connection, on libevent bufferevents:
// a listing, a file out (RETR, sendfile when binary) or a file in (STOR).
#pragma once

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>

#include "core/protocol/ls.hpp"
#include "core/tls/tls.hpp"
#include "core/tls/tls_file_sender.hpp"
#include "core/session/file_sender.hpp"
#include "core/session/upload.hpp"
#include "core/session/upload_sink.hpp"
#include "core/common/util.hpp"

namespace moat {

struct TransferSpec {
  enum Kind { kSendBuffer, kSendFile, kRecvFile } kind = kSendBuffer;
  std::string buffer;  // kSendBuffer: sent first
  std::unique_ptr<ListStream> listing;  // kSendBuffer: then this, a chunk per drain
  UniqueFd file;       // kSendFile, kRecvFile
  uint64_t length = 0; // kSendFile: bytes to send from the file's current offset
  bool ascii = false;
  std::string opening;    // the 150 reply text
  std::string complete = "Transfer complete.";  // the 226 reply text
  std::string log_path;   // absolute path for the transfer log; empty: not logged
  TempUpload temp;        // kRecvFile with atomic_uploads: renamed over the target at 226
};

// A protected (PROT P) data connection: the server SSL, and whether the handshake
// must resume the control connection's session (require_ssl_reuse).
struct DataTls {
  SslPtr ssl;
  std::string reuse_tag;  // empty: any handshake will do
  bool strict_eof = false;  // strict_ssl_read_eof: an upload must end with close_notify
  bool strict_shutdown = false;  // strict_ssl_write_shutdown: so must the client's side
                                 // of a download (it confirms receipt)
};

class Transfer {
 public:
  // Reports the end: ok, and for a failure the reply (code and text).
  using Done = std::function<void(bool ok, int code, const std::string& text)>;

  Transfer(event_base* base, TransferSpec spec, unsigned timeout_seconds, Done done);
  ~Transfer();
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  void start(int data_fd, DataTls tls = {});  // takes ownership of data_fd
  uint64_t bytes() const;  // moved so far (downloads: sent, not just queued)
  double seconds() const;
  const TransferSpec& spec() const { return spec_; }
  TransferSpec& spec() { return spec_; }
  bool upload() const { return spec_.kind == TransferSpec::kRecvFile; }
  // Bytes per second in each direction, 0 for none (modules: host->rate_limit).
  void set_rate_limit(uint64_t bytes_per_second);

 private:
  static void on_read(bufferevent* bev, void* self);
  static void on_write(bufferevent* bev, void* self);
  static void on_event(bufferevent* bev, short what, void* self);
  static void on_close_ready(evutil_socket_t, short what, void* self);
  static void on_socket_ready(evutil_socket_t fd, short what, void* self);
  static void on_send_ready(evutil_socket_t fd, short what, void* self);
  void open_bufferevent(int fd, DataTls tls);
  void read_directly(int fd);
  void read_through_bufferevent();
  void send_tls_directly();
  void send_file_directly(int fd);
  void keep_waiting_to_write();
  void send_rest_through_bufferevent();
  void queue_file();
  void start_writing();
  void finish_upload();
  void fill_output();
  void fill_listing();
  uint64_t piece_size() const;
  uint64_t tick_bytes() const;
  bool drain_input();
  void finish(bool ok, int code, const std::string& text);
  void begin_io();
  void tls_close_step();
  void tls_close_wait(short what);
  void require_confirmation();
  void close_and_report();

  event_base* base_;
  TransferSpec spec_;
  unsigned timeout_;
  Done done_;
  bufferevent* bev_ = nullptr;
  std::unique_ptr<UploadSink> sink_;  // kRecvFile
  UniqueFd sock_;  // the socket of a plain upload or binary download, without bev_
  event* sock_ev_ = nullptr;  // the socket without bev_: plain transfers, a TLS download
  std::unique_ptr<TlsFileSender> tls_sender_;  // a binary, unthrottled TLS download
  std::unique_ptr<FileSender> file_sender_;    // a binary, unthrottled plain download
  uint64_t bytes_ = 0;
  uint64_t remaining_ = 0;  // kSendFile: bytes not yet queued
  evbuffer_file_segment* segment_ = nullptr;  // binary kSendFile
  uint64_t segment_pos_ = 0;
  bool prev_cr_ = false;
  bool queued_all_ = false;
  timespec started_{};
  bool tls_ = false;
  bool handshaking_ = false;
  bool strict_shutdown_ = false;
  bool close_notify_sent_ = false;
  event* close_ev_ = nullptr;  // the TLS close waiting for the socket
  timespec close_deadline_{};
  struct Outcome {
    bool ok = false;
    int code = 0;
    std::string text;
  } outcome_;  // reported once the data connection is closed
  std::string reuse_tag_;
  uint64_t rate_ = 0;
  ev_token_bucket_cfg* rate_cfg_ = nullptr;
};

}  // namespace moat
