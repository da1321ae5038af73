// Command echo is the workload of the simulated pods: an HTTP server that
// answers every request with the source address:port it saw, followed by
// the pod's name, so a check can tell whether traffic arrived with its own
// address (no NAT) or rewritten (SNAT, kube-proxy). It is built static and
// packed into a local image; nothing is pulled.
//
//	echo [-listen :8080]
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	flag.Parse()
	name, _ := os.Hostname()
	srv := &http.Server{
		Addr:              *listen,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s\n", r.RemoteAddr, name)
		}),
	}
	log.Fatal(srv.ListenAndServe())
}
