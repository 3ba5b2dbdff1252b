/* The control protocol between mqlctl and the server (mql_control.c):
 * what one side writes, the other reads back. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "mql_control.h"
#include "mql_cookie.h"

int main(void)
{
    apr_pool_t *p;
    mql_control_t req;
    const char *verb, *name, *value, *text, *id = "AAECAwQFBgcICQoLDA0ODw";
    uint8_t raw[MQL_ID_BYTES];
    int i;

    apr_initialize();
    apr_pool_create(&p, NULL);
    for (i = 0; i < MQL_ID_BYTES; i++)
        raw[i] = (uint8_t)i;

    text = mql_control_format(p, MQL_CONTROL_SET, id, MQL_STAGE_SQL);
    is_str(text, "set AAECAwQFBgcICQoLDA0ODw sql\n", "a decision as a line");
    is_int(mql_control_parse(p, text, &req, &verb), MQL_CONTROL_OK, "read back");
    ok(req.verb == MQL_CONTROL_SET && req.stage == MQL_STAGE_SQL
       && !memcmp(req.id, raw, MQL_ID_BYTES) && !strcmp(req.id_text, id),
       "the verb, the stage and the visitor");
    text = mql_control_format(p, MQL_CONTROL_FORGET, id, MQL_STAGE_VISITOR);
    is_int(mql_control_parse(p, text, &req, NULL), MQL_CONTROL_OK, "a forget read back");
    is_int(req.verb, MQL_CONTROL_FORGET, "as a forget");
    is_int(mql_control_parse(p, "set AAECAwQFBgcICQoLDA0ODw rejected\r\n", &req, NULL),
           MQL_CONTROL_OK, "CRLF is fine");

    is_int(mql_control_parse(p, "", &req, &verb), MQL_CONTROL_MALFORMED, "empty: malformed");
    is_int(mql_control_parse(p, "forget not-an-id", &req, NULL), MQL_CONTROL_MALFORMED,
           "a bad ID: malformed");
    is_int(mql_control_parse(p, "promote AAECAwQFBgcICQoLDA0ODw", &req, &verb),
           MQL_CONTROL_UNKNOWN, "an unknown verb");
    is_str(verb, "promote", "named for the message");
    is_int(mql_control_parse(p, "set AAECAwQFBgcICQoLDA0ODw visitor", &req, NULL),
           MQL_CONTROL_UNKNOWN, "no one is set back to plain visitor");
    is_int(mql_control_parse(p, "forget AAECAwQFBgcICQoLDA0ODw now", &req, NULL),
           MQL_CONTROL_UNKNOWN, "a forget takes no argument");

    name = mql_control_request_name(p, APR_INT64_C(1764000000000000), 4242, 0xdeadbeefu);
    is_str(name, "0006445941624000-4242-deadbeef.req", "requests sort by time (the hex of the time)");
    ok(mql_control_is_request(name), "a request is one");
    ok(!mql_control_is_request(mql_control_temp_name(p, 4242, 1)), "a temporary is not");
    ok(!mql_control_is_request("x.req.swp") && !mql_control_is_request(".req"),
       "nor anything else");

    {
        const mql_status_counter_t counters[] = { { "dbm_errors", 3 }, { "pending", 0 },
                                                  { NULL, 0 } };
        text = mql_status_format(p, 1, 100, 200, 1764000000u, counters);
    }
    is_str(text, "running=1\nserver=100\npid=200\ntime=1764000000\ndbm_errors=3\npending=0\n",
           "writer.status");
    ok(mql_status_line(p, "server=100\n", &name, &value) && !strcmp(name, "server")
       && !strcmp(value, "100"), "a line of it read back");
    ok(!mql_status_line(p, "no equals sign\n", &name, &value)
       && !mql_status_line(p, "=value", &name, &value), "anything else is not");
    apr_terminate();
    return done_testing();
}
