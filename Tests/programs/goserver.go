// A Go HTTP server and its own load: the server listens on 127.0.0.1 (ephemeral port) and a
// client makes REQUESTS requests over CONCURRENCY connections, a new connection for each
// request. Prints how many requests failed and the first error.
//   goserver REQUESTS CONCURRENCY    exit status: 0 when every request got its answer
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	requests, _ := strconv.Atoi(os.Args[1])
	concurrency, _ := strconv.Atoi(os.Args[2])
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(2)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + ln.Addr().String() + "/"
	var failed atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	next := make(chan struct{})
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				resp, err := client.Get(url)
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(body) != "ok" {
						err = fmt.Errorf("body %q", body)
					}
				}
				if err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	for i := 0; i < requests; i++ {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	fmt.Printf("failed %d of %d\n", failed.Load(), requests)
	if e := first.Load(); e != nil {
		fmt.Println("first error:", e)
		os.Exit(1)
	}
}
