#!/bin/sh
# /init of the Cocos guest. One source for both builders: images/build.ts copies it into the
# initramfs and images/buildroot/board/cocos/overlay/init links to it.
# Settings come only from the kernel command line (cocos.NAME=VALUE → AGENT_NAME=VALUE) and, at
# run time, from the host channel; nothing is read from disk or network.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TMPDIR=/tmp
log() { echo "cocos-init: $*" > /dev/console; }

# The native-algorithm sandbox (bwrap) pivots into a new root, which the kernel refuses while / is
# the initramfs (rootfs) itself: re-enter the same files through a bind mount moved over /, once.
if [ "$$" = 1 ] && [ -z "$COCOS_INIT_REROOTED" ]; then
  mkdir -p /mnt/root && mount --bind / /mnt/root && cd /mnt/root && mount --move . / &&
    COCOS_INIT_REROOTED=1 exec chroot . /init
  log "cannot re-enter / as a bind mount; native algorithms will fail to start"
fi
unset COCOS_INIT_REROOTED

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /tmp /run /root /cocos
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
log "started, uptime $(cut -d' ' -f1 /proc/uptime)s"
# The kernel's own timestamps of the initramfs unpacking, for the boot breakdown (bench/boot.ts).
dmesg | grep -E 'Trying to unpack rootfs|Freeing initrd memory|Run /init' | while read -r l; do log "kernel: $l"; done

# Modules in dependency order (written by the image builder; built-in drivers need no entry).
# Each insmod costs ~50 ms under TCG: the vsock ones only when the host channel is vsock, the
# secure-processor ones (sev-guest, configfs for configfs-tsm) only when the evidence is not the
# host's simulation (cocos.attestation=host) or switched off.
cmdline=" $(cat /proc/cmdline) "
case "$cmdline" in *" cocos.host_channel=vsock "*) want_vsock=1 ;; *) want_vsock="" ;; esac
case "$cmdline" in *" cocos.attestation=host "*|*" cocos.attestation=none "*) want_tee="" ;; *) want_tee=1 ;; esac
if [ -f /etc/cocos/modules ]; then
  while read -r m; do
    case "$m" in
      */vsock.ko|*/vmw_vsock_*) [ -n "$want_vsock" ] || continue ;;
      */sev-guest.ko|*/configfs.ko|*/tsm.ko) [ -n "$want_tee" ] || continue ;;
    esac
    [ -n "$m" ] && insmod "/lib/modules/$m" 2>/dev/null || true
  done < /etc/cocos/modules
fi
# configfs-tsm (kernels with TSM_REPORTS) lives under /sys/kernel/config/tsm/report.
[ -d /sys/kernel/config ] && mount -t configfs configfs /sys/kernel/config 2>/dev/null
log "modules loaded, uptime $(cut -d' ' -f1 /proc/uptime)s"

# The agent disk (images/agent-disk.ts): cocos_init.verity=DATA_BLOCKS,HASH_START,HASH,ROOT_HASH,SALT on
# the measured command line opens the host's first virtio disk as a dm-verity device, so a block the
# host changed reads back as an I/O error, and mounts it read-only where /bin/cocos-agent points.
# try_verify_in_tasklet: a read whose hash blocks are cached is checked in its completion softirq, not
# after a kworker wake-up (agent exec → listening ~0.35 s faster under TCG).
# agent disk: begin (images/init-settings.test.ts runs this block with dmsetup, mount and poweroff stubbed)
case "$cmdline" in
  *" cocos_init.verity="*)
    verity=${cmdline#* cocos_init.verity=}
    verity=${verity%% *}
    IFS=, read -r v_blocks v_start v_alg v_root v_salt <<EOF_VERITY
$verity
EOF_VERITY
    # Decimal block numbers, a crypto API name, hex root hash and salt, five fields exactly (a sixth
    # would land in v_salt with its comma and fail the hex check).
    v_ok=1
    case "$verity" in ,*|*,,*|*,) v_ok="" ;; esac
    case "$v_blocks$v_start" in ''|*[!0-9]*) v_ok="" ;; esac
    case "$v_alg" in ''|*[!0-9a-z-]*) v_ok="" ;; esac
    case "$v_root$v_salt" in *[!0-9a-f]*) v_ok="" ;; esac
    [ -n "$v_root" ] && [ -n "$v_salt" ] || v_ok=""
    if [ -z "$v_ok" ]; then
      log "cocos_init.verity: expected DATA_BLOCKS,HASH_START,HASH,ROOT_HASH,SALT (decimal, decimal, a hash name, hex, hex), got $verity; powering off"
      poweroff -f
    fi
    i=0
    while [ ! -b /dev/vda ] && [ "$i" -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    if [ ! -b /dev/vda ]; then
      log "cannot open the agent disk: expected a virtio disk /dev/vda, the host attached none; powering off"
      poweroff -f
    fi
    if ! DM_DISABLE_UDEV=1 dmsetup create --noudevsync --readonly cocos-agent \
        --table "0 $((v_blocks * 8)) verity 1 /dev/vda /dev/vda 4096 4096 $v_blocks $v_start $v_alg $v_root $v_salt 1 try_verify_in_tasklet" ||
      ! mount -t erofs -o ro /dev/mapper/cocos-agent /opt/cocos; then
      log "cannot open the agent disk (expected a virtio disk /dev/vda whose dm-verity root hash is $v_root); powering off"
      poweroff -f
    fi
    log "agent disk open, uptime $(cut -d' ' -f1 /proc/uptime)s"
    ;;
esac
# agent disk: end

ip link set lo up
if ip link show eth0 >/dev/null 2>&1; then
  ip addr add 10.0.2.15/24 dev eth0
  ip link set eth0 up
  ip route add default via 10.0.2.2
  echo "nameserver 10.0.2.3" > /etc/resolv.conf
else
  log "no eth0 (expected a virtio-net device)"
fi

# No udev: name the virtio-serial ports ourselves.
mkdir -p /dev/virtio-ports
for p in /sys/class/virtio-ports/*; do
  [ -f "$p/name" ] || continue
  n=$(cat "$p/name")
  [ -n "$n" ] && ln -sf "/dev/${p##*/}" "/dev/virtio-ports/$n"
done

# settings: begin (images/init-settings.test.ts runs this block on a made-up command line)
rss_after=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in cocos_init.rss_after=*) rss_after="${arg#*=}" ;; esac
done
# cocos.NAME=VALUE → NAME upper-cased, '.' and '-' as '_'; one awk for all of them (a fork per
# setting costs ~50 ms under TCG). A name outside [A-Z0-9_] is refused (prefixed with '!').
settings=$(awk '{
  for (i = 1; i <= NF; i++) {
    a = $i
    if (a !~ /^cocos\..*=/) continue
    kv = substr(a, 7); eq = index(kv, "=")
    k = toupper(substr(kv, 1, eq - 1)); gsub(/[.-]/, "_", k)
    if (k ~ /^[A-Z0-9_]+$/) print k "=" substr(kv, eq + 1); else print "!" a
  }
}' /proc/cmdline)
while IFS= read -r kv; do
  case "$kv" in
    '') ;;
    '!'*) log "ignoring malformed setting ${kv#!}" ;;
    *) export "AGENT_$kv" ;;
  esac
done <<EOF_SETTINGS
$settings
EOF_SETTINGS
# settings: end

# Each virtio-serial port keeps one thread of Bun's I/O pool in a blocking read; the pool is sized
# by the vCPU count, so with 1-2 vCPUs the channels' writes (events, report requests) would starve.
export UV_THREADPOOL_SIZE=16
# One console line per agent start-up phase (agent/boot-marks.ts).
export AGENT_BOOT_MARKS=1
# JavaScriptCore compiles a function to machine code after ~500 calls or loop iterations; under TCG
# every fresh code page is translated again, and start-up code runs only a few times. At 100000 the
# start-up stays in the interpreter (agent start-up about 2.5x faster, bench/boot.ts) while hot loops
# still compile; WebAssembly has its own tiers and is not affected.
export BUN_JSC_thresholdForJITAfterWarmUp=100000 BUN_JSC_thresholdForJITSoon=100000

# flavour: begin. A flavour's own start-up (the full one: Podman's API service for the docker
# runner, images/flavours/full-init.sh); absent from the minimal image.
[ -f /etc/cocos/flavour.sh ] && . /etc/cocos/flavour.sh
# flavour: end

cd /cocos
log "starting agent, uptime $(cut -d' ' -f1 /proc/uptime)s"
/bin/cocos-agent &
agent=$!
if [ -n "$rss_after" ]; then
  # One-shot report for the boot benchmark: the agent's resident set once it has settled.
  ( sleep "$rss_after"; log "agent $(grep VmRSS /proc/$agent/status | tr -s ' \t' ' ')" ) &
fi
wait "$agent"
log "agent exited with status $?; powering off"
sync
poweroff -f
