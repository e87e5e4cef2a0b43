#include "esft_fs.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *esft_read_error(int errnum) {
    switch (errnum) {
    case EISDIR: return "is a directory";
    case ENODEV: return "is a device, not a file";
    case EFBIG: return "larger than the 1 GiB limit";
    default: return strerror(errnum);
    }
}

/* Refuses what cannot be read as a file: a directory, a device, a regular
 * file over the limit (streams are checked while reading). */
static int check_readable(int fd, bool is_stdin, size_t max) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) return errno;
    if (S_ISDIR(sb.st_mode)) return EISDIR;
    if ((S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode)) && !is_stdin) return ENODEV;
    if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > max) return EFBIG;
    return 0;
}

char *esft_read_file(const char *path, size_t max, size_t *len) {
    const bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    int e = check_readable(fileno(f), is_stdin, max);
    size_t cap = 4096, n = 0;
    char *buf = e ? NULL : malloc(cap);
    if (!e && !buf) e = ENOMEM;
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
        if (n > max) {
            e = EFBIG;
            break;
        }
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                e = ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (!e && ferror(f)) e = EIO;
    if (!is_stdin) fclose(f);
    if (e) {
        free(buf);
        errno = e;
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* mkdir that accepts an existing directory; ENOTDIR when something else is
 * there. */
static int mkdir_one(const char *path, mode_t mode) {
    if (mkdir(path, mode) == 0) return 0;
    if (errno != EEXIST) return -1;
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int esft_mkdir_p(const char *path, mode_t mode) {
    if (!path[0]) {
        errno = ENOENT;
        return -1;
    }
    char *tmp = strdup(path);
    if (!tmp) return -1;
    int rc = 0;
    /* each parent, then path itself; a leading '/' is not a parent */
    for (char *p = tmp + 1; *p && rc == 0; p++) {
        if (*p != '/' || p[-1] == '/') continue;
        *p = '\0';
        rc = mkdir_one(tmp, mode);
        *p = '/';
    }
    if (rc == 0) rc = mkdir_one(tmp, mode);
    int e = errno;
    free(tmp);
    errno = e;
    return rc;
}

bool esft_cache_dir(char *out, size_t cap) {
    const char *env = getenv("ESFT_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n = -1;
    if (env && env[0])
        n = snprintf(out, cap, "%s", env);
    else if (xdg && xdg[0])
        n = snprintf(out, cap, "%s/esft", xdg);
    else if (home && home[0])
        n = snprintf(out, cap, "%s/.cache/esft", home);
    if (n < 0 || (size_t)n >= cap || esft_mkdir_p(out, 0755) != 0) {
        if (cap) out[0] = '\0';
        return false;
    }
    return true;
}

bool esft_cpuinfo_field(const char *key, char *out, size_t cap) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    const size_t klen = strlen(key);
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (!colon || strncmp(line, key, klen) != 0 || strspn(line + klen, " \t") != (size_t)(colon - line) - klen)
            continue;
        const char *p = colon + 1 + strspn(colon + 1, " \t");
        size_t len = strcspn(p, "\n");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        snprintf(out, cap, "%.*s", (int)len, p);
        found = true;
    }
    fclose(f);
    return found;
}
