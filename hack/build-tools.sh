#!/usr/bin/env bash
# Builds the control-plane binaries the integration tests run (kube-apiserver,
# kube-controller-manager, kubectl, etcd) from source through the Go module
# proxy, into bin/ at the repository root (or $KJOB_TEST_BIN).
#
# A cold build takes many minutes, so each binary is rebuilt only when it is
# missing or its stamp no longer matches the pinned versions: the stamp holds
# the Go version and a digest of the go.mod/go.sum that pin the binary, so
# bumping a version in hack/tools/go.mod (or hack/tools/etcd/go.mod) is all it
# takes to trigger a rebuild. FORCE=1 rebuilds everything.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_dir="${repo_root}/hack/tools"
etcd_dir="${tools_dir}/etcd"
bin_dir="${KJOB_TEST_BIN:-${repo_root}/bin}"
stamp_dir="${bin_dir}/.stamps"
# Messages show bin_dir relative to the current directory when under it.
shown_bin_dir="${bin_dir#"${PWD}/"}"

go_cmd="${GO:-go}"

# The tools modules carry complete go.sum files; a caller's GOFLAGS (for
# example -mod=mod) or a go.work higher up must not change how they resolve.
export GOFLAGS="-mod=readonly"
export GOWORK=off
# Static binaries, as Kubernetes releases them; also avoids needing a C compiler.
export CGO_ENABLED=0

# module_version prints the version a go.mod requires for a module path.
module_version() {
	local gomod="$1" module="$2" version
	version="$(awk -v m="${module}" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "${gomod}")"
	if [[ -z "${version}" ]]; then
		echo "build-tools: ${gomod}: no requirement on ${module}" >&2
		exit 1
	fi
	echo "${version}"
}

kube_version="$(module_version "${tools_dir}/go.mod" k8s.io/kubernetes)"
etcd_version="$(module_version "${etcd_dir}/go.mod" go.etcd.io/etcd/server/v3)"
go_version="$("${go_cmd}" env GOVERSION)"

# The version variables that Kubernetes' own release build stamps in, so that
# the binaries (and the API server's /version) report the pinned release
# instead of v0.0.0-master.
kube_ldflags() {
	local major minor rest
	major="${kube_version#v}"
	major="${major%%.*}"
	rest="${kube_version#v*.}"
	minor="${rest%%.*}"
	local flags="-s -w"
	local pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X ${pkg}.gitVersion=${kube_version}"
		flags+=" -X ${pkg}.gitMajor=${major}"
		flags+=" -X ${pkg}.gitMinor=${minor}"
		flags+=" -X ${pkg}.gitTreeState=clean"
		flags+=" -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
	done
	echo "${flags}"
}

etcd_ldflags() {
	echo "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-${etcd_version}"
}

# stamp_for prints what a binary's stamp must contain to count as current.
stamp_for() {
	local module_dir="$1" version="$2"
	local digest
	digest="$(cat "${module_dir}/go.mod" "${module_dir}/go.sum" | sha256sum | cut -d' ' -f1)"
	echo "${version} ${go_version} ${digest}"
}

# stale lists, out of the binaries given, those that are missing or stamped
# for something other than want.
stale() {
	local want="$1"
	shift
	local name
	for name in "$@"; do
		if [[ ! -x "${bin_dir}/${name}" ]] || [[ "$(cat "${stamp_dir}/${name}" 2>/dev/null)" != "${want}" ]]; then
			echo "${name}"
		fi
	done
}

# build compiles the given name=package pairs of one module in a single go
# invocation, so that their shared packages are compiled once, then stamps them.
build() {
	local module_dir="$1" want="$2" ldflags="$3"
	shift 3
	local names=() pkgs=() pair
	for pair in "$@"; do
		names+=("${pair%%=*}")
		pkgs+=("${pair#*=}")
	done
	echo "build-tools: building ${names[*]} (${want%% *}) into ${shown_bin_dir}"
	local start=${SECONDS}
	# go build -o names a file for one package and a directory for several.
	local out="${bin_dir}/"
	if [[ ${#pkgs[@]} -eq 1 ]]; then
		out="${bin_dir}/${names[0]}"
	fi
	(cd "${module_dir}" && "${go_cmd}" build -trimpath -ldflags "${ldflags}" -o "${out}" "${pkgs[@]}")
	local name
	for name in "${names[@]}"; do
		echo "${want}" >"${stamp_dir}/${name}"
	done
	echo "build-tools: built ${names[*]} in $((SECONDS - start))s"
}

# Which binaries to consider: all by default, or those named as arguments.
wanted=("$@")
if [[ ${#wanted[@]} -eq 0 ]]; then
	wanted=(kube-apiserver kube-controller-manager kubectl etcd)
fi
kube_wanted=() etcd_wanted=()
for name in "${wanted[@]}"; do
	case "${name}" in
	kube-apiserver | kube-controller-manager | kubectl) kube_wanted+=("${name}") ;;
	etcd) etcd_wanted+=("${name}") ;;
	*)
		echo "build-tools: unknown binary ${name} (want kube-apiserver, kube-controller-manager, kubectl or etcd)" >&2
		exit 2
		;;
	esac
done

mkdir -p "${bin_dir}" "${stamp_dir}"

if [[ "${FORCE:-0}" == 1 ]]; then
	for name in "${wanted[@]}"; do
		rm -f "${stamp_dir}/${name}"
	done
fi

if [[ ${#kube_wanted[@]} -gt 0 ]]; then
	kube_want="$(stamp_for "${tools_dir}" "${kube_version}")"
	pairs=()
	for name in $(stale "${kube_want}" "${kube_wanted[@]}"); do
		pairs+=("${name}=k8s.io/kubernetes/cmd/${name}")
	done
	if [[ ${#pairs[@]} -gt 0 ]]; then
		build "${tools_dir}" "${kube_want}" "$(kube_ldflags)" "${pairs[@]}"
	fi
fi

if [[ ${#etcd_wanted[@]} -gt 0 ]]; then
	etcd_want="$(stamp_for "${etcd_dir}" "${etcd_version}")"
	if [[ -n "$(stale "${etcd_want}" etcd)" ]]; then
		build "${etcd_dir}" "${etcd_want}" "$(etcd_ldflags)" "etcd=."
	fi
fi

echo "build-tools: ${wanted[*]} up to date in ${shown_bin_dir} (kube ${kube_version}, etcd ${etcd_version})"
