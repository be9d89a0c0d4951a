#!/usr/bin/env bash
# A throwaway single-node Ceph cluster on 127.0.0.1 for tests and benchmarks: one monitor, one manager, one OSD,
# auth none, pool size 1, an `rbd` pool. Everything (config, data, logs, sockets, pid files) lives in DIR.
#
#   scripts/ceph-cluster.sh start DIR [memstore|bluestore]   prints the path of DIR/ceph.conf when the cluster serves
#   scripts/ceph-cluster.sh stop DIR                         stops the daemons by their own pids, removes DIR
#   scripts/ceph-cluster.sh status DIR                       `ceph -s`
#   scripts/ceph-cluster.sh stop-osd DIR [KILL|TERM]         stops only the OSD (signal by its pid)
#   scripts/ceph-cluster.sh start-osd DIR                    starts the OSD again (bluestore keeps its data)
#
# memstore (the default) starts in about 2 s and keeps data in the OSD's memory (lost when it stops); bluestore
# on a sparse file takes ~5 s and survives an OSD kill and restart. The monitor's port is chosen at run time.
set -Eeuo pipefail
trap 'echo "ceph-cluster: line $LINENO failed: $BASH_COMMAND" >&2' ERR

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|status|stop-osd|start-osd DIR [memstore|bluestore]" >&2; exit 2; }
conf="$dir/ceph.conf"
ceph_() { timeout 60 ceph -c "$conf" "$@"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

stop_pidfile() {
  local file=$1 signal=${2:-TERM} pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

start_osd() {
  ceph-osd -c "$conf" --id 0 </dev/null >/dev/null 2>&1
  for _ in $(seq 1 300); do
    if ceph_ osd dump 2>/dev/null | grep -q '^osd.0 up'; then
      return 0
    fi
    sleep 0.1
  done
  echo "ceph-cluster: the OSD did not come up (see $dir/log/osd.0.log)" >&2
  return 1
}

case "$cmd" in
  start)
    store=${3:-memstore}
    case "$store" in memstore|bluestore) ;; *) echo "ceph-cluster: unknown store $store" >&2; exit 2 ;; esac
    for tool in ceph-mon ceph-osd ceph-mgr ceph rbd; do
      command -v "$tool" >/dev/null || { echo "ceph-cluster: $tool is missing (scripts/install-test-tools.sh installs it)" >&2; exit 1; }
    done
    mkdir -p "$dir"/{mon,osd,mgr,log,run}
    port=$(free_port)
    fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    {
      cat <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$port
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
mon allow pool delete = true
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon osd down out interval = 0
paxos propose interval = 0.01
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
keyring = /dev/null
ms bind msgr2 = false
ms bind ipv6 = false
osd objectstore = $store
osd data = $dir/osd
osd class load list = *
osd class default list = *
osd fast shutdown = false
# The OSD is placed in the CRUSH map by this script (osd crush add): at start it sends no crush or device-class
# commands of its own, which a monitor refuses ("wrong fsid") when they leave before the OSD has the monitor map.
osd crush update on start = false
osd class update on start = false
memstore device bytes = 4294967296
memstore page set = true
memstore page size = 4096
bluestore block path = $dir/osd-block
bluestore block create = true
bluestore block size = 4294967296
bluestore fsck on mount = false
bluestore cache autotune = false
bluestore cache size = 268435456
osd memory target = 939524096
mon data = $dir/mon
mgr data = $dir/mgr
[client]
log file = $dir/log/client.log
admin socket =
EOF
    } >"$conf"
    monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$port]" "$dir/monmap" >/dev/null
    ceph-mon -c "$conf" --id a --mkfs --monmap "$dir/monmap" >/dev/null 2>&1 || { echo "ceph-cluster: ceph-mon --mkfs failed" >&2; exit 1; }
    # Daemons fork into the background; their standard streams must not keep a caller's pipe open.
    ceph-mon -c "$conf" --id a --public-addr "v1:127.0.0.1:$port" </dev/null >/dev/null 2>&1
    for _ in $(seq 1 100); do
      ceph_ mon stat >/dev/null 2>&1 && break
      sleep 0.1
    done
    ceph-mgr -c "$conf" --id x </dev/null >/dev/null 2>&1
    osd=$(ceph_ osd create)
    [ "$osd" = 0 ] || { echo "ceph-cluster: unexpected OSD id $osd" >&2; exit 1; }
    ceph_ osd crush add osd.0 1 root=default host=localhost >/dev/null 2>&1
    ceph-osd -c "$conf" --id 0 --mkfs >"$dir/log/osd-mkfs.log" 2>&1 || { echo "ceph-cluster: ceph-osd --mkfs failed (see $dir/log/osd-mkfs.log)" >&2; exit 1; }
    start_osd
    ceph_ osd pool create rbd 8 8 >/dev/null 2>&1
    ceph_ osd pool set rbd size 1 --yes-i-really-mean-it >/dev/null 2>&1 || true
    ceph_ osd pool application enable rbd rbd >/dev/null 2>&1
    echo "$conf"
    ;;
  stop)
    [ -f "$conf" ] || exit 0
    stop_pidfile "$dir/run/osd.0.pid"
    stop_pidfile "$dir/run/mgr.x.pid"
    stop_pidfile "$dir/run/mon.a.pid"
    rm -rf "$dir"
    ;;
  stop-osd)
    stop_pidfile "$dir/run/osd.0.pid" "${3:-TERM}"
    ;;
  start-osd)
    start_osd
    ;;
  status)
    ceph_ -s
    ;;
  *)
    echo "usage: $0 start|stop|status|stop-osd|start-osd DIR [memstore|bluestore]" >&2
    exit 2
    ;;
esac
