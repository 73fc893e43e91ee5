#!/usr/bin/env bash
# Delete the stack, and with it the provisioned concurrency that is billed while it exists.
set -euo pipefail

usage() {
  cat <<USAGE
usage: $(basename "$0") STACK_NAME [extra sam delete args...]

Runs 'sam delete' without prompts: the stack and everything in it are deleted.
  STACK_NAME  the CloudFormation stack, e.g. pclab
Extra arguments go to 'sam delete' untouched, e.g. --region eu-west-1.

Environment:
  PCLAB_SAM  the SAM CLI to run (default: sam on PATH, else .venv/bin/sam)
USAGE
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/sam-common.sh
source "$here/scripts/sam-common.sh"

check_usage 1 "$@"
stack_name=$1
shift
check_not_empty STACK_NAME "$stack_name"
check_passthrough "$@"
check_stack_name "$stack_name"

find_sam "$here"
"$SAM" delete --stack-name "$stack_name" --no-prompts "$@"
