/*
 * The status page (`SetHandler mql-status`) and its section in
 * mod_status's /server-status: what the rest of the module knows of it.
 * What the status page's files share is in mod_mql_status_int.h.
 */
#ifndef MOD_MQL_STATUS_H
#define MOD_MQL_STATUS_H

#include "httpd.h"
#include "http_config.h"

/* MQLStatusSites (mql_dir_conf_t's status_sites): whose visitors a status
 * page shows and acts on */
#define MQL_SITES_OWN 0         /* its virtual host's site only (default) */
#define MQL_SITES_CHOOSE 1      /* its own; ?site=all or ?site=NAME for others */
#define MQL_SITES_ALL 2         /* every site */

const char *mql_set_status_sites(cmd_parms *cmd, void *dconf, const char *arg);
void mql_register_status(apr_pool_t *p);

#endif
