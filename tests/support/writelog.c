/*
 * writelog: an LD_PRELOAD shim that records, with their data, the writes a process makes
 * to the files of one directory, and the fsync/fdatasync calls that make them durable.
 *
 * The log is what a power cut is replayed from (tests/support/crashstates.py): every
 * write is there with its offset and bytes, every completed sync marks what a power cut
 * can no longer take away. Records are appended under one lock, each right after the call
 * it describes returned, so the log's order is the order the calls took effect in, across
 * threads. A sync's record is written after the sync returned: a reader that sees the log
 * grow past a sync record knows that sync had completed.
 *
 * Environment: WRITELOG_DIR (absolute directory to watch), WRITELOG_FILE (the log).
 * WRITELOG_LIE=1 drops the sync records (a disk that lies about fsync), for the
 * harness's own test that it notices lost acknowledged data.
 *
 * Record: struct header (below), then `pathlen` bytes of path, then `len` bytes of data.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { OP_OPEN = 1, OP_WRITE = 2, OP_TRUNCATE = 3, OP_SYNC = 4, OP_UNLINK = 5,
       OP_RENAME = 6, OP_SYNCALL = 7 };

struct header {
    uint32_t op;
    uint32_t pathlen;
    uint64_t ino;   /* the file's inode number (OPEN, WRITE, TRUNCATE, SYNC) */
    uint64_t off;   /* WRITE: offset; TRUNCATE: new length; OPEN: 1 if it created the file;
                       SYNC: 1 for fdatasync; RENAME: length of the old path in path */
    uint64_t len;   /* WRITE: data length */
};

#define MAX_FDS 65536
static unsigned char watched[MAX_FDS];
static uint64_t inode_of[MAX_FDS];

static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static int log_fd = -1;
static char dir[PATH_MAX];
static size_t dir_len;
static int lie;
static int ready;

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);
static void (*real_sync)(void);
static int (*real_syncfs)(int);

static void init(void) __attribute__((constructor));
static void init(void) {
    real_open = dlsym(RTLD_NEXT, "open");
    real_open64 = dlsym(RTLD_NEXT, "open64");
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_openat64 = dlsym(RTLD_NEXT, "openat64");
    real_close = dlsym(RTLD_NEXT, "close");
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_unlink = dlsym(RTLD_NEXT, "unlink");
    real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
    real_rename = dlsym(RTLD_NEXT, "rename");
    real_renameat = dlsym(RTLD_NEXT, "renameat");
    real_renameat2 = dlsym(RTLD_NEXT, "renameat2");
    real_sync = dlsym(RTLD_NEXT, "sync");
    real_syncfs = dlsym(RTLD_NEXT, "syncfs");
    const char *d = getenv("WRITELOG_DIR");
    const char *f = getenv("WRITELOG_FILE");
    const char *l = getenv("WRITELOG_LIE");
    lie = l != NULL && l[0] == '1';
    if (d == NULL || f == NULL || strlen(d) >= sizeof dir)
        return;
    strcpy(dir, d);
    dir_len = strlen(dir);
    while (dir_len > 1 && dir[dir_len - 1] == '/')
        dir[--dir_len] = '\0';
    log_fd = real_open(f, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ready = log_fd >= 0;
}

/* One record, written whole: the log is O_APPEND and every record is one write. */
static void emit(uint32_t op, uint64_t ino, uint64_t off, const char *path, size_t pathlen,
                 const void *data, uint64_t len) {
    struct header h = { op, (uint32_t)pathlen, ino, off, len };
    size_t total = sizeof h + pathlen + len;
    char *buf = malloc(total);
    if (buf == NULL)
        abort(); /* a log with a hole in it would replay into nonsense */
    memcpy(buf, &h, sizeof h);
    if (pathlen)
        memcpy(buf + sizeof h, path, pathlen);
    if (len)
        memcpy(buf + sizeof h + pathlen, data, len);
    size_t done = 0;
    while (done < total) {
        ssize_t n = real_write(log_fd, buf + done, total - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
    free(buf);
}

/* Absolute path of `path` as seen from `dirfd`, into out; 0 when it cannot be known. */
static int resolve(int dirfd, const char *path, char *out) {
    char base[PATH_MAX];
    if (path[0] == '/') {
        return snprintf(out, PATH_MAX, "%s", path) < PATH_MAX;
    }
    if (dirfd == AT_FDCWD) {
        if (getcwd(base, sizeof base) == NULL)
            return 0;
    } else {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(link, base, sizeof base - 1);
        if (n < 0)
            return 0;
        base[n] = '\0';
    }
    return snprintf(out, PATH_MAX, "%s/%s", base, path) < PATH_MAX;
}

static int inside(const char *abs) {
    return strncmp(abs, dir, dir_len) == 0 && (abs[dir_len] == '/' || abs[dir_len] == '\0');
}

static int watched_fd(int fd) {
    return ready && fd >= 0 && fd < MAX_FDS && watched[fd];
}

static int do_open(int (*fn)(), int at, int dirfd, const char *path, int flags, mode_t mode) {
    if (!ready) {
        return at ? fn(dirfd, path, flags, mode) : fn(path, flags, mode);
    }
    char abs[PATH_MAX];
    int interesting = resolve(at ? dirfd : AT_FDCWD, path, abs) && inside(abs);
    if (!interesting)
        return at ? fn(dirfd, path, flags, mode) : fn(path, flags, mode);
    pthread_mutex_lock(&lock);
    struct stat before;
    int existed = stat(abs, &before) == 0;
    int fd = at ? fn(dirfd, path, flags, mode) : fn(path, flags, mode);
    if (fd >= 0 && fd < MAX_FDS) {
        struct stat st;
        if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
            watched[fd] = 1;
            inode_of[fd] = st.st_ino;
            emit(OP_OPEN, st.st_ino, existed ? 0 : 1, abs, strlen(abs), NULL, 0);
            if (existed && (flags & O_TRUNC) && S_ISREG(st.st_mode))
                emit(OP_TRUNCATE, st.st_ino, 0, NULL, 0, NULL, 0);
        }
    }
    pthread_mutex_unlock(&lock);
    return fd;
}

#define MODE_ARG(flags, mode)                                  \
    mode_t mode = 0;                                           \
    if ((flags) & (O_CREAT | __O_TMPFILE)) {                   \
        va_list ap;                                            \
        va_start(ap, flags);                                   \
        mode = (mode_t)va_arg(ap, int);                        \
        va_end(ap);                                            \
    }

int open(const char *path, int flags, ...) {
    MODE_ARG(flags, mode);
    return do_open((int (*)())real_open, 0, 0, path, flags, mode);
}
int open64(const char *path, int flags, ...) {
    MODE_ARG(flags, mode);
    return do_open((int (*)())real_open64, 0, 0, path, flags, mode);
}
int openat(int dirfd, const char *path, int flags, ...) {
    MODE_ARG(flags, mode);
    return do_open((int (*)())real_openat, 1, dirfd, path, flags, mode);
}
int openat64(int dirfd, const char *path, int flags, ...) {
    MODE_ARG(flags, mode);
    return do_open((int (*)())real_openat64, 1, dirfd, path, flags, mode);
}

int close(int fd) {
    if (watched_fd(fd)) {
        pthread_mutex_lock(&lock);
        watched[fd] = 0;
        int rc = real_close(fd);
        pthread_mutex_unlock(&lock);
        return rc;
    }
    return real_close(fd);
}

static ssize_t logged_pwrite(ssize_t (*fn)(int, const void *, size_t, off_t), int fd,
                             const void *buf, size_t count, off_t off) {
    if (!watched_fd(fd))
        return fn(fd, buf, count, off);
    pthread_mutex_lock(&lock);
    ssize_t n = fn(fd, buf, count, off);
    if (n > 0)
        emit(OP_WRITE, inode_of[fd], (uint64_t)off, NULL, 0, buf, (uint64_t)n);
    pthread_mutex_unlock(&lock);
    return n;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off) {
    return logged_pwrite(real_pwrite, fd, buf, count, off);
}
ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off) {
    return logged_pwrite(real_pwrite64, fd, buf, count, off);
}

ssize_t write(int fd, const void *buf, size_t count) {
    if (!watched_fd(fd))
        return real_write(fd, buf, count);
    pthread_mutex_lock(&lock);
    off_t off = lseek(fd, 0, SEEK_CUR);
    if (fcntl(fd, F_GETFL) & O_APPEND) {
        struct stat st;
        off = fstat(fd, &st) == 0 ? st.st_size : off;
    }
    ssize_t n = real_write(fd, buf, count);
    if (n > 0)
        emit(OP_WRITE, inode_of[fd], (uint64_t)off, NULL, 0, buf, (uint64_t)n);
    pthread_mutex_unlock(&lock);
    return n;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    if (!watched_fd(fd))
        return real_writev(fd, iov, iovcnt);
    /* Rare on these files: as consecutive writes, which is what it is. */
    ssize_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        ssize_t n = write(fd, iov[i].iov_base, iov[i].iov_len);
        if (n < 0)
            return total ? total : n;
        total += n;
        if ((size_t)n < iov[i].iov_len)
            break;
    }
    return total;
}

static int logged_truncate(int (*fn)(int, off_t), int fd, off_t length) {
    if (!watched_fd(fd))
        return fn(fd, length);
    pthread_mutex_lock(&lock);
    int rc = fn(fd, length);
    if (rc == 0)
        emit(OP_TRUNCATE, inode_of[fd], (uint64_t)length, NULL, 0, NULL, 0);
    pthread_mutex_unlock(&lock);
    return rc;
}

int ftruncate(int fd, off_t length) { return logged_truncate(real_ftruncate, fd, length); }
int ftruncate64(int fd, off_t length) { return logged_truncate(real_ftruncate64, fd, length); }

static int logged_sync(int (*fn)(int), int fd, int data_only) {
    if (!watched_fd(fd))
        return fn(fd);
    /* Held across the sync: nothing else reaches the log between the sync and its record,
       so everything before the record is what the sync covered. */
    pthread_mutex_lock(&lock);
    int rc = fn(fd);
    if (rc == 0 && !lie)
        emit(OP_SYNC, inode_of[fd], (uint64_t)data_only, NULL, 0, NULL, 0);
    pthread_mutex_unlock(&lock);
    return rc;
}

int fsync(int fd) { return logged_sync(real_fsync, fd, 0); }
int fdatasync(int fd) { return logged_sync(real_fdatasync, fd, 1); }

void sync(void) {
    pthread_mutex_lock(&lock);
    real_sync();
    if (ready && !lie)
        emit(OP_SYNCALL, 0, 0, NULL, 0, NULL, 0);
    pthread_mutex_unlock(&lock);
}

int syncfs(int fd) {
    pthread_mutex_lock(&lock);
    int rc = real_syncfs(fd);
    if (rc == 0 && ready && !lie)
        emit(OP_SYNCALL, 0, 0, NULL, 0, NULL, 0);
    pthread_mutex_unlock(&lock);
    return rc;
}

static int logged_unlink(int dirfd, const char *path, int flags) {
    char abs[PATH_MAX];
    if (!ready || !resolve(dirfd, path, abs) || !inside(abs))
        return dirfd == AT_FDCWD && flags == 0 ? real_unlink(path)
                                              : real_unlinkat(dirfd, path, flags);
    pthread_mutex_lock(&lock);
    int rc = real_unlinkat(dirfd, path, flags);
    if (rc == 0)
        emit(OP_UNLINK, 0, 0, abs, strlen(abs), NULL, 0);
    pthread_mutex_unlock(&lock);
    return rc;
}

int unlink(const char *path) { return logged_unlink(AT_FDCWD, path, 0); }
int unlinkat(int dirfd, const char *path, int flags) { return logged_unlink(dirfd, path, flags); }

static int logged_rename(int olddir, const char *oldpath, int newdir, const char *newpath,
                         unsigned int flags) {
    char a[PATH_MAX], b[PATH_MAX];
    int known = ready && resolve(olddir, oldpath, a) && resolve(newdir, newpath, b);
    if (!known || (!inside(a) && !inside(b)))
        return real_renameat2 ? real_renameat2(olddir, oldpath, newdir, newpath, flags)
                              : real_renameat(olddir, oldpath, newdir, newpath);
    pthread_mutex_lock(&lock);
    int rc = flags ? real_renameat2(olddir, oldpath, newdir, newpath, flags)
                   : real_renameat(olddir, oldpath, newdir, newpath);
    if (rc == 0) {
        char both[2 * PATH_MAX];
        size_t la = strlen(a), lb = strlen(b);
        memcpy(both, a, la);
        memcpy(both + la, b, lb);
        emit(OP_RENAME, 0, la, both, la + lb, NULL, 0);
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int rename(const char *oldpath, const char *newpath) {
    return logged_rename(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}
int renameat(int olddir, const char *oldpath, int newdir, const char *newpath) {
    return logged_rename(olddir, oldpath, newdir, newpath, 0);
}
int renameat2(int olddir, const char *oldpath, int newdir, const char *newpath,
              unsigned int flags) {
    return logged_rename(olddir, oldpath, newdir, newpath, flags);
}
