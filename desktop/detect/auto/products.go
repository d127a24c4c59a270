package auto

import (
	"github.com/pika-dj/pika/desktop/detect"
	"github.com/pika-dj/pika/desktop/detect/djay"
	"github.com/pika-dj/pika/desktop/detect/djuced"
	"github.com/pika-dj/pika/desktop/detect/engine"
	"github.com/pika-dj/pika/desktop/detect/mixxx"
	"github.com/pika-dj/pika/desktop/detect/nowplaying"
	"github.com/pika-dj/pika/desktop/detect/rekordbox"
	"github.com/pika-dj/pika/desktop/detect/serato"
	"github.com/pika-dj/pika/desktop/detect/traktor"
	"github.com/pika-dj/pika/desktop/detect/virtualdj"
)

// All lists every product Pika! can follow. When two were used equally
// recently, the earlier one here wins: programs that know which deck is
// audible come before those that only know what was played.
func All() []detect.Product {
	return []detect.Product{
		engine.Product(),    // faders and crossfader over the network
		mixxx.Product(),     // history rows are the loudest audible deck
		virtualdj.Product(), // is_audible through Network Control, else its history
		serato.Product(),    // the played flag per deck
		traktor.Product(),   // what Traktor broadcasts
		rekordbox.Product(), // history after 60–90 s of play
		djay.Product(),      // history rows, no audibility
		djuced.Product(),    // its text file output
		serato.Session3Product(),
		nowplaying.Product(),
		detect.HistoryFileProduct(),
	}
}
