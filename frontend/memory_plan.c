#include "memory_plan.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t esft_memory_plan_total(const esft_memory_plan *p) {
    return p->master + p->work + p->kv + p->scratch + p->optimizer + p->factors;
}

void esft_format_bytes(uint64_t bytes, char *buf, size_t cap) {
    const double mib = (double)bytes / (1024.0 * 1024.0);
    if (mib >= 1024.0) snprintf(buf, cap, "%.2fG", mib / 1024.0);
    else snprintf(buf, cap, "%.1fM", mib);
}

void esft_memory_plan_describe(const esft_memory_plan *p, char *buf, size_t cap) {
    char t[32], m[32], w[32], k[32], s[32];
    esft_format_bytes(esft_memory_plan_total(p), t, sizeof t);
    esft_format_bytes(p->master, m, sizeof m);
    esft_format_bytes(p->work, w, sizeof w);
    esft_format_bytes(p->kv, k, sizeof k);
    esft_format_bytes(p->scratch, s, sizeof s);
    int len = snprintf(buf, cap, "memory plan %s: master %s, work %s, KV %s, scratch %s", t, m, w, k, s);
    if (p->optimizer && len > 0 && (size_t)len < cap) {
        esft_format_bytes(p->optimizer, m, sizeof m);
        len += snprintf(buf + len, cap - (size_t)len, ", optimizer %s", m);
    }
    if (p->factors && len > 0 && (size_t)len < cap) {
        esft_format_bytes(p->factors, m, sizeof m);
        snprintf(buf + len, cap - (size_t)len, ", factors %s", m);
    }
}

bool esft_parse_size(const char *s, uint64_t *out) {
    char *end;
    if (!s || !isdigit((unsigned char)*s)) return false;
    double v = strtod(s, &end);
    double scale = 1;
    const char *units = "KMGT";
    const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    if (u) {
        for (const char *q = units; q <= u; q++) scale *= 1024;
        end++;
        if (*end == 'i' || *end == 'I') end++;
        if (*end == 'B' || *end == 'b') end++;
    } else if (*end == 'B' || *end == 'b') {
        end++;
    }
    v *= scale;
    if (*end || !isfinite(v) || v < 1 || v >= 18446744073709551615.0) return false;
    *out = (uint64_t)v;
    return true;
}
