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
    is_int(mql_control_parse(p, " \t \r\n", &req, &verb), MQL_CONTROL_MALFORMED,
           "blanks only: malformed (no word leaves the tokenizer's place unset)");
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

    /* MQLStateDir/sites: the server writes it, mqlctl --site reads it */
    {
        const mql_site_entry_t in[] = {
            { "a.test", "sdbm", "/var/lib/apache2/mql/leads-a" },
            { "B.Test", "gdbm", "/srv/my leads/b\tfile\n%20x" },
            { "", "db", "/srv/c" },
        };
        const mql_site_entry_t *e;
        apr_array_header_t *sites;
        int bad = -1;

        text = mql_sites_format(p, in, 3);
        ok(text[0] == '#', "the file starts with a comment that says what it is");
        ok(strstr(text, "\na.test\tsdbm\t/var/lib/apache2/mql/leads-a\n") != NULL,
           "one line per site: NAME, TYPE, FILE separated by tabs");
        ok(strstr(text, "\tgdbm\t/srv/my leads/b%09file%0A%2520x\n") != NULL,
           "a tab, a newline and a %% in a file name are escaped, a space is not");
        sites = mql_sites_parse(p, text, &bad);
        is_int(sites->nelts, 3, "three sites read back");
        is_int(bad, 0, "no bad line");
        e = (const mql_site_entry_t *)sites->elts;
        ok(!strcmp(e[0].name, "a.test") && !strcmp(e[0].type, "sdbm")
           && !strcmp(e[0].file, in[0].file), "the first as written");
        is_str(e[1].file, in[1].file, "the escaped file name as it was");
        ok(!strcmp(e[2].name, "") && !strcmp(e[2].file, "/srv/c"), "a site without a name");
        e = mql_sites_find(sites, "b.test");
        ok(e && !strcmp(e->type, "gdbm"), "found by name, without case (as ?site=)");
        ok(!mql_sites_find(sites, "nosuch.test") && !mql_sites_find(sites, "all"),
           "an unknown name is not found");

        sites = mql_sites_parse(p, "# comment\r\n\nx\tsdbm\t/a\r\nno tabs\n"
                                   "y\tsdbm\t/b\textra\nz\t\t/c\nw\tsdbm\t\n"
                                   "v\tsdbm\t/bad%0\nu\tsdbm\t/nul%00x\nt\tsdbm\t/last", &bad);
        is_int(sites->nelts, 2, "only the well-formed lines are sites (CRLF too, last line "
               "without a newline)");
        is_int(bad, 6, "the others are counted as bad: no tabs, four fields, no type, no file, "
               "a broken escape, a NUL");
        e = (const mql_site_entry_t *)sites->elts;
        ok(!strcmp(e[0].file, "/a") && !strcmp(e[1].name, "t"), "the right ones");
        sites = mql_sites_parse(p, "", &bad);
        ok(sites->nelts == 0 && bad == 0, "an empty file: no site");
        e = (const mql_site_entry_t *)mql_sites_find(
            mql_sites_parse(p, "same\tsdbm\t/1\nSAME\tgdbm\t/2\n", NULL), "same");
        ok(e && !strcmp(e->file, "/1"), "two sites of one name: the first, as the status page");
    }

    /* a rejection with its reason */
    text = mql_control_format_reject(p, id, "not a buyer; 100% sure");
    ok(mql_control_parse(p, text, &req, NULL) == MQL_CONTROL_OK && req.verb == MQL_CONTROL_SET
       && req.stage == MQL_STAGE_REJECTED && req.reason
       && !strcmp(req.reason, "not a buyer; 100% sure"), "a rejection's reason read back");
    ok(mql_control_parse(p, "set AAECAwQFBgcICQoLDA0ODw sql\n", &req, NULL) == MQL_CONTROL_OK
       && !req.reason, "a decision without one has none");
    is_int(mql_control_parse(p, "set AAECAwQFBgcICQoLDA0ODw sql why", &req, NULL),
           MQL_CONTROL_UNKNOWN, "a reason for another verdict: unknown");
    is_int(mql_control_parse(p, "set AAECAwQFBgcICQoLDA0ODw rejected a%1Bb", &req, NULL),
           MQL_CONTROL_MALFORMED, "a reason with an escape character: malformed");

    /* manual points: mqlctl adjust */
    {
        const char *reason = "trade show: 50% off; \"booth\" 7";
        int pts = 0;

        text = mql_control_format_adjust(p, id, 25, reason);
        {
            const char *c;
            int spaces = 0, breaks = 0;

            for (c = text; *c; c++) {
                spaces += *c == ' ';
                breaks += *c == '\n';
            }
            ok(spaces == 3 && breaks == 1 && text[strlen(text) - 1] == '\n',
               "adjust: one line of four words, the reason encoded as one");
        }
        is_int(mql_control_parse(p, text, &req, &verb), MQL_CONTROL_OK, "adjust read back");
        ok(req.verb == MQL_CONTROL_ADJUST && req.points == 25 && !memcmp(req.id, raw, 16),
           "adjust: verb, points and ID");
        is_str(req.reason, reason, "adjust: the reason as given");
        text = mql_control_format_adjust(p, id, -1000, "x");
        ok(mql_control_parse(p, text, &req, NULL) == MQL_CONTROL_OK && req.points == -1000,
           "adjust: -1000 read back");
        is_int(mql_control_parse(p, "adjust AAECAwQFBgcICQoLDA0ODw +5", &req, NULL),
               MQL_CONTROL_MALFORMED, "adjust without a reason: malformed");
        is_int(mql_control_parse(p, "adjust AAECAwQFBgcICQoLDA0ODw +5000 x", &req, NULL),
               MQL_CONTROL_MALFORMED, "adjust out of range: malformed");
        is_int(mql_control_parse(p, "adjust AAECAwQFBgcICQoLDA0ODw +5 a%0Ab", &req, NULL),
               MQL_CONTROL_MALFORMED, "adjust with a line break in the reason: malformed");
        is_int(mql_control_parse(p, "adjust AAECAwQFBgcICQoLDA0ODw +5 a%0", &req, NULL),
               MQL_CONTROL_MALFORMED, "adjust with a broken escape: malformed");
        is_int(mql_control_parse(p, "adjust AAECAwQFBgcICQoLDA0ODw +5 a b", &req, NULL),
               MQL_CONTROL_MALFORMED, "adjust with a fifth word: malformed");
        is_int(mql_control_parse(p, "adjust nope +5 a", &req, NULL), MQL_CONTROL_MALFORMED,
               "adjust with a bad ID: malformed");

        ok(!mql_adjust_points("+20", &pts) && pts == 20, "points: +20");
        ok(!mql_adjust_points("-5", &pts) && pts == -5, "points: -5");
        ok(!mql_adjust_points("7", &pts) && pts == 7, "points: 7");
        ok(!mql_adjust_points("+1000", &pts) && pts == 1000, "points: the largest");
        ok(!mql_adjust_points("-1000", &pts) && pts == -1000, "points: the smallest");
        pts = 99;
        ok(mql_adjust_points("+1001", &pts) && mql_adjust_points("0", &pts)
           && mql_adjust_points("-0", &pts) && mql_adjust_points("", &pts)
           && mql_adjust_points("+", &pts) && mql_adjust_points("1e3", &pts)
           && mql_adjust_points("+ 5", &pts) && mql_adjust_points("++5", &pts)
           && mql_adjust_points("00001", &pts) && mql_adjust_points(NULL, &pts)
           && mql_adjust_points("99999999999999999999", &pts) && pts == 99,
           "points: out of range, zero, not a number: refused, untouched");
        ok(!mql_adjust_reason("trade show") && !mql_adjust_reason("Messe München"),
           "reason: text, UTF-8 too");
        {
            char big[MQL_REASON_MAX + 2];

            memset(big, 'r', sizeof big - 1);
            big[sizeof big - 1] = '\0';
            ok(mql_adjust_reason(big) != NULL, "reason: 121 bytes refused");
            big[MQL_REASON_MAX] = '\0';
            ok(!mql_adjust_reason(big), "reason: 120 bytes taken");
        }
        ok(mql_adjust_reason("") && mql_adjust_reason(NULL) && mql_adjust_reason("a\nb")
           && mql_adjust_reason("a\tb") && mql_adjust_reason("\x1b[31mred")
           && mql_adjust_reason("del\x7f"), "reason: empty, control characters refused");
    }
    apr_terminate();
    return done_testing();
}
