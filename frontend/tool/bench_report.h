/* `esft bench report`: every device esft can open, measured the same way,
 * in one Markdown and JSON report; `esft bench compare` sets two side by
 * side. Each device runs in a child process (`esft bench device`, hidden)
 * with a time budget, so one that fails or hangs is reported as such. */
#ifndef ESFT_BENCH_REPORT_H
#define ESFT_BENCH_REPORT_H

#include <stdbool.h>

typedef struct bench_device_args {
    const char *backend;
    int device;
    int threads;
    const char *model;
    bool quick;
    const char *json_path; /* where the device's JSON object goes */
} bench_device_args;

struct cJSON;

/* key: v into a report object; null for NaN/inf (a fraction with no limit,
 * a figure not measured), which cJSON would write as invalid JSON. */
void bench_json_number(struct cJSON *o, const char *key, double v);

/* The child: measures one device; returns the exit code. */
int bench_device_main(const bench_device_args *a);

/* The subcommands (argv[0] = "report", "compare", "device"). */
int bench_report_command(int argc, char **argv);
int bench_compare_command(int argc, char **argv);
int bench_device_command(int argc, char **argv);

#endif
