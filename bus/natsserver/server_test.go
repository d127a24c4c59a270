package natsserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus/natsserver"
)

func TestStartSyncsByDefault(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, noSync := range []bool{false, true} {
		s, err := natsserver.Start(ctx, natsserver.Config{StoreDir: t.TempDir(), Domain: "djtest", NoSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.SyncAlways(); got == noSync {
			t.Errorf("NoSync=%v: SyncAlways=%v", noSync, got)
		}
		if s.ClientURL() != "" {
			t.Error("an in-process server must not listen on the network")
		}
		nc, err := s.Connect("test")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		nc.Close()
		s.Shutdown()
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	if _, err := natsserver.Start(context.Background(), natsserver.Config{}); err == nil {
		t.Fatal("started with no store folder")
	}
	if _, err := natsserver.Start(context.Background(), natsserver.Config{StoreDir: t.TempDir(), Listen: "nonsense"}); err == nil {
		t.Fatal("started with a bad listen address")
	}
}
