package main

import (
	"net/url"
	"testing"
	"time"

	"github.com/pika-dj/pika/bus"
)

func TestLinks(t *testing.T) {
	for in, want := range map[string]string{
		"wss://pika.example.com":       "https://pika.example.com",
		"wss://pika.example.com/":      "https://pika.example.com",
		"ws://127.0.0.1:8080":          "http://127.0.0.1:8080",
		"wss://example.com:8443/pika/": "https://example.com:8443/pika",
	} {
		u, _ := url.Parse(in)
		if got := cloudPublicURL(u); got != want {
			t.Errorf("cloudPublicURL(%s) = %q, want %q", in, got, want)
		}
	}
	u, _ := url.Parse("wss://pika.example.com")
	now := time.Now()
	l := newLinks(u, now)
	l.setVenue("http://192.168.1.20:3000")
	if got := l.dancerBase(); got != "http://192.168.1.20:3000" {
		t.Errorf("cloud down: dancers sent to %q", got)
	}
	if !l.setCloud(true, now) || l.setCloud(true, now) {
		t.Error("setCloud must report a change once")
	}
	if got := l.dancerBase(); got != "https://pika.example.com" {
		t.Errorf("cloud up: dancers sent to %q", got)
	}
	got := l.list()
	if len(got) != 2 || got[0].Name != bus.LinkVenue || !got[0].Up || got[1].Name != bus.LinkCloud || !got[1].Up {
		t.Errorf("links %+v", got)
	}
	if lines := l.joinLines("s1"); len(lines) != 2 {
		t.Errorf("join lines %q, want the venue's and the cloud's", lines)
	}
	st := bus.SourceStatus{Type: bus.SourceStatusType, V: bus.Version, Session: bus.NewID(now), State: bus.SourceNone, Links: got}
	if err := st.Validate(); err != nil {
		t.Errorf("status with links: %v", err)
	}
	lan := newLinks(nil, now)
	if got := lan.list(); len(got) != 1 || lan.setCloud(true, now) {
		t.Errorf("LAN only: links %+v", got)
	}
}
