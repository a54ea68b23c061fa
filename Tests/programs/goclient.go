// A Go client: dials 127.0.0.1:PORT N times and prints each outcome. Go makes its own system
// calls (no libc) and connects non-blocking, completing with getsockopt(SO_ERROR).
//   goclient PORT N    exit status: the number of failed dials
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

func main() {
	port := os.Args[1]
	n, _ := strconv.Atoi(os.Args[2])
	failed := 0
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			fmt.Println("dial:", err)
			failed++
			continue
		}
		fmt.Println("connected")
		c.Close()
	}
	os.Exit(failed)
}
