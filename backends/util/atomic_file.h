/* Files written whole and atomically: every file esft writes goes through
 * here. The bytes go to a temporary file beside the target,
 * "<path>.tmp.<pid>", which is flushed to disk and then renamed over the
 * target (and the directory synced), so a reader sees the old file or the
 * new one, never a torn one.
 *
 * A target that exists and is not a regular file is refused with a one-line
 * error: renaming over a device (/dev/null), a FIFO or a directory would
 * replace the node itself, and renaming over a symbolic link would replace
 * the link, not the file it points to. The check uses lstat, so a link is
 * refused even when it points to a regular file: write to the link's target
 * path instead.
 *
 * A writer killed mid-write leaves its temporary file behind;
 * esft_atomic_remove_stale() removes those whose writer is gone. This file
 * sits below the backends so that their program caches share it. */
#ifndef ESFT_ATOMIC_FILE_H
#define ESFT_ATOMIC_FILE_H

#include <stdbool.h>
#include <stdio.h>

#include "status.h"

typedef struct esft_atomic_file {
    FILE *fp;   /* write here between open and commit */
    char *path; /* the target */
    char *tmp;  /* "<path>.tmp.<pid>" */
} esft_atomic_file;

/* Refuses (ESFT_ERR_IO, message names the path and what it is) a path that
 * exists and is not a regular file; a missing path is fine. */
esft_status esft_atomic_check_target(const char *path, esft_err *err);

/* Creates the temporary file. On success f->fp is open for writing; end
 * with esft_atomic_commit or esft_atomic_discard. */
esft_status esft_atomic_open(esft_atomic_file *f, const char *path, esft_err *err);
/* Flushes, syncs and renames over the target; on any failure (including an
 * earlier write error on f->fp) the temporary file is removed and the
 * target left as it was. Always releases f. */
esft_status esft_atomic_commit(esft_atomic_file *f, esft_err *err);
/* Abandons the write: closes and removes the temporary file. Releases f;
 * a no-op on a released or zeroed f. */
void esft_atomic_discard(esft_atomic_file *f);

/* open + one write of n bytes + commit. */
esft_status esft_atomic_write(const char *path, const void *data, size_t n, esft_err *err);

/* True when `name` (a file name, no directory) has the temporary-file form
 * "<non-empty>.tmp.<pid>" with a decimal pid (no sign, no leading zero). */
bool esft_atomic_temp_pid(const char *name, long *pid);

/* Removes the temporary files in `dir` left by writers that are gone:
 * regular files named "<name>.tmp.<pid>" whose pid is no live process
 * (kill(pid, 0) fails with ESRCH). A live pid, a pid this process may not
 * signal (EPERM: alive), a non-matching name or a non-regular file is kept.
 * Returns the number removed, or -1 when dir cannot be read. */
int esft_atomic_remove_stale(const char *dir);

#endif
