// SPDX-License-Identifier: GPL-2.0
// echo.go - the peer: a TCP echo server with a goroutine per connection,
// as a Go programmer writes it. Built with CGO_ENABLED=0, Go 1.19.
//
//	go build -o echo-go echo.go && ./echo-go PORT
package main

import (
	"fmt"
	"net"
	"os"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	port := "7007"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-go:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "echo-go: listening on 127.0.0.1:"+port)
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go serve(c)
	}
}
