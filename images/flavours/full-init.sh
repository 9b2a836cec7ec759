# Sourced by /init (images/init.sh, "flavour" block) in the full flavour, just before the agent
# starts. Podman's Docker-compatible API service for the agent's docker runner, daemonless (no
# systemd): cgroup v2 with the controllers delegated (the runner's memory cap and pids limit), its
# storage in guest memory (/etc/containers/storage.conf). Started in the background so the agent's
# readiness does not wait for it; until the socket answers, the runner reports that no engine does.
podman_socket=/run/podman/podman.sock
mkdir -p /sys/fs/cgroup /run/podman /var/lib/containers /var/tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null || log "cannot mount cgroup2; containers will fail to start"
for c in $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null); do
  echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
done
( podman system service --time=0 "unix://$podman_socket" > /run/podman/service.log 2>&1
  log "podman service exited with status $?: $(tail -n 3 /run/podman/service.log | tr '\n' ' ')" ) &
export DOCKER_HOST="unix://$podman_socket"
