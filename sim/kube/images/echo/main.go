// Command echo is the workload of the simulated pods. It reports the
// source address it saw, so a check can tell whether traffic arrived with
// its own address (no NAT) or rewritten (SNAT, kube-proxy's masquerade):
//
//   - HTTP on -http (default :8080): "ADDR:PORT POD\n" for every request,
//     for curl and kubectl port-forward users;
//   - the simulated VPC's line protocol on -line (default :7): on connect,
//     "ADDR:PORT\n", as the internet echo answers (sim.serveEchoTCP), so the
//     checks use one probe for both.
//
// It is built static and packed into a local image; nothing is pulled.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	httpAddr := flag.String("http", ":8080", "HTTP address to serve on")
	lineAddr := flag.String("line", ":7", "line-protocol address to serve on")
	flag.Parse()
	name, _ := os.Hostname()
	ln, err := net.Listen("tcp", *lineAddr)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				log.Fatal(err)
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "%s\n", c.RemoteAddr())
			c.Close()
		}
	}()
	srv := &http.Server{
		Addr:              *httpAddr,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s\n", r.RemoteAddr, name)
		}),
	}
	log.Fatal(srv.ListenAndServe())
}
