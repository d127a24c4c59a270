package desktop

import (
	"context"
	"fmt"
	"time"

	"github.com/pika-dj/pika/bus"
)

// demoTracks is the demo set: made-up but plausible West Coast Swing songs,
// mostly slow-to-medium tempos as a real night runs. A function, so no
// caller can change the table another one reads.
func demoTracks() []bus.Track {
	mk := func(artist, title, album string, bpm float64, key string, sec float64) bus.Track {
		t := bus.NewTrack(artist, title)
		t.Album, t.BPM, t.Key, t.Duration = album, bpm, key, sec
		return t
	}
	return []bus.Track{
		mk("Marlow Reyes", "Slow Burn Sunday", "Porchlight", 88, "8A", 221),
		mk("The Velvet Anchors", "Honey in the Static", "Low Tide Radio", 96, "5A", 204),
		mk("June Calloway", "Glass Porch Lights", "Small Hours", 102, "11B", 197),
		mk("Odessa Blue", "Tell Me Twice", "Blue Room Sessions", 84, "3A", 243),
		mk("Kit Harlan & The Low Tide", "Paper Moons", "Paper Moons", 92, "9B", 212),
		mk("Sunny Okafor", "Backseat Gospel", "Southbound", 100, "7A", 189),
		mk("Remy Vance", "Cold Coffee Kisses", "Late Checkout", 90, "10A", 226),
		mk("Lila Moreau", "Elastic Heart Parade", "Parade", 106, "2B", 201),
		mk("The Midnight Courier", "Neon Mile", "Night Shift", 98, "6A", 215),
		mk("Teddy Gaines", "Whiskey & Wurlitzer", "Jukebox Confessions", 82, "4A", 238),
		mk("Nadia Frost", "Pull Me Closer (Slow Version)", "Winter Lines", 86, "12A", 231),
		mk("Brass Lantern", "Two-Step Telephone", "Switchboard", 108, "1B", 186),
	}
}

// Demo plays the demo set through e, one track now and one more every
// `every`, looping, until ctx ends; then it returns nil. It lets a DJ (or a
// test) see the whole chain work without any DJ software.
func Demo(ctx context.Context, e *Engine, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("desktop: demo: interval %v must be positive", every)
	}
	tracks := demoTracks()
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; ; i++ {
		if _, _, err := e.Play(ctx, Detected{Track: tracks[i%len(tracks)], Source: "demo"}); err != nil {
			if ctx.Err() != nil {
				return nil // stopped mid-publish: the demo is over, not broken
			}
			return fmt.Errorf("desktop: demo: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
