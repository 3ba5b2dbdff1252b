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

/* What a visitor record says of itself (mql_visitor_t.flags); a store
 * keeps its own bookkeeping elsewhere. */
#define MQL_VF_COUNTRY 0x01   /* GeoIP lookup done (country may be "--") */
#define MQL_VF_FIT     0x02   /* country fit points already granted */

#define MQL_CAPPED_RULES 8    /* rules with cap=N, per-visitor counters */
#define MQL_TRIGGER_LEN 32    /* trigger URL path, NUL-terminated, truncated */

/*
 * One visitor as the module knows it, whatever store holds it: 96 bytes,
 * no pointers and no store's links, so that a store can keep it as it is
 * (the shared-memory table puts its own links beside it) or send it
 * anywhere.  Times are Unix seconds in 32 bits, good until 2106.  The
 * contact (X-MQL-Contact) travels beside it: few visitors have one.
 */
typedef struct mql_visitor {
    uint8_t  id[MQL_ID_BYTES];
    double   score;           /* as of last_seen, before decay */
    uint32_t first_seen;
    uint32_t last_seen;       /* last event; the decay reference time */
    uint32_t stage_since;     /* when the current stage was reached */
    uint16_t counts[MQL_EV_COUNT];   /* saturating */
    uint8_t  stage;
    uint8_t  trigger_event;   /* event that crossed the threshold */
    uint8_t  site;            /* which DBM file (virtual host) holds the lead */
    uint8_t  flags;           /* MQL_VF_* */
    char     country[2];      /* ISO 3166 alpha-2, or zeros */
    uint8_t  caps[MQL_CAPPED_RULES]; /* times each capped rule paid */
    char     trigger[MQL_TRIGGER_LEN];
} mql_visitor_t;

_Static_assert(sizeof(mql_visitor_t) == 96, "a visitor record is 96 bytes");

#define MQL_CONTACT_LEN 124   /* X-MQL-Contact value, NUL-terminated */

#endif
