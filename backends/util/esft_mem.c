#include "esft_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "VmRSS:	  12345 kB" -> bytes; 0 when the line is not that key */
static uint64_t status_kb(const char *line, const char *key) {
    size_t k = strlen(key);
    if (strncmp(line, key, k) != 0 || line[k] != ':') return 0;
    return strtoull(line + k + 1, NULL, 10) * 1024u;
}

bool esft_process_memory(uint64_t *rss_bytes, uint64_t *peak_bytes) {
    *rss_bytes = *peak_bytes = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return false;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        uint64_t v;
        if ((v = status_kb(line, "VmRSS"))) *rss_bytes = v;
        if ((v = status_kb(line, "VmHWM"))) *peak_bytes = v;
    }
    fclose(f);
    return *peak_bytes > 0;
}

void esft_mem_trace(const char *stage) {
    const char *on = getenv("ESFT_MEM_TRACE");
    if (!on || !*on) return;
    uint64_t rss, peak;
    if (esft_process_memory(&rss, &peak))
        fprintf(stderr, "mem %s: rss %.1f MB, peak %.1f MB\n", stage, (double)rss / 1e6, (double)peak / 1e6);
}
