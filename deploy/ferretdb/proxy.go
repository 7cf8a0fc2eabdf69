package main

// A tiny MongoDB wire-protocol proxy that runs write commands one at a time.
//
// Why: FerretDB v1's SQLite handler implements update / findAndModify / delete
// as "query, then modify in Go, then write back" without a transaction
// (upstream issue FerretDB#3040). Concurrent clients therefore lose updates
// ($inc from 8 threads x 50 gave 53 instead of 400) and findAndModify hands the
// same document to several workers. MongoDB guarantees single-document
// atomicity, and code written against it (job claiming, counters) relies on
// it. SQLite has a single writer anyway, so serializing writes costs little.
//
// How: each client connection gets its own backend connection to FerretDB
// (listening on an ephemeral loopback port), and bytes are copied message by
// message. Before an OP_MSG whose command is a write is forwarded, a global
// mutex is taken; it is released when the reply to that request (matched by
// responseTo) comes back. Reads are not serialized.
//
// FerretDB v1 also ignores the OP_MSG moreToCome flag (unacknowledged writes,
// w:0) and replies anyway, which desynchronizes the driver ("Got response id X
// but expected Y"). The proxy swallows those replies, so w:0 works as well.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

const (
	opMsg         = 2013
	maxMessageLen = 64 << 20 // well above MongoDB's 48 MB message limit
)

// writeCommands are serialized. Names are matched case-sensitively as sent.
var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true,
	"findAndModify": true, "findandmodify": true,
	"create": true, "createIndexes": true, "drop": true, "dropDatabase": true,
	"dropIndexes": true, "renameCollection": true, "collMod": true,
}

var writeMu sync.Mutex

// readMessage reads one length-prefixed wire-protocol message.
func readMessage(r io.Reader) ([]byte, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.LittleEndian.Uint32(hdr[:4])))
	if n < 16 || n > maxMessageLen {
		return nil, fmt.Errorf("invalid message length %d", n)
	}
	msg := make([]byte, n)
	copy(msg, hdr[:])
	if _, err := io.ReadFull(r, msg[16:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// commandName returns the command name of an OP_MSG (the first key of its
// body document) and whether the moreToCome flag is set.
func commandName(msg []byte) (string, bool) {
	if len(msg) < 21 || binary.LittleEndian.Uint32(msg[12:16]) != opMsg {
		return "", false
	}
	flags := binary.LittleEndian.Uint32(msg[16:20])
	moreToCome := flags&2 != 0
	end := len(msg)
	if flags&1 != 0 { // checksumPresent
		end -= 4
	}
	for p := 20; p < end; {
		kind := msg[p]
		p++
		switch kind {
		case 0: // body: int32 length, then elements (type byte, cstring key, ...)
			if p+5 >= end || msg[p+4] == 0 {
				return "", moreToCome
			}
			key := msg[p+5 : end]
			if i := bytes.IndexByte(key, 0); i >= 0 {
				return string(key[:i]), moreToCome
			}
			return "", moreToCome
		case 1: // document sequence: int32 size (including itself), skip it
			if p+4 > end {
				return "", moreToCome
			}
			size := int(int32(binary.LittleEndian.Uint32(msg[p:])))
			if size < 4 {
				return "", moreToCome
			}
			p += size
		default:
			return "", moreToCome
		}
	}
	return "", moreToCome
}

// proxyConn tracks whether this connection holds writeMu (and for which
// request), and which replies must be swallowed (requests sent with moreToCome).
type proxyConn struct {
	mu      sync.Mutex
	held    bool
	reqID   uint32
	swallow map[uint32]bool
}

// release unlocks writeMu if this connection holds it.
func (pc *proxyConn) release() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.held {
		pc.held = false
		writeMu.Unlock()
	}
}

// reply handles a backend reply to request responseTo; it reports whether the
// reply must be forwarded to the client.
func (pc *proxyConn) reply(responseTo uint32) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.held && pc.reqID == responseTo {
		pc.held = false
		writeMu.Unlock()
	}
	if pc.swallow[responseTo] {
		delete(pc.swallow, responseTo)
		return false
	}
	return true
}

func serveProxyConn(client net.Conn, backendAddr string, logger *slog.Logger) {
	defer client.Close()
	backend, err := net.Dial("tcp", backendAddr)
	if err != nil {
		logger.Error("proxy: cannot reach FerretDB backend", "error", err)
		return
	}
	defer backend.Close()

	pc := &proxyConn{swallow: map[uint32]bool{}}
	defer pc.release()

	done := make(chan struct{}, 2)

	// client -> backend
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			msg, err := readMessage(client)
			if err != nil {
				return
			}
			name, moreToCome := commandName(msg)
			reqID := binary.LittleEndian.Uint32(msg[4:8])
			pc.mu.Lock()
			held := pc.held // a client pipelining writes: keep the lock it has
			if moreToCome {
				pc.swallow[reqID] = true
			}
			pc.mu.Unlock()
			if writeCommands[name] && !held {
				writeMu.Lock()
				pc.mu.Lock()
				pc.held, pc.reqID = true, reqID
				pc.mu.Unlock()
			}
			if _, err := backend.Write(msg); err != nil {
				return
			}
		}
	}()

	// backend -> client
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			msg, err := readMessage(backend)
			if err != nil {
				return
			}
			if !pc.reply(binary.LittleEndian.Uint32(msg[8:12])) {
				continue
			}
			if _, err := client.Write(msg); err != nil {
				return
			}
		}
	}()

	<-done // either side finished: close both, which ends the other goroutine
	client.Close()
	backend.Close()
	<-done
}

// runProxy accepts connections on ln until ctx is canceled.
func runProxy(ctx context.Context, ln net.Listener, backendAddr string, logger *slog.Logger) {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			logger.Error("proxy: accept failed", "error", err) // e.g. too many open files
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go serveProxyConn(c, backendAddr, logger)
	}
}
