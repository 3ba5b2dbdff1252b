/*
 * Shared vocabulary of the mod_mql core: events, stages and the visitor
 * record that lives in shared memory.  No httpd headers here: the core
 * builds against APR alone so that mqlctl and the unit tests can link it.
 */
#ifndef MQL_TYPES_H
#define MQL_TYPES_H

#include <stdint.h>
#include <stddef.h>

#define MQL_ID_BYTES 16          /* 128 random bits per visitor */
#define MQL_KEY_BYTES 16         /* SipHash-2-4 key */

typedef enum {
    MQL_EV_VIEW = 0,
    MQL_EV_DOWNLOAD,
    MQL_EV_FORM,
    MQL_EV_FORM_ERROR,
    MQL_EV_PIXEL,
    MQL_EV_CAMPAIGN,
    MQL_EV_APP,
    MQL_EV_COUNT
} mql_event_t;

#define MQL_EV_BIT(ev) (1u << (ev))

typedef enum {
    MQL_STAGE_VISITOR = 0,
    MQL_STAGE_MQL,
    MQL_STAGE_SQL,
    MQL_STAGE_REJECTED,
    MQL_STAGE_COUNT
} mql_stage_t;

/* A lead is anything past plain visitor: never evicted, written to DBM. */
#define MQL_STAGE_IS_LEAD(s) ((s) != MQL_STAGE_VISITOR)

/* Names as they appear in directives, env vars, DBM records and JSON. */
const char *mql_event_name(mql_event_t ev);          /* "view", "form-error" */
int mql_event_from_name(const char *name);           /* -1 when unknown */
const char *mql_stage_name(mql_stage_t st);          /* "visitor", "mql" */
int mql_stage_from_name(const char *name);           /* -1 when unknown */

/* Visitor flags */
#define MQL_VF_USED    0x01   /* slot holds a visitor */
#define MQL_VF_DIRTY   0x02   /* lead figures changed since the DBM write */
#define MQL_VF_URGENT  0x04   /* stage or contact changed: write at once */
#define MQL_VF_COUNTRY 0x08   /* GeoIP lookup done (country may be "--") */
#define MQL_VF_FIT     0x10   /* country fit points already granted */

#define MQL_CAPPED_RULES 8    /* rules with cap=N, per-visitor counters */
#define MQL_TRIGGER_LEN 36    /* trigger URL path, NUL-terminated, truncated */

/*
 * One visitor: 112 bytes, fixed size, no pointers (the segment is mapped
 * at different addresses in different processes).  Times are Unix seconds
 * in 32 bits, good until 2106.
 */
typedef struct mql_visitor {
    uint8_t  id[MQL_ID_BYTES];
    uint32_t next;            /* hash chain or free list: slot index + 1 */
    uint32_t contact;         /* contact slot index + 1, 0 = none */
    uint32_t first_seen;
    uint32_t last_seen;       /* last event; the decay reference time */
    uint32_t stage_since;     /* when the current stage was reached */
    uint32_t flushed;         /* last DBM write of this record */
    double   score;           /* as of last_seen, before decay */
    uint16_t counts[MQL_EV_COUNT];   /* saturating */
    uint8_t  stage;
    uint8_t  flags;
    uint8_t  trigger_event;   /* event that crossed the threshold */
    char     country[2];      /* ISO 3166 alpha-2, or zeros */
    uint8_t  site;            /* which DBM file (virtual host) holds the lead */
    uint8_t  caps[MQL_CAPPED_RULES]; /* times each capped rule paid */
    char     trigger[MQL_TRIGGER_LEN];
} mql_visitor_t;

_Static_assert(sizeof(mql_visitor_t) == 112, "visitor record must stay 112 bytes");

#define MQL_CONTACT_LEN 124   /* X-MQL-Contact value, NUL-terminated */

#endif
