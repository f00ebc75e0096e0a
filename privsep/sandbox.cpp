// SPDX-License-Identifier: GPL-2.0-or-later
// Confining a worker before it reads from the network: chroot, a verified switch to
// an unprivileged identity, rlimits, no_new_privs, no core dumps, then seccomp.
#include "privsep/sandbox.hpp"

#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <syslog.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace moat {

namespace {

constexpr rlim_t kMaxOpenFiles = 64;

Error sys_fail(const std::string& what) {
  return fail("sandbox: " + what + ": " + errno_text(errno));
}

Status enter_chroot(const std::string& dir) {
  if (dir.empty()) return Ok{};
  if (::chroot(dir.c_str()) != 0) return sys_fail("chroot " + dir);
  if (::chdir("/") != 0) return sys_fail("chdir /");
  return Ok{};
}

std::vector<gid_t> sorted_unique(std::vector<gid_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// Reads back what the kernel now holds, rather than trusting the return codes.
Status verify_identity(const Identity& id) {
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0) return sys_fail("getres*id");
  if (ru != id.uid || eu != id.uid || su != id.uid)
    return fail("sandbox: uid change did not stick");
  if (rg != id.gid || eg != id.gid || sg != id.gid)
    return fail("sandbox: gid change did not stick");
  // Sized by the kernel's count: a vector of NGROUPS_MAX (256 KiB) zeroed here stayed
  // dirty in every worker's heap for the whole session.
  const int count = getgroups(0, nullptr);
  if (count < 0) return sys_fail("getgroups");
  std::vector<gid_t> now(static_cast<size_t>(count));
  const int n = getgroups(count, now.data());
  if (n < 0) return sys_fail("getgroups");
  now.resize(static_cast<size_t>(n));
  if (sorted_unique(now) != sorted_unique(id.groups)) return fail("sandbox: groups did not stick");
  // With every uid non-zero and no capabilities left, regaining root must fail.
  if (::setuid(0) == 0) return fail("sandbox: could regain root");
  return Ok{};
}

Status change_identity(const Identity& id) {
  if (::setgroups(id.groups.size(), id.groups.data()) != 0) return sys_fail("setgroups");
  if (::setresgid(id.gid, id.gid, id.gid) != 0) return sys_fail("setresgid");
  if (::setresuid(id.uid, id.uid, id.uid) != 0) return sys_fail("setresuid");
  return verify_identity(id);
}

// Never above what the process inherited: raising a hard limit needs a privilege the
// worker no longer has, and a lower inherited limit is the administrator's choice.
Status set_limit(int resource, rlim_t value, const char* name) {
  rlimit now{};
  if (::getrlimit(resource, &now) != 0) return sys_fail(std::string("getrlimit ") + name);
  const rlim_t v = std::min(value, now.rlim_max);  // RLIM_INFINITY is the largest value
  const rlimit lim{v, v};
  if (::setrlimit(resource, &lim) != 0) return sys_fail(std::string("setrlimit ") + name);
  return Ok{};
}

// RLIMIT_NPROC comes after setuid: it counts the new uid's processes, and setuid
// itself would be refused under a limit of 0.
Status set_limits() {
  if (auto s = set_limit(RLIMIT_NPROC, 0, "NPROC"); !s) return s;
  if (auto s = set_limit(RLIMIT_CORE, 0, "CORE"); !s) return s;
  return set_limit(RLIMIT_NOFILE, kMaxOpenFiles, "NOFILE");
}

Status lock_privileges() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sys_fail("PR_SET_NO_NEW_PRIVS");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return sys_fail("PR_SET_DUMPABLE");
  return Ok{};
}

}  // namespace

Status sandbox_drop_privileges(const Identity& id) {
  if (id.uid == 0) return fail("sandbox: refusing to run a worker as uid 0");
  if (auto s = change_identity(id); !s) return s;
  if (::chdir("/") != 0) return sys_fail("chdir /");
  if (auto s = set_limit(RLIMIT_CORE, 0, "CORE"); !s) return s;
  return lock_privileges();
}

Status sandbox_enter(const Identity& id, bool use_seccomp, const SeccompPolicy& policy) {
  if (id.uid == 0) return fail("sandbox: refusing to run a worker as uid 0");
  if (auto s = enter_chroot(id.chroot_dir); !s) return s;
  if (auto s = change_identity(id); !s) return s;
  const std::string& start = id.start_dir.empty() ? std::string("/") : id.start_dir;
  if (::chdir(start.c_str()) != 0) return sys_fail("chdir " + start);
  if (auto s = set_limits(); !s) return s;
  if (auto s = lock_privileges(); !s) return s;
  if (use_seccomp) return seccomp_install(policy);
  return Ok{};
}

namespace {

// Fallback for kernels without close_range (before 5.9): close one by one.
void close_each(unsigned first, unsigned last) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    last =
        std::min<unsigned>(last, static_cast<unsigned>(std::min<rlim_t>(lim.rlim_cur, UINT_MAX)));
  } else {
    last = std::min<unsigned>(last, 1U << 20);
  }
  for (unsigned fd = first; fd <= last && fd != UINT_MAX; ++fd) ::close(static_cast<int>(fd));
}

void close_gap(unsigned first, unsigned last) {
  if (first > last) return;
  if (::close_range(first, last, 0) == 0) return;
  close_each(first, last);
}

}  // namespace

void close_fds_except(const std::vector<int>& keep) {
  // syslog(3)'s socket first, through libc: closed behind its back, its number could
  // be reused and a later syslog() would write into (or close) whatever holds it.
  closelog();
  std::vector<int> sorted;
  for (int fd : keep) {
    if (fd >= 3) sorted.push_back(fd);
  }
  std::sort(sorted.begin(), sorted.end());
  unsigned next = 3;
  for (int fd : sorted) {
    const auto k = static_cast<unsigned>(fd);
    if (k > next) close_gap(next, k - 1);
    next = std::max(next, k + 1);
  }
  close_gap(next, UINT_MAX);
}

}  // namespace moat
