// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)

// The Go peer of tools/bench/bench.c: the same benchmarks, the same output
// ("name value unit"), so that run.sh can put them side by side.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
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

// handoff: as bench.c's, with the same warm-up (100 blocks, 5 with ms > 0)
// and $BENCH_RAW (samples in ns appended to that file, one a line).
func handoff(n, ms int) {
	runtime.GOMAXPROCS(1)
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil { // blocking fds: a real read(2)
		panic(err)
	}
	warm := 100
	if ms > 0 {
		warm = 5
	}
	wake := make(chan struct{}, 1)
	lat := make([]int64, n)
	var before time.Time
	go func() {
		for i := -warm; i < n; i++ {
			<-wake
			t := time.Since(before).Nanoseconds()
			if i >= 0 {
				lat[i] = t
			}
			syscall.Write(p[1], []byte{1})
		}
	}()
	runtime.Gosched()
	buf := make([]byte, 1)
	for i := -warm; i < n; i++ {
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
	if path := os.Getenv("BENCH_RAW"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0644)
		if err != nil {
			panic(err)
		}
		w := bufio.NewWriter(f)
		for _, v := range lat {
			fmt.Fprintln(w, v)
		}
		w.Flush()
		f.Close()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("handoff_%dms_p50 %.1f us\n", ms, float64(lat[n/2])/1e3)
	fmt.Printf("handoff_%dms_p90 %.1f us\n", ms, float64(lat[n*90/100])/1e3)
	fmt.Printf("handoff_%dms_p99 %.1f us\n", ms, float64(lat[n*99/100])/1e3)
	fmt.Printf("handoff_%dms_p999 %.1f us\n", ms, float64(lat[n*999/1000])/1e3)
	fmt.Printf("handoff_%dms_max %.1f us\n", ms, float64(lat[n-1])/1e3)
}

// ---- throughput: computing mixed with blocking system calls (bench.c's) ----

var sink uint64

func work(iters int, x uint64) uint64 {
	for i := 0; i < iters; i++ { // xorshift64
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func retry(f func() error) {
	for {
		err := f()
		if err == syscall.EINTR { // SIGURG preemption
			continue
		}
		if err != nil {
			panic(err)
		}
		return
	}
}

// The whole machine's CPU time so far (/proc/stat, USER_HZ ticks), as
// bench.c's cpu_ticks: user (user, nice), kernel (system, irq, softirq),
// idle (idle, iowait).
type cputicks struct{ user, sys, idle int64 }

func cpuTicks() (cputicks, bool) {
	var t cputicks
	f, err := os.Open("/proc/stat")
	if err != nil {
		return t, false
	}
	defer f.Close()
	var v [8]int64
	n, _ := fmt.Fscanf(f, "cpu %d %d %d %d %d %d %d %d", &v[0], &v[1], &v[2],
		&v[3], &v[4], &v[5], &v[6], &v[7])
	if n != 8 {
		return t, false
	}
	return cputicks{v[0] + v[1], v[2] + v[5] + v[6], v[3] + v[4]}, true
}

// Where the CPUs' time went between a and b, in % of it all.
func printCPUSplit(what string, a, b cputicks) {
	u, k, i := b.user-a.user, b.sys-a.sys, b.idle-a.idle
	if u+k+i <= 0 {
		return
	}
	all := float64(u + k + i)
	fmt.Printf("%s_cpu_user_pct %.1f %%\n", what, 100*float64(u)/all)
	fmt.Printf("%s_cpu_sys_pct %.1f %%\n", what, 100*float64(k)/all)
	fmt.Printf("%s_cpu_idle_pct %.1f %%\n", what, 100*float64(i)/all)
}

func throughput(workMs int, args []string) {
	arg := func(i, def int) int {
		if len(args) > i {
			v, _ := strconv.Atoi(args[i])
			return v
		}
		return def
	}
	nc, nr, nf, releaseUs := arg(0, 4), arg(1, 4), arg(2, 2), arg(3, 1000)
	dir := "/tmp"
	if len(args) > 4 {
		dir = args[4]
	}
	procs := runtime.GOMAXPROCS(0)

	best := time.Duration(1 << 62)
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		sink += work(1<<20, uint64(t0.UnixNano()))
		if d := time.Since(t0); d < best {
			best = d
		}
	}
	chunkIters := int(float64(1<<20) * 1e6 / float64(best.Nanoseconds()))
	chunks := workMs / nc
	if chunks < 1 {
		chunks = 1
	}
	var sinkMu sync.Mutex
	computer := func(n int, seed uint64, wg *sync.WaitGroup) {
		x := seed | 1
		for i := 0; i < n; i++ {
			x = work(chunkIters, x)
		}
		sinkMu.Lock()
		sink += x
		sinkMu.Unlock()
		wg.Done()
	}

	// The work alone, on one goroutine, before and after: the compute time.
	var wgc sync.WaitGroup
	serial := func() time.Duration {
		wgc.Add(1)
		t0 := time.Now()
		go computer(chunks*nc, 1, &wgc)
		wgc.Wait()
		return time.Since(t0)
	}
	tWork := serial()

	// The same work on nc goroutines with nothing else: what the Ps give.
	wgc.Add(nc)
	t0 := time.Now()
	for i := 0; i < nc; i++ {
		go computer(chunks, uint64(i+2), &wgc)
	}
	wgc.Wait()
	tAlone := time.Since(t0)

	// The same work on nc goroutines, with the blocking ones around.
	var stop, reads, fsyncs int64
	var wgb sync.WaitGroup
	wgb.Add(2*nr + nf)
	for i := 0; i < nr; i++ {
		var p [2]int
		if err := syscall.Pipe(p[:]); err != nil {
			panic(err)
		}
		go func() { // reader
			buf := make([]byte, 1)
			for {
				retry(func() error { _, err := syscall.Read(p[0], buf); return err })
				if atomic.LoadInt64(&stop) != 0 {
					break
				}
				atomic.AddInt64(&reads, 1)
			}
			wgb.Done()
		}()
		go func() { // releaser: the last byte frees the reader for good
			for {
				time.Sleep(time.Duration(releaseUs) * time.Microsecond)
				s := atomic.LoadInt64(&stop)
				retry(func() error { _, err := syscall.Write(p[1], []byte{1}); return err })
				if s != 0 {
					break
				}
			}
			wgb.Done()
		}()
	}
	for i := 0; i < nf; i++ {
		path := fmt.Sprintf("%s/bench-fsync-go-%d", dir, i+1)
		fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC, 0600)
		if err != nil {
			panic(err)
		}
		go func(i int) { // fsyncer
			buf := make([]byte, 4096)
			for j := range buf {
				buf[j] = byte(i)
			}
			for k := int64(0); atomic.LoadInt64(&stop) == 0; k++ {
				retry(func() error { _, err := syscall.Pwrite(fd, buf, (k%16)*4096); return err })
				retry(func() error { return syscall.Fsync(fd) })
				atomic.AddInt64(&fsyncs, 1)
			}
			syscall.Close(fd)
			syscall.Unlink(path)
			wgb.Done()
		}(i + 1)
	}
	wgc.Add(nc)
	c0, cpuOK := cpuTicks()
	t0 = time.Now()
	for i := 0; i < nc; i++ {
		go computer(chunks, uint64(i+2), &wgc)
	}
	wgc.Wait()
	tTotal := time.Since(t0)
	c1, cpuOK1 := cpuTicks()
	atomic.StoreInt64(&stop, 1)
	wgb.Wait()
	tWork2 := serial()

	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	fmt.Printf("throughput_work_before_ms %.1f ms\n", ms(tWork))
	fmt.Printf("throughput_work_after_ms %.1f ms\n", ms(tWork2))
	tWork = (tWork + tWork2) / 2
	fmt.Printf("throughput_work_ms %.1f ms\n", ms(tWork))
	fmt.Printf("throughput_total_ms %.1f ms\n", ms(tTotal))
	fmt.Printf("throughput_ideal_ms %.1f ms\n", ms(tWork)/float64(procs))
	fmt.Printf("throughput_ratio %.3f x\n", float64(tTotal)*float64(procs)/float64(tWork))
	fmt.Printf("throughput_noblock_ms %.1f ms\n", ms(tAlone))
	fmt.Printf("throughput_vs_noblock %.3f x\n", float64(tTotal)/float64(tAlone))
	fmt.Printf("throughput_reads %d n\n", reads)
	fmt.Printf("throughput_fsyncs %d n\n", fsyncs)
	fmt.Printf("throughput_procs %d n\n", procs)
	if cpuOK && cpuOK1 {
		printCPUSplit("throughput", c0, c1)
	}
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: bench pingpong|spawn|rss|handoff|throughput|probe N [MS...]")
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
	case "throughput":
		throughput(n, os.Args[3:])
	case "probe":
		fmt.Println("probe ok")
	default:
		os.Exit(2)
	}
}
