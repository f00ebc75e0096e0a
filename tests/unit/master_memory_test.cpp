// SPDX-License-Identifier: GPL-2.0-or-later
// Tests for core/master/master_memory: what the master writes per client (session
// table entries, libevent's objects) is neither on the heap nor in any child. Each test
// runs in a child of its own: starting that memory redirects libevent process-wide.
#include "core/master/master_memory.hpp"

#include <event2/event.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>

#include "core/host/modules.hpp"
#include "core/master/master_sessions.hpp"

namespace moat {
namespace {

// The exit status of `body` run in a forked child: 0 when every check held, else the
// number of the first that failed.
int in_child(const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

class MasterMemory : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "the master's memory stays on the heap under AddressSanitizer";
#endif
  }
};

ConnInfo loopback_conn() {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_storage peer{};
  auto& in = reinterpret_cast<sockaddr_in&>(peer);
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ConnInfo(fd.get(), peer);
}

TEST_F(MasterMemory, SessionsAndLoopObjectsTakeNothingFromTheHeap) {
  EXPECT_EQ(0, in_child([] {
    if (!master_memory_start()) return 1;
    event_base* base = event_base_new();
    if (!master_memory_contains(base)) return 2;
    ModuleRegistry modules;
    auto table = master_memory_new<SessionTable>(base, modules);
    if (!master_memory_contains(table.get())) return 3;
    const ConnInfo conn = loopback_conn();
    if (std::strcmp(conn.view.peer_text, "127.0.0.1") != 0) return 4;
    // Sessions come and go, as after login traffic: not one byte more of the heap.
    const size_t heap_before = mallinfo2().uordblks;
    for (pid_t pid = 1000; pid < 1400; ++pid) table->add(pid, conn, UniqueFd());
    for (pid_t pid = 1000; pid < 1400; pid += 2) table->reaped(pid);
    for (pid_t pid = 2000; pid < 2100; ++pid) table->add(pid, conn, UniqueFd());
    if (mallinfo2().uordblks != heap_before) return 5;
    if (!master_memory_contains(table->entry_address(2050))) return 6;
    // The copy in the table points at its own text, not at the stack's.
    int views_own_text = 0;
    table->for_each([&](pid_t, const ConnInfo& c) {
      views_own_text += c.view.peer_text == c.peer_text && std::strcmp(c.peer_text, "127.0.0.1") == 0;
    });
    if (views_own_text != 300) return 7;
    table.reset();
    event_base_free(base);
    return 0;
  }));
}

TEST_F(MasterMemory, ChildrenInheritNoneOfIt) {
  EXPECT_EQ(0, in_child([] {
    if (!master_memory_start()) return 1;
    std::pmr::polymorphic_allocator<int> alloc(master_memory());
    int* mark = alloc.new_object<int>(42);
    if (!master_memory_contains(mark)) return 2;
    return in_child([mark] {
      if (*mark != 0) return 3;  // a zero page, not the master's copy
      event_base* base = event_base_new();  // a session's libevent: the heap
      if (base == nullptr || master_memory_contains(base)) return 4;
      event_base_free(base);
      return 0;
    });
  }));
}

}  // namespace
}  // namespace moat
