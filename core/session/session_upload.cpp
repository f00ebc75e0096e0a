// SPDX-License-Identifier: GPL-2.0-or-later
// Upload integrity in the session: transfers that wait for their file's lock
// (lock_upload_files) and the last step of an atomic upload (atomic_uploads).
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "core/session/session.hpp"

namespace moat {

// Waiting happens before the data connection is accepted (vsftpd, which blocks in
// fcntl, takes its locks at the same point): the client's STOR or RETR simply gets
// its 150 later. The wait is bounded by data_connection_timeout.
void Session::transfer_when_locked(TransferSpec spec, std::optional<FileLock> lock,
                                   Prepare prepare) {
  if (!lock || !file_lock_busy(spec.file.get(), *lock)) {
    if (prepare(spec)) start_transfer(std::move(spec));
    return;
  }
  auto held = std::make_shared<TransferSpec>(std::move(spec));
  auto done = [this, held, prepare = std::move(prepare)](bool taken) {
    lock_wait_.reset();
    if (!taken) return reply(450, "File busy: another transfer holds its lock.");
    if (prepare(*held)) start_transfer(std::move(*held));
  };
  lock_wait_ = std::make_unique<LockWait>(base.get(), held->file.get(), *lock,
                                          cfg.data_connection_timeout, std::move(done));
}

// As ABOR of a transfer whose data connection is not open yet: nothing was sent.
bool Session::cancel_lock_wait() {
  if (!lock_wait_) return false;
  lock_wait_.reset();
  clear_data_setup();
  reply(226, "ABOR successful.");
  return true;
}

// A client killed mid-upload closes its data connection as cleanly as one that has
// finished (FIN, not RST), and its control connection with it. An upload whose
// control connection is already at EOF, with no QUIT or other command waiting, is
// taken for a vanished client rather than a complete file.
bool Session::control_vanished() const {
  if (inbuf_.size() > line_start_) return false;  // a command read but not handled yet
  char c;
  return recv(st.control_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

// delete_failed_uploads (vsftpd): a file written in place goes when its upload failed.
// log_path is the name as this (possibly chrooted) process sees it.
namespace {
void delete_failed_upload(const Config& cfg, Transfer& x, bool ok) {
  if (ok || !cfg.delete_failed_uploads || x.spec().log_path.empty()) return;
  unlink(x.spec().log_path.c_str());
}
}  // namespace

// The end of an upload with atomic_uploads: the temporary file becomes the target
// only when the transfer succeeded; otherwise it is removed and the previous version
// stays. Either way before the final reply, so a 226 means the file is in place.
void Session::complete_upload(Transfer& x, bool& ok, int& code, std::string& text) {
  TempUpload& temp = x.spec().temp;
  if (!temp.active()) return delete_failed_upload(cfg, x, ok);
  if (ok && control_vanished()) {
    ok = false;
    code = 426;
    text = "Failure reading network stream.";
  }
  if (!ok) return temp.discard();
  if (auto done = temp.commit(); !done) {
    ok = false;
    code = 553;
    text = "Could not replace the file: " + done.error();
  }
}

}  // namespace moat
