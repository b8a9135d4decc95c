"""Python CyberDB's side of bench/wire_read_bench.ts (issue 14).

Not part of the project: it drives the predecessor project, Python CyberDB
(https://github.com/Cyberbolt/CyberDB), found on PYTHONPATH (the bench sets
PYTHONPATH from the CYBERDB_PY environment variable; see the bench header).

    python3 bench/wire_read_cyberdb.py            # the client; spawns the server

Protocol with the bench, one JSON document per line:

    stdin  line 1   {"keys": [...], "values": [...]}   the dict to fill
    stdout          {"ready": true, "bytes": <pickled size of the dict>}
    stdin           {"reads": N}        N timed `todict()` calls, back to back
    stdout          {"ms": <total milliseconds>, "check": <sum of ages>}
    stdin           {"quit": true}      stops the server and exits

The server runs in a child process of its own (`serve PORT`), so client and
server do not share one interpreter lock, as in real use.

One shim, on the client only: CyberDB's `Stream.read` receives a reply as
N slices of one `recv(4096)` each, and a `recv` may return fewer bytes (it
does under load, for a 1 MB reply): the reply is cut short and the client
raises "Incorrect password or data tampering". `patch_stream_read` replaces
that method with one that receives the same bytes in full (the first N-1
slices with MSG_WAITALL, then until the pickle is complete) and does the
same work otherwise: one pickle.loads of the whole reply, as before.
"""

import json
import os
import pickle
import socket
import subprocess
import sys
import time

PASSWORD = "bench"
FILL_BATCH = 20
SLICE_SIZE = 4096


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def serve(port):
    import cyberdb

    cyberdb.Server().run(host="127.0.0.1", port=port, password=PASSWORD)


def wait_for(port, child):
    deadline = time.time() + 30
    while time.time() < deadline:
        if child.poll() is not None:
            raise SystemExit("Python CyberDB server exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("Python CyberDB server did not start in 30 s")


def patch_stream_read():
    from cyberdb.network import Stream
    from cyberdb.extensions import DisconCyberDBError

    def read(self):
        first = self._s.recv(SLICE_SIZE)
        if first == b"":
            raise DisconCyberDBError("The TCP connection was closed by the server.")
        r = self._dp.data_to_obj(first)
        if r["code"] != 1:
            raise RuntimeError(r["errors-code"])
        slices = r["content"]
        self._s.sendall(self._dp.obj_to_data("ready"))
        data = b""
        if slices > 1:
            data = self._s.recv((slices - 1) * SLICE_SIZE, socket.MSG_WAITALL)
        data += self._s.recv(SLICE_SIZE)
        while True:
            try:
                obj = pickle.loads(data)
                break
            except (pickle.UnpicklingError, EOFError, ValueError):
                more = self._s.recv(SLICE_SIZE)  # the last slice arrived short
                if more == b"":
                    raise
                data += more
        return obj

    Stream.read = read


def main():
    import cyberdb

    patch_stream_read()

    port = free_port()
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "serve", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(port, child)
        data = json.loads(sys.stdin.readline())
        content = dict(zip(data["keys"], data["values"]))
        client = cyberdb.connect(host="127.0.0.1", port=port, password=PASSWORD)
        proxy = client.get_proxy()
        proxy.connect()
        proxy.create_cyberdict("whole")
        d = proxy.get_cyberdict("whole")
        # Filled a few keys per call: a request is read in 4 KiB slices, one
        # recv() each, so a large one can arrive short (CyberDB's protocol).
        items = list(content.items())
        for i in range(0, len(items), FILL_BATCH):
            d.update(dict(items[i:i + FILL_BATCH]))
        whole = d.todict()
        if whole != content:
            raise SystemExit("todict() did not return the dict that was stored")
        print(json.dumps({"ready": True, "bytes": len(pickle.dumps(whole))}), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd.get("quit"):
                break
            check = 0
            t0 = time.perf_counter()
            for _ in range(cmd["reads"]):
                o = d.todict()
                for k in o:  # touch every value, as the JS side does
                    check += o[k]["age"]
            ms = (time.perf_counter() - t0) * 1000
            print(json.dumps({"ms": ms, "check": check}), flush=True)
        proxy.close()
    finally:
        child.terminate()
        child.wait()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        main()
