#!/usr/bin/env bash
# Make a Docker engine available on this machine, idempotently and without prompts.
#
#   bash tools/scripts/ensure-docker.sh
#
# 1. If `dockerd` is missing: apt-get update + install docker.io and docker-compose (Debian packages, no
#    recommends). Nothing is ever pulled from a container registry.
# 2. If the daemon does not answer `docker info`: start `dockerd` in the background (log: $SARAI_DOCKERD_LOG,
#    default /var/log/sarai-dockerd.log) and poll `docker info` for up to $SARAI_DOCKER_WAIT_SECONDS (60).
# Safe to call many times and from several shells at once (serialised with flock). Needs root for steps 1–2.
# Exit codes: 0 engine answering; 1 install failed; 2 daemon did not come up; 3 not root and root is needed.
set -euo pipefail

readonly DOCKER_SOCK=/var/run/docker.sock
readonly LOG=${SARAI_DOCKERD_LOG:-/var/log/sarai-dockerd.log}
readonly WAIT_SECONDS=${SARAI_DOCKER_WAIT_SECONDS:-60}
readonly LOCK=${SARAI_DOCKER_LOCK:-/run/lock/sarai-ensure-docker.lock}

say() { echo "ensure-docker: $*" >&2; }
fail() {
  local code=$1
  shift
  say "ERROR: $*"
  exit "$code"
}

docker_answers() { docker info >/dev/null 2>&1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || fail 3 "$1 needs root (run this script as root, e.g. with sudo)"
}

# Fast path: nothing to do, no lock, no root needed.
if command -v docker >/dev/null 2>&1 && docker_answers; then
  say "docker engine is answering ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
  exit 0
fi

need_root "installing/starting the docker engine"
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
flock -w 300 9 || fail 2 "timed out waiting for another ensure-docker run (lock $LOCK)"

# Re-check under the lock: another caller may have done the work meanwhile.
if command -v docker >/dev/null 2>&1 && docker_answers; then
  say "docker engine is answering"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  say "installing docker.io and docker-compose from the Debian mirror"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || fail 1 "apt-get update failed"
  apt-get install -y -qq --no-install-recommends docker.io docker-compose >/dev/null ||
    fail 1 "apt-get install docker.io docker-compose failed"
  command -v dockerd >/dev/null 2>&1 || fail 1 "dockerd still not on PATH after installing docker.io"
fi

if ! docker_answers; then
  # A dockerd that died leaves its pid file behind and the next one refuses to start.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    say "removing stale /var/run/docker.pid"
    rm -f /var/run/docker.pid
  fi
  if [ -f /var/run/docker.pid ]; then
    say "dockerd (pid $(cat /var/run/docker.pid)) is running but not answering yet; waiting for it"
  else
    mkdir -p "$(dirname "$LOG")"
    say "starting dockerd (log: $LOG)"
    # setsid + nohup: the daemon outlives this script and the caller's session.
    setsid nohup dockerd --host=unix://$DOCKER_SOCK >>"$LOG" 2>&1 </dev/null &
  fi
  deadline=$((SECONDS + WAIT_SECONDS))
  until docker_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "last lines of $LOG:"
      tail -n 20 "$LOG" >&2 || true
      fail 2 "docker daemon did not answer 'docker info' within ${WAIT_SECONDS}s"
    fi
    sleep 0.5
  done
fi

say "docker engine is answering ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
