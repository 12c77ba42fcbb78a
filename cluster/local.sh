#!/usr/bin/env bash
# A Ray cluster of a head plus N worker nodes on this one host: for trying multi-node jobs
# (`ray job submit`, one training rank per node) without a cloud.
#
#   cluster/local.sh up N [options]   start a head and N worker nodes; prints RAY_ADDRESS for jobs
#   cluster/local.sh down [options]   stop exactly the nodes a previous `up` started (idempotent)
#   cluster/local.sh status [options] list the nodes and whether they are alive
#
# Options (also as environment variables, shown in brackets):
#   --port P            GCS port of the head                  [DS2RAY_LOCAL_PORT, 6379]
#   --dashboard-port D  dashboard / job server port           [DS2RAY_LOCAL_DASHBOARD_PORT, 8265]
#   --port-base B       node i uses ports B+1000*i .. +999     [DS2RAY_LOCAL_PORT_BASE, 20000]
#   --cpus C            CPUs each node advertises             [DS2RAY_LOCAL_CPUS, 1]
#   --gpus G            GPUs each node advertises             [DS2RAY_LOCAL_GPUS, 0]
#   --state-dir DIR     pid/session records and Ray temp dirs [DS2RAY_LOCAL_STATE, /tmp/ds2l_<uid>_<port>]
#   --auth MODE         RAY_AUTH_MODE on every node: disabled|token [RAY_AUTH_MODE, disabled]
#
# Why the care (see ../shared/STACK.md):
# - Two nodes on one host need distinct ports for everything a node opens (node manager, object
#   manager, dashboard agent, metrics, runtime-env agent, worker ports): node i gets its own block
#   of 1000. The default base keeps the blocks below 32768, clear of the kernel's ephemeral ports
#   (which other Ray instances on the host get when they bind port 0) and of Ray's default worker
#   ports 10002-19999.
# - Each `up` uses a fresh Ray temp dir per node, so a stale `ray_current_cluster` file never makes
#   a later `ray.init()` join a dead cluster; and since it is not /tmp/ray, a plain `ray.init()`
#   elsewhere on this host never joins this cluster by accident.
# - Ray 2.60 turns token auth on by default for local clusters; a node started with a different
#   mode than the head is rejected. The mode is set explicitly on every node (token mode writes a
#   fresh token into the state dir and points RAY_AUTH_TOKEN_PATH at it).
# - `ray stop` kills every Ray process of the user, including other clusters on this host. `down`
#   never calls it: each node is started in its own session (setsid) and `down` signals only the
#   processes of those sessions, by pid (SIGTERM, then SIGKILL after 3 s).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "local.sh: $*" >&2; exit 2; }

cmd="${1:-}"; [[ -n "$cmd" ]] || { usage; exit 2; }
shift
workers=0
if [[ "$cmd" == up ]]; then
    [[ $# -ge 1 && "$1" =~ ^[0-9]+$ ]] || die "usage: local.sh up N [options] (N = worker nodes besides the head)"
    workers="$1"; shift
fi
port="${DS2RAY_LOCAL_PORT:-6379}"
dash_port="${DS2RAY_LOCAL_DASHBOARD_PORT:-8265}"
port_base="${DS2RAY_LOCAL_PORT_BASE:-20000}"
cpus="${DS2RAY_LOCAL_CPUS:-1}"
gpus="${DS2RAY_LOCAL_GPUS:-0}"
state=""
auth="${RAY_AUTH_MODE:-disabled}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --port) port="$2"; shift 2 ;;
        --dashboard-port) dash_port="$2"; shift 2 ;;
        --port-base) port_base="$2"; shift 2 ;;
        --cpus) cpus="$2"; shift 2 ;;
        --gpus) gpus="$2"; shift 2 ;;
        --state-dir) state="$2"; shift 2 ;;
        --auth) auth="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (see: local.sh --help)" ;;
    esac
done
# Short default path: Ray's unix sockets live under the temp dir and paths are limited to 107 bytes.
state="${state:-${DS2RAY_LOCAL_STATE:-/tmp/ds2l_$(id -u)_${port}}}"
[[ "$auth" == disabled || "$auth" == token ]] || die "--auth must be 'disabled' or 'token', got '$auth'"

# The venv's ray and python, so job entrypoints (`python -m jobs.train`) find ds2ray.
if [[ -x "$repo/.venv/bin/ray" ]]; then export PATH="$repo/.venv/bin:$PATH"; fi
command -v ray >/dev/null || die "no 'ray' on PATH and no $repo/.venv (run: make setup)"

own_sid="$(ps -o sid= -p $$ | tr -d ' ')"

# Sessions (= setsid process ids) recorded by `up`, one file per node.
node_files() { compgen -G "$state/node*.sid" || true; }

# Pids of every live process in session $1 (the node's Ray processes and the workers they
# started); zombies are skipped, they are gone already (an init that does not reap leaves them).
session_pids() { ps -e -o pid=,sid=,stat= | awk -v s="$1" '$2 == s && $3 !~ /^Z/ { print $1 }'; }

alive() { [[ -n "$(session_pids "$1")" ]]; }

stop_nodes() {
    local files sid sids=()
    files="$(node_files)"
    [[ -n "$files" ]] || return 0
    for f in $files; do
        sid="$(cat "$f")"
        # never our own session, init's, or garbage
        if [[ "$sid" =~ ^[0-9]+$ && "$sid" != "$own_sid" && "$sid" != 0 && "$sid" != 1 ]]; then sids+=("$sid"); fi
    done
    [[ ${#sids[@]} -eq 0 ]] || stop_sessions "${sids[@]}"
    rm -f $files
    echo "local.sh: stopped $(echo "$files" | wc -l) node(s) of $state"
}

# Session id of the raylet whose command line names temp dir $1 (empty if none).
raylet_sid() {
    local p
    for p in /proc/[0-9]*; do
        if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "raylet_socket_name=$1/"; then
            ps -o sid= -p "${p#/proc/}" | tr -d ' '
            return 0
        fi
    done
}

# Stop the processes of the given sessions: SIGTERM to all, SIGKILL to what is left after 3 s.
# (gcs_server and raylet take over 8 s to exit on SIGTERM when everything stops at once; the node's
# state is thrown away anyway, as with `ray stop --force`.)
stop_sessions() {
    local sid pids waited=0
    pids="$(for sid in "$@"; do session_pids "$sid"; done)"
    [[ -n "$pids" ]] || return 0
    kill -TERM $pids 2>/dev/null || true
    while (( waited < 15 )); do
        pids="$(for sid in "$@"; do session_pids "$sid"; done)"
        [[ -n "$pids" ]] || return 0
        sleep 0.2; waited=$((waited + 1))
    done
    kill -KILL $pids 2>/dev/null || true
}

start_node() {  # start_node INDEX ARGS... : `ray start` in a session of its own; records the session id
    local i="$1"; shift
    local b=$((port_base + 1000 * i)) attempt tmp pid sid
    # A node that times out while registering (it happens on a heavily loaded host) gets one retry.
    for attempt in 1 2; do
        tmp="$state/run$run_id/n$i.$attempt"
        mkdir -p "$tmp"
        # The subshell is not a process-group leader (no job control here), so setsid makes a new session.
        ( exec setsid ray start "$@" \
            --node-ip-address=127.0.0.1 --num-cpus="$cpus" --num-gpus="$gpus" --temp-dir="$tmp" \
            --node-manager-port=$((b + 1)) --object-manager-port=$((b + 2)) \
            --dashboard-agent-listen-port=$((b + 3)) --dashboard-agent-grpc-port=$((b + 4)) \
            --metrics-export-port=$((b + 5)) --runtime-env-agent-port=$((b + 6)) \
            --min-worker-port=$((b + 100)) --max-worker-port=$((b + 999)) \
            --disable-usage-stats --log-style=record >"$state/node$i.log" 2>&1 ) &
        pid=$!
        echo "$pid" >"$state/node$i.sid"  # setsid execs ray start: its pid is the new session's id
        if wait "$pid"; then
            sid="$(raylet_sid "$tmp")"
            if [[ -z "$sid" || "$sid" == "$own_sid" ]]; then
                echo "local.sh: node $i: cannot find its raylet in a session of its own (got '${sid}')" >&2
                stop_nodes >/dev/null
                exit 1
            fi
            echo "$sid" >"$state/node$i.sid"
            return 0
        fi
        echo "local.sh: node $i failed to start (attempt $attempt); its log ($state/node$i.log):" >&2
        tail -n 5 "$state/node$i.log" >&2
        stop_sessions "$pid"
    done
    stop_nodes >/dev/null
    exit 1
}

case "$cmd" in
    up)
        mkdir -p "$state"
        if [[ -n "$(node_files)" ]]; then
            echo "local.sh: nodes of a previous 'up' found in $state: stopping them first"
            stop_nodes
        fi
        rm -rf "$state"/run*
        run_id="$(date +%s)"
        export RAY_AUTH_MODE="$auth" RAY_USAGE_STATS_ENABLED=0
        if [[ "$auth" == token ]]; then
            umask 077
            python -c "import secrets; print(secrets.token_hex(32))" >"$state/auth_token"
            export RAY_AUTH_TOKEN_PATH="$state/auth_token"
        else
            unset RAY_AUTH_TOKEN RAY_AUTH_TOKEN_PATH
        fi
        t0=$SECONDS
        start_node 0 --head --port="$port" --dashboard-host=127.0.0.1 --dashboard-port="$dash_port" \
            --include-dashboard=true --ray-client-server-port=$((port_base + 7))
        for ((i = 1; i <= workers; i++)); do
            start_node "$i" --address="127.0.0.1:$port"
        done
        echo "http://127.0.0.1:$dash_port" >"$state/dashboard"
        echo "127.0.0.1:$port" >"$state/address"
        echo "local.sh: head + $workers worker node(s) up in $((SECONDS - t0)) s (auth $auth, state $state)"
        echo "  ray job submit --address http://127.0.0.1:$dash_port --working-dir . -- python -m jobs.train ..."
        echo "  RAY_ADDRESS=127.0.0.1:$port python ...       # a driver on this host"
        [[ "$auth" == token ]] && echo "  export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=$state/auth_token   # for clients"
        echo "  cluster/local.sh down --state-dir $state   # stop exactly these nodes"
        ;;
    down)
        [[ -d "$state" ]] || { echo "local.sh: nothing to stop ($state does not exist)"; exit 0; }
        if [[ -z "$(node_files)" ]]; then echo "local.sh: nothing to stop in $state"; fi
        stop_nodes
        rm -rf "$state"/run* "$state"/address "$state"/dashboard "$state"/auth_token
        ;;
    status)
        files="$(node_files)"
        [[ -n "$files" ]] || { echo "local.sh: no nodes recorded in $state"; exit 1; }
        down=0
        for f in $files; do
            sid="$(cat "$f")"
            if alive "$sid"; then state_word=up; else state_word=DOWN; down=1; fi
            echo "$(basename "$f" .sid): session $sid, $(session_pids "$sid" | wc -l) process(es), $state_word"
        done
        echo "dashboard $(cat "$state/dashboard" 2>/dev/null || echo '?'), GCS $(cat "$state/address" 2>/dev/null || echo '?')"
        exit $down
        ;;
    -h|--help|help) usage ;;
    *) die "unknown command '$cmd' (up N | down | status)" ;;
esac
