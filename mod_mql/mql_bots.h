/*
 * The built-in bot filter: crawlers, uptime monitors, headless browsers,
 * link previewers and HTTP libraries identify themselves in User-Agent.
 * A request without a User-Agent is not a person's browser either.
 */
#ifndef MQL_BOTS_H
#define MQL_BOTS_H

/* 1 when ua (may be NULL) looks automated */
int mql_is_bot(const char *ua);

#endif
