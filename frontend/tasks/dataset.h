/* Data sets of records for --data / --eval-data: JSONL (one JSON object per
 * line, blank lines skipped) or one JSON array of objects, told apart by the
 * first character ('[': an array). A record holds a 'prompt' string (or chat
 * 'messages', which need a chat template esft does not apply yet, so they
 * are refused) and whatever fields its reward reads (reward.h). A file is
 * read whole and checked whole before any of it is used; an error names the
 * file, the line where the record starts and the field. */
#ifndef ESFT_DATASET_H
#define ESFT_DATASET_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "status.h"

typedef struct esft_dataset {
    int n;
    cJSON **records; /* [n] JSON objects, owned (a slot may be taken: NULL) */
    int *lines;      /* [n] 1-based line where each record starts */
} esft_dataset;

esft_status esft_dataset_read(const char *path, esft_dataset *out, esft_err *err);
void esft_dataset_free(esft_dataset *d);

/* The prompt of a record ("where" prefixes errors: "FILE:LINE"). */
esft_status esft_record_prompt(const cJSON *record, const char *where, const char **prompt, esft_err *err);

/* The records an eval split of `fraction` (0 < fraction < 1) holds out:
 * held[i] for record i. Records are ordered by a hash of their prompt and
 * taken in that order, whole groups of identical prompts at a time, until
 * round(fraction * n) (at least 1) are held out: the choice depends on the
 * prompts only (not their order in the file), and no prompt is both
 * trained on and held out. Fails when nothing would be left to train on. */
esft_status esft_dataset_hold_out(const char *path, const char *const *prompts, int n, double fraction, bool *held,
                                  esft_err *err);

#endif
