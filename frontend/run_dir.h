/* A run directory (esft train --out DIR): its files, the lock that keeps a
 * second run out, and DIR/run.json, the record of how the run was started
 * (model, data and their fingerprints, eval and checkpoint settings), so
 * that --resume needs no flag again and notices a changed data file. */
#ifndef ESFT_RUN_DIR_H
#define ESFT_RUN_DIR_H

#include <stdbool.h>
#include <stdint.h>

#include "checkpoint.h"
#include "status.h"

/* "dir/name" on the heap; NULL when out of memory. */
char *esft_path_join(const char *dir, const char *name);

/* Creates dir and its parents and checks that it is writable. */
esft_status esft_run_dir_create(const char *dir, esft_err *err);

/* Takes an exclusive lock on DIR/.lock for as long as the process holds
 * the returned descriptor (>= 0); -1 with err naming the holder's pid when
 * another process holds it. */
int esft_run_dir_lock(const char *dir, esft_err *err);
void esft_run_dir_unlock(int fd);

/* Does dir hold a run (any of the files a run writes)? */
bool esft_run_dir_holds_run(const char *dir);
/* Removes the files a run writes (for --overwrite); refuses, removing
 * nothing more, when one of those names is not a regular file. */
esft_status esft_run_dir_clear(const char *dir, esft_err *err);

/* A data file as the run saw it: path, size and FNV-1a 64 of its bytes. */
typedef struct esft_file_print {
    char *path;     /* absolute; NULL: none (the task's built-in set) */
    uint64_t hash;
    long long size; /* -1: not a regular file (a pipe), so not fingerprinted */
} esft_file_print;

/* Fingerprints path (NULL gives the empty print). */
esft_status esft_file_print_take(const char *path, esft_file_print *out, esft_err *err);
bool esft_file_print_equal(const esft_file_print *a, const esft_file_print *b);
void esft_file_print_free(esft_file_print *p);

/* What DIR/run.json records. Strings are owned (free with esft_run_record_free). */
typedef struct esft_run_record {
    esft_run_config cfg;
    char *model;               /* base model path */
    esft_file_print data, eval_data;
    int iters;
    int eval_every, eval_limit, checkpoint_every, max_slots, log_samples;
    char save_dtype[16];
    char save_format[8];       /* gguf | hf | both */
    char work_dtype[8]; /* --work-dtype as given; "" for the backend's default */
} esft_run_record;

/* Writes DIR/run.json atomically. */
esft_status esft_run_record_write(const char *dir, const esft_run_record *r, esft_err *err);
/* Reads DIR/run.json; ESFT_ERR_IO with errno ENOENT when there is none. */
esft_status esft_run_record_read(const char *dir, esft_run_record *r, esft_err *err);
void esft_run_record_free(esft_run_record *r);

#endif
