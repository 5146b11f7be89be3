# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are for the scripts that source this file
# Shared by hack/cluster-up.sh and hack/cluster-down.sh: where the local
# cluster keeps its state, and how its processes are tracked.
#
# Every process the cluster starts is recorded in ${pid_dir}/NAME.pid and
# has the cluster directory somewhere in its command line, which is how a
# stale pid file (a pid reused by something else) is told apart.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster_dir="${KJOB_CLUSTER_DIR:-${repo_root}/out/local-cluster}"
bin_dir="${KJOB_TEST_BIN:-${repo_root}/bin}"
pid_dir="${cluster_dir}/pids"
log_dir="${cluster_dir}/logs"
pki_dir="${cluster_dir}/pki"
kubeconfig="${cluster_dir}/kubeconfig"

# Start order; cluster-down stops them in reverse.
cluster_components=(etcd kube-apiserver kube-controller-manager podsim job-controller)

# log prints a message, with paths under the current directory shortened.
log() {
	local msg="$*"
	echo "cluster: ${msg//"${PWD}/"/}" >&2
}

# names_cluster_dir PID: does the process's command line name the cluster
# directory?
names_cluster_dir() {
	local args
	args="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" || return 1
	[[ "${args}" == *"${cluster_dir}/"* ]]
}

# cluster_pid prints the pid of a running component, or nothing.
cluster_pid() {
	local file="${pid_dir}/$1.pid" pid
	[[ -f "${file}" ]] || return 0
	pid="$(cat "${file}")"
	if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null && names_cluster_dir "${pid}"; then
		echo "${pid}"
	fi
}

# stray_pids lists processes whose command line names the cluster
# directory: what is left once every component has been stopped.
stray_pids() {
	local proc
	for proc in /proc/[0-9]*; do
		if names_cluster_dir "${proc#/proc/}"; then
			echo "${proc#/proc/}"
		fi
	done
}

# session_pids SID lists the processes of session SID. Every component is
# started by setsid and so leads a session of its own, which its children
# (the exec runtime's processes under podsim, say) stay in.
session_pids() {
	local proc stat sid
	for proc in /proc/[0-9]*; do
		{ read -r stat <"${proc}/stat"; } 2>/dev/null || continue
		# The fields after "pid (command) " are: state, ppid, pgrp, session.
		read -r _ _ _ sid _ <<<"${stat##*) }"
		if [[ "${sid}" == "$1" ]]; then
			echo "${proc#/proc/}"
		fi
	done
}
