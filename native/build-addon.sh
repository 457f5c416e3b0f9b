#!/bin/sh
# Applies swarmfs's fixes to fuse-native's C binding and builds the addon from source.
# fuse-native 2.2.6 loses mtime in utimens, hides create's open flags, rounds times to milliseconds,
# cannot pass UTIME_OMIT or serve open-but-unlinked files, and never tells who called. The patch fixes
# those, refuses paths and names that are not valid UTF-8 with EILSEQ (JS would turn them into U+FFFD,
# merging different names into one file), and lets create hand over the new file's attributes for the fgetattr libfuse2 sends right after
# it, answers the kernel's security.capability probe before each write itself while no file has one,
# has a FUSE thread poll briefly for a quick metadata answer instead of sleeping (a VM's thread
# wake-up costs ~40 us), hands the state of a FUSE thread that libfuse2 ended on to the next one
# started instead of allocating more, and passes fallocate and flock on (2.2.6 has neither); node-gyp-build
# then prefers build/Release over the (unpatched) prebuild.
set -eu
cd "$(dirname "$0")/.."
addon=node_modules/fuse-native
[ -d "$addon" ] || addon=../fuse-native   # installed as a dependency of another package
[ -d "$addon" ] || { echo "swarmfs: fuse-native is not installed" >&2; exit 1; }
# patch-package patches <root>/node_modules/fuse-native, <root> being where fuse-native is installed: here
# in a checkout or a global install, the consumer's root when npm hoisted it out of our node_modules.
root=$(cd "$addon/../.." && pwd)
patches=$(node -p "require('path').relative('$root', '$(pwd)/native/patches')")
patcher=$(node -p "require.resolve('patch-package/index.js')")
(cd "$root" && node "$patcher" --patch-dir "$patches")
gyp=${npm_config_node_gyp:-}
if [ -z "$gyp" ]; then
  for candidate in "$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js" \
                   /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js; do
    [ -f "$candidate" ] && gyp=$candidate && break
  done
fi
[ -n "$gyp" ] || { echo "swarmfs: node-gyp not found (it ships with npm)" >&2; exit 1; }
# Build against the headers of the running Node when they are installed beside it (no download needed).
nodedir=${npm_config_nodedir:-$(node -p "require('path').resolve(process.execPath, '../..')")}
[ -f "$nodedir/include/node/node_api.h" ] && export npm_config_nodedir="$nodedir"
(cd "$addon" && node "$gyp" rebuild >/dev/null) || { echo "swarmfs: building fuse-native failed (needs g++, make, python3)" >&2; exit 1; }
node -e "const b = require('node-gyp-build')('$addon'); if (b.swarmfs_patch !== 8) { console.error('swarmfs: patched fuse-native did not load'); process.exit(1) }"
