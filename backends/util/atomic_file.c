/* Atomic whole-file writes (temp file, fsync, rename, directory fsync) and
 * the clean-up of temporaries that a killed writer left behind. */
#define _GNU_SOURCE /* dirfd, fstatat flags */
#include "atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_MARK ".tmp."

static const char *node_kind(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISLNK(m)) return "a symbolic link";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

/* A new file needs a directory it can be created in. */
static esft_status check_new_file_dir(const char *path, esft_err *err) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + (slash == path) : 1, slash ? path : ".");
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return esft_errf(err, ESFT_ERR_IO, "%s: the directory %s does not exist", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return esft_errf(err, ESFT_ERR_IO, "%s: cannot create files in %s: %s", path, dir, strerror(errno));
    return ESFT_OK;
}

esft_status esft_atomic_check_target(const char *path, esft_err *err) {
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? check_new_file_dir(path, err) : esft_errf(err, ESFT_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode)) return ESFT_OK;
    return esft_errf(err, ESFT_ERR_IO, "%s is %s, not a regular file; esft writes only regular files",
                     path, node_kind(st.st_mode));
}

static void release(esft_atomic_file *f) {
    free(f->path);
    free(f->tmp);
    f->fp = NULL;
    f->path = f->tmp = NULL;
}

esft_status esft_atomic_open(esft_atomic_file *f, const char *path, esft_err *err) {
    memset(f, 0, sizeof *f);
    esft_status st = esft_atomic_check_target(path, err);
    if (st) return st;
    size_t len = strlen(path) + sizeof TMP_MARK + 24;
    f->path = strdup(path);
    f->tmp = malloc(len);
    if (!f->path || !f->tmp) {
        release(f);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    snprintf(f->tmp, len, "%s" TMP_MARK "%ld", path, (long)getpid());
    /* A file of this name is this pid's: left by an earlier process that had
     * the same pid, or by an earlier failed write of this one. */
    struct stat ts;
    if (lstat(f->tmp, &ts) == 0 && S_ISREG(ts.st_mode)) unlink(f->tmp);
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        st = esft_errf(err, ESFT_ERR_IO, "cannot create %s: %s", f->tmp, strerror(errno));
        release(f);
        return st;
    }
    /* A replaced file keeps its permissions. */
    struct stat ps;
    if (stat(path, &ps) == 0) (void)fchmod(fd, ps.st_mode & 07777);
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        st = esft_errf(err, ESFT_ERR_IO, "%s: %s", f->tmp, strerror(errno));
        close(fd);
        unlink(f->tmp);
        release(f);
    }
    return st;
}

/* Makes a rename in path's directory durable (best effort). */
static void sync_dir_of(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    char *slash = strrchr(copy, '/');
    const char *dir = ".";
    if (slash == copy) dir = "/";
    else if (slash) *slash = 0, dir = copy;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(copy);
}

esft_status esft_atomic_commit(esft_atomic_file *f, esft_err *err) {
    if (!f->fp) return esft_errf(err, ESFT_ERR_INVALID_ARG, "atomic write: file not open");
    int e = 0;
    if (ferror(f->fp)) e = errno ? errno : EIO;
    if (!e && fflush(f->fp) != 0) e = errno;
    if (!e && fsync(fileno(f->fp)) != 0) e = errno;
    if (fclose(f->fp) != 0 && !e) e = errno;
    f->fp = NULL;
    /* the target may have been replaced by something else meanwhile */
    esft_status st = e ? ESFT_OK : esft_atomic_check_target(f->path, err);
    if (!e && !st && rename(f->tmp, f->path) != 0) e = errno;
    if (e || st) {
        unlink(f->tmp);
        if (!st) st = esft_errf(err, ESFT_ERR_IO, "%s: write failed: %s", f->path, strerror(e));
        release(f);
        return st;
    }
    sync_dir_of(f->path);
    release(f);
    return ESFT_OK;
}

void esft_atomic_discard(esft_atomic_file *f) {
    if (f->fp) fclose(f->fp);
    if (f->tmp) unlink(f->tmp);
    release(f);
}

esft_status esft_atomic_write(const char *path, const void *data, size_t n, esft_err *err) {
    esft_atomic_file f;
    esft_status st = esft_atomic_open(&f, path, err);
    if (st) return st;
    if (n && fwrite(data, 1, n, f.fp) != n) {
        int e = errno;
        esft_atomic_discard(&f);
        return esft_errf(err, ESFT_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return esft_atomic_commit(&f, err);
}

bool esft_atomic_temp_pid(const char *name, long *pid) {
    const char *mark = NULL;
    for (const char *p = strstr(name, TMP_MARK); p; p = strstr(p + 1, TMP_MARK)) mark = p;
    if (!mark || mark == name) return false;
    const char *d = mark + strlen(TMP_MARK);
    if (*d < '1' || *d > '9') return false; /* no sign, no leading zero, not empty */
    long v = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9' || v > (INT_MAX - (*d - '0')) / 10) return false;
        v = v * 10 + (*d - '0');
    }
    *pid = v;
    return true;
}

int esft_atomic_remove_stale(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int removed = 0;
    for (struct dirent *de = readdir(d); de; de = readdir(d)) {
        long pid;
        if (!esft_atomic_temp_pid(de->d_name, &pid)) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* its writer may still be at work */
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0) removed++;
    }
    closedir(d);
    return removed;
}
