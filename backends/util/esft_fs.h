/* Small file-system helpers: a bounded whole-file reader, mkdir -p, and the
 * per-user cache directory. */
#ifndef ESFT_FS_H
#define ESFT_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The most esft_read_file reads unless told less: data sets, prompts and
 * responses above it are refused rather than read without end. */
#define ESFT_READ_MAX ((size_t)1 << 30)

/* Reads a whole file into a NUL-terminated buffer; "-" reads standard input.
 * Regular files and streams (pipes, FIFOs, stdin) of at most max bytes are
 * read; a directory (EISDIR), a device such as /dev/zero (ENODEV) or anything
 * larger (EFBIG) is refused. NULL on failure (errno; describe it with
 * esft_read_error). The caller frees. */
char *esft_read_file(const char *path, size_t max, size_t *len);
/* What an esft_read_file errno means, in words ("is a directory", ...); EFBIG
 * is worded for ESFT_READ_MAX. */
const char *esft_read_error(int errnum);

/* The value of the first `key : value` line of /proc/cpuinfo (the first
 * CPU's), trimmed, into out; false when the file or the key is absent. */
bool esft_cpuinfo_field(const char *key, char *out, size_t cap);

/* mkdir -p: creates path and its missing parents with the given mode. 0 when
 * path is (now) a directory; -1 with errno otherwise (ENOTDIR: a file is in
 * the way). */
int esft_mkdir_p(const char *path, mode_t mode);

/* The cache directory: $ESFT_CACHE_DIR, else $XDG_CACHE_HOME/esft, else
 * $HOME/.cache/esft (empty variables are skipped), created if missing. false
 * (and out = "") when none is set, it does not fit in cap, or it cannot be
 * created. */
bool esft_cache_dir(char *out, size_t cap);

#endif
