# A UDP sender and receiver on loopback: sends N datagrams (default 1000) from one socket to
# another, draining the receiver after each send (loopback delivers at once, so its buffer never
# overflows), and prints "sent N received R distinct D".
#   python3 udpcount.py [N]
import socket, sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
receiver.bind(("127.0.0.1", 0))
receiver.setblocking(False)
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
received, seen = 0, set()
for i in range(n):
    sender.sendto(str(i).encode(), receiver.getsockname())
    for _ in range(4):
        try:
            data = receiver.recv(64)
        except BlockingIOError:
            break
        received += 1
        seen.add(data)
print("sent", n, "received", received, "distinct", len(seen))
