// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for core/upload: temporary names, the temporary file's life, whole-file locks
// and the timer that waits for one.
#include "core/session/upload.hpp"

#include <dirent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <string>

namespace moat {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/moat-upload-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    for (const auto& n : names()) unlink((path_ + "/" + n).c_str());
    rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::set<std::string> names() const {
    std::set<std::string> out;
    DIR* d = opendir(path_.c_str());
    while (dirent* e = d ? readdir(d) : nullptr)
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.insert(e->d_name);
    if (d) closedir(d);
    return out;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(path_ + "/" + name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ + "/" + name) << text;
  }

 private:
  std::string path_;
};

TEST(UploadTempName, HiddenBesideTheTarget) {
  EXPECT_EQ(upload_temp_name("f.bin", "abc123"), ".f.bin.moat-abc123");
  EXPECT_EQ(upload_temp_name("dir/sub/f.bin", "abc123"), "dir/sub/.f.bin.moat-abc123");
  EXPECT_EQ(upload_temp_name("/abs/f", "XyZ789"), "/abs/.f.moat-XyZ789");
}

TEST(UploadTempName, ALongNameIsShortenedToFit) {
  std::string name(NAME_MAX, 'n');
  std::string temp = upload_temp_name("d/" + name, "abc123");
  EXPECT_EQ(temp.substr(0, 3), "d/.");
  EXPECT_EQ(temp.size() - 2, size_t{NAME_MAX});
  EXPECT_EQ(temp.substr(temp.size() - 12), ".moat-abc123");
}

TEST(TempUpload, CommitReplacesTheTarget) {
  TempDir dir;
  dir.write("f", "old");
  auto made = TempUpload::create(dir.path() + "/f", 0640);
  ASSERT_TRUE(made.ok()) << made.error();
  auto& [temp, fd] = *made;
  ASSERT_EQ(write(fd.get(), "new", 3), 3);
  EXPECT_EQ(dir.names().size(), 2u);
  EXPECT_EQ(dir.read("f"), "old");  // untouched until the commit
  ASSERT_TRUE(temp.commit().ok());
  EXPECT_EQ(dir.names(), std::set<std::string>{"f"});
  EXPECT_EQ(dir.read("f"), "new");
}

TEST(TempUpload, DestroyedWithoutCommitItIsRemoved) {
  TempDir dir;
  dir.write("f", "old");
  {
    auto made = TempUpload::create(dir.path() + "/f", 0600);
    ASSERT_TRUE(made.ok());
    TempUpload moved = std::move(made->first);  // the move carries the duty
    EXPECT_TRUE(moved.active());
    EXPECT_FALSE(made->first.active());
  }
  EXPECT_EQ(dir.names(), std::set<std::string>{"f"});
  EXPECT_EQ(dir.read("f"), "old");
}

TEST(TempUpload, ModeIsANewFilesAndNamesDiffer) {
  TempDir dir;
  mode_t old = umask(022);
  auto a = TempUpload::create(dir.path() + "/f", 0666);
  auto b = TempUpload::create(dir.path() + "/f", 0666);
  umask(old);
  ASSERT_TRUE(a.ok() && b.ok());
  struct stat st {};
  ASSERT_EQ(fstat(a->second.get(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(dir.names().size(), 2u);  // two uploads of one name at once
}

TEST(TempUpload, FailsInAMissingDirectory) {
  TempDir dir;
  auto made = TempUpload::create(dir.path() + "/no/f", 0666);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(errno, ENOENT);
}

UniqueFd open_rw(const std::string& path) {
  return UniqueFd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
}

TEST(FileLock, WritersExcludeEveryoneReadersShare) {
  TempDir dir;
  std::string f = dir.path() + "/f";
  UniqueFd a = open_rw(f), b = open_rw(f), c = open_rw(f);
  EXPECT_FALSE(file_lock_busy(a.get(), FileLock::kRead));
  EXPECT_FALSE(file_lock_busy(b.get(), FileLock::kRead));
  EXPECT_TRUE(file_lock_busy(c.get(), FileLock::kWrite));
  a.reset();
  b.reset();  // closing the descriptor releases its lock
  EXPECT_FALSE(file_lock_busy(c.get(), FileLock::kWrite));
  UniqueFd d = open_rw(f);
  EXPECT_TRUE(file_lock_busy(d.get(), FileLock::kRead));
}

struct EventBaseFree {
  void operator()(event_base* b) const { event_base_free(b); }
};

// A file whose lock `holder` takes first; the LockWait under test waits on `waiter`.
class LockWaitTest : public ::testing::Test {
 protected:
  void hold(FileLock kind) { ASSERT_FALSE(file_lock_busy(holder.get(), kind)); }

  TempDir dir;
  std::string file = dir.path() + "/f";
  UniqueFd holder = open_rw(file);
  UniqueFd waiter = open_rw(file);
  std::unique_ptr<event_base, EventBaseFree> base{event_base_new()};
  std::optional<bool> result;
};

TEST_F(LockWaitTest, TakesTheLockOnceItIsReleased) {
  hold(FileLock::kWrite);
  LockWait wait(base.get(), waiter.get(), FileLock::kRead, 0, [&](bool taken) {
    result = taken;
    event_base_loopbreak(base.get());
  });
  // The holder lets go after the waiter's first retries (10, 20 ms ...).
  event* release = evtimer_new(
      base.get(),
      [](evutil_socket_t, short, void* arg) { static_cast<UniqueFd*>(arg)->reset(); }, &holder);
  timeval tv{0, 50 * 1000};
  evtimer_add(release, &tv);
  event_base_dispatch(base.get());
  event_free(release);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(*result);
  UniqueFd other = open_rw(file);
  EXPECT_TRUE(file_lock_busy(other.get(), FileLock::kWrite));  // the waiter holds it now
}

TEST_F(LockWaitTest, GivesUpAtItsTimeout) {
  hold(FileLock::kRead);
  std::unique_ptr<LockWait> wait;
  wait = std::make_unique<LockWait>(base.get(), waiter.get(), FileLock::kWrite, 1,
                                    [&](bool taken) {
                                      result = taken;
                                      wait.reset();  // done may destroy its LockWait
                                    });
  event_base_dispatch(base.get());  // returns when no event is left
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result);
}

}  // namespace
}  // namespace moat
