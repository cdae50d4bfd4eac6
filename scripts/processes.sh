# Sourced by run-all.sh and run-cluster.sh: the background processes they start (append each
# PID to `pids`) and stopping them all.
pids=()

# stop_processes WHAT TRIES: SIGTERM to every process, up to TRIES × 0.2 s for them to finish
# the work in hand, then SIGKILL to any still there.
stop_processes() {
  trap - INT TERM EXIT
  echo
  echo "Stopping $1 (${#pids[@]} processes)..."
  kill -TERM "${pids[@]}" 2>/dev/null
  for _ in $(seq 1 "$2"); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  kill -KILL "${pids[@]}" 2>/dev/null
  wait 2>/dev/null
  echo "Stopped."
}
