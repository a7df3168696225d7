/* .pth: the zip gives the storages, the restricted unpickler the views onto them; here each view
 * is checked against its storage's real size and turned into an rn_tensor. A "module." prefix on
 * every name (a model saved through DataParallel) is dropped. */
#include "format/pth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/pickle.h"
#include "format/zip.h"

/* The one "<dir>/data.pkl" entry; its folder is the prefix of every other entry. */
static const rn_zip_entry *find_pickle(const rn_zip *z, char *prefix, size_t len)
{
    for (size_t i = 0; i < z->count; i++) {
        const char *n = z->e[i].name, *slash = strchr(n, '/');
        if (slash && !strcmp(slash, "/data.pkl") && (size_t)(slash - n) + 2 <= len) {
            snprintf(prefix, len, "%.*s/", (int)(slash - n), n);
            return &z->e[i];
        }
    }
    return NULL;
}

static int all_prefixed(const rn_pkl_dict *d, const char *p)
{
    for (size_t i = 0; i < d->count; i++)
        if (strncmp(d->t[i].name, p, strlen(p))) return 0;
    return 1;
}

static int add_view(rn_tensors *ts, const rn_zip *z, const char *prefix, const rn_pkl_tensor *p,
                    size_t strip, char *err, size_t errlen)
{
    char key[4096];
    snprintf(key, sizeof key, "%sdata/%s", prefix, p->storage);
    const rn_zip_entry *e = rn_zip_find(z, key);
    if (!e)
        return rn_ts_fail(err, errlen, "tensor %s's storage %s is missing from the zip", p->name,
                          key);
    size_t es = rn_st_dtype_size(p->dtype);
    uint64_t cap = e->size / es;
    if (cap < p->storage_numel || p->offset > cap || p->span > cap - p->offset)
        return rn_ts_fail(err, errlen,
                          "tensor %s needs %llu elements of storage %s but the zip entry holds %zu "
                          "bytes",
                          p->name, (unsigned long long)(p->offset + p->span), key, e->size);
    rn_tensor t = {.dtype = p->dtype, .ndim = p->ndim, .numel = 1};
    for (int d = 0; d < p->ndim; d++) {
        t.shape[d] = p->shape[d];
        t.stride[d] = p->stride[d];
        t.numel *= (size_t)p->shape[d];
    }
    t.data = e->data + p->offset * es;
    if (rn_tensors_add(ts, p->name + strip, p->name, &t))
        return rn_ts_fail(err, errlen, "out of memory or tensor %s appears twice", p->name + strip);
    return 0;
}

static int check_byteorder(const rn_zip *z, const char *prefix, char *err, size_t errlen)
{
    char key[4096];
    snprintf(key, sizeof key, "%sbyteorder", prefix);
    const rn_zip_entry *e = rn_zip_find(z, key);
    if (e && !(e->size == 6 && !memcmp(e->data, "little", 6)))
        return rn_ts_fail(err, errlen, "its tensors are stored big-endian");
    return 0;
}

int rn_pth_parse(rn_tensors *ts, const uint8_t *buf, size_t size, char *err, size_t errlen)
{
    rn_zip z;
    rn_pkl_dict d = {0};
    char prefix[1024];
    if (rn_zip_parse(&z, buf, size, err, errlen)) return -1;
    const rn_zip_entry *pkl = find_pickle(&z, prefix, sizeof prefix);
    int rc = pkl ? check_byteorder(&z, prefix, err, errlen)
                 : rn_ts_fail(err, errlen,
                              "its zip has no <name>/data.pkl entry, so torch.save did not "
                              "write it");
    if (rc == 0) rc = rn_pickle_state_dict(&d, pkl->data, pkl->size, err, errlen);
    size_t strip = rc == 0 && all_prefixed(&d, "module.") ? strlen("module.") : 0;
    for (size_t i = 0; rc == 0 && i < d.count; i++)
        rc = add_view(ts, &z, prefix, &d.t[i], strip, err, errlen);
    for (size_t i = 0; rc == 0 && i < d.ignored_count; i++)
        if (rn_tensors_ignore(ts, d.ignored[i])) rc = rn_ts_fail(err, errlen, "out of memory");
    rn_pkl_dict_free(&d);
    rn_zip_free(&z);
    return rc;
}
