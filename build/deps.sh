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

# Install the Debian packages mod_mql needs, when they are missing.
#   build/deps.sh build   - to compile the module and mqlctl
#   build/deps.sh test    - also what the test suite uses
#   build/deps.sh bench   - also the load generator
#   build/deps.sh deb     - also Debian's packaging tools (make deb)
#   build/deps.sh deb-test - also debootstrap, for make test-deb
# As root it runs apt-get; otherwise it prints the exact command to run.
set -eu

want="apache2 apache2-dev libmaxminddb-dev libaprutil1-dev libsqlite3-dev libhiredis-dev
      libcurl4-openssl-dev libssl-dev pkg-config"
case "${1:-build}" in
    build) ;;
    # the stacks the integration tests run the module in: mod_php, PHP-FPM
    # (dba reads the leads file), h2load for HTTP/2, openssl for a test
    # certificate; redis-server and redis-tools for the shared store's
    # tests, which start their own servers
    test)  want="$want perl libmaxmind-db-writer-perl python3 python3-gdbm curl sqlite3
                 libapache2-mod-php8.2 php8.2-fpm php8.2-cli php8.2-dba nghttp2-client openssl
                 redis-server redis-tools" ;;
    bench) want="$want wrk curl valgrind redis-server redis-tools" ;;
    fuzz)  want="$want clang libclang-rt-dev" ;;
    deb)   want="$want build-essential debhelper dpkg-dev fakeroot lintian man-db" ;;
    deb-test) want="$want build-essential debhelper dpkg-dev fakeroot lintian man-db debootstrap curl" ;;
    *) echo "usage: $0 build|test|bench|fuzz|deb|deb-test" >&2; exit 2 ;;
esac

missing=""
for pkg in $want; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $pkg"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "mod_mql needs these Debian packages:$missing" >&2
    echo "install them with:  sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh them once.
if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ] \
   || ! apt-get install -y -q --no-install-recommends $missing; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends $missing
fi
