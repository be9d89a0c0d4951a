#!/usr/bin/env python3
"""Records the kernel's FUSE requests as seeds for fuzz/corpus/fuse-request.

Runs `blkmq serve --listen none --fuse DIR` under strace (which prints every read of /dev/fuse in full), drives the
mount with ordinary tools (ls, stat, dd, truncate, fallocate, chmod, touch, df, a failed mkdir and rm), stops the
server, and writes one seed per kind of request (opcode and length), plus a seed of the session's first requests in
a row. Needs root, /dev/fuse and strace.

Usage: fuzz/capture/fuse.py BLKMQ_BINARY CORPUS_DIR
"""
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

# "PID read(FD, "DATA", SIZE) = N", or split while other threads run: "PID read(FD, <unfinished ...>" then
# "PID <... read resumed>"DATA", SIZE) = N".
READ = re.compile(r'^(\d+) read\((\d+), "((?:\\x[0-9a-f]{2})*)"(?:\.\.\.)?, (\d+)\) += (\d+)')
UNFINISHED = re.compile(r'^(\d+) read\((\d+),\s+<unfinished')
RESUMED = re.compile(r'^(\d+) <\.\.\. read resumed>"((?:\\x[0-9a-f]{2})*)"(?:\.\.\.)?, (\d+)\) += (\d+)')
# A FUSE worker reads into a buffer of 1 MiB + 4 KiB (FuseSession's RequestBufferSize): that tells its reads apart.
REQUEST_BUFFER_SIZE = 1052672
SESSION_LIMIT = 64


def main():
    blkmq, corpus = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="blkmq-capture-fuse-")
    mount = os.path.join(work, "mnt")
    os.mkdir(mount)
    trace = os.path.join(work, "trace")
    server = subprocess.Popen(
        ["strace", "-f", "-qq", "-xx", "-s", "2000000", "-e", "trace=read", "-o", trace,
         blkmq, "serve", "--listen", "none", "--fuse", mount,
         "--export", "disk=memory:size=1M,bs=512", "--export", "ro=memory:size=1M,bs=4096"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        server.stdout.readline()  # the first file's path: the mount is ready
        disk = os.path.join(mount, "disk")
        commands = [
            ["ls", "-la", mount], ["stat", disk], ["df", mount],
            ["dd", f"if={disk}", "of=/dev/null", "bs=4k", "count=4"],
            ["dd", "if=/dev/urandom", f"of={disk}", "bs=4k", "count=2", "conv=notrunc,fsync"],
            ["dd", "if=/dev/zero", f"of={disk}", "bs=4k", "count=1", "seek=8", "oflag=direct", "conv=notrunc"],
            ["truncate", "-s", "512K", disk], ["fallocate", "-p", "-o", "0", "-l", "4096", disk],
            ["fallocate", "-z", "-o", "4096", "-l", "4096", disk], ["fallocate", "-o", "0", "-l", "4096", disk],
            ["chmod", "600", disk], ["touch", disk], ["cat", os.path.join(mount, "missing")],
            ["mkdir", os.path.join(mount, "dir")], ["rm", "-f", disk], ["sync", disk],
            ["dd", f"if={os.path.join(mount, 'ro')}", "of=/dev/null", "bs=64k", "count=1", "iflag=direct"],
            ["sh", "-c", f"echo x > {os.path.join(mount, 'ro')}"],
        ]
        for command in commands:
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    finally:
        # The server is strace's child: stop it (strace does not pass signals on), then strace ends with it.
        with open(f"/proc/{server.pid}/task/{server.pid}/children") as f:
            for child in f.read().split():
                os.kill(int(child), signal.SIGTERM)
        server.wait(timeout=60)

    pending = {}
    requests = []
    with open(trace) as f:
        for line in f:
            unfinished = UNFINISHED.search(line)
            if unfinished:
                pending[unfinished.group(1)] = unfinished.group(2)
                continue
            read = READ.search(line)
            if read:
                hexdata, size, count = read.group(3), int(read.group(4)), int(read.group(5))
            else:
                resumed = RESUMED.search(line)
                if not resumed or pending.pop(resumed.group(1), None) is None:
                    continue
                hexdata, size, count = resumed.group(2), int(resumed.group(3)), int(resumed.group(4))
            if size == REQUEST_BUFFER_SIZE and count >= 40:
                data = bytes.fromhex(hexdata.replace("\\x", ""))
                if len(data) == count:
                    requests.append(data)
    if not requests:
        sys.exit(f"no FUSE request found in {trace}")
    shutil.rmtree(work)

    directory = os.path.join(corpus, "fuse-request")
    os.makedirs(directory, exist_ok=True)
    seen = set()
    for request in requests:
        length, opcode = struct.unpack_from("<II", request, 0)
        if (opcode, length) in seen:
            continue
        seen.add((opcode, length))
        with open(os.path.join(directory, f"op{opcode}-len{length}"), "wb") as f:
            f.write(request)
    with open(os.path.join(directory, "session"), "wb") as f:
        f.write(b"".join(r for r in requests[:SESSION_LIMIT] if len(r) <= 8192))
    print(f"{len(requests)} requests, {len(seen)} kinds")


if __name__ == "__main__":
    main()
