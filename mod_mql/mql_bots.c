#include <string.h>
#include <ctype.h>
#include "mql_bots.h"

/* Lower-case fragments; checked against the lower-cased User-Agent. */
static const char *const bot_tokens[] = {
    /* crawlers and search engines */
    "bot", "crawl", "spider", "slurp", "baiduspider", "yandex", "seznam",
    "facebookexternalhit", "embedly", "preview", "archiver", "ia_archiver",
    "mediapartners", "adsbot", "feedfetcher", "bingpreview", "sogou",
    /* monitors and audits */
    "pingdom", "uptime", "statuscake", "monitor", "site24x7", "newrelic",
    "datadog", "nagios", "zabbix", "check_http", "lighthouse", "pagespeed",
    "gtmetrix",
    /* headless browsers and automation */
    "headless", "phantomjs", "selenium", "webdriver", "puppeteer", "playwright",
    "electron", "slimerjs",
    /* HTTP libraries and tools */
    "curl/", "wget", "libwww", "lwp::", "http-tiny", "python-requests",
    "python-urllib", "python-httpx", "aiohttp", "go-http-client", "java/",
    "okhttp", "apache-httpclient", "httpclient", "axios", "node-fetch", "undici",
    "got (", "ruby", "php/", "guzzle", "scrapy", "httpie", "postman", "insomnia",
    "wrk", "ab/", "apachebench", "siege", "jmeter", "locust", "k6/", "hey/",
    "nikto", "sqlmap", "masscan", "zgrab", "nmap",
    NULL
};

int mql_is_bot(const char *ua)
{
    char low[512];
    size_t i;

    if (!ua || !*ua)
        return 1;
    /* Bot markers sit early in the string; 511 bytes are plenty. */
    for (i = 0; ua[i] && i < sizeof low - 1; i++)
        low[i] = (char)tolower((unsigned char)ua[i]);
    low[i] = '\0';
    for (i = 0; bot_tokens[i]; i++)
        if (strstr(low, bot_tokens[i]))
            return 1;
    return 0;
}
