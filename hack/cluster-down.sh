#!/usr/bin/env bash
# Stops every process hack/cluster-up.sh started, newest first: SIGTERM,
# then SIGKILL for whatever is still there after a grace period. Logs stay
# in out/local-cluster/logs for a look afterwards; the next cluster-up
# starts from scratch.
set -euo pipefail
# shellcheck source=hack/cluster-lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

grace_seconds="${KJOB_STOP_GRACE:-15}"

# stop ends one component and waits for it.
stop() {
	local name="$1" pid waited=0
	pid="$(cluster_pid "${name}")"
	rm -f "${pid_dir}/${name}.pid"
	[[ -n "${pid}" ]] || return 0
	log "stopping ${name} (pid ${pid})"
	kill -TERM "${pid}" 2>/dev/null || return 0
	while kill -0 "${pid}" 2>/dev/null; do
		if ((waited >= grace_seconds * 10)); then
			log "${name} did not stop within ${grace_seconds}s, killing it"
			kill -KILL "${pid}" 2>/dev/null || true
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	# Whatever it started and left behind goes with it.
	local left
	mapfile -t left < <(session_pids "${pid}")
	if ((${#left[@]} > 0)); then
		log "stopping what ${name} left running: ${left[*]}"
		kill -KILL "${left[@]}" 2>/dev/null || true
	fi
}

for ((i = ${#cluster_components[@]} - 1; i >= 0; i--)); do
	stop "${cluster_components[i]}"
done

# Anything still naming the cluster directory was started by it (a
# component's child, or a component whose pid file was lost).
mapfile -t strays < <(stray_pids)
if ((${#strays[@]} > 0)); then
	log "stopping leftover processes: ${strays[*]}"
	kill -KILL "${strays[@]}" 2>/dev/null || true
	sleep 0.5
	mapfile -t strays < <(stray_pids)
	if ((${#strays[@]} > 0)); then
		log "still running: ${strays[*]}"
		exit 1
	fi
fi
log "stopped; logs are in ${log_dir}"
