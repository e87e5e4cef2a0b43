/* UTF-8 as Python decodes bytes with errors="replace": text is a run of
 * units, each a well-formed sequence or a maximal ill-formed subpart that
 * becomes one U+FFFD. Rewards count characters this way, and text esft
 * writes into JSON (responses of a model, which may be any bytes) is made
 * valid UTF-8 this way. */
#ifndef ESFT_UTF8_H
#define ESFT_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Bytes of the unit starting at s[i] (i < len); *valid tells which kind. */
size_t esft_utf8_unit(const char *s, size_t len, size_t i, bool *valid);

/* Characters in s[0..len): one per unit. */
size_t esft_utf8_length(const char *s, size_t len);

/* A NUL-terminated copy of s[0..len) in which every ill-formed unit, and
 * every NUL byte (C strings, cJSON's included, end there), is U+FFFD.
 * NULL when out of memory; free() it. */
char *esft_utf8_sanitize(const char *s, size_t len);

/* Adds s[0..len) (NULL when len is 0) to the JSON object o under key, made
 * valid UTF-8 as above: the way esft writes a model's text into JSON. False
 * when out of memory. */
bool esft_utf8_json_add(cJSON *o, const char *key, const char *s, size_t len);

#endif
