/*
 * The MQLNotify program (mod_mql_notify.c), run by the background writer
 * as the server's user.  Only the writer (mod_mql_writer.c) reaches it;
 * its job of each round, the stage changes into it, is declared with the
 * other jobs (mod_mql_jobs.h).
 */
#ifndef MOD_MQL_NOTIFY_H
#define MOD_MQL_NOTIFY_H

#include "mod_mql_private.h"

/* Parent, post_config: what to run; nothing is started here. */
apr_status_t mql_notify_setup(apr_pool_t *pconf, server_rec *s);

/* Writer, each round: 1 when MQLNotify is configured, after starting the
 * program if it is not running (a death is logged and the program
 * started again, at most once a second). */
int mql_notify_ready(server_rec *s);

/* One line, whole or not at all, never waiting for the reader; 1 when
 * written (it waits in the pipe while the program restarts). */
int mql_notify_write(const char *line);

/* The writer's process ends its work: the program reads what is left and
 * then sees the end of its input. */
void mql_notify_release(void);

#endif
