/* JSON helpers shared by the tests that read reference fixtures. */
#ifndef ESFT_TESTJSON_H
#define ESFT_TESTJSON_H

#include <cjson/cJSON.h>
#include <stdint.h>

/* The integers of arr into out[0 .. max); returns how many arr holds. */
static inline int test_json_ints(const cJSON *arr, int32_t *out, int max) {
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (n < max) out[n] = (int32_t)it->valueint;
        n++;
    }
    return n;
}

#endif
