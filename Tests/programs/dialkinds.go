// Dials what Go's resolver and address sorting dial besides the connection a user means: a UDP
// "connection" to [::1]:9 (Go sorts addresses with UDP connects, RFC 6724), then a TCP
// connection to [::1]:PORT with a deadline of its own. Prints each outcome.
//   dialkinds PORT    exit status: the number of failed dials
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	failed := 0
	for _, d := range []struct{ network, address string }{{"udp6", "[::1]:9"}, {"tcp6", "[::1]:" + os.Args[1]}} {
		start := time.Now()
		c, err := net.DialTimeout(d.network, d.address, 3*time.Second)
		took := time.Since(start).Seconds()
		if err != nil {
			fmt.Printf("%s: %v (%.2fs)\n", d.network, err, took)
			failed++
			continue
		}
		fmt.Printf("%s: ok (%.2fs)\n", d.network, took)
		c.Close()
	}
	os.Exit(failed)
}
