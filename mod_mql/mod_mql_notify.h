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
