// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)

// The Go peer of tools/bench/bench.c: the same benchmarks, the same output
// ("name value unit"), so that run.sh can put them side by side.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

var label = os.Getenv("BENCH_LABEL")

func pingpong(n int) {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	for i := 0; i < n/10; i++ {
		ping <- i
		<-pong
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	fmt.Printf("pingpong%s %.1f ns\n", label, float64(time.Since(t0).Nanoseconds())/float64(n))
	close(ping)
}

func spawn(n int) {
	var wg sync.WaitGroup
	run := func(k int) {
		wg.Add(k)
		for i := 0; i < k; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
	}
	run(n / 10)
	t0 := time.Now()
	run(n)
	fmt.Printf("spawn%s %.1f ns\n", label, float64(time.Since(t0).Nanoseconds())/float64(n))
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var pages, rss int64
	fmt.Sscanf(string(b), "%d %d", &pages, &rss)
	return rss * int64(os.Getpagesize())
}

func rss(n int) {
	never := make(chan struct{})
	var wg sync.WaitGroup
	runtime.GC()
	before := rssBytes()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { wg.Done(); <-never }()
	}
	wg.Wait()
	time.Sleep(10 * time.Millisecond)
	fmt.Printf("rss_per_g_%dk %.0f B\n", n/1000, float64(rssBytes()-before)/float64(n))
}

func handoff(n, ms int) {
	runtime.GOMAXPROCS(1)
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil { // blocking fds: a real read(2)
		panic(err)
	}
	wake := make(chan struct{}, 1)
	lat := make([]int64, n)
	var before time.Time
	go func() {
		for i := 0; i < n; i++ {
			<-wake
			lat[i] = time.Since(before).Nanoseconds()
			syscall.Write(p[1], []byte{1})
		}
	}()
	runtime.Gosched()
	buf := make([]byte, 1)
	for i := 0; i < n; i++ {
		if ms > 0 {
			end := time.Now().Add(time.Duration(ms) * time.Millisecond)
			x := 0
			for time.Now().Before(end) {
				x++
			}
		}
		before = time.Now() // before the send, which orders it before B's read
		wake <- struct{}{}
		for {
			n, err := syscall.Read(p[0], buf)
			if err == syscall.EINTR {
				continue // SIGURG preemption: read again
			}
			if n != 1 || err != nil {
				panic(fmt.Sprint("read: ", n, err))
			}
			break
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("handoff_%dms_p50 %.1f us\n", ms, float64(lat[n/2])/1e3)
	fmt.Printf("handoff_%dms_p99 %.1f us\n", ms, float64(lat[n*99/100])/1e3)
	fmt.Printf("handoff_%dms_max %.1f us\n", ms, float64(lat[n-1])/1e3)
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: bench pingpong|spawn|rss|handoff N [MS]")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[2])
	ms := 0
	if len(os.Args) > 3 {
		ms, _ = strconv.Atoi(os.Args[3])
	}
	switch os.Args[1] {
	case "pingpong":
		pingpong(n)
	case "spawn":
		spawn(n)
	case "rss":
		rss(n)
	case "handoff":
		handoff(n, ms)
	default:
		os.Exit(2)
	}
}
