#!/bin/sh
# What mod_mql tells applications about the current visitor.
printf 'Content-Type: text/plain\n\n'
printf 'MQL_VISITOR=%s\nMQL_NEW=%s\nMQL_SCORE=%s\nMQL_STAGE=%s\nMQL_COUNTRY=%s\n' \
    "${MQL_VISITOR:-}" "${MQL_NEW:-}" "${MQL_SCORE:-}" "${MQL_STAGE:-}" "${MQL_COUNTRY:-}"
