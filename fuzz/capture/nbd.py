#!/usr/bin/env python3
"""Records real NBD clients' bytes as seeds for fuzz/corpus/nbd-handshake and fuzz/corpus/nbd-transmission.

Starts `blkmq serve` on a run-time port, puts a recording proxy in front of it, runs nbdinfo, nbdcopy, qemu-img,
qemu-io and nbdsh through the proxy, and writes what each client sent: the whole stream as a handshake seed, and the
part after NBD_OPT_GO / NBD_OPT_EXPORT_NAME, behind the selector byte the transmission harness expects (which
options the client negotiated), as a transmission seed.

Usage: fuzz/capture/nbd.py BLKMQ_BINARY CORPUS_DIR
"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading

OPTION_MAGIC = 0x49484156454F5054
SEED_LIMIT = 64 * 1024  # afl-fuzz works best with small seeds; longer streams are cut (their last request truncated)


class Recorder:
    """A TCP proxy on 127.0.0.1 that keeps, per connection, the bytes the client sent."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.streams = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            record = bytearray()
            with self.lock:
                self.streams.append(record)
            threading.Thread(target=self.pump, args=(client, server, record), daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, None), daemon=True).start()

    @staticmethod
    def pump(source, destination, record):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if record is not None:
                    record.extend(data)
                destination.sendall(data)
        except OSError:
            pass
        finally:
            try:
                destination.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def take(self):
        with self.lock:
            streams, self.streams = self.streams, []
        return [bytes(s) for s in streams if s]


def split_handshake(stream):
    """Returns (selector, transmission bytes) for a fixed-newstyle client stream, or None."""
    if len(stream) < 4:
        return None
    position = 4
    selector = 0
    export = b""
    while position + 16 <= len(stream):
        magic, option, length = struct.unpack_from(">QII", stream, position)
        if magic != OPTION_MAGIC:
            return None
        data = stream[position + 16:position + 16 + length]
        if option == 1:  # NBD_OPT_EXPORT_NAME: no length field, the name runs to the end of the option
            export = data
            position += 16 + length
            break
        position += 16 + length
        if option == 8:
            selector |= 1
        elif option == 11:
            selector |= 2
        elif option == 10 and b"base:allocation" in data:
            selector |= 4
        elif option == 7:
            (name_length,) = struct.unpack_from(">I", data, 0)
            export = data[4:4 + name_length]
            break
    else:
        return None
    index = {b"disk": 0, b"async": 1, b"ro": 2}.get(export, 0)
    return selector | (index << 3), stream[position:]


def to_extended(transmission):
    """Rewrites compact requests as extended ones (libnbd before 1.16 cannot negotiate extended headers)."""
    out = bytearray()
    position = 0
    while position + 28 <= len(transmission):
        magic, flags, kind, cookie, offset, length = struct.unpack_from(">IHHQQI", transmission, position)
        if magic != 0x25609513:
            break
        position += 28
        payload = b""
        if kind == 1:  # NBD_CMD_WRITE: its payload follows, and extended headers flag it
            payload = transmission[position:position + length]
            position += length
            flags |= 1 << 5
        out += struct.pack(">IHHQQQ", 0x21E41C71, flags, kind, cookie, offset, length) + payload
    return bytes(out)


def main():
    blkmq, corpus = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="blkmq-capture-")
    server = subprocess.Popen(
        [blkmq, "serve", "--listen", "127.0.0.1:0", "--export", "disk=memory:size=1M,bs=512",
         "--export", "async=memory:size=1M,bs=512,irqmode=1", "--export", "ro=memory:size=1M,bs=4096"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        uri = server.stdout.readline().strip()  # nbd://127.0.0.1:PORT/disk
        port = int(uri.split(":")[2].split("/")[0])
        recorder = Recorder(port)
        base = f"nbd://127.0.0.1:{recorder.port}"
        image = os.path.join(work, "in.raw")
        with open(image, "wb") as f:
            f.write(os.urandom(16 * 1024) + bytes(16 * 1024) + os.urandom(8192))
        clients = {
            "nbdinfo": ["nbdinfo", f"{base}/disk"],
            "nbdinfo-list": ["nbdinfo", "--list", base],
            "nbdinfo-map": ["nbdinfo", "--map", f"{base}/disk"],
            "nbdinfo-size-ro": ["nbdinfo", "--size", f"{base}/ro"],
            "nbdcopy-in": ["nbdcopy", image, f"{base}/disk"],
            "nbdcopy-out": ["nbdcopy", "--request-size=16384", f"{base}/async", os.path.join(work, "out.raw")],
            "qemu-img-info": ["qemu-img", "info", f"{base}/disk"],
            "qemu-img-map": ["qemu-img", "map", "--output=json", "-f", "raw", f"{base}/disk"],
            "qemu-io": ["qemu-io", "-f", "raw", "-c", "write -P 0xab 0 4k", "-c", "read -P 0xab 0 4k", "-c", "flush",
                        "-c", "discard 8k 4k", "-c", "write -z 16k 4k", "-c", "write -z -u 20k 4k", "-c", "aio_write -q -P 1 24k 2k",
                        "-c", "aio_read -q 0 512", "-c", "aio_flush", f"{base}/disk"],
            "qemu-io-fua": ["qemu-io", "-f", "raw", "-t", "none", "-c", "write -f 0 4k", f"{base}/async"],
            "qemu-io-ro": ["qemu-io", "-r", "-f", "raw", "-c", "read 0 8k", "-c", "read 1020k 4k", f"{base}/ro"],
            "nbdsh": ["nbdsh", "-u", f"{base}/disk", "-c",
                      "h.pwrite(b'x'*512, 512); h.pread(1024, 0); h.flush(); h.trim(512, 4096); h.zero(512, 8192);"
                      "h.cache(4096, 0)"],
            "nbdsh-meta": ["nbdsh", "--base-allocation", "-u", f"{base}/disk", "-c",
                           "h.block_status(65536, 0, lambda *a: 0); h.block_status(512, 1024, lambda *a: 0, nbd.CMD_FLAG_REQ_ONE)"],
            "nbdsh-oldstyle-name": ["nbdsh", "-c", f"h.set_opt_mode(False); h.set_request_structured_replies(False);"
                                    f"h.connect_uri('{base}/ro'); h.pread(4096, 0)"],
            "nbdsh-bad-requests": ["nbdsh", "-u", f"{base}/disk", "-c",
                                   "h.set_strict_mode(0)\n"
                                   "for f in (lambda: h.pread(100, 1), lambda: h.pread(512, 1 << 30), lambda: h.trim(0, 0),"
                                   " lambda: h.pwrite(b'1'*3, 1)):\n"
                                   "    try: f()\n"
                                   "    except nbd.Error: pass"],
        }
        os.makedirs(os.path.join(corpus, "nbd-handshake"), exist_ok=True)
        os.makedirs(os.path.join(corpus, "nbd-transmission"), exist_ok=True)
        for name, command in clients.items():
            result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
            if result.returncode != 0:
                print(f"{name}: exit {result.returncode}: {result.stderr.strip()[:200]}", file=sys.stderr)
            streams = recorder.take()
            for i, stream in enumerate(streams):
                suffix = "" if len(streams) == 1 else f"-{i}"
                with open(os.path.join(corpus, "nbd-handshake", name + suffix), "wb") as f:
                    f.write(stream[:SEED_LIMIT])
                split = split_handshake(stream)
                if split is not None and split[1]:
                    selector, transmission = split
                    with open(os.path.join(corpus, "nbd-transmission", name + suffix), "wb") as f:
                        f.write(bytes([selector]) + transmission[:SEED_LIMIT])
                    extended = to_extended(transmission[:SEED_LIMIT])
                    if extended and not selector & 2:
                        with open(os.path.join(corpus, "nbd-transmission", name + suffix + "-extended"), "wb") as f:
                            f.write(bytes([selector | 2]) + extended)
            print(f"{name}: {len(streams)} connection(s), {sum(len(s) for s in streams)} bytes")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
