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


def main():
    import cyberdb

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
