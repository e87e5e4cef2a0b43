#include "utf8.h"

#include <stdlib.h>
#include <string.h>

size_t esft_utf8_unit(const char *str, size_t len, size_t i, bool *valid) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[i];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) {
        *valid = true;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;  /* no overlong forms */
        if (c == 0xED) hi = 0x9F;  /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;  /* nothing beyond U+10FFFF */
    } else {
        *valid = false; /* stray continuation byte or invalid lead byte */
        return 1;
    }
    size_t k = 1;
    while (k <= need && i + k < len) {
        unsigned char b = s[i + k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
        k++;
    }
    *valid = k == need + 1;
    return k;
}

size_t esft_utf8_length(const char *s, size_t len) {
    size_t count = 0;
    bool valid;
    for (size_t i = 0; i < len; i += esft_utf8_unit(s, len, i, &valid)) count++;
    return count;
}

char *esft_utf8_sanitize(const char *s, size_t len) {
    static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
    /* at most 3 bytes out per byte in (a 1-byte bad unit becomes 3) */
    char *out = malloc(3 * len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        bool valid;
        size_t n = esft_utf8_unit(s, len, i, &valid);
        if (valid && s[i] != '\0') {
            memcpy(out + o, s + i, n);
            o += n;
        } else {
            memcpy(out + o, replacement, 3);
            o += 3;
        }
        i += n;
    }
    out[o] = '\0';
    return out;
}

bool esft_utf8_json_add(cJSON *o, const char *key, const char *s, size_t len) {
    char *text = esft_utf8_sanitize(s, len);
    bool ok = text && cJSON_AddStringToObject(o, key, text) != NULL;
    free(text);
    return ok;
}
