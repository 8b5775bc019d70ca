#!/usr/bin/env bash
# Fetches the Elasticsearch 7 test server from Maven Central once, adds the
# reindex module Kuzzle needs (_delete_by_query, _update_by_query) and caches
# the result outside the work tree, where a non-root system user can read it.
set -euo pipefail

ES_VERSION="${KPC_ES_VERSION:-7.17.29}"
CACHE_DIR="${KPC_CACHE_DIR:-/var/cache/kuzzle-plugin-cluster}"
DEST="$CACHE_DIR/elasticsearch-$ES_VERSION"

if [ -f "$DEST/.complete" ]; then
  echo "elasticsearch $ES_VERSION already cached in $DEST"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work" "${staged:-}"' EXIT
copy() { # group:artifact:version[:type]
  # Debian's Maven 3.8 prints colour resets even in batch mode with colours
  # off: strip escape sequences and the blank lines they leave.
  mvn -q -B -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
    -Dartifact="$1" -DoutputDirectory="$work/jars" -Dmdep.overWriteReleases=true 2>&1 |
    sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d'
}

echo "fetching elasticsearch $ES_VERSION from Maven Central"
copy "org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip"
unzip -q "$work/jars/elasticsearch-$ES_VERSION.zip" -d "$work/unpacked"
server="$work/unpacked/elasticsearch-$ES_VERSION"

# The reindex module and the runtime jars its pom lists (elasticsearch-core is
# already in lib/: adding it twice would trip Elasticsearch's jar-hell check).
module="$server/modules/reindex"
mkdir -p "$module"
for artifact in \
  "org.elasticsearch.plugin:reindex-client:$ES_VERSION" \
  "org.elasticsearch.client:elasticsearch-rest-client:$ES_VERSION" \
  "org.elasticsearch:elasticsearch-ssl-config:$ES_VERSION" \
  "org.apache.httpcomponents:httpclient:4.5.14" \
  "org.apache.httpcomponents:httpcore:4.4.12" \
  "org.apache.httpcomponents:httpasyncclient:4.1.4" \
  "org.apache.httpcomponents:httpcore-nio:4.4.12" \
  "commons-codec:commons-codec:1.15" \
  "commons-logging:commons-logging:1.1.3"; do
  copy "$artifact"
done
find "$work/jars" -name '*.jar' -exec cp {} "$module/" \;
cat > "$module/plugin-descriptor.properties" <<PROPS
description=Reindex, update by query and delete by query
version=$ES_VERSION
name=reindex
classname=org.elasticsearch.reindex.ReindexPlugin
java.version=1.8
elasticsearch.version=$ES_VERSION
extended.plugins=
has.native.controller=false
PROPS

# Staged next to its place, then renamed there: a complete copy is never
# removed (another run may have cached it meanwhile and be running it), and
# a rename onto a folder that exists fails, so the check and the move are one.
mkdir -p "$CACHE_DIR"
staged="$DEST.tmp-$$"
rm -rf "$staged"
mv "$server" "$staged"
chmod -R a+rX "$staged"
chmod a+rX "$CACHE_DIR"
touch "$staged/.complete"
if ! mv -T "$staged" "$DEST" 2>/dev/null; then
  if [ -f "$DEST/.complete" ]; then
    rm -rf "$staged"
    echo "elasticsearch $ES_VERSION cached meanwhile by another run in $DEST"
    exit 0
  fi
  # Left incomplete by a run killed while removing it: moved aside, then replaced.
  aside="$DEST.stale-$$"
  mv -T "$DEST" "$aside" 2>/dev/null || true
  rm -rf "$aside"
  mv -T "$staged" "$DEST"
fi
echo "elasticsearch $ES_VERSION cached in $DEST"
