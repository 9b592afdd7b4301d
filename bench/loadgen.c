/* loadgen: the MQTT 3.1.1 load generator behind `make bench`.
 *
 * One process, one thread, one epoll set: the generator must cost the broker under test as
 * little CPU as possible, so it never polls sockets that have nothing to do, only registers
 * for EPOLLOUT while a socket is actually blocked, and writes each connection's queued
 * packets with one send() per loop turn.
 *
 * Modes (-m):
 *   flow      P publishers each send up to N messages to <prefix>/<i>; S subscribers hold the
 *             filter (default <prefix>/#). Reports delivered messages per second (first
 *             publish to last delivery) and end-to-end latency percentiles; the payload
 *             carries the send time. With -r the publishers are paced (latency runs).
 *             With -d the publishers stop starting new messages after that many seconds,
 *             so a slow broker gets a run as long as a fast one. Each publisher keeps at
 *             most -o/P undelivered copies in the broker (QoS 0 included): without that
 *             bound a slow broker would build a backlog of socket buffers that takes
 *             minutes to drain, and the run would measure the drain.
 *   retained  one client publishes N retained QoS 1 messages to <prefix>/<i> and waits for
 *             every PUBACK; then another, already connected client subscribes to the filter
 *             (default #) and the time until all N retained copies arrived is measured.
 *             With -R that is repeated by R fresh clients, one after another; the report
 *             gives the median (secs) and the extremes.
 *   idle      holds C connections (keepalive -k, PINGREQ when due) and prints a `ready`
 *             line once every CONNACK is in; exits when its stdin reaches end of file.
 *
 * Output: one line of key=value pairs on stdout. Exit status 0 when every expected message
 * arrived (in flow mode: each copy exactly once and in publish order per publisher; dup= and
 * gap= count the violations), 1 when it did not (nothing arrived for -T seconds, or copies
 * were duplicated, lost or reordered), 2 on a usage, connection or protocol error (the
 * reason goes to stderr).
 *
 * build: cc -O2 -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { M_FLOW, M_RETAINED, M_IDLE };
enum role { R_PUB, R_SUB, R_IDLE };
enum state { S_TCP, S_CONNACK, S_SUBACK, S_READY };

/* Bytes from off to len are pending; the gap before off is reclaimed lazily. */
typedef struct {
    unsigned char *p;
    size_t off, len, cap;
} buf_t;

typedef struct {
    int fd, role, idx, state;
    int want_out;       /* EPOLLOUT registered: the socket refused part of a send */
    int dirty;          /* on the flush list */
    buf_t in, out;
    long sent, done;    /* publisher: messages queued / completed (acked, or sent for QoS 0) */
    long delivered;     /* publisher: copies of its messages that reached subscribers */
    int throttled;      /* publisher: hit its undelivered budget, waits until half is in */
    uint32_t *next_seq; /* subscriber: next sequence number expected from each publisher */
    int inflight;
    uint16_t next_id;
    uint64_t next_due;  /* paced publisher: when the next message may go */
    char topic[64];
    size_t topic_len;
} conn_t;

/* ---- options ---------------------------------------------------------------------------- */
static const char *opt_host = "127.0.0.1", *opt_prefix = NULL, *opt_filter = NULL;
static int opt_mode = M_FLOW, opt_port = 1883, opt_pubs = 1, opt_subs = 1, opt_qos = 0;
static int opt_payload = 32, opt_window = 64, opt_conns = 100, opt_keepalive = 60;
static int opt_repeats = 1;
static long opt_msgs = 1000, opt_outstanding = 10000;
static double opt_rate = 0, opt_deadline = 0, opt_stall = 10;

/* Handshakes in flight at once: a burst of thousands of SYNs overflows the broker's listen
 * backlog and costs a one-second SYN retransmit, which would be measured as broker time. */
enum { MAX_HANDSHAKES = 128, OUT_HIGH_WATER = 64 * 1024, READ_CHUNK = 256 * 1024 };

/* Flow-mode payloads: send time (8 bytes), publisher index and sequence number (4 bytes
 * each, native order: only this process reads them), then filler. */
enum { STAMP_OFF = 0, PUB_OFF = 8, SEQ_OFF = 12, HEADER_BYTES = 16 };

/* ---- run state -------------------------------------------------------------------------- */
static int epfd;
static conn_t **conns;
static int nconns, nopened, nhandshakes, nready;
static conn_t **pub_conns;    /* flow mode: publishers by index, to credit deliveries */
static conn_t **dirty_list;
static int ndirty;
static long received, closed, dups, gaps;
static uint32_t *lat_us;
static long nlat, lat_cap;
static uint64_t last_progress;
static struct sockaddr_in broker_addr;
static char client_prefix[32];

static void fail(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void fail_msg(const char *msg) {
    fprintf(stderr, "loadgen: %s\n", msg);
    exit(2);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---- buffers and packet encoding -------------------------------------------------------- */

/* Returns room for n more bytes at b->p + b->len, compacting before growing. */
static unsigned char *buf_room(buf_t *b, size_t n) {
    if (b->len + n > b->cap && b->off) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) fail("realloc");
        b->cap = cap;
    }
    return b->p + b->len;
}

static size_t pending(const buf_t *b) { return b->len - b->off; }

static void mark_dirty(conn_t *c) {
    if (!c->dirty) {
        c->dirty = 1;
        dirty_list[ndirty++] = c;
    }
}

/* Writes a fixed header; returns bytes used (at most 5). */
static size_t put_fixed_header(unsigned char *p, unsigned char type, size_t remaining) {
    size_t i = 0;
    p[i++] = type;
    do {
        unsigned char digit = remaining % 128;
        remaining /= 128;
        p[i++] = remaining ? digit | 128 : digit;
    } while (remaining);
    return i;
}

static size_t put_u16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
    return 2;
}

static size_t put_str(unsigned char *p, const char *s, size_t n) {
    put_u16(p, (unsigned)n);
    memcpy(p + 2, s, n);
    return 2 + n;
}

static void queue_connect(conn_t *c) {
    char id[64];
    int idn = snprintf(id, sizeof id, "%s%c%d", client_prefix, "psi"[c->role], c->idx);
    size_t rem = 10 + 2 + (size_t)idn;
    unsigned char *p = buf_room(&c->out, rem + 5), *s = p;
    p += put_fixed_header(p, 0x10, rem);
    p += put_str(p, "MQTT", 4);
    *p++ = 4;     /* protocol level: 3.1.1 */
    *p++ = 0x02;  /* clean session */
    p += put_u16(p, (unsigned)opt_keepalive);
    p += put_str(p, id, (size_t)idn);
    c->out.len += (size_t)(p - s);
    mark_dirty(c);
}

static void queue_subscribe(conn_t *c, const char *filter, int qos) {
    size_t fl = strlen(filter), rem = 2 + 2 + fl + 1;
    unsigned char *p = buf_room(&c->out, rem + 5), *s = p;
    p += put_fixed_header(p, 0x82, rem);
    p += put_u16(p, 1);
    p += put_str(p, filter, fl);
    *p++ = (unsigned char)qos;
    c->out.len += (size_t)(p - s);
    mark_dirty(c);
}

static void queue_publish(conn_t *c, int qos, int retain) {
    size_t rem = 2 + c->topic_len + (qos ? 2 : 0) + (size_t)opt_payload;
    unsigned char *p = buf_room(&c->out, rem + 5), *s = p;
    p += put_fixed_header(p, (unsigned char)(0x30 | qos << 1 | retain), rem);
    p += put_str(p, c->topic, c->topic_len);
    if (qos) {
        if (++c->next_id == 0) c->next_id = 1;
        p += put_u16(p, c->next_id);
        c->inflight++;
    }
    uint64_t stamp = now_ns();
    uint32_t idx = (uint32_t)c->idx, seq = (uint32_t)c->sent;
    memcpy(p + STAMP_OFF, &stamp, sizeof stamp);
    memcpy(p + PUB_OFF, &idx, sizeof idx);
    memcpy(p + SEQ_OFF, &seq, sizeof seq);
    memset(p + HEADER_BYTES, 'x', (size_t)opt_payload - HEADER_BYTES);
    p += opt_payload;
    c->out.len += (size_t)(p - s);
    c->sent++;
    if (!qos) c->done++;
    mark_dirty(c);
}

static void queue_short(conn_t *c, unsigned char type, unsigned id) {
    unsigned char *p = buf_room(&c->out, 4);
    p[0] = type;
    p[1] = 2;
    put_u16(p + 2, id);
    c->out.len += 4;
    mark_dirty(c);
}

static void queue_pingreq(conn_t *c) {
    unsigned char *p = buf_room(&c->out, 2);
    p[0] = 0xC0;
    p[1] = 0;
    c->out.len += 2;
    mark_dirty(c);
}

/* ---- sockets ---------------------------------------------------------------------------- */

static void set_events(conn_t *c, int want_out) {
    if (c->want_out == want_out) return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev)) fail("epoll_ctl");
    c->want_out = want_out;
}

static void on_closed(conn_t *c);

static void flush_conn(conn_t *c) {
    if (c->fd < 0 || c->state == S_TCP) return;  /* the CONNECT waits for the handshake */
    while (pending(&c->out)) {
        ssize_t w = send(c->fd, c->out.p + c->out.off, pending(&c->out), MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) break;
            if (errno == EINTR) continue;
            if (errno == EPIPE || errno == ECONNRESET) {
                on_closed(c);
                return;
            }
            fail("send");
        }
        c->out.off += (size_t)w;
    }
    if (!pending(&c->out)) c->out.off = c->out.len = 0;
    set_events(c, pending(&c->out) > 0);
}

static void flush_dirty(void) {
    for (int i = 0; i < ndirty; i++) {
        dirty_list[i]->dirty = 0;
        flush_conn(dirty_list[i]);
    }
    ndirty = 0;
}

static void open_conn(conn_t *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) fail("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Registered for EPOLLOUT until the handshake completes. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev)) fail("epoll_ctl");
    c->want_out = 1;
    c->state = S_TCP;
    if (connect(c->fd, (struct sockaddr *)&broker_addr, sizeof broker_addr) && errno != EINPROGRESS)
        fail("connect");
    queue_connect(c);
    nhandshakes++;
}

/* Opens queued connections while fewer than MAX_HANDSHAKES are unanswered. */
static void ramp(int upto) {
    while (nopened < upto && nhandshakes < MAX_HANDSHAKES) open_conn(conns[nopened++]);
}

static void finish_tcp(conn_t *c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        errno = err;
        fail("connect");
    }
    c->state = S_CONNACK;
}

/* ---- incoming packets ------------------------------------------------------------------- */

/* Checks a delivered copy against what its subscriber saw from that publisher before:
 * each subscriber must get every publisher's messages once and in order. Credits the
 * publisher, which may then keep more in flight (see -o). */
static void account_delivery(conn_t *sub, const unsigned char *payload, size_t len) {
    if (len < HEADER_BYTES) {
        gaps++;
        return;
    }
    uint32_t idx, seq;
    memcpy(&idx, payload + PUB_OFF, 4);
    memcpy(&seq, payload + SEQ_OFF, 4);
    if (idx >= (uint32_t)opt_pubs) {
        gaps++;
        return;
    }
    pub_conns[idx]->delivered++;
    if (seq == sub->next_seq[idx]) {
        sub->next_seq[idx]++;
    } else if (seq < sub->next_seq[idx]) {
        dups++;
    } else {
        gaps++;
        sub->next_seq[idx] = seq + 1;
    }
}

static void on_publish(conn_t *c, unsigned char flags, const unsigned char *p, size_t n) {
    int qos = (flags >> 1) & 3;
    if (n < 2) fail_msg("short PUBLISH");
    size_t tl = (size_t)p[0] << 8 | p[1], off = 2 + tl;
    unsigned id = 0;
    if (off > n) fail_msg("PUBLISH topic longer than the packet");
    if (qos) {
        if (off + 2 > n) fail_msg("short PUBLISH");
        id = (unsigned)p[off] << 8 | p[off + 1];
        off += 2;
    }
    if (opt_mode == M_RETAINED) {
        /* Only the retained copies of this run's topics count; '#' may match other topics. */
        size_t pl = strlen(opt_prefix);
        if ((flags & 1) && tl > pl && !memcmp(p + 2, opt_prefix, pl) && p[2 + pl] == '/')
            received++;
    } else {
        received++;
        account_delivery(c, p + off, n - off);
        if (n - off >= HEADER_BYTES && nlat < lat_cap) {
            uint64_t stamp;
            memcpy(&stamp, p + off + STAMP_OFF, sizeof stamp);
            uint64_t us = (now_ns() - stamp) / 1000;
            lat_us[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
        }
    }
    if (qos == 1) queue_short(c, 0x40, id);
    if (qos == 2) queue_short(c, 0x50, id);
}

static void on_packet(conn_t *c, unsigned char h, const unsigned char *p, size_t n) {
    switch (h >> 4) {
    case 2: /* CONNACK */
        if (n < 2 || p[1]) {
            fprintf(stderr, "loadgen: connection refused, return code %d\n", n >= 2 ? p[1] : -1);
            exit(2);
        }
        nhandshakes--;
        if (c->role == R_SUB) {
            c->state = S_SUBACK;
            queue_subscribe(c, opt_filter, opt_mode == M_RETAINED ? 0 : opt_qos);
        } else {
            c->state = S_READY;
            nready++;
        }
        break;
    case 9: /* SUBACK */
        if (n < 3 || p[2] & 0x80) fail_msg("subscription refused");
        c->state = S_READY;
        nready++;
        break;
    case 3: on_publish(c, h & 15, p, n); break;
    case 4: /* PUBACK */
    case 7: /* PUBCOMP */
        c->inflight--;
        c->done++;
        break;
    case 5: /* PUBREC */
        if (n < 2) fail_msg("short PUBREC");
        queue_short(c, 0x62, (unsigned)p[0] << 8 | p[1]);
        break;
    case 6: /* PUBREL */
        if (n < 2) fail_msg("short PUBREL");
        queue_short(c, 0x70, (unsigned)p[0] << 8 | p[1]);
        break;
    case 13: /* PINGRESP */ break;
    default: fprintf(stderr, "loadgen: unexpected packet type %d\n", h >> 4); exit(2);
    }
}

static void on_closed(conn_t *c) {
    if (opt_mode != M_IDLE) {
        fprintf(stderr, "loadgen: broker closed connection (role %c, index %d)\n", "psi"[c->role],
                c->idx);
        exit(2);
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    if (c->state != S_READY) nhandshakes--;
    else nready--;
    c->state = S_TCP;
    closed++;
}

/* Handles the complete packets at the start of data[0..len); returns the bytes they took. */
static size_t handle_packets(conn_t *c, const unsigned char *data, size_t len) {
    size_t pos = 0;
    while (len - pos >= 2) {
        size_t rem = 0, mult = 1, i = 1;
        unsigned char digit;
        do {
            if (pos + i >= len) return pos;
            if (i > 4) fail_msg("malformed remaining length");
            digit = data[pos + i++];
            rem += (digit & 127) * mult;
            mult *= 128;
        } while (digit & 128);
        if (pos + i + rem > len) break;
        on_packet(c, data[pos], data + pos + i, rem);
        pos += i + rem;
    }
    return pos;
}

/* One recv() into a shared buffer; only the tail of a packet split across reads is kept per
 * connection, so thousands of connections do not each hold a large input buffer. */
static void on_readable(conn_t *c) {
    static unsigned char chunk[READ_CHUNK];
    ssize_t r = recv(c->fd, chunk, sizeof chunk, 0);
    if (r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE))) {
        on_closed(c);
        return;
    }
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        fail("recv");
    }
    last_progress = now_ns();
    buf_t *b = &c->in;
    if (!pending(b)) {
        size_t used = handle_packets(c, chunk, (size_t)r);
        memcpy(buf_room(b, (size_t)r - used), chunk + used, (size_t)r - used);
        b->len += (size_t)r - used;
        return;
    }
    memcpy(buf_room(b, (size_t)r), chunk, (size_t)r);
    b->len += (size_t)r;
    b->off += handle_packets(c, b->p + b->off, pending(b));
    if (b->off == b->len) b->off = b->len = 0;
}

static void dispatch(struct epoll_event *ev) {
    conn_t *c = ev->data.ptr;
    if (!c) return;  /* stdin, handled by the idle loop */
    if (c->fd < 0) return;
    if (c->state == S_TCP && ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
        finish_tcp(c);
        flush_conn(c);
    } else if (ev->events & EPOLLOUT) {
        flush_conn(c);
    }
    if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
}

/* Waits for events at most timeout_ns (negative: block) and handles them. Returns stdin's
 * readiness so the idle mode can notice its parent closing the pipe. */
static int pump(int64_t timeout_ns) {
    struct epoll_event evs[512];
    struct timespec ts = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
    int n = epoll_pwait2(epfd, evs, 512, timeout_ns < 0 ? NULL : &ts, NULL);
    if (n < 0 && errno != EINTR) fail("epoll_wait");
    int stdin_ready = 0;
    for (int i = 0; i < n; i++) {
        if (!evs[i].data.ptr) stdin_ready = 1;
        dispatch(&evs[i]);
    }
    flush_dirty();
    return stdin_ready;
}

/* Runs the event loop until `ready` connections answered (opening up to `upto`). */
static void connect_all(int upto, int ready, const char *what) {
    uint64_t t0 = now_ns();
    while (nready < ready) {
        ramp(upto);
        flush_dirty();
        pump(10000000);
        if (now_ns() - t0 > 120 * 1000000000ull) {
            fprintf(stderr, "loadgen: %s: only %d of %d connections ready after 120 s\n", what,
                    nready, ready);
            exit(2);
        }
    }
}

/* ---- setup ------------------------------------------------------------------------------ */

static conn_t *new_conn(int role, int idx) {
    conn_t *c = calloc(1, sizeof *c);
    if (!c) fail("calloc");
    c->fd = -1;
    c->role = role;
    c->idx = idx;
    c->topic_len = (size_t)snprintf(c->topic, sizeof c->topic, "%s/%d", opt_prefix, idx);
    conns[nconns++] = c;
    return c;
}

static void raise_fd_limit(int need) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return;
    if (rl.rlim_cur < (rlim_t)need + 64) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl)) fail("setrlimit");
    }
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double percentile_ms(double q) {
    return nlat ? lat_us[(long)((double)(nlat - 1) * q)] / 1000.0 : -1.0;
}

static void usage(void) {
    fputs("usage: loadgen [-h host] [-p port] [-m flow|retained|idle] [-P pubs] [-S subs]\n"
          "               [-n msgs per publisher] [-q qos] [-s payload bytes] [-r msg/s per pub]\n"
          "               [-w window] [-d publish seconds] [-T stall seconds] [-c conns]\n"
          "               [-k keepalive] [-t topic prefix] [-f filter] [-o outstanding]\n"
          "               [-R retained repeats]\n",
          stderr);
    exit(2);
}

static void parse_args(int argc, char **argv) {
    int o;
    while ((o = getopt(argc, argv, "h:p:m:P:S:n:q:s:r:w:d:T:c:k:t:f:o:R:")) != -1) {
        switch (o) {
        case 'h': opt_host = optarg; break;
        case 'p': opt_port = atoi(optarg); break;
        case 'm':
            if (!strcmp(optarg, "flow")) opt_mode = M_FLOW;
            else if (!strcmp(optarg, "retained")) opt_mode = M_RETAINED;
            else if (!strcmp(optarg, "idle")) opt_mode = M_IDLE;
            else usage();
            break;
        case 'P': opt_pubs = atoi(optarg); break;
        case 'S': opt_subs = atoi(optarg); break;
        case 'n': opt_msgs = atol(optarg); break;
        case 'q': opt_qos = atoi(optarg); break;
        case 's': opt_payload = atoi(optarg); break;
        case 'r': opt_rate = atof(optarg); break;
        case 'w': opt_window = atoi(optarg); break;
        case 'd': opt_deadline = atof(optarg); break;
        case 'T': opt_stall = atof(optarg); break;
        case 'c': opt_conns = atoi(optarg); break;
        case 'k': opt_keepalive = atoi(optarg); break;
        case 't': opt_prefix = optarg; break;
        case 'f': opt_filter = optarg; break;
        case 'o': opt_outstanding = atol(optarg); break;
        case 'R': opt_repeats = atoi(optarg); break;
        default: usage();
        }
    }
    if (opt_qos < 0 || opt_qos > 2 || opt_pubs < 0 || opt_subs < 0 || opt_msgs < 0 ||
        opt_window < 1 || opt_outstanding < 1 || opt_repeats < 1 || opt_repeats > 64 || opt_conns < 0 || opt_keepalive < 0 || opt_keepalive > 65535)
        usage();
    if (opt_payload < HEADER_BYTES) opt_payload = HEADER_BYTES;
    if (opt_payload > 65536) opt_payload = 65536;
    snprintf(client_prefix, sizeof client_prefix, "lg%d-", (int)getpid());
    static char prefix[32], filter[64];
    if (!opt_prefix) {
        snprintf(prefix, sizeof prefix, "lg%d", (int)getpid());
        opt_prefix = prefix;
    }
    if (!opt_filter) {
        snprintf(filter, sizeof filter, "%s/#", opt_prefix);
        opt_filter = opt_mode == M_RETAINED ? "#" : filter;
    }
    if (strlen(opt_prefix) > 40) usage();
    memset(&broker_addr, 0, sizeof broker_addr);
    broker_addr.sin_family = AF_INET;
    broker_addr.sin_port = htons((uint16_t)opt_port);
    if (inet_pton(AF_INET, opt_host, &broker_addr.sin_addr) != 1) fail_msg("host must be IPv4");
}

/* ---- modes ------------------------------------------------------------------------------ */

/* Whether the publisher's undelivered copies leave room for another message. Once the
 * budget is used up it waits until half of it has been delivered, so that against a slow
 * broker it sends batches instead of one message per delivery (fewer syscalls here, CPU the
 * broker can have). */
static int within_budget(conn_t *c, long budget) {
    long undelivered = c->sent * opt_subs - c->delivered;
    if (c->throttled && undelivered > budget / 2) return 0;
    c->throttled = undelivered >= budget;
    return !c->throttled;
}

/* Queues what each publisher may send now; returns 1 if some publisher could send more at
 * once (so the loop must not sleep), and sets *next_due to the earliest paced send. */
static int feed_publishers(conn_t **pubs, int npubs, uint64_t now, int publishing,
                           uint64_t *next_due) {
    int more = 0;
    uint64_t interval = opt_rate > 0 ? (uint64_t)(1e9 / opt_rate) : 0;
    long budget = opt_outstanding / npubs > 0 ? opt_outstanding / npubs : 1;
    for (int i = 0; i < npubs; i++) {
        conn_t *c = pubs[i];
        while (publishing && c->sent < opt_msgs && !c->want_out &&
               pending(&c->out) < OUT_HIGH_WATER && c->inflight < (opt_qos ? opt_window : 1) &&
               within_budget(c, budget)) {
            if (interval) {
                if (c->next_due > now) {
                    if (c->next_due < *next_due) *next_due = c->next_due;
                    break;
                }
                c->next_due += interval;
            }
            queue_publish(c, opt_qos, 0);
        }
        if (publishing && c->sent < opt_msgs && !c->want_out && !interval &&
            c->inflight < (opt_qos ? opt_window : 1) && within_budget(c, budget))
            more = 1;
    }
    return more;
}

static int run_flow(void) {
    int total = opt_pubs + opt_subs;
    for (int i = 0; i < opt_subs; i++) new_conn(R_SUB, i);
    for (int i = 0; i < opt_pubs; i++) new_conn(R_PUB, i);
    conn_t **pubs = conns + opt_subs;
    pub_conns = pubs;
    for (int i = 0; i < opt_subs; i++)
        if (!(conns[i]->next_seq = calloc((size_t)opt_pubs + 1, sizeof(uint32_t)))) fail("calloc");
    connect_all(opt_subs, opt_subs, "subscribers");
    connect_all(total, total, "publishers");

    lat_cap = opt_msgs * opt_pubs * (long)opt_subs;
    if (lat_cap > 1L << 23) lat_cap = 1L << 23;
    lat_us = malloc(sizeof *lat_us * (size_t)(lat_cap ? lat_cap : 1));
    if (!lat_us) fail("malloc");

    uint64_t start = now_ns(), last_delivery = start;
    uint64_t deadline = opt_deadline > 0 ? start + (uint64_t)(opt_deadline * 1e9) : UINT64_MAX;
    uint64_t stall = (uint64_t)(opt_stall * 1e9);
    double cpu0 = cpu_seconds();
    last_progress = start;
    if (opt_rate > 0) /* spread paced publishers evenly over one interval */
        for (int i = 0; i < opt_pubs; i++)
            pubs[i]->next_due = start + (uint64_t)(1e9 / opt_rate * i / opt_pubs);
    long sent = 0, done = 0;
    for (;;) {
        uint64_t now = now_ns(), next_due = UINT64_MAX;
        int publishing = now < deadline;
        int more = feed_publishers(pubs, opt_pubs, now, publishing, &next_due);
        flush_dirty();
        sent = done = 0;
        for (int i = 0; i < opt_pubs; i++) {
            sent += pubs[i]->sent;
            done += pubs[i]->done;
        }
        int finished_sending = done == sent && (sent == opt_msgs * opt_pubs || !publishing);
        if (finished_sending && received >= sent * opt_subs) break;
        if (now - last_progress > stall) break;
        int64_t timeout = 100000000;
        if (more) timeout = 0;
        else if (next_due != UINT64_MAX) timeout = next_due > now ? (int64_t)(next_due - now) : 0;
        if (publishing && deadline - now < (uint64_t)timeout) timeout = (int64_t)(deadline - now);
        long before = received;
        pump(timeout);
        if (received != before) last_delivery = now_ns();
    }
    double secs = (last_delivery - start) / 1e9, cpu = cpu_seconds() - cpu0;
    double wall = (now_ns() - start) / 1e9;
    long expected = sent * opt_subs;
    /* Complete: every copy arrived exactly once and in order, and every publish finished. */
    int complete = received >= expected && done == sent && !dups && !gaps;
    qsort(lat_us, (size_t)nlat, sizeof *lat_us, cmp_u32);
    printf("mode=flow pubs=%d subs=%d qos=%d payload=%d sent=%ld expected=%ld received=%ld "
           "dup=%ld gap=%ld secs=%.3f rate=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
           "max_ms=%.3f lg_cpu_pct=%.1f complete=%d\n",
           opt_pubs, opt_subs, opt_qos, opt_payload, sent, expected, received, dups, gaps, secs,
           secs > 0 ? received / secs : 0.0, percentile_ms(0.5), percentile_ms(0.9),
           percentile_ms(0.99), percentile_ms(1.0), wall > 0 ? 100 * cpu / wall : 0.0,
           complete);
    return complete ? 0 : 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_retained(void) {
    conn_t *pub = new_conn(R_PUB, 0);
    /* The subscribers connect first but subscribe one after another once the storm is
     * stored, each timed on its own (-R); the report gives the median. */
    for (int i = 0; i < opt_repeats; i++) new_conn(R_IDLE, i);
    connect_all(nconns, nconns, "retained clients");

    uint64_t stall = (uint64_t)(opt_stall * 1e9), t0 = now_ns();
    double cpu0 = cpu_seconds();
    last_progress = t0;
    for (long i = 0; i < opt_msgs;) {
        /* pub->topic is <prefix>/0; each retained message gets a topic of its own */
        while (i < opt_msgs && pub->inflight < opt_window && pending(&pub->out) < OUT_HIGH_WATER) {
            pub->topic_len = (size_t)snprintf(pub->topic, sizeof pub->topic, "%s/%ld", opt_prefix, i++);
            queue_publish(pub, 1, 1);
        }
        flush_dirty();
        pump(pub->inflight < opt_window && !pub->want_out ? 0 : 100000000);
        if (now_ns() - last_progress > stall) fail_msg("retained publishes were not acknowledged");
    }
    while (pub->done < opt_msgs) {
        pump(100000000);
        if (now_ns() - last_progress > stall) fail_msg("retained publishes were not acknowledged");
    }
    uint64_t t1 = now_ns();
    double times[64];
    long fewest = opt_msgs;
    for (int k = 0; k < opt_repeats; k++) {
        conn_t *sub = conns[1 + k];
        sub->role = R_SUB;
        received = 0;
        uint64_t ts = now_ns(), last = ts;
        queue_subscribe(sub, opt_filter, 0);
        flush_dirty();
        last_progress = ts;
        while (received < opt_msgs && now_ns() - last_progress <= stall) {
            long before = received;
            pump(100000000);
            if (received != before) last = now_ns();
        }
        times[k] = (last - ts) / 1e9;
        if (received < fewest) fewest = received;
    }
    qsort(times, (size_t)opt_repeats, sizeof *times, cmp_double);
    double secs = times[opt_repeats / 2], cpu = cpu_seconds() - cpu0;
    double wall = (now_ns() - t0) / 1e9;
    printf("mode=retained count=%ld pub_secs=%.3f received=%ld repeats=%d secs=%.4f "
           "min_secs=%.4f max_secs=%.4f rate=%.0f lg_cpu_pct=%.1f complete=%d\n",
           opt_msgs, (t1 - t0) / 1e9, fewest, opt_repeats, secs, times[0],
           times[opt_repeats - 1], secs > 0 ? fewest / secs : 0.0, wall > 0 ? 100 * cpu / wall : 0.0,
           fewest >= opt_msgs);
    return fewest >= opt_msgs ? 0 : 1;
}

static int run_idle(void) {
    for (int i = 0; i < opt_conns; i++) new_conn(R_IDLE, i);
    uint64_t t0 = now_ns();
    connect_all(opt_conns, opt_conns, "idle clients");
    printf("ready connected=%d secs=%.3f\n", nready, (now_ns() - t0) / 1e9);
    fflush(stdout);

    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev)) fail("epoll_ctl stdin");
    /* Ping a little before the keepalive runs out, all connections in one sweep. */
    uint64_t period = (uint64_t)opt_keepalive * 750000000ull, next_ping = now_ns() + period;
    for (;;) {
        uint64_t now = now_ns();
        if (opt_keepalive && now >= next_ping) {
            for (int i = 0; i < nconns; i++)
                if (conns[i]->fd >= 0) queue_pingreq(conns[i]);
            flush_dirty();
            next_ping = now + period;
        }
        int64_t timeout = opt_keepalive ? (int64_t)(next_ping - now) : -1;
        if (pump(timeout)) {
            char b[256];
            if (read(STDIN_FILENO, b, sizeof b) <= 0) break;
        }
    }
    printf("mode=idle connected=%d closed=%ld\n", nready, closed);
    return closed ? 1 : 0;
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    int nmax = opt_mode == M_IDLE       ? opt_conns
             : opt_mode == M_RETAINED ? 1 + opt_repeats
                                      : opt_pubs + opt_subs;
    raise_fd_limit(nmax);
    conns = calloc((size_t)nmax + 1, sizeof *conns);
    dirty_list = calloc((size_t)nmax + 1, sizeof *dirty_list);
    if (!conns || !dirty_list) fail("calloc");
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) fail("epoll_create1");
    switch (opt_mode) {
    case M_RETAINED: return run_retained();
    case M_IDLE: return run_idle();
    default: return run_flow();
    }
}
