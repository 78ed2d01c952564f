package dashboard_test

import (
	"context"
	"fmt"
	"github.com/jetpool/jetpool/topology"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/jetpool/jetpool/broker"
	"github.com/jetpool/jetpool/dashboard"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Mount the dashboard under /jetpool/ of an application's own server.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "jetpool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := broker.Start(broker.Options{StoreDir: dir, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	if err := topology.Provision(ctx, js, topology.Options{}, "emails"); err != nil {
		log.Fatal(err)
	}

	h, err := dashboard.New(nc, js, dashboard.Options{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/jetpool/", http.StripPrefix("/jetpool", h))
	web := httptest.NewServer(mux) // in an application: http.ListenAndServe("127.0.0.1:8080", mux)
	defer web.Close()

	resp, err := http.Get(web.URL + "/jetpool/api/status")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, strings.Contains(string(body), `"queue":"emails"`))
	// Output: 200 OK true
}
