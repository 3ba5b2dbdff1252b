/*
 * Copyright 2026 mod_mql maintainers
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/*
 * The record's fields as data (mql_fields.h), and the encodings that
 * follow the list alone: the packed form of the snapshot and the Redis
 * record, the Redis pairs, and the layout the Function library unpacks
 * records by.
 */
#include <stdlib.h>
#include <string.h>
#include <apr.h>
#include <apr_strings.h>
#include "mql_le.h"
#include "mql_types.h"

#define FIELD_ENTRY(t, m, n, redis, lead) \
    { #m, MQL_FT_##t, offsetof(mql_visitor_t, m), sizeof(((mql_visitor_t *)0)->m), n, \
      redis, lead },
const mql_field_t mql_fields[MQL_FIELD_COUNT] = { MQL_VISITOR_FIELDS(FIELD_ENTRY) };

/* Bytes of one element of a number field, 0 for the byte strings. */
size_t mql_field_width(const mql_field_t *f)
{
    switch (f->type) {
    case MQL_FT_F64:  return 8;
    case MQL_FT_U32:  return 4;
    case MQL_FT_U16:
    case MQL_FT_U16S: return 2;
    case MQL_FT_U8:
    case MQL_FT_U8S:  return 1;
    default:          return 0;
    }
}

size_t mql_field_elems(const mql_field_t *f)
{
    size_t w = mql_field_width(f);

    return w ? f->size / w : 1;
}

/* Element i of a number field, as its bits. */
uint64_t mql_field_get(const mql_field_t *f, const struct mql_visitor *v, size_t i)
{
    const char *at = (const char *)v + f->offset + i * mql_field_width(f);
    uint64_t x = 0;
    uint32_t u32;
    uint16_t u16;

    switch (mql_field_width(f)) {
    case 8: memcpy(&x, at, 8); break;
    case 4: memcpy(&u32, at, 4); x = u32; break;
    case 2: memcpy(&u16, at, 2); x = u16; break;
    default: x = *(const uint8_t *)at; break;
    }
    return x;
}

void mql_field_set(const mql_field_t *f, struct mql_visitor *v, size_t i, uint64_t x)
{
    char *at = (char *)v + f->offset + i * mql_field_width(f);
    uint32_t u32 = (uint32_t)x;
    uint16_t u16 = (uint16_t)x;

    switch (mql_field_width(f)) {
    case 8: memcpy(at, &x, 8); break;
    case 4: memcpy(at, &u32, 4); break;
    case 2: memcpy(at, &u16, 2); break;
    default: *(uint8_t *)at = (uint8_t)x; break;
    }
}

/* ---- packed: fixed width, little-endian, in list order ---------------- */

size_t mql_fields_packed_size(int nfields)
{
    size_t n = 0;
    int i;

    for (i = 0; i < nfields && i < MQL_FIELD_COUNT; i++)
        n += mql_fields[i].size;
    return n;
}

/* The record has no padding and its fields are in the list's order
 * (mql_types.h): on a little-endian machine the packed form is its bytes,
 * which a million-visitor snapshot writes three times faster than the
 * walk below. */
#define PACKED_IS_RECORD (!APR_IS_BIGENDIAN)

void mql_fields_pack(const struct mql_visitor *v, uint8_t *out)
{
    int i;

    if (PACKED_IS_RECORD) {
        memcpy(out, v, sizeof *v);
        for (i = 0; i < MQL_FIELD_COUNT; i++)
            if (mql_fields[i].type == MQL_FT_TEXT)
                out[mql_fields[i].offset + mql_fields[i].size - 1] = '\0';
        return;
    }

    for (i = 0; i < MQL_FIELD_COUNT; i++) {
        const mql_field_t *f = &mql_fields[i];
        size_t w = mql_field_width(f), k;

        if (w) {
            for (k = 0; k < mql_field_elems(f); k++)
                mql_le_put(out + k * w, mql_field_get(f, v, k), w);
        } else {
            memcpy(out, (const char *)v + f->offset, f->size);
            if (f->type == MQL_FT_TEXT)
                out[f->size - 1] = '\0';
        }
        out += f->size;
    }
}

int mql_fields_unpack(const uint8_t *in, size_t len, struct mql_visitor *v)
{
    int i;

    memset(v, 0, sizeof *v);
    if (PACKED_IS_RECORD) {
        size_t take = 0;

        for (i = 0; i < MQL_FIELD_COUNT && take + mql_fields[i].size <= len; i++)
            take += mql_fields[i].size;
        if (i < MQL_FIELD_COUNT && take != len)
            return -1;
        memcpy(v, in, take);
        while (i-- > 0)
            if (mql_fields[i].type == MQL_FT_TEXT
                && !memchr((char *)v + mql_fields[i].offset, '\0', mql_fields[i].size)) {
                memset(v, 0, sizeof *v);
                return -1;
            }
        for (i = 0; i < MQL_FIELD_COUNT && mql_fields[i].offset < take; i++)
            ;
        return i;
    }
    for (i = 0; i < MQL_FIELD_COUNT && len; i++) {
        const mql_field_t *f = &mql_fields[i];
        size_t w = mql_field_width(f), k;

        if (len < f->size)
            return -1;
        if (w) {
            for (k = 0; k < mql_field_elems(f); k++)
                mql_field_set(f, v, k, mql_le_get(in + k * w, w));
        } else {
            if (f->type == MQL_FT_TEXT && !memchr(in, '\0', f->size))
                return -1;
            memcpy((char *)v + f->offset, in, f->size);
        }
        in += f->size;
        len -= f->size;
    }
    return i;
}
