#!/usr/bin/env bash
# Build the functions with their dependencies (aws-xray-sdk is not in Lambda's Python runtime),
# then upload the code and the state machine definition to S3 and write the packaged template
# that sam-deploy.sh deploys.
set -euo pipefail

usage() {
  cat <<USAGE
usage: $(basename "$0") TEMPLATE OUTPUT_TEMPLATE S3_BUCKET [extra sam package args...]

Runs 'sam build' (no container) into a build folder, then 'sam package' of the built template.
  TEMPLATE         the SAM template, e.g. template.yaml
  OUTPUT_TEMPLATE  where to write the packaged template, e.g. packaged.yaml
  S3_BUCKET        an existing S3 bucket for the code and the state machine definition
Extra arguments go to 'sam package' untouched, e.g. --region eu-west-1 --s3-prefix pclab.

Environment:
  PCLAB_BUILD_DIR       build folder (default .aws-sam/build)
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

find_sam "$here"
build_dir="${PCLAB_BUILD_DIR:-.aws-sam/build}"
build_args=(build --template-file "$template" --build-dir "$build_dir")
if [[ -n "${PCLAB_PYTHON_RUNTIME:-}" ]]; then
  build_args+=(--parameter-overrides "PythonRuntime=$PCLAB_PYTHON_RUNTIME")
fi

"$SAM" "${build_args[@]}"
"$SAM" package --template-file "$build_dir/template.yaml" --s3-bucket "$bucket" \
  --output-template-file "$output_template" "$@"
echo "Packaged template written to $output_template: deploy it with ./sam-deploy.sh STACK_NAME $output_template"
