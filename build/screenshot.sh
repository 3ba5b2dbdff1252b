#!/bin/sh
# Copyright 2026 mod_mql maintainers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

# Render the status page of a demo server into docs/status.png with
# headless chromium (installed when missing, as root).
#   build/screenshot.sh [OUTPUT.png]
set -eu
cd "$(dirname "$0")/.."

missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
# Liberation Sans (Arial's metrics) renders the page as most admins see it.
dpkg-query -W -f='${Status}' fonts-liberation 2>/dev/null | grep -q "ok installed" \
    || missing="$missing fonts-liberation"
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "the screenshot needs:$missing; install with: sudo apt-get install -y$missing" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends $missing \
        || { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; }
fi

mkdir -p docs
exec perl build/screenshot.pl "${1:-docs/status.png}"
