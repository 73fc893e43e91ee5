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
# sam delete reports a stack that does not exist on stdout and exits 0, so a misspelt name (or
# the wrong region) would pass for a finished teardown while the real stack's PC bill goes on.
missing=0
while IFS= read -r line; do
  printf '%s\n' "$line"
  [[ "$line" == *" does not exist on Cloudformation"* ]] && missing=1
done < <(PYTHONUNBUFFERED=1 "$SAM" delete --stack-name "$stack_name" --no-prompts "$@")
wait $! || exit $? # sam's own exit status: bash waits for a process substitution by its pid
[[ $missing -eq 0 ]] \
  || die "stack '$stack_name' does not exist, nothing was deleted: check the name (and --region) against the stack you deployed"
