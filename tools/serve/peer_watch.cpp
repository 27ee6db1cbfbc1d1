#include "tools/serve/peer_watch.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace octet::serve {

namespace {

// The address and port of a socket end, as text and number.
bool endpoint(const sockaddr_storage& a, std::string& host, int& port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    if (inet_ntop(AF_INET, &v4.sin_addr, buf, sizeof buf) == nullptr) return false;
    port = ntohs(v4.sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
    if (inet_ntop(AF_INET6, &v6.sin6_addr, buf, sizeof buf) == nullptr) return false;
    port = ntohs(v6.sin6_port);
  } else {
    return false;
  }
  host = buf;
  return true;
}

// Calls found(fd, local) for each descriptor of this process that is a
// socket with a local address, until found returns true.
template <typename Found>
void find_socket(const Found& found) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    if (found(static_cast<int>(fd), local)) break;
  }
  closedir(dir);
}

}  // namespace

PeerWatch::PeerWatch(const httplib::Request& request) {
  find_socket([&](int fd, const sockaddr_storage& local) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) return false;
    std::string peer_host, local_host;
    int peer_port = -1, local_port = -1;
    if (!endpoint(peer, peer_host, peer_port) || !endpoint(local, local_host, local_port)) return false;
    if (peer_host != request.remote_addr || peer_port != request.remote_port || local_port != request.local_port) {
      return false;
    }
    fd_ = fd;
    return true;
  });
}

void deepen_listen_backlog(int port) {
  find_socket([&](int fd, const sockaddr_storage& local) {
    std::string host;
    int local_port = -1, listening = 0;
    socklen_t len = sizeof listening;
    if (!endpoint(local, host, local_port) || local_port != port) return false;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening == 0) return false;
    listen(fd, SOMAXCONN);  // again on a listening socket: only its backlog changes
    return true;
  });
}

bool PeerWatch::closed() {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

}  // namespace octet::serve
