#include "progress.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

enum { FALLBACK_WIDTH = 80, MIN_WIDTH = 20 };
static const double LIVE_INTERVAL = 0.1; /* seconds between live redraws */

/* Set by SIGWINCH; the next draw re-reads the width. One flag for the
 * process: a terminal has one size. */
static volatile sig_atomic_t resized;
static struct sigaction previous_winch;
static bool handler_installed;

static void on_winch(int sig) {
    (void)sig;
    resized = 1;
}

static int read_width(FILE *out) {
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col < MIN_WIDTH ? MIN_WIDTH : ws.ws_col;
    return FALLBACK_WIDTH;
}

void esft_progress_init(esft_progress *p, FILE *out, bool tty) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = tty;
    p->heartbeat = 30;
    const char *hb = getenv("ESFT_PROGRESS_HEARTBEAT");
    if (hb && atof(hb) > 0) p->heartbeat = atof(hb);
    p->last_live = -1e9;
    if (!tty) return;
    p->width = read_width(out);
    if (!handler_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_winch;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        handler_installed = sigaction(SIGWINCH, &sa, &previous_winch) == 0;
    }
}

void esft_progress_fini(esft_progress *p) {
    esft_progress_clear(p);
    if (p->tty && handler_installed) {
        sigaction(SIGWINCH, &previous_winch, NULL);
        handler_installed = false;
    }
}

static void refresh_width(esft_progress *p) {
    if (p->tty && resized) {
        resized = 0;
        p->width = read_width(p->out);
    }
}

bool esft_progress_due(const esft_progress *p, double now) {
    if (p->tty) return now - p->last_live >= LIVE_INTERVAL;
    return now - p->last_output >= p->heartbeat;
}

void esft_progress_update(esft_progress *p, double now, const char *text) {
    if (!p->tty) {
        fprintf(p->out, "%s\n", text);
        fflush(p->out);
        p->last_output = now;
        return;
    }
    refresh_width(p);
    /* the last column stays empty: writing it makes some terminals wrap */
    int room = p->width - 1;
    fprintf(p->out, "\r%.*s\033[K", room, text);
    fflush(p->out);
    p->live_shown = true;
    p->last_live = now;
}

void esft_progress_clear(esft_progress *p) {
    if (!p->tty || !p->live_shown) return;
    fputs("\r\033[K", p->out);
    fflush(p->out);
    p->live_shown = false;
}

void esft_progress_fields(esft_progress *p, double now, const char *const *fields, int n) {
    if (!p->tty) {
        for (int i = 0; i < n; i++) fprintf(p->out, "%s%s", i ? " | " : "", fields[i]);
        fputc('\n', p->out);
        fflush(p->out);
        p->last_output = now;
        return;
    }
    esft_progress_clear(p);
    refresh_width(p);
    static const char indent[] = "    ";
    const int room = p->width - 1;
    int col = 0;
    for (int i = 0; i < n; i++) {
        int len = (int)strlen(fields[i]);
        if (col > 0 && col + 2 + len > room) {
            /* indented, unless that alone would make it wrap */
            const bool indented = (int)sizeof indent - 1 + len <= room;
            fprintf(p->out, "\n%s", indented ? indent : "");
            col = indented ? (int)sizeof indent - 1 : 0;
        } else if (col > 0) {
            fputs("  ", p->out);
            col += 2;
        }
        fputs(fields[i], p->out);
        col += len;
    }
    fputc('\n', p->out);
    fflush(p->out);
    p->last_output = now;
}
