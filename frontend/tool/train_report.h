/* esft train's output on the terminal or in a log: the events of the ES
 * loop (train.h) as a live line and lasting lines (progress.h). */
#ifndef ESFT_TRAIN_REPORT_H
#define ESFT_TRAIN_REPORT_H

#include <stdbool.h>

#include "progress.h"
#include "train.h"

typedef struct esft_train_report {
    esft_progress progress;
} esft_train_report;

/* tty: stderr is a terminal to draw on. */
void esft_train_report_init(esft_train_report *r, bool tty);
void esft_train_report_fini(esft_train_report *r);

/* An esft_train_options.on_event handler; user is the esft_train_report. */
void esft_train_report_event(void *user, const esft_train_event *e);

#endif
