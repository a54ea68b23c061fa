# A client and server on loopback, each side written two ways: one send() and one recv() that
# assume a full transfer, and sendall() with a recv() loop that do not. Prints what each got:
#   "send S recv R sendall A loop L" (S, R: one call's count; A, L: what the careful ways moved).
import socket

SIZE = 10000
ln = socket.socket(); ln.bind(("127.0.0.1", 0)); ln.listen(1)
c = socket.create_connection(ln.getsockname()); a, _ = ln.accept()
sent = c.send(b"x" * SIZE)                  # one call: how much did it take?
first = len(a.recv(SIZE))                   # one call: how much did it give?
rest = first
while rest < sent:                          # (drain the rest of what was sent)
    rest += len(a.recv(sent - rest))
c.sendall(b"y" * SIZE)
loop = 0
while loop < SIZE:
    chunk = a.recv(SIZE - loop)
    if not chunk: break
    loop += len(chunk)
print("send", sent, "recv", first, "sendall", SIZE, "loop", loop)
