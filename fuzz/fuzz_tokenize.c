/* libFuzzer target: ua_tokenize on arbitrary bytes. It must never crash; invalid UTF-8 must be
 * an error (agreeing with ua_utf8_valid), and valid input must give tokens that, with
 * whitespace and quote characters removed, spell the lowercased input (the NLTK rules only
 * insert spaces and rewrite double quotes as `` or ''). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/tokenize.h"

/* bytes in the UTF-8 character that starts with c (input already known to be valid) */
static size_t char_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* length of the str.isspace() character at s (n > 0 bytes left), else 0 */
static size_t space_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80) return ((s[0] >= 0x09 && s[0] <= 0x0D) || (s[0] >= 0x1C && s[0] <= 0x20)) ? 1 : 0;
    size_t len = char_len(s[0]);
    if (len > 3 || len > n) return 0;
    uint32_t c = len == 2 ? (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F)
                          : (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    int sp = c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
             c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
    return sp ? len : 0;
}

/* writes s without whitespace and without the bytes " ' `, lowercasing A-Z */
static size_t squeeze(char *out, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t w = 0, i = 0;
    while (i < n) {
        size_t sp = space_len(s + i, n - i);
        if (sp) {
            i += sp;
            continue;
        }
        size_t len = char_len(s[i]);
        if (len > n - i) len = n - i;
        for (size_t k = 0; k < len; k++, i++) {
            unsigned char c = s[i];
            if (c == '"' || c == '\'' || c == '`') continue;
            out[w++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    }
    return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ua_tokenizer *tok;
    static ua_tokens tokens;
    ua_err err;
    if (!tok && !(tok = ua_tokenizer_new(&err))) abort();
    if (size > 4096) return 0; /* some NLTK rules backtrack quadratically, as in Python */
    const char *s = (const char *)data;
    int valid = ua_utf8_valid(s, size, NULL);
    int rc = ua_tokenize(tok, s, size, &tokens, &err);
    if (!valid) {
        if (rc != -1 || !strstr(err.msg, "invalid UTF-8")) abort();
        return 0;
    }
    if (rc != 0) {
        /* only a PCRE2 resource limit may fail a valid line */
        if (!strstr(err.msg, "tokenizer: rule")) abort();
        return 0;
    }
    if (memchr(s, 0, size)) return 0; /* a NUL ends a token as a C string */
    char *a = malloc(size + 1), *b = malloc(2 * size + 1);
    size_t na = squeeze(a, s, size), nb = 0, total = 0;
    for (int i = 0; i < tokens.n; i++) {
        const char *t = tokens.tok[i];
        size_t len = strlen(t);
        total += len;
        /* a token is non-empty valid UTF-8 without whitespace; quotes at most double */
        if (len == 0 || total > 2 * size || !ua_utf8_valid(t, len, NULL)) abort();
        for (size_t k = 0; k < len; k += char_len((unsigned char)t[k]))
            if (space_len((const unsigned char *)t + k, len - k)) abort();
        nb += squeeze(b + nb, t, len);
    }
    if (na != nb || memcmp(a, b, na) != 0) abort();
    free(a);
    free(b);
    return 0;
}
