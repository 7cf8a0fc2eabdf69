// Command ferretdb runs FerretDB v1.x (MongoDB wire protocol over SQLite) for
// local development and CI.
//
// Why a wrapper instead of `go install github.com/FerretDB/FerretDB/cmd/ferretdb`:
// the upstream command embeds build/version/version.txt, which is not part of
// the module zip, so a `go install`-ed binary panics at startup. The public
// embeddable package github.com/FerretDB/FerretDB/ferretdb has no such
// requirement (and never runs the telemetry reporter).
//
// By default FerretDB itself listens on an ephemeral loopback port and a small
// proxy on --listen-addr serializes write commands; see proxy.go for why.
//
// Flags and environment variables (names mirror upstream where they exist):
//
//	--listen-addr      FERRETDB_LISTEN_ADDR      (default 127.0.0.1:27017)
//	--handler          FERRETDB_HANDLER          (default sqlite; or postgresql)
//	--sqlite-url       FERRETDB_SQLITE_URL       (default file:data/; the directory must exist)
//	--postgresql-url   FERRETDB_POSTGRESQL_URL
//	--log-level        FERRETDB_LOG_LEVEL        (debug, info, warn, error; default info)
//	--telemetry        FERRETDB_TELEMETRY        (accepted for compatibility; only "disable")
//	--serialize-writes FERRETDB_SERIALIZE_WRITES (default true)
//
// Flags win over environment variables.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// envOr returns the environment variable's value, or def if it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ferretdb: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	listenAddr := flag.String("listen-addr", envOr("FERRETDB_LISTEN_ADDR", "127.0.0.1:27017"), "listen TCP address")
	handler := flag.String("handler", envOr("FERRETDB_HANDLER", "sqlite"), "backend handler: sqlite or postgresql")
	sqliteURL := flag.String("sqlite-url", envOr("FERRETDB_SQLITE_URL", "file:data/"), "SQLite URI (a directory, e.g. file:/path/to/dir/)")
	pgURL := flag.String("postgresql-url", envOr("FERRETDB_POSTGRESQL_URL", ""), "PostgreSQL URL for the postgresql handler")
	logLevel := flag.String("log-level", envOr("FERRETDB_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	telemetry := flag.String("telemetry", envOr("FERRETDB_TELEMETRY", "disable"), "telemetry: only 'disable' is supported")
	serialize := flag.Bool("serialize-writes", envOr("FERRETDB_SERIALIZE_WRITES", "true") != "false",
		"run write commands one at a time through a proxy (FerretDB v1 updates are not atomic)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fatal("invalid --log-level %q: %s", *logLevel, err)
	}

	switch strings.ToLower(*telemetry) {
	case "disable", "disabled", "false", "off", "0":
	default:
		fatal("--telemetry=%q is not supported: this build never sends telemetry", *telemetry)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Bind the public address first so that "address in use" fails fast.
	var proxyLn net.Listener
	ferretAddr := *listenAddr
	if *serialize {
		var err error
		if proxyLn, err = net.Listen("tcp", *listenAddr); err != nil {
			fatal("%s", err)
		}
		ferretAddr = "127.0.0.1:0"
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: ferretAddr},
		Logger:        logger,
		Handler:       *handler,
		SQLiteURL:     *sqliteURL,
		PostgreSQLURL: *pgURL,
	})
	if err != nil {
		fatal("%s", err)
	}

	var wg sync.WaitGroup
	if *serialize {
		u, err := url.Parse(f.MongoDBURI()) // the listener is already bound by New
		if err != nil {
			fatal("%s", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			runProxy(ctx, proxyLn, u.Host, logger)
		}()
		logger.Info("FerretDB ready", "listen", proxyLn.Addr().String(), "backend", u.Host,
			"serialize_writes", true, "handler", *handler, "sqlite_url", *sqliteURL)
	} else {
		logger.Info("FerretDB ready", "listen", *listenAddr, "serialize_writes", false,
			"handler", *handler, "sqlite_url", *sqliteURL)
	}

	// Runs until SIGINT/SIGTERM, then closes connections and the SQLite databases.
	if err := f.Run(ctx); err != nil {
		logger.Error("FerretDB stopped with an error", "error", err)
		os.Exit(1)
	}
	wg.Wait()
	logger.Info("FerretDB stopped")
}
