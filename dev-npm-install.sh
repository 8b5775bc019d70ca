#!/usr/bin/env bash
# One-time setup on a fresh Debian machine: system packages (Redis, HAProxy, nginx,
# Java 17 and Maven for Elasticsearch, a C++ toolchain for Kuzzle's native
# modules), the system user Elasticsearch runs as, npm dependencies, and the
# Elasticsearch 7 test server from Maven Central (cached). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=()
command -v redis-server >/dev/null || packages+=(redis-server)
command -v redis-cli >/dev/null || packages+=(redis-tools)
command -v haproxy >/dev/null || packages+=(haproxy)
# README's nginx example is tested against real nginx.
command -v nginx >/dev/null || packages+=(nginx-light)
# The redis tier makes a throwaway CA and certificates for Redis TLS.
command -v openssl >/dev/null || packages+=(openssl)
command -v unzip >/dev/null || packages+=(unzip)
# Fault tests cut links between nodes with iptables.
command -v iptables >/dev/null || packages+=(iptables)
command -v mvn >/dev/null || packages+=(maven)
command -v curl >/dev/null || packages+=(curl)
command -v make >/dev/null || packages+=(make)
command -v g++ >/dev/null || packages+=(g++)
command -v python3 >/dev/null || packages+=(python3)
ls /usr/lib/jvm 2>/dev/null | grep -q -- '-17-' || packages+=(openjdk-17-jdk-headless)
if [ "${#packages[@]}" -gt 0 ]; then
  echo "installing system packages: ${packages[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}"
fi

# Elasticsearch refuses to run as root: the harness runs it as this user.
if [ "$(id -u)" -eq 0 ] && ! id kpc-es >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin kpc-es
fi

# The cache folder of Elasticsearch must be writable by whoever runs this.
cache="${KPC_CACHE_DIR:-/var/cache/kuzzle-plugin-cluster}"
$SUDO mkdir -p "$cache"
if [ -n "$SUDO" ]; then $SUDO chown "$(id -u):$(id -g)" "$cache"; fi

echo "installing npm dependencies (Kuzzle's native modules take a few minutes to build)"
npm ci --no-audit --no-fund

./scripts/fetch-elasticsearch.sh
echo "setup done"
