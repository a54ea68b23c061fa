// A Go HTTP client: GETs a URL with a deadline and prints how many body bytes arrived, or the
// error. Go's net/http reads non-blocking, waiting in epoll (edge-triggered) between reads.
//   gohttpget URL TIMEOUT_SECONDS    exit status 0 with the whole body, 1 otherwise
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	seconds, _ := strconv.ParseFloat(os.Args[2], 64)
	client := &http.Client{Timeout: time.Duration(seconds * float64(time.Second))}
	start := time.Now()
	resp, err := client.Get(os.Args[1])
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	fmt.Printf("bytes %d of %d in %.3f s\n", n, resp.ContentLength, time.Since(start).Seconds())
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}
