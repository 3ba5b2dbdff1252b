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

/* The built-in bot filter: automated agents out, real browsers in. */
#include "tap.h"
#include "mql_bots.h"

int main(void)
{
    static const char *const bots[] = {
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/120.0.0.0 Safari/537.36",
        "curl/7.88.1", "Wget/1.21.3", "python-requests/2.31.0", "Go-http-client/1.1",
        "HTTP-Tiny/0.086", "libwww-perl/6.68", "Java/17.0.2", "okhttp/4.12.0",
        "axios/1.6.0", "Scrapy/2.11 (+https://scrapy.org)", "Chrome-Lighthouse",
        "", NULL,
    };
    static const char *const people[] = {
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.2 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.6099.43 Mobile Safari/537.36",
    };
    char longua[4096];
    size_t i;

    for (i = 0; bots[i]; i++)
        ok(mql_is_bot(bots[i]), "bot: '%.40s'", bots[i]);
    ok(mql_is_bot(NULL), "no User-Agent is a bot");
    for (i = 0; i < sizeof people / sizeof *people; i++)
        ok(!mql_is_bot(people[i]), "browser: '%.50s'", people[i]);
    memset(longua, 'a', sizeof longua - 1);
    longua[sizeof longua - 1] = '\0';
    ok(!mql_is_bot(longua), "4 KB User-Agent handled");
    return done_testing();
}
