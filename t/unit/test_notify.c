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

/* The MQLNotify line of a stage change (mql_notify.c): its fields, what
 * is there only when known, and a story that never makes the line too
 * long for one atomic write. */
#include <string.h>
#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "mql_notify.h"

/* A story of max events, each pad bytes long; calls counts the calls. */
typedef struct story_baton {
    int pad, calls, asked[8];
} story_baton_t;

static const char *story(apr_pool_t *p, int max, void *baton)
{
    story_baton_t *b = baton;
    char *event = apr_pcalloc(p, (apr_size_t)b->pad + 1);
    const char *s = "[";
    int i;

    memset(event, 'x', (apr_size_t)b->pad);
    if (b->calls < 8)
        b->asked[b->calls] = max;
    b->calls++;
    for (i = 0; i < max; i++)
        s = apr_psprintf(p, "%s%s\"%s\"", s, i ? "," : "", event);
    return apr_pstrcat(p, s, "]", NULL);
}

/* The fields a lead is published with as they are (mql_fields.h), none
 * of them set: after the lead's own, each null. */
static const char *published_nulls(apr_pool_t *p)
{
    const char *s = "";
    int i;

    for (i = 0; i < MQL_FIELD_COUNT; i++)
        if (mql_fields[i].lead)
            s = apr_psprintf(p, "%s,\"%s\":null", s, mql_fields[i].lead);
    /* and where it came from (mql_record.h's attribution fields) */
    for (i = 0; i < MQL_ATTR_FIELDS; i++)
        s = apr_psprintf(p, "%s,\"%s\":null", s, mql_record_attr_name(i));
    return s;
}

int main(void)
{
    apr_pool_t *p;
    mql_change_t c;
    mql_lead_t lead;
    story_baton_t sb;
    const char *line, *nulls;
    int i;

    apr_initialize();
    apr_pool_create(&p, NULL);
    nulls = published_nulls(p);
    memset(&c, 0, sizeof c);
    for (i = 0; i < MQL_ID_BYTES; i++)
        c.id[i] = (uint8_t)i;
    c.time = 1764151200;
    c.old_stage = MQL_STAGE_VISITOR;
    c.new_stage = MQL_STAGE_MQL;
    c.trigger_event = MQL_EV_DOWNLOAD;
    c.score = 112.4;

    line = mql_notify_line(p, &c, NULL, NULL, NULL, NULL, NULL);
    is_str(line, "{\"type\":\"stage\",\"time\":1764151200,\"visitor\":\"AAECAwQFBgcICQoLDA0ODw\","
                 "\"old_stage\":\"visitor\",\"stage\":\"mql\",\"score\":112,"
                 "\"trigger_event\":\"download\"}\n",
           "a visitor the store no longer holds: the change alone, score rounded");

    c.old_stage = MQL_STAGE_MQL;
    c.new_stage = MQL_STAGE_SQL;
    line = mql_notify_line(p, &c, NULL, NULL, NULL, NULL, NULL);
    ok(strstr(line, "\"stage\":\"sql\",\"score\":112,\"trigger_event\":null}") != NULL,
       "the trigger event only when the change makes an MQL");
    c.new_stage = MQL_STAGE_MQL;
    c.trigger_event = MQL_EV_COUNT;
    line = mql_notify_line(p, &c, NULL, NULL, NULL, NULL, NULL);
    ok(strstr(line, "\"trigger_event\":null}") != NULL, "and only when it is an event");
    c.trigger_event = MQL_EV_FORM;

    memset(&lead, 0, sizeof lead);
    lead.stage = MQL_STAGE_MQL;
    lead.score = 98;
    for (i = 0; i < MQL_EV_COUNT; i++)
        lead.counts[i] = (uint32_t)i + 1;
    lead.trigger = "form:/contact";
    lead.contact = "jane@example.com\n{\"type\":\"forged\"}";
    line = mql_notify_line(p, &c, &lead, NULL, NULL, NULL, NULL);
    ok(strstr(line, apr_pstrcat(p, ",\"counts\":{\"views\":1,\"downloads\":2,\"forms\":3,"
                    "\"form_errors\":4,\"pixels\":5,\"campaigns\":6,\"apps\":7},\"current_score\":98,"
                    "\"trigger\":\"form:/contact\",\"contact\":\"jane@example.com\\u000a{\\\"type"
                    "\\\":\\\"forged\\\"}\",\"country\":null", nulls, "}\n", NULL)) != NULL,
       "a known lead: its counts, score now, trigger, contact and country");
    is_int(strchr(line, '\n') - line, (long)strlen(line) - 1,
           "a contact's newline is escaped: one line");
    lead.trigger = NULL;
    lead.contact = NULL;
    memcpy(lead.country, "DE", 3);
    line = mql_notify_line(p, &c, &lead, NULL, NULL, NULL, NULL);
    ok(strstr(line, apr_pstrcat(p, "\"trigger\":null,\"contact\":null,\"country\":\"DE\"", nulls,
                                "}\n", NULL)) != NULL,
       "missing text fields are null, a country is a string");
    lead.contact = "\xff\xfe";
    line = mql_notify_line(p, &c, &lead, NULL, NULL, NULL, NULL);
    ok(strstr(line, "\"contact\":\"\\ufffd\\ufffd\"") != NULL,
       "invalid UTF-8 replaced: the line parses");

    line = mql_notify_line(p, &c, NULL, "mql:{0}:changes", "1764151200000-3", NULL, NULL);
    ok(strstr(line, "\"trigger_event\":\"form\",\"stream\":\"mql:{0}:changes\","
                    "\"stream_id\":\"1764151200000-3\"}\n") != NULL,
       "MQLStore redis://: the stream and the entry, for a consumer to drop duplicates");
    line = mql_notify_line(p, &c, &lead, "s", "1-1", NULL, NULL);
    ok(strstr(line, apr_pstrcat(p, "\"country\":\"DE\"", nulls,
                                ",\"stream\":\"s\",\"stream_id\":\"1-1\"}", NULL)) != NULL,
       "after the lead's fields");
    line = mql_notify_line(p, &c, NULL, "s", NULL, NULL, NULL);
    ok(!strstr(line, "stream"), "no entry: no stream fields");
    lead.attr[MQL_ATTR_SOURCE] = "news";
    lead.attr[MQL_ATTR_MEDIUM] = "email";
    lead.attr[MQL_ATTR_CAMPAIGN] = "spring";
    lead.attr[MQL_ATTR_LANDING] = "/pricing";
    lead.attr[MQL_ATTR_LAST_SOURCE] = "\"x\"\n";
    line = mql_notify_line(p, &c, &lead, NULL, NULL, NULL, NULL);
    ok(strstr(line, "\"source\":\"news\",\"medium\":\"email\",\"campaign\":\"spring\","
                    "\"landing\":\"/pricing\",\"last_source\":\"\\\"x\\\"\\u000a\","
                    "\"last_medium\":null") != NULL,
       "where the lead came from, first touch and last, escaped: %s", line);
    memset(lead.attr, 0, sizeof lead.attr);

    memset(&sb, 0, sizeof sb);
    sb.pad = 10;
    line = mql_notify_line(p, &c, &lead, NULL, NULL, story, &sb);
    is_int(sb.calls, 1, "a short story is asked for once");
    is_int(sb.asked[0], MQL_NOTIFY_STORY, "for the last MQL_NOTIFY_STORY events");
    ok(strstr(line, ",\"story\":[\"xxxxxxxxxx\",")
       && !strcmp(line + strlen(line) - 4, "\"]}\n"), "the story ends the line");

    memset(&sb, 0, sizeof sb);
    sb.pad = 800;
    line = mql_notify_line(p, &c, &lead, NULL, NULL, story, &sb);
    ok(sb.calls == 3 && sb.asked[1] == 5 && sb.asked[2] == 2,
       "a long story: half as many events until they fit (10, 5, 2)");
    ok(strlen(line) <= MQL_NOTIFY_LINE_MAX, "the line stays within MQL_NOTIFY_LINE_MAX (%d)",
       (int)strlen(line));

    memset(&sb, 0, sizeof sb);
    sb.pad = MQL_NOTIFY_LINE_MAX;
    line = mql_notify_line(p, &c, &lead, NULL, NULL, story, &sb);
    is_int(sb.calls, 4, "no event fits: 10, 5, 2, 1 tried");
    ok(!strcmp(line + strlen(line) - 13, ",\"story\":[]}\n"), "then an empty story");
    ok(strlen(line) <= MQL_NOTIFY_LINE_MAX, "within the limit");

    apr_terminate();
    return done_testing();
}
