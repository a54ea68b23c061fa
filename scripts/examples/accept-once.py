# A one-connection server with a bug for `socktest-lua sweep` to find (README, Sweeps): it never
# expected accept to fail with EMFILE, and aborts when it does. Other failures: exit status 1.
import os, socket

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
client = socket.create_connection(listener.getsockname())
try:
    conn, _ = listener.accept()
except OSError as e:
    if e.errno == 24:   # EMFILE
        os.abort()
    raise SystemExit(1)
conn.close()
client.close()
listener.close()
