#!/usr/bin/env bash
# Deploy a template written by sam-package.sh. Provisioned concurrency is billed from the moment
# the deploy allocates it until sam-delete.sh removes the stack.
set -euo pipefail

usage() {
  cat <<USAGE
usage: $(basename "$0") STACK_NAME PACKAGED_TEMPLATE [extra sam deploy args...]

Runs 'sam deploy' with the IAM capabilities the stack needs; an unchanged stack is not an error.
  STACK_NAME         the CloudFormation stack, e.g. pclab
  PACKAGED_TEMPLATE  the template sam-package.sh wrote, e.g. packaged.yaml
Extra arguments go to 'sam deploy' untouched, e.g.
  --parameter-overrides ProvisionedConcurrency=1 ColdStartDelaySeconds=2 --region eu-west-1

Environment:
  PCLAB_SAM          the SAM CLI to run (default: sam on PATH, else .venv/bin/sam)
  PCLAB_SAM_TIMEOUT  give up after this many seconds, exit 124 (default 3900)
USAGE
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/sam-common.sh
source "$here/scripts/sam-common.sh"

check_usage 2 "$@"
stack_name=$1
packaged_template=$2
shift 2
check_not_empty STACK_NAME "$stack_name"
check_not_empty PACKAGED_TEMPLATE "$packaged_template"
check_passthrough "$@"

check_stack_name "$stack_name"
[[ -f "$packaged_template" ]] || die "packaged template '$packaged_template' does not exist: write it first with ./sam-package.sh template.yaml $packaged_template S3_BUCKET" 2
check_parameter_overrides "$packaged_template" "$@"

find_sam "$here"
run_sam deploy --template-file "$packaged_template" --stack-name "$stack_name" \
  --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset "$@"
