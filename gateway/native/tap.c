/*
 * openigd_tap: TAP devices for the userspace router, as a small N-API addon.
 *
 *   open(name, multiQueue) -> fd          create or attach IFF_TAP|IFF_NO_PI, non-blocking
 *   startReader(fd, buf, slotSize, lengths, cb) -> reader
 *        on readiness (uv_poll) reads up to lengths.length frames, one per slot of
 *        slotSize bytes in buf, stores their lengths, then calls cb(count) once.
 *   stopReader(reader)                    stops and closes the poll handle
 *   writeBatch(fd, buf, offsets, lengths, count) -> frames written
 *        one write() per frame (writev would merge them into one frame); on EAGAIN
 *        waits up to 2 ms for room once, then gives up and reports how many went.
 *   close(fd)
 *
 * Every argument is checked; misuse throws a JavaScript error, never crashes.
 * The reader owns references to buf, lengths and cb until stopReader.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_tun.h>

#define CHECK(env, call)                                                  \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error((env), "ERR_OPENIGD_TAP", "N-API call failed: " #call); \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  napi_create_string_utf8(env, err == ENOENT ? "ENOENT" : err == EPERM ? "EPERM" : err == EBUSY ? "EBUSY"
                               : err == EACCES ? "EACCES" : err == EINVAL ? "EINVAL" : "ERR_OPENIGD_TAP",
                          NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_throw(env, error);
  return NULL;
}

static int get_int(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static int get_u8(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, len, &p, &ab, &off) != napi_ok || type != napi_uint8_array) return 0;
  *data = p;
  return 1;
}

static int get_i32(napi_env env, napi_value v, int32_t **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, len, &p, &ab, &off) != napi_ok || type != napi_int32_array) return 0;
  *data = p;
  return 1;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ + 1];
  size_t n = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &n) != napi_ok || n == 0 || n >= IFNAMSIZ) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "open(name): name must be 1-15 characters");
    return NULL;
  }
  bool multi = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &multi);
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0);
  memcpy(ifr.ifr_name, name, n);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "TUNSETIFF", e);
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "fcntl O_NONBLOCK", e);
  }
  napi_value out;
  CHECK(env, napi_create_int32(env, fd, &out));
  return out;
}

typedef struct {
  uv_poll_t poll;
  napi_env env;
  int fd;
  napi_ref buf_ref, lengths_ref, cb_ref;
  uint8_t *buf;
  size_t buf_len;
  int32_t *lengths;
  size_t slots;
  size_t slot_size;
  int stopped;
} reader_t;

static void on_close(uv_handle_t *h) {
  free(h->data);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  reader_t *r = p->data;
  if (r->stopped) return;
  (void)events;
  size_t count = 0;
  if (status == 0) {
    while (count < r->slots) {
      ssize_t got = read(r->fd, r->buf + count * r->slot_size, r->slot_size);
      if (got < 0) {
        if (errno == EINTR) continue;
        break; /* EAGAIN: drained; anything else: report what we have */
      }
      r->lengths[count++] = (int32_t)got;
    }
  }
  if (count == 0) return;
  napi_handle_scope scope;
  napi_open_handle_scope(r->env, &scope);
  napi_value cb, global, argv[1], result;
  napi_get_reference_value(r->env, r->cb_ref, &cb);
  napi_get_global(r->env, &global);
  napi_create_uint32(r->env, (uint32_t)count, &argv[0]);
  napi_status st = napi_call_function(r->env, global, cb, 1, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(r->env, &exc);
    napi_fatal_exception(r->env, exc);
  }
  napi_close_handle_scope(r->env, scope);
}

static napi_value js_start_reader(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, slot_size;
  uint8_t *buf;
  size_t buf_len, nlen;
  int32_t *lengths;
  napi_valuetype t;
  if (argc < 5 || !get_int(env, argv[0], &fd) || fd < 0 || !get_u8(env, argv[1], &buf, &buf_len) ||
      !get_int(env, argv[2], &slot_size) || slot_size < 64 || !get_i32(env, argv[3], &lengths, &nlen) || nlen == 0 ||
      (size_t)slot_size * nlen > buf_len || napi_typeof(env, argv[4], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG",
                          "startReader(fd, buf: Uint8Array, slotSize >= 64, lengths: Int32Array, cb); slotSize * lengths.length <= buf.length");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  reader_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "calloc", ENOMEM);
  r->env = env;
  r->fd = fd;
  r->buf = buf;
  r->buf_len = buf_len;
  r->lengths = lengths;
  r->slots = nlen;
  r->slot_size = (size_t)slot_size;
  napi_create_reference(env, argv[1], 1, &r->buf_ref);
  napi_create_reference(env, argv[3], 1, &r->lengths_ref);
  napi_create_reference(env, argv[4], 1, &r->cb_ref);
  int e = uv_poll_init(loop, &r->poll, fd);
  if (e == 0) {
    r->poll.data = r;
    e = uv_poll_start(&r->poll, UV_READABLE, on_readable);
  }
  if (e != 0) {
    napi_delete_reference(env, r->buf_ref);
    napi_delete_reference(env, r->lengths_ref);
    napi_delete_reference(env, r->cb_ref);
    free(r);
    napi_throw_error(env, "ERR_OPENIGD_TAP", uv_strerror(e));
    return NULL;
  }
  napi_value ext;
  CHECK(env, napi_create_external(env, r, NULL, NULL, &ext));
  return ext;
}

static napi_value js_stop_reader(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p;
  napi_valuetype t;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_get_value_external(env, argv[0], &p) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "stopReader(reader)");
    return NULL;
  }
  reader_t *r = p;
  if (!r->stopped) {
    r->stopped = 1;
    uv_poll_stop(&r->poll);
    napi_delete_reference(env, r->buf_ref);
    napi_delete_reference(env, r->lengths_ref);
    napi_delete_reference(env, r->cb_ref);
    uv_close((uv_handle_t *)&r->poll, on_close);
  }
  return NULL;
}

static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, count;
  uint8_t *buf;
  size_t buf_len, no, nl;
  int32_t *offsets, *lengths;
  if (argc < 5 || !get_int(env, argv[0], &fd) || fd < 0 || !get_u8(env, argv[1], &buf, &buf_len) ||
      !get_i32(env, argv[2], &offsets, &no) || !get_i32(env, argv[3], &lengths, &nl) || !get_int(env, argv[4], &count) ||
      count < 0 || (size_t)count > no || (size_t)count > nl) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "writeBatch(fd, buf: Uint8Array, offsets: Int32Array, lengths: Int32Array, count)");
    return NULL;
  }
  int32_t written = 0;
  int waited = 0;
  for (int32_t i = 0; i < count; i++) {
    int32_t o = offsets[i], l = lengths[i];
    if (o < 0 || l <= 0 || (size_t)o + (size_t)l > buf_len) continue; /* skipped: the caller counts it */
    for (;;) {
      ssize_t w = write(fd, buf + o, (size_t)l);
      if (w >= 0) { written++; break; }
      if (errno == EINTR) continue;
      if (errno == EAGAIN && !waited) {
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        waited = 1;
        if (poll(&pfd, 1, 2) > 0) continue;
      }
      goto done;
    }
  }
done:;
  napi_value out;
  CHECK(env, napi_create_int32(env, written, &out));
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || !get_int(env, argv[0], &fd) || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "close(fd)");
    return NULL;
  }
  close(fd);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "startReader", NULL, js_start_reader, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stopReader", NULL, js_stop_reader, NULL, NULL, NULL, napi_enumerable, NULL },
    { "writeBatch", NULL, js_write_batch, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
