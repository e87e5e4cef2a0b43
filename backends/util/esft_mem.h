/* This process's memory as the kernel counts it (Linux /proc/self/status). */
#ifndef ESFT_MEM_H
#define ESFT_MEM_H

#include <stdbool.h>
#include <stdint.h>

/* Resident set now (VmRSS) and its peak so far (VmHWM), in bytes. False
 * where /proc is not there (both then 0). */
bool esft_process_memory(uint64_t *rss_bytes, uint64_t *peak_bytes);

/* With ESFT_MEM_TRACE set, one line "mem <stage>: rss X MB, peak Y MB" on
 * stderr: where a run's memory goes, stage by stage, for diagnosis. */
void esft_mem_trace(const char *stage);

#endif
