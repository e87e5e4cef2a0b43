/* Progress output of long commands. On a terminal: one live line redrawn
 * in place, at most ~10 times a second, cut to the terminal's width (read
 * with TIOCGWINSZ and again after SIGWINCH) so that it never wraps; lasting
 * lines are laid out field by field within the width. Elsewhere (a log
 * file, a pipe): no live line, lasting lines whole, and a heartbeat line at
 * least every `heartbeat` seconds while work goes on. */
#ifndef ESFT_PROGRESS_H
#define ESFT_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct esft_progress {
    FILE *out;
    bool tty;
    int width;            /* terminal columns (tty) */
    bool live_shown;      /* a live line is on screen */
    double last_live;     /* when the live line was last drawn */
    double last_output;   /* when anything was last printed (heartbeats) */
    double heartbeat;     /* seconds between heartbeat lines when not a tty */
} esft_progress;

/* tty: whether out is a terminal to draw on. The heartbeat interval is 30 s,
 * or $ESFT_PROGRESS_HEARTBEAT seconds. */
void esft_progress_init(esft_progress *p, FILE *out, bool tty);
void esft_progress_fini(esft_progress *p);

/* Is a live redraw (tty) or a heartbeat line (not a tty) due now? */
bool esft_progress_due(const esft_progress *p, double now);

/* tty: redraws the live line with text, cut to the width. Not a tty:
 * prints text as a heartbeat line. */
void esft_progress_update(esft_progress *p, double now, const char *text);

/* Prints one lasting line made of fields: on a tty they are joined with
 * two spaces and wrapped between fields (continuation lines indented), so
 * no field is split; elsewhere they are joined on one line with " | ". */
void esft_progress_fields(esft_progress *p, double now, const char *const *fields, int n);

/* Clears the live line (before other output). */
void esft_progress_clear(esft_progress *p);

#endif
