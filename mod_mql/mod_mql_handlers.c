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
 * Content handlers: the e-mail open pixel.  (The status page lives in
 * mod_mql_status*.c.)
 */
#include <string.h>

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "mod_mql_private.h"
#include "mod_mql_handlers.h"

/* The smallest transparent GIF: 1x1, one transparent colour. */
static const unsigned char pixel_gif[] = {
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00,
    0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02,
    0x44, 0x01, 0x00, 0x3b
};

static int pixel_handler(request_rec *r)
{
    mql_req_t *rq;

    if (!r->handler || strcmp(r->handler, MQL_PIXEL_HANDLER))
        return DECLINED;
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;

    rq = mql_req_state(r);
    if (rq)
        rq->is_pixel = 1;
    ap_set_content_type(r, "image/gif");
    /* Every open must reach the server: no caching anywhere. */
    apr_table_setn(r->headers_out, "Cache-Control", "no-store, no-cache, max-age=0");
    apr_table_setn(r->headers_out, "Pragma", "no-cache");
    apr_table_setn(r->headers_out, "Expires", "Thu, 01 Jan 1970 00:00:00 GMT");
    ap_set_content_length(r, sizeof pixel_gif);
    if (!r->header_only)
        ap_rwrite(pixel_gif, sizeof pixel_gif, r);
    return OK;
}

/*
 * Whether the site answered: this runs first in the handler phase, which
 * httpd never reaches when a hook before it answers (mod_dir's trailing
 * slash and mod_rewrite's [R] in fixups, Redirect in translate_name, an
 * access check).  The handler of an ErrorDocument answers for httpd's own
 * error, not for the site: an internal redirect counts only when the
 * request it came from had not failed or redirected.
 */
static int note_handler(request_rec *r)
{
    mql_req_t *rq;

    if (r->main || !(rq = mql_req_state(r)))
        return DECLINED;
    if (!r->prev || r->prev->status < HTTP_MULTIPLE_CHOICES)
        rq->handler_ran = 1;
    return DECLINED;
}

void mql_register_handlers(apr_pool_t *p)
{
    ap_hook_handler(note_handler, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_handler(pixel_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
