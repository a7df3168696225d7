/* libFuzzer harness: the JSON reader (rn_json_parse) that cl_bench compare reads result files
 * with, then a walk over every value as compare's flatten does (children, members by key). */
#include <stdlib.h>

#include "base/json.h"

static size_t walk(const rn_json *v, int depth)
{
    size_t n = 1;
    if (depth > 64) abort(); /* the parser promises a bounded depth */
    for (const rn_json *c = rn_json_child(v); c; c = rn_json_next(v, c)) {
        if (v->type == RN_JSON_OBJECT && c->key && rn_json_get(v, c->key) == NULL) abort();
        n += walk(c, depth + 1);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rn_json_doc d;
    if (rn_json_parse(&d, (const char *)data, size) == 0) {
        walk(&d.v[0], 0);
        rn_json_free(&d);
    }
    return 0;
}
