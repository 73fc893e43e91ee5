# shellcheck shell=bash
# Shared by sam-package.sh, sam-deploy.sh and sam-delete.sh (sourced, never run): argument checks
# with one clear line per problem, and the choice of which SAM CLI to run.

# Print "<script>: <message>" to stderr and exit with the given status (default 1).
die() {
  echo "$(basename "$0"): $1" >&2
  exit "${2:-1}"
}

# --help prints the calling script's usage and exits 0; fewer than $1 arguments print it to
# stderr and exit 2.
check_usage() {
  local required=$1
  shift
  if [[ $# -ge 1 && ( "$1" == "-h" || "$1" == "--help" ) ]]; then
    usage
    exit 0
  fi
  if [[ $# -lt $required ]]; then
    usage >&2
    exit 2
  fi
}

# Refuse a stray positional argument after the required ones: what follows them goes to sam
# untouched, so it has to start with an option (e.g. --region). Usage errors exit 2.
check_passthrough() {
  if [[ $# -gt 0 && "$1" != -* ]]; then
    die "unexpected argument '$1': extra arguments are passed to sam and must start with an option such as --region (run with --help)" 2
  fi
}

# Refuse an empty required argument (an unset shell variable in the caller's command line).
check_not_empty() {
  if [[ -z "$2" ]]; then
    die "$1 is empty (run with --help)" 2
  fi
}

# CloudFormation's rule for stack names, checked here so a typo fails before any AWS call.
check_stack_name() {
  if [[ ! "$1" =~ ^[A-Za-z][-A-Za-z0-9]{0,127}$ ]]; then
    die "'$1' is not a stack name (a letter, then letters, digits and hyphens; at most 128)" 2
  fi
}

# Sets SAM to the SAM CLI to run. In order: $PCLAB_SAM if set, `sam` on PATH, else the project's
# own .venv/bin/sam (installed by `make bootstrap`), announced on stderr so it is never a surprise.
find_sam() {
  local project_dir=$1
  if [[ -n "${PCLAB_SAM:-}" ]]; then
    command -v "$PCLAB_SAM" >/dev/null 2>&1 \
      || die "PCLAB_SAM=$PCLAB_SAM is not a command: point it at the sam executable, or unset it"
    SAM=$PCLAB_SAM
    # a relative path must survive a cd (sam-package.sh runs sam build from the build's folder)
    [[ "$SAM" != */* || "$SAM" == /* ]] || SAM="$PWD/$SAM"
  elif command -v sam >/dev/null 2>&1; then
    SAM=sam
  elif [[ -x "$project_dir/.venv/bin/sam" ]]; then
    SAM="$project_dir/.venv/bin/sam"
    echo "$(basename "$0"): sam is not on PATH; using $SAM (installed by make bootstrap)" >&2
  else
    die "the AWS SAM CLI (sam) is not installed: run 'pip install aws-sam-cli', or 'make bootstrap' in $project_dir (these scripts then use its .venv/bin/sam)" 127
  fi
}

# Refuse a --parameter-overrides key the template does not declare: SAM CLI drops such a key
# silently, so a typo (ColdStartDelaySecond=1) would deploy the default instead. Reads the
# top-level Parameters block of a YAML template (as sam package writes it); a template without
# one (or in JSON) is not checked. Usage errors exit 2.
check_parameter_overrides() {
  local template=$1 line in_block=0 arg word key
  shift
  local -a declared=() words=()
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" == "Parameters:"* ]]; then
      in_block=1
    elif [[ $in_block -eq 1 && "$line" =~ ^[^[:space:]#] ]]; then
      break
    elif [[ $in_block -eq 1 && "$line" =~ ^\ \ ([A-Za-z0-9]+): ]]; then
      declared+=("${BASH_REMATCH[1]}")
    fi
  done <"$template"
  [[ ${#declared[@]} -gt 0 ]] || return 0
  local overriding=0
  for arg in "$@"; do
    if [[ "$arg" == --parameter-overrides ]]; then
      overriding=1
      continue
    fi
    [[ "$arg" == -* ]] && overriding=0
    [[ $overriding -eq 1 ]] || continue
    read -ra words <<<"$arg"
    for word in "${words[@]}"; do
      # Key=Value or ParameterKey=Key,ParameterValue=Value; other words (a quoted value's
      # remainder) are left to sam
      if [[ "$word" =~ ^ParameterKey=([^,]*) ]]; then
        key=${BASH_REMATCH[1]}
      elif [[ "$word" =~ ^([A-Za-z0-9]+)= ]]; then
        key=${BASH_REMATCH[1]}
      else
        continue
      fi
      [[ " ${declared[*]} " == *" $key "* ]] \
        || die "unknown parameter '$key' in --parameter-overrides (sam would ignore it): the template's parameters are ${declared[*]}" 2
    done
  done
}

# Run the SAM CLI ($SAM, from find_sam) with a bound on its wall time: PCLAB_SAM_TIMEOUT seconds,
# default 3900 (SAM CLI's own stack wait, sam deploy --max-wait-duration, is 60 minutes; plus
# the change set). SAM CLI waits through botocore, which retries each call for minutes against
# an endpoint that stopped answering (60 s read timeouts, several attempts), and its change-set
# waiter has no bound of its own: `timeout` ends it with one line naming the endpoint, exit 124.
# Without `timeout` (coreutils; macOS has it only as gtimeout) SAM runs unbounded, as before.
run_sam() {
  local limit=${PCLAB_SAM_TIMEOUT:-3900} status=0 timeout_command=""
  [[ "$limit" =~ ^[1-9][0-9]*$ ]] \
    || die "PCLAB_SAM_TIMEOUT=$limit is not a whole number of seconds" 2
  if command -v timeout >/dev/null 2>&1; then
    timeout_command=timeout
  elif command -v gtimeout >/dev/null 2>&1; then
    timeout_command=gtimeout
  else
    "$SAM" "$@"
    return
  fi
  # --foreground: Ctrl-C still reaches sam; --kill-after: a sam that ignores SIGTERM
  "$timeout_command" --foreground --kill-after=10 "$limit" "$SAM" "$@" || status=$?
  if [[ $status -eq 124 || $status -eq 137 ]]; then
    die "sam $1 did not finish within ${limit} s (PCLAB_SAM_TIMEOUT): is ${AWS_ENDPOINT_URL:-the AWS endpoint} still answering? The stack may still be changing: look at it with aws cloudformation describe-stacks before deploying again" 124
  fi
  return "$status"
}
