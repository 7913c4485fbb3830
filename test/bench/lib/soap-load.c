/*
 * The IGD benchmark's load client (igd-bench.ts, through soap-client.ts's runSoapWorker):
 * AddPortMapping and GetGenericPortMappingEntry calls as miniupnpc's upnpc makes them, in C,
 * so that the bench measures the IGD and not its client. A Node client spent 0.4-0.7 ms of
 * its own per call here, more than miniupnpd's whole answer; this one spends a few
 * microseconds (build the request into a buffer, connect, one write, read to the end).
 *
 * Compiled at bench time with the machine's cc (soap-client.ts, `loadClientPath`); run in
 * the IGD's LAN namespace. One job per run; prints one JSON line in the shape of
 * soap-client.ts's WorkerResult:
 *
 *   soap-load add  HOST PORT PATH SERVICE_TYPE CLIENT FIRST_PORT COUNT CLIENTS STEP KEEPALIVE DEADLINE_MS
 *     COUNT TCP mappings FIRST_PORT.. (internal port equal, internal client CLIENT, lease 0),
 *     CLIENTS threads each with one request in flight, timed every STEP completed adds.
 *   soap-load list HOST PORT PATH SERVICE_TYPE MAX KEEPALIVE DEADLINE_MS
 *     GetGenericPortMappingEntry index 0, 1, .. until error 713, MAX entries or the deadline.
 *
 * KEEPALIVE 0: a new TCP connection per call with `CONNECTION: close` (upnpc's way); the
 * answer is read to its Content-Length (or the server's close), then the socket is closed.
 * KEEPALIVE 1: no CONNECTION header, the connection is reused until the server closes it
 * (`Connection: close` in an answer, or EOF), then a new one is made.
 *
 * Bounded: every socket has a 10 s send/receive timeout, a job stops after 20 failed calls
 * in a row and starts no call past its deadline. Errors are reported in the JSON, never by
 * a crash; exit code 2 for unusable arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONSECUTIVE_FAILURES 20
#define IO_TIMEOUT_S 10
#define REQUEST_BYTES 4096
#define RESPONSE_BYTES 65536
#define MAX_CLIENTS 64
#define MAX_STEPS 4096
#define REASON_BYTES 200

static struct sockaddr_in server_addr;
static const char *host_header; /* HOST: host:port */
static const char *control_path;
static const char *service_type;
static int keep_alive;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* One client's connection (kept between calls with KEEPALIVE 1) and its response buffer. */
struct conn {
  int fd;
  char buf[RESPONSE_BYTES + 1];
};

static int open_conn(struct conn *c, char *reason) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    snprintf(reason, REASON_BYTES, "socket: %s", strerror(errno));
    return -1;
  }
  struct timeval tv = {IO_TIMEOUT_S, 0};
  int one = 1;
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* also bounds connect() */
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0) {
    snprintf(reason, REASON_BYTES, "network: connect: %s", strerror(errno));
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  return 0;
}

static void close_conn(struct conn *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

/* The request, head and body, as soap-client.ts's rawRequest and soapEnvelope write it. */
static int build_request(char *out, const char *action, const char *args) {
  char body[REQUEST_BYTES];
  int blen = snprintf(body, sizeof body,
    "<?xml version=\"1.0\"?>\r\n"
    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">"
    "<s:Body><u:%s xmlns:u=\"%s\">%s</u:%s></s:Body></s:Envelope>\r\n", action, service_type, args, action);
  if (blen < 0 || blen >= (int)sizeof body) return -1;
  int n = snprintf(out, REQUEST_BYTES,
    "POST %s HTTP/1.1\r\nHOST: %s\r\nCONTENT-TYPE: text/xml; charset=\"utf-8\"\r\n"
    "CONTENT-LENGTH: %d\r\nSOAPACTION: \"%s#%s\"\r\n%s\r\n%s",
    control_path, host_header, blen, service_type, action, keep_alive ? "" : "CONNECTION: close\r\n", body);
  return n < 0 || n >= REQUEST_BYTES ? -1 : n;
}

/* A header's value in the head `head` (NUL-terminated), case-insensitively; NULL if absent. */
static const char *header_value(const char *head, const char *name) {
  size_t len = strlen(name);
  for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
    const char *p = line + 2;
    if (strncasecmp(p, name, len) == 0 && p[len] == ':') {
      p += len + 1;
      while (*p == ' ' || *p == '\t') p++;
      return p;
    }
  }
  return NULL;
}

/*
 * The outcome of one call. status: the HTTP status, or 0 for a network failure;
 * fault: the UPnP errorCode of a 500 (-1 if none); matched: a 200 holds <ACTIONResponse.
 */
struct outcome {
  int status;
  int fault;
  int matched;
  char reason[REASON_BYTES];
};

/* Sends one call on `c` (opening it if needed) and reads the whole answer. */
static void call(struct conn *c, const char *action, const char *args, struct outcome *o) {
  char req[REQUEST_BYTES];
  o->status = 0;
  o->fault = -1;
  o->matched = 0;
  o->reason[0] = 0;
  int len = build_request(req, action, args);
  if (len < 0) {
    snprintf(o->reason, REASON_BYTES, "request too long");
    return;
  }
  int reused = c->fd >= 0;
  if (!reused && open_conn(c, o->reason) < 0) return;
  if (send(c->fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
    if (reused) { /* a kept connection the server had closed: once more on a new one */
      close_conn(c);
      call(c, action, args, o);
      return;
    }
    snprintf(o->reason, REASON_BYTES, "network: write: %s", strerror(errno));
    close_conn(c);
    return;
  }
  size_t have = 0;
  long body_at = -1, content_length = -1;
  int closes = !keep_alive;
  for (;;) {
    if (body_at >= 0 && content_length >= 0 && (long)have >= body_at + content_length) break;
    if (have == RESPONSE_BYTES) {
      snprintf(o->reason, REASON_BYTES, "http: response over %d bytes", RESPONSE_BYTES);
      close_conn(c);
      return;
    }
    ssize_t n = read(c->fd, c->buf + have, RESPONSE_BYTES - have);
    if (n == 0) {
      closes = 1;
      if (body_at >= 0 && content_length < 0) break; /* the body ends with the connection */
      if (reused && have == 0) { /* a kept connection the server had closed: once more on a new one */
        close_conn(c);
        call(c, action, args, o);
        return;
      }
      snprintf(o->reason, REASON_BYTES, "network: connection closed after %zu bytes of the answer", have);
      close_conn(c);
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN) snprintf(o->reason, REASON_BYTES, "timeout: no answer within %d s", IO_TIMEOUT_S);
      else snprintf(o->reason, REASON_BYTES, "network: read: %s", strerror(errno));
      close_conn(c);
      return;
    }
    have += (size_t)n;
    c->buf[have] = 0;
    if (body_at < 0) {
      char *end = strstr(c->buf, "\r\n\r\n");
      if (end == NULL) continue;
      *end = 0; /* the head as a string, for the header look-ups */
      body_at = end + 4 - c->buf;
      if (sscanf(c->buf, "HTTP/1.%*1[01] %3d", &o->status) != 1) {
        snprintf(o->reason, REASON_BYTES, "http: bad status line");
        o->status = 0;
        close_conn(c);
        return;
      }
      const char *cl = header_value(c->buf, "content-length");
      const char *te = header_value(c->buf, "transfer-encoding");
      const char *cn = header_value(c->buf, "connection");
      if (te != NULL && strncasecmp(te, "chunked", 7) == 0) {
        snprintf(o->reason, REASON_BYTES, "http: chunked answers are not read by this client");
        o->status = 0;
        close_conn(c);
        return;
      }
      if (cl != NULL) content_length = strtol(cl, NULL, 10);
      if (cn != NULL && strncasecmp(cn, "close", 5) == 0) closes = 1;
      *end = '\r';
    }
  }
  const char *body = c->buf + body_at;
  char tag[128];
  snprintf(tag, sizeof tag, "%sResponse", action);
  if (o->status == 200) {
    o->matched = strstr(body, tag) != NULL;
    if (!o->matched) snprintf(o->reason, REASON_BYTES, "http: 200 without <%s>", tag);
  } else {
    const char *code = strstr(body, "<errorCode>");
    if (code != NULL) o->fault = atoi(code + 11);
    if (o->fault >= 0) snprintf(o->reason, REASON_BYTES, "UPnP error %d", o->fault);
    else snprintf(o->reason, REASON_BYTES, "http: HTTP %d", o->status);
  }
  if (closes) close_conn(c);
}

/* ----------------------------------- add ----------------------------------- */

struct add_job {
  const char *client;
  int first_port, count, step;
  double start_ms, deadline_ms;
  pthread_mutex_t lock;
  int next, added, failed, consecutive, gave_up, stopped_by_deadline;
  char first_failure[REASON_BYTES + 32];
  double step_start_ms;
  int step_from, steps;
  double step_ms[MAX_STEPS];
  int step_to[MAX_STEPS], step_at[MAX_STEPS];
};

static void *add_client(void *arg) {
  struct add_job *j = arg;
  struct conn *c = malloc(sizeof *c);
  if (c == NULL) return NULL;
  c->fd = -1;
  for (;;) {
    pthread_mutex_lock(&j->lock);
    if (j->next >= j->count || j->gave_up) {
      pthread_mutex_unlock(&j->lock);
      break;
    }
    if (now_ms() - j->start_ms > j->deadline_ms) {
      j->stopped_by_deadline = 1;
      pthread_mutex_unlock(&j->lock);
      break;
    }
    int port = j->first_port + j->next++;
    pthread_mutex_unlock(&j->lock);

    char args[1024];
    snprintf(args, sizeof args,
      "<NewRemoteHost></NewRemoteHost><NewExternalPort>%d</NewExternalPort><NewProtocol>TCP</NewProtocol>"
      "<NewInternalPort>%d</NewInternalPort><NewInternalClient>%s</NewInternalClient><NewEnabled>1</NewEnabled>"
      "<NewPortMappingDescription>bench %d</NewPortMappingDescription><NewLeaseDuration>0</NewLeaseDuration>",
      port, port, j->client, port);
    struct outcome o;
    call(c, "AddPortMapping", args, &o);

    pthread_mutex_lock(&j->lock);
    if (o.status == 200 && o.matched) {
      j->consecutive = 0;
      j->added++;
      if (j->added - j->step_from == j->step && j->steps < MAX_STEPS) {
        double t = now_ms();
        j->step_at[j->steps] = j->step_from;
        j->step_to[j->steps] = j->added;
        j->step_ms[j->steps++] = t - j->step_start_ms;
        j->step_from = j->added;
        j->step_start_ms = t;
      }
    } else {
      j->failed++;
      if (j->first_failure[0] == 0) snprintf(j->first_failure, sizeof j->first_failure, "port %d: %s", port, o.reason);
      if (++j->consecutive >= MAX_CONSECUTIVE_FAILURES) j->gave_up = 1;
    }
    pthread_mutex_unlock(&j->lock);
  }
  close_conn(c);
  free(c);
  return NULL;
}

/* A string as a JSON string literal (the reasons are ASCII; control characters dropped). */
static void print_json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') printf("\\%c", *s);
    else if ((unsigned char)*s >= 0x20) putchar(*s);
  }
  putchar('"');
}

static int run_add(char **a) {
  static struct add_job j;
  j.client = a[0];
  j.first_port = atoi(a[1]);
  j.count = atoi(a[2]);
  int clients = atoi(a[3]);
  j.step = atoi(a[4]);
  keep_alive = atoi(a[5]);
  j.deadline_ms = atof(a[6]);
  if (j.count < 0 || j.first_port < 1 || j.first_port + j.count - 1 > 65535 || clients < 1 || clients > MAX_CLIENTS || j.step < 1 || j.deadline_ms <= 0) {
    fprintf(stderr, "soap-load: bad add arguments\n");
    return 2;
  }
  pthread_mutex_init(&j.lock, NULL);
  pthread_t threads[MAX_CLIENTS];
  j.start_ms = j.step_start_ms = now_ms();
  int started = 0;
  for (; started < clients; started++) {
    if (pthread_create(&threads[started], NULL, add_client, &j) != 0) break;
  }
  for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
  double end = now_ms();
  if (j.added > j.step_from && j.steps < MAX_STEPS) {
    j.step_at[j.steps] = j.step_from;
    j.step_to[j.steps] = j.added;
    j.step_ms[j.steps++] = end - j.step_start_ms;
  }
  if (started == 0 || (j.gave_up && j.added == 0)) {
    printf("{\"ok\":false,\"reason\":");
    char reason[REASON_BYTES + 96];
    if (started == 0) snprintf(reason, sizeof reason, "no client thread could start");
    else snprintf(reason, sizeof reason, "%d adds failed in a row; first: %s", MAX_CONSECUTIVE_FAILURES, j.first_failure);
    print_json_string(reason);
    printf("}\n");
    return 0;
  }
  printf("{\"ok\":true,\"mode\":\"add\",\"added\":%d,\"failed\":%d,\"firstFailure\":", j.added, j.failed);
  if (j.first_failure[0]) print_json_string(j.first_failure);
  else printf("null");
  printf(",\"totalMs\":%.3f,\"stoppedByDeadline\":%s,\"steps\":[", end - j.start_ms, j.stopped_by_deadline ? "true" : "false");
  for (int i = 0; i < j.steps; i++) {
    int n = j.step_to[i] - j.step_at[i];
    printf("%s{\"from\":%d,\"to\":%d,\"ms\":%.3f,\"perSecond\":%.3f}", i ? "," : "", j.step_at[i], j.step_to[i], j.step_ms[i],
      j.step_ms[i] > 0 ? n * 1000.0 / j.step_ms[i] : 0.0);
  }
  printf("]}\n");
  return 0;
}

/* ----------------------------------- list ----------------------------------- */

static int run_list(char **a) {
  int max = atoi(a[0]);
  keep_alive = atoi(a[1]);
  double deadline_ms = atof(a[2]);
  if (max < 0 || deadline_ms <= 0) {
    fprintf(stderr, "soap-load: bad list arguments\n");
    return 2;
  }
  static struct conn c;
  c.fd = -1;
  double start = now_ms();
  int entries = 0;
  char end[REASON_BYTES + 32] = "max";
  for (int index = 0; index < max; index++) {
    if (now_ms() - start > deadline_ms) {
      snprintf(end, sizeof end, "deadline");
      break;
    }
    char args[96];
    snprintf(args, sizeof args, "<NewPortMappingIndex>%d</NewPortMappingIndex>", index);
    struct outcome o;
    call(&c, "GetGenericPortMappingEntry", args, &o);
    if (o.status == 200 && o.matched) {
      entries++;
      continue;
    }
    if (o.fault == 713) snprintf(end, sizeof end, "713");
    else snprintf(end, sizeof end, "index %d: %s", index, o.reason);
    break;
  }
  double total = now_ms() - start;
  close_conn(&c);
  printf("{\"ok\":true,\"mode\":\"list\",\"entries\":%d,\"totalMs\":%.3f,\"end\":", entries, total);
  print_json_string(end);
  printf("}\n");
  return 0;
}

int main(int argc, char **argv) {
  int add = argc == 13 && strcmp(argv[1], "add") == 0;
  int list = argc == 9 && strcmp(argv[1], "list") == 0;
  if (!add && !list) {
    fprintf(stderr, "usage: soap-load add HOST PORT PATH SERVICE_TYPE CLIENT FIRST_PORT COUNT CLIENTS STEP KEEPALIVE DEADLINE_MS\n"
                    "       soap-load list HOST PORT PATH SERVICE_TYPE MAX KEEPALIVE DEADLINE_MS\n");
    return 2;
  }
  static char host[300];
  int port = atoi(argv[3]);
  memset(&server_addr, 0, sizeof server_addr);
  server_addr.sin_family = AF_INET;
  server_addr.sin_port = htons((unsigned short)port);
  if (port < 1 || port > 65535 || inet_pton(AF_INET, argv[2], &server_addr.sin_addr) != 1) {
    fprintf(stderr, "soap-load: HOST must be an IPv4 address and PORT 1..65535\n");
    return 2;
  }
  if (port == 80) snprintf(host, sizeof host, "%s", argv[2]); /* as a URL's host writes it */
  else snprintf(host, sizeof host, "%s:%d", argv[2], port);
  host_header = host;
  control_path = argv[4];
  service_type = argv[5];
  return add ? run_add(argv + 6) : run_list(argv + 6);
}
