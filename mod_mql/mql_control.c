/*
 * The control protocol between mqlctl and a running server (see
 * mql_control.h): both sides format and parse it here.
 */
#include <string.h>
#include <apr_strings.h>

#include "mql_control.h"
#include "mql_cookie.h"

const char *mql_control_format(apr_pool_t *p, mql_control_verb_t verb, const char *id_text,
                               mql_stage_t stage)
{
    if (verb == MQL_CONTROL_FORGET)
        return apr_psprintf(p, "forget %s\n", id_text);
    return apr_psprintf(p, "set %s %s\n", id_text, mql_stage_name(stage));
}

int mql_control_parse(apr_pool_t *p, const char *text, mql_control_t *out,
                      const char **verb_seen)
{
    char *line = apr_pstrdup(p, text), *last, *verb, *idtext, *arg, *extra;
    int stage;

    memset(out, 0, sizeof *out);
    line[strcspn(line, "\r\n")] = '\0';
    verb = apr_strtok(line, " \t", &last);
    idtext = apr_strtok(NULL, " \t", &last);
    arg = apr_strtok(NULL, " \t", &last);
    extra = apr_strtok(NULL, " \t", &last);
    if (verb_seen)
        *verb_seen = verb ? verb : "";
    if (!verb || !idtext || !mql_id_from_text(idtext, strlen(idtext), out->id))
        return MQL_CONTROL_MALFORMED;
    out->id_text = idtext;
    if (!strcmp(verb, "forget") && !arg) {
        out->verb = MQL_CONTROL_FORGET;
        return MQL_CONTROL_OK;
    }
    if (!strcmp(verb, "set") && arg && !extra
        && (stage = mql_stage_from_name(arg)) > MQL_STAGE_VISITOR) {
        out->verb = MQL_CONTROL_SET;
        out->stage = (mql_stage_t)stage;
        return MQL_CONTROL_OK;
    }
    return MQL_CONTROL_UNKNOWN;
}

const char *mql_control_temp_name(apr_pool_t *p, long pid, uint32_t rnd)
{
    return apr_psprintf(p, ".tmp.%ld.%08x", pid, (unsigned)rnd);
}

const char *mql_control_request_name(apr_pool_t *p, apr_time_t now, long pid, uint32_t rnd)
{
    return apr_psprintf(p, "%016" APR_UINT64_T_HEX_FMT "-%ld-%08x.req", (apr_uint64_t)now, pid,
                        (unsigned)rnd);
}

int mql_control_is_request(const char *name)
{
    size_t n = strlen(name);

    return name[0] != '.' && n > 4 && !strcmp(name + n - 4, ".req");
}

const char *mql_status_format(apr_pool_t *p, int running, long server, long pid,
                              uint32_t now, const mql_status_counter_t *counters)
{
    char *text = apr_psprintf(p, "running=%d\nserver=%ld\npid=%ld\ntime=%u\n", running, server,
                              pid, now);

    for (; counters && counters->name; counters++)
        text = apr_psprintf(p, "%s%s=%" APR_UINT64_T_FMT "\n", text, counters->name,
                            counters->value);
    return text;
}

int mql_status_line(apr_pool_t *p, const char *line, const char **name, const char **value)
{
    const char *eq = strchr(line, '=');
    size_t n;

    if (!eq || eq == line)
        return 0;
    *name = apr_pstrndup(p, line, (apr_size_t)(eq - line));
    n = strcspn(eq + 1, "\r\n");
    *value = apr_pstrndup(p, eq + 1, n);
    return 1;
}
