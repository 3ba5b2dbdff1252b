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
 * The fields of a visitor's record, described once.  The list below makes
 * mql_visitor_t (mql_types.h) and drives every encoding of the record:
 *
 *   snapshot       mql_snapshot.c, format 3: the fields in this order
 *   Redis          mql_redis_proto.c and the Function library's layout
 *                  (mql_redis.lua gets it generated from this list at
 *                  build time: build/out/gen/mql_redis_layout.lua)
 *   Redis pairs    the stream's and mql_fields' field/value pairs
 *   DBM record     mql_record.c, and the JSON and CSV of a lead
 *                  (notifications, mqlctl export): fields with a lead name
 *
 * X(type, member, n, redis, lead)
 *   type    MQL_FT_*, below: the C type and how encodings write it
 *   member  its name in mql_visitor_t
 *   n       elements (arrays), bytes (BYTES, CHARS, TEXT), or 1
 *   redis   its name in Redis (the Function library's record table, the
 *           stream's pairs); an array's elements are name0, name1, ...;
 *           NULL: not in Redis's record (the ID is its key)
 *   lead    its name in the DBM record, the JSON and the CSV of a lead,
 *           or NULL: fields with a name there are published as they are
 *           (TEXT: percent-encoded, left out when empty); the record's
 *           first fields have meanings of their own (mql_record.c)
 *
 * A new field goes at the end of the list and nowhere else: a snapshot
 * or a Redis record written before it lacks only its last fields, which
 * read as zero.  The record has no padding (mql_types.h), and with the
 * shared-memory table's own words for it (mql_shm.h,
 * MQL_SHM_VISITOR_OVERHEAD) fits MQL_SHM_VISITOR_BUDGET: checked at
 * build time in mql_shm.c, so a field that fits needs nothing else.
 */
#ifndef MQL_FIELDS_H
#define MQL_FIELDS_H

/* Bytes of shared memory a visitor may cost with every feature on (the
 * record and the table's words for it): the product's bound. */
#define MQL_SHM_VISITOR_BUDGET 144

/* A touch's ID (mql_touch.h): where a visitor came from, first and last */
#define MQL_TOUCH_ID_LEN 8

#define MQL_VISITOR_FIELDS(X) \
    X(BYTES, id,            MQL_ID_BYTES,     NULL,    NULL) \
    X(F64,   score,         1,                "score", NULL) \
    X(U32,   first_seen,    1,                "first", NULL) \
    X(U32,   last_seen,     1,                "last",  NULL) \
    X(U32,   stage_since,   1,                "since", NULL) \
    X(U16S,  counts,        MQL_EV_COUNT,     "c",     NULL) \
    X(U8,    stage,         1,                "stage", NULL) \
    X(U8,    trigger_event, 1,                "tev",   NULL) \
    X(U8,    site,          1,                "site",  NULL) \
    X(U8,    flags,         1,                "flags", NULL) \
    X(CHARS, country,       2,                "cc",    NULL) \
    X(U8S,   caps,          MQL_CAPPED_RULES, "k",     NULL) \
    X(TEXT,  trigger,       MQL_TRIGGER_LEN,  "trig",  NULL) \
    X(TEXT,  first_touch,   MQL_TOUCH_ID_LEN, "ft",    NULL) \
    X(TEXT,  last_touch,    MQL_TOUCH_ID_LEN, "lt",    NULL)

/* Field types: F64 a double (IEEE 754), U32 U16 U8 unsigned numbers,
 * U16S U8S arrays of them, BYTES raw bytes, CHARS a fixed-width code
 * (zeros: none), TEXT a string of at most n - 1 bytes, NUL-terminated. */
typedef enum {
    MQL_FT_F64, MQL_FT_U32, MQL_FT_U16, MQL_FT_U8, MQL_FT_U16S, MQL_FT_U8S,
    MQL_FT_BYTES, MQL_FT_CHARS, MQL_FT_TEXT
} mql_ftype_t;

#define MQL_FT_DECL_F64(m, n)   double m;
#define MQL_FT_DECL_U32(m, n)   uint32_t m;
#define MQL_FT_DECL_U16(m, n)   uint16_t m;
#define MQL_FT_DECL_U8(m, n)    uint8_t m;
#define MQL_FT_DECL_U16S(m, n)  uint16_t m[n];
#define MQL_FT_DECL_U8S(m, n)   uint8_t m[n];
#define MQL_FT_DECL_BYTES(m, n) uint8_t m[n];
#define MQL_FT_DECL_CHARS(m, n) char m[n];
#define MQL_FT_DECL_TEXT(m, n)  char m[n];
#define MQL_FIELD_DECL(t, m, n, redis, lead) MQL_FT_DECL_##t(m, n)

/* MQL_FIELD_id, MQL_FIELD_score, ...: a field's place in the list */
#define MQL_FIELD_ENUM(t, m, n, redis, lead) MQL_FIELD_##m,
typedef enum { MQL_VISITOR_FIELDS(MQL_FIELD_ENUM) MQL_FIELD_COUNT } mql_field_id_t;

/* The list as data, for the encodings that walk it. */
typedef struct mql_field {
    const char *name;          /* member */
    mql_ftype_t type;
    size_t offset;             /* in mql_visitor_t */
    size_t size;               /* bytes in mql_visitor_t */
    size_t n;                  /* elements (arrays), else 1 or bytes */
    const char *redis;
    const char *lead;
} mql_field_t;

extern const mql_field_t mql_fields[MQL_FIELD_COUNT];

struct mql_visitor;

/* A number field's element width in bytes (0: a byte string) and count;
 * element i's value as bits (a double's IEEE 754 bits), and set. */
size_t mql_field_width(const mql_field_t *f);
size_t mql_field_elems(const mql_field_t *f);
uint64_t mql_field_get(const mql_field_t *f, const struct mql_visitor *v, size_t i);
void mql_field_set(const mql_field_t *f, struct mql_visitor *v, size_t i, uint64_t x);

/*
 * The packed form (snapshot format 3): every field in list order, at its
 * width, numbers little-endian, a TEXT field's last byte zero.  The first
 * nfields fields take mql_fields_packed_size(nfields) bytes.  Unpacking
 * takes the fields len holds, which must end at a field's end (a record
 * of a build with fewer fields), and zeroes the rest: the number of
 * fields read, or -1 (a TEXT field without its NUL, a field cut).
 */
size_t mql_fields_packed_size(int nfields);
void mql_fields_pack(const struct mql_visitor *v, uint8_t *out);
int mql_fields_unpack(const uint8_t *in, size_t len, struct mql_visitor *v);

#endif
