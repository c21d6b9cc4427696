#!/usr/bin/env bash
# Runs one `motiongpt` command on every worker of a Cloud TPU VM at once.
#
#   ./run_tpu.sh --tpu NAME --zone ZONE [--project P] [--create TYPE --version RUNTIME]
#                [--dry-run] [--no-sync] -- SUBCOMMAND ARGS...
#
# 1. (--create) creates the TPU VM, e.g. --create v4-32 --version tpu-ubuntu2204-base;
# 2. checks that the TPU VM exists and counts its workers;
# 3. packs the committed code (git archive HEAD), copies it to every worker and installs it
#    there with jax[tpu] (skipped with --no-sync);
# 4. starts `motiongpt SUBCOMMAND ARGS...` on all workers with `gcloud compute tpus tpu-vm
#    ssh --worker=all`; each worker joins the others through jax.distributed
#    (MOTIONGPT_DISTRIBUTED=auto) and writes its log to ~/motiongpt-jax/logs/worker-<i>.log,
#    which are then copied back to ./logs/<tpu>/.
# --dry-run prints every command instead of running it. Paths in ARGS are paths on the
# workers (a shared bucket or a disk mounted on each).
set -euo pipefail

usage() {
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

die() {
  echo "run_tpu.sh: error: $*" >&2
  exit 2
}

TPU="" ZONE="" PROJECT="" CREATE="" VERSION="" DRY_RUN=0 SYNC=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tpu) TPU="${2:-}"; shift 2 ;;
    --zone) ZONE="${2:-}"; shift 2 ;;
    --project) PROJECT="${2:-}"; shift 2 ;;
    --create) CREATE="${2:-}"; shift 2 ;;
    --version) VERSION="${2:-}"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --no-sync) SYNC=0; shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    *) die "unknown option '$1' (the motiongpt command goes after '--')" ;;
  esac
done
[[ -n "$TPU" ]] || die "--tpu NAME is required"
[[ -n "$ZONE" ]] || die "--zone ZONE is required"
[[ $# -gt 0 ]] || die "no motiongpt command given after '--' (e.g. -- train --config ...)"
if [[ -n "$CREATE" && -z "$VERSION" ]]; then
  die "--create $CREATE needs --version RUNTIME (e.g. tpu-ubuntu2204-base)"
fi

GCLOUD=(gcloud compute tpus tpu-vm)
WHERE=(--zone "$ZONE")
[[ -n "$PROJECT" ]] && WHERE+=(--project "$PROJECT")
# shellcheck disable=SC2088  # the tilde is for the workers' shells to expand
REMOTE_DIR='~/motiongpt-jax'
ARCHIVE="/tmp/motiongpt-jax-$TPU.tar.gz"
LOGS="logs/$TPU"

# The motiongpt command, quoted for the remote shell.
COMMAND=""
for arg in "$@"; do
  COMMAND+=" $(printf '%q' "$arg")"
done

run() {  # prints the command; runs it unless --dry-run
  printf '+'
  printf ' %q' "$@"
  printf '\n'
  if [[ $DRY_RUN -eq 0 ]]; then
    "$@"
  fi
}

if [[ $DRY_RUN -eq 0 ]] && ! command -v gcloud > /dev/null; then
  die "gcloud is not installed or not on PATH (https://cloud.google.com/sdk/docs/install)"
fi

if [[ -n "$CREATE" ]]; then
  run "${GCLOUD[@]}" create "$TPU" "${WHERE[@]}" --accelerator-type "$CREATE" \
    --version "$VERSION"
fi

if [[ $DRY_RUN -eq 0 ]]; then
  if ! ENDPOINTS=$("${GCLOUD[@]}" describe "$TPU" "${WHERE[@]}" \
      --format='value(networkEndpoints.len())' 2> /dev/null); then
    die "no TPU VM '$TPU' in zone $ZONE${PROJECT:+ of project $PROJECT} (create one with \
--create TYPE --version RUNTIME)"
  fi
  echo "TPU VM $TPU: ${ENDPOINTS:-?} worker(s)"
else
  echo "+ ${GCLOUD[*]} describe $TPU ${WHERE[*]} --format='value(networkEndpoints.len())'"
fi

if [[ $SYNC -eq 1 ]]; then
  run git archive --format=tar.gz -o "$ARCHIVE" HEAD
  run "${GCLOUD[@]}" scp "$ARCHIVE" "$TPU:/tmp/motiongpt-jax.tar.gz" --worker=all \
    "${WHERE[@]}"
  run "${GCLOUD[@]}" ssh "$TPU" --worker=all "${WHERE[@]}" --command \
    "mkdir -p $REMOTE_DIR/logs && tar -xzf /tmp/motiongpt-jax.tar.gz -C $REMOTE_DIR && \
cd $REMOTE_DIR && python3 -m pip install -q -e . 'jax[tpu]'"
fi

# Every worker runs the same command; its worker id names its log.
REMOTE="cd $REMOTE_DIR && export PATH=\$HOME/.local/bin:\$PATH MOTIONGPT_DISTRIBUTED=auto && \
motiongpt$COMMAND 2>&1 | tee logs/worker-\${TPU_WORKER_ID:-\$(hostname)}.log; \
exit \${PIPESTATUS[0]}"
status=0
run "${GCLOUD[@]}" ssh "$TPU" --worker=all "${WHERE[@]}" --command "$REMOTE" || status=$?

run mkdir -p "$LOGS"
run "${GCLOUD[@]}" scp "$TPU:$REMOTE_DIR/logs/*.log" "$LOGS/" --worker=all "${WHERE[@]}" \
  || echo "run_tpu.sh: could not copy the worker logs back" >&2
if [[ $status -ne 0 ]]; then
  die "a worker failed (exit $status); per-worker logs in $LOGS/ (worker-<i>.log)"
fi
echo "done; per-worker logs in $LOGS/"
