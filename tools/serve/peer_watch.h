// Whether the client of a request still holds its connection, asked without
// reading or writing it. cpp-httplib 0.11 (Debian 12's) gives a handler no
// way to see a closed connection before it writes; the request names the
// connection's two ends, so its socket is the one descriptor of this process
// with that peer and that local port, and poll() says when the peer hung up.
#pragma once

#include <httplib.h>

namespace octet::serve {

class PeerWatch {
 public:
  explicit PeerWatch(const httplib::Request& request);
  // True once the peer has closed or reset the connection.
  bool closed();

 private:
  int fd_ = -1;  // -1: not found (then closed() is false: the request runs to its end or timeout)
};

// Raises the accept backlog of this process's listening socket on `port` to
// SOMAXCONN. Debian's cpp-httplib 0.11 is a compiled library that listens with
// a backlog of 5: a burst of connections faster than its accept loop (16
// clients at once in Serve.ConcurrentChatsEqualEachRunAlone) then waited for a
// SYN retry (1 s), or now and then had its request answered by a reset.
void deepen_listen_backlog(int port);

}  // namespace octet::serve
