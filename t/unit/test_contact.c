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

/* Contacts normalised, their domains, free mail, and accounts counted
 * and qualified (mql_contact.c). */
#include "tap.h"
#include <stdio.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>
#include "mql_contact.h"

static apr_pool_t *pool;

#include "shm_fixture.h"

static const char *norm(const char *in)
{
    static char out[MQL_CONTACT_LEN];

    mql_contact_normalise(in, out, sizeof out);
    return out;
}

static void test_normalise(void)
{
    char small[8], big[400];
    size_t n;

    is_str(norm("  Jane.Doe@ACME.Example \t"), "jane.doe@acme.example",
           "white space trimmed, an address lowercased");
    is_str(norm("\r\n\x01jane@acme.example\x7f"), "\x01jane@acme.example\x7f",
           "control bytes at the ends kept as they came (escaped where shown): no address");
    is_str(norm("CRM-ID-42"), "CRM-ID-42", "a CRM id keeps its case");
    is_str(norm("  CRM 42 "), "CRM 42", "... and inner spaces, trimmed at the ends");
    is_str(norm("J\xc3\xbcrgen <J@Example.com>"), "J\xc3\xbcrgen <J@Example.com>",
           "a display name with an address is no address: kept as it came");
    is_str(norm("\xff\xfe\xc0\xaf@Example.com"), "\xff\xfe\xc0\xaf@Example.com",
           "invalid UTF-8 is no address: bytes kept, escaped where written");
    is_str(norm("tab\there@Example.com"), "tab\there@Example.com",
           "an inner control byte: no address, not folded");
    is_str(norm("J\xc3\x9cRGEN@Example.COM"), "j\xc3\x9crgen@example.com",
           "UTF-8 local part: ASCII letters folded, the rest kept");
    is_str(norm(""), "", "empty");
    is_str(norm(" \t "), "", "blank");
    is_int(mql_contact_normalise(NULL, small, sizeof small), 0, "NULL: empty");

    n = mql_contact_normalise("abcdefghijk", small, sizeof small);
    is_int(n, 7, "cut to the buffer");
    is_str(small, "abcdefg", "... its first bytes");
    n = mql_contact_normalise("abcde\xc3\xbcxyz", small, sizeof small);
    is_str(small, "abcde\xc3\xbc", "a whole sequence that fits stays");
    n = mql_contact_normalise("abcdef\xc3\xbcxyz", small, sizeof small);
    is_str(small, "abcdef", "a sequence the cut would split goes whole");
    n = mql_contact_normalise("abcd\xe2\x82\xac\xe2\x82\xac", small, sizeof small);
    is_str(small, "abcd\xe2\x82\xac", "three-byte sequence at the edge");

    n = mql_contact_normalise("abcdef gh", small, sizeof small);
    is_str(small, "abcdef", "white space the cut leaves at the end is trimmed (fuzz_contact)");
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big + 200, "@EXAMPLE.COM", 12);
    n = mql_contact_normalise(big, big, sizeof big);
    is_int(n, MQL_CONTACT_LEN - 1, "bounded by MQL_CONTACT_LEN");
    ok(big[0] == 'A', "what is kept is no address (a local part of 200 bytes): not folded");
    n = mql_contact_normalise("-@C.D \x1d\x1d", small, sizeof small);
    {
        char again[sizeof small];

        mql_contact_normalise(small, again, sizeof again);
        is_str(again, small, "normalising again changes nothing (fuzz_contact)");
    }
    memcpy(big, "Jane@Acme.Example", 18);
    mql_contact_normalise(big, big, sizeof big);
    is_str(big, "jane@acme.example", "in place");
}

static void test_email(void)
{
    const char *good[] = { "a@b.co", "jane.doe+news@acme.example", "x@sub.acme-corp.example",
                           "o'neil@x.ie", "j\xc3\xbcrgen@example.de", NULL };
    const char *bad[] = { "", "jane", "@acme.example", "jane@", "jane@acme", "a@@b.com",
                          "a@b@c.com", ".a@b.com", "a.@b.com", "a b@c.com", "a<b@c.com",
                          "\"a\"@b.com", "a@-b.com", "a@b-.com", "a@b..com", "a@.b.com",
                          "a@b.com.", "a@b_c.com", "a@b.c\xc3\xb6m", "\xff@b.com",
                          "\xc2\x85@b.com", "a\x01@b.com", "a@B.com\n", NULL };
    int i;

    for (i = 0; good[i]; i++)
        ok(mql_contact_is_email(good[i]), "address: %s", good[i]);
    for (i = 0; bad[i]; i++)
        ok(!mql_contact_is_email(bad[i]), "not an address: %s", bad[i]);
    is_str(mql_contact_domain("jane@acme.example"), "acme.example", "domain");
    is_str(mql_contact_domain("jane@ACME.example"), "ACME.example", "as written");
    ok(!mql_contact_domain("CRM-42"), "no domain of a CRM id");
    ok(!mql_contact_domain(NULL), "nor of none");
}

static void test_freemail(void)
{
    apr_array_header_t *extra = apr_array_make(pool, 2, sizeof(const char *));

    ok(mql_freemail_match(NULL, "gmail.com"), "gmail.com");
    ok(mql_freemail_match(NULL, "yahoo.com") && mql_freemail_match(NULL, "yahoo.co.uk"),
       "yahoo.* under any suffix");
    ok(mql_freemail_match(NULL, "hotmail.fr") && mql_freemail_match(NULL, "gmx.net")
       && mql_freemail_match(NULL, "yandex.ru") && mql_freemail_match(NULL, "proton.me"),
       "the other shipped ones");
    ok(!mql_freemail_match(NULL, "yahoo"), "yahoo.* needs a suffix");
    ok(!mql_freemail_match(NULL, "yahoo..com"), "... of labels");
    ok(!mql_freemail_match(NULL, "notgmail.com"), "a name that ends like one is not one");
    ok(!mql_freemail_match(NULL, "mail.gmail.com.evil"), "nor one that contains one");
    ok(!mql_freemail_match(NULL, "acme.example"), "a company's domain");
    ok(!mql_freemail_match(NULL, NULL), "none");
    *(const char **)apr_array_push(extra) = "example.net";
    *(const char **)apr_array_push(extra) = "isp.*";
    ok(mql_freemail_match(extra, "example.net") && mql_freemail_match(extra, "isp.co.uk"),
       "MQLFreeMailDomains adds to the list");
    ok(!mql_freemail_match(extra, "sub.example.net"), "... exactly");
    ok(mql_freemail_valid("example.net") && mql_freemail_valid("isp.*")
       && mql_freemail_valid("mail.co.uk"), "valid arguments");
    ok(!mql_freemail_valid("") && !mql_freemail_valid("com") && !mql_freemail_valid("*.com")
       && !mql_freemail_valid("a..b") && !mql_freemail_valid("a b.com")
       && !mql_freemail_valid(".*") && !mql_freemail_valid("-a.com")
       && !mql_freemail_valid("a@b.com"), "invalid arguments");
}

static mql_visitor_t person(uint32_t first, uint32_t last, int lead)
{
    mql_visitor_t v;

    memset(&v, 0, sizeof v);
    v.first_seen = first;
    v.last_seen = last;
    v.stage = (uint8_t)(lead ? MQL_STAGE_MQL : MQL_STAGE_VISITOR);
    return v;
}

static const mql_account_t *find(const apr_array_header_t *t, const char *site,
                                 const char *domain)
{
    int i;

    for (i = 0; i < t->nelts; i++) {
        const mql_account_t *a = &((const mql_account_t *)t->elts)[i];
        if (!strcmp(a->site, site) && !strcmp(a->domain, domain))
            return a;
    }
    return NULL;
}

static void test_accounts(void)
{
    mql_accounts_t *a = mql_accounts_make(pool);
    mql_visitor_t v1 = person(100, 500, 1), v2 = person(50, 400, 0), v3 = person(10, 600, 1);
    mql_visitor_t v4 = person(70, 300, 0);
    apr_array_header_t *t, *fresh, *again;
    const mql_account_t *acme;
    uint32_t dropped;
    int i;

    ok(mql_accounts_add(a, NULL, "", "jane@acme.example", &v1, 30), "jane counts");
    ok(mql_accounts_add(a, NULL, "", "joe@acme.example", &v2, 24.5), "joe counts");
    ok(mql_accounts_add(a, NULL, "", "bob@acme.example", &v4, 0.4),
       "bob counts, not engaged");
    ok(!mql_accounts_add(a, NULL, "", "ann@gmail.com", &v3, 90), "free mail counts nowhere");
    ok(!mql_accounts_add(a, NULL, "", "CRM-42", &v3, 90), "nor a CRM id");
    ok(!mql_accounts_add(a, NULL, "", "old@GMail.COM", &v3, 90),
       "nor free mail kept with capitals before contacts were normalised");
    ok(mql_accounts_add(a, NULL, "", "Old@ACME.Example", &v4, 0),
       "such a contact at a company counts, lowercased");
    ok(mql_accounts_add(a, NULL, "b.test", "sue@acme.example", &v3, 90),
       "another site's person");
    t = mql_accounts_finish(a, NULL, 2, 50, 10, 1000, &fresh, &dropped, pool);
    is_int(t->nelts, 2, "two accounts: acme on each site");
    is_int(dropped, 0, "none dropped");
    acme = find(t, "", "acme.example");
    ok(acme != NULL, "acme.example");
    if (acme) {
        is_int(acme->people, 4, "people");
        is_int(acme->engaged, 2, "engaged people");
        is_int(acme->leads, 1, "leads");
        ok(acme->score > 54.49 && acme->score < 54.51, "the engaged people's scores added");
        is_int(acme->first_seen, 50, "first seen: the earliest");
        is_int(acme->last_seen, 500, "last activity: the latest");
        is_int(acme->announced, 1000, "qualified: 2 engaged people, 54.5 >= 50");
    }
    ok(find(t, "b.test", "acme.example") && !find(t, "b.test", "acme.example")->announced,
       "a site's account is its own: one person does not qualify it");
    is_int(fresh->nelts, 1, "one account announced");

    /* the next round: announced once, for good */
    a = mql_accounts_make(pool);
    mql_accounts_add(a, NULL, "", "jane@acme.example", &v1, 80);
    mql_accounts_add(a, NULL, "", "joe@acme.example", &v2, 80);
    again = mql_accounts_finish(a, t, 2, 50, 10, 2000, &fresh, &dropped, pool);
    is_int(fresh->nelts, 0, "not announced twice");
    is_int(find(again, "", "acme.example")->announced, 1000, "its mark kept");
    ok(find(again, "b.test", "acme.example") == NULL,
       "an account nobody holds and never announced goes");

    /* nobody left: the mark stays while there is room */
    a = mql_accounts_make(pool);
    again = mql_accounts_finish(a, again, 2, 50, 10, 3000, &fresh, &dropped, pool);
    ok(again->nelts == 1 && find(again, "", "acme.example")->announced == 1000
       && find(again, "", "acme.example")->people == 0, "an announced account stays, emptied");
    a = mql_accounts_make(pool);
    mql_accounts_add(a, NULL, "", "jane@acme.example", &v1, 80);
    mql_accounts_add(a, NULL, "", "joe@acme.example", &v2, 80);
    t = mql_accounts_finish(a, again, 2, 50, 10, 4000, &fresh, &dropped, pool);
    is_int(fresh->nelts, 0, "and back with people, still not announced again");

    /* without a threshold, nothing qualifies */
    a = mql_accounts_make(pool);
    mql_accounts_add(a, NULL, "", "jane@acme.example", &v1, 800);
    mql_accounts_add(a, NULL, "", "joe@acme.example", &v2, 800);
    t = mql_accounts_finish(a, NULL, 0, 0, 10, 5000, &fresh, &dropped, pool);
    ok(fresh->nelts == 0 && !find(t, "", "acme.example")->announced,
       "MQLAccountThreshold unset: no announcement");
    /* the score must add up too */
    a = mql_accounts_make(pool);
    mql_accounts_add(a, NULL, "", "jane@acme.example", &v1, 20);
    mql_accounts_add(a, NULL, "", "joe@acme.example", &v2, 20);
    mql_accounts_finish(a, NULL, 2, 50, 10, 5000, &fresh, &dropped, pool);
    is_int(fresh->nelts, 0, "two people whose scores add up to 40 < 50: not qualified");

    /* a flood of domains: bounded, counted, leads first */
    a = mql_accounts_make(pool);
    mql_accounts_add(a, NULL, "", "lead@real.example", &v1, 1);
    for (i = 0; i < 500; i++) {
        char c[64];
        mql_visitor_t v = person(1, 2, 0);

        apr_snprintf(c, sizeof c, "x@junk%d.example", i);
        mql_accounts_add(a, NULL, "", c, &v, 100);
    }
    t = mql_accounts_finish(a, NULL, 0, 0, 20, 6000, NULL, &dropped, pool);
    is_int(t->nelts, 20, "at most max accounts");
    is_int(dropped, 481, "the rest counted");
    is_str(((const mql_account_t *)t->elts)[0].domain, "real.example",
           "the lead's account first, though its score is the lowest");
}

static void test_file(void)
{
    mql_accounts_t *a = mql_accounts_make(pool);
    mql_visitor_t v1 = person(100, 500, 1);
    apr_array_header_t *t, *back;
    const char *text, *read;
    char path[] = "/tmp/test_contact.XXXXXX";
    uint32_t made, dropped;
    int bad, fd;

    mql_accounts_add(a, NULL, "a.test\tb\nc", "jane@acme.example", &v1, 30.25);
    mql_accounts_add(a, NULL, "", "joe@beta.example", &v1, 3);
    t = mql_accounts_finish(a, NULL, 1, 1, 10, 777, NULL, &dropped, pool);
    text = mql_accounts_format(pool, t, 777, 5);
    back = mql_accounts_parse(pool, text, &made, &dropped, &bad);
    is_int(back->nelts, 2, "two accounts back");
    is_int(bad, 0, "every line parses");
    is_int(made, 777, "the time it was made");
    is_int(dropped, 5, "the accounts dropped");
    is_str(((mql_account_t *)back->elts)[0].site, "a.test?b?c",
           "a site's name cannot split the line");
    ok(((mql_account_t *)back->elts)[0].score == 30.25, "the score");
    is_int(((mql_account_t *)back->elts)[0].announced, 777, "the mark");
    back = mql_accounts_parse(pool, "mod_mql accounts 1\tmade=1\tdropped=0\n"
                              "\tacme.example\t1\t1\t0\t5\t1\t2\t0\n"
                              "\tbad domain\t1\t1\t0\t5\t1\t2\t0\n"
                              "\tacme.example\t1\t1\t0\t-5\t1\t2\t0\n"
                              "\tacme.example\t1\t1\t0\t5\t1\t2\n"
                              "\tacme.example\t1\t1\t0\t5\t1\t2\t0\textra\n"
                              "\tacme.example\t99999999999\t1\t0\t5\t1\t2\t0\n"
                              "garbage\n", &made, &dropped, &bad);
    is_int(back->nelts, 1, "one good line");
    is_int(bad, 6, "the others counted as bad");

    fd = mkstemp(path);
    close(fd);
    is_int(mql_accounts_write(pool, path, text), APR_SUCCESS, "written");
    is_int(mql_accounts_read(pool, path, &read), APR_SUCCESS, "read");
    is_str(read, text, "the same text");
    unlink(path);
    is_int(mql_accounts_read(pool, path, &read), APR_ENOENT, "absent: ENOENT");
    ok(symlink("/etc/passwd", path) == 0, "a link in its place");
    is_int(mql_accounts_read(pool, path, &read), APR_EGENERAL, "a link is not followed");
    unlink(path);
    is_int(mql_accounts_read(pool, "/dev/null", &read), APR_EGENERAL, "nor a device read");
}

static void test_json(void)
{
    mql_account_t a;

    memset(&a, 0, sizeof a);
    strcpy(a.domain, "acme.example");
    strcpy(a.site, "www\"x");
    a.people = 2;
    a.engaged = 2;
    a.leads = 1;
    a.score = 60.4;
    a.first_seen = 5;
    a.last_seen = 9;
    is_str(mql_account_json(pool, &a, 10),
           "{\"type\":\"account\",\"time\":10,\"site\":\"www\\\"x\",\"domain\":\"acme.example\","
           "\"people\":2,\"engaged\":2,\"leads\":1,\"score\":60,\"first_seen\":5,"
           "\"last_seen\":9}", "the notification line");
}

/* The accounts' walk of a shared table: only the visitors with a contact,
 * each once, also after contacts were given up and taken again; and what
 * a count of a full contact area costs. */
typedef struct walked {
    mql_accounts_t *acc;
    unsigned n, without;
    uint32_t now;
} walked_t;

static int walk_one(const mql_visitor_t *v, const char *contact, void *baton)
{
    walked_t *w = baton;

    w->n++;
    if (!contact)
        w->without++;
    else
        mql_accounts_add(w->acc, NULL, "", contact, v, mql_current_score(v, w->now, 0));
    return 0;
}

static void test_walk(void)
{
    const uint32_t cap = 100000, ncontacts = cap / 32;
    table_t t;
    mql_visitor_t v;
    walked_t w;
    apr_array_header_t *table;
    apr_time_t t0;
    uint32_t i, dropped;
    char c[64];
    int ok_all = 1;

    table_open(&t, cap, NULL, NULL, NULL);
    ok(t.vs != NULL, "a table of %u visitors", cap);
    if (!t.vs)
        return;
    memset(&v, 0, sizeof v);
    v.first_seen = v.last_seen = 1000;
    v.score = 10;
    for (i = 0; i < cap; i++) {
        id_of(i, v.id);
        if (i % 32 == 0)
            apr_snprintf(c, sizeof c, "person%u@company%u.example", i, (i / 32) % 500);
        ok_all &= mql_visitors_put(t.vs, &v, i % 32 == 0 ? c : NULL, 0) == APR_SUCCESS;
    }
    ok(ok_all, "%u visitors put, one in 32 with a contact", cap);
    memset(&w, 0, sizeof w);
    w.acc = mql_accounts_make(pool);
    w.now = 1000;
    t0 = apr_time_now();
    mql_visitors_walk(t.vs, MQL_WALK_CONTACTS, walk_one, &w);
    table = mql_accounts_finish(w.acc, NULL, 2, 10, MQL_ACCOUNTS_MAX, 1000, NULL, &dropped, pool);
    mql_accounts_format(pool, table, 1000, dropped);
    printf("# accounts of %u visitors (%u contacts, 500 domains): %.2f ms\n", cap, w.n,
           (double)(apr_time_now() - t0) / 1000.0);
    is_int(w.n, ncontacts, "the walk gives the visitors with a contact");
    is_int(w.without, 0, "... and no other");
    is_int(table->nelts, 500, "500 accounts");
    /* contacts given up with their visitors, and taken by others */
    for (i = 0; i < 64; i++) {
        id_of(i * 32, v.id);
        mql_visitors_forget(t.vs, v.id);
    }
    for (i = 0; i < 32; i++) {
        id_of(i * 32 + 1, v.id);
        apr_snprintf(c, sizeof c, "late%u@later.example", i);
        mql_visitors_set_contact(t.vs, v.id, c, 1001);
    }
    memset(&w, 0, sizeof w);
    w.acc = mql_accounts_make(pool);
    mql_visitors_walk(t.vs, MQL_WALK_CONTACTS, walk_one, &w);
    is_int(w.n, ncontacts - 64 + 32, "after forgets and new contacts, each holder once");
    table_close(&t);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_normalise();
    test_email();
    test_freemail();
    test_accounts();
    test_file();
    test_json();
    test_walk();
    return done_testing();
}
