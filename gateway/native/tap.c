/*
 * openigd_tap: TAP devices for the userspace router, as a small N-API addon in plain C.
 *
 *   openTap(name, { vnetHdr, multiQueue, offloads, blocking }) -> { fd, name, mtu, offloads }
 *        opens /dev/net/tun, creates or attaches the TAP `name` (IFF_TAP | IFF_NO_PI,
 *        + IFF_VNET_HDR with a 12-byte virtio_net_hdr_v1, + IFF_MULTI_QUEUE), enables
 *        checksum/TSO (and UFO/USO where the kernel has them) offloads when asked,
 *        and leaves the fd non-blocking unless `blocking` (benchmarks only).
 *   startReader(fd, buffer: Uint8Array, lengths: Int32Array, callback, yieldAfterBatch?) -> reader id
 *        the buffer is lengths.length slots of floor(buffer.length / lengths.length)
 *        bytes. On readiness (uv_poll, UV_READABLE) it read()s one frame per slot until
 *        EAGAIN or all slots are full, stores each read()'s return in lengths[i], then
 *        calls callback(count, errorCode) once for the batch. A length larger than the
 *        slot means the kernel truncated the frame (tun reports the full length).
 *        On a hard error the reader stops itself and reports the errno name.
 *        With yieldAfterBatch, once the callback of a batch has returned (the batch is
 *        forwarded: written to other TAPs, which may have woken the processes it was
 *        for), the thread calls sched_yield(): a receiver woken on this CPU runs before
 *        the next batch is read, instead of waiting out the reader's time slice while
 *        its socket buffer overflows. Alone on its CPU the call returns at once.
 *   stopReader(id)           stops the poll at once (the fd may be closed right after)
 *                            and closes the handle; unknown or stopped ids are ignored.
 *   writeBatch(fd, buffer, offsets: Int32Array, lengths: Int32Array, count, vnetHdrs)
 *        -> frames written. One write (writev of header + frame) per frame: a single
 *        writev of many frames would reach the kernel as one frame. EAGAIN stops the
 *        batch at once, no waiting (the caller counts the rest as drops); a frame the
 *        kernel refuses (EINVAL, EIO, ...) is skipped and its lengths[i] set to -errno,
 *        so the written frames are the first `written` entries of lengths still > 0;
 *        EBADF/EBADFD mark the frame and stop the batch.
 *        vnetHdrs is null, or count * 12 bytes: frame i is sent after vnetHdrs[12 i ..].
 *   closeTap(fd)             stops any reader on fd, then closes it.
 *   kernelState(fd) -> 'up' | 'down' | 'gone'
 *        the state of the TAP's kernel side, wherever it lives: the device's network
 *        namespace comes from the fd (TUNGETDEVNETNS); the flags (SIOCGIFFLAGS) are read
 *        at once when that is our own namespace, else on a short-lived thread that enters
 *        it (setns: needs CAP_SYS_ADMIN, and blocks for one thread start, tens of µs);
 *        'up' is IFF_UP and IFF_RUNNING, 'gone' a deleted device (EBADFD / ENODEV).
 *
 * What it must not do: touch an fd it did not open (every fd argument must come from
 * openTap), crash or read/write outside a typed array on bad arguments (misuse throws
 * TypeError/RangeError), keep pointers into JavaScript memory across turns of the
 * event loop (they are fetched again at every wakeup), or block the event loop.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setns */
#endif
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <net/if.h>
#include <pthread.h>
#include <linux/if_tun.h>

/* Newer than some distributions' uapi headers; the values are kernel ABI. */
#ifndef TUNGETDEVNETNS
#define TUNGETDEVNETNS _IO('T', 227)
#endif
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

#define VNET_HDR_BYTES 12 /* struct virtio_net_hdr_v1 (with num_buffers) */
#define MIN_SLOT_BYTES 64
#define MAX_EINTR_RETRIES 8

typedef struct reader {
  struct reader *next;
  struct addon *addon;
  napi_env env;
  uv_poll_t poll;
  uint32_t id;
  int fd;
  bool stopped;     /* poll stopped: no more reads */
  bool in_callback; /* inside the JavaScript callback: finalize after it returns */
  bool finalized;   /* references released, handle closing */
  bool yield_after_batch; /* sched_yield() after each batch's callback */
  napi_ref buffer_ref, lengths_ref, callback_ref, resource_ref;
  napi_async_context async_ctx;
} reader_t;

typedef struct addon {
  reader_t *readers;
  int *fds;
  size_t nfds, capfds;
  uint32_t next_id;
  /* Poll handles closed whose close callback has not run yet. The callback is code of
   * this library: a worker's environment must not unload it before they have all run,
   * so teardown is an async cleanup hook that finishes when this reaches 0. */
  size_t closing;
  bool tearing_down;
  napi_async_cleanup_hook_handle cleanup_hook;
} addon_t;

/* ---- errors ---------------------------------------------------------------------- */

static const char *errno_name(int err) {
  /* uv_err_name knows every errno libuv maps; EBADFD is not one of them. */
  if (err == EBADFD) return "EBADFD";
  const char *n = uv_err_name(-err);
  return (n && strncmp(n, "Unknown", 7) != 0) ? n : "EIO";
}

/* Throws Error(message) with .code = errno name, .errno, .syscall. Returns NULL. */
static napi_value throw_errno(napi_env env, const char *syscall, const char *subject, int err, const char *hint) {
  char msg[384];
  snprintf(msg, sizeof msg, "%s%s%s: %s (%s)%s%s", syscall, subject ? " " : "", subject ? subject : "",
           strerror(err), errno_name(err), hint ? ": " : "", hint ? hint : "");
  napi_value code, message, error, num, sc;
  if (napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, code, message, &error) != napi_ok) {
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  if (napi_create_int32(env, -err, &num) == napi_ok) napi_set_named_property(env, error, "errno", num);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc) == napi_ok)
    napi_set_named_property(env, error, "syscall", sc);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return NULL;
}

#define NAPI_OK(env, call)                                                       \
  do {                                                                           \
    if ((call) != napi_ok) {                                                     \
      bool pending_ = false;                                                     \
      napi_is_exception_pending((env), &pending_);                               \
      if (!pending_) napi_throw_error((env), "ERR_OPENIGD_TAP", "N-API: " #call); \
      return NULL;                                                               \
    }                                                                            \
  } while (0)

/* ---- argument helpers ------------------------------------------------------------ */

static addon_t *get_addon(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok) return NULL;
  return data;
}

static bool is_type(napi_env env, napi_value v, napi_valuetype want) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == want;
}

/* An integer-valued number within [lo, hi]. */
static bool get_int_in(napi_env env, napi_value v, int64_t lo, int64_t hi, int64_t *out) {
  double d;
  if (!is_type(env, v, napi_number) || napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d) return false;
  *out = (int64_t)d;
  return true;
}

static bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  void *p = NULL;
  size_t n = 0;
  if (napi_get_typedarray_info(env, v, &type, &n, &p, &ab, &offset) != napi_ok || type != want) return false;
  if (n > 0 && p == NULL) return false; /* detached */
  *data = p;
  *length = n;
  return true;
}

/* Reads an optional boolean option; false when absent. Returns false on a wrong type. */
static bool get_bool_opt(napi_env env, napi_value obj, const char *key, bool *out) {
  *out = false;
  if (!obj) return true;
  bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok) return false;
  if (!has) return true;
  napi_value v;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return false;
  if (is_type(env, v, napi_undefined)) return true;
  return is_type(env, v, napi_boolean) && napi_get_value_bool(env, v, out) == napi_ok;
}

static bool owns_fd(addon_t *a, int fd) {
  for (size_t i = 0; i < a->nfds; i++)
    if (a->fds[i] == fd) return true;
  return false;
}

static bool remember_fd(addon_t *a, int fd) {
  if (a->nfds == a->capfds) {
    size_t cap = a->capfds ? a->capfds * 2 : 8;
    int *p = realloc(a->fds, cap * sizeof *p);
    if (!p) return false;
    a->fds = p;
    a->capfds = cap;
  }
  a->fds[a->nfds++] = fd;
  return true;
}

static void forget_fd(addon_t *a, int fd) {
  for (size_t i = 0; i < a->nfds; i++) {
    if (a->fds[i] == fd) {
      a->fds[i] = a->fds[--a->nfds];
      return;
    }
  }
}

/* Gets a tracked fd argument or throws EBADF. */
static bool get_fd(napi_env env, addon_t *a, napi_value v, int *fd) {
  int64_t n;
  if (!get_int_in(env, v, 0, INT32_MAX, &n)) {
    throw_type(env, "fd must be a non-negative integer");
    return false;
  }
  if (!owns_fd(a, (int)n)) {
    throw_errno(env, "tap", "fd", EBADF, "not a TAP fd opened by openTap (or already closed)");
    return false;
  }
  *fd = (int)n;
  return true;
}

/* ---- openTap ----------------------------------------------------------------------- */

static int set_offloads(int fd, unsigned *enabled) {
  /* Widest set first; older kernels reject the flags they do not know with EINVAL. */
  const unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  const unsigned tries[] = { base | TUN_F_UFO | TUN_F_USO4 | TUN_F_USO6, base | TUN_F_UFO, base };
  int err = 0;
  for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tries[i]) == 0) {
      *enabled = tries[i];
      return 0;
    }
    err = errno;
    if (err != EINVAL) break;
  }
  return err;
}

static const char *open_hint(int err) {
  switch (err) {
    case ENOENT: case ENODEV: case ENXIO: return "no /dev/net/tun: load the tun module or pass the device to the container";
    case EPERM: case EACCES: return "creating or attaching a TAP needs CAP_NET_ADMIN (run as root)";
    case EBUSY: return "the TAP is already attached to an fd (of this or another process) and is not multi-queue";
    case EINVAL: return "bad name, or the device exists with other flags (TUN vs TAP, multi-queue or not)";
    default: return NULL;
  }
}

static napi_value js_open_tap(napi_env env, napi_callback_info info) {
  addon_t *a = get_addon(env);
  if (!a) return throw_type(env, "openigd_tap: addon not initialised");
  size_t argc = 2;
  napi_value argv[2] = { NULL, NULL };
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[64];
  size_t n = 0;
  if (argc < 1 || !is_type(env, argv[0], napi_string) ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &n) != napi_ok || n == 0 || n >= IFNAMSIZ ||
      strlen(name) != n)
    return throw_type(env, "openTap(name, options): name must be a string of 1-15 bytes");
  napi_value opts = NULL;
  if (argc > 1 && !is_type(env, argv[1], napi_undefined)) {
    if (!is_type(env, argv[1], napi_object)) return throw_type(env, "openTap(name, options): options must be an object");
    opts = argv[1];
  }
  bool vnet, multi, offloads, blocking;
  if (!get_bool_opt(env, opts, "vnetHdr", &vnet) || !get_bool_opt(env, opts, "multiQueue", &multi) ||
      !get_bool_opt(env, opts, "offloads", &offloads) || !get_bool_opt(env, opts, "blocking", &blocking))
    return throw_type(env, "openTap options vnetHdr, multiQueue, offloads, blocking must be booleans");
  if (offloads && !vnet) return throw_type(env, "openTap: offloads need vnetHdr (the header carries GSO and checksum data)");

  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (blocking ? 0 : O_NONBLOCK));
  if (fd < 0) {
    int e = errno;
    return throw_errno(env, "open", "/dev/net/tun", e, open_hint(e));
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, n);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) | (multi ? IFF_MULTI_QUEUE : 0);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "ioctl(TUNSETIFF)", name, e, open_hint(e));
  }
  unsigned enabled = 0;
  if (vnet) {
    int size = VNET_HDR_BYTES;
    if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) {
      int e = errno;
      close(fd);
      return throw_errno(env, "ioctl(TUNSETVNETHDRSZ)", name, e, NULL);
    }
    /* virtio 1.0 headers are little-endian; on a little-endian host this is the default. */
    int le = 1;
    if (ioctl(fd, TUNSETVNETLE, &le) < 0 && errno != EINVAL) {
      int e = errno;
      close(fd);
      return throw_errno(env, "ioctl(TUNSETVNETLE)", name, e, NULL);
    }
  }
  /* An attached persistent TAP keeps its old offloads: always set them explicitly. */
  int e = offloads ? set_offloads(fd, &enabled) : (ioctl(fd, TUNSETOFFLOAD, 0UL) < 0 ? errno : 0);
  if (e != 0 && (offloads || vnet)) {
    close(fd);
    return throw_errno(env, "ioctl(TUNSETOFFLOAD)", name, e, NULL);
  }
  int mtu = 0;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s >= 0) {
    struct ifreq q;
    memset(&q, 0, sizeof q);
    memcpy(q.ifr_name, ifr.ifr_name, IFNAMSIZ);
    if (ioctl(s, SIOCGIFMTU, &q) == 0) mtu = q.ifr_mtu;
    close(s);
  }
  if (!remember_fd(a, fd)) {
    close(fd);
    return throw_errno(env, "openTap", name, ENOMEM, NULL);
  }
  napi_value out, v;
  NAPI_OK(env, napi_create_object(env, &out));
  NAPI_OK(env, napi_create_int32(env, fd, &v));
  NAPI_OK(env, napi_set_named_property(env, out, "fd", v));
  NAPI_OK(env, napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &v));
  NAPI_OK(env, napi_set_named_property(env, out, "name", v));
  NAPI_OK(env, napi_create_int32(env, mtu, &v));
  NAPI_OK(env, napi_set_named_property(env, out, "mtu", v));
  NAPI_OK(env, napi_create_uint32(env, enabled, &v));
  NAPI_OK(env, napi_set_named_property(env, out, "offloads", v));
  return out;
}

/* ---- reader ------------------------------------------------------------------------ */

static void finish_teardown(addon_t *a) {
  napi_remove_async_cleanup_hook(a->cleanup_hook);
  free(a->fds);
  free(a);
}

static void on_handle_closed(uv_handle_t *h) {
  reader_t *r = h->data;
  addon_t *a = r->addon;
  free(r);
  a->closing--;
  if (a->tearing_down && a->closing == 0) finish_teardown(a);
}

static void unlink_reader(reader_t *r) {
  for (reader_t **p = &r->addon->readers; *p; p = &(*p)->next) {
    if (*p == r) {
      *p = r->next;
      return;
    }
  }
}

/* Releases the JavaScript references and closes the handle; frees r when closed. */
static void finalize_reader(reader_t *r) {
  if (r->finalized) return;
  r->finalized = true;
  napi_env env = r->env;
  napi_delete_reference(env, r->buffer_ref);
  napi_delete_reference(env, r->lengths_ref);
  napi_delete_reference(env, r->callback_ref);
  napi_delete_reference(env, r->resource_ref);
  napi_async_destroy(env, r->async_ctx);
  r->addon->closing++;
  uv_close((uv_handle_t *)&r->poll, on_handle_closed);
}

/* Stops reading at once: after this returns, the fd is no longer in the event loop. */
static void stop_reader(reader_t *r) {
  if (r->stopped) return;
  r->stopped = true;
  uv_poll_stop(&r->poll);
  unlink_reader(r);
  if (!r->in_callback) finalize_reader(r);
}

static void call_back(reader_t *r, uint32_t count, int err) {
  napi_env env = r->env;
  napi_value cb, resource, argv[2], result;
  if (napi_get_reference_value(env, r->callback_ref, &cb) != napi_ok || !cb) return;
  if (napi_get_reference_value(env, r->resource_ref, &resource) != napi_ok || !resource) return;
  napi_create_uint32(env, count, &argv[0]);
  if (err) napi_create_string_utf8(env, err < 0 ? "ERR_BUFFER_DETACHED" : errno_name(err), NAPI_AUTO_LENGTH, &argv[1]);
  else napi_get_undefined(env, &argv[1]);
  r->in_callback = true;
  napi_status st = napi_make_callback(env, r->async_ctx, resource, cb, 2, argv, &result);
  r->in_callback = false;
  if (st == napi_pending_exception) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
}

static void on_readable(uv_poll_t *p, int status, int events) {
  (void)events;
  reader_t *r = p->data;
  if (r->stopped) return;
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;

  /* Fetch the memory again: the typed arrays may have been detached since last time. */
  napi_value bv, lv;
  uint8_t *buf = NULL;
  int32_t *lengths = NULL;
  size_t buf_len = 0, slots = 0;
  bool ok = napi_get_reference_value(env, r->buffer_ref, &bv) == napi_ok && bv &&
            napi_get_reference_value(env, r->lengths_ref, &lv) == napi_ok && lv &&
            get_typed(env, bv, napi_uint8_array, (void **)&buf, &buf_len) &&
            get_typed(env, lv, napi_int32_array, (void **)&lengths, &slots) && slots > 0 &&
            buf_len / slots >= MIN_SLOT_BYTES;
  uint32_t count = 0;
  int err = 0;
  if (!ok) {
    err = -1;
  } else if (status < 0) {
    err = -status;
  } else {
    size_t slot_bytes = buf_len / slots;
    int eintr = 0;
    while (count < slots) {
      ssize_t got = read(r->fd, buf + (size_t)count * slot_bytes, slot_bytes);
      if (got > 0) {
        lengths[count++] = got > INT32_MAX ? INT32_MAX : (int32_t)got;
        continue;
      }
      if (got == 0) break;
      if (errno == EINTR && ++eintr < MAX_EINTR_RETRIES) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      err = errno;
      break;
    }
  }
  /* A hard error would make a level-triggered poll spin: stop before telling JS. */
  if (err) {
    r->stopped = true;
    uv_poll_stop(&r->poll);
    unlink_reader(r);
  }
  if (count > 0 || err) call_back(r, count, err);
  napi_close_handle_scope(env, scope);
  if (count > 0 && r->yield_after_batch && !r->stopped) sched_yield();
  if (r->stopped) finalize_reader(r);
}

static napi_value js_start_reader(napi_env env, napi_callback_info info) {
  addon_t *a = get_addon(env);
  if (!a) return throw_type(env, "openigd_tap: addon not initialised");
  size_t argc = 5;
  napi_value argv[5];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) return throw_type(env, "startReader(fd, buffer: Uint8Array, lengths: Int32Array, callback, yieldAfterBatch?)");
  int fd;
  if (!get_fd(env, a, argv[0], &fd)) return NULL;
  void *buf, *lengths;
  size_t buf_len, slots;
  if (!get_typed(env, argv[1], napi_uint8_array, &buf, &buf_len))
    return throw_type(env, "startReader: buffer must be a Uint8Array");
  if (!get_typed(env, argv[2], napi_int32_array, &lengths, &slots) || slots == 0)
    return throw_type(env, "startReader: lengths must be a non-empty Int32Array (one entry per slot)");
  if (buf_len / slots < MIN_SLOT_BYTES) return throw_range(env, "startReader: buffer.length / lengths.length must be >= 64 bytes");
  if (!is_type(env, argv[3], napi_function)) return throw_type(env, "startReader: callback must be a function");
  bool yield_after_batch = false;
  if (argc > 4 && !is_type(env, argv[4], napi_undefined)) {
    if (!is_type(env, argv[4], napi_boolean)) return throw_type(env, "startReader: yieldAfterBatch must be a boolean");
    NAPI_OK(env, napi_get_value_bool(env, argv[4], &yield_after_batch));
  }
  for (reader_t *r = a->readers; r; r = r->next)
    if (r->fd == fd) return throw_errno(env, "startReader", NULL, EBUSY, "a reader is already running on this fd");

  uv_loop_t *loop;
  NAPI_OK(env, napi_get_uv_event_loop(env, &loop));
  reader_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "startReader", NULL, ENOMEM, NULL);
  r->env = env;
  r->addon = a;
  r->fd = fd;
  r->yield_after_batch = yield_after_batch;
  napi_value resource, resource_name;
  if (napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_utf8(env, "openigd:TapReader", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &r->buffer_ref) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &r->lengths_ref) != napi_ok ||
      napi_create_reference(env, argv[3], 1, &r->callback_ref) != napi_ok ||
      napi_create_reference(env, resource, 1, &r->resource_ref) != napi_ok ||
      napi_async_init(env, resource, resource_name, &r->async_ctx) != napi_ok) {
    if (r->buffer_ref) napi_delete_reference(env, r->buffer_ref);
    if (r->lengths_ref) napi_delete_reference(env, r->lengths_ref);
    if (r->callback_ref) napi_delete_reference(env, r->callback_ref);
    if (r->resource_ref) napi_delete_reference(env, r->resource_ref);
    free(r);
    return throw_errno(env, "startReader", NULL, ENOMEM, NULL);
  }
  int e = uv_poll_init(loop, &r->poll, fd);
  if (e != 0) {
    napi_delete_reference(env, r->buffer_ref);
    napi_delete_reference(env, r->lengths_ref);
    napi_delete_reference(env, r->callback_ref);
    napi_delete_reference(env, r->resource_ref);
    napi_async_destroy(env, r->async_ctx);
    free(r);
    return throw_errno(env, "uv_poll_init", NULL, -e, NULL);
  }
  r->poll.data = r;
  e = uv_poll_start(&r->poll, UV_READABLE, on_readable);
  r->id = ++a->next_id;
  if (r->id == 0) r->id = ++a->next_id;
  r->next = a->readers;
  a->readers = r;
  if (e != 0) {
    stop_reader(r);
    return throw_errno(env, "uv_poll_start", NULL, -e, NULL);
  }
  napi_value out;
  NAPI_OK(env, napi_create_uint32(env, r->id, &out));
  return out;
}

static napi_value js_stop_reader(napi_env env, napi_callback_info info) {
  addon_t *a = get_addon(env);
  if (!a) return throw_type(env, "openigd_tap: addon not initialised");
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t id;
  if (argc < 1 || !get_int_in(env, argv[0], 0, UINT32_MAX, &id)) return throw_type(env, "stopReader(id): id must be a reader id");
  for (reader_t *r = a->readers; r; r = r->next) {
    if (r->id == (uint32_t)id) {
      stop_reader(r);
      break;
    }
  }
  return NULL;
}

/* ---- writeBatch -------------------------------------------------------------------- */

static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  addon_t *a = get_addon(env);
  if (!a) return throw_type(env, "openigd_tap: addon not initialised");
  size_t argc = 6;
  napi_value argv[6];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5)
    return throw_type(env, "writeBatch(fd, buffer: Uint8Array, offsets: Int32Array, lengths: Int32Array, count, vnetHdrs?)");
  int fd;
  if (!get_fd(env, a, argv[0], &fd)) return NULL;
  void *bufp, *offp, *lenp, *hdrp = NULL;
  size_t buf_len, noff, nlen, hdr_len = 0;
  if (!get_typed(env, argv[1], napi_uint8_array, &bufp, &buf_len)) return throw_type(env, "writeBatch: buffer must be a Uint8Array");
  if (!get_typed(env, argv[2], napi_int32_array, &offp, &noff)) return throw_type(env, "writeBatch: offsets must be an Int32Array");
  if (!get_typed(env, argv[3], napi_int32_array, &lenp, &nlen)) return throw_type(env, "writeBatch: lengths must be an Int32Array");
  int64_t count;
  if (!get_int_in(env, argv[4], 0, INT32_MAX, &count)) return throw_type(env, "writeBatch: count must be a non-negative integer");
  if ((size_t)count > noff || (size_t)count > nlen) return throw_range(env, "writeBatch: count exceeds offsets.length or lengths.length");
  bool with_hdr = argc > 5 && !is_type(env, argv[5], napi_undefined) && !is_type(env, argv[5], napi_null);
  if (with_hdr) {
    if (!get_typed(env, argv[5], napi_uint8_array, &hdrp, &hdr_len)) return throw_type(env, "writeBatch: vnetHdrs must be a Uint8Array or null");
    if (hdr_len / VNET_HDR_BYTES < (size_t)count) return throw_range(env, "writeBatch: vnetHdrs must hold 12 bytes per frame");
  }
  const uint8_t *buf = bufp, *hdrs = hdrp;
  const int32_t *offsets = offp;
  int32_t *lengths = lenp;
  /* Check the whole batch before writing any of it. */
  for (int64_t i = 0; i < count; i++) {
    int64_t o = offsets[i], l = lengths[i];
    if (o < 0 || l <= 0 || (uint64_t)(o + l) > buf_len) {
      char msg[160];
      snprintf(msg, sizeof msg, "writeBatch: frame %lld (offset %lld, length %lld) is outside the buffer of %zu bytes",
               (long long)i, (long long)o, (long long)l, buf_len);
      return throw_range(env, msg);
    }
  }
  int32_t written = 0;
  for (int64_t i = 0; i < count; i++) {
    struct iovec iov[2];
    int n = 0;
    if (with_hdr) {
      iov[n].iov_base = (void *)(hdrs + (size_t)i * VNET_HDR_BYTES);
      iov[n++].iov_len = VNET_HDR_BYTES;
    }
    iov[n].iov_base = (void *)(buf + offsets[i]);
    iov[n++].iov_len = (size_t)lengths[i];
    ssize_t w;
    int tries = 0;
    do {
      w = writev(fd, iov, n);
    } while (w < 0 && errno == EINTR && ++tries < MAX_EINTR_RETRIES);
    if (w >= 0) {
      written++;
      continue;
    }
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR) break;
    lengths[i] = -e;
    if (e == EBADF || e == EBADFD) break;
    /* EINVAL (a header the kernel refuses), EIO, EMSGSIZE, ENOBUFS ...: skip this frame. */
  }
  napi_value out;
  NAPI_OK(env, napi_create_int32(env, written, &out));
  return out;
}

/* ---- closeTap ---------------------------------------------------------------------- */

/* The addon and the one fd argument of `usage` (e.g. "closeTap(fd)"); false after throwing. */
static bool fd_call(napi_env env, napi_callback_info info, const char *usage, addon_t **a, int *fd) {
  *a = get_addon(env);
  if (!*a) {
    throw_type(env, "openigd_tap: addon not initialised");
    return false;
  }
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < 1) {
    throw_type(env, usage);
    return false;
  }
  return get_fd(env, *a, argv[0], fd);
}

static napi_value js_close_tap(napi_env env, napi_callback_info info) {
  addon_t *a;
  int fd;
  if (!fd_call(env, info, "closeTap(fd)", &a, &fd)) return NULL;
  for (reader_t *r = a->readers, *next; r; r = next) {
    next = r->next;
    if (r->fd == fd) stop_reader(r);
  }
  forget_fd(a, fd);
  /* Linux releases the fd even when close() reports an error; nothing to retry. */
  close(fd);
  return NULL;
}

/* ---- kernelState ------------------------------------------------------------------- */

typedef struct {
  int nsfd;
  char name[IFNAMSIZ];
  short flags;
  int err;
} flags_job_t;

/* SIOCGIFFLAGS of the interface j->name in the calling thread's network namespace. */
static void read_flags(flags_job_t *j) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    j->err = errno;
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, j->name, IFNAMSIZ);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) j->err = errno;
  else j->flags = ifr.ifr_flags;
  close(s);
}

/* Runs on its own thread: setns changes only the calling thread's network namespace. */
static void *flags_in_netns(void *arg) {
  flags_job_t *j = arg;
  if (setns(j->nsfd, CLONE_NEWNET) != 0) j->err = errno;
  else read_flags(j);
  return NULL;
}

/* True when the namespace fd names the namespace this thread is in: no setns is needed
 * then (setns needs CAP_SYS_ADMIN, which a container with NET_ADMIN alone lacks). */
static bool is_own_netns(int nsfd) {
  struct stat theirs, ours;
  return fstat(nsfd, &theirs) == 0 && stat("/proc/thread-self/ns/net", &ours) == 0
    && theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev;
}

static napi_value state_string(napi_env env, const char *state) {
  napi_value v;
  NAPI_OK(env, napi_create_string_utf8(env, state, NAPI_AUTO_LENGTH, &v));
  return v;
}

static napi_value js_kernel_state(napi_env env, napi_callback_info info) {
  addon_t *a;
  int fd;
  if (!fd_call(env, info, "kernelState(fd)", &a, &fd)) return NULL;
  flags_job_t job;
  memset(&job, 0, sizeof job);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) != 0) {
    int e = errno;
    return e == EBADFD ? state_string(env, "gone") : throw_errno(env, "ioctl(TUNGETIFF)", NULL, e, NULL);
  }
  memcpy(job.name, ifr.ifr_name, IFNAMSIZ);
  job.name[IFNAMSIZ - 1] = 0;
  job.nsfd = ioctl(fd, TUNGETDEVNETNS);
  if (job.nsfd < 0) {
    int e = errno;
    return e == EBADFD ? state_string(env, "gone") : throw_errno(env, "ioctl(TUNGETDEVNETNS)", job.name, e, NULL);
  }
  if (is_own_netns(job.nsfd)) {
    read_flags(&job);
  } else {
    pthread_t t;
    int e = pthread_create(&t, NULL, flags_in_netns, &job);
    if (e == 0) pthread_join(t, NULL);
    else job.err = e;
  }
  close(job.nsfd);
  if (job.err == ENODEV) return state_string(env, "gone");
  if (job.err) return throw_errno(env, "SIOCGIFFLAGS", job.name, job.err, NULL);
  return state_string(env, (job.flags & IFF_UP) && (job.flags & IFF_RUNNING) ? "up" : "down");
}

/* ---- module ------------------------------------------------------------------------ */

/* The environment is going away (process exit, worker terminated): stop every reader,
 * close every fd, and let Node unload us only once the poll handles are closed. */
static void teardown(napi_async_cleanup_hook_handle handle, void *arg) {
  addon_t *a = arg;
  a->tearing_down = true;
  a->cleanup_hook = handle;
  while (a->readers) stop_reader(a->readers);
  for (size_t i = 0; i < a->nfds; i++) close(a->fds[i]);
  a->nfds = 0;
  if (a->closing == 0) finish_teardown(a);
}

static napi_value init(napi_env env, napi_value exports) {
  addon_t *a = calloc(1, sizeof *a);
  if (!a) return throw_errno(env, "openigd_tap", NULL, ENOMEM, NULL);
  if (napi_set_instance_data(env, a, NULL, NULL) != napi_ok ||
      napi_add_async_cleanup_hook(env, teardown, a, &a->cleanup_hook) != napi_ok) {
    free(a);
    napi_throw_error(env, "ERR_OPENIGD_TAP", "openigd_tap: cannot register instance data");
    return NULL;
  }
  napi_value hdr;
  NAPI_OK(env, napi_create_int32(env, VNET_HDR_BYTES, &hdr));
  napi_property_descriptor props[] = {
    { "openTap", NULL, js_open_tap, NULL, NULL, NULL, napi_enumerable, NULL },
    { "startReader", NULL, js_start_reader, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stopReader", NULL, js_stop_reader, NULL, NULL, NULL, napi_enumerable, NULL },
    { "writeBatch", NULL, js_write_batch, NULL, NULL, NULL, napi_enumerable, NULL },
    { "closeTap", NULL, js_close_tap, NULL, NULL, NULL, napi_enumerable, NULL },
    { "kernelState", NULL, js_kernel_state, NULL, NULL, NULL, napi_enumerable, NULL },
    { "VNET_HDR_BYTES", NULL, NULL, NULL, NULL, hdr, napi_enumerable, NULL },
  };
  NAPI_OK(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
