#!/usr/bin/env bash
# Build the functions with their dependencies (aws-xray-sdk is not in Lambda's Python runtime),
# then upload the code and the state machine definition to S3 and write the packaged template
# that sam-deploy.sh deploys.
set -euo pipefail

usage() {
  cat <<USAGE
usage: $(basename "$0") TEMPLATE OUTPUT_TEMPLATE S3_BUCKET [extra sam package args...]

Runs 'sam build --cached' (no container) into a build folder, then 'sam package' of the built
template.
  TEMPLATE         the SAM template, e.g. template.yaml
  OUTPUT_TEMPLATE  where to write the packaged template, e.g. packaged.yaml
  S3_BUCKET        an existing S3 bucket for the code and the state machine definition
Extra arguments go to 'sam package' untouched, e.g. --region eu-west-1 --s3-prefix pclab.

Repeated builds are cached ('sam build --cached'): while functions/requirements.txt is unchanged
the dependencies installed by the previous build are reused (no PyPI download); the code is
copied afresh every time. SAM keeps that cache in build.toml next to the build folder and in
.aws-sam/deps and .aws-sam/cache of the folder it runs in: the build folder's parent, or the
parent's parent when that is a .aws-sam folder (the default, SAM's own layout).

Environment:
  PCLAB_BUILD_DIR       build folder (default .aws-sam/build)
  PCLAB_SAM_BUILD_CACHE 1 (default) reuses the cached dependencies; 0 installs them afresh from
                        PyPI ('sam build --no-cached'), e.g. to pick up newer unpinned
                        transitive dependencies
  PCLAB_PYTHON_RUNTIME  build for this runtime instead of the template's PythonRuntime default
                        (python3.11); sam build needs that Python on PATH. Deploy with the same
                        value: --parameter-overrides PythonRuntime=<value>
  PCLAB_SAM             the SAM CLI to run (default: sam on PATH, else .venv/bin/sam)
USAGE
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/sam-common.sh
source "$here/scripts/sam-common.sh"

check_usage 3 "$@"
template=$1
output_template=$2
bucket=$3
shift 3
check_not_empty TEMPLATE "$template"
check_not_empty OUTPUT_TEMPLATE "$output_template"
check_not_empty S3_BUCKET "$bucket"
check_passthrough "$@"

[[ -f "$template" ]] || die "template '$template' does not exist: give the path of the SAM template, e.g. template.yaml" 2
output_dir="$(dirname "$output_template")"
[[ -d "$output_dir" ]] || die "folder '$output_dir' for OUTPUT_TEMPLATE does not exist: create it or write the packaged template elsewhere" 2
if [[ ! "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]]; then
  die "'$bucket' is not an S3 bucket name (3-63 characters: lower-case letters, digits, dots, hyphens)" 2
fi

cache="${PCLAB_SAM_BUILD_CACHE:-1}"
if [[ "$cache" != 0 && "$cache" != 1 ]]; then
  die "PCLAB_SAM_BUILD_CACHE='$cache' is not 0 or 1: 1 reuses the previous build's dependencies, 0 installs them afresh" 2
fi

find_sam "$here"
build_dir="${PCLAB_BUILD_DIR:-.aws-sam/build}"
# 'sam build --cached' keeps the requirements' hash in build.toml next to the build folder and the
# installed dependencies in .aws-sam/deps of the folder it runs in. Both must be one pair (a
# build.toml shared with another deps folder would reuse stale dependencies), and builds into
# other folders must not share them (SAM deletes deps it does not know). So sam build runs from
# the build folder's parent, or from the parent's parent when that is a .aws-sam folder: SAM's
# own layout, shared with a plain 'sam build --cached' run in the project.
[[ "$build_dir" == /* ]] || build_dir="$PWD/$build_dir"
[[ "$template" == /* ]] || template="$PWD/$template"
state_dir="$(dirname "$build_dir")"
run_dir="$state_dir"
[[ "$(basename "$state_dir")" != .aws-sam ]] || run_dir="$(dirname "$state_dir")"
mkdir -p "$state_dir"

build_args=(build --template-file "$template" --build-dir "$build_dir")
if [[ "$cache" == 1 ]]; then
  build_args+=(--cached --cache-dir "$run_dir/.aws-sam/cache")
else
  build_args+=(--no-cached)
fi
if [[ -n "${PCLAB_PYTHON_RUNTIME:-}" ]]; then
  build_args+=(--parameter-overrides "PythonRuntime=$PCLAB_PYTHON_RUNTIME")
fi

(cd "$run_dir" && "$SAM" "${build_args[@]}")
"$SAM" package --template-file "$build_dir/template.yaml" --s3-bucket "$bucket" \
  --output-template-file "$output_template" "$@"
echo "Packaged template written to $output_template: deploy it with ./sam-deploy.sh STACK_NAME $output_template"
