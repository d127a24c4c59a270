package main

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pika-dj/pika/bus"
)

// links is what the DJ side knows of its ways to the dancers: the venue's
// network, always up while pika lan serves, and in LAN + cloud mode the
// cloud, up while the leaf link is. The DJ console shows them
// (bus.SourceStatus.Links) and the gateway's QR codes and share links
// point at the cloud while it is up (gateway.Config.DancerURL): a dancer
// who joins through the cloud keeps following on mobile data when the
// venue's Wi-Fi is poor, and the LAN stays the fallback.
type links struct {
	mu    sync.Mutex
	venue bus.Link
	cloud *bus.Link // nil: LAN only
}

func newLinks(cloudURL *url.URL, now time.Time) *links {
	l := &links{venue: bus.Link{Name: bus.LinkVenue, Up: true, Since: now.UTC()}}
	if cloudURL != nil {
		l.cloud = &bus.Link{Name: bus.LinkCloud, URL: cloudPublicURL(cloudURL), Since: now.UTC()}
	}
	return l
}

// cloudPublicURL is where dancers reach the cloud: the leaf link's address
// over https (wss) or http (ws). The cloud's proxy serves both the leaf
// links (on /leafnode) and the dancers' pages on one host name.
func cloudPublicURL(u *url.URL) string {
	scheme := "https"
	if strings.EqualFold(u.Scheme, "ws") {
		scheme = "http"
	}
	return scheme + "://" + u.Host + strings.TrimRight(u.Path, "/")
}

// setVenue records the venue's dancer URL once the listener is bound.
func (l *links) setVenue(base string) {
	l.mu.Lock()
	l.venue.URL = base
	l.mu.Unlock()
}

// setCloud records the cloud link's state; it reports a change.
func (l *links) setCloud(up bool, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cloud == nil || l.cloud.Up == up {
		return false
	}
	l.cloud.Up, l.cloud.Since = up, now.UTC()
	return true
}

// list is the links for the console.
func (l *links) list() []bus.Link {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []bus.Link{l.venue}
	if l.cloud != nil {
		out = append(out, *l.cloud)
	}
	return out
}

// dancerBase is the base of dancer links: the cloud's while its link is
// up, else the venue's ("" lets the gateway use each request's host).
func (l *links) dancerBase() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cloud != nil && l.cloud.Up {
		return l.cloud.URL
	}
	return l.venue.URL
}

// joinLines are the lines that tell the DJ where dancers join session sid.
func (l *links) joinLines(sid string) []string {
	var out []string
	for _, k := range l.list() {
		if !k.Up || k.URL == "" {
			continue
		}
		where := "on this Wi-Fi"
		if k.Name == bus.LinkCloud {
			where = "from anywhere (cloud)"
		}
		out = append(out, fmt.Sprintf("Dancers %s: %s/s/%s", where, k.URL, sid))
	}
	return out
}
