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


/* Knock-outs' domains (mql_knockout.c) and manual points' delta
 * (mql_manual.c). */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "mql_delta.h"
#include "mql_knockout.h"
#include "mql_manual.h"

static void test_domains(apr_pool_t *p)
{
    static const char *const listed[] = { "competitor.example", "rival.co.uk" };
    char buf[MQL_DOMAIN_MAX + 1];
    const char *d = NULL;
    char longest[MQL_DOMAIN_MAX + 3];
    int i;

    ok(!mql_domain_parse(p, "Competitor.Example.", &d) && !strcmp(d, "competitor.example"),
       "a domain: lower case, without its trailing dot");
    ok(!mql_domain_parse(p, "a-b.x1.example", NULL), "hyphens and digits inside labels");
    ok(mql_domain_parse(p, "com", NULL) && mql_domain_parse(p, "", NULL)
       && mql_domain_parse(p, NULL, NULL) && mql_domain_parse(p, ".example", NULL)
       && mql_domain_parse(p, "a..example", NULL) && mql_domain_parse(p, "-a.example", NULL)
       && mql_domain_parse(p, "a-.example", NULL) && mql_domain_parse(p, "a.example-", NULL)
       && mql_domain_parse(p, "a_b.example", NULL) && mql_domain_parse(p, "a b.example", NULL)
       && mql_domain_parse(p, "*.example", NULL) && mql_domain_parse(p, "a@b.example", NULL)
       && mql_domain_parse(p, ".", NULL),
       "not domains: one label, empty, empty labels, hyphens at an end, other characters");
    memset(longest, 'a', sizeof longest);
    for (i = 63; i < MQL_DOMAIN_MAX; i += 64)
        longest[i] = '.';
    longest[MQL_DOMAIN_MAX] = '\0';
    ok(!mql_domain_parse(p, longest, NULL), "253 bytes in labels of 63: a domain");
    longest[MQL_DOMAIN_MAX] = 'a';
    longest[MQL_DOMAIN_MAX + 1] = '\0';
    ok(mql_domain_parse(p, longest, NULL) != NULL, "254 bytes: too long");
    memset(longest, 'a', 64);
    strcpy(longest + 64, ".example");
    ok(mql_domain_parse(p, longest, NULL) != NULL, "a label of 64: too long");

    ok(mql_knockout_domain("Jane@Sales.Competitor.Example", buf)
       && !strcmp(buf, "sales.competitor.example"), "a contact's domain, lower case");
    ok(mql_knockout_domain("Jane Doe <jane@competitor.example>", buf)
       && !strcmp(buf, "competitor.example"), "in a name-addr");
    ok(mql_knockout_domain("\"a@b\"@competitor.example.", buf)
       && !strcmp(buf, "competitor.example"), "after the last @, without the root's dot");
    ok(!mql_knockout_domain("crm-4711", buf) && !mql_knockout_domain("jane@", buf)
       && !mql_knockout_domain(NULL, buf), "no domain: a CRM ID, nothing after @");
    memset(longest, 'a', sizeof longest - 1);
    longest[0] = '@';
    longest[sizeof longest - 1] = '\0';
    ok(!mql_knockout_domain(longest, buf), "a domain longer than any: none, within the buffer");

    is_int(mql_domain_listed("competitor.example", listed, 2), 0, "the domain itself");
    is_int(mql_domain_listed("a.b.competitor.example", listed, 2), 0, "a subdomain of it");
    is_int(mql_domain_listed("london.rival.co.uk", listed, 2), 1, "the second entry");
    is_int(mql_domain_listed("notcompetitor.example", listed, 2), -1,
           "a name that only ends the same: not listed");
    is_int(mql_domain_listed("competitor.example.org", listed, 2), -1, "another domain");
    is_int(mql_domain_listed("example", listed, 2), -1, "a parent domain: not listed");
    is_int(mql_domain_listed("competitor.example", listed, 0), -1, "an empty list");
    is_str(mql_knockout_reason(p, "contact-domain", "competitor.example"),
           "disqualified (contact-domain competitor.example)", "the reason");
}

static void test_manual(apr_pool_t *p)
{
    mql_scoring_t sc;
    mql_rule_t rule;
    mql_visitor_t v;
    mql_delta_t d;

    mql_scoring_defaults(&sc);
    sc.threshold = 100;
    sc.half_life = 100;
    memset(&rule, 0, sizeof rule);
    rule.event = MQL_EV_VIEW;
    rule.points = 50;
    sc.rules = &rule;
    sc.nrules = 1;

    memset(&v, 0, sizeof v);
    v.score = 160;
    v.first_seen = v.last_seen = 1000;
    v.site = 2;
    mql_manual_delta(&sc, 25, 2, &d);
    is_int(d.events, 0, "manual: no event counted");
    ok(d.nitems == 1 && d.items[0].points == 25 && d.items[0].slot == MQL_DELTA_UNCAPPED,
       "manual: the points alone, no rule");
    ok(!d.flood && !d.hold && !d.has_fit, "manual: no flood limit, no hold, no fit");
    is_int(mql_delta_apply(&v, &d, 1100), MQL_DELTA_DIRTY,
           "manual: applied, and the promoted lead is due for its file");
    ok(v.score > 104.9 && v.score < 105.1, "manual: the score decayed to now first (160 > 80)");
    is_int(v.stage, MQL_STAGE_MQL, "manual: over the threshold, a promotion");
    is_str(v.trigger, MQL_MANUAL_NAME, "manual: the trigger says so");
    is_int(v.trigger_event, MQL_EV_APP, "manual: an outside event");
    is_int(v.last_seen, 1100, "manual: the decay's reference moves to now");
    is_int(v.site, 2, "manual: the site stays");

    memset(&v, 0, sizeof v);
    v.score = 200;
    v.stage = MQL_STAGE_REJECTED;
    v.last_seen = 1000;
    mql_manual_delta(&sc, 50, 0, &d);
    is_int(mql_delta_apply(&v, &d, 1000), MQL_DELTA_DIRTY, "manual: a rejected lead's figures");
    is_int(v.stage, MQL_STAGE_REJECTED, "manual: never promotes a rejected visitor");
    ok(v.score == 250, "manual: its score still moves");

    memset(&v, 0, sizeof v);
    v.score = 120;
    v.last_seen = 1000;
    mql_manual_delta(&sc, -30, 0, &d);
    mql_delta_apply(&v, &d, 1000);
    ok(v.score == 90 && v.stage == MQL_STAGE_VISITOR, "manual: points taken away");
    is_str(mql_manual_label(p, "trade show"), "manual: trade show", "manual: the story's label");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    test_domains(p);
    test_manual(p);
    apr_terminate();
    return done_testing();
}
