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
 * mqlctl's commands over the journal (mqlctl_journal.c): a lead's story
 * for show and export, the funnel, the criteria against sales' verdicts
 * and what-if thresholds.  They read MQLStateDir/journal.sqlite, after
 * mqlctl has become the state directory's owner.
 */
#ifndef MQLCTL_JOURNAL_H
#define MQLCTL_JOURNAL_H

#include <apr_pools.h>
#include "mql_journal.h"

/* The journal of state_dir, or NULL (with a note on stderr unless quiet)
 * when there is none yet. */
mql_journal_t *mqlctl_journal(apr_pool_t *p, const char *state_dir, int readwrite, int quiet);

/* show: the story as indented lines; how many events. */
int mqlctl_print_story(apr_pool_t *p, mql_journal_t *j, const char *id, int max);

/* 0 done, 1 failure, 2 bad usage. */
int mqlctl_funnel(apr_pool_t *p, const char *state_dir, int days, const char *format);
/* funnel --by source|medium|campaign (mqlctl_touch.c) */
int mqlctl_funnel_by(apr_pool_t *p, const char *state_dir, int days, const char *by,
                     const char *format);
int mqlctl_criteria(apr_pool_t *p, const char *state_dir, const char *format);
int mqlctl_whatif(apr_pool_t *p, const char *state_dir, const char *threshold,
                  const apr_array_header_t *require, const char *format);

#endif
