#!/usr/bin/env bash
# Starts a local Kubernetes control plane without Docker or a real kubelet:
#
#   etcd                     data in out/local-cluster/etcd
#   kube-apiserver           https://127.0.0.1:${KJOB_APISERVER_PORT:-16443}, RBAC and
#                            ServiceAccount admission on, client-certificate auth
#   kube-controller-manager  every default controller except the Job and CronJob
#                            controllers (this project provides those)
#   podsim                   simulated nodes that bind and run pods
#   job-controller           this project's Job controller, for Jobs with no managedBy
#
# and writes an admin kubeconfig to out/local-cluster/kubeconfig. State,
# logs and pid files all live under out/local-cluster (KJOB_CLUSTER_DIR);
# hack/cluster-down.sh stops everything again. docs/local-cluster.md has the
# walkthrough.
#
# Environment:
#   KJOB_APISERVER_PORT, KJOB_ETCD_PORT, KJOB_JOB_CONTROLLER_PORT
#                           ports on 127.0.0.1 (16443; 12379 and the next one; 18080)
#   PODSIM_FLAGS            extra podsim flags, e.g. --runtime=exec or --nodes=5
#   JOB_CONTROLLER_FLAGS    extra job-controller flags
#   GO                      the go command
set -euo pipefail
# shellcheck source=hack/cluster-lib.sh source-path=SCRIPTDIR/..
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

go_cmd="${GO:-go}"
apiserver_port="${KJOB_APISERVER_PORT:-16443}"
etcd_port="${KJOB_ETCD_PORT:-12379}"
etcd_peer_port="$((etcd_port + 1))"
job_controller_port="${KJOB_JOB_CONTROLLER_PORT:-18080}" # metrics, healthz, readyz
service_cidr="10.0.0.0/24"
service_ip="10.0.0.1" # the first address of service_cidr: the kubernetes Service
read -r -a podsim_flags <<<"${PODSIM_FLAGS:-}"
read -r -a job_controller_flags <<<"${JOB_CONTROLLER_FLAGS:-}"

for name in "${cluster_components[@]}"; do
	if [[ -n "$(cluster_pid "${name}")" ]]; then
		log "${name} is already running from ${cluster_dir}; run hack/cluster-down.sh (make cluster-down) first"
		exit 1
	fi
done
for cmd in openssl setsid; do
	if ! command -v "${cmd}" >/dev/null; then
		log "${cmd} is needed (Debian: apt-get install openssl util-linux)"
		exit 1
	fi
done
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# http_ok PORT PATH: does a plain HTTP GET on 127.0.0.1 answer 200?
http_ok() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
		read -r _ status _ <&3
		[[ "${status}" == 200 ]]
	) 2>/dev/null
}
for port in "${apiserver_port}" "${etcd_port}" "${etcd_peer_port}" "${job_controller_port}"; do
	if port_in_use "${port}"; then
		log "port ${port} on 127.0.0.1 is taken; pick others with KJOB_APISERVER_PORT, KJOB_ETCD_PORT, KJOB_JOB_CONTROLLER_PORT"
		exit 1
	fi
done

# A failed start leaves nothing running behind it.
started=false
on_exit() {
	if [[ "${started}" != true ]]; then
		log "start failed; stopping what was started"
		"${repo_root}/hack/cluster-down.sh" || true
	fi
}
trap on_exit EXIT

# --- binaries -----------------------------------------------------------------
GO="${go_cmd}" "${repo_root}/hack/build-tools.sh"
project_binaries=(./cmd/podsim)
if [[ -d "${repo_root}/cmd/job-controller" ]]; then
	project_binaries+=(./cmd/job-controller)
else
	log "WARNING: this checkout has no cmd/job-controller; the cluster will run pods but no Job controller"
fi
log "building ${project_binaries[*]}"
(cd "${repo_root}" && "${go_cmd}" build -o "${bin_dir}/" "${project_binaries[@]}")

# --- a fresh state directory ----------------------------------------------------
rm -rf "${cluster_dir}"
mkdir -p "${pid_dir}" "${log_dir}" "${pki_dir}" "${cluster_dir}/etcd"
chmod 700 "${cluster_dir}"

# --- certificates -----------------------------------------------------------------
# One CA signs the apiserver's serving certificate and a client certificate
# per component; the apiserver trusts client certificates from the same CA.
# ECDSA P-256 keys are quick to make. A separate key pair signs
# ServiceAccount tokens.
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

log "generating certificates in ${pki_dir}"
new_key "${pki_dir}/ca.key"
openssl req -x509 -new -key "${pki_dir}/ca.key" -subj "/CN=kjob-local-ca" -days 365 \
	-out "${pki_dir}/ca.crt" 2>/dev/null

# sign NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA.
sign() {
	local name="$1" subject="$2" extensions="$3"
	new_key "${pki_dir}/${name}.key"
	openssl req -new -key "${pki_dir}/${name}.key" -subj "${subject}" -out "${pki_dir}/${name}.csr" 2>/dev/null
	printf '%b\n' "${extensions}" >"${pki_dir}/${name}.ext"
	openssl x509 -req -in "${pki_dir}/${name}.csr" -CA "${pki_dir}/ca.crt" -CAkey "${pki_dir}/ca.key" \
		-set_serial "0x$(openssl rand -hex 12)" -days 365 -extfile "${pki_dir}/${name}.ext" \
		-out "${pki_dir}/${name}.crt" 2>/dev/null
	rm -f "${pki_dir}/${name}.csr" "${pki_dir}/${name}.ext"
}
client_ext='keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth'
sign kube-apiserver "/CN=kube-apiserver" \
	"keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:${service_ip}"
# The admin is the user behind out/local-cluster/kubeconfig. podsim and the
# Job controller run as cluster admins too: this is a throwaway local
# cluster, and each keeps a user name of its own for the audit trail.
sign admin "/O=system:masters/CN=kjob-admin" "${client_ext}"
sign kube-controller-manager "/CN=system:kube-controller-manager" "${client_ext}"
sign podsim "/O=system:masters/CN=kjob-podsim" "${client_ext}"
sign job-controller "/O=system:masters/CN=kjob-job-controller" "${client_ext}"
new_key "${pki_dir}/service-account.key"
openssl pkey -in "${pki_dir}/service-account.key" -pubout -out "${pki_dir}/service-account.pub" 2>/dev/null

# --- kubeconfigs ------------------------------------------------------------------
kubectl=("${bin_dir}/kubectl")
# write_kubeconfig FILE USER: a kubeconfig for the user's certificate.
write_kubeconfig() {
	local file="$1" user="$2"
	"${kubectl[@]}" config set-cluster kjob-local --kubeconfig="${file}" \
		--server="https://127.0.0.1:${apiserver_port}" --certificate-authority="${pki_dir}/ca.crt" --embed-certs >/dev/null
	"${kubectl[@]}" config set-credentials "${user}" --kubeconfig="${file}" \
		--client-certificate="${pki_dir}/${user}.crt" --client-key="${pki_dir}/${user}.key" --embed-certs >/dev/null
	"${kubectl[@]}" config set-context kjob-local --kubeconfig="${file}" --cluster=kjob-local --user="${user}" >/dev/null
	"${kubectl[@]}" config use-context kjob-local --kubeconfig="${file}" >/dev/null
}
write_kubeconfig "${kubeconfig}" admin
for user in kube-controller-manager podsim job-controller; do
	write_kubeconfig "${cluster_dir}/${user}.kubeconfig" "${user}"
done
kubectl+=(--kubeconfig="${kubeconfig}")

# --- processes --------------------------------------------------------------------
# launch NAME ARGS...: start a component in a session of its own (so a
# terminal's Ctrl-C or hang-up does not reach it), with its output in
# logs/NAME.log and its pid in pids/NAME.pid.
launch() {
	local name="$1"
	shift
	setsid "$@" </dev/null >>"${log_dir}/${name}.log" 2>&1 &
	echo $! >"${pid_dir}/${name}.pid"
	log "started ${name} (pid $!), log: ${log_dir}/${name}.log"
}

# wait_for WHAT SECONDS COMMAND...: poll until the command succeeds.
wait_for() {
	local what="$1" seconds="$2" name="$3"
	shift 3
	local deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		if [[ -z "$(cluster_pid "${name}")" ]]; then
			log "${name} exited; the end of ${log_dir}/${name}.log:"
			tail -n 20 "${log_dir}/${name}.log" >&2
			exit 1
		fi
		if ((SECONDS >= deadline)); then
			log "gave up waiting for ${what} after ${seconds}s; see ${log_dir}/${name}.log"
			exit 1
		fi
		sleep 0.5
	done
}

launch etcd "${bin_dir}/etcd" \
	--name=kjob-local \
	--data-dir="${cluster_dir}/etcd" \
	--listen-client-urls="http://127.0.0.1:${etcd_port}" \
	--advertise-client-urls="http://127.0.0.1:${etcd_port}" \
	--listen-peer-urls="http://127.0.0.1:${etcd_peer_port}" \
	--initial-advertise-peer-urls="http://127.0.0.1:${etcd_peer_port}" \
	--initial-cluster="kjob-local=http://127.0.0.1:${etcd_peer_port}" \
	--unsafe-no-fsync
wait_for "etcd" 60 etcd port_in_use "${etcd_port}"

# Everything listens on loopback only. The apiserver refuses to publish a
# loopback address as the endpoint of the kubernetes Service, so it
# publishes none: nothing here runs inside a pod network anyway.
launch kube-apiserver "${bin_dir}/kube-apiserver" \
	--etcd-servers="http://127.0.0.1:${etcd_port}" \
	--bind-address=127.0.0.1 \
	--advertise-address=127.0.0.1 \
	--endpoint-reconciler-type=none \
	--secure-port="${apiserver_port}" \
	--cert-dir="${pki_dir}" \
	--tls-cert-file="${pki_dir}/kube-apiserver.crt" \
	--tls-private-key-file="${pki_dir}/kube-apiserver.key" \
	--client-ca-file="${pki_dir}/ca.crt" \
	--authorization-mode=Node,RBAC \
	--enable-admission-plugins=ServiceAccount \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="${pki_dir}/service-account.pub" \
	--service-account-signing-key-file="${pki_dir}/service-account.key" \
	--service-cluster-ip-range="${service_cidr}"
wait_for "the apiserver to be ready" 120 kube-apiserver "${kubectl[@]}" get --raw=/readyz

# The Job and CronJob controllers are this project's. ttl-after-finished
# stays on: the project's Job controller does not implement
# ttlSecondsAfterFinished yet, and upstream's works on any Job.
launch kube-controller-manager "${bin_dir}/kube-controller-manager" \
	--kubeconfig="${cluster_dir}/kube-controller-manager.kubeconfig" \
	--controllers='*,-job-controller,-cronjob-controller' \
	--use-service-account-credentials \
	--service-account-private-key-file="${pki_dir}/service-account.key" \
	--root-ca-file="${pki_dir}/ca.crt" \
	--cluster-signing-cert-file="${pki_dir}/ca.crt" \
	--cluster-signing-key-file="${pki_dir}/ca.key" \
	--leader-elect=false \
	--secure-port=0
# Pods are refused in a namespace until its default ServiceAccount exists.
wait_for "the default ServiceAccount" 120 kube-controller-manager "${kubectl[@]}" get serviceaccount default

# podsim's container output goes to logs/pods.log, its own log to logs/podsim.log.
setsid "${bin_dir}/podsim" --kubeconfig="${cluster_dir}/podsim.kubeconfig" "${podsim_flags[@]}" \
	</dev/null >>"${log_dir}/pods.log" 2>>"${log_dir}/podsim.log" &
echo $! >"${pid_dir}/podsim.pid"
log "started podsim (pid $!), log: ${log_dir}/podsim.log, container output: ${log_dir}/pods.log"
# podsim logs "Nodes registered" once it has created every node.
nodes_ready() {
	local ready
	grep -qF '"Nodes registered"' "${log_dir}/podsim.log" || return 1
	ready="$("${kubectl[@]}" get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')"
	[[ -n "${ready}" ]] && ! grep -qv True <<<"${ready}"
}
wait_for "the simulated nodes to be Ready" 60 podsim nodes_ready

if [[ -x "${bin_dir}/job-controller" && -d "${repo_root}/cmd/job-controller" ]]; then
	# kube-controller-manager's job controller is off, so this one also
	# takes the Jobs that name no controller in spec.managedBy.
	launch job-controller "${bin_dir}/job-controller" \
		--kubeconfig="${cluster_dir}/job-controller.kubeconfig" \
		--manage-builtin-jobs \
		--leader-elect=false \
		--bind-address="127.0.0.1:${job_controller_port}" \
		"${job_controller_flags[@]}"
	wait_for "the Job controller to be ready" 60 job-controller http_ok "${job_controller_port}" /readyz
fi

started=true
"${kubectl[@]}" get nodes
log "up. Use it with
    export KUBECONFIG=${kubeconfig}
    kubectl create -f testdata/hello-job.yaml
cluster: logs are in ${log_dir}; stop it with make cluster-down"
