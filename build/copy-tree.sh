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

# Copy the source tree of this checkout into DEST (for the package builds):
#   build/copy-tree.sh DEST
# In a git checkout: what git tracks plus new files it does not ignore (a
# tracked file deleted in the work tree is left out).  Otherwise the tree
# without git's directory and build output.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dest=$1
mkdir -p "$dest"
# (a copy placed under build/out is inside the checkout's work tree but is
# not a checkout itself: git is used only when this is the top)
if [ "$(git -C "$top" rev-parse --show-toplevel 2>/dev/null)" = "$top" ]; then
    (cd "$top" && git ls-files --cached --others --exclude-standard \
        | while IFS= read -r f; do if [ -e "$f" ]; then printf '%s\n' "$f"; fi; done \
        | tar -cf - --no-recursion -T -) | tar -C "$dest" -xf -
else
    tar -C "$top" -cf - --exclude=./.git --exclude=./build/out --exclude=./build/demo \
        --exclude=./t/tmp --exclude='*.o' --exclude='*.lo' --exclude='*.slo' --exclude='*.la' \
        --exclude=.libs . | tar -C "$dest" -xf -
fi
[ -f "$dest/VERSION" ] && [ -f "$dest/debian/rules" ] || { echo "copy-tree.sh: copy of $top incomplete" >&2; exit 1; }
