# The echo workload as a program of its own, for recipes on external programs: a TCP echo server
# on 127.0.0.1:PORT and clients doing round trips, behaving as the built-in workload does (the
# server backs off on EMFILE/ENFILE and skips aborted connections). Prints one line
#   echo {"succeeded": N, "failed": {"ENAME": N}, "accept_errors": {"ENAME": N}}
# and exits 0; when the server cannot get its listener: "listen: ENAME" on stderr, exit 3.
#   python3 echo.py PORT [clients=8] [rounds=10] [concurrency=4]
import errno, json, socket, sys, threading, time

port = int(sys.argv[1])
opts = dict(a.split("=", 1) for a in sys.argv[2:])
clients, rounds, concurrency = (int(opts.get(k, d)) for k, d in (("clients", 8), ("rounds", 10), ("concurrency", 4)))
lock = threading.Lock()
accept_errors, failed, succeeded = {}, {}, [0]

def name(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) and e.errno else type(e).__name__

def count(table, key):
    with lock:
        table[key] = table.get(key, 0) + 1

def handle(conn):
    with conn:
        try:
            while data := conn.recv(64):
                conn.sendall(data)
        except OSError:
            pass

def serve(listener, done):
    listener.settimeout(0.05)                           # to look at `done` now and then
    while not done.is_set():
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        except OSError as e:
            count(accept_errors, name(e))
            if e.errno in (errno.EMFILE, errno.ENFILE):
                time.sleep(0.01)                        # back off: the connection stays queued
            continue                                    # ECONNABORTED: skip it
        conn.settimeout(None)
        threading.Thread(target=handle, args=(conn,), daemon=True).start()

def session():
    s = None
    try:
        s = socket.socket()
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        for i in range(rounds):
            s.sendall(b"ping%d" % i)
            if s.recv(64) != b"ping%d" % i:
                raise ConnectionError(errno.ECONNRESET, "short echo")
        with lock:
            succeeded[0] += 1
    except Exception as e:
        count(failed, name(e))
    finally:
        if s is not None:
            s.close()

def worker(jobs):
    while True:
        with lock:
            if not jobs:
                return
            jobs.pop()
        session()

try:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
except OSError as e:
    print("listen:", name(e), file=sys.stderr)
    sys.exit(3)
done = threading.Event()
server = threading.Thread(target=serve, args=(listener, done), daemon=True)
server.start()
jobs = list(range(clients))
workers = [threading.Thread(target=worker, args=(jobs,)) for _ in range(concurrency)]
for w in workers: w.start()
for w in workers: w.join()
done.set()
server.join(5)
listener.close()
print("echo", json.dumps({"succeeded": succeeded[0], "failed": failed, "accept_errors": accept_errors}, sort_keys=True))
