/* LD_PRELOAD shim for fault-injection tests: makes writes to files under a
 * path prefix fail once a byte budget is spent, as a full disk (ENOSPC) or a
 * failing one (EIO) would, and reads of files under another prefix fail
 * with EIO once theirs is spent, as a failing disk would. Other files
 * (stdout, stderr, everything else) are left alone.
 *
 *   PROMBLOCK_FAIL_PREFIX       absolute path prefix of the files whose writes fail
 *   PROMBLOCK_FAIL_AFTER        bytes that may still be written (default 0)
 *   PROMBLOCK_FAIL_ERRNO        ENOSPC (default) or EIO
 *   PROMBLOCK_FAIL_READ_PREFIX  absolute path prefix of the files whose reads fail
 *   PROMBLOCK_FAIL_READ_AFTER   bytes that may still be read (default 0)
 *
 * Covers write, pwrite, writev and fsync/fdatasync (which fail too once the
 * budget is spent, as they do when the disk fills up during writeback), and
 * read, pread and readv. Mapped files are not covered: a failing read of
 * one arrives as SIGBUS (see test_input_faults.py). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long long budget = -1; /* -1: not read from the environment yet */
static const char *prefix;
static int fail_errno = ENOSPC;
static long long read_budget;
static const char *read_prefix;

static void init(void) {
  if (budget != -1) return;
  prefix = getenv("PROMBLOCK_FAIL_PREFIX");
  const char *after = getenv("PROMBLOCK_FAIL_AFTER");
  budget = after ? atoll(after) : 0;
  const char *e = getenv("PROMBLOCK_FAIL_ERRNO");
  if (e && strcmp(e, "EIO") == 0) fail_errno = EIO;
  read_prefix = getenv("PROMBLOCK_FAIL_READ_PREFIX");
  const char *read_after = getenv("PROMBLOCK_FAIL_READ_AFTER");
  read_budget = read_after ? atoll(read_after) : 0;
}

/* Whether fd is a file under the prefix p. */
static int under(int fd, const char *p) {
  if (!p || !*p) return 0;
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  return strncmp(path, p, strlen(p)) == 0;
}

static int targeted(int fd) {
  init();
  return under(fd, prefix);
}

/* How many of `want` bytes may pass to a file under `p`, taken from
 * *left; -1 with errno `err` when none may. Files elsewhere pass whole. */
static ssize_t take(int fd, const char *p, long long *left, int err, size_t want) {
  if (!under(fd, p)) return (ssize_t)want;
  if (*left <= 0) {
    errno = err;
    return -1;
  }
  size_t n = (long long)want < *left ? want : (size_t)*left;
  *left -= (long long)n;
  return (ssize_t)n;
}

/* How many of `want` bytes may be written; -1 (errno set) when none. */
static ssize_t allowance(int fd, size_t want) {
  init(); /* before its settings are read */
  return take(fd, prefix, &budget, fail_errno, want);
}

ssize_t write(int fd, const void *buf, size_t count) {
  static ssize_t (*real)(int, const void *, size_t);
  if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
  ssize_t n = allowance(fd, count);
  return n < 0 ? -1 : real(fd, buf, (size_t)n);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
  static ssize_t (*real)(int, const void *, size_t, off_t);
  if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
  ssize_t n = allowance(fd, count);
  return n < 0 ? -1 : real(fd, buf, (size_t)n, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
  return pwrite(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
  static ssize_t (*real)(int, const struct iovec *, int);
  if (!real) real = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
  if (!targeted(fd)) return real(fd, iov, iovcnt);
  /* One buffer at a time keeps the accounting simple; short writes are legal. */
  for (int i = 0; i < iovcnt; ++i)
    if (iov[i].iov_len > 0) return write(fd, iov[i].iov_base, iov[i].iov_len);
  return 0;
}

static int sync_result(int fd, int (*real)(int)) {
  if (targeted(fd) && budget <= 0) {
    errno = fail_errno;
    return -1;
  }
  return real(fd);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  return sync_result(fd, real);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return sync_result(fd, real);
}

/* How many of `want` bytes may be read; -1 (errno EIO) when none. */
static ssize_t read_allowance(int fd, size_t want) {
  init(); /* before its settings are read */
  return take(fd, read_prefix, &read_budget, EIO, want);
}

ssize_t read(int fd, void *buf, size_t count) {
  static ssize_t (*real)(int, void *, size_t);
  if (!real) real = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
  ssize_t n = read_allowance(fd, count);
  return n < 0 ? -1 : real(fd, buf, (size_t)n);
}

ssize_t pread(int fd, void *buf, size_t count, off_t offset) {
  static ssize_t (*real)(int, void *, size_t, off_t);
  if (!real) real = (ssize_t(*)(int, void *, size_t, off_t))dlsym(RTLD_NEXT, "pread");
  ssize_t n = read_allowance(fd, count);
  return n < 0 ? -1 : real(fd, buf, (size_t)n, offset);
}

ssize_t pread64(int fd, void *buf, size_t count, off_t offset) {
  return pread(fd, buf, count, offset);
}

ssize_t readv(int fd, const struct iovec *iov, int iovcnt) {
  static ssize_t (*real)(int, const struct iovec *, int);
  if (!real) real = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "readv");
  init();
  if (!under(fd, read_prefix)) return real(fd, iov, iovcnt);
  for (int i = 0; i < iovcnt; ++i)
    if (iov[i].iov_len > 0) return read(fd, iov[i].iov_base, iov[i].iov_len);
  return 0;
}
