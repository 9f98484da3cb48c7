#pragma once
// A TCP port no one listens on now, on 127.0.0.1 (the kernel's pick): for a
// distributed job on one machine. Used by tlearn-run and the tests. Returns 0
// when the system gives none.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tlearn::tools {

inline int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  close(fd);
  return ok ? ntohs(a.sin_port) : 0;
}

}  // namespace tlearn::tools
