/*
 * The content handlers other than the status page (mod_mql_handlers.c),
 * for the module record to register.
 */
#ifndef MOD_MQL_HANDLERS_H
#define MOD_MQL_HANDLERS_H

#include "apr_pools.h"

void mql_register_handlers(apr_pool_t *p);

#endif
