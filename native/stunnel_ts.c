/*
 * stunnel_ts.c - the few system calls Node.js does not expose, as a tiny N-API addon.
 *
 * chroot(2), raw setsockopt(2)/getsockopt(2) on a socket's descriptor, an
 * AF_UNIX datagram socket for syslog (connect/send) and for tests (bind/receive), and
 * the owner change of a Unix socket file through a descriptor (chownSocket), and the fence
 * and accept-queue length of a TCP listener being retired (fenceListener, acceptQueue).
 * Every function reports failure by returning a negative errno (or throwing on
 * wrong arguments); the TypeScript side (lib/process/native.ts) turns that into
 * messages in stunnel's "call: text (errno)" shape.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, #call " failed"); return NULL; } } while (0)

static napi_value make_int(napi_env env, int64_t value) {
  napi_value result;
  napi_create_int64(env, value, &result);
  return result;
}

static int get_args(napi_env env, napi_callback_info info, size_t wanted, napi_value *argv) {
  size_t argc = wanted;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < wanted) {
    napi_throw_type_error(env, NULL, "missing arguments");
    return 0;
  }
  return 1;
}

static int get_int(napi_env env, napi_value value, int *out) {
  if (napi_get_value_int32(env, value, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected an integer");
    return 0;
  }
  return 1;
}

/* A JS string copied into a malloc'd C string; NULL (with an exception pending) on error. */
static char *get_string(napi_env env, napi_value value) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a string");
    return NULL;
  }
  char *text = malloc(length + 1);
  if (text == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, value, text, length + 1, &length);
  return text;
}

/* chroot(dir) then chdir("/"), so that nothing outside the jail stays reachable through the cwd. */
static napi_value do_chroot(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  char *dir = get_string(env, argv[0]);
  if (dir == NULL) return NULL;
  int rc = chroot(dir) == 0 && chdir("/") == 0 ? 0 : -errno;
  free(dir);
  return make_int(env, rc);
}

/* setsockopt(fd, level, name, bytes): the caller packs the C value (int, struct linger, ...). */
static napi_value do_setsockopt(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd, level, name;
  void *data;
  size_t length;
  if (!get_args(env, info, 4, argv)) return NULL;
  if (!get_int(env, argv[0], &fd) || !get_int(env, argv[1], &level) || !get_int(env, argv[2], &name)) return NULL;
  CHECK(napi_get_buffer_info(env, argv[3], &data, &length));
  return make_int(env, setsockopt(fd, level, name, data, (socklen_t)length) == 0 ? 0 : -errno);
}

/* getsockopt(fd, level, name, size): a Buffer holding the value, or a negative errno. */
static napi_value do_getsockopt(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd, level, name, size;
  if (!get_args(env, info, 4, argv)) return NULL;
  if (!get_int(env, argv[0], &fd) || !get_int(env, argv[1], &level) || !get_int(env, argv[2], &name) ||
      !get_int(env, argv[3], &size)) return NULL;
  if (size <= 0 || size > 4096) {
    napi_throw_range_error(env, NULL, "size out of range");
    return NULL;
  }
  char value[4096];
  socklen_t length = (socklen_t)size;
  memset(value, 0, sizeof value);
  if (getsockopt(fd, level, name, value, &length) != 0) return make_int(env, -errno);
  napi_value buffer;
  CHECK(napi_create_buffer_copy(env, length, value, NULL, &buffer));
  return buffer;
}

/*
 * PATH as a sockaddr_un: a file name, or "@name" for Linux's abstract namespace (as systemd
 * writes NOTIFY_SOCKET). Returns the address length to pass to connect/bind, 0 on failure.
 */
static socklen_t fill_unix_address(napi_env env, napi_value path_value, struct sockaddr_un *address) {
  char *path = get_string(env, path_value);
  if (path == NULL) return 0;
  memset(address, 0, sizeof *address);
  address->sun_family = AF_UNIX;
  size_t length = strlen(path);
  if (length >= sizeof address->sun_path) {
    free(path);
    napi_throw_range_error(env, NULL, "socket path too long");
    return 0;
  }
  memcpy(address->sun_path, path, length);
  int abstract = path[0] == '@';
  free(path);
  if (abstract) {
    address->sun_path[0] = '\0';
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);
  }
  return (socklen_t)sizeof *address;
}

/* A datagram socket connected to PATH (syslog's /dev/log): fd, or a negative errno. */
static napi_value dgram_connect(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct sockaddr_un address;
  socklen_t length;
  if (!get_args(env, info, 1, argv) || !(length = fill_unix_address(env, argv[0], &address))) return NULL;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_int(env, -errno);
  if (connect(fd, (struct sockaddr *)&address, length) != 0) {
    int error = errno;
    close(fd);
    return make_int(env, -error);
  }
  return make_int(env, fd);
}

/* Connects an existing datagram socket again (the log daemon restarted): 0 or a negative errno. */
static napi_value dgram_reconnect(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct sockaddr_un address;
  socklen_t length;
  int fd;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], &fd) || !(length = fill_unix_address(env, argv[1], &address))) return NULL;
  return make_int(env, connect(fd, (struct sockaddr *)&address, length) == 0 ? 0 : -errno);
}

/* A datagram socket bound at PATH (tests receive syslog lines on it): fd, or a negative errno. */
static napi_value dgram_bind(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct sockaddr_un address;
  socklen_t length;
  if (!get_args(env, info, 1, argv) || !(length = fill_unix_address(env, argv[0], &address))) return NULL;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_int(env, -errno);
  if (bind(fd, (struct sockaddr *)&address, length) != 0) {
    int error = errno;
    close(fd);
    return make_int(env, -error);
  }
  return make_int(env, fd);
}

/* send(fd, bytes) without blocking and without SIGPIPE: 0, or a negative errno. */
static napi_value dgram_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  void *data;
  size_t length;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], &fd)) return NULL;
  CHECK(napi_get_buffer_info(env, argv[1], &data, &length));
  return make_int(env, send(fd, data, length, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0 ? 0 : -errno);
}

/* Waits up to TIMEOUT ms for one datagram: a Buffer, null on timeout, or a negative errno. */
static napi_value dgram_receive(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd, timeout;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], &fd) || !get_int(env, argv[1], &timeout)) return NULL;
  struct pollfd wait_for = { .fd = fd, .events = POLLIN };
  int ready = poll(&wait_for, 1, timeout);
  if (ready < 0) return make_int(env, -errno);
  napi_value result;
  if (ready == 0) {
    napi_get_null(env, &result);
    return result;
  }
  char message[8192];
  ssize_t length = recv(fd, message, sizeof message, MSG_DONTWAIT);
  if (length < 0) return make_int(env, -errno);
  CHECK(napi_create_buffer_copy(env, (size_t)length, message, NULL, &result));
  return result;
}

static napi_value do_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], &fd)) return NULL;
  return make_int(env, close(fd) == 0 ? 0 : -errno);
}

/*
 * chownSocket(path, uid, gid): the owner of the Unix socket file at `path`, changed through a
 * descriptor of that very file. The last component is opened O_PATH|O_NOFOLLOW (a symlink is
 * opened as itself, never followed), must be a socket with one link (not a symlink, not a hard
 * link to somebody else's file), and fchownat(AT_EMPTY_PATH) changes that inode: whoever swaps
 * the path between bind and this call gets a refusal, never root's chown of another file.
 * uid/gid -1 keep the owner/group. Returns 0, or -errno (-ENOTSOCK for anything but a socket).
 */
static napi_value chown_socket(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int uid, gid;
  if (!get_args(env, info, 3, argv) || !get_int(env, argv[1], &uid) || !get_int(env, argv[2], &gid)) return NULL;
  char *path = get_string(env, argv[0]);
  if (path == NULL) return NULL;
  int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  free(path);
  if (fd < 0) return make_int(env, -errno);
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0) rc = -errno;
  else if (!S_ISSOCK(st.st_mode) || st.st_nlink != 1) rc = -ENOTSOCK;
  else if (fchownat(fd, "", (uid_t)uid, (gid_t)gid, AT_EMPTY_PATH) != 0) rc = -errno;
  close(fd);
  return make_int(env, rc);
}

/*
 * fenceListener(fd): a classic BPF socket filter on the listening TCP socket `fd` that drops
 * every segment with SYN set and ACK clear (a new connection attempt) and passes the rest. For a
 * listener the kernel runs the filter on the segment with its data starting at the TCP header
 * (tcp_filter, after the IP header was pulled), so byte 13 holds the flags. A handshake already
 * under way completes (its ACK passes) and lands in the accept queue; a new client's SYN is
 * dropped, and it sends it again after its retransmission timeout (1 s), when the listener is
 * closed and answers RST. The filter belongs to the socket: every descriptor of it (the workers'
 * copies, the primary's) is fenced at once, and it is copied to the connections accepted after,
 * where it passes everything they carry. Returns 0, or -errno.
 */
static napi_value fence_listener(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], &fd)) return NULL;
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),                 /* A = TCP flags */
    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),              /* A &= SYN|ACK */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 1),        /* SYN alone? */
    BPF_STMT(BPF_RET | BPF_K, 0),                           /* drop */
    BPF_STMT(BPF_RET | BPF_K, 0xffffffff),                  /* keep the whole segment */
  };
  struct sock_fprog program = { .len = sizeof code / sizeof code[0], .filter = code };
  return make_int(env, setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) == 0 ? 0 : -errno);
}

/*
 * acceptQueue(fd): how many connections the kernel completed on the listening TCP socket `fd`
 * that nobody has accepted yet. TCP_INFO on a listener reports that count in tcpi_unacked (and
 * the backlog in tcpi_sacked). -EINVAL when `fd` is not a listening TCP socket; -errno.
 */
static napi_value accept_queue(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], &fd)) return NULL;
  struct tcp_info tcp;
  socklen_t length = sizeof tcp;
  memset(&tcp, 0, sizeof tcp);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &tcp, &length) != 0) return make_int(env, -errno);
  if (tcp.tcpi_state != TCP_LISTEN) return make_int(env, -EINVAL);
  return make_int(env, tcp.tcpi_unacked);
}

/* The numbers behind the option names, as this platform's headers define them. */
static void add_constants(napi_env env, napi_value exports) {
  static const struct { const char *name; int value; } constants[] = {
    { "SOL_SOCKET", SOL_SOCKET }, { "IPPROTO_TCP", IPPROTO_TCP }, { "IPPROTO_IP", IPPROTO_IP },
    { "IPPROTO_IPV6", IPPROTO_IPV6 },
    { "SO_DEBUG", SO_DEBUG }, { "SO_DONTROUTE", SO_DONTROUTE }, { "SO_KEEPALIVE", SO_KEEPALIVE },
    { "SO_LINGER", SO_LINGER }, { "SO_OOBINLINE", SO_OOBINLINE }, { "SO_RCVBUF", SO_RCVBUF },
    { "SO_SNDBUF", SO_SNDBUF }, { "SO_RCVLOWAT", SO_RCVLOWAT }, { "SO_SNDLOWAT", SO_SNDLOWAT },
    { "SO_RCVTIMEO", SO_RCVTIMEO }, { "SO_SNDTIMEO", SO_SNDTIMEO }, { "SO_REUSEADDR", SO_REUSEADDR },
    { "SO_REUSEPORT", SO_REUSEPORT }, { "SO_BINDTODEVICE", SO_BINDTODEVICE },
    { "TCP_KEEPCNT", TCP_KEEPCNT }, { "TCP_KEEPIDLE", TCP_KEEPIDLE }, { "TCP_KEEPINTVL", TCP_KEEPINTVL },
    { "TCP_NODELAY", TCP_NODELAY }, { "TCP_MAXSEG", TCP_MAXSEG }, { "TCP_USER_TIMEOUT", TCP_USER_TIMEOUT },
    { "TCP_FASTOPEN", TCP_FASTOPEN }, { "TCP_DEFER_ACCEPT", TCP_DEFER_ACCEPT }, { "IP_TOS", IP_TOS }, { "IP_TTL", IP_TTL },
    { "IP_FREEBIND", IP_FREEBIND }, { "IPV6_V6ONLY", IPV6_V6ONLY },
    { "SIZEOF_INT", (int)sizeof(int) }, { "SIZEOF_LONG", (int)sizeof(long) },
  };
  napi_value table;
  napi_create_object(env, &table);
  for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
    napi_set_named_property(env, table, constants[i].name, make_int(env, constants[i].value));
  }
  napi_set_named_property(env, exports, "constants", table);
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct { const char *name; napi_callback function; } functions[] = {
    { "chroot", do_chroot }, { "setsockopt", do_setsockopt }, { "getsockopt", do_getsockopt },
    { "dgramConnect", dgram_connect }, { "dgramReconnect", dgram_reconnect }, { "dgramBind", dgram_bind },
    { "dgramSend", dgram_send }, { "dgramReceive", dgram_receive }, { "close", do_close },
    { "chownSocket", chown_socket }, { "fenceListener", fence_listener }, { "acceptQueue", accept_queue },
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value function;
    napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].function, NULL, &function);
    napi_set_named_property(env, exports, functions[i].name, function);
  }
  add_constants(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
