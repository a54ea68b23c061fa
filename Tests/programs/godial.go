// A Go client with a deadline of its own: dials 127.0.0.1:PORT with Dialer.Timeout = 1 s and
// prints the error (or "connected") and how long the dial took.
//   godial PORT
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	start := time.Now()
	c, err := (&net.Dialer{Timeout: time.Second}).Dial("tcp", "127.0.0.1:"+os.Args[1])
	took := time.Since(start).Seconds()
	if err != nil {
		fmt.Printf("dial: %v\ntook %.2f\n", err, took)
		return
	}
	c.Close()
	fmt.Printf("connected\ntook %.2f\n", took)
}
