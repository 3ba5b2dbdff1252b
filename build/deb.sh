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

# Build the Debian packages (called by `make deb`).
#   build/deb.sh OUTDIR
# Copies this checkout (build/copy-tree.sh) to OUTDIR/mod-mql-VERSION,
# runs dpkg-buildpackage there (source and binary, unsigned) and, unless
# LINTIAN=no, lintian on the result: any error or warning fails.
# OUTDIR then holds libapache2-mod-mql_VERSION_ARCH.deb, the .dsc, the
# .tar.xz, the .buildinfo, the .changes and lintian.txt.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/out/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(cat "$top/VERSION")
changelog=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
if [ "$version" != "$changelog" ]; then
    echo "deb.sh: VERSION says $version but debian/changelog's top entry names $changelog;" >&2
    echo "add an entry for $version to debian/changelog (dch -v $version) or correct VERSION" >&2
    exit 1
fi

src=$out/mod-mql-$version
rm -rf "$src"
mkdir -p "$src"
"$top/build/copy-tree.sh" "$src"

# old results of the same version would be mixed into the .changes
rm -f "$out"/mod-mql_"$version"* "$out"/libapache2-mod-mql*_"$version"_*
(cd "$src" && dpkg-buildpackage --build=full -us -uc) > "$out/build.log" 2>&1 || {
    tail -n 60 "$out/build.log" >&2
    echo "deb.sh: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
    exit 1
}
rm -rf "$src"

changes=$(ls "$out"/mod-mql_"$version"_*.changes)
echo "built:"
(cd "$out" && ls -1 mod-mql_"$version"* libapache2-mod-mql*_"$version"_*) | sed 's/^/  /'

if [ "${LINTIAN:-yes}" != no ]; then
    echo "lintian $(lintian --version | sed 's/^Lintian v//') on $(basename "$changes"):"
    rc=0
    lintian --fail-on error,warning "$changes" > "$out/lintian.txt" 2>&1 || rc=$?
    sed 's/^/  /' "$out/lintian.txt"
    [ -s "$out/lintian.txt" ] || echo "  (no tags)"
    if [ $rc != 0 ]; then
        echo "deb.sh: lintian reports errors or warnings (exit $rc)" >&2
        exit 1
    fi
fi
